package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
)

// ProvideKey is a client's sealed secret for one provide mode.
type ProvideKey struct {
	Mode   int
	Sealed []byte
}

// SetProvideKeys replaces every provide key of the client.
func (t *Tx) SetProvideKeys(ctx context.Context, clientID uuid.UUID, keys []ProvideKey) error {
	if _, err := t.Exec(ctx, "DELETE FROM provide_key WHERE client_id = ?",
		clientID.String()); err != nil {
		return err
	}
	for _, k := range keys {
		_, err := t.Exec(ctx, `INSERT INTO provide_key (client_id, provide_mode, secret_sealed)
			VALUES (?, ?, ?)`, clientID.String(), k.Mode, k.Sealed)
		if err != nil {
			return err
		}
	}
	return nil
}

// ProvideKeys returns the client's sealed provide keys.
func (s *Store) ProvideKeys(ctx context.Context, clientID uuid.UUID) ([]ProvideKey, error) {
	rows, err := s.query(ctx, `SELECT provide_mode, secret_sealed FROM provide_key
		WHERE client_id = ? ORDER BY provide_mode`, clientID.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ProvideKey
	for rows.Next() {
		var k ProvideKey
		if err := rows.Scan(&k.Mode, &k.Sealed); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// Balance is a network's transfer balance: bytes it may escrow for contracts between
// StartTime and EndTime.
type Balance struct {
	ID         uuid.UUID
	NetworkID  uuid.UUID
	StartTime  time.Time
	EndTime    time.Time
	StartBytes int64
	Bytes      int64
	CreateTime time.Time
}

// InsertBalance adds a transfer balance.
func (t *Tx) InsertBalance(ctx context.Context, b Balance) error {
	_, err := t.Exec(ctx, `INSERT INTO transfer_balance (balance_id, network_id, start_time,
		end_time, start_bytes, balance_bytes, create_time) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		b.ID.String(), b.NetworkID.String(), micros(b.StartTime), micros(b.EndTime),
		b.StartBytes, b.Bytes, micros(b.CreateTime))
	return err
}

// ActiveBalances lists the network's balances that are in effect at now and not empty,
// earliest end first.
func (t *Tx) ActiveBalances(ctx context.Context, networkID uuid.UUID,
	now time.Time) ([]Balance, error) {
	rows, err := t.Query(ctx, `SELECT balance_id, network_id, start_time, end_time,
		start_bytes, balance_bytes, create_time FROM transfer_balance
		WHERE network_id = ? AND start_time <= ? AND end_time > ? AND balance_bytes > 0
		ORDER BY end_time, balance_id LIMIT 1000`,
		networkID.String(), micros(now), micros(now))
	if err != nil {
		return nil, err
	}
	return scanBalances(rows)
}

// Balances lists every balance of the network, earliest end first.
func (s *Store) Balances(ctx context.Context, networkID uuid.UUID) ([]Balance, error) {
	rows, err := s.query(ctx, `SELECT balance_id, network_id, start_time, end_time,
		start_bytes, balance_bytes, create_time FROM transfer_balance
		WHERE network_id = ? ORDER BY end_time, balance_id LIMIT 1000`, networkID.String())
	if err != nil {
		return nil, err
	}
	return scanBalances(rows)
}

func scanBalances(rows *sql.Rows) ([]Balance, error) {
	defer rows.Close()
	var out []Balance
	for rows.Next() {
		var b Balance
		var start, end, created int64
		if err := rows.Scan(&b.ID, &b.NetworkID, &start, &end, &b.StartBytes, &b.Bytes,
			&created); err != nil {
			return nil, err
		}
		b.StartTime, b.EndTime, b.CreateTime = fromMicros(start), fromMicros(end),
			fromMicros(created)
		out = append(out, b)
	}
	return out, rows.Err()
}

// AddBalanceBytes changes a balance by delta bytes (negative to take).
func (t *Tx) AddBalanceBytes(ctx context.Context, balanceID uuid.UUID, delta int64) error {
	return t.execOne(ctx, `UPDATE transfer_balance SET balance_bytes = balance_bytes + ?
		WHERE balance_id = ?`, delta, balanceID.String())
}

// Contract statuses.
const (
	ContractOpen     = "open"
	ContractSettled  = "settled"
	ContractDisputed = "disputed"
)

// Contract is a transfer contract from a source client to a destination client.
type Contract struct {
	ID                   uuid.UUID
	SourceNetworkID      uuid.UUID
	SourceID             uuid.UUID
	DestinationNetworkID uuid.UUID
	DestinationID        uuid.UUID
	TransferBytes        int64
	ProvideMode          int
	Escrowed             bool
	Status               string
	CreateTime           time.Time
	// SourceAcked and DestinationAcked are each party's closing count; -1 until it
	// closes.
	SourceAcked      int64
	DestinationAcked int64
	UsedBytes        int64
	CloseTime        time.Time
}

// Escrow is bytes held from one balance for one contract.
type Escrow struct {
	BalanceID uuid.UUID
	Bytes     int64
}

// InsertContract records a new open contract and its escrow.
func (t *Tx) InsertContract(ctx context.Context, c Contract, escrow []Escrow) error {
	_, err := t.Exec(ctx, `INSERT INTO transfer_contract (contract_id, source_network_id,
		source_id, destination_network_id, destination_id, transfer_bytes, provide_mode,
		escrowed, status, create_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID.String(), c.SourceNetworkID.String(), c.SourceID.String(),
		c.DestinationNetworkID.String(), c.DestinationID.String(), c.TransferBytes,
		c.ProvideMode, c.Escrowed, ContractOpen, micros(c.CreateTime))
	if err != nil {
		return err
	}
	for _, e := range escrow {
		_, err := t.Exec(ctx, `INSERT INTO contract_escrow (contract_id, balance_id,
			escrow_bytes) VALUES (?, ?, ?)`, c.ID.String(), e.BalanceID.String(), e.Bytes)
		if err != nil {
			return err
		}
	}
	return nil
}

const contractColumns = `contract_id, source_network_id, source_id, destination_network_id,
	destination_id, transfer_bytes, provide_mode, escrowed, status, create_time,
	source_acked, destination_acked, used_bytes, close_time`

func scanContract(row interface{ Scan(...any) error }) (Contract, error) {
	var c Contract
	var created int64
	var srcAcked, dstAcked, used, closed sql.NullInt64
	err := row.Scan(&c.ID, &c.SourceNetworkID, &c.SourceID, &c.DestinationNetworkID,
		&c.DestinationID, &c.TransferBytes, &c.ProvideMode, &c.Escrowed, &c.Status, &created,
		&srcAcked, &dstAcked, &used, &closed)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	c.CreateTime, c.CloseTime = fromMicros(created), nullTime(closed)
	c.SourceAcked, c.DestinationAcked = -1, -1
	if srcAcked.Valid {
		c.SourceAcked = srcAcked.Int64
	}
	if dstAcked.Valid {
		c.DestinationAcked = dstAcked.Int64
	}
	c.UsedBytes = used.Int64
	return c, err
}

// Contract finds a contract inside the transaction.
func (t *Tx) Contract(ctx context.Context, id uuid.UUID) (Contract, error) {
	return scanContract(t.QueryRow(ctx,
		"SELECT "+contractColumns+" FROM transfer_contract WHERE contract_id = ?", id.String()))
}

// Contract finds a contract.
func (s *Store) Contract(ctx context.Context, id uuid.UUID) (Contract, error) {
	return scanContract(s.queryRow(ctx,
		"SELECT "+contractColumns+" FROM transfer_contract WHERE contract_id = ?", id.String()))
}

// SetContractAcked records one party's closing count.
func (t *Tx) SetContractAcked(ctx context.Context, id uuid.UUID, source bool,
	acked int64) error {
	column := "destination_acked"
	if source {
		column = "source_acked"
	}
	return t.execOne(ctx, "UPDATE transfer_contract SET "+column+" = ? WHERE contract_id = ?",
		acked, id.String())
}

// FinishContract sets a contract's final status and used bytes.
func (t *Tx) FinishContract(ctx context.Context, id uuid.UUID, status string, used int64,
	now time.Time) error {
	return t.execOne(ctx, `UPDATE transfer_contract SET status = ?, used_bytes = ?,
		close_time = ? WHERE contract_id = ?`, status, used, micros(now), id.String())
}

// ContractEscrow lists the escrow held for a contract, by the end time of its balance.
func (t *Tx) ContractEscrow(ctx context.Context, id uuid.UUID) ([]Escrow, error) {
	rows, err := t.Query(ctx, `SELECT e.balance_id, e.escrow_bytes FROM contract_escrow e
		JOIN transfer_balance b ON b.balance_id = e.balance_id
		WHERE e.contract_id = ? ORDER BY b.end_time, e.balance_id`, id.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Escrow
	for rows.Next() {
		var e Escrow
		if err := rows.Scan(&e.BalanceID, &e.Bytes); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// InsertEarning credits the provider network for a settled contract.
func (t *Tx) InsertEarning(ctx context.Context, contractID, networkID uuid.UUID,
	bytes int64, now time.Time) error {
	_, err := t.Exec(ctx, `INSERT INTO provider_earning (contract_id, network_id,
		earned_bytes, create_time) VALUES (?, ?, ?, ?)`,
		contractID.String(), networkID.String(), bytes, micros(now))
	return err
}

// NetworkEarnings sums the bytes a network earned as a provider.
func (s *Store) NetworkEarnings(ctx context.Context, networkID uuid.UUID) (int64, error) {
	var n int64
	err := s.queryRow(ctx, `SELECT COALESCE(SUM(earned_bytes), 0) FROM provider_earning
		WHERE network_id = ?`, networkID.String()).Scan(&n)
	return n, err
}

// PeerAuditRecord is a stored peer audit.
type PeerAuditRecord struct {
	ClientID        uuid.UUID
	PeerID          uuid.UUID
	DurationSeconds int64
	Abuse           bool
	// Counters is the audit's counters as a JSON object.
	Counters   string
	CreateTime time.Time
}

// InsertPeerAudit stores a peer audit.
func (t *Tx) InsertPeerAudit(ctx context.Context, a PeerAuditRecord) error {
	_, err := t.Exec(ctx, `INSERT INTO peer_audit (audit_id, client_id, peer_id,
		duration_seconds, abuse, counters, create_time) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		uuid.New().String(), a.ClientID.String(), a.PeerID.String(), a.DurationSeconds,
		a.Abuse, a.Counters, micros(a.CreateTime))
	return err
}

// PeerAudits counts the audits stored about a peer.
func (s *Store) PeerAudits(ctx context.Context, peerID uuid.UUID) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT count(*) FROM peer_audit WHERE peer_id = ?",
		peerID.String()).Scan(&n)
	return n, err
}
