package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chpass/shared/embedded"
	"chpass/shared/rotation"
)

// TestRotateEvents runs rotate-password's sample events through its packaged binary on each
// platform's loopback runtime API, on the embedded secret backend: Lambda answers Secrets
// Manager's four steps (null, as the service expects) and refuses a timer event naming both;
// Function Compute answers the timer and refuses a rotation event. Afterwards user2 binds with the
// password staged current, and the process's output holds no password, old or new.
func TestRotateEvents(t *testing.T) {
	dist := distDir(t)
	const fn = "rotate-password"
	if _, err := os.Stat(lambda.zip(dist, fn)); err != nil {
		missing(t, os.Getenv("CHPASS_DIST") != "", "CHPASS_DIST is set", "the packaged "+fn, "run `make package`", "the rotation events are")
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), "events", fn, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		p        platform
		events   []string
		refused  string
		refusal  string
		rotation bool
	}{
		{lambda, []string{"rotation-createSecret.json", "rotation-setSecret.json", "rotation-testSecret.json", "rotation-finishSecret.json", "rotation-createSecret.json"},
			"fc-timer.json", "FC timer event: this function accepts only Secrets Manager rotation events on lambda", true},
		{fc, []string{"fc-timer.json", "fc-timer.json"},
			"rotation-createSecret.json", "Secrets Manager rotation event: this function accepts only FC timer events on fc", false},
	}
	for _, tt := range tests {
		t.Run(tt.p.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := writeConfig(t, dir, func(cfg map[string]any) {
				cfg["rotation"].(map[string]any)["backend"] = "embedded"
			})
			in := startFunction(t, dist, tt.p, fn, "CHPASS_CONFIG="+cfgPath)
			for _, ev := range tt.events {
				in.rt.enqueue(read(ev))
				po := in.rt.await(t, in.proc)
				if po.kind != "response" || strings.TrimSpace(string(po.body)) != "null" {
					t.Fatalf("%s: posted %s %s\n%s", ev, po.kind, po.body, in.proc.output())
				}
			}
			in.rt.enqueue(read(tt.refused))
			po := in.rt.await(t, in.proc)
			if po.kind != "error" || !strings.Contains(string(po.body), tt.refusal) {
				t.Errorf("%s: posted %s %s, want an error saying %q", tt.refused, po.kind, po.body, tt.refusal)
			}
			in.proc.stop(t)
			out := in.proc.output()
			for _, want := range []string{`"rotation_outcome":"done"`, `"rotation_outcome":"nothing"`} {
				if !strings.Contains(out, want) {
					t.Errorf("the output has no %s line", want)
				}
			}
			// The store the process left: user2 binds with the current version's password.
			store, err := embedded.Open(embedded.Options{Path: filepath.Join(dir, "chpass.db")})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			key, _ := base64.StdEncoding.DecodeString(demoRotationKey(t))
			sec, _ := store.Secrets(key)
			val, err := sec.Value(context.Background(), "local-app-db", "", rotation.KMSStages.Current)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := rotation.ParseValue(val)
			if v.Password == "User2-Old-Pass!" {
				t.Error("nothing was rotated")
			}
			if err := store.Verify(context.Background(), "user2", v.Password); err != nil {
				t.Errorf("user2 does not bind with the current password: %v", err)
			}
			for _, pw := range []string{v.Password, "User2-Old-Pass!"} {
				if strings.Contains(out, pw) {
					t.Error("a password reached the process's output")
				}
			}
		})
	}
}

// demoRotationKey returns rotation.key of the demo configuration.
func demoRotationKey(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile(demoPath(tb))
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "key: "); ok && k == "" && !strings.Contains(v, "ZGVtby10YXNr") {
			return strings.TrimSpace(v)
		}
	}
	tb.Fatal("demo.yaml has no rotation.key")
	return ""
}
