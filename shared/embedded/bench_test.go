package embedded_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"chpass/shared/embedded"
	"chpass/shared/password"
)

// openDefault opens a store with the production argon2id parameters.
func openDefault(b *testing.B, history int) *embedded.Store {
	b.Helper()
	s, err := embedded.Open(embedded.Options{Path: filepath.Join(b.TempDir(), "chpass.db"), History: history})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkChangePassword measures a self-service change with the default
// argon2id parameters: one hash to verify the old password, one per remembered
// earlier password, one for the new password, and one write transaction.
func BenchmarkChangePassword(b *testing.B) {
	for _, history := range []int{0, 3} {
		b.Run(fmt.Sprintf("History=%d", history), func(b *testing.B) {
			s := openDefault(b, history)
			ctx := context.Background()
			pw := func(i int) string { return fmt.Sprintf("Bench-pass-%d", i%(history+1)) }
			mustEnsure(b, s, "alice", pw(0))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := s.ChangePassword(ctx, "alice", pw(i), pw(i+1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResetPassword measures an administrative reset with the default
// argon2id parameters: one hash per remembered password and one for the new one.
func BenchmarkResetPassword(b *testing.B) {
	for _, history := range []int{0, 3} {
		b.Run(fmt.Sprintf("History=%d", history), func(b *testing.B) {
			s := openDefault(b, history)
			ctx := context.Background()
			mustEnsure(b, s, "alice", "Bench-pass-0")
			b.ReportAllocs()
			for i := 1; b.Loop(); i++ {
				if err := s.ResetPassword(ctx, "alice", fmt.Sprintf("Bench-pass-%d", i%(history+1))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChangePassword_UnknownUser shows that an unknown user costs what a
// wrong password does.
func BenchmarkChangePassword_UnknownUser(b *testing.B) {
	for _, user := range []string{"alice", "nobody"} {
		b.Run(user, func(b *testing.B) {
			s, err := embedded.Open(embedded.Options{Path: filepath.Join(b.TempDir(), "chpass.db"), MaxFailures: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			mustEnsure(b, s, "alice", "Bench-pass-0")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.ChangePassword(ctx, user, "wrong", "Bench-pass-1"); password.ErrorCode(err) != password.EUNAUTHORIZED {
					b.Fatal(err)
				}
			}
		})
	}
}

// A wrong password and an unknown user take about the same time. The bound is
// loose so that a busy machine does not fail it; a missing dummy hash would be
// off by orders of magnitude.
func TestChangePassword_UnknownUserSameTime(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	s := mustOpen(t, embedded.Options{MaxFailures: -1, Argon2: embedded.Argon2Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}})
	mustEnsure(t, s, "alice", "Right-pass1")
	ctx := context.Background()
	median := func(user string) time.Duration {
		var ds []time.Duration
		for range 9 {
			start := time.Now()
			wantCode(t, s.ChangePassword(ctx, user, "wrong", "x"), password.EUNAUTHORIZED)
			ds = append(ds, time.Since(start))
		}
		for i := range ds { // insertion sort; nine values
			for j := i; j > 0 && ds[j] < ds[j-1]; j-- {
				ds[j], ds[j-1] = ds[j-1], ds[j]
			}
		}
		return ds[len(ds)/2]
	}
	known, unknown := median("alice"), median("nobody")
	if unknown < known/3 || unknown > known*3 {
		t.Errorf("wrong password: %v; unknown user: %v", known, unknown)
	}
}
