package rotation

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Scheduled step names, in the log's step field.
const (
	StepFinishEarlier = "finishEarlier" // an earlier run's pending version, finished first
	StepPut           = "putPending"
	StepCleanup       = "removePending"
)

// SlotVersion is the version id of the rotation scheduled at t: the same for every invocation
// of one firing, so that of two overlapping invocations only one can put it (the service answers
// the other that the version exists).
func SlotVersion(t time.Time) string { return "chpass-" + t.UTC().Format("20060102T150405Z") }

// Rotate rotates secret for the schedule slot whose version id is slot (see SlotVersion), with
// the service's version stages: a version left pending by an earlier, cut-off run is finished
// first; then, unless this slot's version exists already, a new password is put as version slot
// staged pending (the lock: a second writer gets ErrVersionExists and stops), set in the
// directory, tested, staged current, and its pending stage removed.
func (r *Rotator) Rotate(ctx context.Context, secret, slot string) error {
	s := step{r: r, secret: secret, version: slot, name: "describe"}
	if err := r.ready(); err != nil {
		return s.end("", err)
	}
	d, err := r.describe(ctx, secret)
	if err != nil {
		return s.end("", err)
	}
	if pv, ok := d.Staged(r.Stages.Pending); ok {
		if err := r.finish(ctx, secret, pv.ID, d, pv.ID != slot); err != nil {
			return err
		}
		if pv.ID == slot {
			return nil
		}
	}
	if _, ok := d.Version(slot); ok {
		return step{r: r, secret: secret, version: slot, name: StepPut}.end(OutcomeNothing, nil)
	}
	s.name = StepPut
	cur, err := r.value(ctx, secret, "", r.Stages.Current)
	if err != nil {
		return s.end("", err)
	}
	val, err := r.generate(cur)
	if err != nil {
		return s.end("", err)
	}
	if err := r.put(ctx, secret, slot, val, []string{r.Stages.Pending}); errors.Is(err, ErrVersionExists) {
		return s.end(OutcomeLocked, nil)
	} else if err != nil {
		return s.end("", err)
	}
	s.end(OutcomeDone, nil)
	d, err = r.describe(ctx, secret)
	if err != nil {
		return step{r: r, secret: secret, version: slot, name: StepSet}.end("", err)
	}
	return r.finish(ctx, secret, slot, d, false)
}

// finish completes the rotation to version id: set, test, stage current, remove pending.
func (r *Rotator) finish(ctx context.Context, secret, id string, d Description, earlier bool) error {
	st := func(name string) step {
		if earlier {
			name = StepFinishEarlier + "/" + name
		}
		return step{r: r, secret: secret, version: id, name: name}
	}
	v, _ := d.Version(id)
	if !v.Has(r.Stages.Current) {
		pending, err := r.value(ctx, secret, id, "")
		if err != nil {
			return st(StepSet).end("", err)
		}
		outcome, err := r.setPending(ctx, secret, pending)
		if err := st(StepSet).end(outcome, err); err != nil {
			return err
		}
		if err := st(StepTest).end(OutcomeDone, r.testPending(ctx, pending)); err != nil {
			return err
		}
		cur, ok := d.Staged(r.Stages.Current)
		if !ok {
			return st(StepFinish).end("", fmt.Errorf("no version is staged %s", r.Stages.Current))
		}
		outcome = OutcomeDone
		if err := r.move(ctx, secret, r.Stages.Current, id, cur.ID); errors.Is(err, ErrStageConflict) {
			// Another invocation moved it first: fine if to this version.
			d2, derr := r.describe(ctx, secret)
			if derr != nil {
				return st(StepFinish).end("", derr)
			}
			if now, _ := d2.Version(id); !now.Has(r.Stages.Current) {
				return st(StepFinish).end("", err)
			}
			outcome = OutcomeNothing
		} else if err != nil {
			return st(StepFinish).end("", err)
		}
		st(StepFinish).end(outcome, nil)
		if outcome == OutcomeDone {
			r.rotated(ctx, secret, id, pending)
		}
	}
	outcome := OutcomeDone
	if err := r.move(ctx, secret, r.Stages.Pending, "", id); errors.Is(err, ErrStageConflict) {
		outcome = OutcomeNothing
	} else if err != nil {
		return st(StepCleanup).end("", err)
	}
	return st(StepCleanup).end(outcome, nil)
}
