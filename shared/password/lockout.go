package password

import (
	"context"
	"fmt"
)

// UserCounter counts wrong old passwords per user, for a directory that has no
// lockout of its own (OpenLDAP without ppolicy), shared by every instance.
// Implementations lock a user after a number of failures, for a while.
type UserCounter interface {
	// UserLocked reports whether name is locked now.
	UserLocked(ctx context.Context, name string) (bool, error)
	// UserFailed counts a wrong old password for name, locking it at the limit.
	UserFailed(ctx context.Context, name string) error
	// UserSucceeded clears name's count.
	UserSucceeded(ctx context.Context, name string) error
}

// WithLockout returns dir with its self-service changes counted by c: a locked
// user's change answers ELOCKED before the directory is asked, a wrong old
// password (EUNAUTHORIZED) counts, a change that succeeds clears the count. A
// failure of c answers EUNAVAILABLE, and the directory is then not asked.
// Give it only a directory without a lockout of its own: with OpenLDAP's
// ppolicy or Active Directory the two would lock at different counts.
func WithLockout(dir Directory, c UserCounter) Directory { return lockingDirectory{dir, c} }

type lockingDirectory struct {
	Directory
	c UserCounter
}

func unavailable(err error) error {
	return Wrap(EUNAVAILABLE, fmt.Errorf("password.WithLockout: %w", err), "The lockout counter is unavailable.")
}

// ChangePassword implements Directory.
func (d lockingDirectory) ChangePassword(ctx context.Context, name, oldPassword, newPassword string) error {
	locked, err := d.c.UserLocked(ctx, name)
	if err != nil {
		return unavailable(err)
	}
	if locked {
		return Errorf(ELOCKED, "The account is locked after repeated failures.")
	}
	err = d.Directory.ChangePassword(ctx, name, oldPassword, newPassword)
	switch ErrorCode(err) {
	case "":
		if cerr := d.c.UserSucceeded(ctx, name); cerr != nil {
			return nil // the change happened: say so; the count lapses by itself
		}
	case EUNAUTHORIZED:
		if cerr := d.c.UserFailed(ctx, name); cerr != nil {
			return unavailable(cerr)
		}
	}
	return err
}
