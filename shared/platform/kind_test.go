package platform_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	fcevents "github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"chpass/shared/gateway"
	"chpass/shared/platform"
)

func rotationEvent() map[string]any {
	return map[string]any{"Step": "createSecret", "SecretId": "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app-Ab12Cd",
		"ClientRequestToken": "0b1c2d3e-0000-4000-8000-000000000001", "RotationToken": "rt-1"}
}

func timerEvent() map[string]any {
	return map[string]any{"triggerTime": "2026-11-29T03:00:00Z", "triggerName": "rotate", "payload": `{"secrets":["app"]}`}
}

// recorded is what a non-HTTP kind's function saw.
type recorded struct {
	mu       sync.Mutex
	rotation []events.SecretsManagerSecretRotationEvent
	timer    []fcevents.TimerEvent
	infos    []gateway.Info
}

func (r *recorded) kinds(fail error) []platform.Kind {
	return []platform.Kind{
		platform.SecretsManagerRotation(func(ctx context.Context, e events.SecretsManagerSecretRotationEvent) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			info, _ := gateway.From(ctx)
			r.rotation, r.infos = append(r.rotation, e), append(r.infos, info)
			return fail
		}),
		platform.FCTimer(func(ctx context.Context, e fcevents.TimerEvent) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			info, _ := gateway.From(ctx)
			r.timer, r.infos = append(r.timer, e), append(r.infos, info)
			return fail
		}),
	}
}

// TestHandlerAcceptsDeclaredKinds sends every kind of event to functions that declare different
// kinds, on each platform: a function gets only the kinds it declared, delivered on that platform,
// and the refusal names what arrived and what the function accepts.
func TestHandlerAcceptsDeclaredKinds(t *testing.T) {
	rec := &recorded{}
	httpKinds := platform.HTTP(echo)
	rotation := rec.kinds(nil)[:1]
	timer := rec.kinds(nil)[1:]
	tests := []struct {
		name    string
		on      string
		kinds   []platform.Kind
		event   map[string]any
		wantErr string // "" means served; else a text the refusal must hold
	}{
		{"HTTPOnLambdaServesV2", gateway.Lambda, httpKinds, v2Event("GET", "/p", ""), ""},
		{"HTTPOnFCServesFC", gateway.FC, httpKinds, fcEvent("GET", "/p"), ""},
		{"HTTPRefusesTimer", gateway.FC, httpKinds, timerEvent(), "FC timer event: this function accepts only FC HTTP trigger events on fc"},
		{"HTTPRefusesRotation", gateway.Lambda, httpKinds, rotationEvent(), "Secrets Manager rotation event: this function accepts only HTTP API 2.0 / Function URL or REST API events on lambda"},
		{"HTTPRefusesEventBridge", gateway.Lambda, httpKinds, map[string]any{"source": "aws.events", "detail-type": "Scheduled Event"}, "EventBridge event: "},
		{"HTTPOnFCRefusesV2", gateway.FC, httpKinds, v2Event("GET", "/p", ""), "HTTP API 2.0 / Function URL event: this function accepts only FC HTTP trigger events"},
		{"RotationServesRotation", gateway.Lambda, rotation, rotationEvent(), ""},
		{"RotationRefusesHTTP", gateway.Lambda, rotation, v2Event("GET", "/p", ""), "accepts only Secrets Manager rotation events"},
		{"RotationOnFCAcceptsNothing", gateway.FC, rotation, rotationEvent(), "Secrets Manager rotation event: this function accepts no event on fc"},
		{"TimerServesTimer", gateway.FC, timer, timerEvent(), ""},
		{"TimerRefusesRotation", gateway.FC, timer, rotationEvent(), "Secrets Manager rotation event: this function accepts only FC timer events on fc"},
		{"UnknownEventSaysSo", gateway.Lambda, rotation, map[string]any{"Records": []any{}}, "event of no known kind: this function accepts only Secrets Manager rotation events"},
		{"RotationStepNotAString", gateway.Lambda, rotation, map[string]any{"Step": 1, "SecretId": "s", "ClientRequestToken": "t"}, "event of no known kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := platform.Handler(tt.on, tt.kinds...)(context.Background(), mustJSON(t, tt.event))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, platform.ErrUnknownEvent) {
				t.Fatalf("err = %v, want ErrUnknownEvent", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q, want it to say %q", err, tt.wantErr)
			}
		})
	}
}

// TestRotationKindThroughLambdaSDK runs a rotation function as lambda.Start would: the function
// gets the event decoded, a context with the Lambda request id, and its error fails the invocation.
func TestRotationKindThroughLambdaSDK(t *testing.T) {
	for _, fail := range []error{nil, errors.New("setSecret: directory down")} {
		rec := &recorded{}
		h := lambda.NewHandler(platform.Handler(gateway.Lambda, rec.kinds(fail)...))
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
		out, err := h.Invoke(ctx, mustJSON(t, rotationEvent()))
		if fail != nil {
			if err == nil || !strings.Contains(err.Error(), fail.Error()) {
				t.Errorf("err = %v, want the function's error", err)
			}
			continue
		}
		if err != nil || string(out) != "null" {
			t.Fatalf("Invoke = %s, %v; want null, nil", out, err)
		}
		want := events.SecretsManagerSecretRotationEvent{Step: "createSecret", SecretID: rotationEvent()["SecretId"].(string),
			ClientRequestToken: "0b1c2d3e-0000-4000-8000-000000000001", RotationToken: "rt-1"}
		if len(rec.rotation) != 1 || rec.rotation[0] != want {
			t.Errorf("function saw %+v, want %+v", rec.rotation, want)
		}
		if got := rec.infos[0]; got.Platform != gateway.Lambda || got.RequestID != "lambda-req-1" || got.Authorizer != nil {
			t.Errorf("info %+v", got)
		}
	}
}

// TestTimerKindThroughFCSDK runs a timer function as fc.Start would.
func TestTimerKindThroughFCSDK(t *testing.T) {
	rec := &recorded{}
	h := fc.NewHandler(platform.Handler(gateway.FC, rec.kinds(nil)...))
	ctx := fccontext.NewContext(context.Background(), &fccontext.FcContext{RequestID: "fc-req-1"})
	if _, err := h.Invoke(ctx, mustJSON(t, timerEvent())); err != nil {
		t.Fatal(err)
	}
	if len(rec.timer) != 1 || *rec.timer[0].TriggerName != "rotate" || *rec.timer[0].Payload != `{"secrets":["app"]}` {
		t.Errorf("function saw %+v", rec.timer)
	}
	if got := rec.infos[0]; got.Platform != gateway.FC || got.RequestID != "fc-req-1" {
		t.Errorf("info %+v", got)
	}
	if _, err := h.Invoke(ctx, []byte(`{"triggerTime":"2026-11-29T03:00:00Z","triggerName":"rotate","payload":5}`)); err == nil ||
		!strings.Contains(err.Error(), `"payload" is not a string`) {
		t.Errorf("a payload of the wrong type: err = %v", err)
	}
}

// TestInvokeKindsAcceptsEveryKindLocally runs both non-HTTP kinds as -event and functions/local do:
// whatever platform delivers them, with a local request id.
func TestInvokeKindsAcceptsEveryKindLocally(t *testing.T) {
	rec := &recorded{}
	for _, ev := range []map[string]any{rotationEvent(), timerEvent()} {
		out, err := platform.InvokeKinds(context.Background(), mustJSON(t, ev), rec.kinds(nil)...)
		if err != nil || string(out) != "null" {
			t.Fatalf("InvokeKinds = %s, %v", out, err)
		}
	}
	if len(rec.rotation) != 1 || len(rec.timer) != 1 {
		t.Fatalf("saw %d rotation and %d timer events, want one of each", len(rec.rotation), len(rec.timer))
	}
	for _, info := range rec.infos {
		if info.Platform != gateway.Local || len(info.RequestID) != 32 {
			t.Errorf("info %+v, want local with a fresh request id", info)
		}
	}
	_, err := platform.InvokeKinds(context.Background(), mustJSON(t, v2Event("GET", "/", "")), rec.kinds(nil)...)
	if !errors.Is(err, platform.ErrUnknownEvent) || !strings.HasPrefix(err.Error(), "platform.Invoke: ") {
		t.Errorf("an HTTP event to a scheduled function: err = %v", err)
	}
	_, err = platform.InvokeKinds(context.Background(), []byte(`{"Step":"","SecretId":"s","ClientRequestToken":"t"}`), rec.kinds(nil)...)
	if err == nil || !strings.Contains(err.Error(), "Step, SecretId and ClientRequestToken are required") {
		t.Errorf("an empty step: err = %v", err)
	}
}

// TestRunFunctionWithoutLocalServer checks that a function with no HTTP handler refuses to start a
// local server and says how to run it.
func TestRunFunctionWithoutLocalServer(t *testing.T) {
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	t.Setenv("FC_RUNTIME_API", "")
	err := platform.RunFunction(platform.Function{Kinds: (&recorded{}).kinds(nil)}, platform.Options{})
	if err == nil || !strings.Contains(err.Error(), "-event") {
		t.Errorf("err = %v", err)
	}
}
