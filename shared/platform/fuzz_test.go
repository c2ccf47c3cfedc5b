package platform_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"chpass/shared/platform"
)

// FuzzInvoke checks that no event, however malformed, makes Invoke panic: it answers or errs.
func FuzzInvoke(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"httpMethod":"GET","path":"/","requestContext":{"authorizer":{"claims":[1,{"a":null}]}}}`))
	f.Add([]byte(`{"version":"2.0","rawPath":"%","requestContext":{"http":{"method":"GET"},"authorizer":{"jwt":{"claims":{"a":[[1]]}}}}}`))
	f.Add([]byte(`{"version":"v1","body":"AA==","isBase64Encoded":true,"requestContext":{"http":{"method":"POST"}}}`))
	f.Fuzz(func(t *testing.T, event []byte) {
		out, err := platform.Invoke(context.Background(), echo, event)
		if err == nil && len(out) == 0 {
			t.Error("Invoke answered nothing and no error")
		}
	})
}
