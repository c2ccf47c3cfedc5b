// Package fcinvoketest is a fake of Function Compute 3.0's InvokeFunction API for asynchronous
// invocations, which checks each request's ACS3-HMAC-SHA256 signature with its own computation
// of the vendor's documented algorithm, independent of fcinvoke.
package fcinvoketest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credentials are what the fake expects requests to be signed with, and the function invoked.
type Credentials struct{ AccessKeyID, AccessKeySecret, SecurityToken, Function string }

// Start starts the fake for requests signed with c invoking c.Function with
// x-fc-invocation-type: Async; deliver runs each accepted payload.
func Start(tb testing.TB, c Credentials, deliver func(body []byte) error) *Server {
	return newServer(tb, func(r *http.Request, body []byte) error { return checkACS3(c, r, body) }, deliver)
}

// Server is a fake of the platform's asynchronous-invoke endpoint: it checks each request's
// signature, answers 202 as the platform does once it has queued the event, then hands the body,
// as the platform would deliver it, to Deliver. Wait waits for the deliveries.
type Server struct {
	URL     string
	Deliver func(body []byte) error
	check   func(r *http.Request, body []byte) error
	srv     *httptest.Server
	mu      sync.Mutex
	bodies  []string
	errs    []error
	wg      sync.WaitGroup
}

func newServer(tb testing.TB, check func(r *http.Request, body []byte) error, deliver func([]byte) error) *Server {
	s := &Server{check: check, Deliver: deliver}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	tb.Cleanup(func() { s.Wait(); s.srv.Close() })
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := s.check(r, body); err != nil {
		s.mu.Lock()
		s.errs = append(s.errs, err)
		s.mu.Unlock()
		http.Error(w, `{"Code":"InvalidSignature"}`, http.StatusForbidden)
		return
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, string(body))
	s.wg.Add(1)
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	go func() {
		defer s.wg.Done()
		if err := s.Deliver(body); err != nil {
			s.mu.Lock()
			s.errs = append(s.errs, fmt.Errorf("delivered event: %w", err))
			s.mu.Unlock()
		}
	}()
}

// Wait waits for every delivery so far to end.
func (s *Server) Wait() { s.wg.Wait() }

// Seen returns the bodies of the requests whose signature held, and every error: a refused
// signature or a delivery's failure.
func (s *Server) Seen() ([]string, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...), append([]error(nil), s.errs...)
}

// checkACS3 verifies an FC 3.0 InvokeFunction request with the V3 signature as written in the
// vendor's document, computed here independently of fcinvoke: the canonical request of every
// header named in SignedHeaders, which must include host, the x-acs-* headers and
// x-fc-invocation-type: Async.
func checkACS3(c Credentials, r *http.Request, body []byte) error {
	if r.Method != http.MethodPost || r.URL.Path != "/2023-03-30/functions/"+c.Function+"/invocations" {
		return fmt.Errorf("%s %s, want InvokeFunction of the function", r.Method, r.URL.Path)
	}
	if r.Header.Get("x-fc-invocation-type") != "Async" || r.Header.Get("x-acs-action") != "InvokeFunction" || r.Header.Get("x-acs-version") != "2023-03-30" {
		return fmt.Errorf("headers %v: want an Async InvokeFunction of 2023-03-30", r.Header)
	}
	const prefix = "ACS3-HMAC-SHA256 "
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, prefix) {
		return fmt.Errorf("no ACS3 Authorization")
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(auth, prefix), ",") {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	if fields["Credential"] != c.AccessKeyID || r.Header.Get("x-acs-security-token") != c.SecurityToken {
		return fmt.Errorf("credential %q or token wrong", fields["Credential"])
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, must := range []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-security-token", "x-acs-signature-nonce", "x-acs-version", "x-fc-invocation-type"} {
		if !sort.StringsAreSorted(signed) || sort.SearchStrings(signed, must) == len(signed) || signed[sort.SearchStrings(signed, must)] != must {
			return fmt.Errorf("SignedHeaders %q lacks %s or is unsorted", fields["SignedHeaders"], must)
		}
	}
	date, err := time.Parse("2006-01-02T15:04:05Z", r.Header.Get("x-acs-date"))
	if err != nil || time.Since(date).Abs() > 15*time.Minute {
		return fmt.Errorf("x-acs-date %q", r.Header.Get("x-acs-date"))
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	if r.Header.Get("x-acs-content-sha256") != payload {
		return fmt.Errorf("x-acs-content-sha256 is not the body's")
	}
	canon := r.Method + "\n" + r.URL.EscapedPath() + "\n" + r.URL.RawQuery + "\n"
	for _, h := range signed {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		canon += h + ":" + strings.TrimSpace(v) + "\n"
	}
	canon += "\n" + fields["SignedHeaders"] + "\n" + payload
	hc := sha256.Sum256([]byte(canon))
	mac := hmac.New(sha256.New, []byte(c.AccessKeySecret))
	mac.Write([]byte("ACS3-HMAC-SHA256\n" + hex.EncodeToString(hc[:])))
	if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(fields["Signature"])) {
		return fmt.Errorf("ACS3 signature does not match")
	}
	return nil
}
