package setup_test

import (
	"context"
	"encoding/json"
	"fmt"
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
	"chpass/shared/logtest"
	"chpass/shared/password"
)

// adApp returns an App whose self-service domain and clusters live in the test
// Samba AD domain, reached over ldaps as the delegated service account (a plain
// Domain User), never as Administrator. Cluster "ad" resets plainly; cluster
// "ad-helpdesk" also sets must-change-at-next-logon and unlocks.
func adApp(tb testing.TB, e ldaptest.ADEnv, logs *logtest.Buffer) *App {
	tb.Helper()
	tb.Setenv("CHPASS_E2E_AD_BIND_PASSWORD", e.ServicePassword)
	yml := fmt.Sprintf(`
store: {path: %s}
self_service: {directory: corp}
tokens: {hs256_secret: e2e-jwt-secret-0123456789-0123456789}
access_keys:
  - {id: LTAIe2eADKEY, secret: e2e-ad-secret-0123456789, actions: ["*"], clusters: ["*"]}
directories:
  corp:
    type: ldap
    ldap:
      dialect: active_directory
      url: %s
      ca_file: %s
      bind_dn: %s
      bind_password: ${CHPASS_E2E_AD_BIND_PASSWORD}
      user_search: {base: "%s"}
      list_group: %s
clusters:
  ad: {directory: corp, status: running}
  ad-helpdesk: {directory: corp, status: running, reset: {must_change: true, unlock: true}}
`, filepath.Join(tb.TempDir(), "e2e.db"), e.URL, e.CA, e.ServiceDN, e.People, e.GroupDN("chpass-list-outer"))
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		tb.Fatal(err)
	}
	a := New(cfg, NewLogger(logs, "e2e", "debug"))
	tb.Cleanup(func() { a.Close() })
	return a
}

// TestADSelfServiceEndToEnd changes a password in Samba AD through the IAM v5
// handler, has AD's history refuse a password, and lets a user who must change
// the password at next logon (who cannot bind) change it.
func TestADSelfServiceEndToEnd(t *testing.T) {
	e := ldaptest.RequireAD(t)
	logs := &logtest.Buffer{}
	a := adApp(t, e, logs)
	h, err := iam.CallerPassword(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	users := e.FreshUsers(t, 2)
	post := func(user, oldP, newP string) *httptest.ResponseRecorder {
		tok, err := demoToken(a, user)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"old_password": oldP, "new_password": newP})
		req := httptest.NewRequest(http.MethodPost, "/v5/caller-password", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Auth-Token", tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	u := users[0]
	const next = "Next-Pass-42@x"
	if w := post(u.Name, u.Password, next); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("change: %d %s", w.Code, w.Body)
	}
	if e.Bind(t, u.Name, next) != nil || e.Bind(t, u.Name, u.Password) == nil {
		t.Fatal("AD does not hold the new password")
	}
	// Back to the first password: chpass's policy allows it, AD's history does not.
	w := post(u.Name, next, u.Password)
	var got iamError
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w.Code != http.StatusBadRequest || got.Code != "IAM.1118" || len(got.Violations) != 1 || got.Violations[0].Rule != password.RuleReusePrevention {
		t.Fatalf("history refusal: %d %+v", w.Code, got)
	}
	if w := post(u.Name, "Wrong-Pass-42@x", "Other-Pass-42@x"); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"IAM.1103"`) {
		t.Fatalf("wrong old password: %d %s", w.Code, w.Body)
	}

	// Must change at next logon: the bind answers 773, self-service still works.
	m := users[1]
	e.Modify(t, m.Name, "pwdLastSet", "0")
	if w := post(m.Name, m.Password, next); w.Code != http.StatusOK {
		t.Fatalf("change of a must-change user: %d %s", w.Code, w.Body)
	}
	if err := e.Bind(t, m.Name, next); err != nil {
		t.Fatalf("bind after the change: %v", err)
	}
	for _, pw := range []string{next, u.Password, m.Password, "Other-Pass-42@x", "Wrong-Pass-42@x"} {
		if strings.Contains(logs.String(), pw) {
			t.Fatalf("the logs hold a password: %s", logs.String())
		}
	}
}

// TestADBatchEndToEnd resets 99 users of Samba AD and one missing user in one
// signed ModifyUserPasswords through the E-HPC handler: PartFailure with exact
// results, and the 99 changed. Then ListUsers lists the group's users, and a
// cluster with the help-desk options resets with must-change and unlock.
func TestADBatchEndToEnd(t *testing.T) {
	e := ldaptest.RequireAD(t)
	if e.BatchUsers < 99 {
		t.Fatalf("samba.sh provisioned %d batch users, want at least 99", e.BatchUsers)
	}
	logs := &logtest.Buffer{}
	a := adApp(t, e, logs)
	h, err := ehpc.ModifyUserPasswords(context.Background(), a, ehpc.NoAsync)
	if err != nil {
		t.Fatal(err)
	}
	const missing = "nosuchuser"
	names := make([]string, 0, 100)
	for i := 1; i <= 99; i++ {
		if i == 50 {
			names = append(names, missing)
		}
		names = append(names, fmt.Sprintf("batch%03d", i))
	}
	stamp := time.Now().UnixNano() % 1e6 // reruns set new passwords
	newPW := func(i int) string { return fmt.Sprintf("Batch-Pass-%06d-%03d!", stamp, i) }
	call := func(params map[string]string) (*httptest.ResponseRecorder, map[string]json.RawMessage) {
		params["Version"], params["Format"], params["AccessKeyId"] = "2018-04-12", "JSON", "LTAIe2eADKEY"
		params["SignatureMethod"], params["SignatureVersion"] = "HMAC-SHA1", "1.0"
		params["SignatureNonce"] = fmt.Sprint(time.Now().UnixNano())
		params["Timestamp"] = time.Now().UTC().Format("2006-01-02T15:04:05Z")
		params["Signature"] = ehpcapi.Sign(http.MethodGet, params, "e2e-ad-secret-0123456789")
		q := url.Values{}
		for k, v := range params {
			q.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/?"+q.Encode(), nil))
		var body map[string]json.RawMessage
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		return w, body
	}
	params := map[string]string{"Action": "ModifyUserPasswords", "ClusterId": "ad"}
	for i, name := range names {
		params[fmt.Sprintf("User.%d.Name", i+1)] = name
		params[fmt.Sprintf("User.%d.Password", i+1)] = newPW(i)
	}
	w, body := call(params)
	var results []ehpcapi.UserResult
	_ = json.Unmarshal(body["Results"], &results)
	if w.Code != http.StatusConflict || string(body["Code"]) != `"PartFailure"` || len(results) != 100 {
		t.Fatalf("got %d %s with %d results, want 409 PartFailure with 100", w.Code, body["Code"], len(results))
	}
	for i, r := range results {
		want := "Success"
		if names[i] == missing {
			want = "AgentError.Account.UserNotExist"
		}
		if r.Name != names[i] || r.Code != want {
			t.Fatalf("result %d = %+v, want %s %s", i+1, r, names[i], want)
		}
		if want == "Success" {
			if err := e.Bind(t, names[i], newPW(i)); err != nil {
				t.Fatalf("%s does not bind with its new password: %v", names[i], err)
			}
		}
	}
	if strings.Contains(w.Body.String(), "Batch-Pass-") {
		t.Fatal("the response holds a password")
	}

	// ListUsers: the members of the configured group, paged by E-HPC's PageSize.
	w, body = call(map[string]string{"Action": "ListUsers", "ClusterId": "ad", "PageNumber": "2", "PageSize": "10"})
	var users struct {
		UserInfo []struct{ Name string }
	}
	_ = json.Unmarshal(body["Users"], &users)
	if w.Code != http.StatusOK || string(body["TotalCount"]) != fmt.Sprint(e.BatchUsers) || len(users.UserInfo) != 10 || users.UserInfo[0].Name != "batch011" {
		t.Fatalf("ListUsers page 2: %d %s", w.Code, w.Body)
	}

	// The help-desk cluster: the reset also sets must change at next logon.
	fresh := e.FreshUsers(t, 1)[0]
	w, _ = call(map[string]string{"Action": "ModifyUserPasswords", "ClusterId": "ad-helpdesk",
		"User.1.Name": fresh.Name, "User.1.Password": "Helpdesk-Pass-1!"})
	if w.Code != http.StatusOK {
		t.Fatalf("help-desk reset: %d %s", w.Code, w.Body)
	}
	if err := e.Bind(t, fresh.Name, "Helpdesk-Pass-1!"); err == nil || !strings.Contains(err.Error(), "data 773") {
		t.Fatalf("bind after the help-desk reset: %v, want must change (773)", err)
	}
	if strings.Contains(logs.String(), "Batch-Pass-") || strings.Contains(logs.String(), "Helpdesk-Pass-") {
		t.Fatalf("the logs hold a password")
	}
}
