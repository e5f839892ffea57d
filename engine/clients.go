package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/token"
)

// AuthClientArgs are the inputs of AuthClient.
type AuthClientArgs struct {
	// ClientID names an existing client to authorize again; zero asks for a new one.
	ClientID        uuid.UUID
	Description     string
	DeviceSpec      string
	DerivedClientID uuid.UUID
}

// AuthClient returns a client token for an existing client of the caller's network, or
// for a new client (and device). A client token may authorize only its own client, and
// a client it creates is recorded as derived from it. A network holds at most 128
// active clients and creates at most 1024 client ids in 24 hours.
func (e *Engine) AuthClient(ctx context.Context, c Caller, a AuthClientArgs) (string, error) {
	if len(a.Description) > 1024 || len(a.DeviceSpec) > 1024 {
		return "", &UserError{Msg: "Description and device spec are limited to 1024 bytes."}
	}
	if !storableText(a.Description) || !storableText(a.DeviceSpec) {
		return "", &UserError{Msg: "Description and device spec must not contain NUL."}
	}
	if c.IsClient() {
		if a.ClientID != uuid.Nil && a.ClientID != c.ClientID {
			return "", ErrInvalidClient
		}
		a.DerivedClientID = c.ClientID
	}
	now := e.now()
	var client store.Client
	err := e.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if a.ClientID != uuid.Nil {
			client, err = e.reauthorize(ctx, tx, c, a.ClientID, now)
		} else {
			client, err = e.newClient(ctx, tx, c, a, now)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return e.cfg.Signer.Sign(token.Claims{NetworkID: c.NetworkID, NetworkName: c.NetworkName,
		UserID: c.UserID, ClientID: client.ID, DeviceID: client.DeviceID, CreateTime: now,
		SessionIDs: c.SessionIDs})
}

func (e *Engine) reauthorize(ctx context.Context, tx *store.Tx, c Caller, id uuid.UUID,
	now time.Time) (store.Client, error) {
	client, err := tx.Client(ctx, id)
	if errors.Is(err, store.ErrNotFound) ||
		(err == nil && (!client.Active || client.NetworkID != c.NetworkID)) {
		return client, ErrInvalidClient
	}
	if err != nil {
		return client, err
	}
	return client, tx.TouchClientAuth(ctx, id, now)
}

func (e *Engine) newClient(ctx context.Context, tx *store.Tx, c Caller, a AuthClientArgs,
	now time.Time) (store.Client, error) {
	active, err := tx.CountActiveClients(ctx, c.NetworkID)
	if err != nil {
		return store.Client{}, err
	}
	recent, err := tx.CountClientsCreatedSince(ctx, c.NetworkID, now.Add(-24*time.Hour))
	if err != nil {
		return store.Client{}, err
	}
	if active >= maxActiveClients || recent >= maxNewClientsPerDay {
		return store.Client{}, ErrClientLimit
	}
	if a.DerivedClientID != uuid.Nil {
		derived, err := tx.Client(ctx, a.DerivedClientID)
		if err != nil || derived.NetworkID != c.NetworkID {
			return store.Client{}, ErrInvalidClient
		}
	}
	d := store.Device{ID: uuid.New(), NetworkID: c.NetworkID,
		Name: strings.TrimSpace(a.Description), Spec: a.DeviceSpec, CreateTime: now}
	if err := tx.InsertDevice(ctx, d); err != nil {
		return store.Client{}, err
	}
	client := store.Client{ID: uuid.New(), NetworkID: c.NetworkID, DeviceID: d.ID,
		Description: a.Description, DeviceSpec: a.DeviceSpec, DeviceName: d.Name,
		DerivedClientID: a.DerivedClientID, CreateTime: now, AuthTime: now, Active: true}
	return client, tx.InsertClient(ctx, client)
}

// RemoveClient deactivates a client of the caller's network. Its client tokens are
// refused from then on and its live connections are closed at once.
func (e *Engine) RemoveClient(ctx context.Context, c Caller, clientID uuid.UUID) error {
	err := e.store.Tx(ctx, func(tx *store.Tx) error {
		return tx.RemoveClient(ctx, c.NetworkID, clientID, e.now())
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrInvalidClient
	}
	if err != nil {
		return err
	}
	e.log.Info("client removed", "client_id", clientID, "network_id", c.NetworkID)
	e.forgetProvider(clientID)
	e.providerRemoved(clientID)
	if p := e.cfg.Presence; p != nil {
		p.Disconnect(clientID)
	}
	return nil
}

// ClientStatus is one client of a network with its live state.
type ClientStatus struct {
	store.Client
	// InstanceID is the instance of the client's live presence; zero when offline.
	InstanceID  uuid.UUID
	Connections []Connection
}

// Clients lists the active clients of the caller's network, oldest first, with their
// live connections.
func (e *Engine) Clients(ctx context.Context, c Caller) ([]ClientStatus, error) {
	clients, err := e.store.NetworkClients(ctx, c.NetworkID)
	if err != nil {
		return nil, err
	}
	out := make([]ClientStatus, len(clients))
	for i, cl := range clients {
		out[i].Client = cl
		out[i].Connections = []Connection{}
		if p := e.cfg.Presence; p != nil {
			if conns := p.Connections(cl.ID); len(conns) > 0 {
				out[i].Connections = conns
				out[i].InstanceID = conns[0].InstanceID
			}
		}
	}
	return out, nil
}

// SetPreferences stores the caller's account preferences.
func (e *Engine) SetPreferences(ctx context.Context, c Caller, productUpdates bool) error {
	return e.store.Tx(ctx, func(tx *store.Tx) error {
		return tx.SetProductUpdates(ctx, c.UserID, productUpdates)
	})
}

// SendFeedback stores the caller's feedback. The body is kept as the JSON it came in.
func (e *Engine) SendFeedback(ctx context.Context, c Caller, feedback json.RawMessage) error {
	// A JSON string may hold bytes that are not UTF-8, which PostgreSQL cannot store.
	if len(feedback) == 0 || feedback[0] != '{' || !json.Valid(feedback) ||
		!utf8.Valid(feedback) {
		return &UserError{Msg: "Feedback must be a JSON object."}
	}
	return e.store.Tx(ctx, func(tx *store.Tx) error {
		return tx.InsertFeedback(ctx, c.NetworkID, c.UserID, string(feedback), e.now())
	})
}

// storableText reports whether every store driver can keep s as text: PostgreSQL
// refuses NUL characters and invalid UTF-8 in text columns, where SQLite would keep them.
func storableText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
