// Package guardtest is the contract suite of guard.Store: every store (the
// in-memory one, the Redis one) passes the same tests.
package guardtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chpass/shared/guard"
)

// Limits are the short limits the suite opens stores with, so that locks and
// counts lapse within the test.
var Limits = guard.Limits{Failures: 5, Lock: 400 * time.Millisecond, Window: 2 * time.Second}

// Open returns a store with the given limits. The suite's keys and nonces are
// random, so stores may be shared between tests and packages.
type Open func(tb testing.TB, l guard.Limits) guard.Store

// Run runs the contract suite against the stores open returns.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, guard.Store)
	}{
		{"NonceOnce", testNonceOnce},
		{"NonceExpires", testNonceExpires},
		{"LocksAfterFailures", testLocksAfterFailures},
		{"LockLapses", testLockLapses},
		{"AdmitClearsCount", testAdmitClearsCount},
		{"PerSourceAndScope", testPerSourceAndScope},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t, Limits))
		})
	}
}

func random(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func newKey() guard.Key { return guard.Key{Scope: random("test:AK"), Source: "192.0.2.7"} }

func admit(tb testing.TB, s guard.Store, k guard.Key, nonce string, ttl time.Duration, want guard.Verdict) {
	tb.Helper()
	v, err := s.Admit(context.Background(), k, nonce, ttl)
	if err != nil || v != want {
		tb.Fatalf("Admit(%v, %s) = %v, %v; want %v", k, nonce, v, err, want)
	}
}

func fail(tb testing.TB, s guard.Store, k guard.Key, want guard.Verdict) {
	tb.Helper()
	v, err := s.Fail(context.Background(), k)
	if err != nil || v != want {
		tb.Fatalf("Fail(%v) = %v, %v; want %v", k, v, err, want)
	}
}

// eventually polls cond every 20ms until it holds or d passes.
func eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testNonceOnce(t *testing.T, s guard.Store) {
	k, n := newKey(), random("nonce-")
	admit(t, s, k, n, time.Minute, guard.Admitted)
	admit(t, s, k, n, time.Minute, guard.Replayed)
	// From another source, or under another scope's key, a nonce is still used:
	// replay is refused whoever sends it.
	admit(t, s, guard.Key{Scope: k.Scope, Source: "198.51.100.1"}, n, time.Minute, guard.Replayed)
	admit(t, s, k, random("nonce-"), time.Minute, guard.Admitted)
}

func testNonceExpires(t *testing.T, s guard.Store) {
	k, n := newKey(), random("nonce-")
	start := time.Now()
	admit(t, s, k, n, 300*time.Millisecond, guard.Admitted)
	admit(t, s, k, n, 300*time.Millisecond, guard.Replayed)
	eventually(t, 3*time.Second, "the nonce expires", func() bool {
		v, err := s.Admit(context.Background(), k, n, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		return v == guard.Admitted
	})
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("the nonce was usable again after %v, before its ttl", d)
	}
}

func testLocksAfterFailures(t *testing.T, s guard.Store) {
	k := newKey()
	for range Limits.Failures - 1 {
		fail(t, s, k, guard.Counted)
	}
	fail(t, s, k, guard.JustLocked)
	fail(t, s, k, guard.Locked)
	n := random("nonce-")
	admit(t, s, k, n, time.Minute, guard.Locked)
	// A locked key's request recorded nothing: its nonce is unused once the lock
	// lapses.
	eventually(t, 3*time.Second, "the lock lapses", func() bool {
		v, err := s.Admit(context.Background(), k, n, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return v == guard.Admitted
	})
}

func testLockLapses(t *testing.T, s guard.Store) {
	k := newKey()
	start := time.Now()
	for range Limits.Failures - 1 {
		fail(t, s, k, guard.Counted)
	}
	fail(t, s, k, guard.JustLocked)
	eventually(t, 3*time.Second, "the lock lapses", func() bool {
		v, err := s.Admit(context.Background(), k, random("nonce-"), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return v == guard.Admitted
	})
	if d := time.Since(start); d < Limits.Lock {
		t.Fatalf("unlocked after %v, before %v", d, Limits.Lock)
	}
	// The count starts afresh after a lock.
	for range Limits.Failures - 1 {
		fail(t, s, k, guard.Counted)
	}
}

func testAdmitClearsCount(t *testing.T, s guard.Store) {
	k := newKey()
	for range Limits.Failures - 1 {
		fail(t, s, k, guard.Counted)
	}
	admit(t, s, k, random("nonce-"), time.Minute, guard.Admitted)
	for range Limits.Failures - 1 {
		fail(t, s, k, guard.Counted)
	}
	fail(t, s, k, guard.JustLocked)
	// A replayed request does not clear it either: only an admitted one does.
	k2 := newKey()
	n := random("nonce-")
	admit(t, s, k2, n, time.Minute, guard.Admitted)
	for range Limits.Failures - 1 {
		fail(t, s, k2, guard.Counted)
	}
	admit(t, s, k2, n, time.Minute, guard.Replayed)
	fail(t, s, k2, guard.JustLocked)
}

func testPerSourceAndScope(t *testing.T, s guard.Store) {
	k := newKey()
	for range Limits.Failures - 1 {
		fail(t, s, k, guard.Counted)
	}
	fail(t, s, k, guard.JustLocked)
	other := guard.Key{Scope: k.Scope, Source: "198.51.100.9"}
	admit(t, s, other, random("nonce-"), time.Minute, guard.Admitted)
	fail(t, s, other, guard.Counted)
	admit(t, s, guard.Key{Scope: k.Scope + "x", Source: k.Source}, random("nonce-"), time.Minute, guard.Admitted)
	admit(t, s, guard.Key{Scope: k.Scope}, random("nonce-"), time.Minute, guard.Admitted)
}

func testConcurrent(t *testing.T, s guard.Store) {
	k, n := newKey(), random("nonce-")
	var mu sync.Mutex
	counts := map[guard.Verdict]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			v, err := s.Admit(context.Background(), k, n, time.Minute)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			counts[v]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[guard.Admitted] != 1 || counts[guard.Replayed] != 39 {
		t.Errorf("40 concurrent uses of one nonce: %v, want 1 admitted", counts)
	}
	clear(counts)
	k = newKey()
	for range 4 * Limits.Failures {
		wg.Go(func() {
			v, err := s.Fail(context.Background(), k)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			counts[v]++
			mu.Unlock()
		})
	}
	wg.Wait()
	want := map[guard.Verdict]int{guard.Counted: Limits.Failures - 1, guard.JustLocked: 1, guard.Locked: 3 * Limits.Failures}
	for v, n := range want {
		if counts[v] != n {
			t.Errorf("%d concurrent failures: %v, want %v", 4*Limits.Failures, counts, want)
			break
		}
	}
}

// Unavailable is a store whose backend cannot be reached: every call fails
// with an error wrapping guard.ErrUnavailable, as a store over an unreachable
// Redis does. Calls counts them.
type Unavailable struct{ Calls atomic.Int64 }

var _ guard.Store = (*Unavailable)(nil)

// Admit implements guard.Store.
func (u *Unavailable) Admit(context.Context, guard.Key, string, time.Duration) (guard.Verdict, error) {
	u.Calls.Add(1)
	return 0, fmt.Errorf("guardtest: %w: connection refused", guard.ErrUnavailable)
}

// Fail implements guard.Store.
func (u *Unavailable) Fail(context.Context, guard.Key) (guard.Verdict, error) {
	u.Calls.Add(1)
	return 0, fmt.Errorf("guardtest: %w: connection refused", guard.ErrUnavailable)
}
