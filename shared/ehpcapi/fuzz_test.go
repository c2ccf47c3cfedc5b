package ehpcapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParams feeds the parameter decoding (the query string and a form body,
// then User.N) anything: it never panics, what it accepts is 1 to 100 users
// with non-empty names and passwords, and an error names only a parameter the
// API defines, never the caller's text.
func FuzzParams(f *testing.F) {
	for _, s := range []string{
		"User.1.Name=user1&User.1.Password=Pass-1a!&User.2.Name=user2&User.2.Password=x",
		"User.01.Name=a", "User.0.Name=a&User.0.Password=b", "User.101.Name=a", "User.x.Name=a", "User.1.Foo=a",
		"User=a", "User.1=a", "Xq9=1&Xq9=2", "a=%zz", "a=%FF", "=&&=", "User.1.Name=&User.1.Password=",
	} {
		f.Add(s, "")
	}
	f.Add("Action=ModifyUserPasswords", "User.1.Name=a&User.1.Password=b")
	f.Fuzz(func(t *testing.T, query, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		params, err := readParams(r, httptest.NewRecorder())
		if err == nil {
			us, uerr := parseUsers(params)
			if uerr == nil {
				if len(us) < 1 || len(us) > MaxUsers {
					t.Fatalf("accepted %d users", len(us))
				}
				for _, u := range us {
					if u.Name == "" || u.Password == "" {
						t.Fatalf("accepted an empty name or password: %q", u.Name)
					}
				}
				return
			}
			err = uerr
		}
		if _, ok := catalog[err.Code]; !ok {
			t.Fatalf("code %q is not in the catalog", err.Code)
		}
		switch err.Name {
		case "(parameter name)", "(parameters)", "(request body)", "User", "Content-Type":
		default:
			if safeName(err.Name) != err.Name {
				t.Fatalf("the error names %q, which the API does not define", err.Name)
			}
		}
	})
}

// FuzzSignature feeds the whole RPC surface, signature v1 and its parameters
// (Timestamp, SignatureMethod, SignatureNonce, ...) included, query strings
// derived from a correctly signed one: it never panics, always answers the
// catalog's JSON, and accepts only what the key signed.
func FuzzSignature(f *testing.F) {
	e := newEnv(f, nil)
	good := encode(signed(http.MethodGet, map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-demo"}, testKeyID, testSecret, e.now))
	f.Add(good)
	f.Add(strings.Replace(good, "Timestamp=", "Timestamp=x", 1))
	f.Add(strings.Replace(good, "HMAC-SHA1", "HMAC-SHA256", 1))
	f.Add("Action=ListUsers&AccessKeyId=" + testKeyID + "&Signature=%2B&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&SignatureNonce=1&Timestamp=2026-11-24T04%3A07%3A33%2B08%3A00")
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawQuery = query
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") || w.Header().Get("X-Acs-Request-Id") == "" {
			t.Fatalf("answer %d is not the API's JSON: %q", w.Code, w.Body.String())
		}
		if w.Code == http.StatusOK {
			params, err := readParams(r, httptest.NewRecorder())
			if err != nil || Sign(http.MethodGet, params, testSecret) != params["Signature"] {
				t.Fatalf("accepted a request the key did not sign: %s", query)
			}
		}
	})
}
