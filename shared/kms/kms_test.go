package kms_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"chpass/shared/config"
	"chpass/shared/kms"
	"chpass/shared/kms/kmstest"
)

const (
	keyID  = "LTAI5tEXAMPLEkeyID"
	secret = "EXAMPLEsecret0123456789abcdef"
	token  = "CAIS-sts-TOKEN-EXAMPLE-9d8c7b"
	region = "cn-hangzhou"
	canary = "CANARY-s3cr3t-Kq2w"
)

var _ config.Resolver = (*kms.Resolver)(nil)

// newFake starts a fake KMS that takes the test credentials.
func newFake(tb testing.TB, securityToken string, delay time.Duration, secrets map[string]kmstest.Secret) *kmstest.Server {
	tb.Helper()
	return kmstest.NewServer(tb, kmstest.Options{AccessKeyID: keyID, AccessKeySecret: secret,
		SecurityToken: securityToken, Secrets: secrets, Delay: delay})
}

// getenv returns a Getenv for f's environment, with FC_REGION set and extra laid over.
func getenv(f *kmstest.Server, extra map[string]string) func(string) string {
	m := f.Env()
	m["FC_REGION"] = region
	for k, v := range extra {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func TestResolverResolve(t *testing.T) {
	f := newFake(t, token, 0, map[string]kmstest.Secret{
		"chpass/plain":   {Data: canary + "-plain"},
		"chpass/json":    {Data: `{"sk":"` + canary + `-json","n":3,"user":"chpass"}`},
		"chpass/notjson": {Data: canary + `{"sk":`},
		"chpass/binary":  {Data: base64.StdEncoding.EncodeToString([]byte(canary)), Type: "binary"},
		"chpass/denied":  {Status: http.StatusForbidden, Code: "Forbidden.NoPermission"},
		"chpass/garbled": {Raw: `{"SecretName":"chpass/garbled","SecretData":"` + canary + `-garbled`},
	})
	tests := []struct {
		name    string
		ref     string
		want    string
		handled bool
		code    string // the KMS error code the error must carry
		errHas  string // a phrase the error must hold
	}{
		{name: "Plain", ref: "kms:chpass/plain", want: canary + "-plain", handled: true},
		{name: "JSONKey", ref: "kms:chpass/json#sk", want: canary + "-json", handled: true},
		{name: "JSONKeyOtherField", ref: "kms:chpass/json#user", want: "chpass", handled: true},
		{name: "ErrJSONKeyMissing", ref: "kms:chpass/json#nope", handled: true, errHas: `"nope": not in the secret`},
		{name: "ErrJSONKeyNotString", ref: "kms:chpass/json#n", handled: true, errHas: `"n": not a string`},
		{name: "ErrNotJSON", ref: "kms:chpass/notjson#sk", handled: true, errHas: "not a JSON object"},
		{name: "ErrEmptyKey", ref: "kms:chpass/json#", handled: true, errHas: "empty JSON key"},
		{name: "ErrEmptyName", ref: "kms:", handled: true, errHas: "empty secret name"},
		{name: "ErrResourceNotFound", ref: "kms:chpass/missing", handled: true, code: "Forbidden.ResourceNotFound", errHas: "HTTP 404"},
		{name: "ErrNoPermission", ref: "kms:chpass/denied", handled: true, code: "Forbidden.NoPermission", errHas: "HTTP 403"},
		{name: "ErrBinary", ref: "kms:chpass/binary", handled: true, errHas: "binary"},
		{name: "ErrGarbledResponse", ref: "kms:chpass/garbled", handled: true, code: "SDK.JsonUnmarshalError", errHas: "cannot decode"},
		{name: "NotHandledEnv", ref: "FOO"},
		{name: "NotHandledARN", ref: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf"},
		{name: "NotHandledOtherScheme", ref: "vault:kv/chpass#sk"},
		{name: "NotHandledCase", ref: "KMS:chpass/plain"},
	}
	r := kms.New(kms.Options{Getenv: getenv(f, nil)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, handled, err := r.Resolve(context.Background(), tt.ref)
			if handled != tt.handled {
				t.Fatalf("handled = %v, want %v", handled, tt.handled)
			}
			if err != nil && (strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), token)) {
				t.Fatalf("the error holds the secret or the token: %v", err)
			}
			if tt.code == "" && tt.errHas == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Resolve = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve = %q, want an error", got)
			}
			if got != "" {
				t.Errorf("value %q with an error", got)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q lacks %q", err, tt.errHas)
			}
			name, _, _ := strings.Cut(strings.TrimPrefix(tt.ref, "kms:"), "#")
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name the secret", err)
			}
			var e *kms.Error
			if tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code || !strings.Contains(err.Error(), tt.code)) {
				t.Errorf("error %q: want code %s", err, tt.code)
			}
		})
	}
}

func TestResolverCachesEachSecret(t *testing.T) {
	f := newFake(t, "", 0, map[string]kmstest.Secret{"chpass/shared": {Data: `{"a":"1","b":"2"}`}})
	r := kms.New(kms.Options{Getenv: getenv(f, nil)})
	refs := []string{"kms:chpass/shared#a", "kms:chpass/shared#b", "kms:chpass/shared", "kms:chpass/shared#a"}
	var wg sync.WaitGroup
	for _, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := r.Resolve(context.Background(), ref); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.Requests("chpass/shared"); n != 1 {
		t.Fatalf("%d references made %d requests, want 1", len(refs), n)
	}
	for _, tt := range []struct{ ref, want string }{{"kms:chpass/shared#a", "1"}, {"kms:chpass/shared#b", "2"}} {
		t.Run(tt.ref, func(t *testing.T) {
			if got, _, err := r.Resolve(context.Background(), tt.ref); err != nil || got != tt.want {
				t.Fatalf("Resolve = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if n := f.Requests("chpass/shared"); n != 1 {
		t.Fatalf("%d requests after the cache was warm, want 1", n)
	}
}

func TestResolverEnvironment(t *testing.T) {
	const name = "chpass/env"
	f := newFake(t, token, 0, map[string]kmstest.Secret{name: {Data: canary}})
	// A proxy's error page that echoes the request, signature and token included.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "<html>bad gateway for %s</html>", r.URL.RequestURI())
	}))
	t.Cleanup(proxy.Close)
	tests := []struct {
		name     string
		env      map[string]string
		is       error  // an error errors.Is must find
		code     string // the KMS code the error must carry
		errHas   string
		requests int
	}{
		{name: "STSToken", requests: 1},
		{name: "RegionFromAlibabaCloudRegionID", env: map[string]string{"FC_REGION": "", "ALIBABA_CLOUD_REGION_ID": region}, requests: 1},
		{name: "ErrNoSecurityToken", env: map[string]string{"ALIBABA_CLOUD_SECURITY_TOKEN": ""}, code: "InvalidSecurityToken.MismatchWithAccessKey"},
		{name: "ErrWrongAccessKeyID", env: map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIother"}, code: "InvalidAccessKeyId.NotFound"},
		{name: "ErrWrongAccessKeySecret", env: map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "wrong"}, code: "SignatureDoesNotMatch", errHas: "check ALIBABA_CLOUD_ACCESS_KEY_SECRET"},
		{name: "ErrNoAccessKeyID", env: map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": ""}, is: kms.ErrNoCredentials},
		{name: "ErrNoAccessKeySecret", env: map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""}, is: kms.ErrNoCredentials},
		{name: "ErrNoRegion", env: map[string]string{"FC_REGION": ""}, is: kms.ErrNoRegion},
		{name: "ErrBadEndpoint", env: map[string]string{"CHPASS_KMS_ENDPOINT": "ftp://kms.example"}, errHas: "CHPASS_KMS_ENDPOINT"},
		{name: "ErrSDKDebug", env: map[string]string{"DEBUG": "tls,sdk"}, errHas: "DEBUG names sdk"},
		{name: "OtherDebug", env: map[string]string{"DEBUG": "sdkx"}, requests: 1},
		{name: "ErrUnreachable", env: map[string]string{"CHPASS_KMS_ENDPOINT": "http://127.0.0.1:1"}, errHas: "connection refused"},
		{name: "ErrPlainHTTPRemote", env: map[string]string{"CHPASS_KMS_ENDPOINT": "http://kms.example.com"}, errHas: "plain http is for a loopback test server only"},
		{name: "ErrProxyPage", env: map[string]string{"CHPASS_KMS_ENDPOINT": proxy.URL}, errHas: "HTTP 502 without a KMS error body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.Requests(name)
			r := kms.New(kms.Options{Getenv: getenv(f, tt.env), Timeout: 5 * time.Second})
			got, handled, err := r.Resolve(context.Background(), "kms:"+name)
			if !handled {
				t.Fatal("not handled")
			}
			if n := f.Requests(name) - before; n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
			if tt.is == nil && tt.code == "" && tt.errHas == "" {
				if err != nil || got != canary {
					t.Fatalf("Resolve = %q, %v", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve = %q, want an error", got)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name the secret", err)
			}
			for _, leak := range []string{canary, token, "Signature=", "SecurityToken="} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q holds %q", err, leak)
				}
			}
			var e *kms.Error
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code) {
				t.Errorf("error %q: want code %s", err, tt.code)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q lacks %q", err, tt.errHas)
			}
		})
	}
}

// captureTransport records the request the SDK would send and answers it as KMS would.
type captureTransport struct {
	mu  sync.Mutex
	url *url.URL
}

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.url = r.URL
	c.mu.Unlock()
	body := fmt.Sprintf(`{"RequestId":%q,"SecretName":"x","SecretData":"v","SecretDataType":"text","VersionId":"v1"}`, kmstest.RequestID)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

func TestResolverEndpoint(t *testing.T) {
	tests := []struct {
		name, endpoint, want string
	}{
		{name: "DefaultIsRegionalHTTPS", want: "https://kms.cn-hangzhou.aliyuncs.com/"},
		{name: "VPCHost", endpoint: "kms-vpc.cn-hangzhou.aliyuncs.com", want: "https://kms-vpc.cn-hangzhou.aliyuncs.com/"},
		{name: "HostAndPort", endpoint: "kms.internal:8443", want: "https://kms.internal:8443/"},
		{name: "HTTPForTests", endpoint: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := &captureTransport{}
			env := map[string]string{
				"ALIBABA_CLOUD_ACCESS_KEY_ID": keyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
				"FC_REGION": region, "CHPASS_KMS_ENDPOINT": tt.endpoint,
			}
			r := kms.New(kms.Options{Getenv: func(k string) string { return env[k] }, Transport: ct})
			if got, _, err := r.Resolve(context.Background(), "kms:x"); err != nil || got != "v" {
				t.Fatalf("Resolve = %q, %v", got, err)
			}
			u := *ct.url
			if q := u.Query(); q.Get("SecretName") != "x" || q.Get("Action") != "GetSecretValue" || q.Get("RegionId") != region {
				t.Errorf("query %v", q)
			}
			u.RawQuery = ""
			if u.String() != tt.want {
				t.Errorf("URL %s, want %s", u.String(), tt.want)
			}
		})
	}
}

func TestResolverNeedsNothingToBuild(t *testing.T) {
	r := kms.New(kms.Options{Getenv: func(string) string { return "" }})
	for _, ref := range []string{"FOO", "arn:aws:secretsmanager:eu-west-1:1:secret:x", "vault:x"} {
		t.Run(ref, func(t *testing.T) {
			if _, handled, err := r.Resolve(context.Background(), ref); handled || err != nil {
				t.Fatalf("handled=%v err=%v", handled, err)
			}
		})
	}
}

func TestResolverTimeout(t *testing.T) {
	f := newFake(t, "", time.Minute, map[string]kmstest.Secret{"chpass/slow": {Data: canary}})
	r := kms.New(kms.Options{Getenv: getenv(f, nil), Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, _, err := r.Resolve(context.Background(), "kms:chpass/slow")
	if err == nil || !strings.Contains(err.Error(), "no answer within 300ms") || !strings.Contains(err.Error(), "chpass/slow") {
		t.Fatalf("err = %v, want a timeout naming the secret", err)
	}
	if strings.Contains(err.Error(), "Signature") {
		t.Errorf("the error quotes the signed URL: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
