package geoip_test

import (
	"strings"
	"testing"

	"github.com/byplatform/byplatform/geoip"
)

func TestParsePlace(t *testing.T) {
	tests := []struct {
		in      string
		want    geoip.Place
		wantErr string
	}{
		{in: "Berlin, Berlin, DE",
			want: geoip.Place{City: "Berlin", Region: "Berlin", CountryCode: "DE"}},
		{in: "  São Paulo ,São Paulo,  br ",
			want: geoip.Place{City: "São Paulo", Region: "São Paulo", CountryCode: "BR"}},
		{in: "Zurich, CH", want: geoip.Place{City: "Zurich", CountryCode: "CH"}},
		{in: "jp", want: geoip.Place{CountryCode: "JP"}},
		{in: "Frankfurt (Oder), Brandenburg, De",
			want: geoip.Place{City: "Frankfurt (Oder)", Region: "Brandenburg", CountryCode: "DE"}},
		{in: "", wantErr: "empty name"},
		{in: "   ", wantErr: "empty name"},
		{in: "Berlin", wantErr: "not two letters"},
		{in: "Berlin, DEU", wantErr: "not two letters"},
		{in: "Berlin, D1", wantErr: "not two letters"},
		{in: "Berlin, Berlin, Germany, DE", wantErr: "want"},
		{in: "Berlin,, DE", wantErr: "empty name"},
		{in: ", DE", wantErr: "empty name"},
		{in: "Ber\tlin, DE", wantErr: "control character"},
		{in: "Berlin\x00, DE", wantErr: "control character"},
		{in: "Ber\xfflin, DE", wantErr: "UTF-8"},
		{in: strings.Repeat("x", 300) + ", DE", wantErr: "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := geoip.ParsePlace(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePlace(%q) = %+v, %v; want error containing %q",
						tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParsePlace(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestPlaceString(t *testing.T) {
	tests := []struct {
		p    geoip.Place
		want string
	}{
		{geoip.Place{City: "Berlin", Region: "Berlin", CountryCode: "DE"}, "Berlin, Berlin, DE"},
		{geoip.Place{City: "Zurich", CountryCode: "CH"}, "Zurich, CH"},
		{geoip.Place{CountryCode: "JP"}, "JP"},
		{geoip.Place{}, ""},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

// FuzzParsePlace checks that ParsePlace never panics, that what it accepts is
// well-formed, and that String writes it back in a form ParsePlace reads the same.
func FuzzParsePlace(f *testing.F) {
	for _, s := range []string{
		"Berlin, Berlin, DE", "Zurich, CH", "jp", "", ",", ",,,", "São Paulo, SP, BR",
		"a, b, c, d", " x , y , zz ", "\x00, DE", "Ber\xfflin, DE",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := geoip.ParsePlace(s)
		if err != nil {
			return
		}
		cc := p.CountryCode
		if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
			t.Fatalf("ParsePlace(%q) country code %q", s, cc)
		}
		for _, name := range []string{p.City, p.Region} {
			if strings.Contains(name, ",") || strings.TrimSpace(name) != name {
				t.Fatalf("ParsePlace(%q) name %q not trimmed or has a comma", s, name)
			}
		}
		if p.City == "" && p.Region != "" {
			t.Fatalf("ParsePlace(%q) = %+v: region without city", s, p)
		}
		again, err := geoip.ParsePlace(p.String())
		if err != nil || again != p {
			t.Fatalf("ParsePlace(%q) = %+v, but ParsePlace(%q) = %+v, %v",
				s, p, p.String(), again, err)
		}
	})
}
