package ehpcapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"chpass/shared/gateway"
	"chpass/shared/guard"
	"chpass/shared/guard/guardtest"
	"chpass/shared/password"
)

func TestPercentEncode(t *testing.T) {
	tests := map[string]string{
		"abcXYZ019-_.~": "abcXYZ019-_.~",
		"a b":           "a%20b",
		"*":             "%2A",
		"a&b=c/d":       "a%26b%3Dc%2Fd",
		"Xyz&12345":     "Xyz%2612345",
		"é":             "%C3%A9",
		"+":             "%2B",
	}
	for in, want := range tests {
		if got := percentEncode(in); got != want {
			t.Errorf("percentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStringToSign checks the canonical form against the rules of
// protocols.md: sorted, RFC 3986, Signature left out, METHOD&%2F&.
func TestStringToSign(t *testing.T) {
	p := map[string]string{"Version": "2018-04-12", "Action": "ListUsers", "Signature": "x", "A b": "c*d~"}
	want := "GET&%2F&A%2520b%3Dc%252Ad~%26Action%3DListUsers%26Version%3D2018-04-12"
	if got := StringToSign("GET", p); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestSignature(t *testing.T) {
	base := map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo"}
	tests := []struct {
		name   string
		req    func(e *env) *http.Request
		status int
		code   string
	}{
		{"Valid", func(e *env) *http.Request { return get(signed("GET", base, testKeyID, testSecret, e.now)) }, 200, ""},
		{"ValidPOSTForm", func(e *env) *http.Request { return post(signed("POST", base, testKeyID, testSecret, e.now)) }, 200, ""},
		{"ValidPOSTQueryAndForm", func(e *env) *http.Request {
			p := signed("POST", base, testKeyID, testSecret, e.now)
			q := map[string]string{"Signature": p["Signature"], "AccessKeyId": p["AccessKeyId"]}
			delete(p, "Signature")
			delete(p, "AccessKeyId")
			r := post(p)
			r.URL.RawQuery = encode(q)
			return r
		}, 200, ""},
		{"WrongSecret", func(e *env) *http.Request { return get(signed("GET", base, testKeyID, "wrong", e.now)) }, 400, CodeSignatureDoesNotMatch},
		{"SignedForPOSTSentAsGET", func(e *env) *http.Request { return get(signed("POST", base, testKeyID, testSecret, e.now)) }, 400, CodeSignatureDoesNotMatch},
		{"TamperedParam", func(e *env) *http.Request {
			p := signed("GET", base, testKeyID, testSecret, e.now)
			p["ClusterId"] = "ehpc-other"
			return get(p)
		}, 400, CodeSignatureDoesNotMatch},
		{"UnknownKey", func(e *env) *http.Request { return get(signed("GET", base, "LTAInobody", testSecret, e.now)) }, 404, CodeInvalidAccessKeyID},
		{"TimestampStale", func(e *env) *http.Request {
			return get(signed("GET", base, testKeyID, testSecret, e.now.Add(-16*time.Minute)))
		}, 400, CodeTimestampExpired},
		{"TimestampFuture", func(e *env) *http.Request {
			return get(signed("GET", base, testKeyID, testSecret, e.now.Add(16*time.Minute)))
		}, 400, CodeTimestampExpired},
		{"TimestampWithinWindow", func(e *env) *http.Request {
			return get(signed("GET", base, testKeyID, testSecret, e.now.Add(-14*time.Minute)))
		}, 200, ""},
		{"TimestampMalformed", func(e *env) *http.Request {
			p := signed("GET", base, testKeyID, testSecret, e.now)
			p["Timestamp"] = "yesterday"
			p["Signature"] = Sign("GET", p, testSecret)
			return get(p)
		}, 400, CodeTimestampFormat},
		// The contract allows only UTC written with Z: an offset, even +00:00, is
		// refused, though it names a valid instant inside the window.
		{"TimestampWithOffset", func(e *env) *http.Request {
			p := signed("GET", base, testKeyID, testSecret, e.now)
			p["Timestamp"] = e.now.In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339)
			p["Signature"] = Sign("GET", p, testSecret)
			return get(p)
		}, 400, CodeTimestampFormat},
		{"TimestampWithZeroOffset", func(e *env) *http.Request {
			p := signed("GET", base, testKeyID, testSecret, e.now)
			p["Timestamp"] = e.now.UTC().Format("2006-01-02T15:04:05") + "+00:00"
			p["Signature"] = Sign("GET", p, testSecret)
			return get(p)
		}, 400, CodeTimestampFormat},
		{"TimestampLowerCaseZ", func(e *env) *http.Request {
			p := signed("GET", base, testKeyID, testSecret, e.now)
			p["Timestamp"] = e.now.UTC().Format("2006-01-02T15:04:05") + "z"
			p["Signature"] = Sign("GET", p, testSecret)
			return get(p)
		}, 400, CodeTimestampFormat},
		{"MethodHMACSHA256", func(e *env) *http.Request {
			p := signed("GET", base, testKeyID, testSecret, e.now)
			p["SignatureMethod"] = "HMAC-SHA256"
			p["Signature"] = Sign("GET", p, testSecret)
			return get(p)
		}, 400, CodeInvalidSignatureMethod},
		{"SignatureVersion2", func(e *env) *http.Request {
			p := signed("GET", base, testKeyID, testSecret, e.now)
			p["SignatureVersion"] = "2.0"
			p["Signature"] = Sign("GET", p, testSecret)
			return get(p)
		}, 400, CodeIncompleteSignature},
		{"NoSignature", func(e *env) *http.Request {
			p := signed("GET", base, testKeyID, testSecret, e.now)
			delete(p, "Signature")
			return get(p)
		}, 400, CodeIncompleteSignature},
	}
	for _, missing := range []string{"AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"} {
		tests = append(tests, struct {
			name   string
			req    func(e *env) *http.Request
			status int
			code   string
		}{"Missing" + missing, func(e *env) *http.Request {
			p := signed("GET", base, testKeyID, testSecret, e.now)
			delete(p, missing)
			return get(p)
		}, 400, CodeMissingParameter})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			r := e.serve(t, tt.req(e))
			if tt.code == "" {
				if r.Status != 200 {
					t.Fatalf("got %d %s %s", r.Status, r.code(), r.message())
				}
				return
			}
			wantError(t, r, tt.status, tt.code)
			if tt.code == CodeMissingParameter && !strings.Contains(r.message(), strings.TrimPrefix(tt.name, "Missing")) {
				t.Errorf("message %q does not name the parameter", r.message())
			}
		})
	}
}

func TestNonceReplay(t *testing.T) {
	e := newEnv(t, nil)
	p := signed("GET", map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo"}, testKeyID, testSecret, e.now)
	if r := e.serve(t, get(p)); r.Status != 200 {
		t.Fatalf("first: %d %s", r.Status, r.code())
	}
	wantError(t, e.serve(t, get(p)), 400, CodeSignatureNonceUsed)
	// The same nonce under another key is that key's own.
	q := signed("GET", map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-other"}, "LTAIlimited", "limitedSecret", e.now)
	q["SignatureNonce"] = p["SignatureNonce"]
	q["Signature"] = Sign("GET", q, "limitedSecret")
	if r := e.serve(t, get(q)); r.Status != 200 {
		t.Fatalf("other key: %d %s", r.Status, r.code())
	}
	// A request that fails its signature does not burn the nonce.
	s := signed("GET", map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo"}, testKeyID, testSecret, e.now)
	bad := map[string]string{}
	for k, v := range s {
		bad[k] = v
	}
	bad["Signature"] = Sign("GET", s, "wrong")
	wantError(t, e.serve(t, get(bad)), 400, CodeSignatureDoesNotMatch)
	if r := e.serve(t, get(s)); r.Status != 200 {
		t.Fatalf("after a bad signature: %d %s", r.Status, r.code())
	}
}

func TestThrottlingWhenNonceCacheFull(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Guard = &guard.Memory{Max: 1} })
	base := map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo"}
	if r := e.call(t, base); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.code())
	}
	wantError(t, e.call(t, base), 400, CodeThrottling)
}

func TestLockout(t *testing.T) {
	e := newEnv(t, nil)
	base := map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo"}
	from := func(addr, secret string) response {
		r := get(signed("GET", base, testKeyID, secret, e.now))
		r.RemoteAddr = addr
		return e.serve(t, r)
	}
	for range guard.DefaultLimits.Failures {
		wantError(t, from("198.51.100.66:4000", "wrong"), 400, CodeSignatureDoesNotMatch)
	}
	r := from("198.51.100.66:4001", testSecret)
	wantError(t, r, 400, CodeThrottling)
	if !strings.Contains(r.Body["Recommend"].(string), "locked") {
		t.Errorf("Recommend = %q, want it to say the key is locked", r.Body["Recommend"])
	}
	// A bad signature while locked is not counted again and still answers Throttling.
	wantError(t, from("198.51.100.66:4001", "wrong"), 400, CodeThrottling)
	// Someone who knows only the key's id locks it out from their own address,
	// not from its owner's.
	if r := from("192.0.2.10:4000", testSecret); r.Status != 200 {
		t.Fatalf("from another address: %d %s", r.Status, r.code())
	}
	if n := strings.Count(e.logs.String(), `"event":"access_key_locked"`); n != 1 {
		t.Errorf("%d access_key_locked lines, want 1", n)
	}
	// A correctly signed but stale request does not reset the count.
	e2 := newEnv(t, nil)
	for range guard.DefaultLimits.Failures - 1 {
		wantError(t, e2.serve(t, get(signed("GET", base, testKeyID, "wrong", e2.now))), 400, CodeSignatureDoesNotMatch)
	}
	wantError(t, e2.serve(t, get(signed("GET", base, testKeyID, testSecret, e2.now.Add(-time.Hour)))), 400, CodeTimestampExpired)
	wantError(t, e2.serve(t, get(signed("GET", base, testKeyID, "wrong", e2.now))), 400, CodeSignatureDoesNotMatch)
	wantError(t, e2.call(t, base), 400, CodeThrottling)
}

func TestGuardUnavailable(t *testing.T) {
	down := &guardtest.Unavailable{}
	e := newEnv(t, func(o *Options) { o.Guard = down })
	for _, secret := range []string{testSecret, "wrong"} {
		r := e.serve(t, get(signed("GET", modify("ehpc-demo", nil, "alice"), testKeyID, secret, e.now)))
		wantError(t, r, 503, CodeServiceUnavailable)
	}
	if n := len(e.dir.resetNames()); n != 0 {
		t.Fatalf("%d resets while the shared state was down", n)
	}
	if down.Calls.Load() != 2 {
		t.Errorf("%d calls to the store, want 2", down.Calls.Load())
	}
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		name   string
		req    func(e *env) *http.Request
		status int
		code   string
		msg    string
	}{
		{"UnknownAction", func(e *env) *http.Request {
			return get(signed("GET", map[string]string{"Action": "DeleteCluster"}, testKeyID, testSecret, e.now))
		}, 404, CodeInvalidAction, "Specified api is not found, please check your url and method."},
		{"UnknownActionUnsigned", func(e *env) *http.Request { return get(map[string]string{"Action": "Nope"}) }, 404, CodeInvalidAction, ""},
		{"MissingAction", func(e *env) *http.Request { return httptest.NewRequest("GET", "/", nil) }, 400, CodeMissingParameter,
			`The input parameter "Action" that is mandatory for processing this request is not supplied.`},
		{"WrongVersion", func(e *env) *http.Request {
			p := signed("GET", map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo"}, testKeyID, testSecret, e.now)
			p["Version"] = "2017-01-01"
			p["Signature"] = Sign("GET", p, testSecret)
			return get(p)
		}, 400, CodeInvalidVersion, ""},
		{"PUT", func(e *env) *http.Request { return httptest.NewRequest("PUT", "/?Action=ListUsers", nil) }, 400, CodeUnsupportedHTTPMethod, ""},
		{"AnyPath", func(e *env) *http.Request {
			r := get(signed("GET", map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo"}, testKeyID, testSecret, e.now))
			r.URL.Path = "/2018-04-12/anything"
			return r
		}, 200, "", ""},
		{"POSTNotForm", func(e *env) *http.Request {
			r := httptest.NewRequest("POST", "/", strings.NewReader(`{"Action":"ListUsers"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 400, CodeInvalidParams, "The specified parameter Content-Type is invalid."},
		{"POSTTooLarge", func(e *env) *http.Request {
			r := httptest.NewRequest("POST", "/", strings.NewReader("Action=ListUsers&Pad="+strings.Repeat("a", MaxBodyBytes)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 400, CodeInvalidParams, ""},
		{"MissingClusterId", func(e *env) *http.Request {
			return get(signed("GET", map[string]string{"Action": ActionModifyUserPasswords, "User.1.Name": "user1", "User.1.Password": canary}, testKeyID, testSecret, e.now))
		}, 400, CodeMissingParameter, `The input parameter "ClusterId" that is mandatory for processing this request is not supplied.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			r := e.serve(t, tt.req(e))
			if tt.code == "" {
				if r.Status != 200 {
					t.Fatalf("got %d %s", r.Status, r.code())
				}
				return
			}
			wantError(t, r, tt.status, tt.code)
			if tt.msg != "" && r.message() != tt.msg {
				t.Errorf("message %q, want %q", r.message(), tt.msg)
			}
		})
	}
}

func TestAuthorization(t *testing.T) {
	tests := []struct {
		name    string
		params  map[string]string
		status  int
		code    string
		changed bool
	}{
		{"ActionNotAllowed", map[string]string{"Action": ActionListTasks, "ClusterId": "ehpc-other"}, 407, CodeNotAuthorized, false},
		{"ClusterNotAllowed", modify("ehpc-demo", nil, "user1"), 407, CodeNotAuthorized, false},
		{"UnknownClusterNotRevealed", modify("ehpc-nope", nil, "user1"), 407, CodeNotAuthorized, false},
		{"ListUsersAllowed", map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-other"}, 200, "", false},
		{"ModifyAllowed", modify("ehpc-other", nil, "user1"), 200, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			r := e.serve(t, get(signed("GET", tt.params, "LTAIlimited", "limitedSecret", e.now)))
			if tt.code == "" {
				if r.Status != tt.status {
					t.Fatalf("got %d %s", r.Status, r.code())
				}
			} else {
				wantError(t, r, tt.status, tt.code)
				if r.message() != "You are not authorized by RAM for this request." {
					t.Errorf("message %q", r.message())
				}
			}
			if got := len(e.dir.resetNames()) > 0; got != tt.changed {
				t.Errorf("changed = %v", got)
			}
		})
	}
}

func TestTrustGateway(t *testing.T) {
	iam := func(ak string) context.Context {
		return gateway.With(context.Background(), gateway.Info{Platform: gateway.Lambda, RequestID: "req-1",
			Authorizer: &gateway.Authorizer{Kind: "iam", AccessKey: ak, Principal: "arn:aws:iam::123456789012:user/admin"}})
	}
	unsigned := map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo"}
	tests := []struct {
		name   string
		trust  bool
		ctx    context.Context
		status int
		code   string
	}{
		{"TrustedKnownKey", true, iam(testKeyID), 200, ""},
		{"TrustedUnknownKey", true, iam("AKIAUNKNOWN"), 404, CodeInvalidAccessKeyID},
		{"NotTrusted", false, iam(testKeyID), 400, CodeMissingParameter},
		{"TrustedButNoAuthorizer", true, gateway.With(context.Background(), gateway.Info{Platform: gateway.Local}), 400, CodeMissingParameter},
		{"TrustedJWTIsNotIAM", true, gateway.With(context.Background(), gateway.Info{Platform: gateway.Lambda,
			Authorizer: &gateway.Authorizer{Kind: "jwt", Claims: map[string]string{"sub": testKeyID}}}), 400, CodeMissingParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(o *Options) { o.TrustGateway = tt.trust })
			r := e.serve(t, get(unsigned).WithContext(tt.ctx))
			if tt.code == "" {
				if r.Status != 200 {
					t.Fatalf("got %d %s", r.Status, r.code())
				}
				if r.Body["RequestId"] != "req-1" {
					t.Errorf("RequestId %v, want the platform's", r.Body["RequestId"])
				}
				return
			}
			wantError(t, r, tt.status, tt.code)
		})
	}
}

// TestBadInput: every malformed batch is a precise InvalidParams naming the
// parameter (never its value), and nothing changes.
func TestBadInput(t *testing.T) {
	many := modify("ehpc-demo", nil)
	for i := 1; i <= 101; i++ {
		many["User."+strconv.Itoa(i)+".Name"] = "u" + strconv.Itoa(i)
		many["User."+strconv.Itoa(i)+".Password"] = canary + strconv.Itoa(i)
	}
	tests := []struct {
		name   string
		params map[string]string
		raw    string // appended to the signed query, unsigned
		code   string
		param  string // what the message names
		hidden string // what neither the message nor Recommend may hold: the caller's own text
	}{
		{name: "MoreThan100", params: many, param: "User", hidden: "User.101"},
		{name: "NZero", params: modify("ehpc-demo", map[string]string{"User.0.Name": "user1", "User.0.Password": canary}, "user2"), param: "User", hidden: "User.0"},
		{name: "Gap", params: modify("ehpc-demo", map[string]string{"User.3.Name": "user3", "User.3.Password": canary + "3"}, "user1"), param: "User.2.Name"},
		{name: "NameWithoutPassword", params: modify("ehpc-demo", map[string]string{"User.2.Name": "user2"}, "user1"), param: "User.2.Password"},
		{name: "NonNumericN", params: modify("ehpc-demo", map[string]string{"User.x.Name": "user2"}, "user1"), param: "User", hidden: "User.x"},
		{name: "LeadingZeroN", params: modify("ehpc-demo", map[string]string{"User.01.Name": "user2"}, "user1"), param: "User", hidden: "User.01"},
		{name: "PlusN", params: modify("ehpc-demo", map[string]string{"User.+2.Name": "user2"}, "user1"), param: "User", hidden: "User.+2"},
		{name: "UnknownSubField", params: modify("ehpc-demo", map[string]string{"User.1.Foo": "bar"}, "user1"), param: "User", hidden: "Foo"},
		{name: "BareUser", params: modify("ehpc-demo", map[string]string{"User": "user1"}, "user1"), param: "User"},
		{name: "NoField", params: modify("ehpc-demo", map[string]string{"User.2": "user1"}, "user1"), param: "User", hidden: "User.2"},
		{name: "NoUsers", params: modify("ehpc-demo", nil), code: CodeMissingParameter, param: "User.1.Name"},
		{name: "EmptyName", params: modify("ehpc-demo", map[string]string{"User.1.Name": ""}, "user1"), param: "User.1.Name"},
		{name: "EmptyPassword", params: modify("ehpc-demo", map[string]string{"User.1.Password": ""}, "user1"), param: "User.1.Password"},
		{name: "DuplicateName", params: modify("ehpc-demo", nil, "user1", "user1"), param: "User.2.Name"},
		{name: "LDAPMetacharacters", params: modify("ehpc-demo", nil, "user1", "*)(uid=*"), param: "User.2.Name"},
		{name: "ShellMetacharacters", params: modify("ehpc-demo", nil, "user1;rm -rf", "user2"), param: "User.1.Name"},
		{name: "DNInjection", params: modify("ehpc-demo", nil, "cn=admin,dc=x"), param: "User.1.Name"},
		{name: "Password10000", params: modify("ehpc-demo", map[string]string{"User.1.Password": strings.Repeat(canary, 770)}, "user1"), param: "User.1.Password"},
		{name: "PasswordPolicy", params: modify("ehpc-demo", map[string]string{"User.2.Password": "cnry-qz!xlm"}, "user1", "user2"), param: "User.2.Password"},
		{name: "PasswordIsName", params: modify("ehpc-demo", map[string]string{"User.1.Name": "Cnry7Qzx9Lm0", "User.1.Password": "Cnry7Qzx9Lm0"}), param: "User.1.Password"},
		{name: "AsyncNotBool", params: modify("ehpc-demo", map[string]string{"Async": "yes"}, "user1"), param: "Async"},
		{name: "PageSizeTooLarge", params: map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo", "PageSize": "51"}, param: "PageSize"},
		{name: "PageNumberZero", params: map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo", "PageNumber": "0"}, param: "PageNumber"},
		{name: "ArchivedNotBool", params: map[string]string{"Action": ActionListTasks, "ClusterId": "ehpc-demo", "Archived": "2"}, param: "Archived"},
		{name: "InvalidUTF8Password", params: modify("ehpc-demo", nil, "user1"), raw: "&User.2.Name=user2&User.2.Password=" + canary + "%FF%FE", param: "User.2.Password"},
		{name: "BadEscape", params: modify("ehpc-demo", nil, "user1"), raw: "&User.2.Password=" + canary + "%zz", param: "User.2.Password"},
		{name: "RepeatedKey", params: modify("ehpc-demo", nil, "user1"), raw: "&User.1.Password=" + canary + "x", param: "User.1.Password"},
		{name: "RepeatedAction", params: modify("ehpc-demo", nil, "user1"), raw: "&Action=ListUsers", param: "Action"},
		// A name the API does not define is request content: never echoed.
		{name: "RepeatedUnknownKey", params: modify("ehpc-demo", nil, "user1"), raw: "&Xq9Probe=1&Xq9Probe=2", param: "(parameter name)", hidden: "Xq9Probe"},
		{name: "UnknownKeyBadEscape", params: modify("ehpc-demo", nil, "user1"), raw: "&Xq9Probe=%zz", param: "(parameter name)", hidden: "Xq9Probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			e.secrets = append(e.secrets, canary+"%FF", "cnry-qz!xlm", "Cnry7Qzx9Lm0")
			req := get(signed("GET", tt.params, testKeyID, testSecret, e.now))
			req.URL.RawQuery += tt.raw
			r := e.serve(t, req)
			code := tt.code
			if code == "" {
				code = CodeInvalidParams
			}
			wantError(t, r, 400, code)
			if !strings.Contains(r.message(), tt.param) {
				t.Errorf("message %q does not name %s", r.message(), tt.param)
			}
			if tt.hidden != "" && (strings.Contains(r.message(), tt.hidden) || strings.Contains(fmt.Sprint(r.Body["Recommend"]), tt.hidden)) {
				t.Errorf("the answer echoes %q: %v", tt.hidden, r.Body)
			}
			if n := e.dir.resetNames(); len(n) != 0 {
				t.Errorf("%v changed despite a bad entry", n)
			}
			if e.dir.password("user1") != "Old-Pass-123!" {
				t.Error("user1's password changed")
			}
		})
	}
}

func TestModifySuccess(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t, nil)
			p := signed(method, modify("ehpc-demo", map[string]string{"Async": "false"}, "user1", "user2", "user3"), testKeyID, testSecret, e.now)
			req := get(p)
			if method == "POST" {
				req = post(p)
			}
			r := e.serve(t, req)
			if r.Status != 200 || len(r.Body) != 1 || r.Body["RequestId"] == "" {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
			for i, n := range []string{"user1", "user2", "user3"} {
				if e.dir.password(n) != canary+strconv.Itoa(i) {
					t.Errorf("%s was not reset", n)
				}
			}
		})
	}
}

func TestPartFailure(t *testing.T) {
	e := newEnv(t, nil)
	e.dir.Errs["user3"] = password.PolicyError([]password.Violation{password.DefaultPolicy().Violation(password.RuleReusePrevention)})
	e.dir.Errs["user4"] = password.Errorf(password.EUNAVAILABLE, "The directory cannot be reached.")
	r := e.call(t, modify("ehpc-demo", nil, "user1", "ghost", "user3", "user4", "user2"))
	wantError(t, r, 409, CodePartFailure)
	if r.message() != "Part of the batch operation failed." {
		t.Errorf("message %q", r.message())
	}
	var body struct{ Results []UserResult }
	if err := json.Unmarshal([]byte(r.Raw), &body); err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, code string }{
		{"user1", CodeSuccess}, {"ghost", CodeUserNotExist}, {"user3", CodeUserChangePasswordFailure},
		{"user4", CodeServiceUnavailable}, {"user2", CodeSuccess},
	}
	if len(body.Results) != len(want) {
		t.Fatalf("%d results: %s", len(body.Results), r.Raw)
	}
	for i, w := range want {
		if g := body.Results[i]; g.Name != w.name || g.Code != w.code {
			t.Errorf("result %d = %+v, want %s %s", i, g, w.name, w.code)
		}
	}
	if m := body.Results[1].Message; m != "The specified user is not found in the domain: ghost." {
		t.Errorf("ghost's message %q", m)
	}
	if body.Results[2].Detail == "" {
		t.Error("the directory's reason for user3 is missing")
	}
	lines := e.logs.Lines(t)
	audits := 0
	for _, l := range lines {
		if l["event"] == "audit" {
			audits++
			if l["access_key_id"] != testKeyID || l["cluster"] != "ehpc-demo" || l["user"] == "" || l["outcome"] == "" {
				t.Errorf("audit line lacks fields: %v", l)
			}
		}
	}
	if audits != 5 {
		t.Errorf("%d audit lines, want 5", audits)
	}
}

func TestRequestLog(t *testing.T) {
	e := newEnv(t, nil)
	ctx := gateway.With(context.Background(), gateway.Info{Platform: gateway.FC, RequestID: "fc-req-9"})
	r := e.serve(t, get(signed("GET", modify("ehpc-demo", nil, "user1"), testKeyID, testSecret, e.now)).WithContext(ctx))
	if r.Status != 200 {
		t.Fatal(r.Raw)
	}
	var req map[string]any
	for _, l := range e.logs.Lines(t) {
		if l["event"] == "request" {
			req = l
		}
	}
	want := map[string]any{"request_id": "fc-req-9", "function": "modify-user-passwords", "platform": "fc",
		"action": ActionModifyUserPasswords, "access_key_id": testKeyID, "cluster": "ehpc-demo", "code": CodeSuccess, "status": 200.0}
	for k, v := range want {
		if req[k] != v {
			t.Errorf("request log %s = %v, want %v", k, req[k], v)
		}
	}
	if _, ok := req["latency_ms"].(float64); !ok {
		t.Error("request log lacks latency")
	}
}

func TestListUsers(t *testing.T) {
	e := newEnv(t, nil)
	r := e.call(t, map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo", "PageNumber": "2", "PageSize": "2"})
	if r.Status != 200 {
		t.Fatal(r.Raw)
	}
	var body listUsersResponse
	if err := json.Unmarshal([]byte(r.Raw), &body); err != nil {
		t.Fatal(err)
	}
	if body.PageNumber != 2 || body.PageSize != 2 || body.TotalCount != 5 || len(body.Users.UserInfo) != 2 {
		t.Fatalf("%s", r.Raw)
	}
	u := body.Users.UserInfo[0]
	if u.Name != "user3" || u.Group != "users" || u.UserID != "1002" || u.GroupID != "100" || u.AddTime != "2026-01-02T03:04:05Z" {
		t.Errorf("%+v", u)
	}
	r = e.call(t, map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo"})
	if err := json.Unmarshal([]byte(r.Raw), &body); err != nil || body.PageNumber != 1 || body.PageSize != 10 || len(body.Users.UserInfo) != 5 {
		t.Errorf("defaults: %s", r.Raw)
	}
	wantError(t, e.call(t, map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-nodir"}), 406, CodeDomainNotExist)
	wantError(t, e.call(t, map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-stopped"}), 403, CodeInvalidClusterStatus)
	wantError(t, e.call(t, map[string]string{"Action": ActionListUsers}), 400, CodeMissingParameter)
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"ShortTaskKey", Options{Tasks: newMemTasks(), TaskKey: []byte("short")}},
		{"NoTaskKey", Options{Tasks: newMemTasks()}},
		{"DuplicateKey", Options{AccessKeys: []AccessKey{{ID: "a"}, {ID: "a"}}}},
		{"KeyWithoutID", Options{AccessKeys: []AccessKey{{Secret: "x"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.opts); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

type panickingLister struct{}

func (panickingLister) ListUsers(context.Context, int, int) ([]password.User, int, error) {
	panic("boom " + canary)
}

// TestPanicIsUnknownError: a panic in a dependency answers UnknownError and
// its value is not logged.
func TestPanicIsUnknownError(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Clusters["ehpc-demo"] = Cluster{Status: StatusRunning, Service: o.Clusters["ehpc-demo"].Service, Users: panickingLister{}}
	})
	r := e.call(t, map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo"})
	wantError(t, r, 500, CodeUnknownError)
}
