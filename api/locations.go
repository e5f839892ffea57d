package api

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/engine"
	"github.com/byplatform/byplatform/matcher"
)

// optionalCaller reads the bearer token of a route open to anonymous callers. Without
// a token the caller is nil; a token that is sent must be valid (else 401).
func (s *Server) optionalCaller(w http.ResponseWriter, r *http.Request) (*engine.Caller,
	bool) {
	if r.Header.Get("Authorization") == "" {
		return nil, true
	}
	bearer, ok := bearerToken(r)
	if !ok {
		writeStatus(w, http.StatusUnauthorized, "malformed bearer token")
		return nil, false
	}
	c, err := s.eng.Authenticate(r.Context(), bearer)
	if err != nil {
		fail(w, r, err, simpleError)
		return nil, false
	}
	return &c, true
}

type specJSON struct {
	LocationID      string `json:"location_id,omitempty"`
	LocationGroupID string `json:"location_group_id,omitempty"`
	ClientID        string `json:"client_id,omitempty"`
}

func idText(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}

func (s *Server) providerLocations(w http.ResponseWriter, r *http.Request) {
	c, ok := s.optionalCaller(w, r)
	if !ok {
		return
	}
	s.writeLocations(w, s.eng.ProviderLocations(c))
}

type findLocationsArgs struct {
	Query                     string  `json:"query"`
	MaxDistanceFraction       float64 `json:"max_distance_fraction"`
	EnableMaxDistanceFraction bool    `json:"enable_max_distance_fraction"`
}

func (s *Server) findLocations(onlyAvailable bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var a findLocationsArgs
		if !s.decode(w, r, &a) {
			return
		}
		c, ok := s.optionalCaller(w, r)
		if !ok {
			return
		}
		res, err := s.eng.FindLocations(c, engine.LocationQuery{Text: a.Query,
			MaxDistanceFraction:       a.MaxDistanceFraction,
			EnableMaxDistanceFraction: a.EnableMaxDistanceFraction, OnlyAvailable: onlyAvailable,
			KeysOnly: true}) // writeLocations keeps what it writes of a location by key
		if err != nil {
			fail(w, r, err, simpleError)
			return
		}
		s.writeLocations(w, res)
	}
}

// parseIDs reads a list of ids; the bad ones are reported.
func parseIDs(texts []string) ([]uuid.UUID, bool) {
	ids := make([]uuid.UUID, 0, len(texts))
	for _, t := range texts {
		id, err := uuid.Parse(t)
		if err != nil {
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, true
}

type findProvidersArgs struct {
	LocationID      string `json:"location_id"`
	LocationGroupID string `json:"location_group_id"`
	Count           int    `json:"count"`
	// ExcludeLocationIDs holds client ids: deployed clients fill it with the providers
	// they have already tried.
	ExcludeLocationIDs []string `json:"exclude_location_ids"`
}

type findProvidersResult struct {
	ClientIDs []string   `json:"client_ids,omitempty"`
	Error     *errorBody `json:"error,omitempty"`
}

func (s *Server) findProviders(w http.ResponseWriter, r *http.Request) {
	var a findProvidersArgs
	if !s.decode(w, r, &a) {
		return
	}
	c, ok := s.optionalCaller(w, r)
	if !ok {
		return
	}
	loc, ok1 := parseOptionalID(a.LocationID)
	group, ok2 := parseOptionalID(a.LocationGroupID)
	exclude, ok3 := parseIDs(a.ExcludeLocationIDs)
	if !ok1 || !ok2 || !ok3 {
		writeJSON(w, simpleError("Invalid id."))
		return
	}
	ids, err := s.eng.FindProviders(c, []matcher.Spec{{LocationID: loc,
		LocationGroupID: group}}, a.Count, exclude)
	if err != nil {
		fail(w, r, err, simpleError)
		return
	}
	out := findProvidersResult{ClientIDs: make([]string, len(ids))}
	for i, id := range ids {
		out.ClientIDs[i] = id.String()
	}
	writeJSON(w, out)
}

type findProviders2Args struct {
	Specs            []specJSON `json:"specs"`
	Count            int        `json:"count"`
	ExcludeClientIDs []string   `json:"exclude_client_ids"`
}

type providerJSON struct {
	ClientID                string `json:"client_id"`
	EstimatedBytesPerSecond int    `json:"estimated_bytes_per_second"`
}

type findProviders2Result struct {
	Providers []providerJSON `json:"providers"`
}

func (s *Server) findProviders2(w http.ResponseWriter, r *http.Request) {
	var a findProviders2Args
	if !s.decode(w, r, &a) {
		return
	}
	c, ok := s.optionalCaller(w, r)
	if !ok {
		return
	}
	specs, ok := parseSpecs(a.Specs)
	exclude, ok2 := parseIDs(a.ExcludeClientIDs)
	if !ok || !ok2 {
		writeJSON(w, simpleError("Invalid id."))
		return
	}
	ids, err := s.eng.FindProviders(c, specs, a.Count, exclude)
	if err != nil {
		fail(w, r, err, simpleError)
		return
	}
	out := findProviders2Result{Providers: make([]providerJSON, len(ids))}
	for i, id := range ids {
		out.Providers[i] = providerJSON{ClientID: id.String()}
	}
	writeJSON(w, out)
}

func parseSpecs(in []specJSON) ([]matcher.Spec, bool) {
	specs := make([]matcher.Spec, 0, len(in))
	for _, s := range in {
		loc, ok1 := parseOptionalID(s.LocationID)
		group, ok2 := parseOptionalID(s.LocationGroupID)
		client, ok3 := parseOptionalID(s.ClientID)
		if !ok1 || !ok2 || !ok3 {
			return nil, false
		}
		specs = append(specs, matcher.Spec{LocationID: loc, LocationGroupID: group,
			ClientID: client})
	}
	return specs, true
}

type createProviderSpecArgs struct {
	Query string `json:"query"`
}

type createProviderSpecResult struct {
	Specs []specJSON `json:"specs"`
}

func (s *Server) createProviderSpec(w http.ResponseWriter, r *http.Request) {
	var a createProviderSpecArgs
	if !s.decode(w, r, &a) {
		return
	}
	c, ok := s.optionalCaller(w, r)
	if !ok {
		return
	}
	specs, err := s.eng.ProviderSpec(c, a.Query)
	if err != nil {
		fail(w, r, err, simpleError)
		return
	}
	out := createProviderSpecResult{Specs: make([]specJSON, len(specs))}
	for i, sp := range specs {
		out.Specs[i] = specJSON{LocationID: idText(sp.LocationID),
			LocationGroupID: idText(sp.LocationGroupID), ClientID: idText(sp.ClientID)}
	}
	writeJSON(w, out)
}
