package api

import (
	"encoding/json"
	"net/http"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/engine"
)

type authClientArgs struct {
	ClientID        string `json:"client_id"`
	Description     string `json:"description"`
	DeviceSpec      string `json:"device_spec"`
	DerivedClientID string `json:"derived_client_id"`
}

type authClientError struct {
	ClientLimitExceeded bool   `json:"client_limit_exceeded,omitempty"`
	Message             string `json:"message"`
}

type authClientResult struct {
	ByClientJWT string           `json:"by_client_jwt,omitempty"`
	Error       *authClientError `json:"error,omitempty"`
}

// parseOptionalID reads an optional id field; empty is the zero id.
func parseOptionalID(s string) (uuid.UUID, bool) {
	if s == "" {
		return uuid.Nil, true
	}
	id, err := uuid.Parse(s)
	return id, err == nil
}

func (s *Server) networkAuthClient(w http.ResponseWriter, r *http.Request, c engine.Caller) {
	var a authClientArgs
	if !s.decode(w, r, &a) {
		return
	}
	clientID, ok1 := parseOptionalID(a.ClientID)
	derived, ok2 := parseOptionalID(a.DerivedClientID)
	if !ok1 || !ok2 {
		writeJSON(w, authClientResult{Error: &authClientError{Message: "Invalid client id."}})
		return
	}
	jwt, err := s.eng.AuthClient(r.Context(), c, engine.AuthClientArgs{ClientID: clientID,
		Description: a.Description, DeviceSpec: a.DeviceSpec, DerivedClientID: derived})
	if err != nil {
		fail(w, r, err, func(msg string) any {
			return authClientResult{Error: &authClientError{Message: msg,
				ClientLimitExceeded: err == engine.ErrClientLimit}}
		})
		return
	}
	writeJSON(w, authClientResult{ByClientJWT: jwt})
}

type removeClientArgs struct {
	ClientID string `json:"client_id"`
}

func (s *Server) networkRemoveClient(w http.ResponseWriter, r *http.Request, c engine.Caller) {
	var a removeClientArgs
	if !s.decode(w, r, &a) {
		return
	}
	id, err := uuid.Parse(a.ClientID)
	if err != nil {
		writeJSON(w, simpleError("Invalid client id."))
		return
	}
	if err := s.eng.RemoveClient(r.Context(), c, id); err != nil {
		fail(w, r, err, simpleError)
		return
	}
	writeJSON(w, struct{}{})
}

type residentJSON struct {
	ClientID              string `json:"client_id"`
	InstanceID            string `json:"instance_id"`
	ResidentID            string `json:"resident_id"`
	ResidentHost          string `json:"resident_host"`
	ResidentService       string `json:"resident_service"`
	ResidentBlock         string `json:"resident_block"`
	ResidentInternalPorts []int  `json:"resident_internal_ports"`
}

type connectionJSON struct {
	ClientID          string `json:"client_id"`
	ConnectionID      string `json:"connection_id"`
	ConnectTime       string `json:"connect_time"`
	DisconnectTime    string `json:"disconnect_time,omitempty"`
	ConnectionHost    string `json:"connection_host"`
	ConnectionService string `json:"connection_service"`
	ConnectionBlock   string `json:"connection_block"`
}

type clientJSON struct {
	ClientID    string           `json:"client_id"`
	DeviceID    string           `json:"device_id"`
	NetworkID   string           `json:"network_id"`
	Description string           `json:"description"`
	DeviceName  string           `json:"device_name"`
	DeviceSpec  string           `json:"device_spec"`
	CreateTime  string           `json:"create_time"`
	AuthTime    string           `json:"auth_time"`
	Resident    *residentJSON    `json:"resident,omitempty"`
	ProvideMode int              `json:"provide_mode"`
	Connections []connectionJSON `json:"connections"`
}

type clientsResult struct {
	Clients []clientJSON `json:"clients"`
}

func (s *Server) networkClients(w http.ResponseWriter, r *http.Request, c engine.Caller) {
	clients, err := s.eng.Clients(r.Context(), c)
	if err != nil {
		fail(w, r, err, simpleError)
		return
	}
	out := clientsResult{Clients: make([]clientJSON, 0, len(clients))}
	for _, cl := range clients {
		j := clientJSON{ClientID: cl.ID.String(), DeviceID: cl.DeviceID.String(),
			NetworkID: cl.NetworkID.String(), Description: cl.Description,
			DeviceName: cl.DeviceName, DeviceSpec: cl.DeviceSpec,
			CreateTime: formatTime(cl.CreateTime), AuthTime: formatTime(cl.AuthTime),
			ProvideMode: cl.ProvideMode, Connections: []connectionJSON{}}
		if cl.InstanceID != uuid.Nil {
			j.Resident = &residentJSON{ClientID: cl.ID.String(),
				InstanceID: cl.InstanceID.String(), ResidentID: cl.InstanceID.String(),
				ResidentInternalPorts: []int{}}
		}
		for _, conn := range cl.Connections {
			j.Connections = append(j.Connections, connectionJSON{ClientID: cl.ID.String(),
				ConnectionID:   conn.ConnectionID.String(),
				ConnectTime:    formatTime(conn.ConnectTime),
				ConnectionHost: conn.Remote.Addr().String(), ConnectionService: conn.Transport,
				ConnectionBlock: conn.Remote.String()})
		}
		out.Clients = append(out.Clients, j)
	}
	writeJSON(w, out)
}

type preferencesArgs struct {
	ProductUpdates bool `json:"product_updates"`
}

func (s *Server) setPreferences(w http.ResponseWriter, r *http.Request, c engine.Caller) {
	var a preferencesArgs
	if !s.decode(w, r, &a) {
		return
	}
	if err := s.eng.SetPreferences(r.Context(), c, a.ProductUpdates); err != nil {
		fail(w, r, err, simpleError)
		return
	}
	writeJSON(w, struct{}{})
}

// feedbackArgs checks the feedback's shape; the body is stored as it came.
type feedbackArgs struct {
	Uses  map[string]bool `json:"uses"`
	Needs map[string]any  `json:"needs"`
}

func (s *Server) sendFeedback(w http.ResponseWriter, r *http.Request, c engine.Caller) {
	var raw json.RawMessage
	if !s.decode(w, r, &raw) {
		return
	}
	var a feedbackArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		writeStatus(w, http.StatusBadRequest, "malformed JSON: "+jsonProblem(err))
		return
	}
	if err := s.eng.SendFeedback(r.Context(), c, raw); err != nil {
		fail(w, r, err, simpleError)
		return
	}
	writeJSON(w, struct{}{})
}
