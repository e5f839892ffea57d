package store

import (
	"strconv"
	"strings"
)

// dialect holds what differs between the engines the store speaks to.
type dialect struct {
	name string
	// dollar placeholders ($1, $2, ...) instead of ?.
	dollar bool
	// bytes is the column type for binary data.
	bytes string
	// crdb selects cockroach-go's ExecuteTx for retries.
	crdb bool
}

var (
	sqliteDialect    = dialect{name: "sqlite", bytes: "BLOB"}
	postgresDialect  = dialect{name: "postgres", dollar: true, bytes: "BYTEA"}
	cockroachDialect = dialect{name: "cockroach", dollar: true, bytes: "BYTES", crdb: true}
)

// rebind rewrites ? placeholders for the engine. The store's SQL never has a ? inside a
// string literal, so a plain scan is enough.
func (d dialect) rebind(query string) string {
	if !d.dollar || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// schema adapts migration text to the engine.
func (d dialect) schema(text string) string {
	return strings.ReplaceAll(text, "{{BYTES}}", d.bytes)
}
