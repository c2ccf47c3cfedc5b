package ldap

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/ldap/ldaptest"
	"chpass/shared/password"
	"chpass/shared/password/directorytest"
)

// slapdEnv is the test slapd, with the adapter configurations under test.
type slapdEnv struct{ ldaptest.Env }

// requireSlapd returns the test server's settings; see ldaptest.Require.
func requireSlapd(tb testing.TB) slapdEnv {
	tb.Helper()
	return slapdEnv{ldaptest.Require(tb)}
}

// Adapter configurations under test.
func (e slapdEnv) startTLS() Config {
	return Config{
		URL: e.URL, StartTLS: true, CAFile: e.CA, BindDN: e.AdminDN, BindPassword: e.AdminPassword,
		UserSearch:       &UserSearch{Base: e.People, Filter: "(&(objectClass=inetOrgPerson)(uid=%s))", Scope: "one"},
		ShadowLastChange: true,
	}
}

func (e slapdEnv) ldaps() Config {
	return Config{
		URL: e.LDAPSURL, CAFile: e.CA, BindDN: e.AdminDN, BindPassword: e.AdminPassword,
		UserDNTemplate: "uid=%s," + e.People,
	}
}

func (e slapdEnv) plain() Config {
	return Config{
		URL: e.URL, InsecurePlain: true, BindDN: e.AdminDN, BindPassword: e.AdminPassword,
		UserDNTemplate: "uid=%s," + e.People,
	}
}

func newDirectory(tb testing.TB, cfg Config) *Directory {
	tb.Helper()
	d, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	return d
}

// contract runs the directory contract suite on cfg, with fresh users per test.
func contract(t *testing.T, e slapdEnv, cfg Config) {
	d := newDirectory(t, cfg)
	directorytest.Run(t, func(t *testing.T) directorytest.Fixture {
		return directorytest.Fixture{
			Directory:   d,
			Users:       e.FreshUsers(t, 4, ""),
			History:     3, // pwdInHistory of cn=default
			MaxFailures: 5, // pwdMaxFailure of cn=default
		}
	})
}

func TestContractStartTLSSearch(t *testing.T) {
	e := requireSlapd(t)
	contract(t, e, e.startTLS())
}

func TestContractLDAPSTemplate(t *testing.T) {
	e := requireSlapd(t)
	contract(t, e, e.ldaps())
}

func TestContractModifyFallback(t *testing.T) {
	e := requireSlapd(t)
	cfg := e.startTLS()
	no := false
	cfg.UseExop = &no
	contract(t, e, cfg)
}

func TestPlainRefusedWithoutInsecurePlain(t *testing.T) {
	e := requireSlapd(t)
	cfg := e.plain()
	cfg.InsecurePlain = false
	if _, err := New(cfg); err == nil {
		t.Fatal("New accepted ldap:// without start_tls or insecure_plain")
	}
	// With it, plain LDAP works.
	d := newDirectory(t, e.plain())
	u := e.FreshUsers(t, 1, "")[0]
	if err := d.ChangePassword(context.Background(), u.Name, u.Password, "Plain-Pass-1"); err != nil {
		t.Fatal(err)
	}
}

func TestTLSVerification(t *testing.T) {
	e := requireSlapd(t)
	u := e.FreshUsers(t, 1, "")[0]
	cases := map[string]Config{}
	cfg := e.ldaps()
	cfg.CAFile = "" // the system roots do not know the test CA
	cases["ldaps/unknown CA"] = cfg
	cfg = e.startTLS()
	cfg.CAFile = ""
	cases["starttls/unknown CA"] = cfg
	cfg = e.ldaps()
	cfg.ServerName = "not-this-server.example"
	cases["ldaps/wrong name"] = cfg
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDirectory(t, cfg)
			err := d.ChangePassword(context.Background(), u.Name, u.Password, "Tls-Pass-1")
			if got := password.ErrorCode(err); got != password.EINTERNAL {
				t.Fatalf("got %q (%v), want %q: a certificate refusal is a configuration error", got, err, password.EINTERNAL)
			}
			err = d.ResetPassword(context.Background(), u.Name, "Tls-Pass-2")
			if got := password.ErrorCode(err); got != password.EINTERNAL {
				t.Fatalf("reset: got %q (%v), want %q", got, err, password.EINTERNAL)
			}
		})
	}
}

// TestDirectoryRefusals checks each row of the ppolicy table of directories.md
// against the real server.
func TestDirectoryRefusals(t *testing.T) {
	e := requireSlapd(t)
	d := newDirectory(t, e.startTLS())
	ctx := context.Background()
	type check func(t *testing.T, u directorytest.Account) error
	cases := []struct {
		name, policy string
		run          check
		code, rule   string
	}{
		{"TooShortOnChange", "", func(t *testing.T, u directorytest.Account) error {
			return d.ChangePassword(ctx, u.Name, u.Password, "Sh0rt!")
		}, password.EPOLICY, password.RuleMinLength},
		{"TooShortOnReset", "", func(t *testing.T, u directorytest.Account) error {
			return d.ResetPassword(ctx, u.Name, "Sh0rt!")
		}, password.EPOLICY, password.RuleMinLength},
		{"HistoryOnReset", "", func(t *testing.T, u directorytest.Account) error {
			return d.ResetPassword(ctx, u.Name, u.Password)
		}, password.EPOLICY, password.RuleReusePrevention},
		{"TooYoung", "minage", func(t *testing.T, u directorytest.Account) error {
			// Adding the entry set pwdChangedTime: the password is already too young.
			return d.ChangePassword(ctx, u.Name, u.Password, "Young-Pass-1")
		}, password.EPOLICY, password.RuleMinAge},
		{"SelfChangeNotAllowed", "nochange", func(t *testing.T, u directorytest.Account) error {
			return d.ChangePassword(ctx, u.Name, u.Password, "Nochange-Pass-1")
		}, password.EFORBIDDEN, ""},
		{"ResetNeedsOldPassword", "safemodify", func(t *testing.T, u directorytest.Account) error {
			return d.ResetPassword(ctx, u.Name, "Safemodify-Pass-1")
		}, password.EFORBIDDEN, ""},
		{"Expired", "expire", func(t *testing.T, u directorytest.Account) error {
			time.Sleep(2100 * time.Millisecond) // pwdMaxAge is 1s; pwdChangedTime has 1s resolution
			return d.ChangePassword(ctx, u.Name, u.Password, "Expired-Pass-1")
		}, password.EFORBIDDEN, ""},
		{"ExpiredWrongPassword", "expire", func(t *testing.T, u directorytest.Account) error {
			time.Sleep(2100 * time.Millisecond)
			return d.ChangePassword(ctx, u.Name, u.Password+"x", "Expired-Pass-1")
		}, password.EUNAUTHORIZED, ""},
		{"SafeModifySelfChangeWorks", "safemodify", func(t *testing.T, u directorytest.Account) error {
			return d.ChangePassword(ctx, u.Name, u.Password, "Safemodify-Pass-2")
		}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := e.FreshUsers(t, 1, tc.policy)[0]
			err := tc.run(t, u)
			if got := password.ErrorCode(err); got != tc.code {
				t.Fatalf("got %q (%v), want %q", got, err, tc.code)
			}
			if tc.rule != "" {
				vs := password.ErrorViolations(err)
				if len(vs) != 1 || vs[0].Rule != tc.rule {
					t.Fatalf("violations %+v, want exactly %q", vs, tc.rule)
				}
			}
		})
	}
}

func TestLookupShowsLockout(t *testing.T) {
	e := requireSlapd(t)
	d := newDirectory(t, e.ldaps())
	ctx := context.Background()
	u := e.FreshUsers(t, 1, "")[0]
	for range 5 {
		_ = d.ChangePassword(ctx, u.Name, "Wrong-Pass-0", "Never-Set-1")
	}
	got, err := d.LookupUser(ctx, u.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Locked || got.ID == "" || got.GroupID != "100" || got.Created.IsZero() {
		t.Fatalf("LookupUser = %+v, want locked with ID, GroupID and Created", got)
	}
	// The service account can still reset a locked user's password.
	if err := d.ResetPassword(ctx, u.Name, "Unlocked-Pass-1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.LookupUser(ctx, u.Name); got.PasswordChangedAt.IsZero() {
		t.Fatalf("PasswordChangedAt is zero after a reset: %+v", got)
	}
}

func TestListUsers(t *testing.T) {
	e := requireSlapd(t)
	for name, cfg := range map[string]Config{"search": e.startTLS(), "template": e.ldaps()} {
		t.Run(name, func(t *testing.T) {
			d := newDirectory(t, cfg)
			all, total, err := d.ListUsers(context.Background(), 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if total < 126 || len(all) != total {
				t.Fatalf("ListUsers: %d of %d, want all of at least 126 (the fixtures)", len(all), total)
			}
			page, total2, err := d.ListUsers(context.Background(), 10, 25)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) != 25 || total2 != total || page[0].Name != all[10].Name || page[24].Name != all[34].Name {
				t.Fatalf("page 10+25: %d users of %d starting %q", len(page), total2, page[0].Name)
			}
			tail, _, err := d.ListUsers(context.Background(), total-1, 100)
			if err != nil || len(tail) != 1 {
				t.Fatalf("tail: %d users, %v", len(tail), err)
			}
		})
	}
}

// TestUnavailable needs no server: nothing listens on port 1.
func TestUnavailable(t *testing.T) {
	cfg := Config{
		URL: "ldap://127.0.0.1:1", InsecurePlain: true, BindDN: "cn=x", BindPassword: "x",
		UserDNTemplate: "uid=%s,dc=example,dc=test", Retries: 2, DialTimeout: 200 * time.Millisecond,
	}
	d := newDirectory(t, cfg)
	ctx := context.Background()
	start := time.Now()
	if got := password.ErrorCode(d.ResetPassword(ctx, "alice", "Whatever-Pass-1")); got != password.EUNAVAILABLE {
		t.Fatalf("reset: %q, want %q", got, password.EUNAVAILABLE)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Errorf("2 retries took %v: no backoff?", time.Since(start))
	}
	if got := password.ErrorCode(d.ChangePassword(ctx, "alice", "Alice-Pass-1", "Whatever-Pass-1")); got != password.EUNAVAILABLE {
		t.Fatalf("change: %q, want %q", got, password.EUNAVAILABLE)
	}
	_, err := d.LookupUser(ctx, "alice")
	if got := password.ErrorCode(err); got != password.EUNAVAILABLE {
		t.Fatalf("lookup: %q, want %q", got, password.EUNAVAILABLE)
	}
}

func TestCloseThenUse(t *testing.T) {
	e := requireSlapd(t)
	d := newDirectory(t, e.ldaps())
	u := e.FreshUsers(t, 1, "")[0]
	if err := d.ResetPassword(context.Background(), u.Name, "Close-Pass-1"); err != nil {
		t.Fatal(err)
	}
	_ = d.Close()
	if got := password.ErrorCode(d.ResetPassword(context.Background(), u.Name, "Close-Pass-2")); got != password.EUNAVAILABLE {
		t.Fatalf("after Close: %q, want %q", got, password.EUNAVAILABLE)
	}
	if got := password.ErrorCode(d.ChangePassword(context.Background(), u.Name, "Close-Pass-1", "Close-Pass-3")); got != password.EUNAVAILABLE {
		t.Fatalf("change after Close: %q, want %q", got, password.EUNAVAILABLE)
	}
}

func TestDeadline(t *testing.T) {
	e := requireSlapd(t)
	d := newDirectory(t, e.ldaps())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := password.ErrorCode(d.ResetPassword(ctx, "alice", "Deadline-Pass-1")); got != password.ECANCELED {
		t.Fatalf("reset with a canceled context: %q, want %q", got, password.ECANCELED)
	}
}

// TestNoPasswordInErrors runs failing operations with canary passwords and looks
// for them in every error text.
func TestNoPasswordInErrors(t *testing.T) {
	e := requireSlapd(t)
	ctx := context.Background()
	const canary = "Canary-7f3a9-Pass"
	for name, cfg := range map[string]Config{"exop": e.startTLS(), "modify": func() Config {
		c := e.startTLS()
		no := false
		c.UseExop = &no
		return c
	}()} {
		t.Run(name, func(t *testing.T) {
			var warned []error
			cfg.Warn = func(err error) { warned = append(warned, err) }
			d := newDirectory(t, cfg)
			u := e.FreshUsers(t, 1, "")[0]
			young := e.FreshUsers(t, 1, "minage")[0]
			errs := []error{
				d.ChangePassword(ctx, u.Name, canary+"-old", canary+"-new"),
				d.ChangePassword(ctx, u.Name, u.Password, "C4n!"),
				d.ChangePassword(ctx, u.Name, u.Password, u.Password),
				d.ChangePassword(ctx, u.Name+"-nobody", canary+"-old", canary+"-new"),
				d.ChangePassword(ctx, young.Name, young.Password, canary+"-young"),
				d.ResetPassword(ctx, u.Name, "C4n!"),
				d.ResetPassword(ctx, u.Name+"-nobody", canary+"-reset"),
			}
			errs = append(errs, warned...)
			for i, err := range errs {
				if err == nil {
					t.Errorf("case %d: no error", i)
					continue
				}
				for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), password.ErrorMessage(err)} {
					if strings.Contains(s, canary) || strings.Contains(s, "C4n!") || strings.Contains(s, u.Password) {
						t.Errorf("case %d: the error shows a password: %s", i, s)
					}
				}
			}
		})
	}
}

func TestShadowLastChange(t *testing.T) {
	e := requireSlapd(t)
	var warned []error
	cfg := e.startTLS()
	cfg.Warn = func(err error) { warned = append(warned, err) }
	d := newDirectory(t, cfg)
	ctx := context.Background()
	users := e.FreshUsers(t, 2, "")
	today := fmt.Sprint(time.Now().Unix() / 86400)
	read := func(name string) string {
		c := e.RootConn(t)
		defer c.Close()
		res, err := c.Search(goldap.NewSearchRequest("uid="+name+","+e.People, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			1, 0, false, "(objectClass=*)", []string{"shadowLastChange"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		return res.Entries[0].GetAttributeValue("shadowLastChange")
	}
	if err := d.ChangePassword(ctx, users[0].Name, users[0].Password, "Shadow-Pass-1"); err != nil {
		t.Fatal(err)
	}
	if err := d.ResetPassword(ctx, users[1].Name, "Shadow-Pass-2"); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if got := read(u.Name); got != today {
			t.Errorf("%s: shadowLastChange %q, want %q", u.Name, got, today)
		}
	}
	if len(warned) > 0 {
		t.Errorf("warnings: %v", warned)
	}
}

// cutProxy forwards TCP connections to an LDAP server and can cut them all, as a
// server restart or an idle timeout would.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestPoolSurvivesDroppedConnections: after the server drops every pooled
// connection, the next operations redial instead of failing.
func TestPoolSurvivesDroppedConnections(t *testing.T) {
	e := requireSlapd(t)
	u, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	cfg := e.plain()
	cfg.URL = "ldap://" + proxy.ln.Addr().String()
	cfg.Retries = 1
	d := newDirectory(t, cfg)
	ctx := context.Background()
	users := e.FreshUsers(t, 4, "")
	var wg sync.WaitGroup
	for i, u := range users { // fill the pool with several connections
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.ResetPassword(ctx, u.Name, fmt.Sprintf("Pool-Pass-%d-1", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for round := 2; round <= 4; round++ {
		proxy.cut()
		// Let the connections' readers see the close, as they would have long
		// before reuse after a restart or an idle timeout. (A connection that
		// drops while a change is in flight is EUNAVAILABLE and not retried: the
		// server may have applied the change.)
		time.Sleep(50 * time.Millisecond)
		for i, u := range users {
			if err := d.ResetPassword(ctx, u.Name, fmt.Sprintf("Pool-Pass-%d-%d", i, round)); err != nil {
				t.Fatalf("round %d, reset after the connections dropped: %v", round, err)
			}
			if _, err := d.LookupUser(ctx, u.Name); err != nil {
				t.Fatalf("round %d, lookup after the connections dropped: %v", round, err)
			}
		}
	}
}

// TestServiceAccountRefused: a wrong service account password is a configuration
// error (EINTERNAL) on every path, never "wrong password" for the user.
func TestServiceAccountRefused(t *testing.T) {
	e := requireSlapd(t)
	u := e.FreshUsers(t, 1, "")[0]
	cfg := e.startTLS()
	cfg.BindPassword = "not-the-service-password"
	d := newDirectory(t, cfg)
	ctx := context.Background()
	if got := password.ErrorCode(d.ChangePassword(ctx, u.Name, u.Password, "Svc-Pass-1")); got != password.EINTERNAL {
		t.Errorf("change: %q, want %q", got, password.EINTERNAL)
	}
	if got := password.ErrorCode(d.ResetPassword(ctx, u.Name, "Svc-Pass-2")); got != password.EINTERNAL {
		t.Errorf("reset: %q, want %q", got, password.EINTERNAL)
	}
	if _, err := d.LookupUser(ctx, u.Name); password.ErrorCode(err) != password.EINTERNAL {
		t.Errorf("lookup: %q, want %q", password.ErrorCode(err), password.EINTERNAL)
	}
}
