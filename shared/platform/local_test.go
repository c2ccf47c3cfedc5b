package platform_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chpass/shared/gateway"
	"chpass/shared/platform"
)

// startServer serves h with Serve on a loopback listener. stop ends it and returns Serve's error.
func startServer(tb testing.TB, h http.Handler) (base string, stop func() error) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- platform.Serve(ctx, h, ln) }()
	var once sync.Once
	var serr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serr = <-errc:
			case <-time.After(15 * time.Second):
				serr = errors.New("Serve did not return after its context ended")
			}
		})
		return serr
	}
	tb.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

func TestServeLocal(t *testing.T) {
	base, stop := startServer(t, echo)
	client := &http.Client{Timeout: 10 * time.Second}

	get := func(t *testing.T, header http.Header) seen {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/v5/caller-password?tag=x&tag=y", strings.NewReader(changeBody))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range header {
			req.Header[k] = vs
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return decodeSeen(t, string(b), false)
	}

	spoofs := map[string]http.Header{
		"NoHeaders": {},
		"XAuthorizer": {
			"X-Authorizer": {`{"Kind":"iam","Principal":"arn:aws:iam::1:root","AccessKey":"AKIA"}`},
		},
		"ClaimsLookingHeaders": {
			"X-Amzn-Oidc-Identity":   {"root"},
			"X-Amzn-Oidc-Data":       {"eyJhbGciOiJub25lIn0.eyJ1c2VybmFtZSI6InJvb3QifQ."},
			"X-Apigateway-Context":   {`{"authorizer":{"claims":{"username":"root"}}}`},
			"X-Amzn-Request-Context": {`{"authorizer":{"iam":{"userArn":"arn:aws:iam::1:root","accessKey":"AKIA"}}}`},
			"X-Fc-Jwt-Claims":        {`{"username":"root"}`},
			"Authorization":          {"Bearer forged"},
		},
		"RequestIDHeaders": {
			"X-Request-Id":     {"chosen-by-client"},
			"X-Fc-Request-Id":  {"chosen-by-client"},
			"X-Amzn-Requestid": {"chosen-by-client"},
		},
	}
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	ids := map[string]bool{}
	for name, header := range spoofs {
		t.Run(name, func(t *testing.T) {
			before := time.Now()
			s := get(t, header)
			if !s.HasInfo || s.Info.Platform != gateway.Local {
				t.Errorf("info %+v (present %v), want platform local", s.Info, s.HasInfo)
			}
			if s.Info.Authorizer != nil {
				t.Errorf("a local request carries an authorizer: %+v", *s.Info.Authorizer)
			}
			if !hexID.MatchString(s.Info.RequestID) || ids[s.Info.RequestID] {
				t.Errorf("request id %q, want a fresh random one", s.Info.RequestID)
			}
			ids[s.Info.RequestID] = true
			if s.Deadline == nil || s.Deadline.Before(before) || s.Deadline.After(before.Add(31*time.Second)) {
				t.Errorf("deadline %v, want about 30s from %v", s.Deadline, before)
			}
			if !slices.Equal(s.Query["tag"], []string{"x", "y"}) || bodyOf(t, s) != changeBody {
				t.Errorf("query %q body %q", s.Query, bodyOf(t, s))
			}
			for k, vs := range header {
				if !slices.Equal(s.Header[k], vs) {
					t.Errorf("header %s = %q, want %q (headers pass through, they just prove nothing)", k, s.Header[k], vs)
				}
			}
			if host, _, err := net.SplitHostPort(s.RemoteAddr); err != nil || host != "127.0.0.1" {
				t.Errorf("RemoteAddr %q", s.RemoteAddr)
			}
		})
	}

	t.Run("MultiValueHeader", func(t *testing.T) {
		s := get(t, http.Header{"X-Multi": {"a", "b"}})
		if !slices.Equal(s.Header["X-Multi"], []string{"a", "b"}) {
			t.Errorf("X-Multi = %q", s.Header["X-Multi"])
		}
	})

	t.Run("BodyTooLarge", func(t *testing.T) {
		resp, err := client.Post(base+"/v5/caller-password", "application/json", bytes.NewReader(make([]byte, platform.MaxBodyBytes+1)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
	})

	t.Run("PanicIs500WithoutItsValue", func(t *testing.T) {
		resp, err := client.Get(base + "/panic")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || bytes.Contains(b, []byte("secret-canary")) {
			t.Errorf("status %d body %q", resp.StatusCode, b)
		}
	})

	if err := stop(); err != nil {
		t.Errorf("Serve returned %v after a graceful stop", err)
	}
	if _, err := client.Get(base + "/"); err == nil {
		t.Error("server still answers after Serve returned")
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	base, stop := startServer(t, slow)

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if r := <-got; r.err != nil || r.body != "done" {
		t.Errorf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestServeReportsListenerFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := platform.Serve(context.Background(), echo, ln); err == nil {
		t.Error("Serve on a closed listener returned nil")
	}
}

func TestRequestIDsAreRandom(t *testing.T) {
	base, _ := startServer(t, echo)
	seenIDs := map[string]bool{}
	for range 20 {
		resp, err := http.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := decodeSeen(t, string(b), false).Info.RequestID
		if raw, err := hex.DecodeString(id); err != nil || len(raw) != 16 || seenIDs[id] {
			t.Fatalf("request id %q", id)
		}
		seenIDs[id] = true
	}
}
