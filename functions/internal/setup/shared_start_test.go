package setup_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	. "chpass/functions/internal/setup"
	"chpass/shared/config"
	"chpass/shared/logtest"
)

// TestRedisAtStart checks what a start does with a configured Redis: the local
// server pings it and logs one that does not answer; a cold start on either cloud
// connects to nothing before its first request.
func TestRedisAtStart(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantPing bool
	}{
		{name: "Local", wantPing: true},
		{name: "Lambda", env: map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}},
		{name: "FunctionCompute", env: map[string]string{"FC_RUNTIME_API": "127.0.0.1:9000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
			t.Setenv("FC_RUNTIME_API", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			// A Redis that takes connections and closes them at once.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var accepted atomic.Int32
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					accepted.Add(1)
					c.Close()
				}
			}()
			var logs logtest.Buffer
			cfg := &config.Config{Redis: config.Redis{Address: "redis://" + ln.Addr().String()}}
			a := New(cfg, NewLogger(&logs, "test", "info"))
			defer a.Close()
			s, err := a.Shared(context.Background())
			if err != nil || s == nil {
				t.Fatalf("Shared = %v, %v", s, err)
			}
			pinged := accepted.Load() > 0
			if pinged != tt.wantPing {
				t.Errorf("connected to Redis at start: %v, want %v", pinged, tt.wantPing)
			}
			logged := false
			for _, l := range logs.Lines(t) {
				logged = logged || l["event"] == "redis_unavailable"
			}
			if logged != tt.wantPing {
				t.Errorf("logged redis_unavailable: %v, want %v; logs: %s", logged, tt.wantPing, logs.String())
			}
		})
	}
}
