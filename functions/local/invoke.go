package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"

	"chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"
	"chpass/functions/internal/setup/iam"
	"chpass/functions/internal/setup/rotate"
	"chpass/shared/platform"
)

// builder builds one function as its own main builds it: an HTTP function, or
// one that declares the event kinds it accepts.
type builder struct {
	http setup.Builder
	fn   setup.FunctionBuilder
}

// builders are the functions -invoke can run.
var builders = map[string]builder{
	"caller-password": {http: iam.CallerPassword},
	"modify-user-passwords": {http: func(ctx context.Context, a *setup.App) (http.Handler, error) {
		return ehpc.ModifyUserPasswords(ctx, a, ehpc.NoAsync)
	}},
	"rotate-password": {fn: rotate.Build},
}

// functionNames returns the names -invoke accepts, sorted.
func functionNames() []string {
	names := make([]string, 0, len(builders))
	for n := range builders {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// response is what every platform's HTTP response holds that -invoke prints: the
// status and the body (API Gateway payload 1.0 and 2.0, Function URL, Function
// Compute HTTP trigger).
type response struct {
	StatusCode      int    `json:"statusCode"`
	Body            string `json:"body"`
	IsBase64Encoded bool   `json:"isBase64Encoded"`
}

// invoke runs function once on the event file, as its platform would, and prints
// the response's status on stderr and its body, decoded (indented when JSON), on
// stdout. With resign, a signed event is signed again now with the configured
// secret of the access key it names, so that a recorded sample is not refused as
// expired.
func invoke(ctx context.Context, app *setup.App, function, eventPath string, resign bool, stdout, stderr io.Writer) int {
	ev, err := os.ReadFile(eventPath)
	if err != nil {
		fmt.Fprintf(stderr, "local: -event: %v\n", err)
		return 2
	}
	b := builders[function]
	if b.http == nil {
		return invokeKinds(ctx, app, b.fn, function, eventPath, ev, stdout, stderr)
	}
	h, err := b.http(ctx, app)
	if err != nil {
		fmt.Fprintf(stderr, "local: %s: %v\n", function, err)
		return 1
	}
	if resign {
		h = resigner(h, app.Config, stderr)
	}
	out, err := platform.Invoke(ctx, h, ev)
	if err != nil {
		fmt.Fprintf(stderr, "local: -event %s: %v\n", eventPath, err)
		return 1
	}
	var resp response
	if err := json.Unmarshal(out, &resp); err != nil {
		fmt.Fprintf(stderr, "local: the platform response is not an HTTP response: %v\n", err)
		return 1
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			fmt.Fprintf(stderr, "local: the response body is not base64: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "%s answered HTTP %d %s (%d bytes of body on stdout)\n", function, resp.StatusCode, http.StatusText(resp.StatusCode), len(body))
	if bytes.Contains(body, []byte("InvalidTimeStamp.Expired")) || bytes.Contains(body, []byte("more than 15 minutes from the server's time")) {
		fmt.Fprintf(stderr, "local: the event was signed more than 15 minutes from now: NOW=<the time it was signed> replays it "+
			"as recorded, and without NOW a sample signed with a key of the configuration is signed again\n")
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") == nil {
		body = pretty.Bytes()
	}
	if len(body) > 0 {
		stdout.Write(body)
		fmt.Fprintln(stdout)
	}
	return 0
}

// invokeKinds runs a function that is not an HTTP function (rotate-password)
// once on the event, as its platform would deliver it, and prints what the
// function returned, indented, on stdout.
func invokeKinds(ctx context.Context, app *setup.App, build setup.FunctionBuilder, function, eventPath string, ev []byte, stdout, stderr io.Writer) int {
	fn, err := build(ctx, app)
	if err != nil {
		fmt.Fprintf(stderr, "local: %s: %v\n", function, err)
		return 1
	}
	out, err := platform.InvokeKinds(ctx, ev, fn.Kinds...)
	if err != nil {
		fmt.Fprintf(stderr, "local: -event %s: %v\n", eventPath, err)
		return 1
	}
	fmt.Fprintf(stderr, "%s finished (its result on stdout)\n", function)
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = pretty.Bytes()
	}
	stdout.Write(out)
	fmt.Fprintln(stdout)
	return 0
}
