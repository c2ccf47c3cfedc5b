// Package iamapi serves the IAM v5 self-service password API, POST
// /v5/caller-password and GET /v5/password-policy, as one http.Handler.
//
// A caller proves who they are in one of three ways, never by naming
// themselves in a header: an SDK-HMAC-SHA256 signature by a configured access
// key (as the Huawei Cloud SDKs sign), a verified JWT bearer token (X-Auth-Token
// or Authorization: Bearer), or, when Options.Gateway.Trust is set, the API
// gateway authorizer context that the platform adapter took from the cloud's
// event (gateway.From). GET /v5/password-policy is public: a portal shows the
// rules before the user has typed anything to sign with, and the policy is no
// secret.
//
// Errors answer {"error_code", "error_msg", "request_id"} with the codes of
// catalog.go (CATALOG.md); policy refusals add "violations", every broken rule
// at once; 403 adds "encoded_authorization_message". Success of a change is 200
// with an empty body.
//
// Each request writes one log line (request_id, function, platform, route,
// caller, auth, outcome, status, latency_ms) and each change attempt that
// reached the directory one audit line (event password_change). No password,
// token, signature, Authorization header or body is ever logged or echoed.
package iamapi

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"chpass/shared/gateway"
	"chpass/shared/guard"
	"chpass/shared/password"
)

// Routes.
const (
	ChangePath = "/v5/caller-password"
	PolicyPath = "/v5/password-policy"
)

// Authentication methods, as logged in "auth".
const (
	AuthAKSK    = "aksk"
	AuthToken   = "token"
	AuthGateway = "gateway"
)

// AccessKey is a permanent access key; a self-service key belongs to User, and a
// request it signs changes User's password.
type AccessKey struct {
	ID, Secret, User string
}

// TokenConfig says which bearer tokens are accepted: those signed by the offline
// keys (HS256Secret, PublicKeyPEMs, JWKS) when any is set, else, when only Issuer
// is set, those signed by the keys the issuer publishes, found by OpenID Connect
// discovery (Issuer + "/.well-known/openid-configuration", then its jwks_uri).
type TokenConfig struct {
	Issuer          string        // required iss when set; alone, the provider to discover
	Audience        string        // required aud when set
	AuthorizedParty string        // required azp (or client_id) when set
	UserClaim       string        // the claim naming the user; default "sub"
	HS256Secret     string        // HMAC key, at least 32 bytes (may be empty)
	PublicKeyPEMs   []string      // RSA/EC public keys, PEM text
	JWKS            []byte        // a JWKS document (RSA and EC keys, selected by kid)
	Leeway          time.Duration // clock skew allowed; default 30s
	// FetchTimeout bounds one discovery or key set fetch; default DefaultFetchTimeout.
	FetchTimeout time.Duration
	// RefetchInterval is the least time between two key set fetches caused by
	// tokens naming a kid not held; default DefaultRefetchInterval.
	RefetchInterval time.Duration
	// HTTPClient fetches the provider's documents; default a client with FetchTimeout.
	HTTPClient *http.Client
}

// GatewayConfig says whether to trust the platform's authorizer context
// (gateway.From(ctx).Authorizer). UserClaim names the claim holding the user;
// by default "username", then "sub". For Kind "iam" the user is the User of the
// configured AccessKey whose ID is the authorizer's AccessKey, else the Principal
// exactly as the gateway gives it.
type GatewayConfig struct {
	Trust     bool
	UserClaim string
}

// Options configures New.
type Options struct {
	Service     *password.Service
	AccessKeys  []AccessKey
	Tokens      TokenConfig
	Gateway     GatewayConfig
	CORS        CORSConfig
	Page        PageConfig
	IdPReset    IdPResetConfig
	OldPassword OldPasswordConfig
	Logger      zerolog.Logger
	// Guard keeps used signatures and bad-signature counts; default a
	// guard.Memory (one process). Give every instance the same shared store.
	Guard    Guard
	Now      func() time.Time // for tests; default time.Now
	Function string           // e.g. "caller-password", logged as "function" unless "" (when Logger already carries it)
}

// Handler is the IAM v5 HTTP surface. It is safe for concurrent use.
type Handler struct {
	svc          *password.Service
	policy       password.Policy
	keys         map[string]AccessKey
	tokens       tokenChecker
	gw           GatewayConfig
	log          zerolog.Logger
	now          func() time.Time
	function     string
	guard        Guard
	cors         *cors
	page         *page
	idp          IdPResetConfig
	idpLimit     *hourly
	oldPW        OldPasswordConfig
	oldUserLimit *hourly
	oldSrcLimit  *hourly
}

// New validates opts and returns the handler.
func New(opts Options) (*Handler, error) {
	if opts.Service == nil {
		return nil, errors.New("iamapi: Options.Service is required")
	}
	if opts.Service.Directory() == nil {
		return nil, errors.New("iamapi: Options.Service has no directory")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	keys := make(map[string]AccessKey, len(opts.AccessKeys))
	for i, k := range opts.AccessKeys {
		switch {
		case k.ID == "":
			return nil, fmt.Errorf("iamapi: AccessKeys[%d]: ID is required", i)
		case k.Secret == "":
			return nil, fmt.Errorf("iamapi: AccessKeys[%d] (%s): Secret is required", i, k.ID)
		case k.User == "":
			return nil, fmt.Errorf("iamapi: AccessKeys[%d] (%s): User is required", i, k.ID)
		}
		if _, dup := keys[k.ID]; dup {
			return nil, fmt.Errorf("iamapi: AccessKeys[%d]: ID %s repeats", i, k.ID)
		}
		keys[k.ID] = k
	}
	tv, err := newTokenChecker(opts.Tokens, now)
	if err != nil {
		return nil, err
	}
	cors, err := newCORS(opts.CORS)
	if err != nil {
		return nil, err
	}
	if opts.OldPassword.Enabled && !opts.OldPassword.DirectoryLocksOut {
		return nil, errors.New("iamapi: OldPassword: allowed only in front of a directory that locks out wrong old passwords itself")
	}
	pg, err := newPage(opts.Page, newClaimRules(opts.Tokens).userClaim, opts.OldPassword.Enabled, opts.IdPReset.MaxAge > 0)
	if err != nil {
		return nil, err
	}
	p := opts.Service.Policy()
	g := opts.Guard
	if g == nil {
		g = &guard.Memory{Now: now}
	}
	return &Handler{
		page:         pg,
		idp:          opts.IdPReset,
		idpLimit:     &hourly{limit: cmp.Or(opts.IdPReset.PerUserPerHour, 3)},
		oldPW:        opts.OldPassword,
		oldUserLimit: &hourly{limit: cmp.Or(opts.OldPassword.PerUserPerHour, 5)},
		oldSrcLimit:  &hourly{limit: cmp.Or(opts.OldPassword.PerSourcePerHour, 20)},
		cors:         cors,
		svc:          opts.Service,
		policy:       p,
		keys:         keys,
		tokens:       tv,
		gw:           opts.Gateway,
		log:          opts.Logger,
		now:          now,
		function:     opts.Function,
		guard:        g,
	}, nil
}

// exchange is what one request's log line reports.
type exchange struct {
	requestID string
	platform  string
	route     string
	caller    string
	auth      string
	code      string
	status    int
	cause     error
}

// ServeHTTP routes r: POST /v5/caller-password and GET /v5/password-policy,
// each also with a trailing slash.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	x := &exchange{platform: "unknown"}
	if info, ok := gateway.From(r.Context()); ok {
		x.requestID, x.platform = info.RequestID, info.Platform
	}
	if x.requestID == "" {
		x.requestID = newRequestID()
	}
	w.Header().Set("X-Request-Id", x.requestID)
	w.Header().Set("Cache-Control", "no-store")

	defer func() {
		// A panic below answers 500 and is logged by type only: its value could
		// hold anything, a password included.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if x.status == 0 {
				h.writeError(w, x, &apiError{code: CodeInternal, msg: catalog[CodeInternal].Message, cause: fmt.Errorf("panic of type %T", v)})
			}
			h.logRequest(x, start)
		}
	}()
	var err *apiError
	if h.preflight(w, r, x) || h.servePage(w, r, x) || h.serveReset(w, r, x) || h.serveOldPassword(w, r, x) {
		h.logRequest(x, start)
		return
	}
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case ChangePath:
		x.route = ChangePath
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			err = newError(CodeMethodNotAllowed, "The method is not allowed on this API; use POST.")
			break
		}
		err = h.change(r, x)
		if err == nil {
			x.code, x.status = "OK", http.StatusOK
			w.WriteHeader(http.StatusOK)
		}
	case PolicyPath:
		x.route = PolicyPath
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			err = newError(CodeMethodNotAllowed, "The method is not allowed on this API; use GET.")
			break
		}
		x.code, x.status = "OK", http.StatusOK
		writeJSON(w, http.StatusOK, struct {
			PasswordPolicy password.Policy `json:"password_policy"`
		}{h.policy})
	default:
		x.route = "other"
		err = newError(CodeNotFound, "")
	}
	if err != nil {
		h.writeError(w, x, err)
	}
	h.logRequest(x, start)
}

// change serves POST /v5/caller-password, checking in this order: body size
// (the signature covers the body, so it is read first, at most 64 KiB), identity,
// content type, body, then the password service.
func (h *Handler) change(r *http.Request, x *exchange) *apiError {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	user, method, err := h.authenticate(r, body)
	x.auth = method
	if err != nil {
		return err
	}
	x.caller = user
	if err := checkContentType(r); err != nil {
		return err
	}
	req, err := decodeChange(requestValidator(), body)
	if err != nil {
		return err
	}
	ctx := password.WithOrigin(r.Context(), password.Origin{RequestID: x.requestID, Caller: user, Auth: method, Platform: x.platform})
	// The audit line is written exactly for the attempts that reached the directory.
	did, cerr := h.svc.ChangeOutcome(ctx, user, req.OldPassword, req.NewPassword)
	out := fromDomain(cerr)
	if did.Asked {
		outcome := "OK"
		if out != nil {
			outcome = out.code
		}
		h.withFunction(h.log.Info()).Str("event", "password_change").Str("request_id", x.requestID).
			Str("platform", x.platform).Str("user", user).Str("auth", method).
			Str("outcome", outcome).Msg("password change")
	}
	return out
}

// errorBody is the JSON of every error response.
type errorBody struct {
	ErrorCode                   string               `json:"error_code"`
	ErrorMsg                    string               `json:"error_msg"`
	RequestID                   string               `json:"request_id"`
	EncodedAuthorizationMessage *string              `json:"encoded_authorization_message,omitempty"`
	Violations                  []password.Violation `json:"violations,omitempty"`
}

func (h *Handler) writeError(w http.ResponseWriter, x *exchange, e *apiError) {
	x.code, x.status, x.cause = e.code, e.status(), e.cause
	b := errorBody{ErrorCode: e.code, ErrorMsg: e.msg, RequestID: x.requestID, Violations: e.violations}
	if x.status == http.StatusForbidden {
		empty := ""
		b.EncodedAuthorizationMessage = &empty
	}
	writeJSON(w, x.status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error_code":"IAM.0500","error_msg":"Internal error."}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (h *Handler) logRequest(x *exchange, start time.Time) {
	ev := h.log.Info()
	if x.status >= 500 {
		ev = h.log.Error()
		if x.cause != nil {
			// Domain errors and their causes never hold a password (password.Directory).
			ev = ev.Str("error", x.cause.Error())
		}
	}
	h.withFunction(ev).Str("request_id", x.requestID).
		Str("platform", x.platform).
		Str("route", x.route).
		Str("caller", x.caller).
		Str("auth", x.auth).
		Str("outcome", x.code).
		Int("status", x.status).
		Float64("latency_ms", float64(h.now().Sub(start).Microseconds())/1000).
		Msg("request")
}

// withFunction adds the function's name, unless none was configured.
func (h *Handler) withFunction(ev *zerolog.Event) *zerolog.Event {
	if h.function == "" {
		return ev
	}
	return ev.Str("function", h.function)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
