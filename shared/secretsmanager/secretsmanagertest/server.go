// Package secretsmanagertest runs a fake AWS Secrets Manager that answers
// GetSecretValue, DescribeSecret, PutSecretValue and UpdateSecretVersionStage as the
// service does, with versions and staging labels, for tests that drive the real SDK.
package secretsmanagertest

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

// Secret is what the fake holds for an ARN: a SecretString, a SecretBinary, or
// an error to answer with.
type Secret struct {
	String *string
	Binary []byte
	Status int    // with Code: answer this HTTP status
	Code   string // with Status: answer this error code, such as AccessDeniedException
	Raw    string // answer 200 with this body, verbatim
}

// String returns a Secret holding the SecretString s.
func String(s string) Secret { return Secret{String: &s} }

// Options configures a Server.
type Options struct {
	Region          string // the region requests must be signed for
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string // the token requests must carry; empty means none
	Secrets         map[string]Secret
	Delay           time.Duration // wait this long before answering
}

// Server is a fake Secrets Manager. It checks that each request is a
// GetSecretValue in the awsJson1_1 protocol, SigV4-signed with the configured
// credentials and region, and answers with the configured secret or with the
// error the service would give.
type Server struct {
	URL  string
	opts Options
	tb   testing.TB

	mu       sync.Mutex
	requests map[string]int
	state    map[string]*secretState // by ARN, for secrets that hold a value
	throttle int                     // answer this many more requests with ThrottlingException
	calls    map[string]int          // well-signed requests by operation
}

// secretState is a secret's versions, as the service keeps them.
type secretState struct {
	rotation bool
	versions []*version
}

type version struct {
	id     string
	value  *string // nil: created by RotateSecret, no value yet
	stages []string
}

// NewServer starts a Server that the test's cleanup stops.
func NewServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{opts: opts, tb: tb, requests: map[string]int{}, state: map[string]*secretState{}, calls: map[string]int{}}
	for arn, sec := range opts.Secrets {
		if sec.String != nil && sec.Code == "" && sec.Raw == "" {
			v := *sec.String
			s.state[arn] = &secretState{versions: []*version{{id: "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111", value: &v, stages: []string{Current}}}}
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Env returns the environment that points an SDK client at s with its credentials.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":                s.opts.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":            s.opts.SecretAccessKey,
		"AWS_SESSION_TOKEN":                s.opts.SessionToken,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": s.URL,
	}
}

// Requests returns how many well-signed GetSecretValue requests named secretID.
func (s *Server) Requests(secretID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[secretID]
}

func (s *Server) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "6b2f3c2e-0000-4000-8000-000000000000")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "Message": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body) // first, so that the server notices the client hang up
	if s.opts.Delay > 0 {
		select {
		case <-time.After(s.opts.Delay):
		case <-r.Context().Done():
			return
		}
	}
	op, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	if r.Method != http.MethodPost || r.URL.Path != "/" || !operations[op] ||
		r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		s.tb.Errorf("secretsmanagertest: not a request this fake serves: %s %s target=%q type=%q", r.Method, r.URL, r.Header.Get("X-Amz-Target"), r.Header.Get("Content-Type"))
		s.fail(w, http.StatusBadRequest, "UnknownOperationException", "")
		return
	}
	if code, msg := s.checkSignature(r, body); code != "" {
		s.tb.Logf("secretsmanagertest: refusing the request: %s: %s", code, msg)
		s.fail(w, http.StatusBadRequest, code, msg)
		return
	}
	var in struct{ SecretId string }
	if err := json.Unmarshal(body, &in); err != nil {
		s.fail(w, http.StatusBadRequest, "SerializationException", "")
		return
	}
	s.mu.Lock()
	s.calls[op]++
	if s.throttle > 0 {
		s.throttle--
		s.mu.Unlock()
		s.fail(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
		return
	}
	if op != "GetSecretValue" {
		defer s.mu.Unlock()
		s.serveVersions(w, op, in.SecretId, body)
		return
	}
	s.requests[in.SecretId]++
	if st := s.state[in.SecretId]; st != nil {
		defer s.mu.Unlock()
		s.serveVersions(w, op, in.SecretId, body)
		return
	}
	s.mu.Unlock()
	sec, ok := s.opts.Secrets[in.SecretId]
	switch {
	case !ok:
		s.fail(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	case sec.Code != "":
		s.fail(w, sec.Status, sec.Code, "User: arn:aws:sts::123456789012:assumed-role/chpass/fn is not authorized to perform: secretsmanager:GetSecretValue on resource: "+in.SecretId)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "6b2f3c2e-0000-4000-8000-000000000001")
	if sec.Raw != "" {
		io.WriteString(w, sec.Raw)
		return
	}
	out := map[string]any{
		"ARN": in.SecretId, "Name": in.SecretId[strings.LastIndex(in.SecretId, ":")+1:],
		"VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111", "VersionStages": []string{"AWSCURRENT"},
		"CreatedDate": 1.523477145713e9,
	}
	if sec.String != nil {
		out["SecretString"] = *sec.String
	}
	if sec.Binary != nil {
		out["SecretBinary"] = sec.Binary // base64, as the service sends it
	}
	json.NewEncoder(w).Encode(out)
}

// checkSignature re-signs the request with the SDK's own SigV4 signer over the
// headers it claims to have signed, and compares. It returns the error code and
// message Secrets Manager would answer with, or "".
func (s *Server) checkSignature(r *http.Request, body []byte) (code, msg string) {
	const (
		badSig   = "InvalidSignatureException"
		badToken = "UnrecognizedClientException"
		algo     = "AWS4-HMAC-SHA256 "
	)
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
		return badSig, "bad X-Amz-Date"
	}
	if id, _, _ := strings.Cut(fields["Credential"], "/"); id != s.opts.AccessKeyID {
		return badToken, "The security token included in the request is invalid."
	}
	scope := fmt.Sprintf("%s/%s/%s/secretsmanager/aws4_request", s.opts.AccessKeyID, date.Format("20060102"), s.opts.Region)
	if fields["Credential"] != scope {
		return badSig, "Credential should be scoped to " + scope
	}
	if r.Header.Get("X-Amz-Security-Token") != s.opts.SessionToken {
		return badToken, "The security token included in the request is invalid."
	}
	re, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return badSig, err.Error()
	}
	re.Host = r.Host
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" && h != "content-length" {
			re.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: s.opts.AccessKeyID, SecretAccessKey: s.opts.SecretAccessKey, SessionToken: s.opts.SessionToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, re, hex.EncodeToString(sum[:]), "secretsmanager", s.opts.Region, date); err != nil {
		return badSig, err.Error()
	}
	if auth != re.Header.Get("Authorization") {
		// As AWS answers: the message goes on to quote the canonical request,
		// whose signed headers include X-Amz-Security-Token, and the string to sign.
		var canon strings.Builder
		fmt.Fprintf(&canon, "%s\n%s\n\n", r.Method, r.URL.Path)
		for _, h := range strings.Split(fields["SignedHeaders"], ";") {
			fmt.Fprintf(&canon, "%s:%s\n", h, strings.Join(r.Header.Values(h), ","))
		}
		return badSig, "The request signature we calculated does not match the signature you provided. " +
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n" +
			"The Canonical String for this request should have been\n'" + canon.String() + "'\n\n" +
			"The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" + r.Header.Get("X-Amz-Date") + "\n" + scope + "'\n"
	}
	return "", ""
}
