package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"time"

	"github.com/gomodule/redigo/redis"

	"chpass/shared/batch"
	"chpass/shared/batch/batchtest"
	"chpass/shared/guard"
	"chpass/shared/guard/guardtest"
	"chpass/shared/password"
	chredis "chpass/shared/redis"
	"chpass/shared/redis/redistest"
)

func open(tb testing.TB, cfg chredis.Config, l guard.Limits) *chredis.Store {
	tb.Helper()
	s, err := chredis.Open(cfg, l)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestGuardContract(t *testing.T) {
	cfg := redistest.Config(t)
	guardtest.Run(t, func(tb testing.TB, l guard.Limits) guard.Store { return open(tb, cfg, l) })
}

// Two stores on one Redis are two instances: what one records, the other sees.
func TestGuardShared(t *testing.T) {
	cfg := redistest.Config(t)
	a, b := open(t, cfg, guard.DefaultLimits), open(t, cfg, guard.DefaultLimits)
	ctx := context.Background()
	k := guard.Key{Scope: "ehpc:AK", Source: "192.0.2.1"}
	if v, err := a.Admit(ctx, k, "n1", time.Minute); v != guard.Admitted || err != nil {
		t.Fatalf("a: %v %v", v, err)
	}
	if v, err := b.Admit(ctx, k, "n1", time.Minute); v != guard.Replayed || err != nil {
		t.Fatalf("b, the same nonce: %v %v", v, err)
	}
	for i := range guard.DefaultLimits.Failures {
		s := []*chredis.Store{a, b}[i%2]
		if _, err := s.Fail(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := a.Admit(ctx, k, "n2", time.Minute); v != guard.Locked || err != nil {
		t.Fatalf("after 5 failures spread over two instances: %v %v, want locked", v, err)
	}
}

// The signature is the IAM surface's nonce: Redis holds only its digest.
func TestNonceNotStoredInClear(t *testing.T) {
	const sig = "9697d1fa4b1a2f0ecf8d1b2a3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"
	cfg := redistest.Config(t, sig, "AKCANARY-SECRET")
	s := open(t, cfg, guard.DefaultLimits)
	if _, err := s.Admit(context.Background(), guard.Key{Scope: "iam:AK"}, "iam:AK:"+sig, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := redistest.Sweep(t, cfg, sig); n != 1 {
		t.Fatalf("%d keys swept, want 1", n)
	}
}

func TestKeysExpire(t *testing.T) {
	cfg := redistest.Config(t)
	s := open(t, cfg, guard.DefaultLimits)
	ctx := context.Background()
	k := guard.Key{Scope: "ehpc:AK", Source: "192.0.2.1"}
	s.Admit(ctx, k, "n", 2*time.Minute)
	s.Fail(ctx, k)
	c := redistest.Client(t, cfg)
	keys, err := redis.Strings(c.Do("KEYS", cfg.KeyPrefix+"*"))
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	for _, key := range keys {
		ms, err := redis.Int64(c.Do("PTTL", key))
		ttl := time.Duration(ms) * time.Millisecond
		if err != nil || ttl <= 0 || ttl > 15*time.Minute {
			t.Errorf("%s: ttl %v %v, want an expiry of at most 15m", key, ttl, err)
		}
	}
}

func TestUnreachable(t *testing.T) {
	srv := redistest.StartServer(t)
	s := open(t, srv.Config(), guard.DefaultLimits)
	ctx := context.Background()
	k := guard.Key{Scope: "ehpc:AK"}
	if v, err := s.Admit(ctx, k, "before", time.Minute); v != guard.Admitted || err != nil {
		t.Fatalf("%v %v", v, err)
	}
	srv.Kill(t)
	for name, call := range map[string]func() (guard.Verdict, error){
		"Admit": func() (guard.Verdict, error) { return s.Admit(ctx, k, "during", time.Minute) },
		"Fail":  func() (guard.Verdict, error) { return s.Fail(ctx, k) },
	} {
		start := time.Now()
		if _, err := call(); !errors.Is(err, guard.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v to fail", name, d)
		}
	}
	// Restarted, it still knows what it recorded (append-only file), and the
	// client reconnects by itself.
	srv.Start(t)
	if v, err := s.Admit(ctx, k, "before", time.Minute); v != guard.Replayed || err != nil {
		t.Fatalf("after a restart: %v %v, want replayed", v, err)
	}
}

func TestBadCredentials(t *testing.T) {
	cfg := redistest.Config(t)
	cfg.Password = "wrong-" + cfg.Password
	s := open(t, cfg, guard.DefaultLimits)
	err := s.Ping(context.Background())
	if !errors.Is(err, guard.ErrUnavailable) {
		t.Fatalf("Ping with a wrong password: %v", err)
	}
	if strings.Contains(err.Error(), cfg.Password) {
		t.Fatal("the error holds the password")
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name, addr, want string
	}{
		{"TLSDefault", "cache.example:6379", ""},
		{"Rediss", "rediss://cache.example:6379/2", ""},
		{"PlainLoopback", "redis://127.0.0.1:6379", ""},
		{"PlainRemote", "redis://cache.example:6379", "loopback"},
		{"UserInAddress", "rediss://u:p@cache.example:6379", "must not hold a user"},
		{"OtherScheme", "http://cache.example:6379", "scheme"},
		{"NoPort", "rediss://cache.example", "host and a port"},
		{"BadDB", "rediss://cache.example:6379/x", "database number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chredis.Open(chredis.Config{Address: tt.addr}, guard.DefaultLimits)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Open(%q) = %v, want %q", tt.addr, err, tt.want)
			}
		})
	}
}

func TestTaskStoreContract(t *testing.T) {
	batchtest.Run(t, func(t *testing.T) batch.TaskStore {
		return open(t, redistest.Config(t, "Canary"), guard.DefaultLimits).Tasks()
	})
}

// oneUser is a directory of one user without a lockout of its own.
type oneUser struct {
	name, pw string
	calls    int
}

func (d *oneUser) ChangePassword(_ context.Context, name, oldPW, newPW string) error {
	d.calls++
	if name != d.name || oldPW != d.pw {
		return password.Errorf(password.EUNAUTHORIZED, "wrong")
	}
	d.pw = newPW
	return nil
}
func (d *oneUser) ResetPassword(context.Context, string, string) error { return nil }
func (d *oneUser) LookupUser(context.Context, string) (*password.User, error) {
	return &password.User{Name: d.name}, nil
}

// A directory without a lockout gets one from Redis, counted across instances.
func TestUserLockout(t *testing.T) {
	cfg := redistest.Config(t, "Old-Pass-1!", "New-Pass-2!", "alice")
	limits := guard.Limits{Failures: 5, Lock: time.Minute}
	dir := &oneUser{name: "alice", pw: "Old-Pass-1!"}
	a := password.WithLockout(dir, open(t, cfg, limits).Users(limits))
	b := password.WithLockout(dir, open(t, cfg, limits).Users(limits))
	ctx := context.Background()
	for i := range 4 {
		if err := []password.Directory{a, b}[i%2].ChangePassword(ctx, "alice", "wrong", "New-Pass-2!"); password.ErrorCode(err) != password.EUNAUTHORIZED {
			t.Fatalf("wrong old password %d: %v", i+1, err)
		}
	}
	// A success clears the count: four more failures do not lock.
	if err := a.ChangePassword(ctx, "alice", "Old-Pass-1!", "New-Pass-2!"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := []password.Directory{a, b}[i%2].ChangePassword(ctx, "alice", "wrong", "Old-Pass-1!"); password.ErrorCode(err) != password.EUNAUTHORIZED {
			t.Fatalf("wrong old password %d: %v", i+1, err)
		}
	}
	calls := dir.calls
	for _, d := range []password.Directory{a, b} {
		if err := d.ChangePassword(ctx, "alice", "New-Pass-2!", "Old-Pass-1!"); password.ErrorCode(err) != password.ELOCKED {
			t.Fatalf("the right password after 5 failures: %v, want ELOCKED on both instances", err)
		}
	}
	if dir.calls != calls || dir.pw != "New-Pass-2!" {
		t.Fatal("a locked user's change reached the directory")
	}
	if n := redistest.Sweep(t, cfg, "alice"); n == 0 {
		t.Fatal("no key swept")
	}
}

// TestRestartedServerCostsNoRequest: connections the pool holds when Redis
// restarts (a failover closes them) are found closed when next taken and
// replaced, so that the first requests after the restart succeed instead of
// failing once per pooled connection.
func TestRestartedServerCostsNoRequest(t *testing.T) {
	srv := redistest.StartServer(t)
	s := open(t, srv.Config(), guard.DefaultLimits)
	ctx := context.Background()
	// Fill the pool with several idle connections.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := s.Admit(ctx, guard.Key{Scope: "ehpc:AK"}, fmt.Sprint("fill-", i), time.Minute); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	srv.Kill(t)
	srv.Start(t)
	for i := range 16 {
		if v, err := s.Admit(ctx, guard.Key{Scope: "ehpc:AK"}, fmt.Sprint("after-", i), time.Minute); v != guard.Admitted || err != nil {
			t.Fatalf("request %d after the restart: %v %v", i, v, err)
		}
	}
}
