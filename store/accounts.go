package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Network is a named group of users and clients.
type Network struct {
	ID          uuid.UUID
	Name        string
	AdminUserID uuid.UUID
	CreateTime  time.Time
}

// User is a person who signs in with a user authority (an email or a phone number).
type User struct {
	ID        uuid.UUID
	NetworkID uuid.UUID
	Name      string
	// Auth is the normalized email or E.164 phone number.
	Auth string
	// AuthType is "email" or "phone".
	AuthType string
	// PasswordHash is the encoded argon2id hash, empty when the user has no password.
	PasswordHash   string
	SSOApple       bool
	SSOGoogle      bool
	Verified       bool
	ProductUpdates bool
	CreateTime     time.Time
}

// Session is one sign-in. Tokens name their sessions; a revoked session's tokens are
// refused.
type Session struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	NetworkID uuid.UUID
	// ParentID is the session that created the auth code this session logged in with.
	ParentID   uuid.UUID
	CreateTime time.Time
}

// VerifyCode is a user's live verification code.
type VerifyCode struct {
	UserID     uuid.UUID
	CodeHash   string
	CreateTime time.Time
	ExpireTime time.Time
	Attempts   int
}

// AuthCode is a limited-use code that shares a session with another app.
type AuthCode struct {
	CodeHash   string
	NetworkID  uuid.UUID
	UserID     uuid.UUID
	SessionID  uuid.UUID
	CreateTime time.Time
	ExpireTime time.Time
	UsesLeft   int
}

// ErrDuplicate is returned when an insert hits a unique constraint.
var ErrDuplicate = errors.New("already exists")

// InsertNetwork creates a network. A taken name gives ErrDuplicate.
func (t *Tx) InsertNetwork(ctx context.Context, n Network) error {
	_, err := t.Exec(ctx, `INSERT INTO network (network_id, network_name, admin_user_id,
		create_time) VALUES (?, ?, ?, ?)`,
		n.ID.String(), n.Name, n.AdminUserID.String(), micros(n.CreateTime))
	return duplicate(err)
}

// InsertUser creates a user. A user authority that is taken gives ErrDuplicate.
func (t *Tx) InsertUser(ctx context.Context, u User) error {
	_, err := t.Exec(ctx, `INSERT INTO network_user (user_id, network_id, user_name,
		user_auth, auth_type, password_hash, sso_apple, sso_google, verified,
		product_updates, create_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID.String(), u.NetworkID.String(), u.Name, u.Auth, u.AuthType,
		nullString(u.PasswordHash), u.SSOApple, u.SSOGoogle, u.Verified, u.ProductUpdates,
		micros(u.CreateTime))
	return duplicate(err)
}

const userColumns = `user_id, network_id, user_name, user_auth, auth_type, password_hash,
	sso_apple, sso_google, verified, product_updates, create_time`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var hash sql.NullString
	var created int64
	err := row.Scan(&u.ID, &u.NetworkID, &u.Name, &u.Auth, &u.AuthType, &hash, &u.SSOApple,
		&u.SSOGoogle, &u.Verified, &u.ProductUpdates, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	u.PasswordHash = hash.String
	u.CreateTime = fromMicros(created)
	return u, err
}

// UserByAuth finds the user with a normalized user authority.
func (s *Store) UserByAuth(ctx context.Context, auth string) (User, error) {
	return scanUser(s.queryRow(ctx,
		"SELECT "+userColumns+" FROM network_user WHERE user_auth = ?", auth))
}

// UserByAuth finds the user with a normalized user authority inside the transaction.
func (t *Tx) UserByAuth(ctx context.Context, auth string) (User, error) {
	return scanUser(t.QueryRow(ctx,
		"SELECT "+userColumns+" FROM network_user WHERE user_auth = ?", auth))
}

// User finds a user by id.
func (t *Tx) User(ctx context.Context, id uuid.UUID) (User, error) {
	return scanUser(t.QueryRow(ctx,
		"SELECT "+userColumns+" FROM network_user WHERE user_id = ?", id.String()))
}

// SetUserVerified marks the user's authority as verified.
func (t *Tx) SetUserVerified(ctx context.Context, userID uuid.UUID) error {
	return t.execOne(ctx, "UPDATE network_user SET verified = TRUE WHERE user_id = ?",
		userID.String())
}

// SetPasswordHash replaces the user's password hash.
func (t *Tx) SetPasswordHash(ctx context.Context, userID uuid.UUID, hash string) error {
	return t.execOne(ctx, "UPDATE network_user SET password_hash = ? WHERE user_id = ?",
		hash, userID.String())
}

// EnableSSO records that the user may sign in with the named provider ("apple" or
// "google").
func (t *Tx) EnableSSO(ctx context.Context, userID uuid.UUID, provider string) error {
	column := map[string]string{"apple": "sso_apple", "google": "sso_google"}[provider]
	if column == "" {
		return fmt.Errorf("enable sso: unknown provider %q", provider)
	}
	return t.execOne(ctx, "UPDATE network_user SET "+column+" = TRUE WHERE user_id = ?",
		userID.String())
}

// SetProductUpdates stores the user's preference for product update messages.
func (t *Tx) SetProductUpdates(ctx context.Context, userID uuid.UUID, on bool) error {
	return t.execOne(ctx, "UPDATE network_user SET product_updates = ? WHERE user_id = ?",
		on, userID.String())
}

// Network finds a network by id.
func (s *Store) Network(ctx context.Context, id uuid.UUID) (Network, error) {
	var n Network
	var created int64
	err := s.queryRow(ctx, `SELECT network_id, network_name, admin_user_id, create_time
		FROM network WHERE network_id = ?`, id.String()).
		Scan(&n.ID, &n.Name, &n.AdminUserID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Network{}, ErrNotFound
	}
	n.CreateTime = fromMicros(created)
	return n, err
}

// NetworkByName finds a network by its exact name.
func (s *Store) NetworkByName(ctx context.Context, name string) (Network, error) {
	var n Network
	var created int64
	err := s.queryRow(ctx, `SELECT network_id, network_name, admin_user_id, create_time
		FROM network WHERE network_name = ?`, name).
		Scan(&n.ID, &n.Name, &n.AdminUserID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Network{}, ErrNotFound
	}
	n.CreateTime = fromMicros(created)
	return n, err
}

// NetworkNames calls fn with every network name, in no particular order.
func (s *Store) NetworkNames(ctx context.Context, fn func(name string)) error {
	rows, err := s.query(ctx, "SELECT network_name FROM network")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		fn(name)
	}
	return rows.Err()
}

// InsertSession records a new session.
func (t *Tx) InsertSession(ctx context.Context, s Session) error {
	var parent any
	if s.ParentID != uuid.Nil {
		parent = s.ParentID.String()
	}
	_, err := t.Exec(ctx, `INSERT INTO auth_session (session_id, user_id, network_id,
		parent_session_id, create_time) VALUES (?, ?, ?, ?, ?)`,
		s.ID.String(), s.UserID.String(), s.NetworkID.String(), parent, micros(s.CreateTime))
	return err
}

// SessionsActive reports whether every one of ids names a session that exists and has
// not been revoked.
func (s *Store) SessionsActive(ctx context.Context, ids []uuid.UUID) (bool, error) {
	if len(ids) == 0 {
		return false, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id.String()
	}
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM auth_session WHERE revoke_time IS NULL
		AND session_id IN (`+placeholders(len(ids))+`)`, args...).Scan(&n)
	return err == nil && n == len(uniqueIDs(ids)), err
}

// RevokeUserSessions revokes every session of the user, the sessions logged in with
// their auth codes included, and deletes the user's auth codes.
func (t *Tx) RevokeUserSessions(ctx context.Context, userID uuid.UUID, now time.Time) error {
	_, err := t.Exec(ctx, `UPDATE auth_session SET revoke_time = ?
		WHERE revoke_time IS NULL AND (user_id = ? OR parent_session_id IN
			(SELECT session_id FROM auth_session WHERE user_id = ?))`,
		micros(now), userID.String(), userID.String())
	if err != nil {
		return err
	}
	_, err = t.Exec(ctx, "DELETE FROM auth_code WHERE user_id = ?", userID.String())
	return err
}

// PutVerifyCode stores the user's verification code, replacing any older one.
func (t *Tx) PutVerifyCode(ctx context.Context, c VerifyCode) error {
	_, err := t.Exec(ctx, `INSERT INTO verify_code (user_id, code_hash, create_time,
		expire_time, attempts) VALUES (?, ?, ?, ?, 0)
		ON CONFLICT (user_id) DO UPDATE SET code_hash = excluded.code_hash,
		create_time = excluded.create_time, expire_time = excluded.expire_time, attempts = 0`,
		c.UserID.String(), c.CodeHash, micros(c.CreateTime), micros(c.ExpireTime))
	return err
}

// VerifyCode returns the user's live verification code.
func (t *Tx) VerifyCode(ctx context.Context, userID uuid.UUID) (VerifyCode, error) {
	c := VerifyCode{UserID: userID}
	var created, expires int64
	err := t.QueryRow(ctx, `SELECT code_hash, create_time, expire_time, attempts
		FROM verify_code WHERE user_id = ?`, userID.String()).
		Scan(&c.CodeHash, &created, &expires, &c.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	c.CreateTime, c.ExpireTime = fromMicros(created), fromMicros(expires)
	return c, err
}

// CountVerifyAttempt adds one wrong try to the user's verification code.
func (t *Tx) CountVerifyAttempt(ctx context.Context, userID uuid.UUID) error {
	_, err := t.Exec(ctx, "UPDATE verify_code SET attempts = attempts + 1 WHERE user_id = ?",
		userID.String())
	return err
}

// DeleteVerifyCode removes the user's verification code.
func (t *Tx) DeleteVerifyCode(ctx context.Context, userID uuid.UUID) error {
	_, err := t.Exec(ctx, "DELETE FROM verify_code WHERE user_id = ?", userID.String())
	return err
}

// InsertResetCode stores a password reset code by its hash.
func (t *Tx) InsertResetCode(ctx context.Context, hash string, userID uuid.UUID,
	created, expires time.Time) error {
	_, err := t.Exec(ctx, `INSERT INTO reset_code (code_hash, user_id, create_time,
		expire_time) VALUES (?, ?, ?, ?)`, hash, userID.String(), micros(created),
		micros(expires))
	return err
}

// TakeResetCode marks an unused, unexpired reset code used and returns its user.
func (t *Tx) TakeResetCode(ctx context.Context, hash string, now time.Time) (uuid.UUID,
	error) {
	var userID uuid.UUID
	err := t.QueryRow(ctx, `SELECT user_id FROM reset_code WHERE code_hash = ?
		AND used_time IS NULL AND expire_time > ?`, hash, micros(now)).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return uuid.Nil, ErrNotFound
	}
	if err != nil {
		return uuid.Nil, err
	}
	err = t.execOne(ctx, "UPDATE reset_code SET used_time = ? WHERE code_hash = ?",
		micros(now), hash)
	return userID, err
}

// InsertAuthCode stores an auth code by its hash.
func (t *Tx) InsertAuthCode(ctx context.Context, c AuthCode) error {
	_, err := t.Exec(ctx, `INSERT INTO auth_code (code_hash, network_id, user_id,
		session_id, create_time, expire_time, uses_left) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.CodeHash, c.NetworkID.String(), c.UserID.String(), c.SessionID.String(),
		micros(c.CreateTime), micros(c.ExpireTime), c.UsesLeft)
	return err
}

// CountLiveAuthCodes counts the network's auth codes that are unexpired and have uses
// left.
func (t *Tx) CountLiveAuthCodes(ctx context.Context, networkID uuid.UUID,
	now time.Time) (int, error) {
	var n int
	err := t.QueryRow(ctx, `SELECT count(*) FROM auth_code WHERE network_id = ?
		AND expire_time > ? AND uses_left > 0`, networkID.String(), micros(now)).Scan(&n)
	return n, err
}

// UseAuthCode spends one use of an unexpired auth code and returns it.
func (t *Tx) UseAuthCode(ctx context.Context, hash string, now time.Time) (AuthCode,
	error) {
	c := AuthCode{CodeHash: hash}
	var created, expires int64
	err := t.QueryRow(ctx, `SELECT network_id, user_id, session_id, create_time,
		expire_time, uses_left FROM auth_code WHERE code_hash = ? AND expire_time > ?
		AND uses_left > 0`, hash, micros(now)).
		Scan(&c.NetworkID, &c.UserID, &c.SessionID, &created, &expires, &c.UsesLeft)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, err
	}
	c.CreateTime, c.ExpireTime = fromMicros(created), fromMicros(expires)
	c.UsesLeft--
	err = t.execOne(ctx, "UPDATE auth_code SET uses_left = uses_left - 1 WHERE code_hash = ?",
		hash)
	return c, err
}

// execOne runs a statement that must change exactly one row.
func (t *Tx) execOne(ctx context.Context, query string, args ...any) error {
	res, err := t.Exec(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func duplicate(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	var liteErr *sqlite.Error
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505",
		errors.As(err, &liteErr) && (liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE ||
			liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return fmt.Errorf("%w: %v", ErrDuplicate, err)
	}
	return err
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func uniqueIDs(ids []uuid.UUID) map[uuid.UUID]struct{} {
	m := make(map[uuid.UUID]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}
