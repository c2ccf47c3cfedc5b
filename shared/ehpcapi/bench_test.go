package ehpcapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chpass/shared/password"
)

// fastDir is a directory that accepts every reset at once and keeps nothing.
type fastDir struct{}

func (fastDir) ChangePassword(context.Context, string, string, string) error { return nil }
func (fastDir) ResetPassword(context.Context, string, string) error          { return nil }
func (fastDir) LookupUser(_ context.Context, name string) (*password.User, error) {
	return &password.User{Name: name}, nil
}

// BenchmarkModify100 sends a batch of 100 resets through the handler (signature
// check, decoding, policy check of every password, bounded concurrent resets,
// audit lines) against a fake directory that answers at once. It reports the
// peak heap seen while it ran (sampled from runtime.MemStats every 100µs) and
// the live heap before it (after a GC), whose difference is garbage the
// collector has not yet reclaimed at GOGC=100, not memory held per request.
// The wiring adds the same benchmark over the embedded store, whose argon2id
// hashing dominates there.
func BenchmarkModify100(b *testing.B) {
	names := make([]string, 100)
	for i := range names {
		names[i] = "user" + strconv.Itoa(i+1)
	}
	dir := fastDir{}
	h, err := New(Options{
		Clusters:   map[string]Cluster{"ehpc-demo": {Status: StatusRunning, Service: password.NewService(password.DefaultPolicy(), dir)}},
		AccessKeys: []AccessKey{{ID: testKeyID, Secret: testSecret, Actions: []string{"*"}, Clusters: []string{"*"}}},
		Logger:     zerolog.New(io.Discard),
	})
	if err != nil {
		b.Fatal(err)
	}
	params := modify("ehpc-demo", nil, names...)

	// Warm up (the policy's common-password set loads once), then take the
	// live heap after a collection as the baseline.
	if w := httptest.NewRecorder(); true {
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/?"+encode(signed(http.MethodGet, params, testKeyID, testSecret, time.Now())), nil))
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		req := httptest.NewRequest(http.MethodGet, "/?"+encode(signed(http.MethodGet, params, testKeyID, testSecret, time.Now())), nil)
		w := httptest.NewRecorder()
		b.StartTimer()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(base.HeapAlloc)/(1<<20), "live-heap-before-MiB")
}
