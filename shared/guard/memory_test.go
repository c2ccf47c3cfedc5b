package guard_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"chpass/shared/guard"
	"chpass/shared/guard/guardtest"
)

func TestMemoryContract(t *testing.T) {
	guardtest.Run(t, func(tb testing.TB, l guard.Limits) guard.Store { return &guard.Memory{Limits: l} })
}

func TestMemoryBounded(t *testing.T) {
	m := &guard.Memory{Max: 10}
	ctx := context.Background()
	k := guard.Key{Scope: "test:AK"}
	for i := range 10 {
		if v, err := m.Admit(ctx, k, "n"+strconv.Itoa(i), time.Minute); v != guard.Admitted || err != nil {
			t.Fatalf("%d: %v %v", i, v, err)
		}
	}
	if _, err := m.Admit(ctx, k, "one-too-many", time.Minute); !errors.Is(err, guard.ErrFull) {
		t.Fatalf("a full store: %v, want ErrFull", err)
	}
	if v, _ := m.Admit(ctx, k, "n3", time.Minute); v != guard.Replayed {
		t.Fatalf("a full store still refuses a replay: %v", v)
	}
}

func TestMemoryExpiryFrees(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	m := &guard.Memory{Max: 2, Now: func() time.Time { return now }}
	ctx := context.Background()
	k := guard.Key{Scope: "test:AK"}
	for _, n := range []string{"a", "b"} {
		if v, err := m.Admit(ctx, k, n, time.Minute); v != guard.Admitted || err != nil {
			t.Fatalf("%s: %v %v", n, v, err)
		}
	}
	now = now.Add(2 * time.Minute)
	if v, err := m.Admit(ctx, k, "c", time.Minute); v != guard.Admitted || err != nil {
		t.Fatalf("after expiry: %v %v", v, err)
	}
	if m.Len() != 1 {
		t.Errorf("%d nonces held after expiry, want 1", m.Len())
	}
}
