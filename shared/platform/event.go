package platform

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"chpass/shared/gateway"
)

// ErrBodyTooLarge reports an event whose request body, or a response whose body, exceeds MaxBodyBytes.
var ErrBodyTooLarge = errors.New("body exceeds 6 MiB")

// ErrUnknownEvent reports an event of no kind the function accepts on the platform it arrived
// on; the error wrapping it names the event's kind when it is known and the kinds accepted.
var ErrUnknownEvent = errors.New("event of a kind this function does not accept")

// request is an HTTP request as a platform event describes it, before it becomes an *http.Request.
type request struct {
	info     gateway.Info
	method   string
	path     string // as the event spells it
	escaped  bool   // whether path is percent-encoded (a raw path) or already decoded
	rawQuery string
	header   http.Header
	host     string
	sourceIP string
	body     string
	base64   bool
}

// response is what the handler answered.
type response struct {
	status int
	header http.Header
	body   []byte
}

// encodeBody returns the body as the platforms carry it: as is when it is UTF-8 text, else base64.
func (r response) encodeBody() (body string, isBase64 bool) {
	if utf8.Valid(r.body) {
		return string(r.body), false
	}
	return base64.StdEncoding.EncodeToString(r.body), true
}

// serve runs h once on req and records its answer. ctx carries the invocation's deadline.
func serve(ctx context.Context, h http.Handler, req request) (resp response, err error) {
	hr, err := req.httpRequest(ctx)
	if err != nil {
		return response{}, err
	}
	w := newRecorder()
	defer func() {
		if v := recover(); v != nil {
			// The panic value is not reported: it may hold a request's secrets.
			resp, err = response{}, fmt.Errorf("handler panicked (%T)", v)
		}
	}()
	h.ServeHTTP(w, hr)
	if w.tooLarge {
		return response{}, fmt.Errorf("response: %w", ErrBodyTooLarge)
	}
	return w.result(), nil
}

// httpRequest builds the *http.Request that req describes, with ctx carrying req.info.
func (req request) httpRequest(ctx context.Context) (*http.Request, error) {
	if !validToken(req.method) {
		return nil, errors.New("event has no valid HTTP method")
	}
	body, err := decodeBody(req.body, req.base64)
	if err != nil {
		return nil, err
	}
	u, err := requestURL(req.path, req.escaped)
	if err != nil {
		return nil, err
	}
	u.RawQuery = req.rawQuery
	header := req.header
	if header == nil {
		header = http.Header{}
	}
	for name, values := range header {
		if !validToken(name) {
			return nil, errors.New("event has an invalid header name")
		}
		for _, v := range values {
			if !validHeaderValue(v) {
				return nil, errors.New("event has an invalid header value")
			}
		}
	}
	host := req.host
	if h := header.Get("Host"); h != "" {
		host = h
	}
	header.Del("Host") // as net/http's server does: the host is in Request.Host
	remote := ""
	if req.sourceIP != "" {
		remote = net.JoinHostPort(req.sourceIP, "0")
	}
	r := &http.Request{
		Method:        req.method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Host:          host,
		RemoteAddr:    remote,
		RequestURI:    u.RequestURI(),
	}
	return r.WithContext(gateway.With(ctx, req.info)), nil
}

func decodeBody(body string, isBase64 bool) ([]byte, error) {
	if !isBase64 {
		if len(body) > MaxBodyBytes {
			return nil, fmt.Errorf("request: %w", ErrBodyTooLarge)
		}
		return []byte(body), nil
	}
	if len(body) > base64.StdEncoding.EncodedLen(MaxBodyBytes) {
		return nil, fmt.Errorf("request: %w", ErrBodyTooLarge)
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, errors.New("event body is marked base64 but is not valid base64")
	}
	if len(b) > MaxBodyBytes {
		return nil, fmt.Errorf("request: %w", ErrBodyTooLarge)
	}
	return b, nil
}

// requestURL returns a URL holding only the path p, which is percent-encoded when escaped is true.
func requestURL(p string, escaped bool) (*url.URL, error) {
	if p == "" {
		p = "/"
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if strings.ContainsAny(p, "\x00\r\n") {
		return nil, errors.New("event path holds control characters")
	}
	if !escaped {
		return &url.URL{Path: p}, nil
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		return nil, errors.New("event path is not a valid percent-encoded path")
	}
	u := &url.URL{Path: dec}
	if u.EscapedPath() != p {
		u.RawPath = p // kept when it is a valid encoding of Path, as url.Parse keeps it
	}
	return u, nil
}

// validToken reports whether s is an RFC 9110 token (a method or header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c <= ' ' || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 || c == 0x7f {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v holds no control characters other than tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// recorder is an in-memory http.ResponseWriter.
type recorder struct {
	header      http.Header
	sent        http.Header // header as it was when the status was written
	status      int
	body        bytes.Buffer
	wroteHeader bool
	tooLarge    bool
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

// Header implements http.ResponseWriter.
func (w *recorder) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter. Informational codes are dropped; the first final
// status wins.
func (w *recorder) WriteHeader(code int) {
	if w.wroteHeader || (code >= 100 && code <= 199) {
		return
	}
	if code < 100 || code > 999 {
		code = http.StatusInternalServerError
	}
	w.wroteHeader = true
	w.status = code
	w.sent = w.header.Clone()
}

// Write implements http.ResponseWriter. Like net/http, it sniffs a Content-Type when none is set.
func (w *recorder) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		if w.header.Get("Content-Type") == "" && w.header.Get("Transfer-Encoding") == "" && len(p) > 0 {
			w.header.Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.body.Len()+len(p) > MaxBodyBytes {
		w.tooLarge = true
		return 0, ErrBodyTooLarge
	}
	return w.body.Write(p)
}

// Flush implements http.Flusher; the body is sent when the handler returns.
func (w *recorder) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
}

func (w *recorder) result() response {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return response{status: w.status, header: w.sent, body: w.body.Bytes()}
}

// joinedHeaders returns header with each name's values joined by commas, leaving out names in skip.
func joinedHeaders(header http.Header, skip ...string) map[string]string {
	out := make(map[string]string, len(header))
	for _, name := range slices.Sorted(maps.Keys(header)) {
		if len(header[name]) == 0 || slices.Contains(skip, http.CanonicalHeaderKey(name)) {
			continue
		}
		out[name] = strings.Join(header[name], ",")
	}
	return out
}

// flatten renders an authorizer's claim or context value as a string: strings as they are,
// numbers and booleans in JSON, arrays as their flattened elements joined by commas, objects as
// compact JSON. A JSON null yields ok false.
func flatten(v any) (s string, ok bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	case float64:
		b, _ := json.Marshal(v)
		return string(b), true
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := flatten(e); ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ","), true
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return "", false
		}
		return string(b), true
	}
}

// flattenMap flattens every non-null value of m.
func flattenMap(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := flatten(v); ok {
			out[k] = s
		}
	}
	return out
}

// decodeJSON decodes data into v, keeping numbers exact.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
