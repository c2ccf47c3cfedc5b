package iamapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Defaults of the remote key set.
const (
	// DefaultFetchTimeout bounds one discovery or JWKS fetch.
	DefaultFetchTimeout = 4 * time.Second
	// DefaultRefetchInterval is the least time between two fetches of the key set
	// (or two discovery attempts) that a token with an unknown kid may cause.
	DefaultRefetchInterval = time.Minute
	// maxJWKSBytes bounds a key set document.
	maxJWKSBytes = 1 << 20
)

// remoteAlgs are the algorithms a provider's published keys may verify: public
// key algorithms only, so that no published key can ever act as an HMAC secret.
var remoteAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
}

// remoteVerifier verifies tokens of an OpenID Connect provider found by
// discovery (Issuer + "/.well-known/openid-configuration", then its jwks_uri).
//
// go-oidc discovers the provider and verifies each token's signature, algorithm
// and issuer (oidc.NewProvider, oidc.IDTokenVerifier). Its own RemoteKeySet is
// not used: it refetches the key set for every token whose kid it has not cached
// and for every token whose signature fails, with no limit, in a goroutine that
// ignores the request's cancellation. limitedKeys, the oidc.KeySet given to the
// verifier instead, fetches at most once per RefetchInterval. go-oidc's fixed
// leeways are bypassed too (SkipExpiryCheck): exp, nbf and iat are checked with
// the configured Leeway by golang-jwt's validator, with aud and azp.
type remoteVerifier struct {
	issuer   string
	client   *http.Client
	every    time.Duration
	now      func() time.Time
	claims   claimRules
	validate *jwt.Validator

	mu       sync.Mutex // guards everything below; held across one fetch
	verifier *oidc.IDTokenVerifier
	keys     *limitedKeys
	lastTry  time.Time // the last discovery attempt that failed
}

// newRemoteVerifier returns the verifier of cfg.Issuer's published keys.
func newRemoteVerifier(cfg TokenConfig, now func() time.Time, rules claimRules) (*remoteVerifier, error) {
	if err := checkProviderURL(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("iamapi: Tokens.Issuer: %w", err)
	}
	timeout := cfg.FetchTimeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	every := cfg.RefetchInterval
	if every <= 0 {
		every = DefaultRefetchInterval
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	opts := []jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leewayOf(cfg)),
		jwt.WithTimeFunc(now),
		jwt.WithIssuer(cfg.Issuer),
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &remoteVerifier{
		issuer: cfg.Issuer, client: client, every: every, now: now,
		claims: rules, validate: jwt.NewValidator(opts...),
	}, nil
}

// checkProviderURL accepts https URLs, and http only on a loopback host.
func checkProviderURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return errors.New("must be https (plain http only on a loopback host)")
	}
	return errors.New("must be an https URL")
}

// errProviderUnavailable says that the provider's discovery document or key set
// could not be fetched.
var errProviderUnavailable = errors.New("the identity provider cannot be reached")

// verify checks token against the provider's keys and the configured claims.
func (v *remoteVerifier) verify(ctx context.Context, token string) (tokenClaims, *apiError) {
	if len(token) > MaxTokenBytes {
		return tokenClaims{}, authError("the token is too long")
	}
	verifier, err := v.discover(ctx)
	if err != nil {
		return tokenClaims{}, providerError(err)
	}
	out := &keyOutcome{}
	idt, err := verifier.Verify(context.WithValue(ctx, keyOutcomeKey{}, out), token)
	switch {
	case out.unavailable != nil:
		return tokenClaims{}, providerError(out.unavailable)
	case out.unknownKid:
		return tokenClaims{}, authError("no key of the identity provider can verify the token")
	case err != nil:
		return tokenClaims{}, authError(remoteReason(err))
	}
	claims := jwt.MapClaims{}
	if err := idt.Claims(&claims); err != nil {
		return tokenClaims{}, authError("the token is malformed")
	}
	if err := v.validate.Validate(claims); err != nil {
		return tokenClaims{}, authError(tokenReason(err))
	}
	return v.claims.check(claims)
}

func providerError(err error) *apiError {
	e := newError(CodeProviderUnavailable, "")
	e.cause = err
	return e
}

// remoteReason names why go-oidc refused a token, without quoting it.
func remoteReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "malformed"):
		return "the token is malformed"
	case strings.Contains(msg, "different provider"):
		return "the token issuer is not accepted"
	case strings.Contains(msg, "signature"):
		return "the token signature is invalid"
	}
	return "the token is invalid"
}

// discover returns the verifier, discovering the provider on first use. A failed
// discovery is retried at most once per refetch interval; until then it answers
// errProviderUnavailable at once.
func (v *remoteVerifier) discover(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.verifier != nil {
		return v.verifier, nil
	}
	now := v.now()
	if !v.lastTry.IsZero() && now.Sub(v.lastTry) < v.every {
		return nil, fmt.Errorf("%w: discovery failed %s ago", errProviderUnavailable, now.Sub(v.lastTry).Round(time.Second))
	}
	v.lastTry = now
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, v.client), v.issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery: %v", errProviderUnavailable, err)
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURI == "" {
		return nil, fmt.Errorf("%w: the discovery document names no jwks_uri", errProviderUnavailable)
	}
	if err := checkProviderURL(meta.JWKSURI); err != nil {
		return nil, fmt.Errorf("%w: jwks_uri: %v", errProviderUnavailable, err)
	}
	v.keys = &limitedKeys{url: meta.JWKSURI, client: v.client, every: v.every, now: v.now}
	v.verifier = oidc.NewVerifier(v.issuer, v.keys, &oidc.Config{
		SkipClientIDCheck:    true, // aud and azp: claimRules and the validator
		SkipExpiryCheck:      true, // exp, nbf, iat: the validator, with the configured leeway
		SupportedSigningAlgs: remoteAlgs,
	})
	return v.verifier, nil
}

// Fetches returns how many times the key set was fetched (for tests and logs).
func (v *remoteVerifier) fetches() int64 {
	v.mu.Lock()
	k := v.keys
	v.mu.Unlock()
	if k == nil {
		return 0
	}
	return k.fetches.Load()
}

// keyOutcome carries, through go-oidc's Verify (which flattens the key set's
// error into text), why limitedKeys refused.
type keyOutcome struct {
	unavailable error
	unknownKid  bool
}

type keyOutcomeKey struct{}

// limitedKeys is an oidc.KeySet over a provider's jwks_uri that fetches the set
// on first use and again only for a kid it does not hold, at most once per
// interval. A token whose kid it holds but whose signature fails is refused with
// no fetch.
type limitedKeys struct {
	url     string
	client  *http.Client
	every   time.Duration
	now     func() time.Time
	fetches atomic.Int64

	mu      sync.RWMutex
	byKid   map[string][]jose.JSONWebKey
	all     []jose.JSONWebKey
	fetched time.Time // the last fetch attempt, successful or not
	fetchMu sync.Mutex
}

var _ oidc.KeySet = (*limitedKeys)(nil)

// VerifySignature implements oidc.KeySet.
func (k *limitedKeys) VerifySignature(ctx context.Context, token string) ([]byte, error) {
	out, _ := ctx.Value(keyOutcomeKey{}).(*keyOutcome)
	if out == nil {
		out = &keyOutcome{}
	}
	jws, err := jose.ParseSigned(token, joseAlgs())
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %v", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	if keys, ok := k.lookup(kid); ok {
		return verifyWith(jws, keys)
	}
	// An unknown kid: refetch unless the set was fetched within the interval.
	k.fetchMu.Lock()
	if keys, ok := k.lookup(kid); ok { // another request fetched it meanwhile
		k.fetchMu.Unlock()
		return verifyWith(jws, keys)
	}
	k.mu.RLock()
	last := k.fetched
	k.mu.RUnlock()
	if !last.IsZero() && k.now().Sub(last) < k.every {
		k.fetchMu.Unlock()
		out.unknownKid = true
		return nil, errors.New("unknown kid; the key set was fetched recently")
	}
	err = k.fetch(ctx)
	k.fetchMu.Unlock()
	if err != nil {
		out.unavailable = err
		return nil, err
	}
	keys, ok := k.lookup(kid)
	if !ok {
		out.unknownKid = true
		return nil, errors.New("unknown kid")
	}
	return verifyWith(jws, keys)
}

// lookup returns the keys that may have signed a token naming kid: those with
// that kid, or every key when the token names none.
func (k *limitedKeys) lookup(kid string) ([]jose.JSONWebKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.all == nil {
		return nil, false
	}
	if kid == "" {
		return k.all, len(k.all) > 0
	}
	keys, ok := k.byKid[kid]
	return keys, ok
}

func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey) ([]byte, error) {
	for i := range keys {
		if p, err := jws.Verify(&keys[i]); err == nil {
			return p, nil
		}
	}
	return nil, errors.New("invalid signature")
}

// fetch reads the key set once and replaces the cached one. A failed fetch keeps
// the old keys.
func (k *limitedKeys) fetch(ctx context.Context) error {
	k.fetches.Add(1)
	k.mu.Lock()
	k.fetched = k.now()
	k.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errProviderUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: jwks_uri: %v", errProviderUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	switch {
	case err != nil:
		return fmt.Errorf("%w: jwks_uri: %v", errProviderUnavailable, err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%w: jwks_uri answered %s", errProviderUnavailable, resp.Status)
	case len(body) > maxJWKSBytes:
		return fmt.Errorf("%w: jwks_uri: the key set is larger than %d bytes", errProviderUnavailable, maxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return fmt.Errorf("%w: jwks_uri: not a key set: %v", errProviderUnavailable, err)
	}
	all := make([]jose.JSONWebKey, 0, len(set.Keys))
	byKid := map[string][]jose.JSONWebKey{}
	for _, key := range set.Keys {
		if key.Use == "enc" || !key.Valid() || !key.IsPublic() {
			continue
		}
		all = append(all, key)
		byKid[key.KeyID] = append(byKid[key.KeyID], key)
	}
	k.mu.Lock()
	k.all, k.byKid = all, byKid
	k.mu.Unlock()
	return nil
}

func joseAlgs() []jose.SignatureAlgorithm {
	a := make([]jose.SignatureAlgorithm, len(remoteAlgs))
	for i, s := range remoteAlgs {
		a[i] = jose.SignatureAlgorithm(s)
	}
	return a
}
