package ldap

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password"
)

// benchUsers is the batch: user001..user100 of testdata/fixtures.ldif.
const benchUsers = 100

// benchConcurrency is the pool size and the batch's concurrency.
const benchConcurrency = 8

var (
	benchMu sync.Mutex
	benchNs = map[string]float64{} // ns per batch of 100, by variant, from the last run of each
)

func recordBench(b *testing.B, variant string) float64 {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	benchMu.Lock()
	benchNs[variant] = ns
	benchMu.Unlock()
	return ns
}

func benchRatio(num, den string) (float64, bool) {
	benchMu.Lock()
	defer benchMu.Unlock()
	n, ok1 := benchNs[num]
	d, ok2 := benchNs[den]
	return n / d, ok1 && ok2 && d > 0
}

// BenchmarkReset100 resets the passwords of 100 users (one op = the whole batch)
// over plain ldap:// on loopback, as the service account, four ways:
//
//   - ldappasswd: 100 runs of ldappasswd, one per user, as an admin's script would;
//   - plain: a bare go-ldap loop, 100 RFC 3062 exops over 8 connections bound up front,
//     on DNs known in advance (no lookup, no ppolicy control, no error mapping);
//   - adapter-template: password.Service.ResetAll (concurrency 8) on this adapter
//     with pool 8 and user_dn_template;
//   - adapter-search: the same with user_search, which adds a search per user.
//
// The adapter variants report "x-vs-plain" (time / plain's time; target at most
// 1.25) and "x-faster-than-ldappasswd" (ldappasswd's time / theirs; target at
// least 10). Run all variants together so that the ratios have their terms:
//
//	go test -run '^$' -bench Reset100 ./shared/ldap
func BenchmarkReset100(b *testing.B) {
	e := requireSlapd(b)
	dn := func(i int) string { return fmt.Sprintf("uid=user%03d,%s", i+1, e.People) }

	b.Run("ldappasswd", func(b *testing.B) {
		bin, err := exec.LookPath("ldappasswd")
		if err != nil {
			b.Skip("ldappasswd is not installed")
		}
		b.ResetTimer()
		for n := 0; n < b.N; n++ {
			for i := range benchUsers {
				out, err := exec.Command(bin, "-x", "-H", e.URL, "-D", e.AdminDN, "-w", e.AdminPassword,
					"-s", fmt.Sprintf("Bench-Shell-%d-%d-%d", time.Now().UnixNano(), n, i), dn(i)).CombinedOutput()
				if err != nil {
					b.Fatalf("ldappasswd: %v: %s", err, out)
				}
			}
		}
		recordBench(b, "ldappasswd")
	})

	b.Run("plain", func(b *testing.B) {
		conns := make([]*goldap.Conn, benchConcurrency)
		for i := range conns {
			c, err := goldap.DialURL(e.URL)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if err := c.Bind(e.AdminDN, e.AdminPassword); err != nil {
				b.Fatal(err)
			}
			conns[i] = c
		}
		b.ResetTimer()
		for n := 0; n < b.N; n++ {
			stamp := time.Now().UnixNano()
			work := make(chan int, benchUsers)
			for i := range benchUsers {
				work <- i
			}
			close(work)
			var wg sync.WaitGroup
			for _, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range work {
						pw := fmt.Sprintf("Bench-Plain-%d-%d-%d", stamp, n, i)
						if _, err := c.PasswordModify(goldap.NewPasswordModifyRequest(dn(i), "", pw)); err != nil {
							b.Error(err)
						}
					}
				}()
			}
			wg.Wait()
		}
		recordBench(b, "plain")
	})

	adapter := func(variant string, cfg Config) {
		b.Run(variant, func(b *testing.B) {
			cfg.PoolSize = benchConcurrency
			d, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			svc := password.NewService(password.DefaultPolicy(), d)
			entries := make([]password.ResetRequest, benchUsers)
			for i := range entries {
				entries[i].Name = fmt.Sprintf("user%03d", i+1)
				entries[i].Password = fmt.Sprintf("Bench-Warm-%d-%d", time.Now().UnixNano(), i)
			}
			// Warm the pool as the plain loop's connections are.
			_ = svc.ResetAll(context.Background(), entries[:benchConcurrency], benchConcurrency)
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				stamp := time.Now().UnixNano()
				for i := range entries {
					entries[i].Password = fmt.Sprintf("Bench-Adapter-%d-%d-%d", stamp, n, i)
				}
				for _, r := range svc.ResetAll(context.Background(), entries, benchConcurrency) {
					if r.Err != nil {
						b.Fatalf("%s: %v", r.Name, r.Err)
					}
				}
			}
			b.StopTimer()
			recordBench(b, variant)
			if r, ok := benchRatio(variant, "plain"); ok {
				b.ReportMetric(r, "x-vs-plain")
			}
			if r, ok := benchRatio("ldappasswd", variant); ok {
				b.ReportMetric(r, "x-faster-than-ldappasswd")
			}
		})
	}
	plain := e.plain()
	adapter("adapter-template", plain)
	search := e.plain()
	search.UserDNTemplate = ""
	search.UserSearch = &UserSearch{Base: e.People, Filter: "(&(objectClass=inetOrgPerson)(uid=%s))", Scope: "one"}
	adapter("adapter-search", search)
}
