package iamapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"chpass/shared/iamapi"
	"chpass/shared/iamapi/oidctest"
	"chpass/shared/password"
	"chpass/shared/password/eventstest"
)

func resetReq(tok, newP string) *http.Request {
	r := post(`{"new_password":"` + newP + `"}`)
	r.URL.Path = iamapi.ResetPath
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

// TestIdPReset: a person who signed in at the provider minutes ago with a
// second factor sets a new password without the old one; chpass resets that
// one account, audits it and publishes an idp_reset event. A stale sign-in, a
// password-only sign-in, an AK/SK caller, a flood and the feature left off are
// refused.
func TestIdPReset(t *testing.T) {
	p := oidctest.Start(t)
	now := time.Now()
	fresh := oidctest.User{Subject: "s-alice", PreferredUsername: user, AuthTime: now.Add(-2 * time.Minute), AMR: []string{"pwd", "otp"}}
	setup := func(tb testing.TB, rec *eventstest.Recorder, cfg iamapi.IdPResetConfig) *env {
		return newEnv(tb, func(o *iamapi.Options, d *fakeDir) {
			o.Tokens = iamapi.TokenConfig{Issuer: p.Issuer(), Audience: p.ClientID(), UserClaim: "preferred_username"}
			o.IdPReset = cfg
			o.Now = time.Now
			o.Service = password.NewService(password.DefaultPolicy(), d).WithEvents(rec, password.EventOptions{Directory: "corp"})
		})
	}
	on := iamapi.IdPResetConfig{MaxAge: 10 * time.Minute, AMR: []string{"mfa", "otp", "hwk"}, PerUserPerHour: 2}

	t.Run("Reset", func(t *testing.T) {
		rec := &eventstest.Recorder{}
		e := setup(t, rec, on)
		res := e.do(t, resetReq(p.IDToken(t, fresh), newPW))
		if res.status != http.StatusOK {
			t.Fatalf("%d %s %s", res.status, res.code, res.msg)
		}
		if e.dir.password(user) != newPW {
			t.Fatal("the password was not reset")
		}
		evs := rec.Events()
		if len(evs) != 1 || evs[0].Kind != password.KindIdPReset || evs[0].User != user || evs[0].Auth != iamapi.AuthToken {
			t.Errorf("events %+v", evs)
		}
		if !strings.Contains(e.log.String(), `"event":"password_reset_idp"`) || strings.Contains(e.log.String(), canary) {
			t.Error("no audit line, or a password in the log")
		}
	})
	refused := []struct {
		name string
		cfg  iamapi.IdPResetConfig
		u    oidctest.User
		code string
	}{
		{name: "StaleSignIn", cfg: on, u: oidctest.User{Subject: "s", PreferredUsername: user, AuthTime: now.Add(-time.Hour), AMR: []string{"otp"}}, code: iamapi.CodeReauthRequired},
		{name: "NoAuthTime", cfg: on, u: oidctest.User{Subject: "s", PreferredUsername: user, AMR: []string{"otp"}}, code: iamapi.CodeReauthRequired},
		{name: "PasswordOnly", cfg: on, u: oidctest.User{Subject: "s", PreferredUsername: user, AuthTime: now, AMR: []string{"pwd"}}, code: iamapi.CodeReauthRequired},
		{name: "ACRSuffices", cfg: iamapi.IdPResetConfig{MaxAge: time.Hour, ACR: []string{"urn:mace:incommon:iap:silver"}},
			u: oidctest.User{Subject: "s", PreferredUsername: user, AuthTime: now, ACR: "urn:mace:incommon:iap:silver"}},
		{name: "Off", u: fresh, code: iamapi.CodeNotFound},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, &eventstest.Recorder{}, tt.cfg)
			res := e.do(t, resetReq(p.IDToken(t, tt.u), newPW))
			if res.code != tt.code {
				t.Fatalf("%d %s, want %q", res.status, res.code, tt.code)
			}
			if changed := e.dir.password(user) == newPW; changed != (tt.code == "") {
				t.Fatalf("password changed = %v", changed)
			}
		})
	}
	t.Run("AKSKIsNotEnough", func(t *testing.T) {
		e := setup(t, &eventstest.Recorder{}, on)
		r := resetReq("", newPW)
		signRequest(t, r, akID, akSecret, time.Now())
		if res := e.do(t, r); res.code != iamapi.CodeUnauthenticated || e.dir.password(user) != oldPW {
			t.Fatalf("%d %s", res.status, res.code)
		}
	})
	t.Run("RateLimited", func(t *testing.T) {
		e := setup(t, &eventstest.Recorder{}, on)
		for i, want := range []string{"", "", iamapi.CodeThrottled} {
			res := e.do(t, resetReq(p.IDToken(t, fresh), newPW+strings.Repeat("x", i)))
			if res.code != want {
				t.Fatalf("reset %d: %d %s, want %q", i+1, res.status, res.code, want)
			}
		}
	})
}
