package api

import (
	"net/http"

	"github.com/byplatform/byplatform/engine"
)

// networkJWT is the {by_jwt} object of several results.
type networkJWT struct {
	ByJWT string `json:"by_jwt"`
}

type userAuthObj struct {
	UserAuth string `json:"user_auth"`
}

// limitKey is the user authority a request's rate limit is counted under: normalized
// when it can be, as sent otherwise.
func limitKey(userAuth string) string {
	if ua, err := engine.NormalizeUserAuth(userAuth); err == nil {
		return ua.Value
	}
	return userAuth
}

type loginArgs struct {
	UserAuth    string `json:"user_auth"`
	AuthJWT     string `json:"auth_jwt"`
	AuthJWTType string `json:"auth_jwt_type"`
}

type loginError struct {
	SuggestedUserAuth string `json:"suggested_user_auth,omitempty"`
	Message           string `json:"message"`
}

type loginResult struct {
	UserName    string      `json:"user_name,omitempty"`
	UserAuth    string      `json:"user_auth,omitempty"`
	AuthAllowed []string    `json:"auth_allowed,omitempty"`
	Error       *loginError `json:"error,omitempty"`
	Network     *networkJWT `json:"network,omitempty"`
}

func (s *Server) authLogin(w http.ResponseWriter, r *http.Request) {
	var a loginArgs
	if !s.decode(w, r, &a) || !s.limit(w, r, "login", limitKey(a.UserAuth)) {
		return
	}
	res, err := s.eng.Login(r.Context(), a.UserAuth, a.AuthJWT, a.AuthJWTType)
	if err != nil {
		fail(w, r, err, func(msg string) any {
			return loginResult{Error: &loginError{Message: msg,
				SuggestedUserAuth: res.SuggestedUserAuth}}
		})
		return
	}
	out := loginResult{UserName: res.UserName, UserAuth: res.UserAuth,
		AuthAllowed: res.AuthAllowed}
	if res.JWT != "" {
		out.Network = &networkJWT{ByJWT: res.JWT}
	}
	writeJSON(w, out)
}

type loginWithPasswordArgs struct {
	UserAuth string `json:"user_auth"`
	Password string `json:"password"`
}

type namedJWT struct {
	ByJWT string `json:"by_jwt"`
	Name  string `json:"name,omitempty"`
}

type loginWithPasswordResult struct {
	VerificationRequired *userAuthObj `json:"verification_required,omitempty"`
	Network              *namedJWT    `json:"network,omitempty"`
	Error                *errorBody   `json:"error,omitempty"`
}

func (s *Server) authLoginWithPassword(w http.ResponseWriter, r *http.Request) {
	var a loginWithPasswordArgs
	if !s.decode(w, r, &a) || !s.limit(w, r, "password", limitKey(a.UserAuth)) {
		return
	}
	res, err := s.eng.LoginWithPassword(r.Context(), a.UserAuth, a.Password)
	if err != nil {
		fail(w, r, err, simpleError)
		return
	}
	out := loginWithPasswordResult{}
	if res.VerificationRequired != "" {
		out.VerificationRequired = &userAuthObj{UserAuth: res.VerificationRequired}
	} else {
		out.Network = &namedJWT{ByJWT: res.JWT, Name: res.NetworkName}
	}
	writeJSON(w, out)
}

type verifyArgs struct {
	UserAuth   string `json:"user_auth"`
	VerifyCode string `json:"verify_code"`
}

type verifyResult struct {
	Network *networkJWT `json:"network,omitempty"`
}

func (s *Server) authVerify(w http.ResponseWriter, r *http.Request) {
	var a verifyArgs
	if !s.decode(w, r, &a) || !s.limit(w, r, "verify", limitKey(a.UserAuth)) {
		return
	}
	jwt, err := s.eng.Verify(r.Context(), a.UserAuth, a.VerifyCode)
	if err != nil {
		fail(w, r, err, simpleError)
		return
	}
	writeJSON(w, verifyResult{Network: &networkJWT{ByJWT: jwt}})
}

type userAuthArgs struct {
	UserAuth string `json:"user_auth"`
}

func (s *Server) authVerifySend(w http.ResponseWriter, r *http.Request) {
	var a userAuthArgs
	if !s.decode(w, r, &a) || !s.limit(w, r, "verify-send", limitKey(a.UserAuth)) {
		return
	}
	ua, err := s.eng.VerifySend(r.Context(), a.UserAuth)
	if err != nil {
		fail(w, r, err, simpleError)
		return
	}
	writeJSON(w, userAuthObj{UserAuth: ua})
}

func (s *Server) authPasswordReset(w http.ResponseWriter, r *http.Request) {
	var a userAuthArgs
	if !s.decode(w, r, &a) || !s.limit(w, r, "password-reset", limitKey(a.UserAuth)) {
		return
	}
	ua, err := s.eng.PasswordReset(r.Context(), a.UserAuth)
	if err != nil {
		fail(w, r, err, simpleError)
		return
	}
	writeJSON(w, userAuthObj{UserAuth: ua})
}

type passwordSetArgs struct {
	ResetCode string `json:"reset_code"`
	Password  string `json:"password"`
}

func (s *Server) authPasswordSet(w http.ResponseWriter, r *http.Request) {
	var a passwordSetArgs
	// The reset code stands in for the user authority: guessing codes is what the
	// per-key bucket slows down.
	if !s.decode(w, r, &a) || !s.limit(w, r, "password-set", "") {
		return
	}
	if err := s.eng.PasswordSet(r.Context(), a.ResetCode, a.Password); err != nil {
		fail(w, r, err, simpleError)
		return
	}
	writeJSON(w, struct{}{})
}

type networkCheckArgs struct {
	NetworkName string `json:"network_name"`
}

type networkCheckResult struct {
	Available bool `json:"available"`
}

func (s *Server) authNetworkCheck(w http.ResponseWriter, r *http.Request) {
	var a networkCheckArgs
	if !s.decode(w, r, &a) {
		return
	}
	writeJSON(w, networkCheckResult{Available: s.eng.NetworkCheck(a.NetworkName)})
}

type networkCreateArgs struct {
	UserName    string `json:"user_name"`
	UserAuth    string `json:"user_auth"`
	AuthJWT     string `json:"auth_jwt"`
	AuthJWTType string `json:"auth_jwt_type"`
	Password    string `json:"password"`
	NetworkName string `json:"network_name"`
	Terms       bool   `json:"terms"`
}

type createdNetwork struct {
	ByJWT       string `json:"by_jwt,omitempty"`
	NetworkID   string `json:"network_id"`
	NetworkName string `json:"network_name"`
}

type networkCreateResult struct {
	Network              *createdNetwork `json:"network,omitempty"`
	VerificationRequired *userAuthObj    `json:"verification_required,omitempty"`
	Error                *errorBody      `json:"error,omitempty"`
}

func (s *Server) authNetworkCreate(w http.ResponseWriter, r *http.Request) {
	var a networkCreateArgs
	if !s.decode(w, r, &a) || !s.limit(w, r, "network-create", limitKey(a.UserAuth)) {
		return
	}
	res, err := s.eng.NetworkCreate(r.Context(), engine.NetworkCreateArgs{
		UserName: a.UserName, UserAuth: a.UserAuth, SSOToken: a.AuthJWT,
		SSOType: a.AuthJWTType, Password: a.Password, NetworkName: a.NetworkName,
		Terms: a.Terms})
	if err != nil {
		fail(w, r, err, simpleError)
		return
	}
	out := networkCreateResult{Network: &createdNetwork{ByJWT: res.JWT,
		NetworkID: res.NetworkID.String(), NetworkName: res.NetworkName}}
	if res.VerificationRequired != "" {
		out.VerificationRequired = &userAuthObj{UserAuth: res.VerificationRequired}
	}
	writeJSON(w, out)
}

type codeCreateArgs struct {
	DurationMinutes float64 `json:"duration_minutes"`
	Uses            int     `json:"uses"`
}

type codeCreateError struct {
	AuthCodeLimitExceeded bool   `json:"auth_code_limit_exceeded,omitempty"`
	Message               string `json:"message"`
}

type codeCreateResult struct {
	AuthCode        string           `json:"auth_code,omitempty"`
	DurationMinutes float64          `json:"duration_minutes,omitempty"`
	Uses            int              `json:"uses,omitempty"`
	Error           *codeCreateError `json:"error,omitempty"`
}

func (s *Server) authCodeCreate(w http.ResponseWriter, r *http.Request, c engine.Caller) {
	var a codeCreateArgs
	if !s.decode(w, r, &a) {
		return
	}
	code, err := s.eng.CodeCreate(r.Context(), c, a.DurationMinutes, a.Uses)
	if err != nil {
		fail(w, r, err, func(msg string) any {
			return codeCreateResult{Error: &codeCreateError{Message: msg,
				AuthCodeLimitExceeded: err == engine.ErrAuthCodeLimit}}
		})
		return
	}
	writeJSON(w, codeCreateResult{AuthCode: code.Code, DurationMinutes: code.DurationMinutes,
		Uses: code.Uses})
}

type codeLoginArgs struct {
	AuthCode string `json:"auth_code"`
}

type codeLoginResult struct {
	ByJWT string     `json:"by_jwt,omitempty"`
	Error *errorBody `json:"error,omitempty"`
}

func (s *Server) authCodeLogin(w http.ResponseWriter, r *http.Request) {
	var a codeLoginArgs
	if !s.decode(w, r, &a) || !s.limit(w, r, "code-login", "") {
		return
	}
	jwt, err := s.eng.CodeLogin(r.Context(), a.AuthCode)
	if err != nil {
		fail(w, r, err, simpleError)
		return
	}
	writeJSON(w, codeLoginResult{ByJWT: jwt})
}
