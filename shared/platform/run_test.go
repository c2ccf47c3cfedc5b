package platform_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chpass/shared/gateway"
	"chpass/shared/logtest"
	"chpass/shared/platform"
)

// TestRunHelperProcess is not a test: the Run tests start the test binary again to run it, with
// CHPASS_PLATFORM_HELPER set, as a function's main would run.
func TestRunHelperProcess(t *testing.T) {
	if os.Getenv("CHPASS_PLATFORM_HELPER") != "1" {
		t.Skip("helper process for the Run tests")
	}
	err := platform.Run(echo, platform.Options{Logger: zerolog.New(os.Stderr).With().Str("function", "caller-password").Logger()})
	if err != nil {
		os.Exit(3)
	}
	os.Exit(0)
}

// helper starts the test binary as a Run process with env added to a clean environment.
func helper(tb testing.TB, env ...string) (cmd *exec.Cmd, output *logtest.Buffer) {
	tb.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^TestRunHelperProcess$", "-test.count=1")
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "AWS_LAMBDA_RUNTIME_API", "FC_RUNTIME_API", "CHPASS_ADDR", "_LAMBDA_SERVER_PORT":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "CHPASS_PLATFORM_HELPER=1")
	cmd.Env = append(cmd.Env, env...)
	output = &logtest.Buffer{}
	cmd.Stdout, cmd.Stderr = output, output
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, output
}

// fakeRuntime serves a runtime API (Lambda's or FC's) that hands out one invocation and then
// holds every later poll open; it reports the function's answer on the returned channel.
type fakeRuntime struct {
	nextPath string
	header   http.Header
	payload  []byte
	okStatus int
	mu       sync.Mutex
	served   bool
	answer   chan runtimeAnswer
}

type runtimeAnswer struct {
	path string
	body []byte
}

func (f *fakeRuntime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == f.nextPath {
		f.mu.Lock()
		first := !f.served
		f.served = true
		f.mu.Unlock()
		if !first {
			<-r.Context().Done() // no more work: hold the poll until the process goes
			return
		}
		for k, vs := range f.header {
			w.Header()[k] = vs
		}
		_, _ = w.Write(f.payload)
		return
	}
	if r.Method == http.MethodPost {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(f.okStatus)
		select {
		case f.answer <- runtimeAnswer{r.URL.Path, b}:
		default:
		}
		return
	}
	http.NotFound(w, r)
}

func TestRunOnClouds(t *testing.T) {
	deadline := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	ms := strconv.FormatInt(deadline.UnixMilli(), 10)
	tests := []struct {
		name      string
		envName   string
		event     string
		runtime   *fakeRuntime
		respPath  string
		platform  string
		requestID string
	}{
		{
			name: "Lambda", envName: "AWS_LAMBDA_RUNTIME_API", event: "apigw-http-v2.json",
			runtime: &fakeRuntime{
				nextPath: "/2018-06-01/runtime/invocation/next",
				header: http.Header{
					"Lambda-Runtime-Aws-Request-Id":       {"8476a536-e9f4-11e8-9739-2dfe598c3fcd"},
					"Lambda-Runtime-Deadline-Ms":          {ms},
					"Lambda-Runtime-Invoked-Function-Arn": {"arn:aws:lambda:us-east-1:123456789012:function:caller-password"},
					"Lambda-Runtime-Trace-Id":             {"Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"},
				},
				okStatus: http.StatusAccepted,
			},
			respPath: "/2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response",
			platform: gateway.Lambda, requestID: "Ba9XqhW0IAMEV3g=",
		},
		{
			name: "FC", envName: "FC_RUNTIME_API", event: "fc-http.json",
			runtime: &fakeRuntime{
				nextPath: "/2020-11-11/runtime/invocation/next",
				header: http.Header{
					"X-Fc-Request-Id":        {"1-6742a6b5-15a0b8f2-2c2f6a8e4b0f"},
					"X-Fc-Function-Deadline": {ms},
					"X-Fc-Function-Timeout":  {"60"},
					"X-Fc-Function-Name":     {"caller-password"},
				},
				okStatus: http.StatusOK,
			},
			respPath: "/2020-11-11/runtime/invocation/1-6742a6b5-15a0b8f2-2c2f6a8e4b0f/response",
			platform: gateway.FC, requestID: "1-6742a6b5-15a0b8f2-2c2f6a8e4b0f",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.runtime.payload = readEvent(t, tt.event)
			tt.runtime.answer = make(chan runtimeAnswer, 1)
			srv := httptest.NewServer(tt.runtime)
			t.Cleanup(srv.Close) // registered first, so it runs after the helper is killed
			_, output := helper(t, tt.envName+"="+strings.TrimPrefix(srv.URL, "http://"))

			var a runtimeAnswer
			select {
			case a = <-tt.runtime.answer:
			case <-time.After(30 * time.Second):
				t.Fatalf("no answer from the function; its output:\n%s", output)
			}
			if a.path != tt.respPath {
				t.Fatalf("function posted to %s: %s", a.path, a.body)
			}
			var r platformResponse
			if err := json.Unmarshal(a.body, &r); err != nil {
				t.Fatalf("answer %s: %v", a.body, err)
			}
			s := decodeSeen(t, r.Body, r.IsBase64Encoded)
			if s.Info.Platform != tt.platform || s.Info.RequestID != tt.requestID || s.Info.Authorizer != nil {
				t.Errorf("info %+v", s.Info)
			}
			if s.Deadline == nil || !s.Deadline.Equal(deadline) {
				t.Errorf("deadline %v, want the runtime's %v", s.Deadline, deadline)
			}
			if bodyOf(t, s) != changeBody {
				t.Errorf("body %q", bodyOf(t, s))
			}
			if out := output.String(); strings.Contains(out, "Alice-Old-Pass1!") || strings.Contains(out, "SDK-HMAC") {
				t.Errorf("the function's output holds request contents:\n%s", out)
			}
			if out := output.String(); !strings.Contains(out, `"platform":"`+tt.platform+`"`) {
				t.Errorf("no startup line naming the platform:\n%s", out)
			}
		})
	}
}

func TestRunLocal(t *testing.T) {
	cmd, output := helper(t, "CHPASS_ADDR=127.0.0.1:0")

	var addr string
	for start := time.Now(); addr == "" && time.Since(start) < 30*time.Second; time.Sleep(20 * time.Millisecond) {
		sc := bufio.NewScanner(strings.NewReader(output.String()))
		for sc.Scan() {
			var line struct {
				Platform, Function, Addr, Message string
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "starting" {
				if line.Platform != gateway.Local || line.Function != "caller-password" {
					t.Errorf("startup line %s", sc.Bytes())
				}
				addr = line.Addr
			}
		}
	}
	if addr == "" {
		t.Fatalf("no startup line with the address:\n%s", output)
	}

	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v5/caller-password?token=query-canary", strings.NewReader(changeBody))
	req.Header.Set("Authorization", "SDK-HMAC-SHA256 Access=header-canary")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if s := decodeSeen(t, string(b), false); s.Info.Platform != gateway.Local || s.Info.Authorizer != nil {
		t.Errorf("info %+v", s.Info)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after SIGTERM: %v (want a clean exit); output:\n%s", err, output)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop on SIGTERM")
	}
	for _, canary := range []string{"Alice-Old-Pass1!", "query-canary", "header-canary"} {
		if strings.Contains(output.String(), canary) {
			t.Errorf("the log holds %q:\n%s", canary, output)
		}
	}
}
