// Package oidctest runs a real OpenID Connect provider in-process for tests:
// github.com/oauth2-proxy/mockoidc (discovery, jwks_uri, the authorization code
// flow with PKCE, signed ID and access tokens), with the claims portals rely on
// (preferred_username, auth_time, amr, acr), key rotation, and a count of the
// key set fetches.
package oidctest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// User is the person the next sign-in names.
type User struct {
	Subject           string
	PreferredUsername string
	AuthTime          time.Time // zero: not in the token
	AMR               []string
	ACR               string
}

// Provider is a running OpenID Connect provider on a loopback port.
type Provider struct {
	m         *mockoidc.MockOIDC
	addr      string
	mu        sync.Mutex
	jwksHits  atomic.Int64
	tokenHits atomic.Int64
	stopped   bool
}

// Start runs a provider until the test ends.
func Start(tb testing.TB) *Provider {
	tb.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		tb.Fatalf("oidctest: %v", err)
	}
	p := &Provider{m: m}
	if err := m.AddMiddleware(p.middleware); err != nil {
		tb.Fatalf("oidctest: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("oidctest: %v", err)
	}
	p.addr = ln.Addr().String()
	if err := m.Start(ln, nil); err != nil {
		tb.Fatalf("oidctest: %v", err)
	}
	tb.Cleanup(func() { p.Stop() })
	return p
}

// middleware counts key set fetches, lets a browser page on another origin call
// the token endpoint (CORS, no credentials), and makes the token endpoint accept
// a public client: mockoidc requires a client_secret, which a page must not hold,
// so a code exchange that carries a PKCE code_verifier and no secret is given the
// secret here. mockoidc still checks the verifier against the code's challenge.
func (p *Provider) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case mockoidc.JWKSEndpoint:
			p.jwksHits.Add(1)
		case mockoidc.TokenEndpoint:
			p.tokenHits.Add(1)
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.URL.Path == mockoidc.TokenEndpoint && r.Method == http.MethodPost {
			if err := r.ParseForm(); err == nil && r.PostForm.Get("client_secret") == "" && r.PostForm.Get("code_verifier") != "" {
				r.PostForm.Set("client_secret", p.m.ClientSecret)
				r.Form = nil
				enc := r.PostForm.Encode()
				r.Body = io.NopCloser(strings.NewReader(enc))
				r.ContentLength = int64(len(enc))
				r.PostForm = nil
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Issuer is the provider's issuer URL, as tokens.issuer is set.
func (p *Provider) Issuer() string { return "http://" + p.addr + mockoidc.IssuerBase }

// ClientID is the one client the provider knows; ID tokens name it in aud.
func (p *Provider) ClientID() string { return p.m.ClientID }

// JWKSFetches returns how many times the key set was fetched.
func (p *Provider) JWKSFetches() int64 { return p.jwksHits.Load() }

// TokenRequests returns how many requests reached the token endpoint.
func (p *Provider) TokenRequests() int64 { return p.tokenHits.Load() }

// QueueUser makes u the person the next authorization request signs in.
func (p *Provider) QueueUser(u User) { p.m.QueueUser(&mockUser{u}) }

// IDToken signs u in through the authorization code flow with PKCE, as a page
// would, and returns the ID token the provider issues.
func (p *Provider) IDToken(tb testing.TB, u User) string {
	tb.Helper()
	p.QueueUser(u)
	verifier := randomString(tb)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {p.m.ClientID}, "response_type": {"code"}, "scope": {"openid profile"},
		"redirect_uri": {"http://127.0.0.1/callback"}, "state": {randomString(tb)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("http://" + p.addr + mockoidc.AuthorizationEndpoint + "?" + q.Encode())
	if err != nil {
		tb.Fatalf("oidctest: authorize: %v", err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		tb.Fatalf("oidctest: authorize answered %s with no code", resp.Status)
	}
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {p.m.ClientID},
		"redirect_uri": {"http://127.0.0.1/callback"}, "code_verifier": {verifier},
	}
	resp, err = c.PostForm("http://"+p.addr+mockoidc.TokenEndpoint, form)
	if err != nil {
		tb.Fatalf("oidctest: token: %v", err)
	}
	defer resp.Body.Close()
	var tr struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.IDToken == "" {
		tb.Fatalf("oidctest: token endpoint answered %s with no id_token", resp.Status)
	}
	return tr.IDToken
}

// Rotate replaces the provider's signing key while it keeps running on the same
// address: the key set then publishes only the new key.
func (p *Provider) Rotate(tb testing.TB) {
	tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.m.Shutdown(); err != nil {
		tb.Fatalf("oidctest: rotate: %v", err)
	}
	kp, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		tb.Fatalf("oidctest: rotate: %v", err)
	}
	p.m.Server, p.m.Keypair = nil, kp
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		tb.Fatalf("oidctest: rotate: %v", err)
	}
	if err := p.m.Start(ln, nil); err != nil {
		tb.Fatalf("oidctest: rotate: %v", err)
	}
}

// Stop shuts the provider down: it can no longer be reached.
func (p *Provider) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.stopped = true
		_ = p.m.Shutdown()
	}
}

// SignedBy returns a token with claims signed by the provider's current key
// (with its kid), without a sign-in: for tokens no sign-in would give, such as
// an expired one.
func (p *Provider) SignedBy(tb testing.TB, claims jwt.MapClaims) string {
	tb.Helper()
	t, err := p.m.Keypair.SignJWT(claims)
	if err != nil {
		tb.Fatalf("oidctest: sign: %v", err)
	}
	return t
}

func randomString(tb testing.TB) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// mockUser gives mockoidc the claims of a User.
type mockUser struct{ u User }

var _ mockoidc.User = (*mockUser)(nil)

func (m *mockUser) ID() string { return m.u.Subject }

func (m *mockUser) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]any{"sub": m.u.Subject, "preferred_username": m.u.PreferredUsername})
}

type claims struct {
	*mockoidc.IDTokenClaims
	PreferredUsername string   `json:"preferred_username,omitempty"`
	AuthTime          int64    `json:"auth_time,omitempty"`
	AMR               []string `json:"amr,omitempty"`
	ACR               string   `json:"acr,omitempty"`
}

func (m *mockUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	c := &claims{IDTokenClaims: base, PreferredUsername: m.u.PreferredUsername, AMR: m.u.AMR, ACR: m.u.ACR}
	if !m.u.AuthTime.IsZero() {
		c.AuthTime = m.u.AuthTime.Unix()
	}
	return c, nil
}

// JWKS returns the key set document the provider publishes now.
func (p *Provider) JWKS(tb testing.TB) []byte {
	tb.Helper()
	b, err := p.m.Keypair.JWKS()
	if err != nil {
		tb.Fatalf("oidctest: %v", err)
	}
	return b
}
