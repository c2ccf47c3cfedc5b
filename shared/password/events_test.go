package password_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"chpass/shared/password"
	"chpass/shared/password/eventstest"
)

// mapDir is a minimal Directory for the events tests.
type mapDir struct {
	mu sync.Mutex
	pw map[string]string
}

func (d *mapDir) ChangePassword(_ context.Context, name, old, new string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pw[name] != old || old == "" {
		return password.Errorf(password.EUNAUTHORIZED, "The old password is wrong.")
	}
	d.pw[name] = new
	return nil
}

func (d *mapDir) ResetPassword(_ context.Context, name, new string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.pw[name]; !ok {
		return password.Errorf(password.ENOTFOUND, "No such user.")
	}
	d.pw[name] = new
	return nil
}

func (d *mapDir) LookupUser(_ context.Context, name string) (*password.User, error) {
	return &password.User{Name: name}, nil
}

const (
	evOld = "Old-cAnArY-Pw1!"
	evNew = "New-cAnArY-Pw2?"
)

func eventService(rec *eventstest.Recorder, onErr func(password.Event, error)) *password.Service {
	d := &mapDir{pw: map[string]string{"alice": evOld, "bob": evOld, "carol": evOld}}
	return password.NewService(password.DefaultPolicy(), d).
		WithEvents(rec, password.EventOptions{Directory: "corp", Timeout: 300 * time.Millisecond, OnError: onErr})
}

// TestEventsAfterEveryChange: one event per successful change and per user
// reset, none for a refusal, with the origin the surface gave and never a
// password.
func TestEventsAfterEveryChange(t *testing.T) {
	rec := &eventstest.Recorder{}
	s := eventService(rec, nil)
	ctx := password.WithOrigin(context.Background(), password.Origin{RequestID: "req-1", Caller: "alice", Auth: "token", Platform: "local"})

	if err := s.Change(ctx, "alice", "wrong-"+evOld, evNew); err == nil {
		t.Fatal("a wrong old password changed it")
	}
	if err := s.Change(ctx, "alice", evOld, "weak"); err == nil {
		t.Fatal("a weak password changed it")
	}
	if n := len(rec.Events()); n != 0 {
		t.Fatalf("%d events for refused changes, want 0", n)
	}
	if err := s.Change(ctx, "alice", evOld, evNew); err != nil {
		t.Fatal(err)
	}
	admin := password.WithOrigin(context.Background(), password.Origin{RequestID: "req-2", TaskID: "task-9", Caller: "LTAIadmin", Auth: "rpc-v1", Cluster: "ehpc-1"})
	res := s.ResetAll(admin, []password.ResetRequest{{Name: "bob", Password: evNew}, {Name: "nobody", Password: evNew}, {Name: "carol", Password: evNew}}, 2)
	if res[1].Err == nil {
		t.Fatal("an unknown user was reset")
	}
	evs := rec.Events()
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3 (one change, two resets): %+v", len(evs), evs)
	}
	got := map[string]password.Event{}
	for _, e := range evs {
		got[e.User] = e
	}
	a := got["alice"]
	if a.Kind != password.KindSelfService || a.RequestID != "req-1" || a.Auth != "token" || a.Caller != "alice" || a.Directory != "corp" || a.Platform != "local" || a.Time.IsZero() || a.ID == "" {
		t.Errorf("self-service event: %+v", a)
	}
	for _, u := range []string{"bob", "carol"} {
		e := got[u]
		if e.Kind != password.KindAdminReset || e.RequestID != "req-2" || e.TaskID != "task-9" || e.Caller != "LTAIadmin" || e.Auth != "rpc-v1" || e.Cluster != "ehpc-1" {
			t.Errorf("reset event of %s: %+v", u, e)
		}
	}
	if _, ok := got["nobody"]; ok {
		t.Error("an event for a failed reset")
	}
	b, _ := json.Marshal(evs)
	if strings.Contains(string(b), "cAnArY") || strings.Contains(strings.ToLower(string(b)), "password\"") {
		t.Errorf("an event holds a password: %s", b)
	}
	if err := s.Reset(context.Background(), "alice", "Another-cAnArY-3#"); err != nil {
		t.Fatal(err)
	}
	if e := rec.Events()[3]; e.Kind != password.KindAdminReset || e.User != "alice" {
		t.Errorf("Reset event: %+v", e)
	}
}

// TestEventsNeverFailTheChange: a publisher that fails or hangs leaves the
// change done and reported as done; the publish gets at most the bounded
// timeout, never more than the request's own deadline; failures are counted and
// handed to OnError.
func TestEventsNeverFailTheChange(t *testing.T) {
	for _, rec := range []*eventstest.Recorder{{Fail: errors.New("bus down")}, {Hang: true}} {
		var mu sync.Mutex
		var reported []error
		s := eventService(rec, func(_ password.Event, err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.Change(ctx, "alice", evOld, evNew); err != nil {
			t.Fatalf("the change failed because publishing did: %v", err)
		}
		cancel()
		if s.PublishFailures() != 1 || len(reported) != 1 {
			t.Errorf("failures %d, reported %d, want 1 and 1", s.PublishFailures(), len(reported))
		}
		if left := rec.Deadlines()[0]; left < 0 || left > 300*time.Millisecond {
			t.Errorf("publish had %v left, want at most the 300ms timeout", left)
		}
	}
	t.Run("RequestDeadlineShorter", func(t *testing.T) {
		rec := &eventstest.Recorder{}
		s := eventService(rec, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := s.Change(ctx, "alice", evOld, evNew); err != nil {
			t.Fatal(err)
		}
		if left := rec.Deadlines()[0]; left < 0 || left > 100*time.Millisecond {
			t.Errorf("publish had %v left, want at most the request's 100ms", left)
		}
	})
	t.Run("CanceledRequestStillPublishes", func(t *testing.T) {
		// A caller hanging up after the directory accepted: the event still goes.
		rec := &eventstest.Recorder{}
		s := eventService(rec, nil)
		ctx, cancel := context.WithCancel(context.Background())
		d := &cancelAfterChange{Directory: s.Directory(), cancel: cancel}
		s = s.WithDirectory(d)
		if err := s.Change(ctx, "alice", evOld, evNew); err != nil {
			t.Fatal(err)
		}
		if len(rec.Events()) != 1 {
			t.Fatal("no event after the caller's context was canceled")
		}
	})
}

type cancelAfterChange struct {
	password.Directory
	cancel func()
}

func (c *cancelAfterChange) ChangePassword(ctx context.Context, name, old, new string) error {
	err := c.Directory.ChangePassword(ctx, name, old, new)
	c.cancel()
	return err
}
