// Package kms resolves ${kms:NAME} configuration references with the
// GetSecretValue API of Alibaba Cloud KMS (Secrets Manager).
package kms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	alikms "github.com/aliyun/alibaba-cloud-sdk-go/services/kms"

	"chpass/shared/secretjson"
)

// DefaultTimeout bounds each GetSecretValue.
const DefaultTimeout = 4 * time.Second

// Prefix starts every reference the Resolver serves.
const Prefix = "kms:"

// ErrNoCredentials reports that the environment holds no Alibaba Cloud
// credentials: ALIBABA_CLOUD_ACCESS_KEY_ID or ALIBABA_CLOUD_ACCESS_KEY_SECRET is unset.
var ErrNoCredentials = errors.New("no Alibaba Cloud credentials: ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET must be set")

// ErrNoRegion reports that neither FC_REGION nor ALIBABA_CLOUD_REGION_ID is set.
var ErrNoRegion = errors.New("no region: FC_REGION or ALIBABA_CLOUD_REGION_ID must be set")

// Options configures a Resolver. The zero value reads the process environment
// and waits DefaultTimeout per fetch.
type Options struct {
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Timeout bounds each fetch; zero means DefaultTimeout.
	Timeout time.Duration
	// Transport sends the requests; nil means the SDK's default.
	Transport http.RoundTripper
}

// Resolver serves ${kms:NAME} and ${kms:NAME#key} references to KMS secrets.
// It reads its credentials (ALIBABA_CLOUD_ACCESS_KEY_ID,
// ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN, as Function
// Compute sets them), region (FC_REGION or ALIBABA_CLOUD_REGION_ID) and
// endpoint (CHPASS_KMS_ENDPOINT, default kms.REGION.aliyuncs.com over HTTPS)
// only when it first resolves a reference, and fetches each secret once per process.
type Resolver struct {
	getenv    func(string) string
	timeout   time.Duration
	transport http.RoundTripper

	mu     sync.Mutex // held across a fetch: each secret is fetched once, and the SDK client is not safe for concurrent use
	client *sdk.Client
	cache  map[string]string // secret name -> SecretData
}

// New returns a Resolver. It needs no credentials until it resolves a reference.
func New(opts Options) *Resolver {
	r := &Resolver{getenv: opts.Getenv, timeout: opts.Timeout, transport: opts.Transport, cache: map[string]string{}}
	if r.getenv == nil {
		r.getenv = os.Getenv
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	return r
}

// FromEnv returns a Resolver that reads the process environment.
func FromEnv() *Resolver { return New(Options{}) }

// Resolve implements config.Resolver. It handles references of the form
// kms:NAME, optionally followed by #KEY to select one string field of a secret
// whose value is a JSON object. Errors name the secret, and the KMS error code
// when there is one, but never a secret's value.
func (r *Resolver) Resolve(ctx context.Context, ref string) (string, bool, error) {
	rest, ok := strings.CutPrefix(ref, Prefix)
	if !ok {
		return "", false, nil
	}
	name, key, hasKey := strings.Cut(rest, "#")
	if name == "" {
		return "", true, errors.New("kms: empty secret name (kms:NAME or kms:NAME#key)")
	}
	if hasKey && key == "" {
		return "", true, fmt.Errorf("kms: secret %s: empty JSON key after #", name)
	}
	s, err := r.secret(ctx, name)
	if err != nil {
		return "", true, err
	}
	if !hasKey {
		return s, true, nil
	}
	v, err := secretjson.Field(s, key)
	if err != nil {
		return "", true, fmt.Errorf("kms: secret %s: %w", name, err)
	}
	return v, true, nil
}

// secret returns the SecretData of name, from the cache or from KMS.
func (r *Resolver) secret(ctx context.Context, name string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.cache[name]; ok {
		return s, nil
	}
	s, err := r.fetch(ctx, name)
	if err != nil {
		return "", err
	}
	r.cache[name] = s
	return s, nil
}

func (r *Resolver) fetch(ctx context.Context, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", &Error{Name: name, Err: err}
	}
	if sdkDebug(r.getenv("DEBUG")) {
		// The SDK then prints each response, secret included, to stdout: the logs.
		return "", &Error{Name: name, Err: errors.New("DEBUG names sdk, which makes the Alibaba Cloud SDK print secrets; unset it")}
	}
	if r.client == nil {
		c, err := r.newClient()
		if err != nil {
			return "", &Error{Name: name, Err: err}
		}
		r.client = c
	}
	req := alikms.CreateGetSecretValueRequest()
	req.SecretName = name
	req.Scheme = requests.HTTPS
	if ep := r.getenv("CHPASS_KMS_ENDPOINT"); ep != "" {
		scheme, host, err := splitEndpoint(ep)
		if err != nil {
			return "", &Error{Name: name, Err: err}
		}
		req.Scheme, req.Domain = scheme, host
	}
	// The SDK takes no context: bound the request by its own timeouts.
	timeout := r.timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	req.SetReadTimeout(timeout)
	req.SetConnectTimeout(timeout)
	resp := alikms.CreateGetSecretValueResponse()
	if err := r.client.DoAction(req, resp); err != nil {
		return "", describe(name, timeout, err)
	}
	if strings.EqualFold(resp.SecretDataType, "binary") {
		return "", &Error{Name: name, Err: errors.New("the secret is binary; store the value as text")}
	}
	return resp.SecretData, nil
}

// sdkDebug reports whether the DEBUG value turns on the SDK's debug output,
// as its utils.Init reads it: a comma-separated list holding "sdk".
func sdkDebug(v string) bool {
	for _, f := range strings.Split(v, ",") {
		if f == "sdk" {
			return true
		}
	}
	return false
}

// newClient builds the SDK client from the environment. It is the SDK's core
// client with KMS's endpoint data, which is what kms.NewClientWithOptions
// builds: that one's *kms.Client has a method for each of the 250-odd KMS calls,
// which the linker keeps once the type reaches reflect, as the constructor
// makes it; that costs 2.5 MB of binary for the one call used here.
func (r *Resolver) newClient() (*sdk.Client, error) {
	id, secret := r.getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), r.getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	if id == "" || secret == "" {
		return nil, ErrNoCredentials
	}
	region := r.getenv("FC_REGION")
	if region == "" {
		region = r.getenv("ALIBABA_CLOUD_REGION_ID")
	}
	if region == "" {
		return nil, ErrNoRegion
	}
	var cred auth.Credential = credentials.NewAccessKeyCredential(id, secret)
	if token := r.getenv("ALIBABA_CLOUD_SECURITY_TOKEN"); token != "" {
		cred = credentials.NewStsTokenCredential(id, secret, token)
	}
	cfg := sdk.NewConfig().WithScheme(requests.HTTPS)
	if r.transport != nil {
		cfg.Transport = r.transport
	}
	c := &sdk.Client{}
	if err := c.InitWithOptions(region, cfg, cred); err != nil {
		return nil, fmt.Errorf("cannot build the KMS client: %w", err)
	}
	c.EndpointMap, c.EndpointType = alikms.GetEndpointMap(), alikms.GetEndpointType()
	return c, nil
}

// splitEndpoint reads CHPASS_KMS_ENDPOINT: host[:port], or http(s)://host[:port].
func splitEndpoint(ep string) (scheme, host string, err error) {
	if !strings.Contains(ep, "://") {
		return requests.HTTPS, ep, nil
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return "", "", fmt.Errorf("CHPASS_KMS_ENDPOINT: want host[:port] or http(s)://host[:port], not %q", ep)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return "", "", fmt.Errorf("CHPASS_KMS_ENDPOINT: plain http is for a loopback test server only, not %q: the query carries the signature and STS token, the answer the secret", u.Host)
	}
	return strings.ToUpper(u.Scheme), u.Host, nil
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// describe turns a GetSecretValue error into an *Error that holds neither the
// response body nor the request URL, whose query carries the signature and the
// STS token.
func describe(name string, timeout time.Duration, err error) error {
	var se *sdkerrors.ServerError
	var ce *sdkerrors.ClientError
	switch {
	case errors.As(err, &se) && se.ErrorCode() == "":
		// Not KMS's JSON error: a proxy's page may echo the request URL, so
		// only the status is told.
		return &Error{Name: name, Status: se.HttpStatus(), Err: fmt.Errorf("HTTP %d without a KMS error body%w", se.HttpStatus(), noText{err})}
	case errors.As(err, &se):
		msg := se.Message()
		// A signature error quotes the string to sign, which holds the STS token.
		if i := strings.Index(msg, sdkerrors.MessageContain); i >= 0 {
			msg = strings.TrimSpace(msg[:i])
			if strings.HasPrefix(se.Recommend(), "InvalidAccessKeySecret") {
				msg += " (the request matches KMS's string to sign: check ALIBABA_CLOUD_ACCESS_KEY_SECRET)"
			}
		}
		if len(msg) > 300 {
			msg = strings.ToValidUTF8(msg[:300], "") + "…"
		}
		return &Error{Name: name, Code: se.ErrorCode(), Status: se.HttpStatus(), RequestID: se.RequestId(), Err: fmt.Errorf("%s%w", msg, noText{err})}
	case errors.As(err, &ce) && ce.ErrorCode() == sdkerrors.JsonUnmarshalErrorCode:
		// The decoder's error quotes the body, which holds the secret.
		return &Error{Name: name, Code: ce.ErrorCode(), Err: fmt.Errorf("cannot decode the response%w", noText{err})}
	case errors.As(err, &ce):
		msg := ce.Message()
		if o := ce.OriginError(); o != nil {
			msg += ": " + safeText(o)
		}
		return &Error{Name: name, Code: ce.ErrorCode(), Err: fmt.Errorf("%s%w", msg, noText{err})}
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return &Error{Name: name, Err: fmt.Errorf("no answer within %v%w", timeout.Round(time.Millisecond), noText{err})}
	}
	return &Error{Name: name, Err: fmt.Errorf("%s%w", safeText(err), noText{err})}
}

// safeText is err's text without a request URL.
func safeText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		host := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Host
		} else {
			host = "the endpoint"
		}
		return fmt.Sprintf("request to %s failed: %v", host, ue.Err)
	}
	return err.Error()
}

// Error is a failed fetch of a secret. Its text names the secret and the KMS
// error code, never the secret's value nor the signed request.
type Error struct {
	Op        string // the action; empty means GetSecretValue
	Name      string // the secret's name
	Code      string // the KMS or SDK error code, such as Forbidden.ResourceNotFound; empty when there is none
	Status    int    // the HTTP status of a KMS error, else 0
	RequestID string // the RequestId of a KMS error, for support
	Err       error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	op := e.Op
	if op == "" {
		op = "GetSecretValue"
	}
	fmt.Fprintf(&b, "kms: %s %s: ", op, e.Name)
	if e.Code != "" {
		b.WriteString(e.Code)
		if e.Status != 0 {
			fmt.Fprintf(&b, " (HTTP %d)", e.Status)
		}
		b.WriteString(": ")
	}
	fmt.Fprint(&b, e.Err)
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (RequestId %s)", e.RequestID)
	}
	return b.String()
}

// Unwrap returns the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// noText wraps an error so that it stays reachable by errors.As but adds nothing
// to the text of the error that wraps it.
type noText struct{ err error }

func (noText) Error() string   { return "" }
func (n noText) Unwrap() error { return n.err }
