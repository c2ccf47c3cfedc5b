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
	s    *Store
	aead cipher.AEAD
}

var _ rotation.Secrets = (*Secrets)(nil)

type secretRecord struct {
	Versions []versionRecord `json:"versions"`
}

type versionRecord struct {
	ID      string    `json:"id"`
	Sealed  []byte    `json:"sealed"` // nonce + AES-GCM of the value
	Stages  []string  `json:"stages"`
	Created time.Time `json:"created"`
}

// Secrets returns the secret backend sealed with key (32 bytes).
func (s *Store) Secrets(key []byte) (*Secrets, error) {
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
	return &Secrets{s: s, aead: aead}, nil
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
			Stages: []string{rotation.KMSStages.Current}, Created: x.s.now()}}})
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
			d.Versions = append(d.Versions, rotation.Version{ID: v.ID, Stages: slices.Clone(v.Stages)})
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
			if (id == "" || v.ID == id) && (stage == "" || slices.Contains(v.Stages, stage)) {
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
		for i := range r.Versions {
			if r.Versions[i].ID == id {
				if old, err := x.open(secret, id, r.Versions[i].Sealed); err == nil && old == value {
					return nil
				}
				return fmt.Errorf("embedded: secret %s version %s: %w", secret, id, rotation.ErrVersionExists)
			}
		}
		for i := range r.Versions { // a stage is on one version at a time
			r.Versions[i].Stages = slices.DeleteFunc(r.Versions[i].Stages, func(s string) bool { return slices.Contains(stages, s) })
		}
		r.Versions = append(r.Versions, versionRecord{ID: id, Sealed: sealed, Stages: slices.Clone(stages), Created: x.s.now()})
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
		if err := moveStage(r.Versions, stage, to, from, rotation.KMSStages, func(v *versionRecord) *[]string { return &v.Stages },
			func(v *versionRecord) string { return v.ID }); err != nil {
			return fmt.Errorf("embedded: secret %s stage %s: %w", secret, stage, err)
		}
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
