package embedded

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"chpass/shared/password"
)

// userRecord is an account as the file stores it, as JSON under the exact bytes
// of its name. It holds hashes only, never a password.
type userRecord struct {
	ID          string    `json:"id"`
	Hash        string    `json:"hash"`              // PHC-encoded argon2id hash of the current password
	History     []string  `json:"history,omitempty"` // hashes of earlier passwords, newest first
	Created     time.Time `json:"created"`
	Changed     time.Time `json:"changed"`               // last change of the password, by anyone
	SelfChanged time.Time `json:"self_changed,omitzero"` // last self-service change since the last reset; MinAge counts from it
	Failures    int       `json:"failures,omitempty"`    // consecutive wrong old passwords
	LockedUntil time.Time `json:"locked_until,omitzero"`
	// Gen counts password changes. A write re-checks it to learn whether another
	// request set the password after this one read the record.
	Gen uint64 `json:"gen"`
}

func (r *userRecord) locked(now time.Time) bool { return r.LockedUntil.After(now) }

// setPassword makes hash the current password, remembering the previous one for
// a history of depth history (counting the current one), and clears failures and any lockout. A reset (not
// selfService) also clears the self-service time, so that the user may change
// the password an administrator set at once.
func (r *userRecord) setPassword(hash string, history int, now time.Time, selfService bool) {
	if history > 1 {
		r.History = append([]string{r.Hash}, r.History...)
		if len(r.History) > history-1 {
			r.History = r.History[:history-1]
		}
	} else {
		r.History = nil
	}
	r.Hash = hash
	r.Changed = now
	r.SelfChanged = time.Time{}
	if selfService {
		r.SelfChanged = now
	}
	r.Failures = 0
	r.LockedUntil = time.Time{}
	r.Gen++
}

func (r *userRecord) user(name string, now time.Time) *password.User {
	return &password.User{
		Name:              name,
		ID:                r.ID,
		Created:           r.Created,
		PasswordChangedAt: r.Changed,
		Locked:            r.locked(now),
	}
}

// validName reports whether name can be a key of the file. Any bytes are allowed;
// bbolt only needs a key of 1 to 32768 bytes.
func validName(name string) bool { return name != "" && len(name) <= bolt.MaxKeySize }

// getUser reads the record of name in tx, or nil when there is none.
func getUser(tx *bolt.Tx, name string) (*userRecord, error) {
	if !validName(name) {
		return nil, nil
	}
	v := tx.Bucket(bucketUsers).Get([]byte(name))
	if v == nil {
		return nil, nil
	}
	var r userRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decoding a user record: %w", err)
	}
	return &r, nil
}

func putUser(tx *bolt.Tx, name string, r *userRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketUsers).Put([]byte(name), v)
}

// readUser reads the record of name in its own read transaction.
func (s *Store) readUser(op, name string) (*userRecord, error) {
	var r *userRecord
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		r, err = getUser(tx, name)
		return err
	})
	if err != nil {
		return nil, storeError(op, err)
	}
	return r, nil
}

// errUnauthorized is the one answer for a wrong old password and for an unknown user.
func errUnauthorized() error {
	return password.Errorf(password.EUNAUTHORIZED, "The user name or the old password is incorrect.")
}

func errLocked() error {
	return password.Errorf(password.ELOCKED, "The account is locked after too many failed attempts; try again later.")
}

func errNotFound() error {
	return password.Errorf(password.ENOTFOUND, "The user does not exist.")
}

// damaged is the error for an account whose stored hash cannot be parsed.
func damaged(op string, err error) error {
	return password.Wrap(password.EINTERNAL, fmt.Errorf("%s: %w", op, err), "Internal error.")
}

// ChangePassword sets name's password to newPassword after proving oldPassword.
//
// Returns EUNAUTHORIZED when the old password is wrong or the user does not exist,
// with the same message and after the same argon2id work; ELOCKED while the
// account is locked, even with the right old password; EPOLICY when the new
// password was used recently (password_reuse_prevention) or the user changed it
// less than MinAge ago (minimum_password_age; passwords set by EnsureUser or
// ResetPassword may be changed at once); ECANCELED when ctx ended first; and
// EUNAVAILABLE when the store cannot be used.
// MaxFailures wrong old passwords in a row lock the account for Lockout; a
// successful proof of the old password resets the count.
func (s *Store) ChangePassword(ctx context.Context, name, oldPassword, newPassword string) error {
	const op = "embedded.ChangePassword"
	if err := ctx.Err(); err != nil {
		return canceled(op, err)
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		rec, err := s.readUser(op, name)
		if err != nil {
			return err
		}
		if rec == nil {
			return s.unknownUser(op, oldPassword)
		}
		now := s.now()
		if rec.locked(now) {
			return errLocked()
		}
		ok, err := verifyHash(rec.Hash, oldPassword)
		if err != nil {
			return damaged(op, err)
		}
		if !ok {
			if attempt > 0 {
				// The password was set by another request while this one checked
				// the old one, which was right before: not the caller's failure.
				return errUnauthorized()
			}
			return s.recordFailure(op, name)
		}
		if s.minAge > 0 && !rec.SelfChanged.IsZero() && now.Sub(rec.SelfChanged) < s.minAge {
			s.clearFailures(name, rec)
			return password.PolicyError([]password.Violation{s.policy().Violation(password.RuleMinAge)})
		}
		// The current password is oldPassword, so the new one repeats it exactly
		// when the two are equal: no need to hash it again.
		// History counts the current password, so History-1 earlier ones remain.
		again := s.history > 0 && subtle.ConstantTimeCompare([]byte(newPassword), []byte(oldPassword)) == 1
		if !again && s.history > 1 {
			if again, err = reused(rec.History[:min(len(rec.History), s.history-1)], newPassword); err != nil {
				return damaged(op, err)
			}
		}
		if again {
			s.clearFailures(name, rec)
			return password.PolicyError([]password.Violation{s.policy().Violation(password.RuleReusePrevention)})
		}
		hash, err := hashPassword(newPassword, s.params)
		if err != nil {
			return password.Wrap(password.EINTERNAL, fmt.Errorf("%s: %w", op, err), "Internal error.")
		}
		if err := ctx.Err(); err != nil {
			return canceled(op, err)
		}
		done, err := s.commitPassword(op, name, rec.Gen, hash, true)
		if err != nil || done {
			return err
		}
	}
	return conflict(op)
}

// ResetPassword sets name's password to newPassword as an administrator: the old
// password is not needed, MinAge does not apply (except through a view of
// WithPolicy), and the account is unlocked.
//
// Returns ENOTFOUND when the user does not exist, EPOLICY when the new password
// was used recently (password_reuse_prevention) or, through a view of
// WithPolicy, the password changed less than its minimum age ago
// (minimum_password_age), ECANCELED when ctx ended first,
// and EUNAVAILABLE when the store cannot be used.
func (s *Store) ResetPassword(ctx context.Context, name, newPassword string) error {
	const op = "embedded.ResetPassword"
	if err := ctx.Err(); err != nil {
		return canceled(op, err)
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		rec, err := s.readUser(op, name)
		if err != nil {
			return err
		}
		if rec == nil {
			return errNotFound()
		}
		if s.resetMinAge && s.minAge > 0 && s.now().Sub(rec.Changed) < s.minAge {
			return password.PolicyError([]password.Violation{s.policy().Violation(password.RuleMinAge)})
		}
		var again bool
		if s.history > 0 {
			remembered := append([]string{rec.Hash}, rec.History...)
			if again, err = reused(remembered[:min(len(remembered), s.history)], newPassword); err != nil {
				return damaged(op, err)
			}
		}
		if again {
			return password.PolicyError([]password.Violation{s.policy().Violation(password.RuleReusePrevention)})
		}
		hash, err := hashPassword(newPassword, s.params)
		if err != nil {
			return password.Wrap(password.EINTERNAL, fmt.Errorf("%s: %w", op, err), "Internal error.")
		}
		if err := ctx.Err(); err != nil {
			return canceled(op, err)
		}
		done, err := s.commitPassword(op, name, rec.Gen, hash, false)
		if err != nil || done {
			return err
		}
	}
	return conflict(op)
}

// policy returns the policy whose messages this store's refusals use.
func (s *Store) policy() password.Policy {
	// Minutes rounded up, so that the message never promises a shorter wait.
	return password.Policy{PasswordReusePrevention: s.history, MinimumPasswordAge: int((s.minAge + time.Minute - 1) / time.Minute)}
}

// reused reports whether pw matches one of hashes. It hashes pw once per hash.
func reused(hashes []string, pw string) (bool, error) {
	for _, h := range hashes {
		ok, err := verifyHash(h, pw)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// commitPassword writes hash as name's password if nobody set the password since
// generation gen was read. It reports false, without error, when somebody did,
// so that the caller retries. A selfService change refuses to write over a
// lockout and starts the MinAge clock; a reset unlocks.
func (s *Store) commitPassword(op, name string, gen uint64, hash string, selfService bool) (bool, error) {
	var done bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if cur == nil || cur.Gen != gen {
			return nil
		}
		now := s.now().UTC()
		if selfService && cur.locked(now) {
			// Locked by other requests' failures since this one proved the password.
			return errLocked()
		}
		cur.setPassword(hash, s.remember, now, selfService)
		done = true
		return putUser(tx, name, cur)
	})
	if err != nil {
		return false, storeError(op, err)
	}
	return done, nil
}

// recordFailure counts a wrong old password for name, locking the account when
// it reaches MaxFailures, and returns the answer for the caller.
func (s *Store) recordFailure(op, name string) error {
	answer := errUnauthorized()
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur, err := getUser(tx, name)
		if err != nil || cur == nil {
			return err
		}
		now := s.now().UTC()
		if cur.locked(now) {
			// Other failures locked it meanwhile; this one does not extend it.
			answer = errLocked()
			return nil
		}
		cur.Failures++
		if s.maxFailures > 0 && cur.Failures >= s.maxFailures {
			cur.Failures = 0
			cur.LockedUntil = now.Add(s.lockout)
		}
		return putUser(tx, name, cur)
	})
	if err != nil {
		return storeError(op, err)
	}
	return answer
}

// clearFailures resets the failure count of name after its old password was
// proven but the change was refused by the policy. It is best effort: the
// refusal is the answer, and a store that cannot write fails the next request.
func (s *Store) clearFailures(name string, rec *userRecord) {
	if rec.Failures == 0 {
		return
	}
	_ = s.db.Update(func(tx *bolt.Tx) error {
		cur, err := getUser(tx, name)
		if err != nil || cur == nil || cur.Gen != rec.Gen || cur.Failures == 0 || cur.locked(s.now()) {
			return err
		}
		cur.Failures = 0
		return putUser(tx, name, cur)
	})
}

// unknownUser answers a change for a user that does not exist exactly as a wrong
// old password is answered, after the same work: one argon2id hash and one write
// transaction.
func (s *Store) unknownUser(op, oldPassword string) error {
	s.dummy.verify(oldPassword)
	if err := s.db.Update(func(*bolt.Tx) error { return nil }); err != nil {
		return storeError(op, err)
	}
	return errUnauthorized()
}

// LookupUser returns the account called name.
// Returns ENOTFOUND when it does not exist, ECANCELED when ctx ended first, and
// EUNAVAILABLE when the store cannot be used.
func (s *Store) LookupUser(ctx context.Context, name string) (*password.User, error) {
	const op = "embedded.LookupUser"
	if err := ctx.Err(); err != nil {
		return nil, canceled(op, err)
	}
	rec, err := s.readUser(op, name)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, errNotFound()
	}
	return rec.user(name, s.now()), nil
}

// ListUsers returns the users from offset on, at most limit of them (all when
// limit is 0), sorted by the bytes of their names, and how many there are in all.
// Returns EINVALID for a negative offset or limit.
func (s *Store) ListUsers(ctx context.Context, offset, limit int) ([]password.User, int, error) {
	const op = "embedded.ListUsers"
	if err := ctx.Err(); err != nil {
		return nil, 0, canceled(op, err)
	}
	if offset < 0 || limit < 0 {
		return nil, 0, password.Errorf(password.EINVALID, "The offset and the limit must not be negative.")
	}
	var users []password.User
	total := 0
	now := s.now()
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUsers).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			i := total
			total++
			if i < offset || (limit > 0 && i >= offset+limit) {
				continue
			}
			var r userRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decoding a user record: %w", err)
			}
			users = append(users, *r.user(string(k), now))
		}
		return nil
	})
	if err != nil {
		return nil, 0, storeError(op, err)
	}
	return users, total, nil
}

// EnsureUser creates the user called name with password when there is none, and
// reports whether it did. It never changes an existing user's password.
// Returns EINVALID for an empty password or a name that is empty or longer than
// 32768 bytes.
func (s *Store) EnsureUser(ctx context.Context, name, pw string) (bool, error) {
	const op = "embedded.EnsureUser"
	if err := ctx.Err(); err != nil {
		return false, canceled(op, err)
	}
	if !validName(name) {
		return false, password.Errorf(password.EINVALID, "The user name must be 1 to %d bytes long.", bolt.MaxKeySize)
	}
	if pw == "" {
		return false, password.Errorf(password.EINVALID, "The password is required.")
	}
	rec, err := s.readUser(op, name)
	if err != nil || rec != nil {
		return false, err
	}
	hash, err := hashPassword(pw, s.params)
	if err != nil {
		return false, password.Wrap(password.EINTERNAL, fmt.Errorf("%s: %w", op, err), "Internal error.")
	}
	created := false
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(name)) != nil {
			return nil
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		now := s.now().UTC()
		created = true
		return putUser(tx, name, &userRecord{ID: strconv.FormatUint(seq, 10), Hash: hash, Created: now, Changed: now})
	})
	if err != nil {
		return false, storeError(op, err)
	}
	return created, nil
}
