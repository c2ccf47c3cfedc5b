package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"

	"chpass/shared/ehpcapi"
	"chpass/shared/iamapi"
)

// event is a sample event from events/, decoded so that a test can re-sign or alter it.
type event struct {
	name string // the file's base name
	p    platform
	m    map[string]any
}

// readEvents returns every sample event of fn, in events/<fn>/*.json.
func readEvents(tb testing.TB, fn string) []event {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(tb), "events", fn, "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no sample events for %s (%v)", fn, err)
	}
	out := make([]event, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, decodeEvent(tb, filepath.Base(f), b))
	}
	return out
}

// decodeEvent decodes the event named name. Files named fc-*.json and
// <kind>-fc-*.json are Function Compute HTTP trigger events; the rest are Lambda's.
func decodeEvent(tb testing.TB, name string, b []byte) event {
	tb.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	e := event{name: name, p: lambda}
	if err := d.Decode(&e.m); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	if strings.HasPrefix(name, "fc-") || strings.Contains(name, "-fc-") {
		e.p = fc
	}
	if e.method() == "" {
		tb.Fatalf("%s: no HTTP method: not an HTTP event this harness knows", name)
	}
	return e
}

// clone returns a deep copy of e.
func (e event) clone(tb testing.TB) event {
	tb.Helper()
	return decodeEvent(tb, e.name, e.payload(tb))
}

// payload returns the event as the runtime API hands it over.
func (e event) payload(tb testing.TB) []byte {
	tb.Helper()
	b, err := json.Marshal(e.m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// object returns the JSON object at key in m, or nil.
func object(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// policy reports whether e asks for the password policy.
func (e event) policy() bool { return strings.HasPrefix(e.name, "policy-") }

// page reports whether e asks for the self-service page (page-*.json), which
// the function serves when its configuration has withPage.
func (e event) page() bool { return strings.HasPrefix(e.name, "page-") }

// forgotten reports whether e asks for a forgotten or expired password's path
// (reset-*.json, old-password-*.json), which the function serves when its
// configuration has withForgotten.
func (e event) forgotten() bool {
	return strings.HasPrefix(e.name, "reset-") || strings.HasPrefix(e.name, "old-password-")
}

// withForgotten turns both forgotten paths on in a demo configuration.
func withForgotten(cfg map[string]any) {
	cfg["forgotten"] = map[string]any{
		"idp":          map[string]any{"max_age": "10m", "amr": []any{"mfa"}},
		"old_password": map[string]any{},
	}
}

// refreshToken signs the event's bearer token again with the demo HS256 secret,
// its iat and auth_time now and exp an hour on, as the provider would for a
// person who has just signed in.
func (e event) refreshToken(tb testing.TB, now time.Time) {
	tb.Helper()
	a, _ := e.header("Authorization")
	tok, ok := strings.CutPrefix(a, "Bearer ")
	parts := strings.Split(tok, ".")
	if !ok || len(parts) != 3 {
		tb.Fatalf("%s: no bearer JWT", e.name)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		tb.Fatal(err)
	}
	claims["iat"], claims["auth_time"], claims["exp"] = now.Unix(), now.Unix(), now.Add(time.Hour).Unix()
	if raw, err = json.Marshal(claims); err != nil {
		tb.Fatal(err)
	}
	signing := parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw)
	mac := hmac.New(sha256.New, []byte(demo(tb).Tokens.HS256Secret))
	mac.Write([]byte(signing))
	e.setHeader("Authorization", "Bearer "+signing+"."+base64.RawURLEncoding.EncodeToString(mac.Sum(nil)))
}

// withPage turns the self-service page on at /portal/ in a demo configuration.
func withPage(cfg map[string]any) {
	cfg["page"] = map[string]any{"path": "/portal/", "client_id": "chpass-demo-page"}
}

// checkPage fails tb unless r answers the page sample event ev: /portal
// (page-redirect-*) a relative redirect to the page, the others the page or
// one of its files under the page's CSP, with the event's request id.
func checkPage(tb testing.TB, fn string, r reply, ev event) {
	tb.Helper()
	if got := r.header(tb, requestIDHeader[fn]); got != ev.requestID() {
		tb.Errorf("%s %q, want %q", requestIDHeader[fn], got, ev.requestID())
	}
	if strings.HasPrefix(ev.name, "page-redirect-") {
		if r.StatusCode != http.StatusMovedPermanently || r.header(tb, "Location") != "portal/" {
			tb.Errorf("status %d, Location %q: want 301 to portal/", r.StatusCode, r.header(tb, "Location"))
		}
		return
	}
	if r.StatusCode != http.StatusOK || r.Body == "" {
		tb.Errorf("status %d, body %.200q: want the page", r.StatusCode, r.Body)
	}
	if csp := r.header(tb, "Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		tb.Errorf("Content-Security-Policy %q", csp)
	}
	want := map[string]string{"/portal/": "text/html", "/portal/app.js": "text/javascript"}[ev.path()]
	if ct := r.header(tb, "Content-Type"); want == "" || !strings.HasPrefix(ct, want) {
		tb.Errorf("Content-Type %q for %s, want %q", ct, ev.path(), want)
	}
}

// requestID returns the request id the event's requestContext carries.
func (e event) requestID() string { return str(object(e.m, "requestContext")["requestId"]) }

// dropRequestID removes the event's request id, so the function must take the runtime's.
func (e event) dropRequestID() { delete(object(e.m, "requestContext"), "requestId") }

// method returns the event's HTTP method: requestContext.http.method in payload 2.0
// and FC events, httpMethod in payload 1.0.
func (e event) method() string {
	if m := str(object(object(e.m, "requestContext"), "http")["method"]); m != "" {
		return m
	}
	return str(e.m["httpMethod"])
}

// path returns the event's request path.
func (e event) path() string {
	if p := str(e.m["rawPath"]); p != "" {
		return p
	}
	return str(e.m["path"])
}

// header returns the value of the header name, whatever its case in the event.
func (e event) header(name string) (string, bool) {
	for k, v := range object(e.m, "headers") {
		if strings.EqualFold(k, name) {
			return str(v), true
		}
	}
	return "", false
}

// setHeader sets the header name, in headers and, in a payload 1.0 event, in
// multiValueHeaders, keeping the case the event gave it.
func (e event) setHeader(name, value string) {
	set := func(m map[string]any, v any) {
		for k := range m {
			if strings.EqualFold(k, name) {
				m[k] = v
				return
			}
		}
		m[strings.ToLower(name)] = v
	}
	if h := object(e.m, "headers"); h != nil {
		set(h, value)
	} else {
		e.m["headers"] = map[string]any{strings.ToLower(name): value}
	}
	if mv := object(e.m, "multiValueHeaders"); mv != nil {
		set(mv, []any{value})
	}
}

func (e event) isBase64() bool { b, _ := e.m["isBase64Encoded"].(bool); return b }

// body returns the event's request body, decoded.
func (e event) body(tb testing.TB) []byte {
	tb.Helper()
	s := str(e.m["body"])
	if !e.isBase64() {
		return []byte(s)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		tb.Fatalf("%s: body: %v", e.name, err)
	}
	return b
}

// setBody replaces the request body, and its Content-Length when the event has one.
func (e event) setBody(b []byte) {
	if e.isBase64() {
		e.m["body"] = base64.StdEncoding.EncodeToString(b)
	} else {
		e.m["body"] = string(b)
	}
	if _, ok := e.header("Content-Length"); ok {
		e.setHeader("Content-Length", strconv.Itoa(len(b)))
	}
}

// formBody reports whether the event POSTs its parameters as a form.
func (e event) formBody(tb testing.TB) bool {
	tb.Helper()
	ct, _ := e.header("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	return e.method() == http.MethodPost && mt == "application/x-www-form-urlencoded" && len(e.body(tb)) > 0
}

// params returns the event's E-HPC RPC parameters: its form's when it POSTs a form,
// else its query's (rawQueryString, else the query parameter maps).
func (e event) params(tb testing.TB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	if e.formBody(tb) {
		q, err := url.ParseQuery(string(e.body(tb)))
		if err != nil {
			tb.Fatalf("%s: form: %v", e.name, err)
		}
		for k := range q {
			out[k] = q.Get(k)
		}
		return out
	}
	if raw := str(e.m["rawQueryString"]); raw != "" {
		q, err := url.ParseQuery(raw)
		if err != nil {
			tb.Fatalf("%s: rawQueryString: %v", e.name, err)
		}
		for k := range q {
			out[k] = q.Get(k)
		}
		return out
	}
	for _, key := range []string{"queryStringParameters", "queryParameters"} {
		for k, v := range object(e.m, key) {
			out[k] = str(v)
		}
	}
	for k, v := range object(e.m, "multiValueQueryStringParameters") {
		if vs, _ := v.([]any); len(vs) > 0 {
			out[k] = str(vs[len(vs)-1])
		}
	}
	return out
}

// setParams replaces the event's E-HPC RPC parameters wherever params read them.
func (e event) setParams(tb testing.TB, params map[string]string) {
	tb.Helper()
	q := url.Values{}
	single := map[string]any{}
	multi := map[string]any{}
	for k, v := range params {
		q.Set(k, v)
		single[k] = v
		multi[k] = []any{v}
	}
	if e.formBody(tb) {
		e.setBody([]byte(q.Encode()))
		return
	}
	if str(e.m["rawQueryString"]) != "" {
		e.m["rawQueryString"] = q.Encode()
	}
	for _, key := range []string{"queryStringParameters", "queryParameters"} {
		if object(e.m, key) != nil {
			e.m[key] = single
		}
	}
	if object(e.m, "multiValueQueryStringParameters") != nil {
		e.m["multiValueQueryStringParameters"] = multi
	}
}

// signedAKSK reports whether the event carries an SDK-HMAC-SHA256 Authorization
// header, as the Huawei Cloud SDK signs.
func (e event) signedAKSK() bool {
	a, _ := e.header("Authorization")
	return strings.HasPrefix(a, iamapi.SignAlgorithm+" ")
}

// signedRPC reports whether the event carries an E-HPC RPC signature v1.
func (e event) signedRPC(tb testing.TB) bool {
	tb.Helper()
	_, ok := e.params(tb)["Signature"]
	return ok
}

// signed reports whether the event proves its caller by a signature, which a clock
// far from its date refuses, rather than by a token or an API gateway's authorizer.
func (e event) signed(tb testing.TB) bool {
	tb.Helper()
	return e.signedAKSK() || e.signedRPC(tb)
}

// resign signs the event again at now with the demo secret of the access key it
// names, as the vendor's SDK would: SDK-HMAC-SHA256 over the headers it signed
// before, or signature v1 with a fresh Timestamp and SignatureNonce. edit, when not
// nil, changes the RPC parameters before they are signed.
func (e event) resign(tb testing.TB, now time.Time, edit func(params map[string]string)) {
	tb.Helper()
	switch {
	case e.signedAKSK():
		e.resignAKSK(tb, now)
	case e.signedRPC(tb):
		params := e.params(tb)
		if edit != nil {
			edit(params)
		}
		params["Timestamp"] = now.UTC().Format("2006-01-02T15:04:05Z")
		params["SignatureNonce"] = randomHex(16)
		params["Signature"] = ehpcapi.Sign(e.method(), params, secretOf(tb, params["AccessKeyId"]))
		e.setParams(tb, params)
	default:
		tb.Fatalf("%s is not signed", e.name)
	}
}

// resignAKSK signs the event with the Huawei Cloud SDK's own SDK-HMAC-SHA256 signer.
func (e event) resignAKSK(tb testing.TB, now time.Time) {
	tb.Helper()
	authz, _ := e.header("Authorization")
	var ak string
	var signed []string
	for part := range strings.SplitSeq(strings.TrimPrefix(authz, iamapi.SignAlgorithm+" "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Access":
			ak = v
		case "SignedHeaders":
			signed = strings.Split(v, ";")
		}
	}
	host, _ := e.header("Host")
	b := request.NewHttpRequestBuilder().
		WithEndpoint("https://" + host).
		WithPath(e.path()).
		WithMethod(e.method())
	for _, name := range signed {
		if strings.EqualFold(name, iamapi.DateHeader) {
			continue
		}
		v, ok := e.header(name)
		if !ok {
			tb.Fatalf("%s signs %s but has no such header", e.name, name)
		}
		b.AddHeaderParam(http.CanonicalHeaderKey(name), v)
	}
	b.AddHeaderParam(iamapi.DateHeader, now.UTC().Format(iamapi.DateFormat))
	if body := e.body(tb); len(body) > 0 {
		b.WithBody("json", string(body))
	}
	headers, err := signer.Sign(b.Build(), ak, secretOf(tb, ak))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range headers {
		e.setHeader(k, v)
	}
}

// fresh returns a copy of e, signed again now when it is signed.
func (e event) fresh(tb testing.TB) event {
	tb.Helper()
	c := e.clone(tb)
	if c.signed(tb) {
		c.resign(tb, time.Now(), nil)
	}
	return c
}

// firstEvent returns the event the cold-start benchmark and TestInlineConfig feed
// fn on p first: the password policy for caller-password; for modify-user-passwords
// an event an API gateway's IAM authorizer proved, or on Function Compute, which has
// no such gateway, a signed one.
func firstEvent(tb testing.TB, p platform, fn string) event {
	tb.Helper()
	name := map[string]string{
		lambda.name + "/caller-password":       "policy-apigw-http-v2.json",
		fc.name + "/caller-password":           "policy-fc-http.json",
		lambda.name + "/modify-user-passwords": "apigw-http-v2-iam-authorizer.json",
		fc.name + "/modify-user-passwords":     "fc-http.json",
	}[p.name+"/"+fn]
	return sampleEvent(tb, fn, name)
}

// sampleEvent returns the sample event name of fn.
func sampleEvent(tb testing.TB, fn, name string) event {
	tb.Helper()
	for _, ev := range readEvents(tb, fn) {
		if ev.name == name {
			return ev
		}
	}
	tb.Fatalf("no sample event %q for %s", name, fn)
	return event{}
}

// reply is a function's HTTP answer as its platform carries it: an API Gateway
// payload 1.0 or 2.0 or Function URL response, or a Function Compute HTTP trigger
// response. Unknown fields fail decodeReply.
type reply struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Cookies           []string            `json:"cookies"`
	Body              string              `json:"body"`
	IsBase64Encoded   *bool               `json:"isBase64Encoded"`
}

func decodeReply(tb testing.TB, b []byte) reply {
	tb.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var r reply
	if err := d.Decode(&r); err != nil {
		tb.Fatalf("not a platform HTTP response: %v: %s", err, b)
	}
	return r
}

// header returns the response header name, whatever its case; in a payload 1.0
// response it must agree with multiValueHeaders.
func (r reply) header(tb testing.TB, name string) string {
	tb.Helper()
	var v string
	for k, hv := range r.Headers {
		if strings.EqualFold(k, name) {
			v = hv
		}
	}
	for k, mv := range r.MultiValueHeaders {
		if strings.EqualFold(k, name) && (len(mv) == 0 || mv[len(mv)-1] != v) {
			tb.Errorf("header %s: headers say %q, multiValueHeaders %q", name, v, mv)
		}
	}
	return v
}

// requestIDHeader is the header each function answers its request id in.
var requestIDHeader = map[string]string{
	"caller-password":       "X-Request-Id",     // as Huawei Cloud's APIs
	"modify-user-passwords": "X-Acs-Request-Id", // as Alibaba Cloud's
}

// want is what a test expects of one answer.
type want struct {
	status    int
	code      string // the error code, for an error
	requestID string
	policy    bool // a password policy, for a success
}

// check fails tb unless r, fn's answer, is what w says, in its platform's shape.
func check(tb testing.TB, fn string, r reply, w want) {
	tb.Helper()
	if r.StatusCode != w.status {
		tb.Errorf("status %d, want %d; body %s", r.StatusCode, w.status, r.Body)
	}
	if r.IsBase64Encoded == nil || *r.IsBase64Encoded {
		tb.Errorf("isBase64Encoded %v, want false", r.IsBase64Encoded)
	}
	if len(r.Cookies) > 0 {
		tb.Errorf("cookies %q, want none", r.Cookies)
	}
	if got := r.header(tb, requestIDHeader[fn]); got != w.requestID {
		tb.Errorf("%s %q, want %q", requestIDHeader[fn], got, w.requestID)
	}
	if got := r.header(tb, "Cache-Control"); got != "no-store" {
		tb.Errorf("Cache-Control %q, want no-store", got)
	}
	if ct := r.header(tb, "Content-Type"); r.Body != "" && !strings.HasPrefix(ct, "application/json") {
		tb.Errorf("Content-Type %q, want application/json", ct)
	}
	var body map[string]any
	if r.Body != "" {
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			tb.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
		}
	}
	switch {
	case fn == "caller-password" && w.code != "":
		if body["error_code"] != w.code || body["request_id"] != w.requestID {
			tb.Errorf("error %s, want error_code %s and request_id %s", r.Body, w.code, w.requestID)
		}
	case fn == "caller-password" && w.policy:
		if _, ok := body["password_policy"].(map[string]any); !ok {
			tb.Errorf("policy body %s, want a password_policy object", r.Body)
		}
	case fn == "caller-password":
		if r.Body != "" {
			tb.Errorf("a change answers an empty body, got %s", r.Body)
		}
	default:
		if body["RequestId"] != w.requestID {
			tb.Errorf("body %s, want RequestId %s", r.Body, w.requestID)
		}
		if code, _ := body["Code"].(string); code != w.code {
			tb.Errorf("body %s, want Code %q", r.Body, w.code)
		}
	}
}
