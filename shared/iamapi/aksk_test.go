package iamapi_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"chpass/shared/guard/guardtest"
	"chpass/shared/iamapi"
)

func TestSignature(t *testing.T) {
	tests := []struct {
		name string
		req  func(tb testing.TB) *http.Request
		code string
	}{
		{"Valid", func(tb testing.TB) *http.Request { return signed(tb, body(oldPW, newPW)) }, ""},
		{"ValidWithQuery", func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			r.URL.RawQuery = "b=2&a=1&a=0"
			signRequest(tb, r, akID, akSecret, fixedNow)
			return r
		}, ""},
		{"ValidSignedUserAgentAndHost", func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			r.Header.Set("User-Agent", "huaweicloud-usdk-go/3.0")
			r.Header.Set("Host", r.Host)
			signRequest(tb, r, akID, akSecret, fixedNow, "host", "user-agent")
			return r
		}, ""},
		{"TrailingSlashSignedWithout", func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			signRequest(tb, r, akID, akSecret, fixedNow) // signs /v5/caller-password/
			r.URL.Path += "/"                            // sends it with the slash
			return r
		}, ""},
		{"DateWithinSkew", func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			signRequest(tb, r, akID, akSecret, fixedNow.Add(-14*time.Minute))
			return r
		}, ""},
		{"WrongSecret", func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			signRequest(tb, r, akID, "wrong-"+akSecret, fixedNow)
			return r
		}, iamapi.CodeUnauthenticated},
		{"StaleDate", func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			signRequest(tb, r, akID, akSecret, fixedNow.Add(-16*time.Minute))
			return r
		}, iamapi.CodeUnauthenticated},
		{"FutureDate", func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			signRequest(tb, r, akID, akSecret, fixedNow.Add(16*time.Minute))
			return r
		}, iamapi.CodeUnauthenticated},
		{"TamperedBody", func(tb testing.TB) *http.Request {
			r := signed(tb, body(oldPW, newPW))
			return withBody(r, body(oldPW, "Other-"+newPW))
		}, iamapi.CodeUnauthenticated},
		{"TamperedSignedHeader", func(tb testing.TB) *http.Request {
			r := signed(tb, body(oldPW, newPW))
			r.Header.Set("X-Domain-Id", "other-domain")
			return r
		}, iamapi.CodeUnauthenticated},
		{"TamperedDate", func(tb testing.TB) *http.Request {
			r := signed(tb, body(oldPW, newPW))
			r.Header.Set("X-Sdk-Date", fixedNow.Add(time.Minute).Format("20060102T150405Z"))
			return r
		}, iamapi.CodeUnauthenticated},
		{"TamperedQuery", func(tb testing.TB) *http.Request {
			r := signed(tb, body(oldPW, newPW))
			r.URL.RawQuery = "user=bob"
			return r
		}, iamapi.CodeUnauthenticated},
		{"TamperedPath", func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			r.URL.Path = iamapi.PolicyPath
			signRequest(tb, r, akID, akSecret, fixedNow)
			r.URL.Path = iamapi.ChangePath
			return r
		}, iamapi.CodeUnauthenticated},
		{"UnknownAK", func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			signRequest(tb, r, "HWAKUNKNOWN", akSecret, fixedNow)
			return r
		}, iamapi.CodeUnauthenticated},
		{"DateNotSigned", func(tb testing.TB) *http.Request {
			r := signed(tb, body(oldPW, newPW))
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "x-domain-id;x-sdk-date", "x-domain-id", 1))
			return r
		}, iamapi.CodeUnauthenticated},
		{"MalformedAuthorization", func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			r.Header.Set("Authorization", "SDK-HMAC-SHA256 Access="+akID)
			return r
		}, iamapi.CodeUnauthenticated},
		{"SecurityTokenRejected", func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			r.Header.Set("X-Security-Token", "temporary")
			signRequest(tb, r, akID, akSecret, fixedNow, "x-security-token")
			return r
		}, iamapi.CodeUnauthenticated},
		{"SignatureAndTokenBoth", func(tb testing.TB) *http.Request {
			return bearer(tb, signed(tb, body(oldPW, newPW)))
		}, iamapi.CodeUnauthenticated},
		{"OtherScheme", func(tb testing.TB) *http.Request {
			r := post(body(oldPW, newPW))
			r.Header.Set("Authorization", "Basic YWxpY2U6cHc=")
			return r
		}, iamapi.CodeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			res := e.do(t, tt.req(t))
			if res.code != tt.code {
				t.Fatalf("code = %q, want %q (%d %s)", res.code, tt.code, res.status, res.msg)
			}
			changed := e.dir.password(user) == newPW
			if changed != (tt.code == "") {
				t.Errorf("password changed = %v", changed)
			}
		})
	}
}

func withBody(r *http.Request, b string) *http.Request {
	r2 := post(b)
	r2.URL = r.URL
	r2.Header = r.Header.Clone()
	return r2
}

func TestLockout(t *testing.T) {
	e := newEnv(t)
	bad := func() result {
		r := post(body(oldPW, newPW))
		signRequest(t, r, akID, "wrong-"+akSecret, e.now)
		return e.do(t, r)
	}
	good := func() result {
		r := post(body(oldPW, newPW))
		signRequest(t, r, akID, akSecret, e.now)
		return e.do(t, r)
	}
	t.Run("GoodSignatureResets", func(t *testing.T) {
		for range iamapi.LockoutFailures - 1 {
			if res := bad(); res.code != iamapi.CodeUnauthenticated {
				t.Fatalf("bad signature: %q", res.code)
			}
		}
		// Only authentication matters here, not what the change answers.
		if res := good(); res.code == iamapi.CodeUnauthenticated || res.code == iamapi.CodeThrottled {
			t.Fatalf("good signature after 4 bad: %q", res.code)
		}
		for range iamapi.LockoutFailures - 1 {
			if res := bad(); res.code != iamapi.CodeUnauthenticated {
				t.Fatalf("count was not reset: %q", res.code)
			}
		}
	})
	// A correctly signed request that fails a later check (here its date, of any
	// age) proves nothing now: a captured one must not keep the key from locking.
	for _, age := range []time.Duration{-16 * time.Minute, -24 * time.Hour, 16 * time.Minute} {
		t.Run("StaleGoodSignatureDoesNotReset"+age.String(), func(t *testing.T) {
			e = newEnv(t)
			for range iamapi.LockoutFailures - 1 {
				if res := bad(); res.code != iamapi.CodeUnauthenticated {
					t.Fatalf("bad signature: %q", res.code)
				}
			}
			r := post(body(oldPW, newPW))
			signRequest(t, r, akID, akSecret, e.now.Add(age))
			if res := e.do(t, r); res.code != iamapi.CodeUnauthenticated {
				t.Fatalf("stale request: %q, want %s", res.code, iamapi.CodeUnauthenticated)
			}
			if res := bad(); res.code != iamapi.CodeUnauthenticated {
				t.Fatalf("fifth bad signature: %q", res.code)
			}
			if res := good(); res.code != iamapi.CodeThrottled {
				t.Fatalf("after 4 bad, 1 stale and 1 bad: %q, want %s (the stale request reset the count)", res.code, iamapi.CodeThrottled)
			}
		})
	}
	e = newEnv(t)
	t.Run("LockedAfterFive", func(t *testing.T) {
		for i := range iamapi.LockoutFailures {
			if res := bad(); res.code != iamapi.CodeUnauthenticated {
				t.Fatalf("bad signature %d: %q, want %s", i+1, res.code, iamapi.CodeUnauthenticated)
			}
		}
		if res := good(); res.code != iamapi.CodeThrottled || res.status != http.StatusTooManyRequests {
			t.Fatalf("good signature while locked: %q %d, want %s 429", res.code, res.status, iamapi.CodeThrottled)
		}
		if e.dir.calls != 0 {
			t.Fatal("a locked key reached the directory")
		}
		if n := strings.Count(e.log.String(), `"event":"access_key_locked"`); n != 1 {
			t.Errorf("%d access_key_locked lines, want 1", n)
		}
		e.now = e.now.Add(iamapi.LockoutDuration - time.Second)
		if res := good(); res.code != iamapi.CodeThrottled {
			t.Fatalf("still locked at 4m59s: %q", res.code)
		}
		e.now = e.now.Add(time.Second)
		if res := good(); res.code != "" {
			t.Fatalf("after 5 minutes: %q, want success", res.code)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		e = newEnv(t)
		var wg sync.WaitGroup
		for range 4 * iamapi.LockoutFailures {
			wg.Go(func() { bad() })
		}
		wg.Wait()
		if res := good(); res.code != iamapi.CodeThrottled {
			t.Fatalf("after 20 concurrent bad signatures: %q, want %s", res.code, iamapi.CodeThrottled)
		}
	})
}

func TestReplayRefused(t *testing.T) {
	e := newEnv(t)
	r := signed(t, body(oldPW, newPW))
	replay := withBody(r, body(oldPW, newPW))
	if res := e.do(t, r); res.code != "" {
		t.Fatalf("first: %q", res.code)
	}
	if res := e.do(t, replay); res.code != iamapi.CodeUnauthenticated || !strings.Contains(res.msg, "replay") {
		t.Fatalf("the same signed request again: %q %q, want %s (a replay)", res.code, res.msg, iamapi.CodeUnauthenticated)
	}
}

func TestLockoutPerSource(t *testing.T) {
	e := newEnv(t)
	from := func(addr, secret string) result {
		r := post(body(oldPW, newPW))
		r.RemoteAddr = addr
		signRequest(t, r, akID, secret, e.now)
		return e.do(t, r)
	}
	for range iamapi.LockoutFailures {
		if res := from("198.51.100.66:4000", "wrong-"+akSecret); res.code != iamapi.CodeUnauthenticated {
			t.Fatalf("bad signature: %q", res.code)
		}
	}
	if res := from("198.51.100.66:4001", akSecret); res.code != iamapi.CodeThrottled {
		t.Fatalf("from the address that failed: %q, want %s", res.code, iamapi.CodeThrottled)
	}
	// Someone who knows only the key's id locks it out from their own address,
	// not from its owner's.
	if res := from("192.0.2.10:4000", akSecret); res.code != "" {
		t.Fatalf("from another address: %q, want success", res.code)
	}
}

func TestGuardUnavailable(t *testing.T) {
	down := &guardtest.Unavailable{}
	e := newEnv(t, func(o *iamapi.Options, _ *fakeDir) { o.Guard = down })
	for _, tt := range []struct {
		name   string
		secret string
	}{{"GoodSignature", akSecret}, {"BadSignature", "wrong-" + akSecret}} {
		t.Run(tt.name, func(t *testing.T) {
			r := post(body(oldPW, newPW))
			signRequest(t, r, akID, tt.secret, e.now)
			res := e.do(t, r)
			if res.code != iamapi.CodeUnavailable || res.status != http.StatusServiceUnavailable {
				t.Fatalf("shared state down: %q %d, want %s 503", res.code, res.status, iamapi.CodeUnavailable)
			}
			if e.dir.calls != 0 || e.dir.password(user) != oldPW {
				t.Fatal("the directory was reached while the shared state was down")
			}
		})
	}
	if down.Calls.Load() != 2 {
		t.Errorf("%d calls to the store, want 2", down.Calls.Load())
	}
}
