package main

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"chpass/functions/internal/setup"
	"chpass/shared/config"
	"chpass/shared/iamapi/oidctest"
	"chpass/shared/ldap/ldaptest"
	"chpass/shared/password"
)

// chromium returns the path of Debian's chromium, skipping the test without it
// (failing under CI=true).
func chromium(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal("chromium is missing: make test installs it (functions/local/testdata/chromium.sh)")
		}
		tb.Skip("chromium is not installed; make test installs it")
	}
	return p
}

// browser starts a headless chromium for the test, with the flags this machine
// needs (no sandbox as root, no background network).
func browser(tb testing.TB) context.Context {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(tb)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(900, 1100),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	tb.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	tb.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	tb.Cleanup(cancel3)
	return ctx
}

// shot saves a PNG screenshot of the page's state under .cache/page/.
func shot(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "..", ".cache", "page")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// pageApp is the local server's handler with the page on, tokens from the
// in-process provider, and self-service in the directory selfService.
func pageApp(tb testing.TB, p *oidctest.Provider, selfService, extra string) *setup.App {
	tb.Helper()
	yml := fmt.Sprintf(`
store: {path: %s}
self_service: {directory: %s}
tasks: {key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=}
tokens: {issuer: %s, audience: %s, user_claim: preferred_username}
page: {path: /portal/, client_id: %s}
%s`, filepath.Join(tb.TempDir(), "page.db"), selfService, p.Issuer(), p.ClientID(), p.ClientID(), extra)
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		tb.Fatal(err)
	}
	a := setup.New(cfg, setup.NewLogger(io.Discard, "local", "info"))
	tb.Cleanup(func() { a.Close() })
	return a
}

// walkPage drives the page in chromium: sign in at the provider, see the rules,
// type a weak password and see its violations, then a good one and see success.
func walkPage(t *testing.T, a *setup.App, p *oidctest.Provider, name, oldPW, weak, good, shots string) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := serve(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := browser(t)
	p.QueueUser(oidctest.User{Subject: "sub-" + name, PreferredUsername: name})
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(b, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) []string {
		t.Helper()
		v, err := chromedp.Run(b, chromedp.Evaluate[[]string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	class := func(id string) string {
		t.Helper()
		v, err := chromedp.Run(b, chromedp.AttributeValue(chromedp.ID(id), "class"))
		if err != nil {
			t.Fatal(err)
		}
		return v.Value
	}

	do("the page offers to sign in", chromedp.Navigate(srv.URL+"/portal/"), chromedp.WaitVisible(chromedp.ID("signin-button")))
	shot(t, b, shots+"-1-signin")
	do("signing in", chromedp.Click(chromedp.ID("signin-button")), chromedp.WaitVisible(chromedp.ID("form")))
	who, err := chromedp.Run(b, chromedp.Text(chromedp.ID("who")))
	if err != nil {
		t.Fatal(err)
	}
	rules := eval(`[...document.querySelectorAll("#rules li")].map(li => li.dataset.rule)`)
	if !strings.Contains(who, name) || !contains(rules, password.RuleMinLength) || !contains(rules, password.RuleCharCombination) {
		t.Fatalf("after sign-in: who %q, rules %v", who, rules)
	}
	if p.TokenRequests() == 0 {
		t.Fatal("the page never reached the provider's token endpoint")
	}
	shot(t, b, shots+"-2-rules")

	// Typing: the length rule ticks live, before anything is sent.
	do("typing", chromedp.SendKeys(chromedp.ID("old"), oldPW), chromedp.SendKeys(chromedp.ID("new"), weak))
	if c := class("rule-minimum_password_length"); c != "fail" {
		t.Errorf("the length rule reads %q for a short password, want fail", c)
	}
	shot(t, b, shots+"-3-typing")

	// Submitting the weak one: the server's violations are shown.
	do("submitting a weak password", chromedp.SendKeys(chromedp.ID("confirm"), weak), chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.CSS("#violations li")))
	if v := eval(`[...document.querySelectorAll("#violations li")].map(li => li.dataset.rule)`); !contains(v, password.RuleMinLength) {
		t.Errorf("violations shown %v, want %s among them", v, password.RuleMinLength)
	}
	shot(t, b, shots+"-4-violations")

	eval(`["new", "confirm"].map(id => { document.getElementById(id).value = ""; return id; })`)
	do("typing a good password", chromedp.SendKeys(chromedp.ID("new"), good), chromedp.SendKeys(chromedp.ID("confirm"), good))
	if c := class("rule-minimum_password_length"); c != "ok" {
		t.Errorf("the length rule reads %q for a good password, want ok", c)
	}
	do("submitting a good password", chromedp.Click(chromedp.ID("submit")), chromedp.WaitVisible(chromedp.CSS("#result.success")))
	result, err := chromedp.Run(b, chromedp.Text(chromedp.ID("result")))
	if err != nil || !strings.Contains(result, "changed") {
		t.Errorf("result %q (%v)", result, err)
	}
	shot(t, b, shots+"-5-success")
}

func contains(s []string, v string) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

// TestPageInBrowserEmbedded walks the page in chromium and then proves the
// embedded store holds the new password.
func TestPageInBrowserEmbedded(t *testing.T) {
	chromium(t)
	p := oidctest.Start(t)
	a := pageApp(t, p, "embedded", "users: [{name: alice, password: Old-page-Pw1!}]\n")
	walkPage(t, a, p, "alice", "Old-page-Pw1!", "abc", "New-page-Pw2?x", "embedded")
	s, err := a.Store(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ChangePassword(context.Background(), "alice", "New-page-Pw2?x", "Third-page-Pw3#"); err != nil {
		t.Fatalf("the store does not hold the password set through the page: %v", err)
	}
}

// TestPageInBrowserSlapd walks the page against slapd, then binds as the user
// with the new password.
func TestPageInBrowserSlapd(t *testing.T) {
	chromium(t)
	e := ldaptest.Require(t)
	t.Setenv("CHPASS_PAGE_BIND_PASSWORD", e.AdminPassword)
	p := oidctest.Start(t)
	u := e.FreshUsers(t, 1, "")[0]
	extra := fmt.Sprintf(`directories:
  corp:
    type: ldap
    ldap:
      url: %s
      start_tls: true
      ca_file: %s
      bind_dn: %s
      bind_password: ${CHPASS_PAGE_BIND_PASSWORD}
      user_dn_template: uid=%%s,%s
`, e.URL, e.CA, e.AdminDN, e.People)
	a := pageApp(t, p, "corp", extra)
	good := "Page-Slapd-Pw9?" + u.Name[len(u.Name)-4:]
	walkPage(t, a, p, u.Name, u.Password, "abc", good, "slapd")
	if !e.Bind(t, u.Name, good) {
		t.Fatal("slapd does not accept the password set through the page")
	}
}

// TestPageExpiredInBrowser: with forgotten.old_password on, the page offers
// the expired-password form without sign-in; chromium fills in the user name,
// the old password and a new one, the page shows success, and the embedded
// store then holds the new password.
func TestPageExpiredInBrowser(t *testing.T) {
	chromium(t)
	p := oidctest.Start(t)
	a := pageApp(t, p, "embedded", "users: [{name: carol, password: Old-exp-Pw1!}]\nforgotten: {old_password: {}}\n")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := serve(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := browser(t)
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(b, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	good := "New-exp-Pw2?x"
	do("the page offers the expired-password form", chromedp.Navigate(srv.URL+"/portal/"), chromedp.WaitVisible(chromedp.ID("expired-button")))
	shot(t, b, "expired-1-offer")
	do("opening it", chromedp.Click(chromedp.ID("expired-button")), chromedp.WaitVisible(chromedp.ID("user")))
	do("a wrong old password", chromedp.SendKeys(chromedp.ID("user"), "carol"), chromedp.SendKeys(chromedp.ID("old"), "Wrong-exp-Pw1!"),
		chromedp.SendKeys(chromedp.ID("new"), good), chromedp.SendKeys(chromedp.ID("confirm"), good), chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.CSS("#violations p")))
	shot(t, b, "expired-2-wrong")
	if v, err := chromedp.Run(b, chromedp.Text(chromedp.ID("violations"))); err != nil || !strings.Contains(v, "old password is wrong") {
		t.Errorf("a wrong old password shows %q (%v), want that it is wrong", v, err)
	}
	if _, err := chromedp.Run(b, chromedp.Evaluate[string](`document.getElementById("old").value = ""`)); err != nil {
		t.Fatal(err)
	}
	do("the right old password", chromedp.SendKeys(chromedp.ID("old"), "Old-exp-Pw1!"),
		chromedp.Click(chromedp.ID("submit")), chromedp.WaitVisible(chromedp.CSS("#result.success")))
	shot(t, b, "expired-3-success")
	s, err := a.Store(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ChangePassword(context.Background(), "carol", good, "Third-exp-Pw3#"); err != nil {
		t.Fatalf("the store does not hold the password set through the page: %v", err)
	}
}

// TestPageResetInBrowser: with forgotten.idp on, the page offers the
// forgotten-password path; chromium signs in again at the provider (a fresh
// sign-in with a strong method: auth_time now, amr mfa), the page asks for no
// old password, the reset succeeds, and the embedded store then holds the new
// password.
func TestPageResetInBrowser(t *testing.T) {
	chromium(t)
	p := oidctest.Start(t)
	a := pageApp(t, p, "embedded", "users: [{name: dave, password: Old-rst-Pw1!}]\nforgotten: {idp: {max_age: 10m, amr: [mfa]}}\n")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := serve(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := browser(t)
	p.QueueUser(oidctest.User{Subject: "sub-dave", PreferredUsername: "dave", AuthTime: time.Now(), AMR: []string{"pwd", "mfa"}})
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(b, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	good := "New-rst-Pw2?x"
	do("the page offers the forgotten-password path", chromedp.Navigate(srv.URL+"/portal/"), chromedp.WaitVisible(chromedp.ID("reset-button")))
	shot(t, b, "reset-1-offer")
	do("signing in again", chromedp.Click(chromedp.ID("reset-button")), chromedp.WaitVisible(chromedp.ID("form")))
	if v, err := chromedp.Run(b, chromedp.Evaluate[bool](`document.getElementById("old-field").hidden`)); err != nil || !v {
		t.Fatalf("the reset form asks for the old password (hidden %v, %v)", v, err)
	}
	do("a new password", chromedp.SendKeys(chromedp.ID("new"), good), chromedp.SendKeys(chromedp.ID("confirm"), good),
		chromedp.Click(chromedp.ID("submit")), chromedp.WaitVisible(chromedp.CSS("#result.success")))
	shot(t, b, "reset-2-success")
	s, err := a.Store(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ChangePassword(context.Background(), "dave", good, "Third-rst-Pw3#"); err != nil {
		t.Fatalf("the store does not hold the password set through the page: %v", err)
	}
}
