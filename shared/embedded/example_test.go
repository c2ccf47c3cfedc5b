package embedded_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"chpass/shared/embedded"
	"chpass/shared/password"
)

func Example() {
	dir, err := os.MkdirTemp("", "chpass")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := embedded.Open(embedded.Options{
		Path:    filepath.Join(dir, "chpass.db"),
		History: 3,                                             // password_reuse_prevention
		Argon2:  embedded.Argon2Params{Time: 1, MemoryKiB: 64}, // cheap for the example; leave zero in production
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	created, _ := s.EnsureUser(ctx, "alice", "Initial-pass1")
	fmt.Println("created:", created)

	err = s.ChangePassword(ctx, "alice", "Wrong-pass1", "New-pass1")
	fmt.Println("wrong old password:", password.ErrorCode(err))

	err = s.ChangePassword(ctx, "alice", "Initial-pass1", "New-pass1")
	fmt.Println("change:", password.ErrorCode(err) == "")

	err = s.ResetPassword(ctx, "alice", "Initial-pass1")
	fmt.Println("reset to a recent password:", password.ErrorViolations(err)[0].Rule)
	// Output:
	// created: true
	// wrong old password: unauthorized
	// change: true
	// reset to a recent password: password_reuse_prevention
}
