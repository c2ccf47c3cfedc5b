package embedded_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"chpass/shared/batch"
	"chpass/shared/batch/batchtest"
	"chpass/shared/embedded"
	"chpass/shared/password/directorytest"
)

// TestContract runs the contract suite of password.Directory, the one the LDAP
// adapter runs against a real slapd, on the embedded store.
func TestContract(t *testing.T) {
	directorytest.Run(t, func(t *testing.T) directorytest.Fixture {
		s, err := embedded.Open(embedded.Options{
			Path:        filepath.Join(t.TempDir(), "chpass.db"),
			History:     4, // counts the current password: 3 earlier ones are refused
			MaxFailures: 5,
			Lockout:     5 * time.Minute,
			// Cheap hashes: the suite sets hundreds of passwords.
			Argon2: embedded.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		users := make([]directorytest.Account, 4)
		for i := range users {
			users[i] = directorytest.Account{Name: fmt.Sprintf("user%d", i+1), Password: fmt.Sprintf("Initial-Pass-%d", i+1)}
			if created, err := s.EnsureUser(context.Background(), users[i].Name, users[i].Password); err != nil || !created {
				t.Fatalf("EnsureUser(%s): %v, %v", users[i].Name, created, err)
			}
		}
		return directorytest.Fixture{Directory: s, Users: users, History: 3, MaxFailures: 5}
	})
}

// TestTaskStoreContract runs the contract suite of batch.TaskStore on the
// embedded store.
func TestTaskStoreContract(t *testing.T) {
	batchtest.Run(t, func(t *testing.T) batch.TaskStore {
		s, err := embedded.Open(embedded.Options{Path: filepath.Join(t.TempDir(), "chpass.db"), Argon2: embedded.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
