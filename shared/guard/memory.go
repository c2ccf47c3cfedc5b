package guard

import (
	"context"
	"sync"
	"time"
)

// Memory is the Store of one process: in memory, safe for concurrent use,
// holding at most Max unexpired nonces. A restart forgets it, and every
// instance has its own: several instances need a shared store (package redis).
type Memory struct {
	Limits Limits
	Max    int // default 100,000
	Now    func() time.Time

	mu        sync.Mutex
	nonces    map[string]time.Time // nonce -> expiry
	keys      map[Key]*keyState
	nextSweep time.Time
}

type keyState struct {
	failures    int
	expires     time.Time // of the count
	lockedUntil time.Time
}

var _ Store = (*Memory)(nil)

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// state returns k's live state, dropping an expired count or lock; nil if none.
func (m *Memory) state(k Key, now time.Time) *keyState {
	s := m.keys[k]
	if s == nil {
		return nil
	}
	if !s.lockedUntil.IsZero() {
		if now.Before(s.lockedUntil) {
			return s
		}
		delete(m.keys, k) // the lock lapsed: count afresh
		return nil
	}
	if !now.Before(s.expires) {
		delete(m.keys, k)
		return nil
	}
	return s
}

func (m *Memory) sweep(now time.Time, max int) {
	if now.Before(m.nextSweep) && len(m.nonces) < max {
		return
	}
	for n, exp := range m.nonces {
		if !exp.After(now) {
			delete(m.nonces, n)
		}
	}
	for k := range m.keys {
		m.state(k, now)
	}
	m.nextSweep = now.Add(time.Minute)
}

// Admit implements Store.
func (m *Memory) Admit(_ context.Context, k Key, nonce string, ttl time.Duration) (Verdict, error) {
	now := m.now()
	max := m.Max
	if max <= 0 {
		max = 100_000
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nonces == nil {
		m.nonces, m.keys = map[string]time.Time{}, map[Key]*keyState{}
	}
	m.sweep(now, max)
	if s := m.state(k, now); s != nil && !s.lockedUntil.IsZero() {
		return Locked, nil
	}
	if exp, ok := m.nonces[nonce]; ok && exp.After(now) {
		return Replayed, nil
	}
	if len(m.nonces) >= max {
		return 0, ErrFull
	}
	m.nonces[nonce] = now.Add(ttl)
	delete(m.keys, k)
	return Admitted, nil
}

// Fail implements Store.
func (m *Memory) Fail(_ context.Context, k Key) (Verdict, error) {
	now := m.now()
	l := m.Limits.WithDefaults()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.nonces, m.keys = map[string]time.Time{}, map[Key]*keyState{}
	}
	s := m.state(k, now)
	if s == nil {
		s = &keyState{}
		m.keys[k] = s
	}
	if !s.lockedUntil.IsZero() {
		return Locked, nil
	}
	s.failures++
	s.expires = now.Add(l.Window)
	if s.failures >= l.Failures {
		s.lockedUntil = now.Add(l.Lock)
		return JustLocked, nil
	}
	return Counted, nil
}

// Len reports how many nonces are held, for tests.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.nonces)
}
