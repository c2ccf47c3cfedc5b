package platform_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"chpass/shared/platform"
)

// TestReportInitError posts a start failure to the Lambda runtime API as Lambda
// documents it, and does nothing on the other platforms.
func TestReportInitError(t *testing.T) {
	type post struct {
		path, errType string
		body          map[string]any
	}
	var got []post
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		got = append(got, post{r.URL.Path, r.Header.Get("Lambda-Runtime-Function-Error-Type"), m})
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	cause := errors.New("caller-password: config CHPASS_CONFIG_YAML: access_keys_from: cannot resolve ${kms:x}")

	tests := []struct {
		name, lambda, fc string
		want             int
	}{
		{"Lambda", host, "", 1},
		{"FunctionCompute", "", host, 0},
		{"Local", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			t.Setenv("AWS_LAMBDA_RUNTIME_API", tt.lambda)
			t.Setenv("FC_RUNTIME_API", tt.fc)
			if err := platform.ReportInitError(context.Background(), cause); err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("%d posts, want %d", len(got), tt.want)
			}
			if tt.want == 0 {
				return
			}
			p := got[0]
			if p.path != "/2018-06-01/runtime/init/error" || p.errType != platform.InitErrorType ||
				p.body["errorMessage"] != cause.Error() || p.body["errorType"] != platform.InitErrorType {
				t.Fatalf("posted %+v", p)
			}
		})
	}

	t.Run("RuntimeAPIDown", func(t *testing.T) {
		t.Setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:1")
		t.Setenv("FC_RUNTIME_API", "")
		if err := platform.ReportInitError(context.Background(), cause); err == nil {
			t.Fatal("no error when the runtime API cannot be reached")
		}
	})
}
