package iamapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"chpass/shared/iamapi"
	"chpass/shared/logtest"
	"chpass/shared/password"
)

// Test fixtures. Every password and secret holds the canary marker, so that the
// canary test can search all output for it.
const (
	canary    = "cAnArY"
	user      = "alice"
	oldPW     = "Old-" + canary + "-Pw1!"
	newPW     = "New-" + canary + "-Pw2?"
	akID      = "HWAKALICE0001"
	akSecret  = "sk-" + canary + "-0123456789abcdef"
	hsSecret  = "hs-" + canary + "-0123456789abcdef0123456789"
	issuer    = "https://idp.example.test"
	audience  = "chpass"
	ecKID     = "ec-key-1"
	rsaKID    = "rsa-key-1"
	domainID  = "domain123"
	projectID = "project123"
)

// fixedNow is the handler's clock in tests.
var fixedNow = time.Date(2026, 11, 24, 4, 7, 33, 0, time.UTC)

// fakeDir is an in-memory password.Directory.
type fakeDir struct {
	mu     sync.Mutex
	users  map[string]string
	locked map[string]bool
	err    error // when set, ChangePassword returns it
	panic  any   // when set, ChangePassword panics with it
	calls  int
}

var _ password.Directory = (*fakeDir)(nil)

func newFakeDir() *fakeDir {
	return &fakeDir{users: map[string]string{user: oldPW, "bob": oldPW}, locked: map[string]bool{}}
}

func (d *fakeDir) ChangePassword(ctx context.Context, name, oldPassword, newPassword string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.panic != nil {
		panic(d.panic)
	}
	if d.err != nil {
		return d.err
	}
	if d.locked[name] {
		return password.Errorf(password.ELOCKED, "The account is locked.")
	}
	if pw, ok := d.users[name]; !ok || pw != oldPassword {
		return password.Errorf(password.EUNAUTHORIZED, "The user name or old password is wrong.")
	}
	d.users[name] = newPassword
	return nil
}

func (d *fakeDir) ResetPassword(ctx context.Context, name, newPassword string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.users[name]; !ok {
		return password.Errorf(password.ENOTFOUND, "No such user.")
	}
	d.users[name] = newPassword
	return nil
}

func (d *fakeDir) LookupUser(ctx context.Context, name string) (*password.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.users[name]; !ok {
		return nil, password.Errorf(password.ENOTFOUND, "No such user.")
	}
	return &password.User{Name: name, Locked: d.locked[name]}, nil
}

func (d *fakeDir) password(name string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.users[name]
}

// keys are generated once per test binary.
var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

func testKeys(tb testing.TB) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	tb.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, ecKey
}

func pemPublic(tb testing.TB, pub any) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func jwksDoc(tb testing.TB, ec *ecdsa.PublicKey, rsaPub *rsa.PublicKey) []byte {
	tb.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	raw, err := ec.Bytes() // 0x04 || X || Y
	if err != nil {
		tb.Fatal(err)
	}
	keys := []map[string]string{
		{"kty": "EC", "kid": ecKID, "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:])},
		{"kty": "RSA", "kid": rsaKID, "use": "sig", "n": b64(rsaPub.N.Bytes()), "e": "AQAB"},
		{"kty": "oct", "kid": "ignored", "k": "c2VjcmV0"},
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// env is one handler under test, with its directory and captured log.
type env struct {
	h   *iamapi.Handler
	dir *fakeDir
	log *logtest.Buffer
	now time.Time
}

// newEnv returns a handler with the default policy, one access key for alice,
// HS256, an RSA PEM key and a JWKS (EC + RSA), after applying mods.
func newEnv(tb testing.TB, mods ...func(*iamapi.Options, *fakeDir)) *env {
	tb.Helper()
	rk, ek := testKeys(tb)
	e := &env{dir: newFakeDir(), log: &logtest.Buffer{}, now: fixedNow}
	p := password.DefaultPolicy()
	opts := iamapi.Options{
		AccessKeys: []iamapi.AccessKey{{ID: akID, Secret: akSecret, User: user}},
		Tokens: iamapi.TokenConfig{
			Issuer:        issuer,
			Audience:      audience,
			HS256Secret:   hsSecret,
			PublicKeyPEMs: []string{pemPublic(tb, &rk.PublicKey)},
			JWKS:          jwksDoc(tb, &ek.PublicKey, &rk.PublicKey),
		},
		Logger:   zerolog.New(e.log),
		Now:      func() time.Time { return e.now },
		Function: "caller-password",
	}
	opts.Service = password.NewService(p, e.dir)
	for _, m := range mods {
		m(&opts, e.dir)
	}
	h, err := iamapi.New(opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	e.h = h
	return e
}

// withPolicy replaces the policy.
func withPolicy(f func(*password.Policy)) func(*iamapi.Options, *fakeDir) {
	return func(o *iamapi.Options, d *fakeDir) {
		p := o.Service.Policy()
		f(&p)
		o.Service = password.NewService(p, d)
	}
}

// result is what a request answered.
type result struct {
	status int
	header http.Header
	body   string
	code   string
	msg    string
	errs   map[string]any
}

func (e *env) do(tb testing.TB, r *http.Request) result {
	tb.Helper()
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	res := result{status: w.Code, header: w.Header(), body: w.Body.String()}
	if res.body != "" {
		if err := json.Unmarshal(w.Body.Bytes(), &res.errs); err != nil {
			tb.Fatalf("response body is not JSON: %v", err)
		}
		res.code, _ = res.errs["error_code"].(string)
		res.msg, _ = res.errs["error_msg"].(string)
	}
	return res
}

func body(oldP, newP string) string {
	b, _ := json.Marshal(map[string]string{"old_password": oldP, "new_password": newP})
	return string(b)
}

// post returns a POST /v5/caller-password with a JSON content type and no credentials.
func post(b string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://iam.example.test"+iamapi.ChangePath, strings.NewReader(b))
	r.Header.Set("Content-Type", "application/json;charset=UTF-8")
	return r
}

// makeToken signs claims (plus exp, iat, iss, aud defaults) with method and key.
func makeToken(tb testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	tb.Helper()
	c := jwt.MapClaims{"sub": user, "iss": issuer, "aud": audience, "iat": fixedNow.Unix(), "exp": fixedNow.Add(time.Hour).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	t := jwt.NewWithClaims(method, c)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func hsToken(tb testing.TB) string {
	return makeToken(tb, jwt.SigningMethodHS256, []byte(hsSecret), "", nil)
}

// bearer returns r with a valid HS256 bearer token for alice.
func bearer(tb testing.TB, r *http.Request) *http.Request {
	tb.Helper()
	r.Header.Set("X-Auth-Token", hsToken(tb))
	return r
}

// signRequest signs r with ak/sk at date as SDK-HMAC-SHA256, written from the
// protocol's description (the SDK test checks it against the SDK's own signer):
// it signs x-domain-id, x-sdk-date and any extra headers given.
func signRequest(tb testing.TB, r *http.Request, ak, sk string, date time.Time, extra ...string) {
	tb.Helper()
	var b []byte
	if r.Body != nil {
		var err error
		if b, err = io.ReadAll(r.Body); err != nil {
			tb.Fatal(err)
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	d := date.UTC().Format("20060102T150405Z")
	r.Header.Set("X-Sdk-Date", d)
	r.Header.Set("X-Domain-Id", domainID)
	names := append([]string{"x-domain-id", "x-sdk-date"}, extra...)
	sort.Strings(names)
	var cr strings.Builder
	uri := r.URL.EscapedPath()
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	q := r.URL.Query()
	for _, vs := range q {
		sort.Strings(vs)
	}
	fmt.Fprintf(&cr, "%s\n%s\n%s\n", r.Method, uri, q.Encode())
	for _, n := range names {
		fmt.Fprintf(&cr, "%s:%s\n", n, strings.TrimSpace(r.Header.Get(n)))
	}
	bh := sha256.Sum256(b)
	fmt.Fprintf(&cr, "\n%s\n%s", strings.Join(names, ";"), hex.EncodeToString(bh[:]))
	ch := sha256.Sum256([]byte(cr.String()))
	sts := "SDK-HMAC-SHA256\n" + d + "\n" + hex.EncodeToString(ch[:])
	m := hmac.New(sha256.New, []byte(sk))
	m.Write([]byte(sts))
	r.Header.Set("Authorization", fmt.Sprintf("SDK-HMAC-SHA256 Access=%s, SignedHeaders=%s, Signature=%s",
		ak, strings.Join(names, ";"), hex.EncodeToString(m.Sum(nil))))
}

// signed returns a POST of b signed by alice's key at the handler's time.
func signed(tb testing.TB, b string) *http.Request {
	tb.Helper()
	r := post(b)
	signRequest(tb, r, akID, akSecret, fixedNow)
	return r
}
