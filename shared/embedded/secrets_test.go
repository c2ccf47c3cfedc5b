package embedded_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"chpass/shared/embedded"
	"chpass/shared/rotation"
	"chpass/shared/rotation/rotationtest"
)

func TestSecretsContract(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.db")
	s, err := embedded.Open(embedded.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := make([]byte, 32)
	rand.Read(key)
	sec, err := s.Secrets(key)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	rotationtest.TestSecrets(t, rotationtest.Harness{
		Secrets: sec, Stages: rotation.KMSStages,
		NewVersionID: func() string { return fmt.Sprintf("v%d", n.Add(1)) },
		NewSecret: func(tb testing.TB, value string) (string, string) {
			name, id := fmt.Sprintf("secret-%d", n.Add(1)), fmt.Sprintf("v%d", n.Add(1))
			if err := sec.Create(context.Background(), name, id, value); err != nil {
				tb.Fatal(err)
			}
			return name, id
		},
	})
	// The same file seen with Secrets Manager's stage names, as a local rotation event sees it.
	t.Run("AWSStages", func(t *testing.T) {
		aws, err := s.SecretsWithStages(key, rotation.AWSStages)
		if err != nil {
			t.Fatal(err)
		}
		rotationtest.TestSecrets(t, rotationtest.Harness{
			Secrets: aws, Stages: rotation.AWSStages,
			NewVersionID: func() string { return fmt.Sprintf("v%d", n.Add(1)) },
			NewSecret: func(tb testing.TB, value string) (string, string) {
				name, id := fmt.Sprintf("secret-%d", n.Add(1)), fmt.Sprintf("v%d", n.Add(1))
				if err := aws.Create(context.Background(), name, id, value); err != nil {
					tb.Fatal(err)
				}
				return name, id
			},
		})
	})
	// No value lies in the file in clear.
	if err := sec.Create(context.Background(), "canary", "v0", `{"password":"CANARY-embedded-secret-0001"}`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "CANARY-embedded") || strings.Contains(string(b), `{"v":1}`) {
		t.Error("the store file holds a secret value in clear")
	}
}
