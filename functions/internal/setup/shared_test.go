package setup_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"

	"chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"
	"chpass/functions/internal/setup/iam"
	"chpass/shared/config"
	"chpass/shared/ehpcapi"
	"chpass/shared/iamapi"
	"chpass/shared/ldap/ldaptest"
	"chpass/shared/logtest"
	chredis "chpass/shared/redis"
	"chpass/shared/redis/redistest"
)

const (
	sharedAdminKey    = "LTAIsharedKEY"
	sharedAdminSecret = "shared-admin-secret-0123456789"
	sharedSelfKey     = "HWAKsharedSELF"
	sharedSelfSecret  = "shared-self-secret-0123456789"
	sharedCanary      = "Zq4#SharedCanary"
)

// instance is one local server of a deployment: its own App (connections,
// pools, memory) over the directory and the Redis that all instances share.
type instance struct {
	url  string
	logs *logtest.Buffer
}

// startInstance builds an App as a cold start does and serves both APIs on a
// loopback port, as the local server does (IAM under /v5/, E-HPC elsewhere),
// Async batches run by its worker. selfUser owns the self-service key.
func startInstance(tb testing.TB, e ldaptest.Env, r chredis.Config, selfUser string) *instance {
	tb.Helper()
	tb.Setenv("CHPASS_SHARED_BIND_PASSWORD", e.AdminPassword)
	tb.Setenv("CHPASS_SHARED_REDIS_PASSWORD", r.Password)
	user := ""
	if r.Username != "" {
		user = "\n  username: " + r.Username
	}
	yml := fmt.Sprintf(`
store: {path: %s}
self_service: {directory: corp}
access_keys:
  - {id: %s, secret: %s, actions: ["*"], clusters: [ldap]}
  - {id: %s, secret: %s, user: %s}
directories:
  corp:
    type: ldap
    ldap:
      url: %s
      start_tls: true
      ca_file: %s
      bind_dn: %s
      bind_password: ${CHPASS_SHARED_BIND_PASSWORD}
      user_dn_template: uid=%%s,%s
clusters:
  ldap: {directory: corp, status: running}
redis:
  address: %s
  ca_file: %s%s
  password: ${CHPASS_SHARED_REDIS_PASSWORD}
  key_prefix: "%s"
  timeout: 300ms
  dial_timeout: 300ms
tasks: {key: %s}
`, filepath.Join(tb.TempDir(), "unused.db"), sharedAdminKey, sharedAdminSecret, sharedSelfKey, sharedSelfSecret, selfUser,
		e.URL, e.CA, e.AdminDN, e.People, r.Address, r.CAFile, user, r.KeyPrefix, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		tb.Fatal(err)
	}
	logs := &logtest.Buffer{}
	a := setup.New(cfg, setup.NewLogger(logs, "local", "info"))
	self, err := iam.CallerPassword(context.Background(), a)
	if err != nil {
		tb.Fatal(err)
	}
	rpc, err := ehpc.ModifyUserPasswords(context.Background(), a, ehpc.LocalAsync)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	go rpc.Batches().Worker(ctx, time.Second)
	mux := http.NewServeMux()
	mux.Handle("/v5/", self)
	mux.Handle("/", rpc)
	srv := httptest.NewServer(mux)
	tb.Cleanup(func() {
		stop()
		srv.Close()
		a.Close()
		if strings.Contains(logs.String(), sharedCanary) {
			tb.Error("a password appears in an instance's logs")
		}
	})
	return &instance{url: srv.URL, logs: logs}
}

// ehpcQuery is a signed E-HPC request for params, as the Alibaba Cloud SDK sends it.
func ehpcQuery(params map[string]string, secret string, now time.Time) string {
	p := map[string]string{
		"Version": ehpcapi.Version, "Format": "JSON", "AccessKeyId": sharedAdminKey, "SignatureMethod": "HMAC-SHA1",
		"SignatureVersion": "1.0", "SignatureNonce": fmt.Sprint(now.UnixNano()), "Timestamp": now.UTC().Format("2006-01-02T15:04:05Z"),
	}
	for k, v := range params {
		p[k] = v
	}
	p["Signature"] = ehpcapi.Sign(http.MethodGet, p, secret)
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	return "/?" + q.Encode()
}

// get sends a GET of path to the instance and returns the status and Code.
func (in *instance) get(tb testing.TB, path string) (int, string) {
	tb.Helper()
	res, err := http.Get(in.url + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ Code, ErrorCode string }
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &body)
	if strings.Contains(string(b), sharedCanary) {
		tb.Error("a response holds a password")
	}
	return res.StatusCode, body.Code
}

// changeRequest is a self-service change signed with the Huawei Cloud SDK's
// own signer, as bytes that can be sent to any instance.
type changeRequest struct {
	headers map[string]string
	body    string
}

func signedChange(tb testing.TB, oldPW, newPW, secret string) changeRequest {
	tb.Helper()
	b, _ := json.Marshal(map[string]string{"old_password": oldPW, "new_password": newPW})
	req := request.NewHttpRequestBuilder().WithEndpoint("https://iam.example").WithPath(iamapi.ChangePath).
		WithMethod(http.MethodPost).AddHeaderParam("X-Domain-Id", "domain123").
		AddHeaderParam(iamapi.DateHeader, time.Now().UTC().Format(iamapi.DateFormat)).WithBody("json", string(b)).Build()
	headers, err := signer.Sign(req, sharedSelfKey, secret)
	if err != nil {
		tb.Fatal(err)
	}
	headers["X-Domain-Id"] = "domain123"
	headers[iamapi.DateHeader] = req.GetHeaderParams()[iamapi.DateHeader]
	return changeRequest{headers: headers, body: string(b)}
}

func (in *instance) post(tb testing.TB, c changeRequest) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.url+iamapi.ChangePath, strings.NewReader(c.body))
	req.Header.Set("Content-Type", "application/json")
	req.Host = "iam.example"
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Code string `json:"error_code"`
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body.Code
}

// TestTwoInstancesShareOneRedis runs two local servers on one Redis, with slapd
// as their directory: a nonce or a signature used on one is refused on the
// other, and a key locked on one is locked on the other, for both APIs.
func TestTwoInstancesShareOneRedis(t *testing.T) {
	e := ldaptest.Require(t)
	users := e.FreshUsers(t, 2, "")
	rc := redistest.Config(t, sharedCanary, users[0].Password, users[1].Password, sharedAdminSecret, sharedSelfSecret)
	a, b := startInstance(t, e, rc, users[1].Name), startInstance(t, e, rc, users[1].Name)

	t.Run("EHPCNonce", func(t *testing.T) {
		newPW := "A1-" + sharedCanary
		q := ehpcQuery(map[string]string{"Action": ehpcapi.ActionModifyUserPasswords, "ClusterId": "ldap",
			"User.1.Name": users[0].Name, "User.1.Password": newPW}, sharedAdminSecret, time.Now())
		if st, code := a.get(t, q); st != http.StatusOK {
			t.Fatalf("on a: %d %s", st, code)
		}
		if st, code := b.get(t, q); st != http.StatusBadRequest || code != ehpcapi.CodeSignatureNonceUsed {
			t.Fatalf("the same request on b: %d %s, want 400 %s", st, code, ehpcapi.CodeSignatureNonceUsed)
		}
		if !e.Bind(t, users[0].Name, newPW) {
			t.Fatal("the user does not hold the password a set")
		}
	})
	t.Run("IAMSignature", func(t *testing.T) {
		newPW := "B1-" + sharedCanary
		c := signedChange(t, users[1].Password, newPW, sharedSelfSecret)
		if st, code := a.post(t, c); st != http.StatusOK {
			t.Fatalf("on a: %d %s", st, code)
		}
		// Replayed on b after the user changed it back would undo their change.
		if st, code := b.post(t, c); st != http.StatusUnauthorized || code != iamapi.CodeUnauthenticated {
			t.Fatalf("the same request on b: %d %s, want 401 %s", st, code, iamapi.CodeUnauthenticated)
		}
		if !e.Bind(t, users[1].Name, newPW) {
			t.Fatal("the user does not hold the password a set")
		}
		users[1].Password = newPW
	})
	t.Run("EHPCLockout", func(t *testing.T) {
		for i := range 5 {
			in := []*instance{a, b}[i%2]
			q := ehpcQuery(map[string]string{"Action": ehpcapi.ActionListUsers, "ClusterId": "ldap"}, "wrong-secret", time.Now())
			if st, code := in.get(t, q); code != ehpcapi.CodeSignatureDoesNotMatch {
				t.Fatalf("bad signature %d: %d %s", i+1, st, code)
			}
		}
		newPW := "C1-" + sharedCanary
		for _, in := range []*instance{a, b} {
			q := ehpcQuery(map[string]string{"Action": ehpcapi.ActionModifyUserPasswords, "ClusterId": "ldap",
				"User.1.Name": users[0].Name, "User.1.Password": newPW}, sharedAdminSecret, time.Now())
			if st, code := in.get(t, q); code != ehpcapi.CodeThrottling {
				t.Fatalf("a good request while locked: %d %s, want %s", st, code, ehpcapi.CodeThrottling)
			}
		}
		if e.Bind(t, users[0].Name, newPW) {
			t.Fatal("a locked key changed a password")
		}
	})
	t.Run("IAMLockout", func(t *testing.T) {
		for i := range 5 {
			in := []*instance{a, b}[i%2]
			if st, code := in.post(t, signedChange(t, users[1].Password, "X", "wrong-secret")); code != iamapi.CodeUnauthenticated {
				t.Fatalf("bad signature %d: %d %s", i+1, st, code)
			}
		}
		newPW := "D1-" + sharedCanary
		for _, in := range []*instance{a, b} {
			if st, code := in.post(t, signedChange(t, users[1].Password, newPW, sharedSelfSecret)); st != http.StatusTooManyRequests || code != iamapi.CodeThrottled {
				t.Fatalf("a good request while locked: %d %s, want 429 %s", st, code, iamapi.CodeThrottled)
			}
		}
		if e.Bind(t, users[1].Name, newPW) {
			t.Fatal("a locked key changed a password")
		}
	})
}

// TestRedisDown: with Redis stopped, both APIs answer 503 with their catalog's
// code and change nothing; restarted, they serve again.
func TestRedisDown(t *testing.T) {
	e := ldaptest.Require(t)
	users := e.FreshUsers(t, 2, "")
	srv := redistest.StartServer(t)
	in := startInstance(t, e, srv.Config(), users[1].Name)
	srv.Kill(t)
	newPW := "E1-" + sharedCanary
	q := ehpcQuery(map[string]string{"Action": ehpcapi.ActionModifyUserPasswords, "ClusterId": "ldap",
		"User.1.Name": users[0].Name, "User.1.Password": newPW}, sharedAdminSecret, time.Now())
	if st, code := in.get(t, q); st != http.StatusServiceUnavailable || code != ehpcapi.CodeServiceUnavailable {
		t.Fatalf("E-HPC with Redis down: %d %s, want 503 %s", st, code, ehpcapi.CodeServiceUnavailable)
	}
	if st, code := in.post(t, signedChange(t, users[1].Password, newPW, sharedSelfSecret)); st != http.StatusServiceUnavailable || code != iamapi.CodeUnavailable {
		t.Fatalf("IAM with Redis down: %d %s, want 503 %s", st, code, iamapi.CodeUnavailable)
	}
	if !e.Bind(t, users[0].Name, users[0].Password) || !e.Bind(t, users[1].Name, users[1].Password) {
		t.Fatal("a password changed while Redis was down")
	}
	srv.Start(t)
	if st, code := in.get(t, q); st != http.StatusOK {
		t.Fatalf("the same request once Redis is back: %d %s", st, code)
	}
	if !e.Bind(t, users[0].Name, newPW) {
		t.Fatal("the user does not hold the new password")
	}
}

// BenchmarkTwoInstancesListUsers sends 1,000 signed ListUsers at concurrency 50,
// alternately to two local servers that share one Redis (slapd as the
// directory), and reports the throughput; any answer but 200 fails it.
func BenchmarkTwoInstancesListUsers(b *testing.B) {
	e := ldaptest.Require(b)
	rc := redistest.Config(b, sharedAdminSecret)
	ins := []*instance{startInstance(b, e, rc, "nobody"), startInstance(b, e, rc, "nobody")}
	const total, conc = 1000, 50
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	for b.Loop() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		errs := 0
		next := make(chan int)
		start := time.Now()
		for range conc {
			wg.Go(func() {
				for i := range next {
					q := ehpcQuery(map[string]string{"Action": ehpcapi.ActionListUsers, "ClusterId": "ldap", "PageSize": "10",
						"SignatureNonce": fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)}, sharedAdminSecret, time.Now())
					res, err := client.Get(ins[i%2].url + q)
					ok := err == nil && res.StatusCode == http.StatusOK
					if err == nil {
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
					if !ok {
						mu.Lock()
						errs++
						mu.Unlock()
					}
				}
			})
		}
		for i := range total {
			next <- i
		}
		close(next)
		wg.Wait()
		d := time.Since(start)
		if errs > 0 {
			b.Fatalf("%d of %d requests failed", errs, total)
		}
		b.ReportMetric(float64(total)/d.Seconds(), "req/s")
		b.ReportMetric(float64(d.Milliseconds()), "ms/1000req")
	}
}
