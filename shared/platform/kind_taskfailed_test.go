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

// lambdaRecord is Lambda's on-failure destination record of the asynchronous invocation whose
// event was payload (an object).
func lambdaRecord(payload []byte) []byte {
	b, _ := json.Marshal(map[string]any{
		"version": "1.0", "timestamp": "2026-11-29T18:00:00.000Z",
		"requestContext": map[string]any{"requestId": "e4b4c1a8-0000-4000-8000-000000000001",
			"functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:chpass-modify-user-passwords:$LATEST",
			"condition":   "RetriesExhausted", "approximateInvokeCount": 3},
		"requestPayload":  json.RawMessage(payload),
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"responsePayload": map[string]any{"errorMessage": "batch.Run: redis down", "errorType": "errorString"},
	})
	return b
}

// fcRecord is Function Compute 3.0's destination record: requestPayload is the event as a string.
func fcRecord(payload []byte) []byte {
	b, _ := json.Marshal(map[string]any{
		"timestamp": 1660120276975,
		"requestContext": map[string]any{"requestId": "1-0000", "functionArn": "acs:fc:cn-hangzhou:123:functions/chpass-modify-user-passwords",
			"condition": "UnhandledInvocationError", "approximateInvokeCount": 4},
		"requestPayload":  string(payload),
		"responseContext": map[string]any{"statusCode": 200, "functionError": "UnhandledInvocationError"},
		"responsePayload": "",
	})
	return b
}

// TestTaskFailedKind delivers the platforms' failure records of a run-task invocation to a
// function that accepts them: Lambda's (payload an object) and FC's (payload a string), and a
// record of a failed record delivery, all reach fn with the task id; fn's error is the
// invocation's; a record of anything else is refused before fn; a function without the kind
// refuses it naming it; a record sent as an HTTP body goes to the HTTP handler, never to fn.
func TestTaskFailedKind(t *testing.T) {
	const id = "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"
	ev := platform.NewRunTaskEvent(id)
	var ended, ran []string
	var bodies []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		w.WriteHeader(http.StatusBadRequest)
	})
	kinds := append(platform.HTTP(h),
		platform.RunTask(func(_ context.Context, got string) error { ran = append(ran, got); return nil }),
		platform.TaskFailed(func(ctx context.Context, got string) error {
			if _, ok := gateway.From(ctx); !ok {
				t.Error("no gateway.Info in the context")
			}
			ended = append(ended, got)
			return nil
		}))
	for name, c := range map[string]struct {
		on   string
		data []byte
	}{
		"lambda":        {gateway.Lambda, lambdaRecord(ev)},
		"fc":            {gateway.FC, fcRecord(ev)},
		"lambda nested": {gateway.Lambda, lambdaRecord(lambdaRecord(ev))},
		"fc nested":     {gateway.FC, fcRecord(fcRecord(ev))},
	} {
		t.Run(name, func(t *testing.T) {
			ended, ran = nil, nil
			out, err := platform.Handler(c.on, kinds...)(context.Background(), c.data)
			if err != nil {
				t.Fatal(err)
			}
			if len(ended) != 1 || ended[0] != id || len(ran) != 0 {
				t.Fatalf("ended %v, ran %v: want [%s] ended, nothing run", ended, ran, id)
			}
			if r, ok := out.(platform.TaskFailedResult); !ok || r.TaskID != id {
				t.Fatalf("response %#v", out)
			}
		})
	}
	t.Run("failure is the invocation's", func(t *testing.T) {
		boom := errors.New("claimed")
		k := platform.TaskFailed(func(context.Context, string) error { return boom })
		if _, err := platform.Handler(gateway.Lambda, k)(context.Background(), lambdaRecord(ev)); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want fn's", err)
		}
	})
	for _, bad := range []string{
		`{"something":"else"}`,
		`{"chpassRunTask":{"taskId":"../x"}}`,
		`{"version":"2.0","rawPath":"/"}`,
	} {
		t.Run("malformed "+bad, func(t *testing.T) {
			ended = nil
			_, err := platform.Handler(gateway.Lambda, kinds...)(context.Background(), lambdaRecord([]byte(bad)))
			if err == nil || !strings.Contains(err.Error(), "malformed chpass task-failed event") || len(ended) != 0 {
				t.Fatalf("err = %v, ended %v", err, ended)
			}
		})
	}
	t.Run("too deep is dropped", func(t *testing.T) {
		ended = nil
		data := ev
		for range 9 {
			data = lambdaRecord(data)
		}
		out, err := platform.Handler(gateway.Lambda, kinds...)(context.Background(), data)
		if err != nil || len(ended) != 0 {
			t.Fatalf("err %v, ended %v: want dropped", err, ended)
		}
		if r, _ := out.(platform.TaskFailedResult); r.Dropped == "" {
			t.Fatalf("response %#v, want Dropped", out)
		}
	})
	t.Run("refused where not accepted", func(t *testing.T) {
		_, err := platform.Handler(gateway.Lambda, append(platform.HTTP(h),
			platform.RunTask(func(context.Context, string) error { return nil }))...)(context.Background(), lambdaRecord(ev))
		if !errors.Is(err, platform.ErrUnknownEvent) || !strings.Contains(err.Error(), "chpass task-failed event") {
			t.Fatalf("err = %v, want ErrUnknownEvent naming the task-failed event", err)
		}
	})
	t.Run("an HTTP body is never the event", func(t *testing.T) {
		ended, bodies = nil, nil
		rec := string(lambdaRecord(ev))
		httpEvents := map[string]map[string]any{
			gateway.Lambda: {"version": "2.0", "rawPath": "/", "body": rec,
				"headers":        map[string]string{"content-type": "application/json"},
				"requestContext": map[string]any{"http": map[string]any{"method": "POST", "path": "/", "sourceIp": "192.0.2.1"}, "requestId": "r1"}},
			gateway.FC: {"version": "v1", "rawPath": "/", "body": rec, "isBase64Encoded": false,
				"headers":        map[string]string{"Content-Type": "application/json"},
				"requestContext": map[string]any{"http": map[string]any{"method": "POST", "path": "/", "sourceIp": "192.0.2.1"}, "requestId": "r1"}},
		}
		for on, e := range httpEvents {
			data, _ := json.Marshal(e)
			if _, err := platform.Handler(on, kinds...)(context.Background(), data); err != nil {
				t.Fatalf("HTTP event on %s: %v", on, err)
			}
		}
		if len(ended) != 0 || len(bodies) != 2 {
			t.Fatalf("ended %v, HTTP bodies %d", ended, len(bodies))
		}
	})
}
