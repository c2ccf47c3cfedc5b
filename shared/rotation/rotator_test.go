package rotation_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chpass/shared/embedded"
	"chpass/shared/rotation"
)

// stubPolicy generates one fixed password.
type stubPolicy string

func (p stubPolicy) Generate(string, string, int) (string, error) { return string(p), nil }

// TestRotatorRequiresPolicyAndWrongPassword checks that a Rotator lacking Policy or
// WrongPassword refuses every entry point with an error naming the field, before it
// changes anything: the secret keeps its one version.
func TestRotatorRequiresPolicyAndWrongPassword(t *testing.T) {
	ctx := context.Background()
	s, err := embedded.Open(embedded.Options{Path: filepath.Join(t.TempDir(), "chpass.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := make([]byte, 32)
	rand.Read(key)
	sec, err := s.SecretsWithStages(key, rotation.AWSStages)
	if err != nil {
		t.Fatal(err)
	}
	if err := sec.Create(ctx, "svc", "v1", `{"username":"svc","password":"CANARY-rotator-0001","directory":"embedded"}`); err != nil {
		t.Fatal(err)
	}
	wrong := func(error) bool { return true }
	tests := []struct {
		name, want string
		r          rotation.Rotator
	}{
		{"ErrNoPolicy", "no Policy", rotation.Rotator{WrongPassword: wrong}},
		{"ErrNoWrongPassword", "no WrongPassword", rotation.Rotator{Policy: stubPolicy("CANARY-rotator-0002")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.Secrets, r.Stages, r.Logger = sec, rotation.AWSStages, zerolog.Nop()
			r.Account = func(context.Context, string) (rotation.Account, error) { return s, nil }
			for _, run := range []struct {
				name string
				call func() error
			}{
				{"Rotate", func() error {
					return r.Rotate(ctx, "svc", rotation.SlotVersion(time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)))
				}},
				{"Step", func() error { return r.Step(ctx, "svc", "v2", rotation.StepCreate) }},
			} {
				err := run.call()
				if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "CANARY") {
					t.Errorf("%s: err = %v, want one naming %s and no password", run.name, err, tt.want)
				}
			}
			d, err := sec.Describe(ctx, "svc")
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Versions) != 1 {
				t.Errorf("the secret has %d versions, want its one: %+v", len(d.Versions), d.Versions)
			}
		})
	}
}
