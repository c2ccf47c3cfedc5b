package iamapi_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"chpass/shared/iamapi"
	"chpass/shared/password"
)

// TestCanary runs every scenario, plus refusals that carry the canary in odd
// places, and searches every log line, response header and body, and error
// message for the canary marker, the passwords, secrets, tokens, signatures and
// Authorization headers sent.
func TestCanary(t *testing.T) {
	all := scenarios()
	tok := func(b string) func(testing.TB) *http.Request {
		return func(tb testing.TB) *http.Request { return bearer(tb, post(b)) }
	}
	extra := []scenario{
		{name: "InvalidUTF8", req: tok("{\"old_password\":\"" + oldPW + "\",\"new_password\":\"" + canary + "\xff\"}")},
		{name: "TooLong", req: tok(body(oldPW, strings.Repeat(canary, 200)))},
		{name: "Number", req: tok(`{"old_password":"` + oldPW + `","new_password":1}`)},
		{name: "SyntaxErrorNearPassword", req: tok(`{"old_password":"` + oldPW + `" "new_password":"` + newPW + `"}`)},
		{name: "UserNamePassword", req: tok(body(oldPW, "alice"))},
		{name: "ExpiredToken", req: func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			r.Header.Set("Authorization", "Bearer "+makeToken(tb, jwt.SigningMethodHS256, []byte(hsSecret), "",
				jwt.MapClaims{"exp": fixedNow.Add(-time.Hour).Unix(), "sub": canary}))
			return r
		}},
		{name: "WrongIssuerToken", req: func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			r.Header.Set("X-Auth-Token", makeToken(tb, jwt.SigningMethodHS256, []byte(hsSecret), "", jwt.MapClaims{"iss": canary}))
			return r
		}},
		{name: "GarbageToken", req: func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			r.Header.Set("X-Auth-Token", canary+"."+canary+"."+canary)
			return r
		}},
		{name: "BadSignatureUnknownKey", req: func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			signRequest(tb, r, akID+"X", akSecret, fixedNow)
			return r
		}},
		{name: "StaleSignature", req: func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			signRequest(tb, r, akID, akSecret, fixedNow.Add(-time.Hour))
			return r
		}},
		{name: "DirectoryPanics", mods: []func(*iamapi.Options, *fakeDir){
			func(_ *iamapi.Options, d *fakeDir) { d.panic = "boom " + oldPW }},
			req: tok(body(oldPW, newPW))},
		{name: "DirectoryErrorCause", mods: []func(*iamapi.Options, *fakeDir){
			dirErr(password.Wrap(password.EUNAVAILABLE, errors.New("ldap: connection refused"), "The directory is unavailable."))},
			req: tok(body(oldPW, newPW))},
	}
	all = append(all, extra...)
	secrets := []string{oldPW, newPW, akSecret, hsSecret, "Wrong-" + oldPW}
	for _, sc := range all {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(t, sc.mods...)
			if sc.setup != nil {
				sc.setup(t, e)
			}
			r := sc.req(t)
			sent := append([]string{}, secrets...)
			for _, h := range []string{"Authorization", "X-Auth-Token"} {
				v := r.Header.Get(h)
				if v == "" {
					continue
				}
				sent = append(sent, v)
				if _, sig, ok := strings.Cut(v, "Signature="); ok {
					sent = append(sent, sig)
				}
				if _, tok, ok := strings.Cut(v, "Bearer "); ok {
					sent = append(sent, tok)
				}
			}
			res := e.do(t, r)
			var hdrs strings.Builder
			for k, vs := range res.header {
				hdrs.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
			}
			outputs := map[string]string{"log": e.log.String(), "body": res.body, "headers": hdrs.String(), "error_msg": res.msg}
			for where, out := range outputs {
				if strings.Contains(strings.ToLower(out), strings.ToLower(canary)) {
					t.Errorf("the canary appears in the %s", where)
				}
				for _, s := range sent {
					if len(s) >= 8 && strings.Contains(out, s) {
						t.Errorf("a secret that was sent appears in the %s", where)
					}
				}
			}
			if e.log.String() == "" {
				t.Error("nothing was logged")
			}
		})
	}
	t.Run("VendorSDK", func(t *testing.T) {
		e, srv := sdkServer(t, nil)
		for _, c := range []struct{ sk, oldP, newP string }{
			{akSecret, oldPW, "aaaaa" + canary},
			{"wrong-" + akSecret, oldPW, newPW},
			{akSecret, "Wrong-" + oldPW, newPW},
		} {
			_, err := sdkClient(t, srv.URL, akID, c.sk).ChangePasswordV5(changeReq(c.oldP, c.newP))
			if err == nil {
				t.Fatal("want an error")
			}
			if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(canary)) {
				t.Error("the canary appears in the SDK's error")
			}
		}
		if strings.Contains(strings.ToLower(e.log.String()), strings.ToLower(canary)) {
			t.Error("the canary appears in the log")
		}
	})
}
