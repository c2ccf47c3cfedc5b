package redis_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"chpass/shared/guard"
	"chpass/shared/redis/redistest"
)

// BenchmarkGuardLatency measures what the shared state adds to one signed
// request: one Admit (the good request's only call to the store), on loopback
// Redis over TLS and on guard.Memory, and reports p50 and p99 of each and the
// difference. Goal: Redis p99 at most 1 ms.
func BenchmarkGuardLatency(b *testing.B) {
	cfg := redistest.Config(b)
	r := open(b, cfg, guard.DefaultLimits)
	m := &guard.Memory{}
	ctx := context.Background()
	k := guard.Key{Scope: "ehpc:LTAIbench", Source: "192.0.2.1"}
	const n = 5000
	measure := func(s guard.Store) (p50, p99 time.Duration) {
		d := make([]time.Duration, n)
		for i := range n {
			start := time.Now()
			if v, err := s.Admit(ctx, k, fmt.Sprintf("nonce-%d-%d", b.N, i), time.Minute); v != guard.Admitted || err != nil {
				b.Fatalf("%v %v", v, err)
			}
			d[i] = time.Since(start)
		}
		slices.Sort(d)
		return d[n/2], d[n*99/100]
	}
	for b.Loop() {
		r50, r99 := measure(r)
		m50, m99 := measure(m)
		b.ReportMetric(float64(r50.Microseconds()), "redis-p50-µs")
		b.ReportMetric(float64(r99.Microseconds()), "redis-p99-µs")
		b.ReportMetric(float64(m50.Nanoseconds())/1000, "memory-p50-µs")
		b.ReportMetric(float64(m99.Nanoseconds())/1000, "memory-p99-µs")
		b.ReportMetric(float64((r99 - m99).Microseconds()), "added-p99-µs")
	}
}
