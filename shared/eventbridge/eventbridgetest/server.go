// Package eventbridgetest runs a fake Amazon EventBridge that answers PutEvents
// as the service does, for tests that drive the real SDK: it checks each
// request's SigV4 signature by re-signing it with the SDK's own signer.
package eventbridgetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// Entry is one PutEvents entry as the fake received it.
type Entry struct {
	EventBusName, Source, DetailType, Detail string
}

// Options configures a Server.
type Options struct {
	Region, AccessKeyID, SecretAccessKey, SessionToken string
	// FailCode, when set, refuses every entry with this error code (FailedEntryCount 1).
	FailCode string
	// Status, when set, answers every request with this HTTP status and a
	// ThrottlingException or InternalException body.
	Status int
}

// Server is a fake EventBridge.
type Server struct {
	URL  string
	opts Options
	tb   testing.TB

	mu       sync.Mutex
	entries  []Entry
	requests int
	badSigs  int
}

// NewServer starts a Server that the test's cleanup stops.
func NewServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{opts: opts, tb: tb}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Env returns the environment that points the publisher at s with its credentials.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID": s.opts.AccessKeyID, "AWS_SECRET_ACCESS_KEY": s.opts.SecretAccessKey,
		"AWS_SESSION_TOKEN": s.opts.SessionToken, "AWS_ENDPOINT_URL_EVENTBRIDGE": s.URL, "AWS_REGION": s.opts.Region,
	}
}

// Entries returns the entries of well-signed PutEvents requests.
func (s *Server) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.entries...)
}

// Requests returns how many requests arrived, and how many of them were badly signed.
func (s *Server) Requests() (all, badlySigned int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.badSigs
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" ||
		r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		s.tb.Errorf("eventbridgetest: not a PutEvents request: %s %s target=%q", r.Method, r.URL, r.Header.Get("X-Amz-Target"))
		fail(w, http.StatusBadRequest, "UnknownOperationException", "")
		return
	}
	if code, msg := s.checkSignature(r, body); code != "" {
		s.mu.Lock()
		s.badSigs++
		s.mu.Unlock()
		fail(w, http.StatusBadRequest, code, msg)
		return
	}
	if s.opts.Status != 0 {
		code := "InternalException"
		if s.opts.Status == http.StatusBadRequest {
			code = "ThrottlingException"
		}
		fail(w, s.opts.Status, code, "")
		return
	}
	var in struct {
		Entries []Entry
	}
	if err := json.Unmarshal(body, &in); err != nil || len(in.Entries) == 0 || len(in.Entries) > 10 {
		fail(w, http.StatusBadRequest, "ValidationException", "1 to 10 entries")
		return
	}
	type result struct {
		EventId   string `json:",omitempty"`
		ErrorCode string `json:",omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{}
	for i, e := range in.Entries {
		if s.opts.FailCode != "" {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: s.opts.FailCode})
			continue
		}
		s.mu.Lock()
		s.entries = append(s.entries, e)
		s.mu.Unlock()
		out.Entries = append(out.Entries, result{EventId: fmt.Sprintf("11710aed-b79e-4468-a20b-bb3c0c3b4860-%d", i)})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

// checkSignature re-signs the request with the SDK's SigV4 signer over the
// headers it claims to have signed, for service "events", and compares.
func (s *Server) checkSignature(r *http.Request, body []byte) (code, msg string) {
	const algo = "AWS4-HMAC-SHA256 "
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, algo) {
		return "MissingAuthenticationTokenException", "Request is missing Authentication Token"
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(auth, algo), ", ") {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	date, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "InvalidSignatureException", "bad X-Amz-Date"
	}
	scope := fmt.Sprintf("%s/%s/%s/events/aws4_request", s.opts.AccessKeyID, date.Format("20060102"), s.opts.Region)
	if fields["Credential"] != scope {
		return "InvalidSignatureException", "Credential should be scoped to " + scope
	}
	if r.Header.Get("X-Amz-Security-Token") != s.opts.SessionToken {
		return "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	re, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return "InvalidSignatureException", "bad request"
	}
	re.Host = r.Host
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" && h != "content-length" {
			re.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: s.opts.AccessKeyID, SecretAccessKey: s.opts.SecretAccessKey, SessionToken: s.opts.SessionToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, re, hex.EncodeToString(sum[:]), "events", s.opts.Region, date); err != nil {
		return "InvalidSignatureException", "cannot sign"
	}
	if auth != re.Header.Get("Authorization") {
		return "InvalidSignatureException", "The request signature we calculated does not match the signature you provided."
	}
	return "", ""
}
