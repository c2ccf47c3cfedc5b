package logtest

import (
	"fmt"
	"sync"
	"testing"
)

func TestBufferConcurrentAndLines(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { fmt.Fprintf(&b, "{\"n\":%d}\n", i) })
	}
	wg.Wait()
	if got := len(b.Lines(t)); got != 50 {
		t.Fatalf("%d lines, want 50", got)
	}
}
