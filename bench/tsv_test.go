package bench

import (
	"bytes"
	"io"
	"strings"

	"github.com/byplatform/byplatform/matcher"
)

// placesTSV writes places in the shape of the world cities file.
func placesTSV(places []matcher.Place) io.Reader {
	var b bytes.Buffer
	b.WriteString("city\tregion\tcountry\tcountry_code\n")
	for _, p := range places {
		b.WriteString(p.City + "\t" + p.Region + "\t" + p.Country + "\t" + p.CountryCode + "\n")
	}
	return &b
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
