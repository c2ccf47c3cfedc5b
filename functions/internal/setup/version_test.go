package setup_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/iam"

	"chpass/shared/logtest"
)

// TestVersionFlag: -version prints the function and the version make stamped,
// and exits before any configuration is needed.
func TestVersionFlag(t *testing.T) {
	old := Version
	Version = "3.14.15"
	t.Cleanup(func() { Version = old })
	var stdout, stderr bytes.Buffer
	build := func(ctx context.Context, a *App) (http.Handler, error) { return iam.CallerPassword(ctx, a) }
	if code := Run(context.Background(), "caller-password", HTTP(build), []string{"-version", "-config", ""}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got := stdout.String(); got != "caller-password 3.14.15\n" {
		t.Fatalf("-version printed %q", got)
	}
}

// TestVersionOnStartLineOnly starts caller-password on the local platform: the
// platform's start line carries the version, and no answer to an
// unauthenticated caller (the public policy, a refused change, an unknown path)
// does, in its body or its headers.
func TestVersionOnStartLineOnly(t *testing.T) {
	const version = "97.53.11-canaryversion"
	old := Version
	Version = version
	t.Cleanup(func() { Version = old })
	demo, err := os.ReadFile("../../local/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yml := strings.Replace(string(demo), "path: .cache/chpass-demo.db", "path: "+filepath.Join(t.TempDir(), "version.db")+"\n  argon2: {time: 1, memory_kib: 64, threads: 1}", 1)
	if yml == string(demo) {
		t.Fatal("demo.yaml no longer names .cache/chpass-demo.db: update this test")
	}
	cfg := filepath.Join(t.TempDir(), "chpass.yaml")
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	t.Setenv("FC_RUNTIME_API", "")
	t.Setenv("CHPASS_ADDR", "127.0.0.1:0")
	t.Setenv(ConfigYAMLEnv, "")
	var stdout bytes.Buffer
	var logs logtest.Buffer
	build := func(ctx context.Context, a *App) (http.Handler, error) { return iam.CallerPassword(ctx, a) }
	done := make(chan int, 1)
	go func() {
		done <- Run(context.Background(), "caller-password", HTTP(build), []string{"-config", cfg}, &stdout, &logs)
	}()

	var start map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for start == nil {
		for _, l := range logs.Lines(t) {
			if l["message"] == "starting" {
				start = l
			}
		}
		select {
		case code := <-done:
			t.Fatalf("exited %d before starting: %s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start line: %s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The server is up and listening for signals: stop it whatever happens below.
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Error(err)
		}
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exit %d after SIGINT", code)
			}
		case <-time.After(30 * time.Second):
			t.Error("the server did not stop after SIGINT")
		}
	}
	defer stop()
	if start["version"] != version || start["function"] != "caller-password" {
		t.Fatalf("start line %v: want version %s and the function", start, version)
	}
	addr, _ := start["addr"].(string)
	base := "http://" + addr
	requests := []*http.Request{
		mustRequest(t, http.MethodGet, base+"/v5/password-policy", ""),
		mustRequest(t, http.MethodPost, base+"/v5/caller-password", `{"old_password":"a","new_password":"b"}`),
		mustRequest(t, http.MethodGet, base+"/version", ""),
		mustRequest(t, http.MethodGet, base+"/", ""),
	}
	for _, req := range requests {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var headers bytes.Buffer
		resp.Header.Write(&headers)
		if strings.Contains(string(body), version) || strings.Contains(headers.String(), version) || strings.Contains(string(body), "97.53.11") {
			t.Errorf("%s %s answers the version: %s %s", req.Method, req.URL.Path, headers.String(), body)
		}
	}
	stop()
	// Only the start line carries it: the request lines do not repeat it.
	for _, l := range logs.Lines(t) {
		if l["version"] != nil && l["message"] != "starting" && l["message"] != "stopped" {
			t.Errorf("a request line carries the version: %v", l)
		}
	}
}

func mustRequest(tb testing.TB, method, url, body string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}
