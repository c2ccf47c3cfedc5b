package setup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"
	"chpass/functions/internal/setup/iam"

	"chpass/shared/logtest"
)

// TestLogLinesNameTheFunctionOnce runs sample events of both functions with the
// logger Main builds and checks every log line: a JSON object with no key twice
// (parsers keep the last one) and the function's name in "function".
func TestLogLinesNameTheFunctionOnce(t *testing.T) {
	tests := []struct {
		function string
		build    func(*App) (http.Handler, error)
		events   []string
	}{
		{"caller-password", func(a *App) (http.Handler, error) { return iam.CallerPassword(context.Background(), a) },
			[]string{"policy-apigw-http-v2.json", "apigw-http-v2.json"}},
		{"modify-user-passwords", func(a *App) (http.Handler, error) {
			return ehpc.ModifyUserPasswords(context.Background(), a, ehpc.NoAsync)
		},
			[]string{"apigw-http-v2.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.function, func(t *testing.T) {
			var logs logtest.Buffer
			a := demoApp(t, func() time.Time { return signedAt })
			a.Logger = NewLogger(&logs, tt.function, "info")
			h, err := tt.build(a)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range tt.events {
				if status, body := invokeEvent(t, h, "../../../events/"+tt.function+"/"+ev); status != http.StatusOK {
					t.Fatalf("%s: %d %s", ev, status, body)
				}
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) < len(tt.events) {
				t.Fatalf("%d log lines for %d requests", len(lines), len(tt.events))
			}
			for _, line := range lines {
				if dup := duplicateKey(t, line); dup != "" {
					t.Errorf("key %q twice in %s", dup, line)
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil || m["function"] != tt.function {
					t.Errorf("function %v in %s", m["function"], line)
				}
			}
		})
	}
}

// duplicateKey returns a top-level key that appears twice in the JSON object line.
func duplicateKey(tb testing.TB, line string) string {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(line)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		tb.Fatalf("not a JSON object: %s", line)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			tb.Fatal(err)
		}
		key := fmt.Sprint(tok)
		if seen[key] {
			return key
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			tb.Fatal(err)
		}
	}
	return ""
}
