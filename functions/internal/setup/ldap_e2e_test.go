package setup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"
	"chpass/functions/internal/setup/iam"

	"chpass/shared/config"
	"chpass/shared/ehpcapi"
	"chpass/shared/ldap/ldaptest"
	"chpass/shared/password"
)

// ldapApp returns an App whose self-service domain and cluster "ldap" live in the
// test slapd, reached with StartTLS as the non-root password admin.
func ldapApp(tb testing.TB, e ldaptest.Env) *App {
	tb.Helper()
	tb.Setenv("CHPASS_E2E_BIND_PASSWORD", e.AdminPassword)
	yml := fmt.Sprintf(`
store: {path: %s}
self_service: {directory: corp}
tokens: {hs256_secret: e2e-jwt-secret-0123456789-0123456789}
access_keys:
  - {id: LTAIe2eKEY, secret: e2e-secret-0123456789, actions: ["*"], clusters: [ldap]}
directories:
  corp:
    type: ldap
    ldap:
      url: %s
      start_tls: true
      ca_file: %s
      bind_dn: %s
      bind_password: ${CHPASS_E2E_BIND_PASSWORD}
      user_dn_template: uid=%%s,%s
clusters:
  ldap: {directory: corp, status: running}
`, filepath.Join(tb.TempDir(), "e2e.db"), e.URL, e.CA, e.AdminDN, e.People)
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		tb.Fatal(err)
	}
	a := New(cfg, NewLogger(io.Discard, "e2e", "info"))
	tb.Cleanup(func() { a.Close() })
	return a
}

type iamError struct {
	Code       string               `json:"error_code"`
	Violations []password.Violation `json:"violations"`
}

// TestLDAPSelfServiceEndToEnd changes a password in slapd through the IAM v5
// handler, then has the ppolicy overlay refuse a password from its history.
func TestLDAPSelfServiceEndToEnd(t *testing.T) {
	e := ldaptest.Require(t)
	a := ldapApp(t, e)
	h, err := iam.CallerPassword(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	u := e.FreshUsers(t, 1, "")[0]
	tok, err := demoToken(a, u.Name)
	if err != nil {
		t.Fatal(err)
	}
	post := func(oldP, newP string) *httptest.ResponseRecorder {
		body, _ := json.Marshal(map[string]string{"old_password": oldP, "new_password": newP})
		req := httptest.NewRequest(http.MethodPost, "/v5/caller-password", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Auth-Token", tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	const next = "Next-Pass-42@x"
	if w := post(u.Password, next); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("change: %d %s", w.Code, w.Body)
	}
	if !e.Bind(t, u.Name, next) || e.Bind(t, u.Name, u.Password) {
		t.Fatal("slapd does not hold the new password")
	}
	// Back to the first password: the policy allows it, slapd's history does not.
	w := post(next, u.Password)
	var got iamError
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w.Code != http.StatusBadRequest || got.Code != "IAM.1118" || len(got.Violations) != 1 || got.Violations[0].Rule != password.RuleReusePrevention {
		t.Fatalf("history refusal: %d %+v", w.Code, got)
	}
	// A wrong old password is the directory's refusal too.
	if w := post("Wrong-Pass-42@x", "Other-Pass-42@x"); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"IAM.1103"`) {
		t.Fatalf("wrong old password: %d %s", w.Code, w.Body)
	}
}

// TestLDAPBatchEndToEnd resets 99 users of slapd and one missing user in one signed
// ModifyUserPasswords through the E-HPC handler: PartFailure, with exact results,
// and the 99 changed.
func TestLDAPBatchEndToEnd(t *testing.T) {
	e := ldaptest.Require(t)
	a := ldapApp(t, e)
	h, err := ehpc.ModifyUserPasswords(context.Background(), a, ehpc.NoAsync)
	if err != nil {
		t.Fatal(err)
	}
	users := e.FreshUsers(t, 99, "")
	const missing = "nosuchuser"
	// 100 entries: the 99 users with the missing one as entry 50.
	names := make([]string, 0, 100)
	for i, u := range users {
		if i == 49 {
			names = append(names, missing)
		}
		names = append(names, u.Name)
	}
	newPW := func(i int) string { return fmt.Sprintf("Batch-Pass-%03d!", i) }
	params := map[string]string{
		"Action": "ModifyUserPasswords", "Version": "2018-04-12", "Format": "JSON", "ClusterId": "ldap",
		"AccessKeyId": "LTAIe2eKEY", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
		"SignatureNonce": fmt.Sprint(time.Now().UnixNano()), "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"),
	}
	for i, name := range names {
		params[fmt.Sprintf("User.%d.Name", i+1)] = name
		params[fmt.Sprintf("User.%d.Password", i+1)] = newPW(i)
	}
	params["Signature"] = ehpcapi.Sign(http.MethodGet, params, "e2e-secret-0123456789")
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/?"+q.Encode(), nil))
	var body struct {
		Code    string
		Results []ehpcapi.UserResult
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w.Code != http.StatusConflict || body.Code != "PartFailure" || len(body.Results) != 100 {
		t.Fatalf("got %d %s with %d results, want 409 PartFailure with 100", w.Code, body.Code, len(body.Results))
	}
	for i, r := range body.Results {
		want := "Success"
		if names[i] == missing {
			want = "AgentError.Account.UserNotExist"
		}
		if r.Name != names[i] || r.Code != want {
			t.Fatalf("result %d = %+v, want %s %s", i+1, r, names[i], want)
		}
		if want == "Success" && !e.Bind(t, names[i], newPW(i)) {
			t.Fatalf("%s does not bind with its new password", names[i])
		}
	}
	if strings.Contains(w.Body.String(), "Batch-Pass-") {
		t.Fatal("the response holds a password")
	}
}
