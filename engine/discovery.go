package engine

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/agnivade/levenshtein"
	"github.com/google/uuid"

	"github.com/byplatform/byplatform/geodata"
	"github.com/byplatform/byplatform/matcher"
	"github.com/byplatform/byplatform/store"
)

// Limits of the discovery operations.
const (
	defaultProviderCount = 10
	maxProviderCount     = 1024
	maxExclusions        = 10_000
	maxSpecs             = 256
	maxQueryLen          = 256
	maxLocationResults   = 100
	// maxListedLocations bounds /network/provider-locations.
	maxListedLocations = 10_000
)

// catalogPlace builds a catalog place, naming the country from the built-in data.
func catalogPlace(city, region, countryCode string) matcher.Place {
	code := strings.ToUpper(countryCode)
	name := code
	if c, ok := geodata.LookupCountry(code); ok {
		name = c.Name
	}
	return matcher.Place{City: city, Region: region, Country: name, CountryCode: code}
}

// loadCatalog fills the catalog with the built-in countries and regions and with the
// places imported into the store.
func (e *Engine) loadCatalog(ctx context.Context) error {
	var places []matcher.Place
	for _, c := range geodata.Countries() {
		places = append(places, matcher.Place{Country: c.Name, CountryCode: c.Code})
	}
	for _, r := range geodata.Regions() {
		places = append(places, catalogPlace("", r.Name, r.CountryCode))
	}
	err := e.store.Places(ctx, func(p store.Place) {
		places = append(places, catalogPlace(p.City, p.Region, p.CountryCode))
	})
	if err != nil {
		return err
	}
	if err := e.catalog.AddAll(places); err == nil {
		return nil
	}
	// Some stored place is one the catalog refuses: add them one by one and skip it,
	// rather than refuse to start.
	for _, p := range places {
		if _, err := e.catalog.Add(p); err != nil {
			e.log.Warn("stored place skipped", "place", p.City+", "+p.Region+", "+
				p.CountryCode, "err", err)
		}
	}
	return nil
}

// ImportLocations reads places shaped like the world cities file (tab-separated with a
// header naming city, region, country and country_code; plain or gzip), stores them so
// every start loads them, and adds them to the live catalog. It returns how many
// places it read.
func (e *Engine) ImportLocations(ctx context.Context, r io.Reader) (int, error) {
	places, err := matcher.ReadPlaces(r)
	if err != nil {
		return 0, &UserError{Msg: "Unreadable places file: " + err.Error()}
	}
	for i, p := range places {
		places[i] = catalogPlace(p.City, p.Region, p.CountryCode)
	}
	// The catalog checks every place and takes all or none; only then are they stored,
	// since a stored place the catalog refuses would trouble every later start.
	if err := e.catalog.AddAll(places); err != nil {
		return 0, &UserError{Msg: "Invalid places file: " + err.Error()}
	}
	const batch = 500
	for i := 0; i < len(places); i += batch {
		chunk := places[i:min(i+batch, len(places))]
		rows := make([]store.Place, len(chunk))
		for j, p := range chunk {
			rows[j] = store.Place{City: p.City, Region: p.Region, CountryCode: p.CountryCode}
		}
		err := e.store.Tx(ctx, func(tx *store.Tx) error { return tx.InsertPlaces(ctx, rows) })
		if err != nil {
			return i, fmt.Errorf("import locations: %w", err)
		}
	}
	return len(places), nil
}

// filterFor is what a caller may see: Public providers, and with a token also the
// Network-mode providers of its own network.
func filterFor(c *Caller) matcher.Filter {
	if c == nil {
		return matcher.Filter{Modes: matcher.Modes(matcher.ModePublic)}
	}
	return matcher.Filter{NetworkID: c.NetworkID,
		Modes: matcher.Modes(matcher.ModePublic, matcher.ModeNetwork)}
}

// LocationQuery is a typo-tolerant search of the catalog.
type LocationQuery struct {
	Text                      string
	MaxDistanceFraction       float64
	EnableMaxDistanceFraction bool
	// OnlyAvailable keeps locations and groups with a provider the caller may use.
	OnlyAvailable bool
	// KeysOnly names the locations found by key alone (see matcher.Query.KeysOnly and
	// LocationAt).
	KeysOnly bool
}

// FindLocations searches locations and groups; c may be nil for an anonymous caller.
func (e *Engine) FindLocations(c *Caller, q LocationQuery) (matcher.Results, error) {
	if len(q.Text) > maxQueryLen {
		return matcher.Results{}, &UserError{Msg: "Query is too long."}
	}
	return e.pool.Search(matcher.Query{Text: q.Text, MaxDistanceFraction: q.MaxDistanceFraction,
		EnableMaxDistanceFraction: q.EnableMaxDistanceFraction, Limit: maxLocationResults,
		Filter: filterFor(c), OnlyAvailable: q.OnlyAvailable, KeysOnly: q.KeysOnly}), nil
}

// LocationAt returns the location with a matcher.LocationMatch.Key.
func (e *Engine) LocationAt(key int32) (matcher.Location, bool) {
	return e.catalog.LocationAt(key)
}

// ProviderLocations lists the locations and groups with at least one provider the
// caller may use, with their counts.
func (e *Engine) ProviderLocations(c *Caller) matcher.Results {
	return e.pool.Search(matcher.Query{Limit: maxListedLocations, Filter: filterFor(c),
		OnlyAvailable: true})
}

// FindProviders draws up to count distinct healthy providers uniformly (weighted by
// health) from the union of specs, none of them in exclude. count of zero means 10.
func (e *Engine) FindProviders(c *Caller, specs []matcher.Spec, count int,
	exclude []uuid.UUID) ([]uuid.UUID, error) {
	if count < 0 || count > maxProviderCount {
		return nil, &UserError{Msg: fmt.Sprintf("Count must be 0 to %d.", maxProviderCount)}
	}
	if len(specs) > maxSpecs || len(exclude) > maxExclusions {
		return nil, &UserError{Msg: "Too many specs or exclusions."}
	}
	if count == 0 {
		count = defaultProviderCount
	}
	out := e.pool.Sample(matcher.SampleRequest{Specs: specs, Count: count, Exclude: exclude,
		Filter: filterFor(c)})
	if out == nil {
		out = []uuid.UUID{}
	}
	return out, nil
}

// Intents map words of a free-text description to groups. Words for uses that need
// no particular place (gaming, streaming, speed) map to the best available providers:
// the countries with the most providers.
var (
	intentGroups = map[string]string{
		"privacy": "Strong Privacy Laws and Internet Freedom", "private": "Strong " +
			"Privacy Laws and Internet Freedom", "anonymous": "Strong Privacy Laws and " +
			"Internet Freedom", "freedom": "Strong Privacy Laws and Internet Freedom",
		"journalism": "Strong Privacy Laws and Internet Freedom",
		"eu":         "European Union", "gdpr": "European Union",
		"scandinavia": "Nordic",
	}
	intentBest = map[string]bool{"streaming": true, "stream": true, "gaming": true,
		"game": true, "games": true, "fast": true, "speed": true, "video": true,
		"netflix": true, "download": true, "downloads": true, "latency": true}
	stopWords = map[string]bool{"the": true, "and": true, "for": true, "with": true,
		"from": true, "want": true, "need": true, "use": true, "using": true, "like": true,
		"near": true, "some": true, "watch": true, "play": true, "connect": true,
		"my": true, "in": true, "to": true, "of": true, "a": true, "an": true, "i": true}
)

// bestCountries is how many countries "the best available providers" spans.
const bestCountries = 3

// ProviderSpec turns a free-text description of the intended use into provider
// specs: the places and groups named in the text (found by the same typo-tolerant
// search, each word or run of up to three words matched against whole names), the
// groups its intents map to, and, for speed-minded intents or when nothing else
// matched, the countries with the most providers the caller may use.
func (e *Engine) ProviderSpec(c *Caller, text string) ([]matcher.Spec, error) {
	if len(text) > 4*maxQueryLen {
		return nil, &UserError{Msg: "Query is too long."}
	}
	words := strings.Fields(matcher.Normalize(text))
	var specs []matcher.Spec
	seen := map[uuid.UUID]bool{}
	add := func(s matcher.Spec, id uuid.UUID) {
		if !seen[id] {
			seen[id] = true
			specs = append(specs, s)
		}
	}
	wantBest := false
	for i := 0; i < len(words); {
		if g, ok := intentGroups[words[i]]; ok {
			if id, ok := e.groupByName(g); ok {
				add(matcher.Spec{LocationGroupID: id}, id)
			}
			i++
			continue
		}
		if intentBest[words[i]] {
			wantBest = true
			i++
			continue
		}
		n, spec, id := e.namedPlace(words[i:])
		if n == 0 {
			i++
			continue
		}
		add(spec, id)
		i += n
	}
	if wantBest || len(specs) == 0 {
		for _, id := range e.bestCountries(c) {
			add(matcher.Spec{LocationID: id}, id)
		}
	}
	if specs == nil {
		specs = []matcher.Spec{}
	}
	return specs, nil
}

// namedPlace finds the longest run of up to three words at the start of words that
// names a location or group as a whole, allowing a typo in longer names.
func (e *Engine) namedPlace(words []string) (int, matcher.Spec, uuid.UUID) {
	for n := min(3, len(words)); n >= 1; n-- {
		phrase := strings.Join(words[:n], " ")
		if n == 1 && (len(phrase) < 3 || stopWords[phrase]) {
			continue
		}
		allowed := 0
		switch {
		case len(phrase) >= 9:
			allowed = 2
		case len(phrase) >= 5:
			allowed = 1
		}
		res := e.pool.Search(matcher.Query{Text: phrase, Limit: 10,
			Filter: matcher.Filter{Modes: matcher.Modes(matcher.ModePublic)}})
		for _, g := range res.Groups {
			if levenshtein.ComputeDistance(phrase, matcher.Normalize(g.Name)) <= allowed {
				return n, matcher.Spec{LocationGroupID: g.ID}, g.ID
			}
		}
		for _, l := range res.Locations {
			if levenshtein.ComputeDistance(phrase, matcher.Normalize(l.Name)) <= allowed {
				return n, matcher.Spec{LocationID: l.ID}, l.ID
			}
		}
	}
	return 0, matcher.Spec{}, uuid.Nil
}

func (e *Engine) groupByName(name string) (uuid.UUID, bool) {
	id := matcher.GroupID(name)
	_, ok := e.catalog.Group(id)
	return id, ok
}

// bestCountries returns the countries with the most providers the caller may use.
func (e *Engine) bestCountries(c *Caller) []uuid.UUID {
	res := e.ProviderLocations(c)
	var countries []matcher.LocationMatch
	for _, l := range res.Locations {
		if l.Type == matcher.LocationCountry {
			countries = append(countries, l)
		}
	}
	sort.SliceStable(countries, func(i, j int) bool {
		if countries[i].ProviderCount != countries[j].ProviderCount {
			return countries[i].ProviderCount > countries[j].ProviderCount
		}
		return countries[i].Name < countries[j].Name
	})
	var out []uuid.UUID
	for _, l := range countries[:min(bestCountries, len(countries))] {
		out = append(out, l.ID)
	}
	return out
}
