// Package kmstest runs a fake Alibaba Cloud KMS that answers GetSecretValue as
// the service does, for tests that drive the real SDK.
package kmstest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequestID is the RequestId of every answer.
const RequestID = "E7B8C1A2-0000-4000-8000-000000000000"

// Secret is what the fake holds for a secret name: its data, or an error to
// answer with.
type Secret struct {
	Data   string
	Type   string // SecretDataType; empty means text
	Status int    // with Code: answer this HTTP status
	Code   string // with Status: answer this error code, such as Forbidden.NoPermission
	Raw    string // answer 200 with this body, verbatim
}

// Options configures a Server.
type Options struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string // the STS token requests must carry; empty means none
	Secrets         map[string]Secret
	Delay           time.Duration // wait this long before answering
}

// Server is a fake KMS. It checks that each request is an RPC-style
// GetSecretValue (version 2016-01-20) signed with HMAC-SHA1, signature version
// 1.0, by the configured AccessKey, and answers with the configured secret or
// with the error KMS would give, in KMS's JSON.
type Server struct {
	URL  string
	opts Options
	tb   testing.TB

	mu       sync.Mutex
	requests map[string]int
	state    map[string]*secretState // secrets made with AddSecret, with versions and stages
	throttle int                     // answer this many more requests with Throttling
	calls    map[string]int          // well-signed requests by action
}

// NewServer starts a Server that the test's cleanup stops.
func NewServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{opts: opts, tb: tb, requests: map[string]int{}, state: map[string]*secretState{}, calls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Env returns the environment that points the resolver at s with its credentials.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     s.opts.AccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": s.opts.AccessKeySecret,
		"ALIBABA_CLOUD_SECURITY_TOKEN":    s.opts.SecurityToken,
		"CHPASS_KMS_ENDPOINT":             s.URL,
	}
}

// Requests returns how many well-signed GetSecretValue requests named name.
func (s *Server) Requests(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[name]
}

func (s *Server) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{
		"RequestId": RequestID, "HostId": "kms.cn-hangzhou.aliyuncs.com", "Code": code, "Message": msg,
		"Recommend": "https://api.aliyun.com/troubleshoot?q=" + code + "&product=Kms&requestId=" + RequestID,
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil { // first, so that the server notices the client hang up
		s.fail(w, http.StatusBadRequest, "InvalidParameter", "")
		return
	}
	if s.opts.Delay > 0 {
		select {
		case <-time.After(s.opts.Delay):
		case <-r.Context().Done():
			return
		}
	}
	p := map[string]string{}
	for _, vs := range []url.Values{r.URL.Query(), r.PostForm} {
		for k, v := range vs {
			p[k] = v[0]
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" || !actions[p["Action"]] || p["Version"] != "2016-01-20" || p["Format"] != "JSON" {
		s.tb.Errorf("kmstest: not a request this fake serves: %s %s Action=%q Version=%q", r.Method, r.URL.Path, p["Action"], p["Version"])
		s.fail(w, http.StatusBadRequest, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
		return
	}
	if p["SignatureMethod"] != "HMAC-SHA1" || p["SignatureVersion"] != "1.0" || p["SignatureNonce"] == "" || p["Signature"] == "" {
		s.fail(w, http.StatusBadRequest, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
		return
	}
	if _, err := time.Parse("2006-01-02T15:04:05Z", p["Timestamp"]); err != nil {
		s.fail(w, http.StatusBadRequest, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
		return
	}
	if p["AccessKeyId"] != s.opts.AccessKeyID {
		s.fail(w, http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
		return
	}
	if p["SecurityToken"] != s.opts.SecurityToken {
		s.fail(w, http.StatusBadRequest, "InvalidSecurityToken.MismatchWithAccessKey", "Specified SecurityToken mismatch with the AccessKey.")
		return
	}
	toSign := StringToSign(r.Method, p)
	mac := hmac.New(sha1.New, []byte(s.opts.AccessKeySecret+"&"))
	io.WriteString(mac, toSign)
	if p["Signature"] != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
		// As KMS does, the message quotes the server's string to sign.
		s.fail(w, http.StatusBadRequest, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:"+toSign)
		return
	}
	name := p["SecretName"]
	s.mu.Lock()
	s.calls[p["Action"]]++
	if s.throttle > 0 {
		s.throttle--
		s.mu.Unlock()
		s.fail(w, http.StatusServiceUnavailable, "Throttling", "Request was denied due to request throttling.")
		return
	}
	if p["Action"] == "GetSecretValue" {
		s.requests[name]++
	}
	if st := s.state[name]; st != nil || p["Action"] != "GetSecretValue" {
		defer s.mu.Unlock()
		s.serveVersions(w, p, st)
		return
	}
	s.mu.Unlock()
	sec, ok := s.opts.Secrets[name]
	switch {
	case !ok:
		s.fail(w, http.StatusNotFound, "Forbidden.ResourceNotFound", "The resource not exists.")
		return
	case sec.Code != "":
		s.fail(w, sec.Status, sec.Code, "This operation is forbidden by permission system.")
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	if sec.Raw != "" {
		io.WriteString(w, sec.Raw)
		return
	}
	typ := sec.Type
	if typ == "" {
		typ = "text"
	}
	json.NewEncoder(w).Encode(map[string]any{
		"RequestId": RequestID, "SecretName": name, "SecretData": sec.Data, "SecretDataType": typ,
		"VersionId": "v1", "CreateTime": "2024-07-05T08:22:03Z", "SecretType": "Generic",
		"VersionStages": map[string][]string{"VersionStage": {"ACSCurrent"}},
	})
}

// StringToSign is the string that signature version 1.0 signs:
// METHOD&%2F&percent(the sorted, percent-encoded parameters but Signature),
// where percent is RFC 3986 encoding.
func StringToSign(method string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = percent(k) + "=" + percent(params[k])
	}
	return method + "&" + percent("/") + "&" + percent(strings.Join(pairs, "&"))
}

func percent(s string) string {
	return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(url.QueryEscape(s))
}
