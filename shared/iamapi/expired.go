package iamapi

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"chpass/shared/password"
)

// OldPasswordPath is the route of a change proven by the old password alone,
// with no sign-in: for a person whose password has expired (an AD-backed
// provider will not sign them in) or who has no token.
const OldPasswordPath = "/v5/caller-password/old-password"

// AuthOldPassword is how such a caller was proven, as logged in "auth".
const AuthOldPassword = "old_password"

// OldPasswordConfig turns on OldPasswordPath. The old password is then the only
// proof, so it is allowed only in front of a directory that locks an account
// out after wrong old passwords itself (OpenLDAP ppolicy pwdLockout, AD's
// lockout threshold, the embedded store's max_failures): DirectoryLocksOut
// says so, and New refuses Enabled without it. Per-user and per-source limits
// apply before the directory is asked, to every attempt alike.
type OldPasswordConfig struct {
	Enabled           bool
	DirectoryLocksOut bool
	PerUserPerHour    int // default 5
	PerSourcePerHour  int // default 20
}

// serveOldPassword serves OldPasswordPath; it reports whether r was for it.
func (h *Handler) serveOldPassword(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	if strings.TrimSuffix(r.URL.Path, "/") != OldPasswordPath || !h.oldPW.Enabled {
		return false
	}
	x.route, x.auth = OldPasswordPath, AuthOldPassword
	var err *apiError
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		err = newError(CodeMethodNotAllowed, "The method is not allowed on this API; use POST.")
	} else {
		err = h.oldPasswordChange(r, x)
	}
	if err != nil {
		h.writeError(w, x, err)
		return true
	}
	x.code, x.status = "OK", http.StatusOK
	w.WriteHeader(http.StatusOK)
	return true
}

func (h *Handler) oldPasswordChange(r *http.Request, x *exchange) *apiError {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if err := checkContentType(r); err != nil {
		return err
	}
	var req struct {
		UserName    *string `json:"user_name"`
		OldPassword *string `json:"old_password"`
		NewPassword *string `json:"new_password"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return newError(CodeMalformedBody, "The request body must be one JSON object with user_name, old_password and new_password.")
	}
	for name, v := range map[string]*string{"user_name": req.UserName, "old_password": req.OldPassword, "new_password": req.NewPassword} {
		switch {
		case v == nil || *v == "":
			return newError(CodeMissingParameter, name+" is required.")
		case len(*v) > 1024 || !utf8.ValidString(*v) || strings.IndexFunc(*v, unicode.IsControl) >= 0:
			return newError(CodeInvalidParameter, name+" is invalid: at most 1024 characters of valid UTF-8 without control characters.")
		}
	}
	user := *req.UserName
	if !validUser(user) {
		return newError(CodeInvalidParameter, "user_name is invalid.")
	}
	x.caller = user
	now := h.now()
	src := r.RemoteAddr
	if host, _, err := net.SplitHostPort(src); err == nil {
		src = host
	}
	// Every attempt counts, known user or not, so the limits say nothing about
	// which accounts exist.
	if !h.oldSrcLimit.allow(src, now) || !h.oldUserLimit.allow(strings.ToLower(user), now) {
		return newError(CodeThrottled, "Too many attempts; try again later.")
	}
	ctx := password.WithOrigin(r.Context(), password.Origin{RequestID: x.requestID, Caller: user, Auth: AuthOldPassword, Platform: x.platform})
	did, cerr := h.svc.ChangeOutcome(ctx, user, *req.OldPassword, *req.NewPassword)
	out := fromDomain(cerr) // an unknown user and a wrong old password both answer IAM.1103
	if did.Asked {
		outcome := "OK"
		if out != nil {
			outcome = out.code
		}
		h.withFunction(h.log.Info()).Str("event", "password_change").Str("request_id", x.requestID).
			Str("platform", x.platform).Str("user", user).Str("auth", AuthOldPassword).Str("source", src).
			Str("outcome", outcome).Msg("password change")
	}
	return out
}
