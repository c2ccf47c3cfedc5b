package iamapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"chpass/shared/iamapi"
	"chpass/shared/password"
	"chpass/shared/password/eventstest"
)

func oldPWReq(src, name, oldP, newP string) *http.Request {
	b, _ := json.Marshal(map[string]string{"user_name": name, "old_password": oldP, "new_password": newP})
	r := post(string(b))
	r.URL.Path = iamapi.OldPasswordPath
	r.RemoteAddr = src + ":40000"
	return r
}

// TestOldPasswordPath: with no sign-in, the old password proves the caller; an
// unknown user and a wrong password read the same; per-user and per-source
// limits apply to every attempt before the directory; an event and an audit
// line follow a change; off by default, and refused in front of a directory
// that does not lock out.
func TestOldPasswordPath(t *testing.T) {
	on := iamapi.OldPasswordConfig{Enabled: true, DirectoryLocksOut: true, PerUserPerHour: 3, PerSourcePerHour: 5}
	setup := func(tb testing.TB, rec *eventstest.Recorder, c iamapi.OldPasswordConfig) *env {
		return newEnv(tb, func(o *iamapi.Options, d *fakeDir) {
			o.OldPassword = c
			o.Service = password.NewService(password.DefaultPolicy(), d).WithEvents(rec, password.EventOptions{})
		})
	}
	t.Run("Changed", func(t *testing.T) {
		rec := &eventstest.Recorder{}
		e := setup(t, rec, on)
		if res := e.do(t, oldPWReq("203.0.113.1", user, oldPW, newPW)); res.status != http.StatusOK {
			t.Fatalf("%d %s %s", res.status, res.code, res.msg)
		}
		if e.dir.password(user) != newPW {
			t.Fatal("not changed")
		}
		if ev := rec.Events(); len(ev) != 1 || ev[0].Auth != iamapi.AuthOldPassword || ev[0].Kind != password.KindSelfService {
			t.Errorf("events %+v", ev)
		}
		if !strings.Contains(e.log.String(), `"auth":"old_password"`) || strings.Contains(e.log.String(), canary) {
			t.Error("no audit line, or a password in the log")
		}
	})
	t.Run("UnknownUserReadsAsWrongPassword", func(t *testing.T) {
		e := setup(t, &eventstest.Recorder{}, on)
		wrong := e.do(t, oldPWReq("203.0.113.2", user, "Wrong-"+oldPW, newPW))
		unknown := e.do(t, oldPWReq("203.0.113.3", "nobody", oldPW, newPW))
		if wrong.status != unknown.status || wrong.code != unknown.code || wrong.msg != unknown.msg || wrong.code != iamapi.CodeWrongPassword {
			t.Fatalf("wrong password %d %s %q, unknown user %d %s %q", wrong.status, wrong.code, wrong.msg, unknown.status, unknown.code, unknown.msg)
		}
	})
	t.Run("PerUserLimit", func(t *testing.T) {
		e := setup(t, &eventstest.Recorder{}, on)
		for i, src := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"} {
			res := e.do(t, oldPWReq(src, "nobody", "Guess-"+canary, newPW))
			if want := i == 3; (res.code == iamapi.CodeThrottled) != want {
				t.Fatalf("attempt %d from another source: %s", i+1, res.code)
			}
		}
	})
	t.Run("PerSourceLimit", func(t *testing.T) {
		e := setup(t, &eventstest.Recorder{}, on)
		for i := range 6 {
			res := e.do(t, oldPWReq("192.0.2.9", "user"+string(rune('a'+i)), "Guess-"+canary, newPW))
			if want := i == 5; (res.code == iamapi.CodeThrottled) != want {
				t.Fatalf("attempt %d from one source: %s", i+1, res.code)
			}
		}
		if e.dir.password(user) != oldPW {
			t.Fatal("changed")
		}
	})
	t.Run("Off", func(t *testing.T) {
		e := setup(t, &eventstest.Recorder{}, iamapi.OldPasswordConfig{})
		if res := e.do(t, oldPWReq("203.0.113.1", user, oldPW, newPW)); res.code != iamapi.CodeNotFound || e.dir.password(user) != oldPW {
			t.Fatalf("%d %s", res.status, res.code)
		}
	})
	t.Run("RefusedWithoutLockout", func(t *testing.T) {
		_, err := iamapi.New(iamapi.Options{Service: newEnvService(t), OldPassword: iamapi.OldPasswordConfig{Enabled: true}})
		if err == nil || !strings.Contains(err.Error(), "locks out") {
			t.Fatalf("New = %v", err)
		}
	})
}
