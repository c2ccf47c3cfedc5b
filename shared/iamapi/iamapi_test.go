package iamapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"chpass/shared/gateway"
	"chpass/shared/iamapi"
	"chpass/shared/password"
)

// scenario is one request against a fresh handler and the code it must answer
// ("" for success).
type scenario struct {
	name  string
	mods  []func(*iamapi.Options, *fakeDir)
	setup func(tb testing.TB, e *env) // run before req
	req   func(tb testing.TB) *http.Request
	code  string
}

func dirErr(err error) func(*iamapi.Options, *fakeDir) {
	return func(_ *iamapi.Options, d *fakeDir) { d.err = err }
}

// scenarios covers every catalog entry and the main paths; TestScenarios runs
// them and TestCanary runs them again searching all output for secrets.
func scenarios() []scenario {
	tok := func(b string) func(testing.TB) *http.Request {
		return func(tb testing.TB) *http.Request { return bearer(tb, post(b)) }
	}
	return []scenario{
		{name: "OK/Token", req: tok(body(oldPW, newPW))},
		{name: "OK/AKSK", req: func(tb testing.TB) *http.Request { return signed(tb, body(oldPW, newPW)) }},
		{name: "OK/TrailingSlash", req: func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			r.URL.Path += "/"
			signRequest(tb, r, akID, akSecret, fixedNow)
			return r
		}},
		{name: "NotFound", code: iamapi.CodeNotFound, req: func(tb testing.TB) *http.Request {
			return httptest.NewRequest(http.MethodGet, "/v5/users", nil)
		}},
		{name: "MethodNotAllowed", code: iamapi.CodeMethodNotAllowed, req: func(tb testing.TB) *http.Request {
			return httptest.NewRequest(http.MethodGet, iamapi.ChangePath, nil)
		}},
		{name: "PolicyMethodNotAllowed", code: iamapi.CodeMethodNotAllowed, req: func(tb testing.TB) *http.Request {
			return bearer(tb, httptest.NewRequest(http.MethodPut, iamapi.PolicyPath, strings.NewReader("{}")))
		}},
		{name: "Unauthenticated/None", code: iamapi.CodeUnauthenticated, req: func(tb testing.TB) *http.Request { return post(body(oldPW, newPW)) }},
		{name: "Unauthenticated/BadSignature", code: iamapi.CodeUnauthenticated, req: func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			signRequest(tb, r, akID, "wrong-"+akSecret, fixedNow)
			return r
		}},
		{name: "Throttled/AKLocked", code: iamapi.CodeThrottled,
			setup: func(tb testing.TB, e *env) {
				for range iamapi.LockoutFailures {
					r := post(body(oldPW, newPW))
					signRequest(tb, r, akID, "wrong-"+akSecret, fixedNow)
					e.do(tb, r)
				}
			},
			req: func(tb testing.TB) *http.Request { return signed(tb, body(oldPW, newPW)) }},
		{name: "MalformedBody", code: iamapi.CodeMalformedBody, req: tok(`{"old_password":`)},
		{name: "UnknownField", code: iamapi.CodeMalformedBody, req: tok(`{"old_password":"` + oldPW + `","new_password":"` + newPW + `","extra":1}`)},
		{name: "BodyTooLarge", code: iamapi.CodeBodyTooLarge, req: tok(`{"old_password":"` + strings.Repeat("a", iamapi.MaxBodyBytes) + `"}`)},
		{name: "UnsupportedMedia", code: iamapi.CodeUnsupportedMedia, req: func(tb testing.TB) *http.Request {
			r := bearer(tb, post(body(oldPW, newPW)))
			r.Header.Set("Content-Type", "text/plain")
			return r
		}},
		{name: "InvalidParameter/Control", code: iamapi.CodeInvalidParameter, req: tok(body(oldPW, newPW+"\x07"))},
		{name: "MissingParameter", code: iamapi.CodeMissingParameter, req: tok(`{"old_password":"` + oldPW + `"}`)},
		{name: "WrongPassword", code: iamapi.CodeWrongPassword, req: tok(body("Wrong-"+oldPW, newPW))},
		{name: "SameAsOld", code: iamapi.CodeSameAsOld, req: tok(body(oldPW, oldPW))},
		{name: "WeakPassword", code: iamapi.CodeWeakPassword, req: tok(body(oldPW, "aaaaa"+canary))},
		{name: "AccountLocked", code: iamapi.CodeAccountLocked,
			mods: []func(*iamapi.Options, *fakeDir){func(_ *iamapi.Options, d *fakeDir) { d.locked[user] = true }},
			req:  tok(body(oldPW, newPW))},
		{name: "ChangeForbidden/Policy", code: iamapi.CodeChangeForbidden,
			mods: []func(*iamapi.Options, *fakeDir){withPolicy(func(p *password.Policy) { p.AllowUserToChangePassword = false })},
			req:  tok(body(oldPW, newPW))},
		{name: "ChangeForbidden/Directory", code: iamapi.CodeChangeForbidden,
			mods: []func(*iamapi.Options, *fakeDir){dirErr(password.Errorf(password.EFORBIDDEN, "The directory does not let this user change it."))},
			req:  tok(body(oldPW, newPW))},
		{name: "Unavailable", code: iamapi.CodeUnavailable,
			mods: []func(*iamapi.Options, *fakeDir){dirErr(password.Wrap(password.EUNAVAILABLE, errors.New("dial tcp: refused"), "The directory is unavailable."))},
			req:  tok(body(oldPW, newPW))},
		{name: "ProviderUnavailable", code: iamapi.CodeProviderUnavailable,
			mods: []func(*iamapi.Options, *fakeDir){func(o *iamapi.Options, _ *fakeDir) {
				o.Tokens = iamapi.TokenConfig{Issuer: "http://127.0.0.1:1/realms/gone"} // nothing listens on port 1
			}},
			req: tok(body(oldPW, newPW))},
		{name: "ReauthRequired", code: iamapi.CodeReauthRequired,
			mods: []func(*iamapi.Options, *fakeDir){func(o *iamapi.Options, _ *fakeDir) { o.IdPReset = iamapi.IdPResetConfig{MaxAge: 10 * time.Minute} }},
			req: func(tb testing.TB) *http.Request {
				r := bearer(tb, post(`{"new_password":"`+newPW+`"}`)) // the token shows no auth_time
				r.URL.Path = iamapi.ResetPath
				return r
			}},
		{name: "Internal", code: iamapi.CodeInternal,
			mods: []func(*iamapi.Options, *fakeDir){dirErr(errors.New("unexpected"))},
			req:  tok(body(oldPW, newPW))},
	}
}

func TestScenarios(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range scenarios() {
		e := newEnv(t, sc.mods...)
		if sc.setup != nil {
			sc.setup(t, e)
		}
		res := e.do(t, sc.req(t))
		seen[res.code] = true
		t.Run(sc.name, func(t *testing.T) {
			if res.code != sc.code {
				t.Fatalf("error_code = %q, want %q (status %d, msg %q)", res.code, sc.code, res.status, res.msg)
			}
			if sc.code == "" {
				if res.status != http.StatusOK || res.body != "" {
					t.Fatalf("success = %d %q, want 200 and an empty body", res.status, res.body)
				}
				if got := e.dir.password(user); got != newPW {
					t.Fatal("the password did not change")
				}
				return
			}
			if want := iamapi.Catalog()[sc.code].Status; res.status != want {
				t.Errorf("status = %d, want %d", res.status, want)
			}
			if res.errs["request_id"] == "" || res.errs["request_id"] != res.header.Get("X-Request-Id") {
				t.Errorf("request_id %v does not match X-Request-Id %q", res.errs["request_id"], res.header.Get("X-Request-Id"))
			}
			if _, ok := res.errs["encoded_authorization_message"]; ok != (res.status == http.StatusForbidden) {
				t.Errorf("encoded_authorization_message present = %v at status %d", ok, res.status)
			}
			if res.msg == "" {
				t.Error("error_msg is empty")
			}
			if got := e.dir.password(user); got != oldPW {
				t.Error("the password changed on an error")
			}
		})
	}
	t.Run("EveryCatalogEntry", func(t *testing.T) {
		for code := range iamapi.Catalog() {
			if !seen[code] {
				t.Errorf("no scenario provokes %s", code)
			}
		}
	})
}

func TestPolicy(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{iamapi.PolicyPath, iamapi.PolicyPath + "/"} {
		t.Run(path, func(t *testing.T) {
			res := e.do(t, httptest.NewRequest(http.MethodGet, path, nil)) // public: no credentials
			if res.status != http.StatusOK {
				t.Fatalf("status = %d (%s), want 200", res.status, res.code)
			}
			var got struct {
				PasswordPolicy password.Policy `json:"password_policy"`
			}
			if err := json.Unmarshal([]byte(res.body), &got); err != nil {
				t.Fatal(err)
			}
			if got.PasswordPolicy != password.DefaultPolicy() {
				t.Errorf("policy = %+v, want the default", got.PasswordPolicy)
			}
			for _, f := range []string{"minimum_password_length", "password_char_combination", "allow_user_to_change_password", "password_requirements"} {
				if !strings.Contains(res.body, `"`+f+`"`) {
					t.Errorf("policy lacks %s", f)
				}
			}
		})
	}
}

func TestViolationsAllListed(t *testing.T) {
	e := newEnv(t)
	// "alice" is short, one class, the user name: min length, char combination, not username.
	res := e.do(t, bearer(t, post(body(oldPW, "alice"))))
	if res.code != iamapi.CodeWeakPassword {
		t.Fatalf("code = %q, want %s", res.code, iamapi.CodeWeakPassword)
	}
	var b struct {
		Violations []password.Violation `json:"violations"`
	}
	if err := json.Unmarshal([]byte(res.body), &b); err != nil {
		t.Fatal(err)
	}
	rules := map[string]bool{}
	for _, v := range b.Violations {
		rules[v.Rule] = true
		if v.Message == "" {
			t.Errorf("rule %s has no message", v.Rule)
		}
	}
	for _, want := range []string{password.RuleMinLength, password.RuleCharCombination, password.RuleNotUsername} {
		if !rules[want] {
			t.Errorf("violations %v lack %s", b.Violations, want)
		}
	}
	t.Run("SameAsOldAmongOthers", func(t *testing.T) {
		e := newEnv(t, func(_ *iamapi.Options, d *fakeDir) { d.users[user] = "alice" })
		res := e.do(t, bearer(t, post(body("alice", "alice"))))
		if res.code != iamapi.CodeWeakPassword || !strings.Contains(res.body, password.RuleSameAsOld) {
			t.Fatalf("code = %q body lacks %s: want every rule under %s", res.code, password.RuleSameAsOld, iamapi.CodeWeakPassword)
		}
	})
	if e.dir.calls != 0 {
		t.Error("a refused password reached the directory")
	}
}

// TestInputLimits sends authenticated bodies that must all be refused with 400
// (or 415) before the directory is asked.
func TestInputLimits(t *testing.T) {
	long := strings.Repeat("Ab1!", 257) // 1028 characters
	tests := []struct {
		name, body, ctype, code string
	}{
		{"Empty", ``, "", iamapi.CodeMalformedBody},
		{"NotJSON", `old_password=x`, "", iamapi.CodeMalformedBody},
		{"Truncated", `{"old_password":"a"`, "", iamapi.CodeMalformedBody},
		{"Array", `["a","b"]`, "", iamapi.CodeMalformedBody},
		{"UnknownField", `{"old_password":"a","new_password":"b","user":"bob"}`, "", iamapi.CodeMalformedBody},
		{"DuplicateField", `{"old_password":"a","new_password":"b","new_password":"c"}`, "", iamapi.CodeMalformedBody},
		{"TrailingData", body(oldPW, newPW) + `{}`, "", iamapi.CodeMalformedBody},
		{"TrailingGarbage", body(oldPW, newPW) + `x`, "", iamapi.CodeMalformedBody},
		{"MissingOld", `{"new_password":"` + newPW + `"}`, "", iamapi.CodeMissingParameter},
		{"MissingNew", `{"old_password":"` + oldPW + `"}`, "", iamapi.CodeMissingParameter},
		{"NullNew", `{"old_password":"` + oldPW + `","new_password":null}`, "", iamapi.CodeMissingParameter},
		{"EmptyOld", body("", newPW), "", iamapi.CodeMissingParameter},
		{"EmptyNew", body(oldPW, ""), "", iamapi.CodeMissingParameter},
		{"NumberNew", `{"old_password":"` + oldPW + `","new_password":12345678}`, "", iamapi.CodeInvalidParameter},
		{"TooLongNew", body(oldPW, long), "", iamapi.CodeInvalidParameter},
		{"TooLongOld", body(long, newPW), "", iamapi.CodeInvalidParameter},
		{"ControlNew", body(oldPW, "Abc\u0000def12!"), "", iamapi.CodeInvalidParameter},
		{"ControlOld", body("Abc\tdef12!", newPW), "", iamapi.CodeInvalidParameter},
		{"DELNew", body(oldPW, "Abcdef12!\x7f"), "", iamapi.CodeInvalidParameter},
		{"InvalidUTF8New", "{\"old_password\":\"" + oldPW + "\",\"new_password\":\"Abc\xffdef12!\"}", "", iamapi.CodeInvalidParameter},
		{"InvalidUTF8Old", "{\"old_password\":\"\xc3(" + oldPW + "\",\"new_password\":\"" + newPW + "\"}", "", iamapi.CodeInvalidParameter},
		{"LoneSurrogateEscape", `{"old_password":"` + oldPW + `","new_password":"Abc\ud800def12!"}`, "", iamapi.CodeInvalidParameter},
		{"TooLarge", `{"old_password":"` + strings.Repeat("x", iamapi.MaxBodyBytes) + `","new_password":"b"}`, "", iamapi.CodeBodyTooLarge},
		{"NoContentType", body(oldPW, newPW), "-", iamapi.CodeUnsupportedMedia},
		{"FormContentType", body(oldPW, newPW), "application/x-www-form-urlencoded", iamapi.CodeUnsupportedMedia},
		{"Latin1Charset", body(oldPW, newPW), "application/json; charset=iso-8859-1", iamapi.CodeUnsupportedMedia},
		{"OK/CharsetAllowed", body(oldPW, newPW), "application/json; charset=utf-8", ""},
		{"OK/EscapedPair", `{"old_password":"` + oldPW + `","new_password":"New-\ud83d\ude00-Pw2?x"}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			r := bearer(t, post(tt.body))
			switch tt.ctype {
			case "-":
				r.Header.Del("Content-Type")
			case "":
			default:
				r.Header.Set("Content-Type", tt.ctype)
			}
			res := e.do(t, r)
			if res.code != tt.code {
				t.Fatalf("code = %q, want %q (%d %s)", res.code, tt.code, res.status, res.msg)
			}
			if tt.code == "" {
				return
			}
			if res.status != http.StatusBadRequest && res.status != http.StatusUnsupportedMediaType {
				t.Errorf("status = %d, want 400 or 415", res.status)
			}
			if e.dir.calls != 0 {
				t.Error("an invalid request reached the directory")
			}
		})
	}
	t.Run("MessagesNeverEchoTheCallersFieldNames", func(t *testing.T) {
		for _, b := range []string{
			`{"old_password":"a","new_password":"b","Xq9Probe":1}`,
			`{"Xq9Probe":"x"}`,
			`{"old_password":"a","Xq9Probe` + "\u00e9" + `":1}`,
		} {
			res := newEnv(t).do(t, bearer(t, post(b)))
			if res.code != iamapi.CodeMalformedBody || strings.Contains(res.msg, "Xq9Probe") {
				t.Errorf("%s: %s %q, want IAM.0001 without the field's name", b, res.code, res.msg)
			}
		}
	})
	t.Run("MessagesNameTheField", func(t *testing.T) {
		for name, b := range map[string]string{"new_password": body(oldPW, ""), "old_password": body("Abc\u0001", newPW)} {
			res := newEnv(t).do(t, bearer(t, post(b)))
			if !strings.Contains(res.msg, name) {
				t.Errorf("error_msg %q does not name %s", res.msg, name)
			}
		}
	})
}

func TestGateway(t *testing.T) {
	authorizer := &gateway.Authorizer{Kind: "jwt", Claims: map[string]string{"username": user, "sub": "ignored"}}
	withGW := func(ctxAuth *gateway.Authorizer, r *http.Request) *http.Request {
		return r.WithContext(gateway.With(r.Context(), gateway.Info{Platform: gateway.Lambda, RequestID: "req-gw-1", Authorizer: ctxAuth}))
	}
	trust := func(claim string) func(*iamapi.Options, *fakeDir) {
		return func(o *iamapi.Options, _ *fakeDir) { o.Gateway = iamapi.GatewayConfig{Trust: true, UserClaim: claim} }
	}
	tests := []struct {
		name  string
		mods  []func(*iamapi.Options, *fakeDir)
		auth  *gateway.Authorizer
		hdr   map[string]string
		code  string
		wantU string // whose password must change
	}{
		{name: "Trusted/Username", mods: []func(*iamapi.Options, *fakeDir){trust("")}, auth: authorizer, wantU: user},
		{name: "Trusted/Sub", mods: []func(*iamapi.Options, *fakeDir){trust("")}, auth: &gateway.Authorizer{Kind: "fc-jwt", Claims: map[string]string{"sub": "bob"}}, wantU: "bob"},
		{name: "Trusted/CustomClaim", mods: []func(*iamapi.Options, *fakeDir){trust("preferred_username")}, auth: &gateway.Authorizer{Kind: "cognito", Claims: map[string]string{"preferred_username": "bob", "username": user}}, wantU: "bob"},
		{name: "Trusted/IAMAccessKeyMapped", mods: []func(*iamapi.Options, *fakeDir){trust("")}, auth: &gateway.Authorizer{Kind: "iam", AccessKey: akID, Principal: "arn:aws:iam::1:user/x"}, wantU: user},
		{name: "Trusted/IAMPrincipal", mods: []func(*iamapi.Options, *fakeDir){trust("")}, auth: &gateway.Authorizer{Kind: "iam", AccessKey: "AKIAOTHER", Principal: "bob"}, wantU: "bob"},
		{name: "Trusted/NoUserClaim", mods: []func(*iamapi.Options, *fakeDir){trust("")}, auth: &gateway.Authorizer{Kind: "lambda", Claims: map[string]string{"role": "x"}}, code: iamapi.CodeUnauthenticated},
		{name: "Trusted/NoAuthorizer", mods: []func(*iamapi.Options, *fakeDir){trust("")}, code: iamapi.CodeUnauthenticated},
		{name: "Untrusted/AuthorizerIgnored", auth: authorizer, code: iamapi.CodeUnauthenticated},
		{name: "Trusted/XUserHeaderIgnored", mods: []func(*iamapi.Options, *fakeDir){trust("")}, hdr: map[string]string{"X-User": user, "X-Username": user, "X-Forwarded-User": user, "X-Remote-User": user}, code: iamapi.CodeUnauthenticated},
		{name: "Untrusted/XUserHeaderIgnored", hdr: map[string]string{"X-User": user, "X-Amzn-Oidc-Identity": user, "X-Fc-Account-Id": user}, code: iamapi.CodeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.mods...)
			r := post(body(oldPW, newPW))
			for k, v := range tt.hdr {
				r.Header.Set(k, v)
			}
			r = withGW(tt.auth, r)
			res := e.do(t, r)
			if res.code != tt.code {
				t.Fatalf("code = %q, want %q (%s)", res.code, tt.code, res.msg)
			}
			if res.header.Get("X-Request-Id") != "req-gw-1" {
				t.Errorf("X-Request-Id = %q, want the platform's", res.header.Get("X-Request-Id"))
			}
			if tt.wantU != "" && e.dir.password(tt.wantU) != newPW {
				t.Errorf("%s's password did not change", tt.wantU)
			}
		})
	}
}

func TestLogs(t *testing.T) {
	e := newEnv(t)
	r := bearer(t, post(body(oldPW, newPW)))
	r = r.WithContext(gateway.With(r.Context(), gateway.Info{Platform: gateway.FC, RequestID: "req-42"}))
	if res := e.do(t, r); res.status != http.StatusOK {
		t.Fatalf("status %d %s", res.status, res.code)
	}
	e.do(t, bearer(t, post(body(oldPW, "short")))) // refused by policy: no audit line
	var lines []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(e.log.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v", err)
		}
		lines = append(lines, m)
	}
	var audits, requests int
	for _, m := range lines {
		switch {
		case m["event"] == "password_change":
			audits++
			if m["user"] != user || m["outcome"] != "OK" || m["request_id"] != "req-42" {
				t.Errorf("audit line %v", m)
			}
		case m["message"] == "request":
			requests++
			for _, k := range []string{"request_id", "function", "platform", "route", "caller", "auth", "outcome", "status", "latency_ms"} {
				if _, ok := m[k]; !ok {
					t.Errorf("request line lacks %s: %v", k, m)
				}
			}
		}
	}
	if audits != 1 || requests != 2 {
		t.Errorf("got %d audit and %d request lines, want 1 and 2", audits, requests)
	}
	if lines[1]["platform"] != gateway.FC || lines[1]["auth"] != iamapi.AuthToken || lines[1]["caller"] != user || lines[1]["route"] != iamapi.ChangePath {
		t.Errorf("request line %v", lines[1])
	}
}

func TestPanicAnswers500(t *testing.T) {
	e := newEnv(t, func(_ *iamapi.Options, d *fakeDir) { d.panic = "boom" })
	res := e.do(t, bearer(t, post(body(oldPW, newPW))))
	if res.code != iamapi.CodeInternal || res.status != http.StatusInternalServerError {
		t.Fatalf("got %q %d, want %s 500", res.code, res.status, iamapi.CodeInternal)
	}
	if !strings.Contains(e.log.String(), `"status":500`) {
		t.Error("the request was not logged")
	}
}

func TestInvalidUserFromCredential(t *testing.T) {
	for name, sub := range map[string]string{"Control": "alice\nadmin", "TooLong": strings.Repeat("a", 300)} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			r := post(body(oldPW, newPW))
			r.Header.Set("X-Auth-Token", makeToken(t, jwt.SigningMethodHS256, []byte(hsSecret), "", jwt.MapClaims{"sub": sub}))
			if res := e.do(t, r); res.code != iamapi.CodeUnauthenticated {
				t.Fatalf("code = %q, want %s", res.code, iamapi.CodeUnauthenticated)
			}
		})
	}
}

func TestNoFunctionField(t *testing.T) {
	e := newEnv(t, func(o *iamapi.Options, _ *fakeDir) { o.Function = "" })
	e.do(t, httptest.NewRequest(http.MethodGet, iamapi.PolicyPath, nil))
	if strings.Contains(e.log.String(), `"function"`) {
		t.Error("function logged although none was configured")
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*iamapi.Options, *fakeDir)
		want string // in the error
	}{
		{"NoService", func(o *iamapi.Options, _ *fakeDir) { o.Service = nil }, "Service"},
		{"BadPEM", func(o *iamapi.Options, _ *fakeDir) {
			o.Tokens.PublicKeyPEMs = append(o.Tokens.PublicKeyPEMs, "not a pem")
		}, "PublicKeyPEMs[1]"},
		{"PrivatePEM", func(o *iamapi.Options, _ *fakeDir) {
			o.Tokens.PublicKeyPEMs = []string{"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}
		}, "PublicKeyPEMs[0]"},
		{"BadJWKS", func(o *iamapi.Options, _ *fakeDir) {
			o.Tokens.JWKS = []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`)
		}, "JWKS"},
		{"ShortHMAC", func(o *iamapi.Options, _ *fakeDir) { o.Tokens.HS256Secret = "short" }, "HS256Secret"},
		{"KeyWithoutUser", func(o *iamapi.Options, _ *fakeDir) { o.AccessKeys[0].User = "" }, "AccessKeys[0]"},
		{"DuplicateKey", func(o *iamapi.Options, _ *fakeDir) { o.AccessKeys = append(o.AccessKeys, o.AccessKeys[0]) }, "AccessKeys[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ek := testKeys(t)
			opts := iamapi.Options{
				Service:    password.NewService(password.DefaultPolicy(), newFakeDir()),
				AccessKeys: []iamapi.AccessKey{{ID: akID, Secret: akSecret, User: user}},
				Tokens:     iamapi.TokenConfig{PublicKeyPEMs: []string{pemPublic(t, &ek.PublicKey)}},
			}
			tt.mod(&opts, nil)
			_, err := iamapi.New(opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one naming %s", err, tt.want)
			}
		})
	}
}
