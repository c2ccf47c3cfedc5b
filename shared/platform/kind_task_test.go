package platform_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"chpass/shared/gateway"
	"chpass/shared/platform"
)

// TestRunTaskKind delivers the run-task event to a function that accepts it beside its HTTP kinds:
// on Lambda and FC it reaches fn with the task id; a malformed one is refused before fn; a
// function without the kind refuses it naming it; and an HTTP event whose body is the run-task
// event goes to the HTTP handler, never to fn.
func TestRunTaskKind(t *testing.T) {
	const id = "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"
	var ran []string
	var bodies []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		w.WriteHeader(http.StatusBadRequest)
	})
	kinds := append(platform.HTTP(h), platform.RunTask(func(ctx context.Context, got string) error {
		if _, ok := gateway.From(ctx); !ok {
			t.Error("no gateway.Info in the task's context")
		}
		ran = append(ran, got)
		return nil
	}))
	ev := platform.NewRunTaskEvent(id)
	for _, on := range []string{gateway.Lambda, gateway.FC} {
		t.Run(on, func(t *testing.T) {
			ran = nil
			if _, err := platform.Handler(on, kinds...)(context.Background(), ev); err != nil {
				t.Fatalf("run-task event on %s: %v", on, err)
			}
			if len(ran) != 1 || ran[0] != id {
				t.Fatalf("ran %v, want [%s]", ran, id)
			}
		})
	}
	t.Run("failure is the invocation's", func(t *testing.T) {
		boom := errors.New("store down")
		k := platform.RunTask(func(context.Context, string) error { return boom })
		if _, err := platform.Handler(gateway.Lambda, k)(context.Background(), ev); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the task's error", err)
		}
	})
	for _, bad := range []string{
		`{"chpassRunTask":{"taskId":"../../etc"}}`,
		`{"chpassRunTask":{"taskId":""}}`,
		`{"chpassRunTask":{"taskId":"0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"}}`,
		`{"chpassRunTask":{"taskId":7}}`,
	} {
		t.Run("malformed "+bad, func(t *testing.T) {
			ran = nil
			_, err := platform.Handler(gateway.Lambda, kinds...)(context.Background(), json.RawMessage(bad))
			if err == nil || !strings.Contains(err.Error(), "malformed chpass run-task event") || len(ran) != 0 {
				t.Fatalf("err = %v, ran %v: want malformed, nothing run", err, ran)
			}
		})
	}
	t.Run("refused where not accepted", func(t *testing.T) {
		_, err := platform.Handler(gateway.Lambda, platform.HTTP(h)...)(context.Background(), ev)
		if !errors.Is(err, platform.ErrUnknownEvent) || !strings.Contains(err.Error(), "chpass run-task event") {
			t.Fatalf("err = %v, want ErrUnknownEvent naming the run-task event", err)
		}
	})
	t.Run("an HTTP body is never the event", func(t *testing.T) {
		ran, bodies = nil, nil
		httpEvents := map[string]map[string]any{
			gateway.Lambda: {"version": "2.0", "rawPath": "/", "body": string(ev),
				"headers":        map[string]string{"content-type": "application/json"},
				"requestContext": map[string]any{"http": map[string]any{"method": "POST", "path": "/", "sourceIp": "192.0.2.1"}, "requestId": "r1"}},
			gateway.FC: {"version": "v1", "rawPath": "/", "body": string(ev), "isBase64Encoded": false,
				"headers":        map[string]string{"Content-Type": "application/json"},
				"requestContext": map[string]any{"http": map[string]any{"method": "POST", "path": "/", "sourceIp": "192.0.2.1"}, "requestId": "r1"}},
		}
		for on, e := range httpEvents {
			data, _ := json.Marshal(e)
			if _, err := platform.Handler(on, kinds...)(context.Background(), data); err != nil {
				t.Fatalf("HTTP event on %s: %v", on, err)
			}
		}
		if len(ran) != 0 {
			t.Fatalf("an HTTP request ran task(s) %v", ran)
		}
		if len(bodies) != 2 || bodies[0] != string(ev) || bodies[1] != string(ev) {
			t.Fatalf("HTTP handler saw %q, want the run-task JSON as a body twice", bodies)
		}
	})
}
