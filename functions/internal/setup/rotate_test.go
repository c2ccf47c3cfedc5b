package setup_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/rotate"

	"chpass/shared/password"
	"chpass/shared/rotation"
	"chpass/shared/webhook"
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
			code := Run(context.Background(), "rotate-password", rotate.Build, []string{"-config", cfg, "-event", ev + step.file}, &stdout, &stderr)
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

// TestRotationPublishesEvents: with events configured, each rotation that finishes publishes
// one signed change event (kind rotation, the account and its directory, the version as the
// task), a step that finds its work done publishes none, and no event holds a password.
func TestRotationPublishesEvents(t *testing.T) {
	var mu sync.Mutex
	var got []password.Event
	var bodies bytes.Buffer
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(hookSecret), r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook delivery: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e password.Event
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("event: %v", err)
		}
		mu.Lock()
		got = append(got, e)
		bodies.Write(body)
		mu.Unlock()
	}))
	t.Cleanup(recv.Close)
	demo, err := os.ReadFile("../../local/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "chpass.yaml")
	yml := strings.Replace(string(demo), "path: .cache/chpass-demo.db", "path: "+filepath.Join(dir, "rotate.db")+"\n  argon2: {time: 1, memory_kib: 64, threads: 1}", 1)
	if yml == string(demo) {
		t.Fatal("demo.yaml no longer names .cache/chpass-demo.db")
	}
	yml += "\nevents:\n  webhook: {url: " + recv.URL + "/hook, secret: " + hookSecret + "}\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	const ev = "../../../events/rotate-password/"
	var logs bytes.Buffer
	for _, step := range []struct {
		file  string
		total int // events published so far
	}{
		{"rotation-createSecret.json", 0}, {"rotation-setSecret.json", 0}, {"rotation-testSecret.json", 0},
		{"rotation-finishSecret.json", 1}, {"rotation-finishSecret.json", 1}, {"fc-timer.json", 2}, {"fc-timer.json", 2},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), "rotate-password", rotate.Build, []string{"-config", cfg, "-event", ev + step.file}, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d\n%s", step.file, code, stderr.String())
		}
		logs.Write(stderr.Bytes())
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n != step.total {
			t.Fatalf("after %s: %d events published, want %d", step.file, n, step.total)
		}
	}
	for _, e := range got {
		if e.Kind != password.KindRotation || e.User != "user2" || e.Directory != "embedded" || e.TaskID == "" || e.Auth != "platform" || e.ID == "" {
			t.Errorf("event %+v, want a rotation of user2 in embedded with its version", e)
		}
	}
	if got[0].TaskID == got[1].TaskID {
		t.Errorf("two rotations published the same version %q", got[0].TaskID)
	}
	// No password, old or generated, in an event or a log line.
	app, err := Load(context.Background(), cfg, "rotate-password", io.Discard)
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
	pws := []string{"User2-Old-Pass!"}
	for _, e := range got {
		if s, err := sec.Value(context.Background(), "local-app-db", e.TaskID, ""); err == nil {
			v, _ := rotation.ParseValue(s)
			pws = append(pws, v.Password)
		}
	}
	if len(pws) != 3 {
		t.Fatalf("found %d of the 3 passwords to look for", len(pws))
	}
	for _, pw := range pws {
		if strings.Contains(bodies.String(), pw) || strings.Contains(logs.String(), pw) {
			t.Error("a password reached an event or a log line")
		}
	}
}
