package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEveryAnswerIsTheAPIsOwn sends the local server requests that net/http
// used to answer itself (a 413 or 431 in plain text, a 307 redirect, OPTIONS *)
// and checks that each now gets its API's own JSON error, with a catalog code
// and a request id, and writes exactly one log line.
func TestEveryAnswerIsTheAPIsOwn(t *testing.T) {
	s := startServer(t)
	big := strings.Repeat("A", 10<<20)
	longQuery := "x=" + strings.Repeat("q", 300<<10)
	tests := []struct {
		name    string
		method  string
		target  string // path and query
		body    string
		chunked bool   // no Content-Length
		raw     string // sent as is instead, when set
		api     string // "iam" or "ehpc"
		status  int
		code    string
	}{
		{name: "IAMBody10MBWithLength", method: "POST", target: "/v5/caller-password", body: big, api: "iam", status: 400, code: "IAM.0002"},
		{name: "IAMBody10MBChunked", method: "POST", target: "/v5/caller-password", body: big, chunked: true, api: "iam", status: 400, code: "IAM.0002"},
		{name: "IAMQuery300KB", method: "POST", target: "/v5/caller-password?" + longQuery, body: `{}`, api: "iam", status: 401, code: "APIG.0301"},
		{name: "IAMDoubleSlash", method: "POST", target: "/v5//caller-password", body: `{}`, api: "iam", status: 404, code: "APIG.0101"},
		{name: "IAMDotSegments", method: "POST", target: "/v5/x/../caller-password", body: `{}`, api: "iam", status: 404, code: "APIG.0101"},
		{name: "IAMBareV5", method: "GET", target: "/v5", api: "iam", status: 404, code: "APIG.0101"},
		{name: "EHPCBody10MBWithLength", method: "POST", target: "/", body: big, api: "ehpc", status: 400, code: "InvalidParams"},
		{name: "EHPCQuery300KB", method: "GET", target: "/?" + longQuery, api: "ehpc", status: 400, code: "InvalidParams"},
		{name: "EHPCDoubleSlash", method: "GET", target: "//x/../?Action=ListUsers", api: "ehpc", status: 400, code: "MissingParameter"},
		{name: "EHPCOptionsStar", raw: "OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", api: "ehpc", status: 400, code: "UnsupportedHTTPMethod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := send(t, s.url, tt.method, tt.target, tt.body, tt.chunked, tt.raw)
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%d %s %.200s, want %d JSON", res.StatusCode, res.Header.Get("Content-Type"), b, tt.status)
			}
			var body map[string]any
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("body is not JSON: %.200s", b)
			}
			code, id := body["error_code"], body["request_id"]
			header := res.Header.Get("X-Request-Id")
			if tt.api == "ehpc" {
				code, id, header = body["Code"], body["RequestId"], res.Header.Get("X-Acs-Request-Id")
			}
			if code != tt.code || id == "" || id == nil || id != header {
				t.Fatalf("code %v, request id %v (header %q), want %s and one id: %s", code, id, header, tt.code, b)
			}
			if strings.Contains(string(b), "qqqq") || strings.Contains(string(b), "AAAA") {
				t.Fatal("the answer echoes the request")
			}
			if n := logLines(t, s, id.(string)); n != 1 {
				t.Fatalf("%d log lines for request %v, want 1", n, id)
			}
		})
	}
}

// send sends one request to base and returns the response, without following redirects.
func send(t *testing.T, base, method, target, body string, chunked bool, raw string) *http.Response {
	t.Helper()
	if raw != "" {
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var r io.Reader = strings.NewReader(body)
	if chunked {
		r = io.MultiReader(bytes.NewReader([]byte(body))) // a reader of unknown length
	}
	req, err := http.NewRequest(method, base+target, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tt := strings.HasPrefix(target, "/?") || target == "/"; tt && method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	client := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// logLines counts the log lines of request id, audit lines aside, waiting a
// moment for the one written after the answer.
func logLines(t *testing.T, s *server, id string) int {
	t.Helper()
	n := 0
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		n = 0
		for _, l := range s.stderr.Lines(t) {
			if l["request_id"] == id && l["event"] != "audit" && l["event"] != "password_change" {
				n++
			}
		}
		if n > 0 {
			break
		}
	}
	return n
}
