package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password"
)

// adBenchPassword returns a password never set before, short enough for the
// default policy.
func adBenchPassword(i int) string {
	return fmt.Sprintf("Ad-%08x-%03d!", uint32(time.Now().UnixNano()), i)
}

// adPlainBatch is the baseline on Active Directory: a bare go-ldap loop
// resetting the 100 batch users with the same Modify the adapter sends (replace
// unicodePwd) on DNs known in advance, over 8 ldaps connections bound as the
// service account up front, one worker per connection.
type adPlainBatch struct {
	conns []*goldap.Conn
	dns   []string
}

func newADPlainBatch(b *testing.B, e adEnv) *adPlainBatch {
	pem, err := os.ReadFile(e.CA)
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	p := &adPlainBatch{}
	for i := range benchUsers {
		p.dns = append(p.dns, e.UserDN(fmt.Sprintf("batch%03d", i+1)))
	}
	for range benchConcurrency {
		c, err := goldap.DialURL(e.URL, goldap.DialWithTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if err := c.Bind(e.ServiceDN, e.ServicePassword); err != nil {
			b.Fatal(err)
		}
		p.conns = append(p.conns, c)
	}
	return p
}

func (p *adPlainBatch) run(b *testing.B) {
	work := make(chan int, benchUsers)
	for i := range benchUsers {
		work <- i
	}
	close(work)
	var wg sync.WaitGroup
	for _, c := range p.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				req := goldap.NewModifyRequest(p.dns[i], nil)
				req.Replace("unicodePwd", []string{unicodePwd(adBenchPassword(i))})
				if err := c.Modify(req); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

// newADAdapterBatch resets the batch users through password.Service.ResetAll on
// the AD adapter (pool 8, concurrency 8): the users found by sAMAccountName in
// bulk, then the Modify per user, with the error mapping.
func newADAdapterBatch(b *testing.B, e adEnv) *adapterBatch {
	cfg := e.ldaps()
	cfg.PoolSize = benchConcurrency
	d, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	a := &adapterBatch{svc: password.NewService(password.DefaultPolicy(), d), entries: make([]password.ResetRequest, benchUsers)}
	for i := range a.entries {
		a.entries[i].Name = fmt.Sprintf("batch%03d", i+1)
	}
	a.setPasswords()
	// Warm the pool, as the plain loop's connections are bound up front.
	a.check(b, a.svc.ResetAll(context.Background(), a.entries[:benchConcurrency], benchConcurrency))
	return a
}

func (a *adapterBatch) setPasswords() {
	for i := range a.entries {
		a.entries[i].Password = adBenchPassword(i)
	}
}

// BenchmarkADReset100 resets the passwords of the 100 batch users of the Samba
// AD domain (one op = the whole batch) over ldaps on loopback, as the delegated
// service account, in pairs so that both variants see the same load (Samba sets
// about 30-40 passwords a second, each taking some 26 ms of CPU under its one
// write lock, so absolute times mean little):
//
//   - plain: a bare go-ldap loop, 100 Modify replace unicodePwd over 8 connections
//     bound up front, on DNs known in advance;
//   - adapter: password.Service.ResetAll (concurrency 8) on the AD adapter, pool 8,
//     which finds the users by sAMAccountName in bulk (4 searches of 25 names) first.
//
// It reports "adapter-x-vs-plain" (the target is at most 1.25):
//
//	go test -run '^$' -bench ADReset100 ./shared/ldap
func BenchmarkADReset100(b *testing.B) {
	e := requireAD(b)
	p := newADPlainBatch(b, e)
	a := newADAdapterBatch(b, e)
	var tPlain, tAdapter time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		if n%2 == 0 {
			start := time.Now()
			p.run(b)
			tPlain += time.Since(start)
		}
		a.setPasswords()
		start := time.Now()
		a.check(b, a.svc.ResetAll(context.Background(), a.entries, benchConcurrency))
		tAdapter += time.Since(start)
		if n%2 == 1 {
			start := time.Now()
			p.run(b)
			tPlain += time.Since(start)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(tPlain.Nanoseconds())/float64(b.N), "plain-ns/batch")
	b.ReportMetric(float64(tAdapter.Nanoseconds())/float64(b.N), "adapter-ns/batch")
	b.ReportMetric(float64(tAdapter)/float64(tPlain), "adapter-x-vs-plain")
}
