package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/engine"
)

// PackHandler runs the control handlers on a serialized Pack sent out of band and
// returns the serialized reply Pack and the per-frame failures joined.
// *control.Server implements it.
type PackHandler interface {
	HandlePack(ctx context.Context, clientID uuid.UUID, pack []byte) ([]byte, error)
}

// connectControlArgs is {"pack": "<base64 Pack>"}; deployed clients send a string, the
// spec says an array of strings, so both are read.
type connectControlArgs struct {
	Pack json.RawMessage `json:"pack"`
}

type connectControlResult struct {
	Pack  string     `json:"pack"`
	Error *errorBody `json:"error"`
}

func (s *Server) connectControl(w http.ResponseWriter, r *http.Request, c engine.Caller) {
	var a connectControlArgs
	if !s.decode(w, r, &a) {
		return
	}
	if !c.IsClient() {
		writeJSON(w, simpleError("A client token is required."))
		return
	}
	pack, ok := decodePack(a.Pack)
	if !ok {
		writeStatus(w, http.StatusBadRequest, "pack must be a base64 string")
		return
	}
	reply, err := s.opts.Control.HandlePack(r.Context(), c.ClientID, pack)
	out := connectControlResult{Pack: base64.StdEncoding.EncodeToString(reply)}
	if err != nil {
		out.Error = &errorBody{Message: s.frameErrors(r, c, err)}
	}
	writeJSON(w, out)
}

// frameErrors turns the joined per-frame failures of a pack into the message a client
// sees: domain failures and malformed input as they are, anything else as an internal
// error, logged with the request id.
func (s *Server) frameErrors(r *http.Request, c engine.Caller, err error) string {
	var msgs []string
	for _, e := range leafErrors(err) {
		switch {
		case engine.IsUserError(e):
			var ue *engine.UserError
			errors.As(e, &ue)
			msgs = append(msgs, ue.Msg)
		case errors.Is(e, control.ErrMalformedPack):
			msgs = append(msgs, e.Error())
		default:
			requestLog(r.Context()).Error("control frame failed", "client_id", c.ClientID,
				"err", e)
			msgs = append(msgs, "internal error")
		}
	}
	return strings.Join(msgs, "; ")
}

// leafErrors flattens errors.Join trees.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// decodePack reads the pack field as a base64 string or a one-element array of one.
func decodePack(raw json.RawMessage) ([]byte, bool) {
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil || len(list) != 1 {
			return nil, false
		}
		text = list[0]
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(text); err == nil {
			return b, true
		}
	}
	return nil, false
}
