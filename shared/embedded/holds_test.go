package embedded_test

import (
	"context"
	"testing"

	"chpass/shared/embedded"
	"chpass/shared/password"
)

// HoldsPassword answers without counting a failure: many wrong answers do not
// lock the account, even past MaxFailures, and a locked account still answers.
func TestHoldsPassword(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, embedded.Options{MaxFailures: 3})
	mustEnsure(t, s, "alice", "p0")
	for range 10 {
		ok, err := s.HoldsPassword(ctx, "alice", "wrong")
		wantCode(t, err, "")
		if ok {
			t.Fatal("HoldsPassword(wrong) = true")
		}
	}
	ok, err := s.HoldsPassword(ctx, "alice", "p0")
	wantCode(t, err, "")
	if !ok {
		t.Fatal("HoldsPassword(current) = false")
	}
	// Not locked by the wrong answers: the user can still change the password.
	wantCode(t, s.ChangePassword(ctx, "alice", "p0", "p1"), "")
	// Locked by real failures, the account still answers, and truthfully.
	for range 3 {
		wantCode(t, s.ChangePassword(ctx, "alice", "wrong", "p2"), password.EUNAUTHORIZED)
	}
	wantCode(t, s.ChangePassword(ctx, "alice", "p1", "p2"), password.ELOCKED)
	if ok, err := s.HoldsPassword(ctx, "alice", "p1"); err != nil || !ok {
		t.Errorf("locked: HoldsPassword(current) = %v, %v", ok, err)
	}
	_, err = s.HoldsPassword(ctx, "nobody", "p0")
	wantCode(t, err, password.ENOTFOUND)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.HoldsPassword(cctx, "alice", "p1")
	wantCode(t, err, password.ECANCELED)
}
