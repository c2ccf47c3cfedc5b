package ldap

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"chpass/shared/password"
)

// TestUnreachableIsHeardOnce checks that Ping says a directory that cannot be
// reached is unavailable, and that Warn hears of the outage once, naming the
// address, however many operations fail, and again after it recovered.
func TestUnreachableIsHeardOnce(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var mu sync.Mutex
	var warnings []string
	d, err := New(Config{URL: "ldap://" + addr, InsecurePlain: true, BindDN: "cn=svc", BindPassword: "x",
		UserDNTemplate: "uid=%s,ou=people", Warn: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			warnings = append(warnings, err.Error())
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if code := password.ErrorCode(d.Ping(ctx)); code != password.EUNAVAILABLE {
		t.Fatalf("Ping of a closed port: %q, want %q", code, password.EUNAVAILABLE)
	}
	for range 3 {
		if code := password.ErrorCode(d.ResetPassword(ctx, "alice", "New-Pass-1!")); code != password.EUNAVAILABLE {
			t.Fatalf("ResetPassword: %q, want %q", code, password.EUNAVAILABLE)
		}
	}
	mu.Lock()
	got := append([]string(nil), warnings...)
	mu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], "connect to "+addr) {
		t.Fatalf("warnings = %q, want one naming %s", got, addr)
	}
	// A success ends the outage; the next failure is heard again.
	d.down.Store(false)
	_ = d.Ping(ctx)
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 2 {
		t.Fatalf("after a recovery, warnings = %q, want a second one", warnings)
	}
}
