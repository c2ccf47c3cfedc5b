package ldap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password"
)

// The Active Directory dialect: Microsoft's directory, and Samba's AD domain
// controller, which speaks the same protocol.
//
// The password is the attribute unicodePwd, whose value is the password in
// double quotes encoded as UTF-16LE ([MS-ADTS] 3.1.1.3.1.5.1). AD writes it only
// over an encrypted connection. A user changes their own password with one
// Modify that deletes the old value and adds the new one (the old password is
// the proof; AD checks it, and the history, age, length and complexity rules);
// an administrator resets it with one Modify that replaces the value, which needs
// the "Reset Password" extended right on the user (AD then checks length and
// complexity, never history).

// ActiveDirectory is the dialect of Microsoft Active Directory and Samba AD.
const ActiveDirectory = "active_directory"

// Name attributes an Active Directory user can be found by.
const (
	SAMAccountName    = "sAMAccountName"
	UserPrincipalName = "userPrincipalName"
)

// DefaultADPageSize is the page size of ListUsers on Active Directory: AD's
// MaxPageSize, the most entries it returns in one page.
const DefaultADPageSize = 1000

// adUserFilter selects user accounts (not computers, which are users too, nor contacts).
const adUserFilter = "(objectCategory=person)(objectClass=user)"

// oidInChain is LDAP_MATCHING_RULE_IN_CHAIN: memberOf matches nested membership too.
const oidInChain = "1.2.840.113556.1.4.1941"

// ResetOptions are what an administrator's reset does besides setting the
// password. Only Active Directory supports them; both are off by default.
type ResetOptions struct {
	// MustChange sets pwdLastSet to 0: the user must change the password at the
	// next logon (and can, through self-service: see ChangePassword).
	MustChange bool
	// Unlock sets lockoutTime to 0: a locked-out account is unlocked.
	Unlock bool
}

// activeDirectory is the Active Directory dialect.
type activeDirectory struct {
	nameAttr string
	resetOpt ResetOptions
}

// unicodePwd returns pw as AD's unicodePwd value: in double quotes, as UTF-16LE.
// A quote inside pw needs no escaping: AD takes what lies between the first and
// the last byte pair. pw must be valid UTF-8 (the caller checks it).
func unicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return string(b)
}

// errNotUTF8 refuses a password that is not valid UTF-8: it has no UTF-16
// encoding, and replacing the bad bytes would set another password than the one given.
var errNotUTF8 = password.Errorf(password.EINVALID, "The password must be valid UTF-8 text.")

func (a activeDirectory) change(c conn, dn, oldPassword, newPassword string) error {
	if !utf8.ValidString(newPassword) {
		return errNotUTF8
	}
	if !utf8.ValidString(oldPassword) {
		// It cannot be the password: AD holds UTF-16. Answer as for a wrong one.
		return errWrongOldUTF8
	}
	req := goldap.NewModifyRequest(dn, nil)
	req.Delete("unicodePwd", []string{unicodePwd(oldPassword)})
	req.Add("unicodePwd", []string{unicodePwd(newPassword)})
	return c.Modify(req)
}

// errWrongOldUTF8 is AD's own answer to a wrong old password, for an old
// password that cannot be right.
var errWrongOldUTF8 = goldap.NewError(goldap.LDAPResultConstraintViolation,
	errors.New(adWrongPassword+": the old password is not valid UTF-8 (not sent)"))

func (a activeDirectory) reset(c conn, dn, newPassword string) error {
	if !utf8.ValidString(newPassword) {
		return errNotUTF8
	}
	// One Modify: the password and the options change together or not at all.
	req := goldap.NewModifyRequest(dn, nil)
	req.Replace("unicodePwd", []string{unicodePwd(newPassword)})
	if a.resetOpt.MustChange {
		req.Replace("pwdLastSet", []string{"0"})
	}
	if a.resetOpt.Unlock {
		req.Replace("lockoutTime", []string{"0"})
	}
	return c.Modify(req)
}

// bindUser binds c as the user. AD refuses the bind of a user whose password
// has expired (data 532) or must be changed at next logon (data 773), and says
// so only when the password was right (a wrong one answers data 52e): those are
// the users who most need self-service, and they get errChangeUnbound, so that
// the change goes over a service connection, where AD checks the old password
// in the Modify itself.
func (a activeDirectory) bindUser(op string, c conn, dn, pw string) error {
	_, err := c.SimpleBind(&goldap.SimpleBindRequest{Username: dn, Password: pw})
	if err == nil {
		return nil
	}
	if goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
		switch adBindData(err) {
		case adDataExpired, adDataMustChange:
			return errChangeUnbound
		}
	}
	return a.domainError(op, selfService, err)
}

// ping checks an idle pooled connection with a base search of the root DSE:
// AD does not implement the Who am I? operation.
func (a activeDirectory) ping(c conn) error {
	_, err := c.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	return err
}

// userAttrs are read for LookupUser and ListUsers.
func (a activeDirectory) userAttrs() []string {
	return []string{a.nameAttr, "objectSid", "primaryGroupID", "uidNumber", "gidNumber", "whenCreated",
		"pwdLastSet", "msDS-User-Account-Control-Computed"}
}

// ufLockout is the UF_LOCKOUT bit of msDS-User-Account-Control-Computed, which,
// unlike lockoutTime, is clear again once the lockout duration has passed.
const ufLockout = 0x10

// user reads an entry into a User: the id is uidNumber when the entry has the
// RFC 2307 attributes, else the relative id (RID) of its SID; the group id is
// gidNumber, else the RID of the primary group.
func (a activeDirectory) user(e *goldap.Entry) *password.User {
	u := &password.User{
		Name:    e.GetAttributeValue(a.nameAttr),
		ID:      e.GetAttributeValue("uidNumber"),
		GroupID: e.GetAttributeValue("gidNumber"),
		Created: generalizedTime(e.GetAttributeValue("whenCreated")),
	}
	if u.ID == "" {
		u.ID = sidRID(e.GetRawAttributeValue("objectSid"))
	}
	if u.GroupID == "" {
		u.GroupID = e.GetAttributeValue("primaryGroupID")
	}
	if ft, err := strconv.ParseInt(e.GetAttributeValue("pwdLastSet"), 10, 64); err == nil && ft > 0 {
		u.PasswordChangedAt = fileTime(ft)
	}
	if uac, err := strconv.ParseInt(e.GetAttributeValue("msDS-User-Account-Control-Computed"), 10, 64); err == nil {
		u.Locked = uac&ufLockout != 0
	}
	return u
}

// sidRID returns the last sub-authority of a binary SID (its RID), or "".
func sidRID(sid []byte) string {
	// revision(1) count(1) authority(6) subauthorities(4 each, little-endian)
	if len(sid) < 8 || len(sid) != 8+4*int(sid[1]) || sid[1] == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(binary.LittleEndian.Uint32(sid[len(sid)-4:])), 10)
}

// fileTime converts a Windows FILETIME (100 ns intervals since 1601) to a time.
func fileTime(ft int64) time.Time {
	const epochDiff = 11644473600 // seconds from 1601-01-01 to 1970-01-01
	return time.Unix(ft/1e7-epochDiff, ft%1e7*100).UTC()
}

// adConfig checks the settings of an Active Directory configuration and fills
// its defaults: the name attribute, the user search filter, the page size.
func adConfig(c *Config) []string {
	var msgs []string
	if c.NameAttribute == "" {
		c.NameAttribute = SAMAccountName
	}
	if c.NameAttribute != SAMAccountName && c.NameAttribute != UserPrincipalName {
		msgs = append(msgs, fmt.Sprintf("name_attribute: must be %s or %s on Active Directory", SAMAccountName, UserPrincipalName))
	}
	if c.InsecurePlain {
		msgs = append(msgs, "insecure_plain: Active Directory refuses password changes over a plain connection "+
			"(it answers \"Transport encryption required\"); use ldaps:// or start_tls")
	}
	if c.UserDNTemplate != "" {
		msgs = append(msgs, "user_dn_template: Active Directory names entries by cn, not by the account name; use user_search (base)")
	}
	if c.UserSearch == nil {
		msgs = append(msgs, "user_search.base: is required on Active Directory (the OU of the users, or the domain)")
	} else if c.UserSearch.Filter == "" {
		us := *c.UserSearch
		us.Filter = "(&" + adUserFilter + "(" + c.NameAttribute + "=%s))"
		c.UserSearch = &us
	}
	if c.UseExop != nil && *c.UseExop {
		msgs = append(msgs, "use_exop: Active Directory has no Password Modify operation; leave it out")
	}
	if c.PasswordAttribute != "" && c.PasswordAttribute != "unicodePwd" {
		msgs = append(msgs, "password_attribute: Active Directory's is unicodePwd; leave it out")
	}
	if c.ShadowLastChange {
		msgs = append(msgs, "shadow_last_change: applies to OpenLDAP's shadowAccount entries only")
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultADPageSize
	}
	return msgs
}

// adListFilter is the filter of ListUsers: the users that user_search finds,
// members of group (directly or through nested groups) when it is set.
func adListFilter(userFilter, group string) string {
	f := expand(userFilter, "*")
	if group == "" {
		return f
	}
	return "(&" + f + "(memberOf:" + oidInChain + ":=" + escapeFilterValue(group) + "))"
}

// WithReset returns a Directory whose admin resets also apply opts, for a
// cluster that wants them. It shares d's connections: closing either closes
// both. The options need Active Directory; zero options return d itself.
func (d *Directory) WithReset(opts ResetOptions) (*Directory, error) {
	if opts == (ResetOptions{}) {
		return d, nil
	}
	a, ok := d.dialect.(activeDirectory)
	if !ok {
		return nil, errors.New("ldap: reset options (must change at next logon, unlock) need dialect active_directory")
	}
	a.resetOpt = opts
	v := *d
	v.dialect = a
	return &v, nil
}
