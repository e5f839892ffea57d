package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/byplatform/byplatform/engine"
)

// errorBody is the in-band error of every result.
type errorBody struct {
	Message string `json:"message"`
}

// decode reads the request body as JSON into v, whatever its Content-Type. It answers
// 413 for a body over the limit and 400 for malformed JSON, and then reports false.
// An empty body reads as {}.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeStatus(w, http.StatusRequestEntityTooLarge, "request body too large")
		return false
	}
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "could not read request body")
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeStatus(w, http.StatusBadRequest, "malformed JSON: "+jsonProblem(err))
		return false
	}
	return true
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return "syntax error at offset " + strconv.FormatInt(syntax.Offset, 10)
	case errors.As(err, &typ):
		return "field " + typ.Field + " must be " + typ.Type.String()
	}
	return "not a JSON object"
}

// writeJSON answers 200 with v.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeInternal(w)
		return
	}
	writeBody(w, http.StatusOK, append(b, '\n'))
}

// writeBody answers with status and the JSON body b. It states the length, so that a
// body larger than net/http's buffer is not sent in chunks.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	w.Write(b)
}

// writeStatus answers a non-200 status with a JSON error body.
func writeStatus(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Error errorBody `json:"error"`
	}{errorBody{msg}})
	writeBody(w, status, append(b, '\n'))
}

func writeInternal(w http.ResponseWriter) {
	writeStatus(w, http.StatusInternalServerError, "internal error")
}

// fail answers an error from the engine: in band for a domain failure, 401 for a
// refused token, 500 (logged with the request id) for anything else. For a domain
// failure it calls inband with the message to write the result's own error shape.
func fail(w http.ResponseWriter, r *http.Request, err error, inband func(msg string) any) {
	var ue *engine.UserError
	switch {
	case errors.As(err, &ue):
		writeJSON(w, inband(ue.Msg))
	case errors.Is(err, engine.ErrUnauthorized):
		writeStatus(w, http.StatusUnauthorized, "unauthorized")
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		writeStatus(w, 499, "request canceled")
	default:
		requestLog(r.Context()).Error("request failed", "path", r.URL.Path, "err", err)
		writeInternal(w)
	}
}

// simpleError is the in-band answer for results whose error is {message} alone.
func simpleError(msg string) any {
	return struct {
		Error errorBody `json:"error"`
	}{errorBody{msg}}
}

// authed wraps a handler of a protected route: it reads the bearer token, answers 401
// when it is missing, invalid or revoked, and passes the caller on.
func (s *Server) authed(
	h func(http.ResponseWriter, *http.Request, engine.Caller),
) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		bearer, ok := bearerToken(r)
		if !ok {
			writeStatus(w, http.StatusUnauthorized, "missing bearer token")
			return
		}
		c, err := s.eng.Authenticate(r.Context(), bearer)
		if err != nil {
			fail(w, r, err, simpleError)
			return
		}
		h(w, r, c)
	}
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != "" && len(tok) < 8192
}

// formatTime writes a time as the API does: RFC 3339 in UTC with fractional seconds.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func splitForwarded(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if p := strings.TrimSpace(part); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
