package engine

import "errors"

// UserError is a domain failure the caller can act on. The HTTP front answers it in
// band, as {"error": {"message": Msg}}; every other error is an internal failure.
type UserError struct {
	Msg string
}

func (e *UserError) Error() string { return e.Msg }

// Domain failures with a flag of their own in the API.
var (
	ErrClientLimit   = &UserError{Msg: "Client limit exceeded."}
	ErrAuthCodeLimit = &UserError{Msg: "Auth code limit exceeded."}
)

// Other domain failures.
var (
	ErrInvalidLogin    = &UserError{Msg: "Invalid user or password."}
	ErrInvalidUserAuth = &UserError{Msg: "Invalid email or phone number."}
	ErrUserAuthTaken   = &UserError{Msg: "This email or phone number already has a network."}
	ErrPasswordShort   = &UserError{Msg: "Password must have at least 8 characters."}
	ErrTermsRequired   = &UserError{Msg: "You must accept the terms of service."}
	ErrInvalidCode     = &UserError{Msg: "Invalid or expired code."}
	ErrInvalidClient   = &UserError{Msg: "Invalid client."}
	ErrClientJWT       = &UserError{Msg: "A client token cannot do this."}
	ErrSSOUnavailable  = &UserError{Msg: "This sign-in method is not configured."}
	ErrInvalidSSO      = &UserError{Msg: "Invalid sign-in token."}
)

// ErrUnauthorized means a bearer token is missing, invalid or revoked. The HTTP front
// answers 401.
var ErrUnauthorized = errors.New("unauthorized")

// IsUserError reports whether err is a domain failure to answer in band.
func IsUserError(err error) bool {
	var ue *UserError
	return errors.As(err, &ue)
}
