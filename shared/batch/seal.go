package batch

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"chpass/shared/password"
)

// Sealer seals and opens a task's users and passwords with AES-256-GCM; the
// additional data is the task ID, so a sealed payload cannot be moved to
// another task.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("must be 32 bytes (AES-256), got %d", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: g}, nil
}

// sealedUsers is what a task's Sealed holds once opened.
type sealedUsers struct {
	Users []password.ResetRequest
}

// Seal returns users sealed for the task with id.
func (s *Sealer) Seal(id string, users []password.ResetRequest) ([]byte, error) {
	plain, err := json.Marshal(sealedUsers{Users: users})
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(id)), nil
}

// Open returns the users sealed for the task with id. It fails when sealed
// was changed, sealed under another key, or for another task.
func (s *Sealer) Open(id string, sealed []byte) ([]password.ResetRequest, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealed payload too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	var u sealedUsers
	if err := json.Unmarshal(plain, &u); err != nil {
		return nil, err
	}
	return u.Users, nil
}
