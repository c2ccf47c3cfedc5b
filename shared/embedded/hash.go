package embedded

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of the argon2id hashes that new passwords
// get. A zero field takes its default, the OWASP recommendation for argon2id:
// time 2, memory 19 MiB, 1 thread. Hashes already stored keep the parameters
// they were made with, which their encoding carries, so the parameters can be
// raised later without invalidating any password.
type Argon2Params struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// Default argon2id parameters (OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1)
// and the lengths of the key and the salt.
const (
	defaultTime      = 2
	defaultMemoryKiB = 19 * 1024
	defaultThreads   = 1
	keyLen           = 32
	saltLen          = 16

	// Bounds on what a stored hash may ask for, so that a damaged or planted record
	// cannot make verification allocate without limit.
	maxMemoryKiB = 4 << 20 // 4 GiB
	maxTime      = 1 << 10
	maxKeyLen    = 1 << 10
)

func (p Argon2Params) withDefaults() Argon2Params {
	if p.Time == 0 {
		p.Time = defaultTime
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = defaultMemoryKiB
	}
	if p.Threads == 0 {
		p.Threads = defaultThreads
	}
	return p
}

// phc is a parsed argon2id hash in the PHC string format:
//
//	$argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt, unpadded base64>$<key, unpadded base64>
//
// as the reference implementation and the PHC string format specification
// (https://github.com/P-H-C/phc-string-format) write it.
type phc struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

var b64 = base64.RawStdEncoding

// hashing admits at most GOMAXPROCS argon2id computations at once. They are
// CPU-bound, so more at a time adds no speed, only memory: each holds its whole
// memory cost (19 MiB by default) until it ends, and a batch of resets run 8 at a
// time would otherwise hold 8 of them, and their garbage, at once.
var hashing = make(chan struct{}, runtime.GOMAXPROCS(0))

// idKey is argon2.IDKey, admitted through hashing.
func idKey(password, salt []byte, p Argon2Params, keyLen uint32) []byte {
	hashing <- struct{}{}
	defer func() { <-hashing }()
	return argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
}

// errBadHash says that a stored hash cannot be parsed. It never quotes the hash.
var errBadHash = errors.New("embedded: stored password hash is malformed")

// hashPassword returns the PHC encoding of the argon2id hash of password under p,
// with a fresh random salt.
func hashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("embedded: reading a salt: %w", err)
	}
	h := phc{params: p, salt: salt, key: idKey([]byte(password), salt, p, keyLen)}
	return h.String(), nil
}

// String returns the PHC encoding of h.
func (h phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.MemoryKiB, h.params.Time, h.params.Threads, b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

// parseHash parses the PHC encoding of an argon2id hash.
func parseHash(encoded string) (phc, error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, errBadHash
	}
	var h phc
	var seen [3]bool
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return phc{}, errBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return phc{}, errBadHash
		}
		switch k {
		case "m":
			h.params.MemoryKiB, seen[0] = uint32(n), true
		case "t":
			h.params.Time, seen[1] = uint32(n), true
		case "p":
			if n > 255 {
				return phc{}, errBadHash
			}
			h.params.Threads, seen[2] = uint8(n), true
		default:
			return phc{}, errBadHash
		}
	}
	p := h.params
	if !seen[0] || !seen[1] || !seen[2] || p.Time == 0 || p.Time > maxTime || p.Threads == 0 ||
		p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB {
		return phc{}, errBadHash
	}
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return phc{}, errBadHash
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > maxKeyLen {
		return phc{}, errBadHash
	}
	return h, nil
}

// verify reports whether password hashes to h, comparing in constant time.
func (h phc) verify(password string) bool {
	k := idKey([]byte(password), h.salt, h.params, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(k, h.key) == 1
}

// verifyHash reports whether password matches the encoded hash.
func verifyHash(encoded, password string) (bool, error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	return h.verify(password), nil
}
