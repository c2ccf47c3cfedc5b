package setup_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"

	"chpass/shared/config"
	"chpass/shared/ldap/ldaptest"
	"chpass/shared/logtest"
)

// ldapConfig is a configuration whose cluster ehpc-corp lives in the LDAP
// directory corp, with ldap settings settings.
func ldapConfig(tb testing.TB, settings string) string {
	tb.Helper()
	return "store: {path: " + filepath.Join(tb.TempDir(), "s.db") + "}\n" +
		"access_keys:\n  - {id: AKADMIN1, secret: s3cret-admin-key, actions: ['*'], clusters: ['*']}\n" +
		"directories:\n  corp:\n    type: ldap\n    ldap: " + settings + "\n" +
		"clusters:\n  ehpc-corp: {directory: corp, status: running}\n"
}

// TestLDAPConfigErrorIsPlain: settings that do not fit together refuse the start
// with one plain line naming the key, as the configuration's other errors do,
// and no JSON error line.
func TestLDAPConfigErrorIsPlain(t *testing.T) {
	t.Setenv(ConfigYAMLEnv, ldapConfig(t, `{url: "ldaps://127.0.0.1:1", bind_dn: "cn=svc", bind_password: x}`))
	var stdout, stderr bytes.Buffer
	build := func(ctx context.Context, a *App) (http.Handler, error) {
		return ehpc.ModifyUserPasswords(ctx, a, ehpc.NoAsync)
	}
	code := Run(context.Background(), "modify-user-passwords", HTTP(build), []string{"-config", "", "-event", "x.json"}, &stdout, &stderr)
	want := "modify-user-passwords: config CHPASS_CONFIG_YAML: directories[corp].ldap.user_search: set exactly one of user_search and user_dn_template\n"
	if code != 1 || stderr.String() != want {
		t.Fatalf("exit %d\nstderr: %q\nwant:   %q", code, stderr.String(), want)
	}
}

// TestUnreachableDirectoryLoggedOnce: on the clouds nothing connects at start; the
// first failure to reach a directory is logged with the directory's name, once.
func TestUnreachableDirectoryLoggedOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg, err := config.Parse(context.Background(), strings.NewReader(ldapConfig(t,
		`{url: "ldap://`+addr+`", insecure_plain: true, bind_dn: "cn=svc", bind_password: x, user_dn_template: "uid=%s,ou=people", retries: 0}`)))
	if err != nil {
		t.Fatal(err)
	}
	var logs logtest.Buffer
	a := New(cfg, NewLogger(&logs, "modify-user-passwords", "info"))
	defer a.Close()
	if _, err := ehpc.ModifyUserPasswords(context.Background(), a, ehpc.NoAsync); err != nil {
		t.Fatal(err)
	}
	if logs.String() != "" {
		t.Fatalf("building the function logged (it must not connect at start):\n%s", logs.String())
	}
	d, err := a.Directory(context.Background(), "corp")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := d.ResetPassword(context.Background(), "alice", "New-Pass-123!"); err == nil {
			t.Fatal("a reset reached a closed port")
		}
	}
	var warnings []map[string]any
	for _, l := range logs.Lines(t) {
		if l["level"] == "warn" {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 1 || warnings[0]["directory"] != "corp" || !strings.Contains(warnings[0]["error"].(string), addr) {
		t.Fatalf("want one warning naming corp and %s; logs:\n%s", addr, logs.String())
	}
}

// TestReachableDirectoryPings: the start check of the local server passes for the
// test slapd (StartTLS, the service account), so it warns only when it should.
func TestReachableDirectoryPings(t *testing.T) {
	e := ldaptest.Require(t)
	var logs logtest.Buffer
	a := ldapApp(t, e)
	a.Logger = NewLogger(&logs, "local", "info")
	d, err := a.Directory(context.Background(), "corp")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := d.(interface{ Ping(context.Context) error })
	if !ok {
		t.Fatalf("%T has no Ping", d)
	}
	if err := p.Ping(context.Background()); err != nil {
		t.Fatalf("Ping of the test slapd: %v", err)
	}
	if strings.Contains(logs.String(), `"level":"warn"`) {
		t.Fatalf("a reachable directory was warned about:\n%s", logs.String())
	}
}
