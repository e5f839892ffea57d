package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/notify"
	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/token"
)

// LoginResult answers /auth/login. Exactly one of the shapes is filled: a known user
// gets AuthAllowed, an unknown one only UserAuth (the client then offers to create a
// network), and a recognized Apple or Google user gets a JWT.
type LoginResult struct {
	UserName    string
	UserAuth    string
	AuthAllowed []string
	JWT         string
	// SuggestedUserAuth is set with an error that names the method to use instead.
	SuggestedUserAuth string
}

// Login starts a sign-in with an email or phone number, or finishes one with an Apple
// or Google identity token (ssoType "apple" or "google").
func (e *Engine) Login(ctx context.Context, userAuth, ssoToken, ssoType string) (LoginResult,
	error) {
	if ssoToken != "" {
		return e.loginSSO(ctx, ssoToken, ssoType)
	}
	ua, err := NormalizeUserAuth(userAuth)
	if err != nil {
		return LoginResult{}, err
	}
	u, err := e.store.UserByAuth(ctx, ua.Value)
	if errors.Is(err, store.ErrNotFound) {
		return LoginResult{UserAuth: ua.Value}, nil
	}
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{UserName: u.Name, UserAuth: u.Auth, AuthAllowed: authAllowed(u)}, nil
}

func authAllowed(u store.User) []string {
	allowed := []string{}
	if u.PasswordHash != "" {
		allowed = append(allowed, "password")
	}
	if u.SSOApple {
		allowed = append(allowed, "apple")
	}
	if u.SSOGoogle {
		allowed = append(allowed, "google")
	}
	return allowed
}

func (e *Engine) loginSSO(ctx context.Context, ssoToken, ssoType string) (LoginResult,
	error) {
	id, err := e.verifySSO(ctx, ssoToken, ssoType)
	if err != nil {
		return LoginResult{}, err
	}
	u, err := e.store.UserByAuth(ctx, id.Value)
	if errors.Is(err, store.ErrNotFound) {
		// A new user: the client goes on to create a network with the same token.
		return LoginResult{UserAuth: id.Value}, nil
	}
	if err != nil {
		return LoginResult{}, err
	}
	if (ssoType == "apple" && !u.SSOApple) || (ssoType == "google" && !u.SSOGoogle) {
		allowed := authAllowed(u)
		r := LoginResult{}
		if len(allowed) > 0 {
			r.SuggestedUserAuth = allowed[0]
		}
		return r, &UserError{Msg: "Sign in with the method this account was created with."}
	}
	jwt, err := e.newSessionJWT(ctx, u, uuid.Nil)
	return LoginResult{UserName: u.Name, UserAuth: u.Auth, JWT: jwt}, err
}

// verifySSO checks an identity token and returns its email as a user authority.
func (e *Engine) verifySSO(ctx context.Context, ssoToken, ssoType string) (UserAuth, error) {
	v := e.cfg.SSO[ssoType]
	if v == nil {
		return UserAuth{}, ErrSSOUnavailable
	}
	id, err := v.Verify(ctx, ssoToken)
	if err != nil {
		e.log.Info("sso token refused", "provider", ssoType, "err", err)
		return UserAuth{}, ErrInvalidSSO
	}
	ua, err := NormalizeUserAuth(id.Email)
	if err != nil || ua.Type != "email" {
		return UserAuth{}, ErrInvalidSSO
	}
	return ua, nil
}

// PasswordLogin is the answer to a password sign-in: a JWT, or the user authority that
// must be verified first.
type PasswordLogin struct {
	JWT                  string
	NetworkName          string
	VerificationRequired string
}

// LoginWithPassword signs in with an email or phone number and a password. An unknown
// user and a wrong password give the same error, after the same work.
func (e *Engine) LoginWithPassword(ctx context.Context, userAuth, password string) (
	PasswordLogin, error) {
	ua, err := NormalizeUserAuth(userAuth)
	if err != nil {
		return PasswordLogin{}, ErrInvalidLogin
	}
	u, err := e.store.UserByAuth(ctx, ua.Value)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return PasswordLogin{}, err
	}
	hash := u.PasswordHash
	if hash == "" {
		hash = dummyHash
	}
	if !CheckPassword(password, hash) || u.PasswordHash == "" {
		return PasswordLogin{}, ErrInvalidLogin
	}
	if !u.Verified {
		return PasswordLogin{VerificationRequired: u.Auth}, nil
	}
	n, err := e.store.Network(ctx, u.NetworkID)
	if err != nil {
		return PasswordLogin{}, err
	}
	jwt, err := e.newSessionJWT(ctx, u, uuid.Nil)
	return PasswordLogin{JWT: jwt, NetworkName: n.Name}, err
}

// newSessionJWT records a new session for the user and signs a network token naming
// it (and the parent session, for a login with an auth code).
func (e *Engine) newSessionJWT(ctx context.Context, u store.User, parent uuid.UUID) (string,
	error) {
	n, err := e.store.Network(ctx, u.NetworkID)
	if err != nil {
		return "", fmt.Errorf("new session: %w", err)
	}
	now := e.now()
	sess := store.Session{ID: uuid.New(), UserID: u.ID, NetworkID: u.NetworkID,
		ParentID: parent, CreateTime: now}
	err = e.store.Tx(ctx, func(tx *store.Tx) error { return tx.InsertSession(ctx, sess) })
	if err != nil {
		return "", fmt.Errorf("new session: %w", err)
	}
	ids := []uuid.UUID{sess.ID}
	if parent != uuid.Nil {
		ids = append(ids, parent)
	}
	return e.cfg.Signer.Sign(token.Claims{NetworkID: n.ID, NetworkName: n.Name, UserID: u.ID,
		CreateTime: now, SessionIDs: ids})
}

// Verify checks a verification code. On success the user is verified and signed in.
// A code allows verifyCodeMaxTries wrong tries, lives verifyCodeLife and works once.
func (e *Engine) Verify(ctx context.Context, userAuth, code string) (string, error) {
	ua, err := NormalizeUserAuth(userAuth)
	if err != nil {
		return "", ErrInvalidCode
	}
	var user store.User
	now := e.now()
	err = e.store.Tx(ctx, func(tx *store.Tx) error {
		user = store.User{}
		u, err := tx.UserByAuth(ctx, ua.Value)
		if errors.Is(err, store.ErrNotFound) {
			return ErrInvalidCode
		}
		if err != nil {
			return err
		}
		vc, err := tx.VerifyCode(ctx, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			return ErrInvalidCode
		}
		if err != nil {
			return err
		}
		if now.After(vc.ExpireTime) || vc.Attempts >= verifyCodeMaxTries {
			return ErrInvalidCode
		}
		if !hashEqual(vc.CodeHash, e.codeHash("verify", u.ID, code)) {
			// A wrong try is counted by the transaction that compared it, and committed:
			// counted afterwards, concurrent guesses would all be compared before any
			// count landed.
			return tx.CountVerifyAttempt(ctx, u.ID)
		}
		if err := tx.DeleteVerifyCode(ctx, u.ID); err != nil {
			return err
		}
		user = u
		return tx.SetUserVerified(ctx, u.ID)
	})
	if err != nil {
		return "", err
	}
	if user.ID == uuid.Nil {
		return "", ErrInvalidCode
	}
	return e.newSessionJWT(ctx, user, uuid.Nil)
}

// VerifySend sends a new verification code, which replaces any older one. It answers
// the same whether or not the user exists.
func (e *Engine) VerifySend(ctx context.Context, userAuth string) (string, error) {
	ua, u, err := e.knownUser(ctx, userAuth)
	if err != nil || u == nil {
		return ua, err
	}
	return ua, e.sendVerifyCode(ctx, *u)
}

// knownUser normalizes a user authority and finds its user, nil when there is none:
// the answer of a route that must not tell whether a user exists.
func (e *Engine) knownUser(ctx context.Context, userAuth string) (string, *store.User,
	error) {
	ua, err := NormalizeUserAuth(userAuth)
	if err != nil {
		return "", nil, err
	}
	u, err := e.store.UserByAuth(ctx, ua.Value)
	if errors.Is(err, store.ErrNotFound) {
		return ua.Value, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	return ua.Value, &u, nil
}

func (e *Engine) sendVerifyCode(ctx context.Context, u store.User) error {
	code, err := newVerifyCode()
	if err != nil {
		return err
	}
	now := e.now()
	vc := store.VerifyCode{UserID: u.ID, CodeHash: e.codeHash("verify", u.ID, code),
		CreateTime: now, ExpireTime: now.Add(verifyCodeLife)}
	err = e.store.Tx(ctx, func(tx *store.Tx) error { return tx.PutVerifyCode(ctx, vc) })
	if err != nil {
		return err
	}
	return e.send(ctx, u.Auth, "Your BringYour verification code",
		fmt.Sprintf("Your verification code is %s. It expires in 15 minutes.\n", code))
}

// PasswordReset sends a reset code if the user exists. It answers the same either way.
func (e *Engine) PasswordReset(ctx context.Context, userAuth string) (string, error) {
	ua, u, err := e.knownUser(ctx, userAuth)
	if err != nil || u == nil {
		return ua, err
	}
	code, err := newLongCode()
	if err != nil {
		return "", err
	}
	now := e.now()
	err = e.store.Tx(ctx, func(tx *store.Tx) error {
		return tx.InsertResetCode(ctx, e.codeHash("reset", uuid.Nil, code), u.ID, now,
			now.Add(resetCodeLife))
	})
	if err != nil {
		return "", err
	}
	return ua, e.send(ctx, u.Auth, "Reset your BringYour password",
		fmt.Sprintf("Your password reset code is %s. It expires in one hour.\n", code))
}

// PasswordSet sets a new password with a reset code and revokes every session of the
// user. Receiving the code proves the user authority, so the user becomes verified.
func (e *Engine) PasswordSet(ctx context.Context, resetCode, password string) error {
	if err := checkPasswordLength(password); err != nil {
		return err
	}
	if strings.TrimSpace(resetCode) == "" {
		return ErrInvalidCode
	}
	hash, err := HashPassword(password, e.cfg.Password)
	if err != nil {
		return err
	}
	now := e.now()
	return e.store.Tx(ctx, func(tx *store.Tx) error {
		userID, err := tx.TakeResetCode(ctx, e.codeHash("reset", uuid.Nil, resetCode), now)
		if errors.Is(err, store.ErrNotFound) {
			return ErrInvalidCode
		}
		if err != nil {
			return err
		}
		if err := tx.SetPasswordHash(ctx, userID, hash); err != nil {
			return err
		}
		if err := tx.SetUserVerified(ctx, userID); err != nil {
			return err
		}
		return tx.RevokeUserSessions(ctx, userID, now)
	})
}

func (e *Engine) send(ctx context.Context, to, subject, body string) error {
	if err := e.cfg.Sender.Send(ctx, notify.Message{To: to, Subject: subject,
		Body: body}); err != nil {
		return fmt.Errorf("send message: %w", err)
	}
	return nil
}

// NetworkCheck reports whether a network name is well formed and available.
func (e *Engine) NetworkCheck(name string) bool {
	name, err := NormalizeNetworkName(name)
	return err == nil && e.names.Available(name)
}

// NetworkCreateArgs are the inputs of NetworkCreate.
type NetworkCreateArgs struct {
	UserName    string
	UserAuth    string
	SSOToken    string
	SSOType     string
	Password    string
	NetworkName string
	Terms       bool
}

// NetworkCreated is the result of NetworkCreate. A user signed up with an email or
// phone number must verify it (VerificationRequired) before a JWT is issued; an Apple
// or Google user gets a JWT at once.
type NetworkCreated struct {
	NetworkID            uuid.UUID
	NetworkName          string
	JWT                  string
	VerificationRequired string
}

// NetworkCreate creates a network and its first user.
func (e *Engine) NetworkCreate(ctx context.Context, a NetworkCreateArgs) (NetworkCreated,
	error) {
	if !a.Terms {
		return NetworkCreated{}, ErrTermsRequired
	}
	name, err := NormalizeNetworkName(a.NetworkName)
	if err != nil {
		return NetworkCreated{}, err
	}
	u := store.User{ID: uuid.New(), NetworkID: uuid.New(), Name: strings.TrimSpace(a.UserName),
		CreateTime: e.now()}
	if len(u.Name) > 256 {
		return NetworkCreated{}, &UserError{Msg: "User name is too long."}
	}
	if !storableText(u.Name) {
		return NetworkCreated{}, &UserError{Msg: "User name must not contain NUL."}
	}
	if a.SSOToken != "" {
		ua, err := e.verifySSO(ctx, a.SSOToken, a.SSOType)
		if err != nil {
			return NetworkCreated{}, err
		}
		u.Auth, u.AuthType, u.Verified = ua.Value, ua.Type, true
		u.SSOApple, u.SSOGoogle = a.SSOType == "apple", a.SSOType == "google"
	} else {
		ua, err := NormalizeUserAuth(a.UserAuth)
		if err != nil {
			return NetworkCreated{}, err
		}
		if err := checkPasswordLength(a.Password); err != nil {
			return NetworkCreated{}, err
		}
		u.Auth, u.AuthType = ua.Value, ua.Type
		if u.PasswordHash, err = HashPassword(a.Password, e.cfg.Password); err != nil {
			return NetworkCreated{}, err
		}
	}
	if err := e.insertNetwork(ctx, name, u); err != nil {
		return NetworkCreated{}, err
	}
	e.log.Info("network created", "network_id", u.NetworkID)
	created := NetworkCreated{NetworkID: u.NetworkID, NetworkName: name}
	if !u.Verified {
		created.VerificationRequired = u.Auth
		return created, e.sendVerifyCode(ctx, u)
	}
	created.JWT, err = e.newSessionJWT(ctx, u, uuid.Nil)
	return created, err
}

// insertNetwork creates the network and its admin under a name reservation, so the
// name rule holds against concurrent creators.
func (e *Engine) insertNetwork(ctx context.Context, name string, u store.User) error {
	if err := e.names.Reserve(name); err != nil {
		return err
	}
	err := e.store.Tx(ctx, func(tx *store.Tx) error {
		err := tx.InsertNetwork(ctx, store.Network{ID: u.NetworkID, Name: name,
			AdminUserID: u.ID, CreateTime: u.CreateTime})
		if errors.Is(err, store.ErrDuplicate) {
			return ErrNameTaken
		}
		if err != nil {
			return err
		}
		err = tx.InsertUser(ctx, u)
		if errors.Is(err, store.ErrDuplicate) {
			return ErrUserAuthTaken
		}
		return err
	})
	if err != nil {
		e.names.Release(name)
	}
	return err
}

// AuthCode is a created auth code.
type AuthCode struct {
	Code            string
	DurationMinutes float64
	Uses            int
}

// CodeCreate creates an auth code tied to the caller's session. durationMinutes of
// zero means one minute, uses of zero one use; at most 24 hours and 4 uses.
func (e *Engine) CodeCreate(ctx context.Context, c Caller, durationMinutes float64,
	uses int) (AuthCode, error) {
	if c.IsClient() {
		return AuthCode{}, ErrClientJWT
	}
	if durationMinutes < 0 || uses < 0 {
		return AuthCode{}, &UserError{Msg: "Duration and uses must not be negative."}
	}
	if durationMinutes == 0 {
		durationMinutes = 1
	}
	durationMinutes = min(durationMinutes, authCodeMaxLife.Minutes())
	if uses == 0 {
		uses = 1
	}
	uses = min(uses, authCodeMaxUses)
	code, err := newLongCode()
	if err != nil {
		return AuthCode{}, err
	}
	now := e.now()
	ac := store.AuthCode{CodeHash: e.codeHash("auth", uuid.Nil, code), NetworkID: c.NetworkID,
		UserID: c.UserID, SessionID: c.SessionIDs[0], CreateTime: now,
		ExpireTime: now.Add(time.Duration(durationMinutes * float64(time.Minute))),
		UsesLeft:   uses}
	err = e.store.Tx(ctx, func(tx *store.Tx) error {
		n, err := tx.CountLiveAuthCodes(ctx, c.NetworkID, now)
		if err != nil {
			return err
		}
		if n >= maxLiveAuthCodes {
			return ErrAuthCodeLimit
		}
		return tx.InsertAuthCode(ctx, ac)
	})
	if err != nil {
		return AuthCode{}, err
	}
	return AuthCode{Code: code, DurationMinutes: durationMinutes, Uses: uses}, nil
}

// CodeLogin spends one use of an auth code and signs in with a session tied to the
// code creator's: revoking that one revokes this one.
func (e *Engine) CodeLogin(ctx context.Context, code string) (string, error) {
	if strings.TrimSpace(code) == "" {
		return "", ErrInvalidCode
	}
	var ac store.AuthCode
	var user store.User
	err := e.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		ac, err = tx.UseAuthCode(ctx, e.codeHash("auth", uuid.Nil, code), e.now())
		if errors.Is(err, store.ErrNotFound) {
			return ErrInvalidCode
		}
		if err != nil {
			return err
		}
		user, err = tx.User(ctx, ac.UserID)
		return err
	})
	if err != nil {
		return "", err
	}
	ok, err := e.store.SessionsActive(ctx, []uuid.UUID{ac.SessionID})
	if err != nil {
		return "", err
	}
	if !ok {
		return "", ErrInvalidCode
	}
	return e.newSessionJWT(ctx, user, ac.SessionID)
}

func hashEqual(a, b string) bool {
	return len(a) == len(b) && subtleEqual(a, b)
}
