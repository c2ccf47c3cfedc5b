package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"chpass/shared/gateway"
)

// Kind is one kind of event a function accepts: where it arrives, how to recognise it, and what
// the function does with it. A function hands the platform the kinds it accepts (HTTP(h),
// SecretsManagerRotation(fn), FCTimer(fn), …) and the platform refuses every other event with
// ErrUnknownEvent, naming what the event was when it knows. Each kind lives in a file of its own
// (kind_http.go, kind_rotation.go, kind_timer.go); adding one is a constructor there plus a
// Detector registered by that file.
type Kind struct {
	// Name names the kind in errors, e.g. "FC timer".
	Name string
	// On lists the platforms that deliver the kind (gateway.Lambda, gateway.FC). Invoke, which
	// serves -event runs and functions/local, accepts every kind whatever the platform.
	On []string
	// Match reports whether data, a JSON event, is of this kind. Kinds' matches never overlap.
	Match func(data []byte) bool
	// Handle runs the function on data. on is the platform the event came from (gateway.Local
	// for Invoke). It returns the response the platform expects, or an error the platform
	// reports as the invocation's failure.
	Handle func(ctx context.Context, on string, data []byte) (any, error)
}

// Function is what a function hands to Run: the event kinds it accepts and, when it can be
// served over HTTP on a laptop, the handler a local server serves.
type Function struct {
	Kinds []Kind
	Local http.Handler // nil: the function has no local server (run it with -event or functions/local)
}

// Detector names an event kind that some function accepts, so that a function which does not
// accept it can say what it received. Kind files register theirs with registerDetector.
type Detector struct {
	Name  string
	Match func(data []byte) bool
}

var detectors = []Detector{
	// EventBridge rules wrap a schedule's input; no chpass function accepts them (EventBridge
	// Scheduler delivers its input as written instead).
	{Name: "EventBridge", Match: func(data []byte) bool { return hasFields(data, "source", "detail-type") }},
}

// registerDetector adds d to the kinds that refusals name. Kind files call it from init.
func registerDetector(d Detector) { detectors = append(detectors, d) }

// dispatch runs the first of kinds that data matches, among those delivered on platform (all of
// them when platform is gateway.Local). It refuses an event no kind matches with ErrUnknownEvent,
// naming the event's kind if a registered Detector knows it and the kinds the function accepts.
func dispatch(ctx context.Context, on string, kinds []Kind, data []byte) (any, error) {
	if len(data) > 2*MaxBodyBytes {
		return nil, fmt.Errorf("event of %d bytes: %w", len(data), ErrBodyTooLarge)
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return nil, fmt.Errorf("event is not valid JSON: %w", err)
	}
	var accepted []string
	for _, k := range kinds {
		if on != gateway.Local && !slices.Contains(k.On, on) {
			continue
		}
		if k.Match(data) {
			return k.Handle(ctx, on, data)
		}
		if !slices.Contains(accepted, k.Name) {
			accepted = append(accepted, k.Name)
		}
	}
	what := "event of no known kind"
	for _, d := range detectors {
		if d.Match(data) {
			what = d.Name + " event"
			break
		}
	}
	if len(accepted) == 0 {
		return nil, fmt.Errorf("%s: this function accepts no event on %s: %w", what, on, ErrUnknownEvent)
	}
	return nil, fmt.Errorf("%s: this function accepts only %s events on %s: %w", what, strings.Join(accepted, " or "), on, ErrUnknownEvent)
}

// Handler returns the function lambda.Start (on gateway.Lambda) or fc.Start (on gateway.FC) takes
// to serve kinds: each event goes to the kind it matches among those delivered on that platform.
func Handler(on string, kinds ...Kind) func(ctx context.Context, event json.RawMessage) (any, error) {
	return func(ctx context.Context, event json.RawMessage) (any, error) {
		resp, err := dispatch(ctx, on, kinds, event)
		if err != nil {
			return nil, fmt.Errorf("platform.Handler: %w", err)
		}
		return resp, nil
	}
}

// InvokeKinds runs the function once on a platform event of any of kinds, whatever the platform
// delivers it on, and returns the response JSON. It serves -event runs, functions/local and tests.
func InvokeKinds(ctx context.Context, data []byte, kinds ...Kind) ([]byte, error) {
	resp, err := dispatch(ctx, gateway.Local, kinds, data)
	if err != nil {
		return nil, fmt.Errorf("platform.Invoke: %w", err)
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("platform.Invoke: %w", err)
	}
	return out, nil
}

// invocationInfo is the gateway.Info of a non-HTTP invocation: the platform's request id, or a
// fresh one when invoked locally.
func invocationInfo(ctx context.Context, on string) gateway.Info {
	info := gateway.Info{Platform: on}
	switch on {
	case gateway.Lambda:
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			info.RequestID = lc.AwsRequestID
		}
	case gateway.FC:
		if fcc, ok := fccontext.FromContext(ctx); ok {
			info.RequestID = fcc.RequestID
		}
	}
	if info.RequestID == "" {
		info.RequestID = newRequestID()
	}
	return info
}

// hasFields reports whether data is a JSON object holding every one of names as a string.
func hasFields(data []byte, names ...string) bool {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return false
	}
	for _, n := range names {
		v, ok := m[n]
		if !ok || len(v) == 0 || v[0] != '"' {
			return false
		}
	}
	return true
}

// decodeEvent decodes an event into v; a field of the wrong type is named in the error.
func decodeEvent(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return fmt.Errorf("event field %q is not a %s", ute.Field, ute.Type)
		}
		return err
	}
	return nil
}
