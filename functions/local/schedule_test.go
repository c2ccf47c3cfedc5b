package main

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chpass/functions/internal/setup"
	"chpass/shared/logtest"
	"chpass/shared/rotation"
)

// TestScheduleRotates runs the local rotation schedule of the demo configuration with a clock
// that does not wait: each slot rotates the demo secret once, user2 binds with the current
// password, and the logs hold no password.
func TestScheduleRotates(t *testing.T) {
	demo, err := os.ReadFile("demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := strings.Replace(string(demo), "path: .cache/chpass-demo.db", "path: "+filepath.Join(dir, "chpass.db")+"\n  argon2: {time: 1, memory_kib: 64, threads: 1}", 1)
	cfg = strings.Replace(cfg, "  secrets: [local-app-db]", "  secrets: [local-app-db]\n  schedule: \"0 3 * * *\"", 1)
	path := filepath.Join(dir, "chpass.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs logtest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := setup.Load(ctx, path, "local", &logs)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	clock := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var fired atomic.Int32
	done := make(chan struct{})
	origNow, origWait := now, wait
	defer func() { now, wait = origNow, origWait }()
	now = func() time.Time { return clock }
	wait = func(ctx context.Context, d time.Duration) bool {
		if fired.Add(1) > 2 {
			close(done)
			<-ctx.Done()
			return false
		}
		clock = clock.Add(d)
		return true
	}
	if err := startSchedule(ctx, app); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the schedule did not run")
	}
	out := logs.String()
	for _, slot := range []string{"chpass-20261130T030000Z", "chpass-20261201T030000Z"} {
		if !strings.Contains(out, `"version":"`+slot+`","step":"removePending","rotation_outcome":"done"`) {
			t.Errorf("slot %s was not rotated:\n%s", slot, out)
		}
	}
	store, err := app.Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(app.Config.Rotation.Key.Reveal())
	sec, _ := store.Secrets(key)
	val, _ := sec.Value(ctx, "local-app-db", "", rotation.KMSStages.Current)
	v, _ := rotation.ParseValue(val)
	if err := store.Verify(ctx, "user2", v.Password); err != nil {
		t.Errorf("user2 does not bind with the current password: %v", err)
	}
	if strings.Contains(out, v.Password) || strings.Contains(out, "User2-Old-Pass!") {
		t.Error("a password reached the logs")
	}
}
