package matcher

import (
	"testing"

	"github.com/google/uuid"
)

// The ids are part of the API: every instance and release must derive the same ones.
// These values were computed once and pin the derivation.
func TestIDsAreStable(t *testing.T) {
	tests := []struct {
		name string
		got  uuid.UUID
		want string
	}{
		{"country", CountryID("DE"), goldenCountryDE},
		{"region", RegionID("FR", "Île-de-France"), goldenRegionIDF},
		{"city", CityID("FR", "Île-de-France", "Paris"), goldenCityParis},
		{"city without region", CityID("AO", "", "Nancova"), goldenCityNancova},
		{"group", GroupID("European Union"), goldenGroupEU},
	}
	for _, tt := range tests {
		if tt.got.String() != tt.want {
			t.Errorf("%s id = %s, want %s", tt.name, tt.got, tt.want)
		}
		if tt.got.Version() != 8 || tt.got.Variant() != uuid.RFC4122 {
			t.Errorf("%s id %s: version %d variant %s", tt.name, tt.got, tt.got.Version(),
				tt.got.Variant())
		}
	}
}

const (
	goldenCountryDE   = "dd4643d2-0267-889b-b101-ebb645b92842"
	goldenRegionIDF   = "818a489b-c778-8e6c-8aa6-33ef4d8e2bca"
	goldenCityParis   = "5c6118ce-1f59-820f-a51f-d315c632cb20"
	goldenCityNancova = "ab8db3a8-7cfc-8143-a697-cd10ceb6b934"
	goldenGroupEU     = "6e92710e-cf37-84e4-9f2e-60feaeaeef8f"
)

func TestIDsCompareNormalizedNames(t *testing.T) {
	same := [][2]uuid.UUID{
		{CountryID("de"), CountryID(" DE ")},
		{RegionID("FR", "Île-de-France"), RegionID("fr", "ile de france")},
		{CityID("BR", "São Paulo", "São Paulo"), CityID("BR", "Sao Paulo", "SAO PAULO")},
		{GroupID("European Union"), GroupID("european-union")},
	}
	for _, p := range same {
		if p[0] != p[1] {
			t.Errorf("ids %s and %s differ for names that normalize alike", p[0], p[1])
		}
	}
	distinct := []uuid.UUID{
		CountryID("DE"), CountryID("AT"), RegionID("DE", "Berlin"),
		CityID("DE", "Berlin", "Berlin"), CityID("DE", "", "Berlin"),
		RegionID("DE", ""), CityID("DE", "Berlin", ""), GroupID("Berlin"), GroupID("DE"),
	}
	seen := map[uuid.UUID]int{}
	for i, id := range distinct {
		if j, ok := seen[id]; ok {
			t.Errorf("ids %d and %d are both %s", j, i, id)
		}
		seen[id] = i
	}
}
