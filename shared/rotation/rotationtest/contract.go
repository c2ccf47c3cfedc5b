// Package rotationtest holds the contract suite of rotation.Secrets, run against every adapter
// (the Secrets Manager and KMS adapters over their fake services, and the embedded store).
package rotationtest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"chpass/shared/rotation"
)

// Harness is one adapter under test.
type Harness struct {
	Secrets rotation.Secrets
	Stages  rotation.Stages
	// NewSecret creates a fresh secret whose one version, staged current, holds value, and
	// returns the secret's id and the version's.
	NewSecret func(tb testing.TB, value string) (secret, version string)
	// NewVersionID returns a version id the service accepts, unique per call.
	NewVersionID func() string
}

func stagesOf(tb testing.TB, h Harness, secret string) map[string][]string {
	tb.Helper()
	d, err := h.Secrets.Describe(context.Background(), secret)
	if err != nil {
		tb.Fatalf("Describe: %v", err)
	}
	out := map[string][]string{}
	for _, v := range d.Versions {
		s := slices.Clone(v.Stages)
		slices.Sort(s)
		out[v.ID] = s
	}
	return out
}

func wantStages(tb testing.TB, h Harness, secret string, want map[string][]string) {
	tb.Helper()
	got := stagesOf(tb, h, secret)
	for id, w := range want {
		slices.Sort(w)
		if !slices.Equal(got[id], w) {
			tb.Errorf("version %s has stages %v, want %v (all: %v)", id, got[id], w, got)
		}
	}
}

// TestSecrets runs the contract of rotation.Secrets against h.
func TestSecrets(t *testing.T, h Harness) {
	ctx := context.Background()
	st := h.Stages
	t.Run("NewSecretIsCurrent", func(t *testing.T) {
		sec, v1 := h.NewSecret(t, `{"v":1}`)
		wantStages(t, h, sec, map[string][]string{v1: {st.Current}})
		got, err := h.Secrets.Value(ctx, sec, "", st.Current)
		if err != nil || got != `{"v":1}` {
			t.Errorf("Value(current) = %q, %v", got, err)
		}
		got, err = h.Secrets.Value(ctx, sec, v1, "")
		if err != nil || got != `{"v":1}` {
			t.Errorf("Value(id) = %q, %v", got, err)
		}
	})
	t.Run("ErrVersionNotFound", func(t *testing.T) {
		sec, v1 := h.NewSecret(t, `{"v":1}`)
		for _, q := range [][2]string{{h.NewVersionID(), ""}, {"", st.Pending}, {v1, st.Pending}} {
			if _, err := h.Secrets.Value(ctx, sec, q[0], q[1]); !errors.Is(err, rotation.ErrVersionNotFound) {
				t.Errorf("Value(%q, %q): err = %v, want ErrVersionNotFound", q[0], q[1], err)
			}
		}
	})
	t.Run("ErrSecretNotFound", func(t *testing.T) {
		sec, _ := h.NewSecret(t, `{"v":1}`)
		if _, err := h.Secrets.Describe(ctx, sec+"-missing"); !errors.Is(err, rotation.ErrSecretNotFound) {
			t.Errorf("Describe: err = %v, want ErrSecretNotFound", err)
		}
	})
	t.Run("PutPending", func(t *testing.T) {
		sec, v1 := h.NewSecret(t, `{"v":1}`)
		v2 := h.NewVersionID()
		if err := h.Secrets.Put(ctx, sec, v2, `{"v":2}`, []string{st.Pending}); err != nil {
			t.Fatal(err)
		}
		wantStages(t, h, sec, map[string][]string{v1: {st.Current}, v2: {st.Pending}})
		got, err := h.Secrets.Value(ctx, sec, v2, st.Pending)
		if err != nil || got != `{"v":2}` {
			t.Errorf("Value(pending) = %q, %v", got, err)
		}
	})
	t.Run("PutExisting", func(t *testing.T) {
		sec, _ := h.NewSecret(t, `{"v":1}`)
		v2 := h.NewVersionID()
		if err := h.Secrets.Put(ctx, sec, v2, `{"v":2}`, []string{st.Pending}); err != nil {
			t.Fatal(err)
		}
		// Both services make a put idempotent: the same value again succeeds.
		if err := h.Secrets.Put(ctx, sec, v2, `{"v":2}`, []string{st.Pending}); err != nil {
			t.Errorf("the same put again: %v, want success", err)
		}
		if err := h.Secrets.Put(ctx, sec, v2, `{"v":3}`, []string{st.Pending}); !errors.Is(err, rotation.ErrVersionExists) {
			t.Errorf("another value under the id: err = %v, want ErrVersionExists", err)
		}
		if got, _ := h.Secrets.Value(ctx, sec, v2, ""); got != `{"v":2}` {
			t.Errorf("the version now holds %q", got)
		}
	})
	t.Run("MoveCurrentKeepsPrevious", func(t *testing.T) {
		sec, v1 := h.NewSecret(t, `{"v":1}`)
		v2 := h.NewVersionID()
		if err := h.Secrets.Put(ctx, sec, v2, `{"v":2}`, []string{st.Pending}); err != nil {
			t.Fatal(err)
		}
		if err := h.Secrets.MoveStage(ctx, sec, st.Current, v2, v1); err != nil {
			t.Fatal(err)
		}
		wantStages(t, h, sec, map[string][]string{v1: {st.Previous}, v2: {st.Current, st.Pending}})
		if err := h.Secrets.MoveStage(ctx, sec, st.Pending, "", v2); err != nil {
			t.Fatal(err)
		}
		wantStages(t, h, sec, map[string][]string{v1: {st.Previous}, v2: {st.Current}})
		if got, _ := h.Secrets.Value(ctx, sec, "", st.Previous); got != `{"v":1}` {
			t.Errorf("previous holds %q", got)
		}
	})
	t.Run("ErrStageConflict", func(t *testing.T) {
		sec, v1 := h.NewSecret(t, `{"v":1}`)
		v2, v3 := h.NewVersionID(), h.NewVersionID()
		if err := h.Secrets.Put(ctx, sec, v2, `{"v":2}`, []string{st.Pending}); err != nil {
			t.Fatal(err)
		}
		before := stagesOf(t, h, sec)
		if err := h.Secrets.MoveStage(ctx, sec, st.Current, v2, v3); !errors.Is(err, rotation.ErrStageConflict) {
			t.Errorf("from a version without the stage: err = %v, want ErrStageConflict", err)
		}
		if err := h.Secrets.MoveStage(ctx, sec, st.Pending, "", v1); !errors.Is(err, rotation.ErrStageConflict) {
			t.Errorf("removing from a version without it: err = %v, want ErrStageConflict", err)
		}
		if after := stagesOf(t, h, sec); len(after) != len(before) {
			t.Errorf("stages changed: %v -> %v", before, after)
		}
		wantStages(t, h, sec, map[string][]string{v1: {st.Current}, v2: {st.Pending}})
	})
	t.Run("ConcurrentPutsOneWins", func(t *testing.T) {
		sec, _ := h.NewSecret(t, `{"v":1}`)
		v2 := h.NewVersionID()
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = h.Secrets.Put(ctx, sec, v2, `{"writer":`+string(rune('0'+i))+`}`, []string{st.Pending})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, rotation.ErrVersionExists):
				t.Errorf("a losing put: err = %v, want ErrVersionExists", err)
			}
		}
		if won != 1 {
			t.Errorf("%d puts of one version succeeded, want 1", won)
		}
	})
}
