// Package lambdainvoketest is a fake of Lambda's Invoke API for asynchronous invocations, which
// checks each request's SigV4 signature with the AWS SDK's own signer.
package lambdainvoketest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Credentials and Region are what the fake expects requests to be signed with.
type Credentials struct{ AccessKeyID, SecretAccessKey, SessionToken, Region, Function string }

// Start starts the fake for requests signed with c invoking c.Function with InvocationType
// Event; deliver runs each accepted payload.
func Start(tb testing.TB, c Credentials, deliver func(body []byte) error) *Server {
	return newServer(tb, func(r *http.Request, body []byte) error { return checkSigV4(c, r, body) }, deliver)
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

// checkSigV4 verifies a Lambda Invoke request as AWS would: the SDK's SigV4 over the request as
// received, with the test's credentials, service lambda, the credentials' region, and the
// asynchronous invocation type on the path the function's name makes.
func checkSigV4(c Credentials, r *http.Request, body []byte) error {
	if r.Header.Get("X-Amz-Invocation-Type") != "Event" {
		return fmt.Errorf("X-Amz-Invocation-Type %q, want Event", r.Header.Get("X-Amz-Invocation-Type"))
	}
	if r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/"+c.Function+"/invocations" {
		return fmt.Errorf("%s %s, want the Invoke of the function", r.Method, r.URL.Path)
	}
	auth := r.Header.Get("Authorization")
	fields := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ", ") {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	date, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return err
	}
	if want := c.AccessKeyID + "/" + date.Format("20060102") + "/" + c.Region + "/lambda/aws4_request"; fields["Credential"] != want {
		return fmt.Errorf("credential %q, want %q", fields["Credential"], want)
	}
	if r.Header.Get("X-Amz-Security-Token") != c.SessionToken {
		return fmt.Errorf("no session token")
	}
	re, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	re.Host = r.Host
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" && h != "content-length" {
			re.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, re, hex.EncodeToString(sum[:]), "lambda", c.Region, date); err != nil {
		return err
	}
	if re.Header.Get("Authorization") != auth {
		return fmt.Errorf("SigV4 signature does not match")
	}
	return nil
}
