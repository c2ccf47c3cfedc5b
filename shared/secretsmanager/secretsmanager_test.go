package secretsmanager_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"chpass/shared/config"
	"chpass/shared/secretsmanager"
	smtest "chpass/shared/secretsmanager/secretsmanagertest"
)

const (
	keyID   = "AKIAEXAMPLE0123456789"
	secret  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	token   = "IQoJb3JpZ2luX2VjEXAMPLE//token=="
	region  = "eu-west-1"
	account = "123456789012"
	canary  = "CANARY-s3cr3t-7f9Q"
)

func arn(name string) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s", region, account, name)
}

var _ config.Resolver = (*secretsmanager.Resolver)(nil)

// newFake starts a fake Secrets Manager for region with the test credentials.
func newFake(tb testing.TB, sessionToken string, delay time.Duration, secrets map[string]smtest.Secret) *smtest.Server {
	tb.Helper()
	return smtest.NewServer(tb, smtest.Options{Region: region, AccessKeyID: keyID, SecretAccessKey: secret,
		SessionToken: sessionToken, Secrets: secrets, Delay: delay})
}

// getenv returns a Getenv for f's environment, with AWS_REGION set and extra laid over.
func getenv(f *smtest.Server, extra map[string]string) func(string) string {
	m := f.Env()
	m["AWS_REGION"] = "us-east-1"
	for k, v := range extra {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func TestResolverResolve(t *testing.T) {
	f := newFake(t, token, 0, map[string]smtest.Secret{
		arn("plain-AbCdEf"):   smtest.String(canary + "-plain"),
		arn("json-AbCdEf"):    smtest.String(`{"hs256":"` + canary + `-json","port":5432,"user":"chpass"}`),
		arn("notjson-AbCdEf"): smtest.String(canary + `{"hs256":`),
		arn("binary-AbCdEf"):  {Binary: []byte(canary + "-binary")},
		arn("denied-AbCdEf"):  {Status: http.StatusBadRequest, Code: "AccessDeniedException"},
		arn("garbled-AbCdEf"): {Raw: `{"SecretString":"` + canary + `-garbled`},
	})
	tests := []struct {
		name    string
		ref     string
		want    string
		handled bool
		code    string // the AWS error code the error must carry
		errHas  string // a phrase the error must hold
	}{
		{name: "Plain", ref: arn("plain-AbCdEf"), want: canary + "-plain", handled: true},
		{name: "JSONKey", ref: arn("json-AbCdEf") + "#hs256", want: canary + "-json", handled: true},
		{name: "JSONKeyOtherField", ref: arn("json-AbCdEf") + "#user", want: "chpass", handled: true},
		{name: "ErrJSONKeyMissing", ref: arn("json-AbCdEf") + "#nope", handled: true, errHas: `"nope": not in the secret`},
		{name: "ErrJSONKeyNotString", ref: arn("json-AbCdEf") + "#port", handled: true, errHas: `"port": not a string`},
		{name: "ErrNotJSON", ref: arn("notjson-AbCdEf") + "#hs256", handled: true, errHas: "not a JSON object"},
		{name: "ErrEmptyKey", ref: arn("json-AbCdEf") + "#", handled: true, errHas: "empty JSON key"},
		{name: "ErrResourceNotFound", ref: arn("missing-AbCdEf"), handled: true, code: "ResourceNotFoundException", errHas: "can't find"},
		{name: "ErrAccessDenied", ref: arn("denied-AbCdEf"), handled: true, code: "AccessDeniedException", errHas: "not authorized"},
		{name: "ErrBinaryOnly", ref: arn("binary-AbCdEf"), handled: true, errHas: "SecretBinary only"},
		{name: "ErrGarbledResponse", ref: arn("garbled-AbCdEf"), handled: true, errHas: "cannot decode"},
		{name: "ErrNotASecretARN", ref: "arn:aws:secretsmanager:eu-west-1:123456789012:rotation:x", handled: true, errHas: "not a secret ARN"},
		{name: "ErrNoAccount", ref: "arn:aws:secretsmanager:eu-west-1::secret:x", handled: true, errHas: "not a secret ARN"},
		{name: "NotHandledEnv", ref: "FOO"},
		{name: "NotHandledKMS", ref: "kms:chpass/hs256#key"},
		{name: "NotHandledOtherService", ref: "arn:aws:ssm:eu-west-1:123456789012:parameter/chpass"},
		{name: "NotHandledShortARN", ref: "arn:aws"},
	}
	r := secretsmanager.New(secretsmanager.Options{Getenv: getenv(f, nil)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, handled, err := r.Resolve(context.Background(), tt.ref)
			if handled != tt.handled {
				t.Fatalf("handled = %v, want %v", handled, tt.handled)
			}
			if err != nil && strings.Contains(err.Error(), canary) {
				t.Fatalf("the error holds the secret: %v", err)
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
			t.Log(err)
			if got != "" {
				t.Errorf("value %q with an error", got)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q lacks %q", err, tt.errHas)
			}
			arnOnly, _, _ := strings.Cut(tt.ref, "#")
			if !strings.Contains(err.Error(), arnOnly) {
				t.Errorf("error %q does not name the ARN", err)
			}
			var e *secretsmanager.Error
			if tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code || !strings.Contains(err.Error(), tt.code)) {
				t.Errorf("error %q: want code %s", err, tt.code)
			}
		})
	}
}

func TestResolverCachesEachSecret(t *testing.T) {
	id := arn("shared-AbCdEf")
	f := newFake(t, "", 0, map[string]smtest.Secret{id: smtest.String(`{"a":"1","b":"2"}`)})
	r := secretsmanager.New(secretsmanager.Options{Getenv: getenv(f, nil)})
	refs := []string{id + "#a", id + "#b", id, id + "#a", id + "#b"}
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
	if n := f.Requests(id); n != 1 {
		t.Fatalf("%d references made %d requests, want 1", len(refs), n)
	}
	for _, tt := range []struct{ ref, want string }{{id + "#a", "1"}, {id + "#b", "2"}, {id, `{"a":"1","b":"2"}`}} {
		t.Run(tt.ref, func(t *testing.T) {
			if got, _, err := r.Resolve(context.Background(), tt.ref); err != nil || got != tt.want {
				t.Fatalf("Resolve = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if n := f.Requests(id); n != 1 {
		t.Fatalf("%d requests after the cache was warm, want 1", n)
	}
}

func TestResolverEnvironment(t *testing.T) {
	id := arn("env-AbCdEf")
	f := newFake(t, token, 0, map[string]smtest.Secret{id: smtest.String(canary)})
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the request went to the endpoint of lower precedence")
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(dead.Close)
	tests := []struct {
		name     string
		env      map[string]string
		noCreds  bool
		errHas   string // with requests: 0 or 1
		requests int
	}{
		{name: "ErrWrongSecretKey", env: map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong"}, errHas: "InvalidSignatureException"},
		{name: "ErrWrongAccessKey", env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAOTHER"}, errHas: "UnrecognizedClientException"},
		{name: "ServiceEndpointWins", env: map[string]string{"AWS_ENDPOINT_URL": dead.URL}, requests: 1},
		{name: "GenericEndpoint", env: map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": "", "AWS_ENDPOINT_URL": f.URL}, requests: 1},
		{name: "ErrNoSessionToken", env: map[string]string{"AWS_SESSION_TOKEN": ""}, errHas: "UnrecognizedClientException"},
		{name: "RegionFromARNNotAWSRegion", env: map[string]string{"AWS_REGION": "ap-south-1"}, requests: 1},
		{name: "ErrNoAccessKey", env: map[string]string{"AWS_ACCESS_KEY_ID": ""}, noCreds: true},
		{name: "ErrNoSecretKey", env: map[string]string{"AWS_SECRET_ACCESS_KEY": ""}, noCreds: true},
		{name: "ErrUnreachable", env: map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:1"}, errHas: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.Requests(id)
			r := secretsmanager.New(secretsmanager.Options{Getenv: getenv(f, tt.env), Timeout: 5 * time.Second})
			got, handled, err := r.Resolve(context.Background(), id)
			if !handled {
				t.Fatal("not handled")
			}
			if err != nil {
				t.Log(err)
			}
			if n := f.Requests(id) - before; n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
			switch {
			case tt.noCreds:
				if !errors.Is(err, secretsmanager.ErrNoCredentials) || !strings.Contains(err.Error(), id) {
					t.Fatalf("err = %v, want ErrNoCredentials naming the ARN", err)
				}
			case tt.errHas != "":
				if err == nil || !strings.Contains(err.Error(), tt.errHas) || !strings.Contains(err.Error(), id) {
					t.Fatalf("err = %v, want one naming the ARN and %q", err, tt.errHas)
				}
				// AWS's signature mismatch quotes the canonical request, session token included.
				if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "Canonical String") {
					t.Fatalf("the error quotes the signed request: %v", err)
				}
			case err != nil || got != canary:
				t.Fatalf("Resolve = %q, %v", got, err)
			}
		})
	}
}

func TestResolverNeedsNothingToBuild(t *testing.T) {
	r := secretsmanager.New(secretsmanager.Options{Getenv: func(string) string { return "" }})
	for _, ref := range []string{"FOO", "kms:x", "arn:aws:iam::123456789012:role/x"} {
		t.Run(ref, func(t *testing.T) {
			if _, handled, err := r.Resolve(context.Background(), ref); handled || err != nil {
				t.Fatalf("handled=%v err=%v", handled, err)
			}
		})
	}
}

func TestResolverTimeout(t *testing.T) {
	id := arn("slow-AbCdEf")
	f := newFake(t, "", time.Minute, map[string]smtest.Secret{id: smtest.String(canary)})
	r := secretsmanager.New(secretsmanager.Options{Getenv: getenv(f, nil), Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, _, err := r.Resolve(context.Background(), id)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), id) {
		t.Fatalf("err = %v, want a deadline error naming the ARN", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
