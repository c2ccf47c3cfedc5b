package ldap

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"chpass/shared/password"
)

// HoldsPassword reports whether name's current password is pw (a
// batch.PasswordHolder), for a batch that reconciles a reset it may have made
// before a crash. It never binds as the user: a wrong bind, and on slapd 2.5
// even an LDAP Compare of userPassword, would count towards ppolicy's lockout
// (pwdFailureTime), or would not match a hashed value at all. Instead the
// service account reads the entry's userPassword (in OpenLDAP, write access
// to it includes read) and checks pw against each value here, as slapd's
// password schemes would: {SSHA}, {SHA}, {SSHA256}, {SSHA384}, {SSHA512},
// {SHA256}, {SHA384}, {SHA512} (pw-sha2), {ARGON2} (argon2i/argon2id), and a
// value stored in clear. Nothing counts as a failure, and the answer does not
// depend on pwdReset, expiry or a lockout: a user who must change the
// password, or whose password expired, still holds it.
// Returns ENOTFOUND when the user does not exist, EUNAVAILABLE when the
// directory cannot be reached, and EFORBIDDEN when no value can be checked:
// the service account may not read userPassword (Active Directory never lets
// anyone read unicodePwd), or the values use a scheme this adapter does not
// know (such as {CRYPT}); on Active Directory it answers EFORBIDDEN at once,
// without a search.
func (d *Directory) HoldsPassword(ctx context.Context, name, pw string) (bool, error) {
	const op = "ldap.HoldsPassword"
	if _, ok := d.dialect.(activeDirectory); ok {
		return false, password.Wrap(password.EFORBIDDEN, fmt.Errorf("%s: Active Directory never lets unicodePwd be read; see PasswordChangedSince", op),
			"The directory does not let the service account check the password.")
	}
	e, err := d.findUser(ctx, name, []string{"userPassword"})
	if err != nil {
		return false, domainError(op, lookup, err, ppNone)
	}
	values := e.GetRawAttributeValues("userPassword")
	checked := 0
	for _, v := range values {
		ok, err := checkUserPassword(v, pw)
		if errors.Is(err, errUnknownScheme) {
			continue
		}
		checked++
		if err == nil && ok {
			return true, nil
		}
	}
	if checked == 0 {
		return false, password.Wrap(password.EFORBIDDEN, fmt.Errorf("%s: %d userPassword values readable, none in a known scheme", op, len(values)),
			"The directory does not let the service account check the password.")
	}
	return false, nil
}

var errUnknownScheme = errors.New("unknown password scheme")

// checkUserPassword checks pw against one userPassword value, as slapd would.
func checkUserPassword(stored []byte, pw string) (bool, error) {
	if len(stored) == 0 || stored[0] != '{' {
		return subtle.ConstantTimeCompare(stored, []byte(pw)) == 1, nil
	}
	end := bytes.IndexByte(stored, '}')
	if end < 0 {
		return subtle.ConstantTimeCompare(stored, []byte(pw)) == 1, nil
	}
	scheme, rest := strings.ToUpper(string(stored[1:end])), string(stored[end+1:])
	var h func() hash.Hash
	base, salted := scheme, strings.HasPrefix(scheme, "SSHA")
	if salted {
		base = scheme[1:]
	}
	switch base {
	case "SHA":
		h = sha1.New
	case "SHA256":
		h = sha256.New
	case "SHA384":
		h = sha512.New384
	case "SHA512":
		h = sha512.New
	default:
		if scheme == "ARGON2" {
			return checkArgon2(rest, pw)
		}
		return false, errUnknownScheme
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return false, fmt.Errorf("{%s} value: %w", scheme, err)
	}
	size := h().Size()
	if len(raw) < size || (!salted && len(raw) != size) {
		return false, fmt.Errorf("{%s} value has %d bytes", scheme, len(raw))
	}
	sum, salt := raw[:size], raw[size:]
	m := h()
	m.Write([]byte(pw))
	m.Write(salt)
	return subtle.ConstantTimeCompare(m.Sum(nil), sum) == 1, nil
}

// checkArgon2 checks pw against an argon2 encoded hash, as libargon2 (slapd's
// argon2 module) writes it: $argon2id$v=19$m=65536,t=2,p=1$salt$hash, with
// unpadded base64.
func checkArgon2(encoded, pw string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[2] != "v=19" {
		return false, errors.New("{ARGON2} value is malformed")
	}
	var m, t uint64
	var p uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return false, errors.New("{ARGON2} parameters are malformed")
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		}
	}
	if m == 0 || t == 0 || p == 0 || p > 255 || m > 4<<20 || t > 64 {
		return false, errors.New("{ARGON2} parameters are out of range")
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	sum, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(sum) == 0 {
		return false, errors.New("{ARGON2} salt or hash is malformed")
	}
	var key []byte
	switch parts[1] {
	case "argon2id":
		key = argon2.IDKey([]byte(pw), salt, uint32(t), uint32(m), uint8(p), uint32(len(sum)))
	case "argon2i":
		key = argon2.Key([]byte(pw), salt, uint32(t), uint32(m), uint8(p), uint32(len(sum)))
	default:
		return false, errUnknownScheme
	}
	return subtle.ConstantTimeCompare(key, sum) == 1, nil
}
