// Package embedded is the embedded default directory: users with argon2id password
// hashes, password history, lockout, and the tasks of asynchronous batches, in one
// local bbolt file.
package embedded

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"chpass/shared/password"
)

// Options configure a Store.
type Options struct {
	// Path is the bbolt file. It is created with mode 0600 when missing, and its
	// parent directory with mode 0700.
	Path string
	// History is how many passwords are remembered to prevent reuse, counting the
	// current one, as the password_reuse_prevention rule counts them: with History
	// 3 the new password must differ from the current one and the two before it.
	// 0 turns reuse prevention off.
	History int
	// MinAge is the minimum time between two self-service changes
	// (minimum_password_age); administrative resets ignore it, except through a
	// view made by WithPolicy. 0 turns it off.
	MinAge time.Duration
	// Remember is how many passwords are kept, counting the current one, when it
	// is more than History: views made by WithPolicy with a deeper history than
	// History need it, or they would find fewer earlier passwords than their
	// policy names. 0 keeps History.
	Remember int
	// MaxFailures is how many consecutive wrong old passwords lock the account;
	// 0 means the default, 5, and a negative value turns lockout off.
	MaxFailures int
	// Lockout is how long a lockout lasts; 0 means the default, 15 minutes.
	Lockout time.Duration
	// Argon2 are the argon2id parameters for new hashes; zero fields take defaults.
	Argon2 Argon2Params
	// Now returns the current time; nil means time.Now. Tests replace it.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultMaxFailures = 5
	DefaultLockout     = 15 * time.Minute
)

// maxAttempts bounds how often a change is retried when another request changed
// the same account between its check and its write.
const maxAttempts = 3

// schemaVersion is the layout of the file this package writes.
const schemaVersion = 1

var (
	bucketMeta      = []byte("meta")
	bucketUsers     = []byte("users")            // user name -> userRecord (JSON)
	bucketTasks     = []byte("tasks")            // task ID -> taskRecord (JSON)
	bucketTaskIndex = []byte("tasks_by_created") // created (12 bytes) + task ID -> status and cluster ID
	keySchema       = []byte("schema")
)

// Store is the embedded directory: one bbolt file. It is safe for concurrent use.
// Password hashing happens outside bbolt's write transaction, which is held only
// to re-check the account and write it, so that slow hashes do not serialize.
type Store struct {
	db          *bolt.DB
	history     int
	minAge      time.Duration
	remember    int  // passwords kept, counting the current one: max(history, Options.Remember)
	resetMinAge bool // resets too keep minAge (a view of WithPolicy)
	maxFailures int  // <= 0: lockout off
	lockout     time.Duration
	params      Argon2Params
	now         func() time.Time
	dummy       phc // verified against for unknown users, so they cost what known ones do
}

var _ password.Directory = (*Store)(nil)

// Open opens the store at opts.Path, creating it when missing.
// Returns EINVALID for invalid options, EUNAVAILABLE when the file cannot be
// opened (another process holds it, or permissions), and EINTERNAL when it is
// not a store this package can read.
func Open(opts Options) (*Store, error) {
	const op = "embedded.Open"
	switch {
	case opts.Path == "":
		return nil, password.Errorf(password.EINVALID, "The path of the embedded store is required.")
	case opts.History < 0 || opts.Remember < 0:
		return nil, password.Errorf(password.EINVALID, "The password history must not be negative.")
	case opts.MinAge < 0:
		return nil, password.Errorf(password.EINVALID, "The minimum password age must not be negative.")
	case opts.Lockout < 0:
		return nil, password.Errorf(password.EINVALID, "The lockout duration must not be negative.")
	}
	if p := opts.Argon2.withDefaults(); p.Time > maxTime || p.MemoryKiB > maxMemoryKiB || p.MemoryKiB < 8*uint32(p.Threads) {
		return nil, password.Errorf(password.EINVALID, "The argon2id parameters must have time at most %d and memory from 8 KiB per thread to %d KiB.", maxTime, maxMemoryKiB)
	}
	s := &Store{
		history:     opts.History,
		minAge:      opts.MinAge,
		remember:    max(opts.History, opts.Remember),
		maxFailures: opts.MaxFailures,
		lockout:     opts.Lockout,
		params:      opts.Argon2.withDefaults(),
		now:         opts.Now,
	}
	if s.maxFailures == 0 {
		s.maxFailures = DefaultMaxFailures
	}
	if s.lockout == 0 {
		s.lockout = DefaultLockout
	}
	if s.now == nil {
		s.now = time.Now
	}
	// The dummy hash needs the current parameters and a salt, but no real
	// password: a random key is never matched.
	s.dummy = phc{params: s.params, salt: make([]byte, saltLen), key: make([]byte, keyLen)}
	if _, err := rand.Read(s.dummy.salt); err != nil {
		return nil, password.Wrap(password.EINTERNAL, fmt.Errorf("%s: %w", op, err), "Internal error.")
	}
	_, _ = rand.Read(s.dummy.key)

	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, password.Wrap(password.EUNAVAILABLE, fmt.Errorf("%s: %w", op, err), "The password store is unavailable.")
	}
	db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		code := password.EUNAVAILABLE
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, berrors.ErrChecksum) {
			code = password.EINTERNAL
		}
		if errors.Is(err, berrors.ErrTimeout) {
			// bbolt waited a second for the lock it takes on the file: say who holds it.
			err = fmt.Errorf("%w: another process holds %s (another chpass, such as a running `make run`?): stop it, or give this one another store.path", err, opts.Path)
		}
		return nil, password.Wrap(code, fmt.Errorf("%s: %w", op, err), "The password store is unavailable.")
	}
	// A store that is already set up is only read: no write transaction, and so
	// no fsync, on every start of a function.
	ready := false
	err = db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketUsers, bucketTasks, bucketTaskIndex} {
			if tx.Bucket(name) == nil {
				return nil
			}
		}
		v := tx.Bucket(bucketMeta).Get(keySchema)
		if v == nil {
			return nil
		}
		if len(v) != 8 || binary.BigEndian.Uint64(v) > schemaVersion {
			return password.Errorf(password.EINTERNAL, "The password store was written by a newer version.")
		}
		ready = true
		return nil
	})
	if err == nil && !ready {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketMeta, bucketUsers, bucketTasks, bucketTaskIndex} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			meta := tx.Bucket(bucketMeta)
			if v := meta.Get(keySchema); v != nil {
				if len(v) != 8 || binary.BigEndian.Uint64(v) > schemaVersion {
					return password.Errorf(password.EINTERNAL, "The password store was written by a newer version.")
				}
				return nil
			}
			return meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, schemaVersion))
		})
	}
	if err != nil {
		_ = db.Close()
		return nil, storeError(op, err)
	}
	s.db = db
	return s, nil
}

// WithPolicy returns a view of the store that enforces another policy's
// password_reuse_prevention (history, counting the current password) and
// minimum_password_age (minAge) on the same accounts: an E-HPC cluster's
// policy, for that cluster's resets. Unlike the store itself, the view applies
// minAge to resets too: a reset less than minAge after the password last
// changed, by anyone, is refused (minimum_password_age), as ppolicy's pwdMinAge
// refuses a reset by a service account that is not the rootdn. The view
// remembers at most Options.Remember passwords (or History, when larger), so a
// deeper history finds only those. Close the store, not its views.
func (s *Store) WithPolicy(history int, minAge time.Duration) *Store {
	v := *s
	v.history, v.minAge, v.resetMinAge = max(history, 0), max(minAge, 0), true
	return &v
}

// Close closes the file. Methods called afterwards return EUNAVAILABLE.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return storeError("embedded.Close", err)
	}
	return nil
}

// storeError turns an error of bbolt, the file or a record into a domain error.
// Domain errors pass unchanged. The store being closed, locked by another
// process or failing at I/O is EUNAVAILABLE; anything else, such as a damaged
// record, is EINTERNAL.
func storeError(op string, err error) error {
	var pe *password.Error
	if errors.As(err, &pe) {
		return err
	}
	var errno syscall.Errno
	var pathErr *fs.PathError
	if errors.Is(err, berrors.ErrDatabaseNotOpen) || errors.Is(err, berrors.ErrTimeout) ||
		errors.As(err, &errno) || errors.As(err, &pathErr) {
		return password.Wrap(password.EUNAVAILABLE, fmt.Errorf("%s: %w", op, err), "The password store is unavailable.")
	}
	return password.Wrap(password.EINTERNAL, fmt.Errorf("%s: %w", op, err), "Internal error.")
}

// canceled is the error for a context that ended before the work started.
func canceled(op string, err error) error {
	return password.Wrap(password.ECANCELED, fmt.Errorf("%s: %w", op, err), "The deadline passed before the request was carried out.")
}

// conflict is the error when other requests kept changing the same account.
func conflict(op string) error {
	return password.Wrap(password.EUNAVAILABLE, fmt.Errorf("%s: the account changed concurrently %d times", op, maxAttempts),
		"The account was changed by another request at the same time; try again.")
}

// timeKey encodes t so that byte order is time order, also before 1970:
// seconds offset by 2^63, then nanoseconds, both big-endian.
func timeKey(t time.Time) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 12), uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(k, uint32(t.Nanosecond()))
}

const timeKeyLen = 12
