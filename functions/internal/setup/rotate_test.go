package setup

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chpass/shared/rotation"
)

// TestRotateSampleEventsLocally runs every rotation sample event, as `make invoke` does, on the
// demo configuration with the embedded secret backend: Secrets Manager's four steps (the local
// runner doing the service's part), a repeat that does nothing, then the FC timer's rotation.
// After each, user2 binds with the password staged current, and no output holds a password.
func TestRotateSampleEventsLocally(t *testing.T) {
	demo, err := os.ReadFile("../../local/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "chpass.yaml")
	yml := strings.Replace(string(demo), "path: .cache/chpass-demo.db", "path: "+filepath.Join(dir, "rotate.db")+"\n  argon2: {time: 1, memory_kib: 64, threads: 1}", 1)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	const ev = "../../../events/rotate-password/"
	var all bytes.Buffer
	var passwords []string
	check := func(t *testing.T, wantOutcome string, midway bool) {
		t.Helper()
		app, err := Load(context.Background(), cfg, "rotate-password", &all)
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close()
		store, err := app.Store(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		key, _ := base64.StdEncoding.DecodeString(app.Config.Rotation.Key.Reveal())
		sec, _ := store.Secrets(key)
		s, err := sec.Value(context.Background(), "local-app-db", "", rotation.KMSStages.Current)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := rotation.ParseValue(s)
		passwords = append(passwords, v.Password)
		err = store.Verify(context.Background(), "user2", v.Password)
		if midway && err != nil {
			// Between setSecret and finishSecret the directory holds the pending password.
			p, _ := sec.Value(context.Background(), "local-app-db", "", rotation.KMSStages.Pending)
			pv, _ := rotation.ParseValue(p)
			passwords = append(passwords, pv.Password)
			err = store.Verify(context.Background(), "user2", pv.Password)
		}
		if err != nil {
			t.Errorf("user2 binds with no staged password (midway %v): %v", midway, err)
		}
		if !strings.Contains(all.String(), `"rotation_outcome":"`+wantOutcome+`"`) {
			t.Errorf("no %s outcome logged", wantOutcome)
		}
	}
	for _, step := range []struct {
		file, outcome string
		midway        bool
	}{
		{"rotation-createSecret.json", "done", false}, {"rotation-setSecret.json", "done", true}, {"rotation-testSecret.json", "done", true},
		{"rotation-finishSecret.json", "done", false}, {"rotation-createSecret.json", "nothing", false}, {"fc-timer.json", "done", false},
		{"fc-timer.json", "nothing", false},
	} {
		t.Run(step.file, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runFunction(context.Background(), "rotate-password", BuildRotatePassword, []string{"-config", cfg, "-event", ev + step.file}, &stdout, &stderr)
			all.Write(stdout.Bytes())
			all.Write(stderr.Bytes())
			if code != 0 || strings.TrimSpace(stdout.String()) != "null" {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
			}
			check(t, step.outcome, step.midway)
		})
	}
	if passwords[0] != "User2-Old-Pass!" || passwords[len(passwords)-1] == passwords[0] {
		t.Error("the sample events rotated nothing")
	}
	passwords = append(passwords, "User2-Old-Pass!")
	for _, pw := range passwords {
		if strings.Contains(all.String(), pw) {
			t.Error("a password reached the output")
		}
	}
}
