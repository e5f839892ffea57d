package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Device is a physical or virtual device of a network; clients run on devices.
type Device struct {
	ID         uuid.UUID
	NetworkID  uuid.UUID
	Name       string
	Spec       string
	CreateTime time.Time
}

// Client is a client id of a network: the address the connect protocol uses.
type Client struct {
	ID              uuid.UUID
	NetworkID       uuid.UUID
	DeviceID        uuid.UUID
	Description     string
	DeviceSpec      string
	DeviceName      string // from the client's device, filled by reads
	DerivedClientID uuid.UUID
	CreateTime      time.Time
	AuthTime        time.Time
	Active          bool
	ProvideMode     int
}

// InsertDevice creates a device.
func (t *Tx) InsertDevice(ctx context.Context, d Device) error {
	_, err := t.Exec(ctx, `INSERT INTO device (device_id, network_id, device_name,
		device_spec, create_time) VALUES (?, ?, ?, ?, ?)`,
		d.ID.String(), d.NetworkID.String(), d.Name, d.Spec, micros(d.CreateTime))
	return err
}

// InsertClient creates an active client.
func (t *Tx) InsertClient(ctx context.Context, c Client) error {
	var derived any
	if c.DerivedClientID != uuid.Nil {
		derived = c.DerivedClientID.String()
	}
	_, err := t.Exec(ctx, `INSERT INTO network_client (client_id, network_id, device_id,
		description, device_spec, derived_client_id, create_time, auth_time, active,
		provide_mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, TRUE, ?)`,
		c.ID.String(), c.NetworkID.String(), c.DeviceID.String(), c.Description,
		c.DeviceSpec, derived, micros(c.CreateTime), micros(c.AuthTime), c.ProvideMode)
	return duplicate(err)
}

const clientColumns = `c.client_id, c.network_id, c.device_id, c.description,
	c.device_spec, COALESCE(d.device_name, ''), c.derived_client_id, c.create_time,
	c.auth_time, c.active, c.provide_mode`

const clientFrom = ` FROM network_client c LEFT JOIN device d ON d.device_id = c.device_id`

func scanClient(row interface{ Scan(...any) error }) (Client, error) {
	var c Client
	var derived sql.NullString
	var created, authed int64
	err := row.Scan(&c.ID, &c.NetworkID, &c.DeviceID, &c.Description, &c.DeviceSpec,
		&c.DeviceName, &derived, &created, &authed, &c.Active, &c.ProvideMode)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	if derived.Valid {
		c.DerivedClientID, _ = uuid.Parse(derived.String)
	}
	c.CreateTime, c.AuthTime = fromMicros(created), fromMicros(authed)
	return c, err
}

// Client finds a client, active or removed, inside the transaction.
func (t *Tx) Client(ctx context.Context, id uuid.UUID) (Client, error) {
	return scanClient(t.QueryRow(ctx,
		"SELECT "+clientColumns+clientFrom+" WHERE c.client_id = ?", id.String()))
}

// Client finds a client, active or removed.
func (s *Store) Client(ctx context.Context, id uuid.UUID) (Client, error) {
	return scanClient(s.queryRow(ctx,
		"SELECT "+clientColumns+clientFrom+" WHERE c.client_id = ?", id.String()))
}

// NetworkClients lists the network's active clients, oldest first.
func (s *Store) NetworkClients(ctx context.Context, networkID uuid.UUID) ([]Client, error) {
	rows, err := s.query(ctx, "SELECT "+clientColumns+clientFrom+
		" WHERE c.network_id = ? AND c.active ORDER BY c.create_time, c.client_id",
		networkID.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// TouchClientAuth records that the client was authorized again.
func (t *Tx) TouchClientAuth(ctx context.Context, id uuid.UUID, now time.Time) error {
	return t.execOne(ctx, "UPDATE network_client SET auth_time = ? WHERE client_id = ?",
		micros(now), id.String())
}

// CountActiveClients counts the network's active clients.
func (t *Tx) CountActiveClients(ctx context.Context, networkID uuid.UUID) (int, error) {
	var n int
	err := t.QueryRow(ctx, `SELECT count(*) FROM network_client
		WHERE network_id = ? AND active`, networkID.String()).Scan(&n)
	return n, err
}

// CountClientsCreatedSince counts the network's clients, removed ones included,
// created at or after since.
func (t *Tx) CountClientsCreatedSince(ctx context.Context, networkID uuid.UUID,
	since time.Time) (int, error) {
	var n int
	err := t.QueryRow(ctx, `SELECT count(*) FROM network_client
		WHERE network_id = ? AND create_time >= ?`, networkID.String(), micros(since)).Scan(&n)
	return n, err
}

// RemoveClient deactivates an active client of the network.
func (t *Tx) RemoveClient(ctx context.Context, networkID, clientID uuid.UUID,
	now time.Time) error {
	return t.execOne(ctx, `UPDATE network_client SET active = FALSE, remove_time = ?
		WHERE client_id = ? AND network_id = ? AND active`,
		micros(now), clientID.String(), networkID.String())
}

// SetClientProvideMode records the highest mode the client provides.
func (t *Tx) SetClientProvideMode(ctx context.Context, clientID uuid.UUID, mode int) error {
	return t.execOne(ctx, "UPDATE network_client SET provide_mode = ? WHERE client_id = ?",
		mode, clientID.String())
}

// InsertFeedback stores a feedback message as JSON text.
func (t *Tx) InsertFeedback(ctx context.Context, networkID, userID uuid.UUID,
	body string, now time.Time) error {
	_, err := t.Exec(ctx, `INSERT INTO feedback (feedback_id, network_id, user_id,
		create_time, body) VALUES (?, ?, ?, ?, ?)`,
		uuid.New().String(), networkID.String(), userID.String(), micros(now), body)
	return err
}
