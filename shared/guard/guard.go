// Package guard keeps what signed requests leave behind and what must be shared
// by every instance that serves them: the nonces already used, and the count of
// bad signatures that locks a key.
//
// A surface asks once per request: Admit when the signature is good and fresh,
// Fail when it is not. Each is one atomic step of the store (one round trip on
// Redis). The surfaces declare the port where they use it; Memory implements it
// for one process, package redis for many.
package guard

import (
	"context"
	"errors"
	"time"
)

// Verdict is what the store decided about one request.
type Verdict int

// Verdicts.
const (
	// Admitted: the key is not locked and the nonce was unused; it is now
	// recorded, and the key's count of bad signatures is cleared.
	Admitted Verdict = iota + 1
	// Replayed: the nonce was used before; nothing changed.
	Replayed
	// Locked: the key is locked; nothing changed.
	Locked
	// Counted: a bad signature was counted; the key is not locked.
	Counted
	// JustLocked: this bad signature reached the limit and locked the key.
	JustLocked
)

var verdicts = [...]string{"", "admitted", "replayed", "locked", "counted", "just_locked"}

func (v Verdict) String() string {
	if v > 0 && int(v) < len(verdicts) {
		return verdicts[v]
	}
	return "unknown"
}

// Key names what a lockout counts: Scope is the surface and access key (such
// as "iam:AK"), Source the caller's address as the platform reports it, or ""
// when it reports none. Counting per source means that someone who only knows a
// key's id can lock that key out from their own address, not from everyone's.
type Key struct {
	Scope  string
	Source string
}

// Limits say when a key locks.
type Limits struct {
	Failures int           // bad signatures that lock a key; default 5
	Lock     time.Duration // how long it stays locked; default 5 minutes
	// Window is how long a count of bad signatures is kept after the last one;
	// default 15 minutes. A good request clears it sooner.
	Window time.Duration
}

// DefaultLimits lock a key for 5 minutes after 5 bad signatures, as the
// vendors' gateways document.
var DefaultLimits = Limits{Failures: 5, Lock: 5 * time.Minute, Window: 15 * time.Minute}

// WithDefaults returns l with every zero field set from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	if l.Failures <= 0 {
		l.Failures = DefaultLimits.Failures
	}
	if l.Lock <= 0 {
		l.Lock = DefaultLimits.Lock
	}
	if l.Window <= 0 {
		l.Window = DefaultLimits.Window
	}
	return l
}

// ErrFull is returned by a store that can hold no more nonces. The surfaces
// answer it as throttling.
var ErrFull = errors.New("guard: the nonce store is full")

// ErrUnavailable wraps every failure of a store's backend (Redis unreachable,
// a timeout): the surfaces answer it as their catalog's "service unavailable",
// and nothing is changed.
var ErrUnavailable = errors.New("guard: the shared state is unavailable")

// Store is the port, as the surfaces declare it.
type Store interface {
	// Admit records nonce until ttl from now unless k is locked (Locked) or
	// nonce was recorded before (Replayed), and then clears k's count
	// (Admitted), in one atomic step. Returns ErrFull or an error wrapping
	// ErrUnavailable, changing nothing.
	Admit(ctx context.Context, k Key, nonce string, ttl time.Duration) (Verdict, error)
	// Fail counts a bad signature for k: Locked when k was locked already
	// (nothing is counted), JustLocked when this one locks it, else Counted.
	// Returns an error wrapping ErrUnavailable, changing nothing.
	Fail(ctx context.Context, k Key) (Verdict, error)
}
