package embedded

import (
	"context"

	"chpass/shared/batch"
)

var _ batch.PasswordHolder = (*Store)(nil)

// HoldsPassword reports whether name's current password is pw, for a batch
// that reconciles a change it may have made before a crash. It is no login:
// it changes nothing, a wrong password counts no failure towards a lockout,
// and a locked account is answered all the same.
// Returns ENOTFOUND when the user does not exist, ECANCELED when ctx ended
// first, and EUNAVAILABLE when the store cannot be used.
func (s *Store) HoldsPassword(ctx context.Context, name, pw string) (bool, error) {
	const op = "embedded.HoldsPassword"
	if err := ctx.Err(); err != nil {
		return false, canceled(op, err)
	}
	rec, err := s.readUser(op, name)
	if err != nil {
		return false, err
	}
	if rec == nil {
		return false, errNotFound()
	}
	ok, err := verifyHash(rec.Hash, pw)
	if err != nil {
		return false, damaged(op, err)
	}
	return ok, nil
}
