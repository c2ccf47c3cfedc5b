package setup_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"
)

func TestRunFlags(t *testing.T) {
	demo, err := os.ReadFile("../../local/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "chpass.yaml")
	yml := strings.Replace(string(demo), "path: .cache/chpass-demo.db", "path: "+filepath.Join(t.TempDir(), "run.db")+"\n  argon2: {time: 1, memory_kib: 64, threads: 1}", 1)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	const event = "../../../events/modify-user-passwords/apigw-http-v2.json"
	build := func(ctx context.Context, a *App) (http.Handler, error) {
		return ehpc.ModifyUserPasswords(ctx, a, ehpc.NoAsync)
	}
	timer := filepath.Join(t.TempDir(), "timer.json")
	if err := os.WriteFile(timer, []byte(`{"triggerTime":"2026-11-29T03:00:00Z","triggerName":"rotate","payload":""}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"ReplaysSignedSample", []string{"-config", cfg, "-event", event, "-now", "2026-11-24T04:10:00Z"}, 0, `"statusCode":200`, ""},
		{"RealClockRefusesStaleSample", []string{"-config", cfg, "-event", event}, 0, `InvalidTimeStamp.Expired`, ""},
		{"NowOnlyWithEvent", []string{"-config", cfg, "-now", "2026-11-24T04:10:00Z"}, 2, "", "only goes with -event"},
		{"BadNow", []string{"-config", cfg, "-event", event, "-now", "yesterday"}, 2, "", "RFC 3339"},
		{"NoConfig", []string{"-config", ""}, 2, "", "no configuration"},
		{"BadConfig", []string{"-config", "/nonexistent.yaml"}, 1, "", "no such file"},
		{"MissingEvent", []string{"-config", cfg, "-event", "/nonexistent.json"}, 2, "", "-event"},
		{"HTTPFunctionRefusesTimerEvent", []string{"-config", cfg, "-event", timer}, 1, "", "FC timer event: this function accepts only HTTP API 2.0 / Function URL or REST API or FC HTTP trigger events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), "modify-user-passwords", HTTP(build), tt.args, &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout.String(), stderr.String())
			}
		})
	}
}

// TestRunInlineConfig runs a function on the configuration in $CHPASS_CONFIG_YAML,
// as template.yaml and s.yaml deploy it, and checks that a bad one is refused
// naming the variable and the key, and that it never competes with a file.
func TestRunInlineConfig(t *testing.T) {
	demo, err := os.ReadFile("../../local/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(string(demo), "path: .cache/chpass-demo.db", "path: "+filepath.Join(t.TempDir(), "inline.db")+"\n  argon2: {time: 1, memory_kib: 64, threads: 1}", 1)
	const event = "../../../events/modify-user-passwords/apigw-http-v2.json"
	build := func(ctx context.Context, a *App) (http.Handler, error) {
		return ehpc.ModifyUserPasswords(ctx, a, ehpc.NoAsync)
	}
	tests := []struct {
		name       string
		inline     string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"Inline", good, []string{"-config", "", "-event", event, "-now", "2026-11-24T04:10:00Z"}, 0, `"statusCode":200`, ""},
		{"InlineBadKey", strings.Replace(good, "concurrency: 8", "concurrency: 0", 1), []string{"-config", "", "-event", event}, 1, "", "config CHPASS_CONFIG_YAML: batch.concurrency: must be at least 1"},
		{"InlineUnknownKey", "stor:\n  path: /tmp/x.db\n", []string{"-config", "", "-event", event}, 1, "", "config CHPASS_CONFIG_YAML: stor (line 1): unknown key; did you mean store?"},
		{"NotBoth", good, []string{"-config", "/nonexistent.yaml"}, 2, "", "both a configuration file (-config or CHPASS_CONFIG) and CHPASS_CONFIG_YAML are set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(ConfigYAMLEnv, tt.inline)
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), "modify-user-passwords", HTTP(build), tt.args, &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout.String(), stderr.String())
			}
		})
	}
}
