// Package fcinvoke hands a task to the asynchronous invocation of the running Function Compute
// function itself: the FC 3.0 InvokeFunction API with x-fc-invocation-type: Async, carrying the
// internal run-task event (platform.NewRunTaskEvent). No FC 3.0 Go SDK is served by the module
// proxy, so this one call is signed here with Alibaba Cloud's V3 signature, ACS3-HMAC-SHA256
// (https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature).
package fcinvoke

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"chpass/shared/platform"
)

// Algorithm is the V3 signature's algorithm name.
const Algorithm = "ACS3-HMAC-SHA256"

// Credentials sign a request: the AccessKey pair and, for STS credentials (as the FC runtime
// sets them), the security token.
type Credentials struct {
	AccessKeyID, AccessKeySecret, SecurityToken string
}

// Sign adds the V3 signature to r, whose body is body: x-acs-date (from now),
// x-acs-signature-nonce (from nonce), x-acs-content-sha256, x-acs-security-token when c has a
// token, and Authorization. It signs host, content-type and every x-acs-* and x-fc-* header r
// holds. r's x-acs-action and x-acs-version are the caller's.
func Sign(r *http.Request, body []byte, c Credentials, now time.Time, nonce string) {
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	r.Header.Set("x-acs-date", now.UTC().Format("2006-01-02T15:04:05Z"))
	r.Header.Set("x-acs-signature-nonce", nonce)
	r.Header.Set("x-acs-content-sha256", payload)
	if c.SecurityToken != "" {
		r.Header.Set("x-acs-security-token", c.SecurityToken)
	}
	canonical, signed := CanonicalRequest(r, payload)
	r.Header.Set("Authorization", fmt.Sprintf("%s Credential=%s,SignedHeaders=%s,Signature=%s",
		Algorithm, c.AccessKeyID, signed, Signature(c.AccessKeySecret, canonical)))
}

// Signature is the hex HMAC-SHA256, under secret, of the string to sign of canonical:
// "ACS3-HMAC-SHA256\n" + hex(SHA-256(canonical)).
func Signature(secret, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(Algorithm + "\n" + hex.EncodeToString(sum[:])))
	return hex.EncodeToString(mac.Sum(nil))
}

// CanonicalRequest returns r's canonical request under the V3 signature, whose body's hex
// SHA-256 is payload, and its signed headers: method, the path encoded segment by segment,
// the sorted encoded query, the lower-cased sorted headers (host, content-type, x-acs-*, x-fc-*)
// with trimmed values, their names joined by ";", and payload.
func CanonicalRequest(r *http.Request, payload string) (canonical, signed string) {
	headers := map[string]string{"host": host(r)}
	for k, v := range r.Header {
		lk := strings.ToLower(k)
		if lk == "content-type" || strings.HasPrefix(lk, "x-acs-") || strings.HasPrefix(lk, "x-fc-") {
			headers[lk] = strings.TrimSpace(strings.Join(v, ","))
		}
	}
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(canonicalPath(r.URL.EscapedPath()) + "\n")
	b.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, k := range names {
		b.WriteString(k + ":" + headers[k] + "\n")
	}
	signed = strings.Join(names, ";")
	b.WriteString("\n" + signed + "\n" + payload)
	return b.String(), signed
}

func host(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return r.URL.Host
}

// percentEncode is RFC 3986 encoding: A-Z a-z 0-9 - _ . ~ are kept, every other byte is %XY.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func canonicalPath(escaped string) string {
	if escaped == "" {
		return "/"
	}
	segs := strings.Split(escaped, "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		segs[i] = percentEncode(s)
	}
	return strings.Join(segs, "/")
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, percentEncode(k)+"="+percentEncode(v))
		}
	}
	return strings.Join(parts, "&")
}

// Options configures an Invoker. The zero value reads the process environment.
type Options struct {
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// HTTPClient sends the requests; nil means one with a 10-second timeout.
	HTTPClient *http.Client
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Endpoint returns the endpoint the Invoker calls.
func (i *Invoker) Endpoint() string { return i.endpoint }

// Invoker sends run-task events to the function's own asynchronous invocation.
type Invoker struct {
	function, endpoint string
	getenv             func(string) string
	client             *http.Client
	now                func() time.Time
}

// APIVersion is the FC 3.0 OpenAPI version.
const APIVersion = "2023-03-30"

// FromEnv returns the Invoker of the running function: its name from FC_FUNCTION_NAME, the
// internal (VPC) endpoint https://ACCOUNT.REGION-internal.fc.aliyuncs.com from FC_ACCOUNT_ID and
// FC_REGION (or CHPASS_FC_ENDPOINT when set), and its credentials from ALIBABA_CLOUD_ACCESS_KEY_ID,
// ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN, as the FC runtime sets them
// from the function's role (read at each call). It fails outside Function Compute.
func FromEnv(opts Options) (*Invoker, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	i := &Invoker{function: getenv("FC_FUNCTION_NAME"), endpoint: getenv("CHPASS_FC_ENDPOINT"),
		getenv: getenv, client: opts.HTTPClient, now: opts.Now}
	if i.function == "" {
		return nil, errors.New("fcinvoke: FC_FUNCTION_NAME must be set (Function Compute sets it)")
	}
	if i.endpoint == "" {
		account, region := getenv("FC_ACCOUNT_ID"), getenv("FC_REGION")
		if account == "" || region == "" {
			return nil, errors.New("fcinvoke: FC_ACCOUNT_ID and FC_REGION must be set (Function Compute sets them)")
		}
		i.endpoint = "https://" + account + "." + region + "-internal.fc.aliyuncs.com"
	}
	if i.client == nil {
		i.client = &http.Client{Timeout: 10 * time.Second}
	}
	if i.now == nil {
		i.now = time.Now
	}
	return i, nil
}

// Dispatch asks Function Compute to run task id asynchronously in this same function
// (batch.Options.Dispatch): POST /2023-03-30/functions/NAME/invocations with
// x-fc-invocation-type: Async, which FC answers 202 once it has queued the event. Errors name
// the function, the status and FC's error code, never a credential.
func (i *Invoker) Dispatch(ctx context.Context, id string) error {
	c := Credentials{AccessKeyID: i.getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"),
		AccessKeySecret: i.getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), SecurityToken: i.getenv("ALIBABA_CLOUD_SECURITY_TOKEN")}
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return errors.New("fcinvoke: no credentials: ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET must be set")
	}
	body := platform.NewRunTaskEvent(id)
	u := strings.TrimRight(i.endpoint, "/") + "/" + APIVersion + "/functions/" + url.PathEscape(i.function) + "/invocations"
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("fcinvoke: invoke %s asynchronously: %w", i.function, err)
	}
	r.Header.Set("Content-Type", "application/octet-stream")
	r.Header.Set("x-acs-action", "InvokeFunction")
	r.Header.Set("x-acs-version", APIVersion)
	r.Header.Set("x-fc-invocation-type", "Async")
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	Sign(r, body, c, i.now(), hex.EncodeToString(nonce[:]))
	resp, err := i.client.Do(r)
	if err != nil {
		return fmt.Errorf("fcinvoke: invoke %s asynchronously: %w", i.function, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusAccepted {
		var code string
		if j := bytes.Index(msg, []byte(`"Code":"`)); j >= 0 {
			rest := msg[j+8:]
			if k := bytes.IndexByte(rest, '"'); k >= 0 && k < 100 {
				code = " " + string(rest[:k])
			}
		}
		return fmt.Errorf("fcinvoke: invoke %s asynchronously: status %d%s, want 202", i.function, resp.StatusCode, code)
	}
	return nil
}
