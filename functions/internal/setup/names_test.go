package setup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"
	"chpass/functions/internal/setup/iam"

	"chpass/shared/config"
	"chpass/shared/ldap/ldaptest"
	"chpass/shared/logtest"
	"chpass/shared/password"
)

// eventLines returns the JSON log lines of logs whose event is event.
func eventLines(tb testing.TB, logs *logtest.Buffer, event string) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, m := range logs.Lines(tb) {
		if m["event"] == event {
			out = append(out, m)
		}
	}
	return out
}

// fullwidth spells name in fullwidth forms, which NFKC folds back to name.
func fullwidth(name string) string {
	rs := []rune(name)
	for i, r := range rs {
		if r > ' ' && r < 0x7f {
			rs[i] = r - 0x21 + 0xff01
		}
	}
	return string(rs)
}

// namesScenario is one directory under both APIs, with a real user and a way
// to prove which password the directory holds for a name.
type namesScenario struct {
	app     *App
	logs    *logtest.Buffer
	cluster string
	user    string
	pass    string
	holds   func(tb testing.TB, name, pw string) bool
	// exact is true when the directory itself tells case variants apart (the
	// embedded store), false when it matches them to one entry (LDAP).
	exact bool
}

// runNames checks "one name, one person" through the IAM and E-HPC handlers.
func runNames(t *testing.T, s namesScenario) {
	ctx := context.Background()
	iam, err := iam.CallerPassword(ctx, s.app)
	if err != nil {
		t.Fatal(err)
	}
	rpcH, err := ehpc.ModifyUserPasswords(ctx, s.app, ehpc.NoAsync)
	if err != nil {
		t.Fatal(err)
	}
	upper := strings.ToUpper(s.user)
	change := func(as, oldP, newP string) (int, string) {
		tok, err := demoToken(s.app, as)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"old_password": oldP, "new_password": newP})
		req := httptest.NewRequest(http.MethodPost, "/v5/caller-password", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Auth-Token", tok)
		w := httptest.NewRecorder()
		iam.ServeHTTP(w, req)
		var e struct {
			Code string `json:"error_code"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &e)
		return w.Code, e.Code
	}

	t.Run("SelfServiceOtherSpellingsAreUnknown", func(t *testing.T) {
		for _, as := range []string{upper, fullwidth(s.user), fullwidth(s.user[:1]) + s.user[1:], s.user + "\u200b"} {
			if code, ec := change(as, s.pass, "Spelled-Pass-1a!"); code != http.StatusBadRequest || ec != "IAM.1103" {
				t.Fatalf("change as %q with the user's own password: %d %s, want 400 IAM.1103", as, code, ec)
			}
		}
		// Failures under another spelling count against nobody: more than any lockout allows.
		for i := range 7 {
			if code, ec := change(upper, fmt.Sprintf("Wrong-Pass-%da!", i), "Spelled-Pass-2b!"); ec != "IAM.1103" {
				t.Fatalf("wrong password %d as %q: %d %s", i+1, upper, code, ec)
			}
		}
		if !s.holds(t, s.user, s.pass) {
			t.Fatal("the user's password changed, or the user is locked")
		}
		const next = "Names-Next-Pass1!"
		if code, ec := change(s.user, s.pass, next); code != http.StatusOK {
			t.Fatalf("the user's own change: %d %s", code, ec)
		}
		s.pass = next
		for _, l := range eventLines(t, s.logs, "password_change") {
			if l["outcome"] == "OK" && l["user"] != s.user {
				t.Fatalf("audit line names %v for the change of %s", l["user"], s.user)
			}
		}
	})

	const key, secret = "LTAInamesKEY", "names-secret-0123456789"
	t.Run("ResetOtherSpellingIsUnknown", func(t *testing.T) {
		code, b := rpc(t, rpcH, key, secret, resetParams(s.cluster, upper, "Upper-Reset-1a!"))
		if code != http.StatusNotAcceptable || b.Code != "AgentError.Account.UserNotExist" || len(b.Results) != 1 || b.Results[0].Name != upper {
			t.Fatalf("reset of %q: %d %+v, want UserNotExist", upper, code, b)
		}
		if !s.holds(t, s.user, s.pass) {
			t.Fatal("a reset of another spelling changed the user's password")
		}
	})
	t.Run("ResetFullwidthIsInvalid", func(t *testing.T) {
		code, b := rpc(t, rpcH, key, secret, resetParams(s.cluster, fullwidth(s.user), "Wide-Reset-1a!"))
		if code != http.StatusBadRequest || b.Code != "InvalidParams" || !strings.Contains(b.Message, "User.1.Name") {
			t.Fatalf("reset of the fullwidth name: %d %+v, want InvalidParams User.1.Name", code, b)
		}
	})
	t.Run("BatchNamesOnePersonOnce", func(t *testing.T) {
		code, b := rpc(t, rpcH, key, secret, resetParams(s.cluster, s.user, "Batch-Lower-1a!", upper, "Batch-Upper-2b!"))
		if s.exact {
			// Two names of the embedded store: the second holds no account.
			if code != http.StatusConflict || b.Code != "PartFailure" || len(b.Results) != 2 ||
				b.Results[0].Code != "Success" || b.Results[1].Code != "AgentError.Account.UserNotExist" {
				t.Fatalf("batch %s, %s: %d %+v", s.user, upper, code, b)
			}
			s.pass = "Batch-Lower-1a!"
		} else if code != http.StatusBadRequest || b.Code != "InvalidParams" || !strings.Contains(b.Message, "User.2.Name") ||
			!strings.Contains(b.Recommend, "repeats entry 1") {
			t.Fatalf("batch %s, %s: %d %+v, want InvalidParams User.2.Name repeating entry 1", s.user, upper, code, b)
		}
		if !s.holds(t, s.user, s.pass) {
			t.Fatal("the user does not hold the password the batch reported")
		}
		for _, l := range eventLines(t, s.logs, "audit") {
			if l["outcome"] == "Success" && l["user"] != s.user {
				t.Fatalf("audit line names %v for a reset of %s", l["user"], s.user)
			}
		}
	})
}

// namesApp returns an App on yml's directories with the names test's token and admin keys.
func namesApp(tb testing.TB, directories string, logs *logtest.Buffer) *App {
	tb.Helper()
	yml := fmt.Sprintf(`
store: {path: %s, max_failures: 3, argon2: {time: 1, memory_kib: 64, threads: 1}}
tokens: {hs256_secret: names-jwt-secret-0123456789-0123456789}
access_keys:
  - {id: LTAInamesKEY, secret: names-secret-0123456789, actions: ["*"], clusters: ["*"]}
%s`, filepath.Join(tb.TempDir(), "names.db"), directories)
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		tb.Fatal(err)
	}
	a := New(cfg, NewLogger(logs, "names", "info"))
	tb.Cleanup(func() { a.Close() })
	return a
}

// TestOneNameOnePersonEmbedded runs the names scenario on the embedded store.
func TestOneNameOnePersonEmbedded(t *testing.T) {
	logs := &logtest.Buffer{}
	a := namesApp(t, `
users: [{name: alice, password: "Alice-Names-Pass1!"}]
clusters: {emb: {directory: embedded, status: running}}
`, logs)
	runNames(t, namesScenario{
		app: a, logs: logs, cluster: "emb", user: "alice", pass: "Alice-Names-Pass1!", exact: true,
		holds: func(tb testing.TB, name, pw string) bool {
			s, err := a.Store(context.Background())
			if err != nil {
				tb.Fatal(err)
			}
			// A change to itself is refused as reuse only after the old password is proven.
			return password.ErrorCode(s.ChangePassword(context.Background(), name, pw, pw)) == password.EPOLICY
		},
	})
}

// TestOneNameOnePersonLDAP runs the names scenario on slapd, whose uid matching
// takes ALICE and fullwidth ａｌｉｃｅ for alice.
func TestOneNameOnePersonLDAP(t *testing.T) {
	e := ldaptest.Require(t)
	t.Setenv("CHPASS_NAMES_BIND_PASSWORD", e.AdminPassword)
	logs := &logtest.Buffer{}
	u := e.FreshUsers(t, 1, "")[0]
	a := namesApp(t, fmt.Sprintf(`
self_service: {directory: corp}
directories:
  corp:
    type: ldap
    ldap:
      url: %s
      start_tls: true
      ca_file: %s
      bind_dn: %s
      bind_password: ${CHPASS_NAMES_BIND_PASSWORD}
      user_dn_template: uid=%%s,%s
clusters: {ldap: {directory: corp, status: running}}
`, e.URL, e.CA, e.AdminDN, e.People), logs)
	runNames(t, namesScenario{
		app: a, logs: logs, cluster: "ldap", user: u.Name, pass: u.Password,
		holds: func(tb testing.TB, name, pw string) bool { return e.Bind(tb, name, pw) },
	})
}
