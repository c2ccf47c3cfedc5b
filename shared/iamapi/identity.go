package iamapi

import (
	"context"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"chpass/shared/gateway"
)

// authenticate proves who sent r and returns the user and the method used.
//
// A trusted gateway authorizer (Options.Gateway.Trust and an Authorizer in the
// platform's gateway.Info) wins, because the gateway has already checked the
// request's own Authorization header, which may be in a scheme of its own.
// Otherwise exactly one credential must be present: an SDK-HMAC-SHA256
// Authorization header, an Authorization: Bearer token, or an X-Auth-Token.
// No header that merely names a user is ever read.
func (h *Handler) authenticate(r *http.Request, body []byte) (string, string, *apiError) {
	user, method, err := h.identify(r, body)
	if err == nil && !validUser(user) {
		return "", method, authError("the credential names no valid user")
	}
	return user, method, err
}

// validUser refuses user names no directory holds: empty, longer than 256
// bytes, not UTF-8, or with control characters. Directories escape the rest.
func validUser(u string) bool {
	return u != "" && len(u) <= 256 && utf8.ValidString(u) && strings.IndexFunc(u, unicode.IsControl) < 0
}

// identify finds the one credential of r and verifies it.
func (h *Handler) identify(r *http.Request, body []byte) (user, method string, err *apiError) {
	if h.gw.Trust {
		if info, ok := gateway.From(r.Context()); ok && info.Authorizer != nil {
			user, err := h.gatewayUser(info.Authorizer)
			return user, AuthGateway + ":" + info.Authorizer.Kind, err
		}
	}
	authz := r.Header.Get("Authorization")
	xtoken := r.Header.Get("X-Auth-Token")
	if len(r.Header.Values("Authorization")) > 1 || len(r.Header.Values("X-Auth-Token")) > 1 {
		return "", "", authError("more than one credential header")
	}
	scheme, rest, _ := strings.Cut(authz, " ")
	switch {
	case authz != "" && xtoken != "":
		return "", "", authError("both Authorization and X-Auth-Token are present; send one credential")
	case scheme == SignAlgorithm:
		user, err := h.verifySignature(r, body, authz)
		return user, AuthAKSK, err
	case strings.EqualFold(scheme, "Bearer"):
		return h.verifyToken(r.Context(), strings.TrimSpace(rest))
	case xtoken != "":
		return h.verifyToken(r.Context(), strings.TrimSpace(xtoken))
	case authz != "":
		return "", "", authError("unsupported Authorization scheme; use SDK-HMAC-SHA256 or Bearer")
	}
	return "", "", authError("the request carries no credentials (an SDK-HMAC-SHA256 signature, X-Auth-Token, or Authorization: Bearer)")
}

func (h *Handler) verifyToken(ctx context.Context, token string) (string, string, *apiError) {
	if h.tokens == nil {
		return "", AuthToken, authError("tokens are not accepted: no token key is configured")
	}
	tc, err := h.tokens.verify(ctx, token)
	return tc.user, AuthToken, err
}

// gatewayUser names the user an authorizer proved.
func (h *Handler) gatewayUser(a *gateway.Authorizer) (string, *apiError) {
	if a.Kind == "iam" {
		if k, ok := h.keys[a.AccessKey]; ok && a.AccessKey != "" {
			return k.User, nil
		}
		if a.Principal != "" {
			return a.Principal, nil
		}
		return "", authError("the gateway's IAM authorizer named no principal")
	}
	claims := []string{"username", "sub"}
	if h.gw.UserClaim != "" {
		claims = []string{h.gw.UserClaim}
	}
	for _, c := range claims {
		if u := a.Claims[c]; u != "" {
			return u, nil
		}
	}
	return "", authError("the gateway's authorizer named no user")
}
