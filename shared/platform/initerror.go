package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"chpass/shared/gateway"
)

// InitErrorType is the error type a failed start reports to the Lambda runtime API.
const InitErrorType = "Runtime.ConfigError"

// ReportInitError tells the platform that the function cannot start, and why,
// before the process exits. On Lambda it posts err to the runtime API's
// /runtime/init/error, so that the console and the invocation's error show the
// reason rather than only "Runtime exited"; elsewhere the message on stderr is
// the report, and it does nothing. err must hold no secret: configuration
// errors name keys and references, never values.
func ReportInitError(ctx context.Context, err error) error {
	if Detect() != gateway.Lambda {
		return nil
	}
	body, _ := json.Marshal(map[string]any{"errorMessage": err.Error(), "errorType": InitErrorType, "stackTrace": []string{}})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
	req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if rerr != nil {
		return fmt.Errorf("platform.ReportInitError: %w", rerr)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", InitErrorType)
	resp, rerr := http.DefaultClient.Do(req)
	if rerr != nil {
		return fmt.Errorf("platform.ReportInitError: %w", rerr)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("platform.ReportInitError: the runtime API answered %s", resp.Status)
	}
	return nil
}
