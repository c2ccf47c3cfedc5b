package eventbridge_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"chpass/shared/eventbridge"
	"chpass/shared/eventbridge/eventbridgetest"
	"chpass/shared/password"
)

const busARN = "arn:aws:events:eu-west-1:123456789012:event-bus/chpass"

func fake(tb testing.TB, mod func(*eventbridgetest.Options)) *eventbridgetest.Server {
	o := eventbridgetest.Options{Region: "eu-west-1", AccessKeyID: "AKIAEVENTS", SecretAccessKey: "sk-cAnArY-events", SessionToken: "tok-cAnArY"}
	if mod != nil {
		mod(&o)
	}
	return eventbridgetest.NewServer(tb, o)
}

func publisher(tb testing.TB, env map[string]string) *eventbridge.Publisher {
	tb.Helper()
	p, err := eventbridge.New(eventbridge.Options{Bus: busARN, Getenv: func(k string) string { return env[k] }, MaxAttempts: 2})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

var ev = password.Event{ID: "ev-1", Kind: password.KindAdminReset, User: "bob", Cluster: "ehpc-1",
	Time: time.Date(2026, 11, 29, 17, 0, 0, 0, time.UTC), RequestID: "req-1", Caller: "LTAIadmin", Auth: "rpc-v1"}

func TestPutEvents(t *testing.T) {
	s := fake(t, nil)
	if err := publisher(t, s.Env()).Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	es := s.Entries()
	if len(es) != 1 {
		t.Fatalf("%d entries, want 1", len(es))
	}
	e := es[0]
	if e.EventBusName != busARN || e.Source != eventbridge.Source || e.DetailType != eventbridge.DetailType {
		t.Errorf("entry %+v", e)
	}
	var got password.Event
	if err := json.Unmarshal([]byte(e.Detail), &got); err != nil || got != ev {
		t.Errorf("detail %s, want the event %+v", e.Detail, ev)
	}
}

func TestPutEventsRefused(t *testing.T) {
	tests := []struct {
		name  string
		env   func(map[string]string)
		mod   func(*eventbridgetest.Options)
		wants string
	}{
		{name: "WrongSecret", env: func(e map[string]string) { e["AWS_SECRET_ACCESS_KEY"] = "wrong-cAnArY" }, wants: "InvalidSignatureException"},
		{name: "EntryFailed", mod: func(o *eventbridgetest.Options) { o.FailCode = "InternalFailure" }, wants: "InternalFailure"},
		{name: "ServiceDown", mod: func(o *eventbridgetest.Options) { o.Status = 500 }, wants: "InternalException"},
		{name: "NoCredentials", env: func(e map[string]string) { delete(e, "AWS_ACCESS_KEY_ID") }, wants: "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fake(t, tt.mod)
			env := s.Env()
			if tt.env != nil {
				tt.env(env)
			}
			err := publisher(t, env).Publish(context.Background(), ev)
			if err == nil || !strings.Contains(err.Error(), tt.wants) {
				t.Fatalf("Publish = %v, want an error naming %s", err, tt.wants)
			}
			if strings.Contains(err.Error(), "cAnArY") {
				t.Errorf("the error holds a secret: %v", err)
			}
			if len(s.Entries()) != 0 {
				t.Error("an entry was accepted")
			}
		})
	}
}
