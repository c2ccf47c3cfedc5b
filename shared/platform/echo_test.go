package platform_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"chpass/shared/gateway"
)

// seen is what the echo handler reports about the request it served.
type seen struct {
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	RawPath    string              `json:"rawPath"`
	RawQuery   string              `json:"rawQuery"`
	Query      map[string][]string `json:"query"`
	Header     map[string][]string `json:"header"`
	Host       string              `json:"host"`
	RemoteAddr string              `json:"remoteAddr"`
	Body       string              `json:"body"` // base64, so binary bodies survive
	Length     int64               `json:"contentLength"`
	HasInfo    bool                `json:"hasInfo"`
	Info       gateway.Info        `json:"info"`
	Deadline   *time.Time          `json:"deadline"`
}

// echo answers 200 with a JSON report of the request it served, two X-Multi values and two
// cookies; on /binary it answers bytes that are not UTF-8; on /panic it panics.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/panic":
		panic("secret-canary")
	case "/binary":
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(binaryBody)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	s := seen{
		Method:     r.Method,
		Path:       r.URL.Path,
		RawPath:    r.URL.EscapedPath(),
		RawQuery:   r.URL.RawQuery,
		Query:      r.URL.Query(),
		Header:     r.Header,
		Host:       r.Host,
		RemoteAddr: r.RemoteAddr,
		Body:       base64.StdEncoding.EncodeToString(body),
		Length:     r.ContentLength,
	}
	s.Info, s.HasInfo = gateway.From(r.Context())
	if d, ok := r.Context().Deadline(); ok {
		s.Deadline = &d
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Add("X-Multi", "a")
	w.Header().Add("X-Multi", "b")
	w.Header().Add("Set-Cookie", "a=1; Path=/")
	w.Header().Add("Set-Cookie", "b=2; Path=/")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(s)
})

var binaryBody = []byte{0xff, 0xfe, 0x00, 0x01, 0x80, 'o', 'k'}

// decodeSeen decodes the echo report in body.
func decodeSeen(tb testing.TB, body string, isBase64 bool) seen {
	tb.Helper()
	b := []byte(body)
	if isBase64 {
		var err error
		if b, err = base64.StdEncoding.DecodeString(body); err != nil {
			tb.Fatalf("response body: %v", err)
		}
	}
	var s seen
	if err := json.Unmarshal(b, &s); err != nil {
		tb.Fatalf("echo report %q: %v", b, err)
	}
	return s
}

// bodyOf decodes the base64 body an echo report holds.
func bodyOf(tb testing.TB, s seen) string {
	tb.Helper()
	b, err := base64.StdEncoding.DecodeString(s.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// readEvent reads a sample event from events/caller-password.
func readEvent(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(eventsDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

const eventsDir = "../../events/caller-password"

// mustJSON marshals v.
func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
