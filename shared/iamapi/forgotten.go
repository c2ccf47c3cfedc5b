package iamapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"chpass/shared/password"
)

// ResetPath is the route of a forgotten-password reset proven by the identity
// provider: POST {"new_password"} with the provider's token, no old password.
const ResetPath = "/v5/caller-password/reset"

// IdPResetConfig lets a person who has just signed in at the identity provider
// with a strong method set a new password without the old one; chpass performs
// it as an administrator's reset of that one account. Off while MaxAge is 0.
type IdPResetConfig struct {
	// MaxAge is how long ago the token's auth_time may be.
	MaxAge time.Duration
	// AMR lists the authentication methods (RFC 8176: "mfa", "otp", "hwk", "swk",
	// "fido", …) of which the token's amr must hold one; ACR lists acr values
	// that suffice instead. Both empty: auth_time alone decides.
	AMR, ACR []string
	// PerUserPerHour bounds the resets of one account; default 3.
	PerUserPerHour int
}

// CodeReauthRequired: the token does not show a recent, strong sign-in.
const CodeReauthRequired = "IAM.0012"

func init() {
	catalog[CodeReauthRequired] = Entry{http.StatusForbidden,
		"A recent sign-in at the identity provider with multi-factor authentication is required to reset a forgotten password."}
}

// hourly counts events per key in fixed one-hour windows.
type hourly struct {
	mu    sync.Mutex
	limit int
	seen  map[string][]time.Time
}

func (l *hourly) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string][]time.Time{}
	}
	ts := slices.DeleteFunc(l.seen[key], func(t time.Time) bool { return now.Sub(t) > time.Hour })
	if len(ts) >= l.limit {
		l.seen[key] = ts
		return false
	}
	l.seen[key] = append(ts, now)
	return true
}

// serveReset serves ResetPath; it reports whether r was for it.
func (h *Handler) serveReset(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	if strings.TrimSuffix(r.URL.Path, "/") != ResetPath || h.idp.MaxAge <= 0 {
		return false
	}
	x.route = ResetPath
	var err *apiError
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		err = newError(CodeMethodNotAllowed, "The method is not allowed on this API; use POST.")
	} else {
		err = h.idpReset(r, x)
	}
	if err != nil {
		h.writeError(w, x, err)
		return true
	}
	x.code, x.status = "OK", http.StatusOK
	w.WriteHeader(http.StatusOK)
	return true
}

func (h *Handler) idpReset(r *http.Request, x *exchange) *apiError {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	x.auth = AuthToken
	tok := r.Header.Get("X-Auth-Token")
	if s, rest, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(s, "Bearer") {
		tok = rest
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || h.tokens == nil {
		return authError("a reset needs a bearer token from the identity provider")
	}
	tc, err := h.tokens.verify(r.Context(), tok)
	if err != nil {
		return err
	}
	if !validUser(tc.user) {
		return authError("the credential names no valid user")
	}
	x.caller = tc.user
	now := h.now()
	if tc.authTime.IsZero() || now.Sub(tc.authTime) > h.idp.MaxAge || tc.authTime.After(now.Add(time.Minute)) {
		return newError(CodeReauthRequired, "")
	}
	strong := len(h.idp.AMR) == 0 && len(h.idp.ACR) == 0
	for _, m := range tc.amr {
		strong = strong || slices.Contains(h.idp.AMR, m)
	}
	strong = strong || (tc.acr != "" && slices.Contains(h.idp.ACR, tc.acr))
	if !strong {
		return newError(CodeReauthRequired, "")
	}
	if err := checkContentType(r); err != nil {
		return err
	}
	newPW, err := decodeReset(body)
	if err != nil {
		return err
	}
	if !h.idpLimit.allow(tc.user, now) {
		return newError(CodeThrottled, "Too many password resets for this account; try again in an hour.")
	}
	ctx := password.WithOrigin(r.Context(), password.Origin{RequestID: x.requestID, Caller: tc.user, Auth: AuthToken,
		Platform: x.platform, Kind: password.KindIdPReset})
	rerr := h.svc.Reset(ctx, tc.user, newPW)
	out := fromDomain(rerr)
	if password.ErrorCode(rerr) == password.ENOTFOUND || password.ErrorCode(rerr) == password.EINVALID {
		out = newError(CodeChangeForbidden, "This account cannot be reset here.")
		out.cause = rerr
	}
	outcome := "OK"
	if out != nil {
		outcome = out.code
	}
	h.withFunction(h.log.Info()).Str("event", "password_reset_idp").Str("request_id", x.requestID).
		Str("platform", x.platform).Str("user", tc.user).Str("auth", AuthToken).Str("outcome", outcome).Msg("password reset proven by the identity provider")
	return out
}

// decodeReset reads {"new_password": "..."} and nothing else.
func decodeReset(body []byte) (string, *apiError) {
	var req struct {
		NewPassword *string `json:"new_password"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return "", newError(CodeMalformedBody, "The request body must be one JSON object with new_password.")
	}
	switch {
	case req.NewPassword == nil || *req.NewPassword == "":
		return "", newError(CodeMissingParameter, "new_password is required.")
	case len(*req.NewPassword) > 1024 || !utf8.ValidString(*req.NewPassword) || strings.IndexFunc(*req.NewPassword, unicode.IsControl) >= 0:
		return "", newError(CodeInvalidParameter, "new_password is invalid: at most 1024 characters of valid UTF-8 without control characters.")
	}
	return *req.NewPassword, nil
}
