package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"chpass/shared/kms/kmstest"
	smtest "chpass/shared/secretsmanager/secretsmanagertest"
)

// The secrets a deployed function reads at start, as template.yaml and s.yaml name
// them: the access keys of its callers and, for caller-password, the portal's
// token key.
const (
	accessKeys = "access-keys"
	tokenKey   = "token-key"
)

// secretID returns the name of fn's secret in p's secret service: a full Secrets
// Manager ARN, with its six-character suffix, in the region the harness gives
// Lambda; a KMS secret name on Function Compute. caller-password's access keys are
// the self-service keys, modify-user-passwords' the administrators'.
func secretID(p platform, fn, secret string) string {
	name := "chpass/" + secret
	if secret == accessKeys {
		name = map[string]string{"caller-password": "chpass/self-service-keys", "modify-user-passwords": "chpass/admin-keys"}[fn]
	}
	if p.name == lambda.name {
		return "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-E2e5Xq"
	}
	return name
}

// reference returns how a configuration on p names fn's secret: ${ARN} on Lambda,
// as template.yaml writes it, and {{kms:NAME}} on Function Compute, as s.yaml does.
func reference(p platform, fn, secret string) string {
	if p.name == lambda.name {
		return "${" + secretID(p, fn, secret) + "}"
	}
	return "{{kms:" + secretID(p, fn, secret) + "}}"
}

// cloudSecrets returns the secrets fn reads at start, by name, with their values:
// its access keys, as the JSON list access_keys_from takes, holding the demo key
// its signed sample events name (which the configuration does not), and for
// caller-password the demo token key.
func cloudSecrets(tb testing.TB, fn string) map[string]string {
	tb.Helper()
	key := map[string]any{"id": "HWAKDEMOALICE", "user": "alice"}
	if fn == "modify-user-passwords" {
		key = map[string]any{"id": "LTAIexampleKEY", "actions": []string{"ModifyUserPasswords"}, "clusters": []string{"ehpc-demo"}}
	}
	key["secret"] = secretOf(tb, key["id"].(string))
	list, err := json.Marshal([]any{key})
	if err != nil {
		tb.Fatal(err)
	}
	secrets := map[string]string{accessKeys: string(list)}
	if fn == "caller-password" {
		secrets[tokenKey] = demo(tb).Tokens.HS256Secret
	}
	return secrets
}

// cloudYAML returns fn's CHPASS_CONFIG_YAML on p shaped as template.yaml and s.yaml
// deploy it, but on the embedded store in dir, seeded with the demo users, with a
// cheap argon2id: every credential is a reference to p's secret service.
func cloudYAML(tb testing.TB, p platform, fn, dir string) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("log_level: info\n")
	fmt.Fprintf(&b, "store: {path: %q, argon2: {time: 1, memory_kib: 64, threads: 1}}\n", filepath.Join(dir, "chpass.db"))
	if fn == "caller-password" {
		b.WriteString("self_service: {directory: embedded}\n")
	}
	b.WriteString("users:\n")
	for _, u := range demo(tb).Users {
		fmt.Fprintf(&b, "  - {name: %q, password: %q}\n", u.Name, u.Password)
	}
	if fn == "modify-user-passwords" {
		b.WriteString("clusters:\n  \"ehpc-demo\": {directory: embedded, status: running}\n")
	}
	fmt.Fprintf(&b, "access_keys_from: %q\n", reference(p, fn, accessKeys))
	if fn == "caller-password" {
		fmt.Fprintf(&b, "tokens:\n  issuer: %q\n  hs256_secret: %q\n", demo(tb).Tokens.Issuer, reference(p, fn, tokenKey))
	} else {
		b.WriteString("batch: {concurrency: 8}\n")
	}
	return b.String()
}

// secretService is p's secret service as the tests fake it: the fake of its SDK's
// service, which checks each request's signature, behind a proxy that records
// every request and the signature it carried.
type secretService struct {
	p        platform
	url      string // the proxy's
	requests func(id string) int

	mu         sync.Mutex
	sent       int      // requests the function sent
	signatures []string // what they were signed with
}

// serviceOptions changes what a secretService holds or expects.
type serviceOptions struct {
	withhold       string // a secret the service does not hold
	wrongSecretKey bool   // it expects another secret access key than the one the platform hands the function
}

// newSecretService starts p's secret service holding fn's secrets (by name) but
// opts.withhold, expecting the credentials the harness hands p's functions; it
// stops when tb ends.
func newSecretService(tb testing.TB, p platform, fn string, secrets map[string]string, opts serviceOptions) *secretService {
	tb.Helper()
	s := &secretService{p: p}
	var target string
	switch p.name {
	case lambda.name:
		held := map[string]smtest.Secret{}
		for name, v := range secrets {
			if name != opts.withhold {
				held[secretID(p, fn, name)] = smtest.String(v)
			}
		}
		o := smtest.Options{Region: "us-east-1", AccessKeyID: awsAccessKeyID, SecretAccessKey: awsSecretKey, SessionToken: awsSessionToken, Secrets: held}
		if opts.wrongSecretKey {
			o.SecretAccessKey = "e2e-another-aws-secret-access-key"
		}
		fake := smtest.NewServer(tb, o)
		target, s.requests = fake.URL, fake.Requests
	case fc.name:
		held := map[string]kmstest.Secret{}
		for name, v := range secrets {
			if name != opts.withhold {
				held[secretID(p, fn, name)] = kmstest.Secret{Data: v}
			}
		}
		o := kmstest.Options{AccessKeyID: aliyunAccessKeyID, AccessKeySecret: aliyunSecret, SecurityToken: aliyunToken, Secrets: held}
		if opts.wrongSecretKey {
			o.AccessKeySecret = "e2e-another-alibaba-access-key-secret"
		}
		fake := kmstest.NewServer(tb, o)
		target, s.requests = fake.URL, fake.Requests
	}
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host // signed, by SigV4
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.record(r, body)
		proxy.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// record notes a request and the signature it carries: SigV4's in the
// Authorization header, signature v1's in the Signature parameter.
func (s *secretService) record(r *http.Request, body []byte) {
	var sig string
	if _, v, ok := strings.Cut(r.Header.Get("Authorization"), "Signature="); ok {
		sig = v
	} else if q, err := url.ParseQuery(string(body)); err == nil && q.Get("Signature") != "" {
		sig = q.Get("Signature")
	} else {
		sig = r.URL.Query().Get("Signature")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent++
	if sig != "" {
		s.signatures = append(s.signatures, sig)
	}
}

// env returns what points p's function at the service.
func (s *secretService) env() []string {
	if s.p.name == lambda.name {
		return []string{"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.url}
	}
	return []string{"CHPASS_KMS_ENDPOINT=" + s.url}
}

// seen returns how many requests the function sent, and their signatures.
func (s *secretService) seen() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent, append([]string(nil), s.signatures...)
}

// forbid adds signatures, as written and URL-encoded, to what the output of pr
// must not hold.
func (pr *process) forbid(signatures []string) {
	for _, sig := range signatures {
		pr.secrets = append(pr.secrets, sig, url.QueryEscape(sig))
	}
}

// startWithSecrets starts fn on p with its CHPASS_CONFIG_YAML of references to
// svc, whose secrets (values) its output must not hold.
func startWithSecrets(tb testing.TB, dist string, p platform, fn string, svc *secretService, secrets map[string]string) *instance {
	tb.Helper()
	env := append(svc.env(), "CHPASS_CONFIG_YAML="+cloudYAML(tb, p, fn, tb.TempDir()))
	in := startFunction(tb, dist, p, fn, env...)
	for _, v := range secrets {
		in.proc.secrets = append(in.proc.secrets, v)
	}
	return in
}

// secretSteps returns what TestCloudSecrets feeds fn on p, in order: its signed
// sample event, signed again now with the key only the secret holds; then, for
// caller-password, a change proved by a bearer token signed with the token key
// only the secret holds, and the password policy; for modify-user-passwords, the
// event signed again with other passwords. It returns too the credentials they
// carry beyond canaries.
func secretSteps(tb testing.TB, p platform, fn string) ([]step, []string) {
	tb.Helper()
	signed := sampleEvent(tb, fn, map[string]string{lambda.name: "apigw-http-v2.json", fc.name: "fc-http.json"}[p.name]).fresh(tb)
	ok := want{status: http.StatusOK, requestID: signed.requestID()}
	steps := []step{{name: "Signed/" + signed.name, ev: signed, want: ok}}
	if fn == "modify-user-passwords" {
		again := signed.clone(tb)
		again.resign(tb, time.Now(), setLoopPasswords)
		return append(steps, step{name: "SignedAgain/" + signed.name, ev: again, want: ok}), nil
	}
	d := demo(tb)
	now := time.Now()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "bob", "iss": d.Tokens.Issuer, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString([]byte(d.Tokens.HS256Secret))
	if err != nil {
		tb.Fatal(err)
	}
	const newPassword = "Bob-Secrets-Pass3#"
	var old string
	for _, u := range d.Users {
		if u.Name == "bob" {
			old = u.Password
		}
	}
	bearer := signed.clone(tb)
	object(bearer.m, "requestContext")["requestId"] = "e2e-secrets-bearer"
	bearer.setHeader("Authorization", "Bearer "+token)
	body, err := json.Marshal(map[string]string{"old_password": old, "new_password": newPassword})
	if err != nil {
		tb.Fatal(err)
	}
	bearer.setBody(body)
	policy := sampleEvent(tb, fn, map[string]string{lambda.name: "policy-apigw-http-v2.json", fc.name: "policy-fc-http.json"}[p.name])
	return append(steps,
		step{name: "Bearer/" + bearer.name, ev: bearer, want: want{status: http.StatusOK, requestID: bearer.requestID()}},
		step{name: "Policy/" + policy.name, ev: policy, want: want{status: http.StatusOK, requestID: policy.requestID(), policy: true}},
	), []string{token, newPassword}
}

// TestCloudSecrets starts each packaged binary as template.yaml and s.yaml deploy
// it: its whole configuration in CHPASS_CONFIG_YAML, every credential a reference
// that it resolves at start through its cloud's SDK (Secrets Manager on Lambda,
// KMS on Function Compute), against a fake of the service that checks the
// signature, credentials and session token of each request. The callers' keys and
// the token key are only in the secrets, so each success proves a secret was read;
// each secret is fetched once for the several invocations the process serves.
func TestCloudSecrets(t *testing.T) {
	dist := distDir(t)
	for _, p := range platforms {
		for _, fn := range functions {
			t.Run(p.name+"/"+fn, func(t *testing.T) {
				t.Parallel()
				secrets := cloudSecrets(t, fn)
				steps, credentials := secretSteps(t, p, fn)
				svc := newSecretService(t, p, fn, secrets, serviceOptions{})
				in := startWithSecrets(t, dist, p, fn, svc, secrets)
				in.proc.secrets = append(in.proc.secrets, credentials...)
				for _, s := range steps {
					_, r := in.invoke(t, s.ev.payload(t))
					t.Run(s.name, func(t *testing.T) { check(t, fn, r, s.want) })
				}
				sent, signatures := svc.seen()
				in.proc.forbid(signatures)
				if len(signatures) != sent {
					t.Errorf("%d of %d requests to the secret service carried a signature", len(signatures), sent)
				}
				for name := range secrets {
					if id := secretID(p, fn, name); svc.requests(id) != 1 {
						t.Errorf("%d well-signed GetSecretValue of %s, want 1", svc.requests(id), id)
					}
				}
				if sent != len(secrets) {
					t.Errorf("%d requests to the secret service, want %d, one per secret", sent, len(secrets))
				}
				in.checkRuntimeUse(t)
			})
		}
	}
}

// TestCloudSecretsRefused starts each packaged binary on references its cloud's
// secret service refuses: it exits 1 before it polls for an invocation, naming on
// stderr (and in Lambda's init error) the configuration key, the reference and the
// service's error code, and no secret, session token or request signature.
func TestCloudSecretsRefused(t *testing.T) {
	dist := distDir(t)
	tests := []struct {
		name   string
		fns    []string // the functions it applies to; nil means all
		opts   serviceOptions
		key    string            // the configuration key the error names
		secret string            // the secret whose reference it names
		code   map[string]string // the service's error code, by platform
	}{
		{
			name:   "ErrNoSuchSecret",
			opts:   serviceOptions{withhold: accessKeys},
			key:    "access_keys_from",
			secret: accessKeys,
			code:   map[string]string{lambda.name: "ResourceNotFoundException", fc.name: "Forbidden.ResourceNotFound"},
		},
		{
			name:   "ErrWrongSecretAccessKey",
			opts:   serviceOptions{wrongSecretKey: true},
			key:    "access_keys_from",
			secret: accessKeys,
			code:   map[string]string{lambda.name: "InvalidSignatureException", fc.name: "SignatureDoesNotMatch"},
		},
		{
			// The access keys, fetched first, must not show either.
			name:   "ErrNoSuchTokenSecret",
			fns:    []string{"caller-password"},
			opts:   serviceOptions{withhold: tokenKey},
			key:    "tokens.hs256_secret",
			secret: tokenKey,
			code:   map[string]string{lambda.name: "ResourceNotFoundException", fc.name: "Forbidden.ResourceNotFound"},
		},
	}
	for _, p := range platforms {
		for _, fn := range functions {
			for _, tt := range tests {
				if tt.fns != nil && !slices.Contains(tt.fns, fn) {
					continue
				}
				t.Run(p.name+"/"+fn+"/"+tt.name, func(t *testing.T) {
					t.Parallel()
					secrets := cloudSecrets(t, fn)
					svc := newSecretService(t, p, fn, secrets, tt.opts)
					in := startWithSecrets(t, dist, p, fn, svc, secrets)
					in.proc.exitCode(t)
					sent, signatures := svc.seen()
					in.proc.forbid(signatures)
					if sent == 0 || len(signatures) != sent {
						t.Errorf("%d requests reached the secret service, %d of them signed; want at least one, all signed", sent, len(signatures))
					}
					in.checkRefusedToStart(t, tt.key+": cannot resolve "+reference(p, fn, tt.secret), tt.code[p.name])
				})
			}
		}
	}
}
