// Package eventstest holds the fake password.Publisher: it records what it is
// given, and can fail or hang to test that publishing never fails a change.
package eventstest

import (
	"context"
	"errors"
	"sync"
	"time"

	"chpass/shared/password"
)

// Recorder is a password.Publisher that keeps every event it is given.
type Recorder struct {
	// Fail makes Publish return this error (after recording the event).
	Fail error
	// Hang makes Publish wait for its context to end, then fail.
	Hang bool

	mu        sync.Mutex
	events    []password.Event
	deadlines []time.Duration // the time each call had left
}

var _ password.Publisher = (*Recorder)(nil)

// Publish implements password.Publisher.
func (r *Recorder) Publish(ctx context.Context, e password.Event) error {
	r.mu.Lock()
	r.events = append(r.events, e)
	left := time.Duration(-1)
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	r.deadlines = append(r.deadlines, left)
	r.mu.Unlock()
	if r.Hang {
		<-ctx.Done()
		return errors.New("eventstest: hung until the deadline")
	}
	return r.Fail
}

// Events returns the events published so far.
func (r *Recorder) Events() []password.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]password.Event(nil), r.events...)
}

// Deadlines returns, for each call, the time its context had left (-1: none).
func (r *Recorder) Deadlines() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.deadlines...)
}
