package ldap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password"
)

// attUnicodePwd is unicodePwd's ATTRTYP in replPropertyMetaData
// (1.2.840.113556.1.4.90: prefix 0x0009, suffix 90), the same on every AD and Samba DC.
const attUnicodePwd = 0x0009005A

// PasswordChangedSince reports whether name's password was written after since
// (a batch.PasswordChangeChecker), for a batch on Active Directory that
// reconciles a reset it may have made before a crash: AD never lets anyone
// read unicodePwd, so HoldsPassword cannot answer there, and a bind as the user
// is not an option (a wrong one counts in badPwdCount; an expired or
// must-change user fails it anyway).
//
// It reads, as the service account, the entry's replPropertyMetaData and takes
// the originating time of the last write of unicodePwd (a DSTIME: whole seconds
// on the DC's clock). pwdLastSet is not used: a reset with "must change at next
// logon" sets it to 0, and an administrator may set it to -1 (now) without
// changing the password. The DC's clock is read from the rootDSE's currentTime
// on the same connection, so a clock skew between this process and the DC is
// accounted for (currentTime is read after this process's clock, so the
// estimate is a bound, whatever the round trip); because both are whole
// seconds, a write counts only when its second starts at least one second
// after since plus the estimated skew. A write less than two seconds after
// since may therefore read as "not changed" (the engine then resets again,
// which sets the same password), never the other way round.
//
// What it proves: some write of unicodePwd (a reset or a change, by anyone)
// originated after since. What it cannot prove: that the value written is the
// batch's password. Another writer between the intent and this check (the user
// changing the password, another administrator, another batch) reads as
// "changed" too; so does a write replicated from another DC that originated
// there after since. On a single writer per user (as a batch is), that is the
// batch's own reset.
//
// Returns ENOTFOUND when the user does not exist, EUNAVAILABLE when the
// directory cannot be reached, and EFORBIDDEN on a dialect other than
// active_directory (OpenLDAP's check is HoldsPassword) or when the metadata
// cannot be read or holds no write of unicodePwd.
func (d *Directory) PasswordChangedSince(ctx context.Context, name string, since time.Time) (bool, error) {
	const op = "ldap.PasswordChangedSince"
	if _, ok := d.dialect.(activeDirectory); !ok {
		return false, password.Wrap(password.EFORBIDDEN, fmt.Errorf("%s: needs dialect active_directory", op),
			"The directory does not let the service account check when the password changed.")
	}
	e, err := d.findUser(ctx, name, []string{"replPropertyMetaData"})
	if err != nil {
		return false, domainError(op, lookup, err, ppNone)
	}
	local := time.Now()
	var dcNow time.Time
	err = d.withService(ctx, true, func(c conn) error {
		res, err := c.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{"currentTime"}, nil))
		if err != nil {
			return err
		}
		if len(res.Entries) != 1 {
			return errors.New("the rootDSE is missing")
		}
		dcNow = generalizedTime(res.Entries[0].GetAttributeValue("currentTime"))
		if dcNow.IsZero() {
			return errors.New("the rootDSE has no readable currentTime")
		}
		return nil
	})
	if err != nil {
		return false, domainError(op, lookup, err, ppNone)
	}
	meta := e.GetRawAttributeValue("replPropertyMetaData")
	changed, err := unicodePwdChanged(meta)
	if err != nil {
		return false, password.Wrap(password.EFORBIDDEN, fmt.Errorf("%s: %w", op, err),
			"The directory does not let the service account check when the password changed.")
	}
	return changedAfter(changed, since, dcNow, local), nil
}

// changedAfter reports whether a write at changed (whole seconds, DC clock)
// certainly happened after since (this process's clock), given that the DC
// said dcNow (whole seconds) when this process's clock said local. The skew
// estimate dcNow-local errs by up to a second, and changed by up to another:
// one second of margin keeps every error on the side of "not changed".
func changedAfter(changed, since, dcNow, local time.Time) bool {
	skew := dcNow.Sub(local)
	return !changed.Before(since.Add(skew).Add(time.Second))
}

// unicodePwdChanged returns the originating time of unicodePwd's last write in
// a replPropertyMetaData value (MS-DRSR PROPERTY_META_DATA_EXT_VECTOR in its
// NDR blob: version 1, reserved, count, reserved, then 48-byte entries of
// attrType, version, timeChanged (DSTIME: seconds since 1601-01-01 UTC),
// originating DSA GUID, originating USN, local USN).
func unicodePwdChanged(meta []byte) (time.Time, error) {
	if len(meta) < 16 {
		return time.Time{}, fmt.Errorf("replPropertyMetaData is not readable (%d bytes)", len(meta))
	}
	le := binary.LittleEndian
	if v := le.Uint32(meta[0:]); v != 1 {
		return time.Time{}, fmt.Errorf("replPropertyMetaData version %d", v)
	}
	n := int(le.Uint32(meta[8:]))
	const size = 48
	if n < 0 || n > (len(meta)-16)/size {
		return time.Time{}, fmt.Errorf("replPropertyMetaData holds %d entries in %d bytes", n, len(meta))
	}
	for i := range n {
		ent := meta[16+i*size:]
		if le.Uint32(ent[0:]) != attUnicodePwd {
			continue
		}
		secs := int64(le.Uint64(ent[8:]))
		return time.Unix(secs-dstimeToUnix, 0).UTC(), nil
	}
	return time.Time{}, errors.New("replPropertyMetaData has no write of unicodePwd")
}

// dstimeToUnix is the number of seconds from 1601-01-01 to 1970-01-01.
const dstimeToUnix = 11644473600
