// Package ehpcapi serves the E-HPC 2018-04-12 RPC actions ModifyUserPasswords,
// ListUsers, ListTasks and ListClusters as one http.Handler, authenticated with signature v1
// as the Alibaba Cloud Go SDK signs, and authorized per access key.
package ehpcapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"chpass/shared/batch"
	"chpass/shared/gateway"
	"chpass/shared/guard"
	"chpass/shared/password"
)

// Version is the API version this surface speaks.
const Version = "2018-04-12"

// Actions.
const (
	ActionModifyUserPasswords = "ModifyUserPasswords"
	ActionListUsers           = "ListUsers"
	ActionListTasks           = "ListTasks"
	ActionListClusters        = "ListClusters"
)

// Cluster statuses with a meaning here. Only StatusRunning permits the
// directory to be read or changed; StatusException answers ManagerNotFound;
// any other status answers InvalidClusterStatus.
const (
	StatusRunning   = "running"
	StatusException = "exception"
)

// AccessKey is an AK/SK pair and what it may do. Actions and Clusters hold
// names or "*" for all.
type AccessKey struct {
	ID       string
	Secret   string
	Actions  []string
	Clusters []string
}

func (k AccessKey) mayAction(action string) bool {
	return slices.Contains(k.Actions, "*") || slices.Contains(k.Actions, action)
}

func (k AccessKey) may(action, cluster string) bool {
	return k.mayAction(action) && (slices.Contains(k.Clusters, "*") || slices.Contains(k.Clusters, cluster))
}

// UserLister lists a directory's users, for ListUsers.
type UserLister interface {
	// ListUsers returns at most limit users from offset, in a stable order,
	// and how many there are in all. Returns EUNAVAILABLE when the directory
	// cannot be reached.
	ListUsers(ctx context.Context, offset, limit int) ([]password.User, int, error)
}

// Cluster is an E-HPC cluster as this surface knows it.
type Cluster struct {
	// Status is the cluster's status: "running" permits changes; "exception"
	// answers ManagerNotFound; anything else answers InvalidClusterStatus.
	Status string
	// Domain names the cluster's directory in messages (%s of DomainNotExist and
	// GetentPasswdFailure); the cluster id when empty.
	Domain string
	// Service resets passwords in the cluster's directory under its policy; nil
	// means no directory is configured (AgentError.Account.DomainNotExist).
	Service *password.Service
	// Users lists the directory's users; nil means listing is not supported
	// (AgentError.Account.GetentPasswdFailure).
	Users UserLister
	// AccountType is the kind of the cluster's directory as ListClusters reports
	// it ("ldap"); empty leaves it out.
	AccountType string
}

// Options configure a Handler.
type Options struct {
	Clusters   map[string]Cluster
	AccessKeys []AccessKey
	// TrustGateway makes an API gateway's IAM authorizer (gateway.From(ctx)
	// with Authorizer.Kind "iam") prove the caller instead of a signature: its
	// AccessKey must be the ID of one of AccessKeys, whose permissions apply.
	TrustGateway bool
	// Concurrency bounds the resets run at once; default 8.
	Concurrency int
	// Tasks stores Async batches; nil answers Async=true and ListTasks with
	// InvalidOpt.
	Tasks batch.TaskStore
	// TaskKey is the 32-byte AES-GCM key sealing the passwords of waiting
	// tasks; required with Tasks.
	TaskKey []byte
	// Guard keeps used SignatureNonces and bad-signature counts; default a
	// guard.Memory (one process). Give every instance the same shared store.
	Guard Guard
	// TaskOwner names this handler's engine in task claims (batch.Options.Owner);
	// default a random id.
	TaskOwner string
	// TaskLease is how long a claim on a task lasts (batch.Options.Lease).
	TaskLease time.Duration
	// Dispatch hands a queued task to whatever runs it (batch.Options.Dispatch);
	// nil wakes the engine's Worker, which the caller must run.
	Dispatch func(ctx context.Context, id string) error
	// SafetyMargin is kept free before the request's deadline; default 500ms.
	SafetyMargin time.Duration
	Logger       zerolog.Logger
	Now          func() time.Time
	Function     string
	HostID       string // the error body's HostId; default the request's Host
}

// Handler serves the RPC actions. It is safe for concurrent use.
type Handler struct {
	opts    Options
	keys    map[string]AccessKey
	now     func() time.Time
	guard   Guard
	log     zerolog.Logger
	batches *batch.Engine // nil without Tasks
}

// New returns a Handler for opts, or an error naming what is misconfigured.
func New(opts Options) (*Handler, error) {
	h := &Handler{opts: opts, keys: make(map[string]AccessKey, len(opts.AccessKeys)), log: opts.Logger}
	for i, k := range opts.AccessKeys {
		if k.ID == "" {
			return nil, fmt.Errorf("ehpcapi.New: access key %d has no ID", i)
		}
		if _, dup := h.keys[k.ID]; dup {
			return nil, fmt.Errorf("ehpcapi.New: access key %s is configured twice", k.ID)
		}
		h.keys[k.ID] = k
	}
	if h.opts.Concurrency <= 0 {
		h.opts.Concurrency = 8
	}
	if h.opts.SafetyMargin <= 0 {
		h.opts.SafetyMargin = 500 * time.Millisecond
	}
	h.now = opts.Now
	if h.now == nil {
		h.now = time.Now
	}
	h.guard = opts.Guard
	if h.guard == nil {
		h.guard = &guard.Memory{Now: h.now}
	}
	if opts.Tasks != nil {
		if len(opts.TaskKey) != 32 {
			return nil, fmt.Errorf("ehpcapi.New: TaskKey: must be 32 bytes (AES-256), got %d", len(opts.TaskKey))
		}
		e, err := batch.New(batch.Options{
			Store: opts.Tasks, Key: opts.TaskKey, Resolve: h.resolve, Concurrency: h.opts.Concurrency,
			Lease: opts.TaskLease, Owner: opts.TaskOwner, Audit: h.audit, Dispatch: opts.Dispatch,
			Logger: h.log, Now: h.now,
		})
		if err != nil {
			return nil, fmt.Errorf("ehpcapi.New: %w", err)
		}
		h.batches = e
	}
	return h, nil
}

// call is one request as it is served.
type call struct {
	requestID string
	platform  string
	action    string
	keyID     string
	principal string // the IAM principal when an API gateway's authorizer proved the caller
	cluster   string
}

// newID returns a random id shaped like the vendor's request ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	s := strings.ToUpper(hex.EncodeToString(b[:]))
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// ServeHTTP implements http.Handler. It never logs the URL, the query string
// or the form: they carry passwords.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c := &call{requestID: newID(), platform: gateway.Local}
	if info, ok := gateway.From(r.Context()); ok {
		c.platform = info.Platform
		if info.RequestID != "" {
			c.requestID = info.RequestID
		}
	}
	status, code := http.StatusInternalServerError, CodeUnknownError
	defer func() {
		if v := recover(); v != nil {
			// The panic value is not logged: it may hold a password.
			h.log.Error().Str("request_id", c.requestID).Str("panic_type", fmt.Sprintf("%T", v)).Msg("handler panicked")
			status, code = h.writeError(w, r, c, errf(CodeUnknownError, ""))
		}
		h.withFunction(h.log.Info()).
			Str("event", "request").
			Str("request_id", c.requestID).
			Str("platform", c.platform).
			Str("action", c.action).
			Str("access_key_id", c.keyID).
			Str("principal", c.principal).
			Str("cluster", token(c.cluster, "")).
			Str("code", code).
			Int("status", status).
			Float64("latency_ms", float64(time.Since(start).Microseconds())/1000).
			Msg("ehpc request")
	}()
	body, err := h.serve(w, r, c)
	if err != nil {
		status, code = h.writeError(w, r, c, err)
		return
	}
	status, code = http.StatusOK, CodeSuccess
	writeJSON(w, status, c.requestID, body)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, c *call) (any, *apiError) {
	params, err := readParams(r, w)
	if err != nil {
		return nil, err
	}
	action, ok := params["Action"]
	if !ok || action == "" {
		return nil, errf(CodeMissingParameter, "Action")
	}
	switch action {
	case ActionModifyUserPasswords, ActionListUsers, ActionListTasks, ActionListClusters:
		c.action = action
	default:
		return nil, errf(CodeInvalidAction, "")
	}
	if v, ok := params["Version"]; ok && v != Version {
		return nil, errf(CodeInvalidVersion, "")
	}
	key, err := h.authenticate(r, c, params)
	if err != nil {
		return nil, err
	}
	c.keyID = key.ID
	c.cluster = params["ClusterId"]
	switch action {
	case ActionModifyUserPasswords:
		return h.modifyUserPasswords(r.Context(), c, key, params)
	case ActionListUsers:
		return h.listUsers(r.Context(), c, key, params)
	case ActionListClusters:
		return h.listClusters(c, key, params)
	default:
		return h.listTasks(r.Context(), c, key, params)
	}
}

// authenticate proves the caller: by a trusted API gateway's IAM authorizer,
// else by signature v1.
func (h *Handler) authenticate(r *http.Request, c *call, params map[string]string) (AccessKey, *apiError) {
	if h.opts.TrustGateway {
		if info, ok := gateway.From(r.Context()); ok && info.Authorizer != nil && info.Authorizer.Kind == "iam" {
			c.principal = info.Authorizer.Principal
			k, ok := h.keys[info.Authorizer.AccessKey]
			if !ok || info.Authorizer.AccessKey == "" {
				c.keyID = token(info.Authorizer.AccessKey, "(unprintable)")
				return AccessKey{}, errf(CodeInvalidAccessKeyID, "")
			}
			return k, nil
		}
	}
	for _, p := range []string{"AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"} {
		if params[p] == "" {
			return AccessKey{}, errf(CodeMissingParameter, p)
		}
	}
	c.keyID = token(params["AccessKeyId"], "(unprintable)") // logged: an unknown id is worth seeing, but only as a safe token
	if params["Signature"] == "" {
		return AccessKey{}, errf(CodeIncompleteSignature, "")
	}
	if params["SignatureMethod"] != "HMAC-SHA1" {
		return AccessKey{}, errf(CodeInvalidSignatureMethod, "")
	}
	if params["SignatureVersion"] != "1.0" {
		return AccessKey{}, errf(CodeIncompleteSignature, "")
	}
	// The contract allows ISO 8601 in UTC written with Z only: an offset, even
	// +00:00, is refused as the vendor's gateway refuses it.
	ts, perr := time.Parse(time.RFC3339, params["Timestamp"])
	if perr != nil || !strings.HasSuffix(params["Timestamp"], "Z") {
		return AccessKey{}, errf(CodeTimestampFormat, "")
	}
	now := h.now()
	if d := now.Sub(ts); d > TimestampWindow || d < -TimestampWindow {
		return AccessKey{}, errf(CodeTimestampExpired, "")
	}
	k, ok := h.keys[params["AccessKeyId"]]
	if !ok {
		return AccessKey{}, errf(CodeInvalidAccessKeyID, "")
	}
	ctx := r.Context()
	gk := guard.Key{Scope: "ehpc:" + k.ID, Source: sourceOf(r)}
	want := Sign(r.Method, params, k.Secret)
	if !hmac.Equal([]byte(want), []byte(params["Signature"])) {
		v, err := h.guard.Fail(ctx, gk)
		switch {
		case err != nil:
			return AccessKey{}, h.guardError(c, err)
		case v == guard.Locked:
			return AccessKey{}, errLocked()
		case v == guard.JustLocked:
			h.withFunction(h.log.Warn()).Str("event", "access_key_locked").Str("request_id", c.requestID).
				Str("access_key_id", k.ID).Str("source", gk.Source).Dur("for", guard.DefaultLimits.Lock).
				Msg("access key locked after repeated bad signatures")
		}
		return AccessKey{}, errf(CodeSignatureDoesNotMatch, "")
	}
	// The nonce is kept until the Timestamp leaves the window; admitting it
	// clears the key's count (only a request that passed every check does).
	v, err := h.guard.Admit(ctx, gk, "ehpc:"+k.ID+":"+params["SignatureNonce"], ts.Add(TimestampWindow).Sub(now)+time.Second)
	switch {
	case err != nil:
		return AccessKey{}, h.guardError(c, err)
	case v == guard.Locked:
		return AccessKey{}, errLocked()
	case v == guard.Replayed:
		return AccessKey{}, errf(CodeSignatureNonceUsed, "")
	}
	return k, nil
}

// errLocked answers a locked key. The vendor's catalog has no code for it; the
// closest is the gateway's Throttling (a temporary refusal that a client
// retries later), with a Recommend that says why.
func errLocked() *apiError {
	return &apiError{Code: CodeThrottling, Recommend: "The access key is locked for 5 minutes after 5 bad signatures from this address; retry later."}
}

// guardError translates a failure of the shared state: nothing was changed.
func (h *Handler) guardError(c *call, err error) *apiError {
	if errors.Is(err, guard.ErrFull) {
		return errf(CodeThrottling, "")
	}
	h.log.Error().Err(err).Str("request_id", c.requestID).Msg("shared state failed")
	return errf(CodeServiceUnavailable, "")
}

// authorize checks that key may call c.action on cluster.
func authorize(key AccessKey, action, cluster string) *apiError {
	if !key.may(action, cluster) {
		return errf(CodeNotAuthorized, "")
	}
	return nil
}

// cluster returns the named cluster once the caller may use it and its status
// allows reading or changing its directory.
func (h *Handler) cluster(id string) (Cluster, *apiError) {
	cl, ok := h.opts.Clusters[id]
	if !ok {
		return Cluster{}, errf(CodeClusterNotFound, "")
	}
	switch cl.Status {
	case StatusRunning:
	case StatusException:
		return Cluster{}, errf(CodeManagerNotFound, "")
	default:
		return Cluster{}, errf(CodeInvalidClusterStatus, "")
	}
	if cl.Domain == "" {
		cl.Domain = id
	}
	return cl, nil
}

// errorBody is the vendor's error body, plus Results for PartFailure.
type errorBody struct {
	RequestID string       `json:"RequestId"`
	HostID    string       `json:"HostId"`
	Code      string       `json:"Code"`
	Message   string       `json:"Message"`
	Recommend string       `json:"Recommend"`
	Results   []UserResult `json:"Results,omitempty"`
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, c *call, e *apiError) (int, string) {
	host := h.opts.HostID
	if host == "" {
		host = r.Host
	}
	status := e.status()
	writeJSON(w, status, c.requestID, errorBody{
		RequestID: c.requestID,
		HostID:    host,
		Code:      e.Code,
		Message:   e.message(),
		Recommend: e.recommend(),
		Results:   e.Results,
	})
	return status, e.Code
}

func writeJSON(w http.ResponseWriter, status int, requestID string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"RequestId":"` + requestID + `","Code":"UnknownError","Message":"An unknown error occurred.","Recommend":"","HostId":""}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Acs-Request-Id", requestID)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// withFunction adds the function's name, unless none was configured (the
// Logger then carries it already).
func (h *Handler) withFunction(ev *zerolog.Event) *zerolog.Event {
	if h.opts.Function == "" {
		return ev
	}
	return ev.Str("function", h.opts.Function)
}
