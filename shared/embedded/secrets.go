package embedded

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"chpass/shared/rotation"
)

// bucketSecrets holds the local secret backend: secret name -> secretRecord (JSON).
var bucketSecrets = []byte("secrets")

// Secrets is the embedded store's secret backend: versions and stages of each secret in the
// bbolt file, every value sealed with AES-256-GCM (the secret's name and the version id are its
// additional data), so that no password lies in the file in clear. It implements
// rotation.Secrets with KMS's semantics (a version id is never given another value, the same
// value again succeeds; ACSCurrent moves ACSPrevious along), so that the timer protocol runs on it
// unchanged.
type Secrets struct {
	s      *Store
	aead   cipher.AEAD
	stages rotation.Stages // the names callers use; the file keeps canonical ones
}

// canonical stage names in the file, so that one secret serves either protocol locally.
var canonical = rotation.Stages{Current: "current", Pending: "pending", Previous: "previous"}

// toFile and fromFile translate stage names between the caller's and the file's.
func (x *Secrets) toFile(stage string) string {
	switch stage {
	case x.stages.Current:
		return canonical.Current
	case x.stages.Pending:
		return canonical.Pending
	case x.stages.Previous:
		return canonical.Previous
	}
	return "x-" + stage
}

func (x *Secrets) fromFile(stage string) string {
	switch stage {
	case canonical.Current:
		return x.stages.Current
	case canonical.Pending:
		return x.stages.Pending
	case canonical.Previous:
		return x.stages.Previous
	}
	return strings.TrimPrefix(stage, "x-")
}

var _ rotation.Secrets = (*Secrets)(nil)

type secretRecord struct {
	Versions []versionRecord `json:"versions"`
}

type versionRecord struct {
	ID      string    `json:"id"`
	Sealed  []byte    `json:"sealed"` // nonce + AES-GCM of the value; empty for a version Start made
	Stages  []string  `json:"stages"`
	Created time.Time `json:"created"`
}

// Secrets returns the secret backend sealed with key (32 bytes), naming stages as KMS does.
func (s *Store) Secrets(key []byte) (*Secrets, error) {
	return s.SecretsWithStages(key, rotation.KMSStages)
}

// SecretsWithStages is Secrets naming stages as st does (rotation.AWSStages for Secrets Manager's
// protocol run locally). The file keeps its own names, so either view reads the same secret.
func (s *Store) SecretsWithStages(key []byte, st rotation.Stages) (*Secrets, error) {
	if len(key) != 32 {
		return nil, errors.New("embedded.Secrets: the key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Secrets{s: s, aead: aead, stages: st}, nil
}

// As returns the same backend naming stages as st does.
func (x *Secrets) As(st rotation.Stages) (*Secrets, error) {
	return &Secrets{s: x.s, aead: x.aead, stages: st}, nil
}

func (x *Secrets) seal(secret, id, value string) ([]byte, error) {
	nonce := make([]byte, x.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return x.aead.Seal(nonce, nonce, []byte(value), []byte(secret+"\x00"+id)), nil
}

func (x *Secrets) open(secret, id string, sealed []byte) (string, error) {
	n := x.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("a sealed value is truncated")
	}
	b, err := x.aead.Open(nil, sealed[:n], sealed[n:], []byte(secret+"\x00"+id))
	if err != nil {
		return "", errors.New("a sealed value does not open with this key")
	}
	return string(b), nil
}

func getSecret(tx *bolt.Tx, name string) (*secretRecord, error) {
	b := tx.Bucket(bucketSecrets)
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(name))
	if v == nil {
		return nil, nil
	}
	var r secretRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return &r, nil
}

func putSecret(tx *bolt.Tx, name string, r *secretRecord) error {
	b, err := tx.CreateBucketIfNotExists(bucketSecrets)
	if err != nil {
		return err
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(name), v)
}

// Create makes secret with value as its first version, staged ACSCurrent, as creating a secret on
// KMS does; it fails if the secret exists.
func (x *Secrets) Create(ctx context.Context, secret, id, value string) error {
	sealed, err := x.seal(secret, id, value)
	if err != nil {
		return err
	}
	return x.s.db.Update(func(tx *bolt.Tx) error {
		r, err := getSecret(tx, secret)
		if err != nil {
			return err
		}
		if r != nil {
			return fmt.Errorf("embedded: secret %s: %w", secret, rotation.ErrVersionExists)
		}
		return putSecret(tx, secret, &secretRecord{Versions: []versionRecord{{ID: id, Sealed: sealed,
			Stages: []string{canonical.Current}, Created: x.s.now()}}})
	})
}

// Describe implements rotation.Secrets.
func (x *Secrets) Describe(ctx context.Context, secret string) (rotation.Description, error) {
	d := rotation.Description{RotationEnabled: true}
	err := x.s.db.View(func(tx *bolt.Tx) error {
		r, err := getSecret(tx, secret)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("embedded: secret %s: %w", secret, rotation.ErrSecretNotFound)
		}
		for _, v := range r.Versions {
			var st []string
			for _, s := range v.Stages {
				st = append(st, x.fromFile(s))
			}
			d.Versions = append(d.Versions, rotation.Version{ID: v.ID, Stages: st})
		}
		return nil
	})
	return d, err
}

// Value implements rotation.Secrets.
func (x *Secrets) Value(ctx context.Context, secret, id, stage string) (string, error) {
	var sealed []byte
	var vid string
	err := x.s.db.View(func(tx *bolt.Tx) error {
		r, err := getSecret(tx, secret)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("embedded: secret %s: %w", secret, rotation.ErrSecretNotFound)
		}
		for _, v := range r.Versions {
			if (id == "" || v.ID == id) && (stage == "" || slices.Contains(v.Stages, x.toFile(stage))) && len(v.Sealed) > 0 {
				sealed, vid = v.Sealed, v.ID
				return nil
			}
		}
		return fmt.Errorf("embedded: secret %s version %q stage %q: %w", secret, id, stage, rotation.ErrVersionNotFound)
	})
	if err != nil {
		return "", err
	}
	return x.open(secret, vid, sealed)
}

// Put implements rotation.Secrets: an existing id with another value is refused, the same value
// again succeeds, as KMS does.
func (x *Secrets) Put(ctx context.Context, secret, id, value string, stages []string) error {
	sealed, err := x.seal(secret, id, value)
	if err != nil {
		return err
	}
	return x.s.db.Update(func(tx *bolt.Tx) error {
		r, err := getSecret(tx, secret)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("embedded: secret %s: %w", secret, rotation.ErrSecretNotFound)
		}
		var fileStages []string
		for _, st := range stages {
			fileStages = append(fileStages, x.toFile(st))
		}
		var started *versionRecord
		for i := range r.Versions {
			if r.Versions[i].ID == id {
				if len(r.Versions[i].Sealed) == 0 { // made by Start: the put gives it its value
					started = &r.Versions[i]
					break
				}
				if old, err := x.open(secret, id, r.Versions[i].Sealed); err == nil && old == value {
					return nil
				}
				return fmt.Errorf("embedded: secret %s version %s: %w", secret, id, rotation.ErrVersionExists)
			}
		}
		for i := range r.Versions { // a stage is on one version at a time
			if &r.Versions[i] != started {
				r.Versions[i].Stages = slices.DeleteFunc(r.Versions[i].Stages, func(s string) bool { return slices.Contains(fileStages, s) })
			}
		}
		if started != nil {
			started.Sealed = sealed
			for _, s := range fileStages {
				if !slices.Contains(started.Stages, s) {
					started.Stages = append(started.Stages, s)
				}
			}
		} else {
			r.Versions = append(r.Versions, versionRecord{ID: id, Sealed: sealed, Stages: fileStages, Created: x.s.now()})
		}
		return putSecret(tx, secret, r)
	})
}

// MoveStage implements rotation.Secrets.
func (x *Secrets) MoveStage(ctx context.Context, secret, stage, to, from string) error {
	return x.s.db.Update(func(tx *bolt.Tx) error {
		r, err := getSecret(tx, secret)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("embedded: secret %s: %w", secret, rotation.ErrSecretNotFound)
		}
		if err := moveStage(r.Versions, x.toFile(stage), to, from, canonical, func(v *versionRecord) *[]string { return &v.Stages },
			func(v *versionRecord) string { return v.ID }); err != nil {
			return fmt.Errorf("embedded: secret %s stage %s: %w", secret, stage, err)
		}
		return putSecret(tx, secret, r)
	})
}

// Start does locally what Secrets Manager's RotateSecret does before it calls the rotation
// function: it creates version token with no value, staged pending (unless it exists).
func (x *Secrets) Start(ctx context.Context, secret, token string) error {
	return x.s.db.Update(func(tx *bolt.Tx) error {
		r, err := getSecret(tx, secret)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("embedded: secret %s: %w", secret, rotation.ErrSecretNotFound)
		}
		for _, v := range r.Versions {
			if v.ID == token {
				return nil
			}
		}
		for i := range r.Versions {
			r.Versions[i].Stages = slices.DeleteFunc(r.Versions[i].Stages, func(s string) bool { return s == canonical.Pending })
		}
		r.Versions = append(r.Versions, versionRecord{ID: token, Stages: []string{canonical.Pending}, Created: x.s.now()})
		return putSecret(tx, secret, r)
	})
}

// moveStage applies an UpdateSecretVersionStage to versions, as both services do.
func moveStage[V any](versions []V, stage, to, from string, st rotation.Stages, stages func(*V) *[]string, id func(*V) string) error {
	var holder, target *V
	for i := range versions {
		if slices.Contains(*stages(&versions[i]), stage) {
			holder = &versions[i]
		}
		if to != "" && id(&versions[i]) == to {
			target = &versions[i]
		}
	}
	if to != "" && target == nil {
		return rotation.ErrVersionNotFound
	}
	switch {
	case from != "" && (holder == nil || id(holder) != from):
		return rotation.ErrStageConflict
	case from == "" && holder != nil && holder != target:
		return rotation.ErrStageConflict
	case to == "" && (stage == st.Current || stage == st.Previous):
		return errors.New("the current and previous stages can only be moved, not removed")
	}
	if holder != nil {
		*stages(holder) = slices.DeleteFunc(*stages(holder), func(s string) bool { return s == stage })
	}
	if target == nil {
		return nil
	}
	if !slices.Contains(*stages(target), stage) {
		*stages(target) = append(*stages(target), stage)
	}
	if stage == st.Current && holder != nil && holder != target {
		for i := range versions {
			*stages(&versions[i]) = slices.DeleteFunc(*stages(&versions[i]), func(s string) bool { return s == st.Previous })
		}
		*stages(holder) = append(*stages(holder), st.Previous)
	}
	return nil
}

// Verify implements rotation.Account: it checks pw against name's hash, without counting a
// failure toward lockout (rotation's probe of the pending password is not a guess).
// Returns EUNAUTHORIZED when pw is wrong or the user does not exist.
func (s *Store) Verify(ctx context.Context, name, pw string) error {
	const op = "embedded.Verify"
	rec, err := s.readUser(op, name)
	if err != nil {
		return err
	}
	if rec == nil {
		_, _ = verifyHash(s.dummy.String(), pw)
		return errUnauthorized()
	}
	ok, err := verifyHash(rec.Hash, pw)
	if err != nil {
		return damaged(op, err)
	}
	if !ok {
		return errUnauthorized()
	}
	return nil
}
