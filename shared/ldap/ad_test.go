package ldap

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password"
)

func TestUnicodePwd(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":            "22002200",
		"Ab1!":        "220041006200310021002200",
		`a"b`:         "2200610022006200" + "2200",
		"é":           "2200e9002200",
		"🔑":           "22003dd811dd2200", // a surrogate pair
		"\\2a\\00 *)": "22005c00320061005c003000300020002a0029002200",
	}
	for pw, want := range tests {
		if got := hex.EncodeToString([]byte(unicodePwd(pw))); got != want {
			t.Errorf("unicodePwd(%q) = %s, want %s", pw, got, want)
		}
	}
}

// adWire is an *ldap.Error as go-ldap returns it for an AD answer.
func adWire(code uint16, diagnostic string) error {
	return goldap.NewError(code, errors.New(diagnostic))
}

// TestADDomainError maps the answers Windows AD and Samba give (verbatim) to the
// domain errors that OpenLDAP's refusals map to.
func TestADDomainError(t *testing.T) {
	t.Parallel()
	const (
		winPolicy    = "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)\n\x00"
		winWrongOld  = "00000056: AtrErr: DSID-03190F80, #1:\n\t0: 00000056: DSID-03190F80, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)\n\x00"
		winAccess    = "00000005: SecErr: DSID-03152E29, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0\n\x00"
		winUnwilling = "0000001F: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0\n\x00"
		winNoAuth    = "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563\x00"
		sambaHistory = "0000052D: Constraint violation - check_password_restrictions: the password was already used (in history)!"
		sambaCurrent = "0000052D: Constraint violation - check_password_restrictions: the password was already used (previous password)!"
		sambaShort   = "0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 8 characters!"
		sambaComplex = "0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity criteria!"
		sambaYoung   = "0000052D: Constraint violation - check_password_restrictions: password is too young to change!"
		sambaCant    = "0000052D: Constraint violation - check_password_restrictions: password can't be changed on this account!"
		sambaWrong   = "00000056: Constraint violation - check_password_restrictions: The old password specified doesn't match!"
		sambaLocked  = "00000775: Password change not permitted, account locked out! at ../../source4/dsdb/samdb/ldb_modules/password_hash.c:3929:setup_io"
		sambaAnon    = "00002020: Operation unavailable without authentication"
		sambaAccess  = "error in module acl: insufficient access rights during LDB_MODIFY (50)"
	)
	bind := func(data string) error {
		return adWire(49, "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data "+data+", v4563\x00")
	}
	tests := []struct {
		name       string
		p          path
		err        error
		code, rule string
	}{
		{"WindowsPolicySaysNoRule", selfService, adWire(19, winPolicy), password.EPOLICY, password.RuleDirectoryPolicy},
		{"WindowsPolicyOnReset", admin, adWire(19, winPolicy), password.EPOLICY, password.RuleDirectoryPolicy},
		{"WindowsPolicyAs53", selfService, adWire(53, winPolicy), password.EPOLICY, password.RuleDirectoryPolicy},
		{"WindowsWrongOld", selfService, adWire(19, winWrongOld), password.EUNAUTHORIZED, ""},
		{"WindowsInsufficientAccess", admin, adWire(50, winAccess), password.EFORBIDDEN, ""},
		{"WindowsUnwilling", admin, adWire(53, winUnwilling), password.EINTERNAL, ""},
		{"WindowsNoBind", selfService, adWire(1, winNoAuth), password.EINTERNAL, ""},
		{"SambaHistory", selfService, adWire(19, sambaHistory), password.EPOLICY, password.RuleReusePrevention},
		{"SambaCurrent", selfService, adWire(19, sambaCurrent), password.EPOLICY, password.RuleReusePrevention},
		{"SambaShort", admin, adWire(19, sambaShort), password.EPOLICY, password.RuleMinLength},
		{"SambaComplex", selfService, adWire(19, sambaComplex), password.EPOLICY, password.RuleDirectoryQuality},
		{"SambaYoung", selfService, adWire(19, sambaYoung), password.EPOLICY, password.RuleMinAge},
		{"SambaCannotChange", selfService, adWire(19, sambaCant), password.EFORBIDDEN, ""},
		{"SambaWrongOld", selfService, adWire(19, sambaWrong), password.EUNAUTHORIZED, ""},
		{"SambaWrongOldOnResetIsInternal", admin, adWire(19, sambaWrong), password.EINTERNAL, ""},
		{"SambaLockedChange", selfService, adWire(19, sambaLocked), password.ELOCKED, ""},
		{"SambaAnonymous", selfService, adWire(1, sambaAnon), password.EINTERNAL, ""},
		{"SambaAccess", admin, adWire(50, sambaAccess), password.EFORBIDDEN, ""},
		{"SambaAccessSelf", selfService, adWire(50, sambaAccess), password.EFORBIDDEN, ""},
		{"Bind52e", selfService, bind("52e"), password.EUNAUTHORIZED, ""},
		{"Bind525", selfService, bind("525"), password.EUNAUTHORIZED, ""},
		{"Bind775", selfService, bind("775"), password.ELOCKED, ""},
		{"Bind533", selfService, bind("533"), password.EFORBIDDEN, ""},
		{"Bind701", selfService, bind("701"), password.EFORBIDDEN, ""},
		{"Bind530", selfService, bind("530"), password.EFORBIDDEN, ""},
		{"Bind531", selfService, bind("531"), password.EFORBIDDEN, ""},
		{"Bind532", selfService, bind("532"), password.EFORBIDDEN, ""},
		{"Bind773", selfService, bind("773"), password.EFORBIDDEN, ""},
		{"ServiceAccountBindRefused", admin, bind("52e"), password.EINTERNAL, ""},
		{"ServiceAccountLocked", lookup, bind("775"), password.EINTERNAL, ""},
		{"NoSuchObjectAdmin", admin, adWire(32, "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)"), password.ENOTFOUND, ""},
		{"NoSuchObjectSelf", selfService, adWire(32, "0000208D: NameErr"), password.EUNAUTHORIZED, ""},
		{"Busy", admin, adWire(51, "00002024: SvcErr: busy"), password.EUNAVAILABLE, ""},
		{"Network", admin, goldap.NewError(goldap.ErrorNetwork, errors.New("unable to read LDAP response packet")), password.EUNAVAILABLE, ""},
		{"NotUTF8", admin, errNotUTF8, password.EINVALID, ""},
	}
	ad := activeDirectory{nameAttr: SAMAccountName}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ad.domainError("ldap.Test", tt.p, tt.err)
			if got := password.ErrorCode(err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
			vs := password.ErrorViolations(err)
			if tt.rule != "" && (len(vs) != 1 || vs[0].Rule != tt.rule) {
				t.Fatalf("violations %+v, want exactly %q", vs, tt.rule)
			}
			// The cause keeps the codes and nothing else of the server's text.
			if strings.Contains(err.Error(), "DSID") || strings.Contains(err.Error(), "check_password_restrictions") {
				t.Fatalf("the cause keeps the diagnostic: %v", err)
			}
		})
	}
	if got := ad.domainError("op", selfService, adWire(19, winPolicy)); !strings.Contains(password.ErrorMessage(got), "does not say which") {
		t.Fatalf("0000052D from Windows says %q; it must say that AD does not name the rule", password.ErrorMessage(got))
	}
}

func TestADBindUserGoesOnForExpiredAndMustChange(t *testing.T) {
	t.Parallel()
	for data, want := range map[string]error{"532": errChangeUnbound, "773": errChangeUnbound} {
		c := &bindConn{err: adWire(49, "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data "+data+", v4563")}
		if err := (activeDirectory{}).bindUser("op", c, "CN=x", "pw"); !errors.Is(err, want) {
			t.Errorf("data %s: %v, want %v", data, err, want)
		}
	}
	c := &bindConn{err: adWire(49, "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563")}
	if err := (activeDirectory{}).bindUser("op", c, "CN=x", "pw"); password.ErrorCode(err) != password.EUNAUTHORIZED {
		t.Errorf("data 52e: %v", err)
	}
}

// bindConn is a conn whose bind fails with err.
type bindConn struct {
	fakeConn
	err error
}

func (b *bindConn) SimpleBind(*goldap.SimpleBindRequest) (*goldap.SimpleBindResult, error) {
	return nil, b.err
}

// modifyConn records the Modify requests it gets.
type modifyConn struct {
	fakeConn
	reqs []*goldap.ModifyRequest
}

func (m *modifyConn) Modify(r *goldap.ModifyRequest) error { m.reqs = append(m.reqs, r); return nil }

// TestADModifies: a change is one Modify deleting the old value and adding the
// new one; a reset one Modify replacing it, with the options in the same request.
func TestADModifies(t *testing.T) {
	t.Parallel()
	c := &modifyConn{}
	if err := (activeDirectory{}).change(c, "CN=a", "Old-1", "New-1"); err != nil {
		t.Fatal(err)
	}
	r := c.reqs[0]
	if len(c.reqs) != 1 || len(r.Changes) != 2 || r.Changes[0].Operation != goldap.DeleteAttribute || r.Changes[1].Operation != goldap.AddAttribute ||
		r.Changes[0].Modification.Vals[0] != unicodePwd("Old-1") || r.Changes[1].Modification.Vals[0] != unicodePwd("New-1") {
		t.Fatalf("change sent %+v", c.reqs)
	}
	for opts, attrs := range map[ResetOptions][]string{
		{}:                               {"unicodePwd"},
		{MustChange: true}:               {"unicodePwd", "pwdLastSet"},
		{Unlock: true}:                   {"unicodePwd", "lockoutTime"},
		{MustChange: true, Unlock: true}: {"unicodePwd", "pwdLastSet", "lockoutTime"},
	} {
		c := &modifyConn{}
		if err := (activeDirectory{resetOpt: opts}).reset(c, "CN=a", "New-1"); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ch := range c.reqs[0].Changes {
			if ch.Operation != goldap.ReplaceAttribute {
				t.Fatalf("%+v: not a replace: %+v", opts, ch)
			}
			got = append(got, ch.Modification.Type)
			if ch.Modification.Type != "unicodePwd" && ch.Modification.Vals[0] != "0" {
				t.Fatalf("%+v: %s = %q, want 0", opts, ch.Modification.Type, ch.Modification.Vals[0])
			}
		}
		if len(c.reqs) != 1 || strings.Join(got, ",") != strings.Join(attrs, ",") {
			t.Fatalf("%+v: reset sent %v in %d requests, want %v in one", opts, got, len(c.reqs), attrs)
		}
	}
	// A password that is not UTF-8 has no UTF-16 form: refused, nothing sent.
	c = &modifyConn{}
	if err := (activeDirectory{}).reset(c, "CN=a", "bad\xff"); password.ErrorCode(err) != password.EINVALID || len(c.reqs) != 0 {
		t.Fatalf("reset to invalid UTF-8: %v, %d requests", err, len(c.reqs))
	}
	if err := (activeDirectory{}).change(c, "CN=a", "old\xff", "New-1"); !goldap.IsErrorWithCode(err, 19) || len(c.reqs) != 0 {
		t.Fatalf("change from invalid UTF-8: %v, %d requests", err, len(c.reqs))
	}
}

func TestADConfig(t *testing.T) {
	t.Parallel()
	ok := Config{Dialect: ActiveDirectory, URL: "ldaps://dc1.example.test", BindDN: "CN=svc,DC=x", BindPassword: "pw",
		UserSearch: &UserSearch{Base: "OU=People,DC=x"}}
	d, err := New(ok)
	if err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	if d.cfg.NameAttribute != SAMAccountName || d.cfg.UserSearch.Filter != "(&(objectCategory=person)(objectClass=user)(sAMAccountName=%s))" ||
		d.pageSize != DefaultADPageSize || d.listFilt != "(&(objectCategory=person)(objectClass=user)(sAMAccountName=*))" {
		t.Fatalf("defaults: %+v, page %d, list %s", d.cfg, d.pageSize, d.listFilt)
	}
	if ok.UserSearch.Filter != "" {
		t.Fatal("New changed the caller's UserSearch")
	}
	g := ok
	g.ListGroup = "CN=hpc (all)*,OU=Groups,DC=x"
	g.NameAttribute = UserPrincipalName
	if d, err := New(g); err != nil || d.listFilt != `(&(&(objectCategory=person)(objectClass=user)(userPrincipalName=*))(memberOf:1.2.840.113556.1.4.1941:=CN=hpc \28all\29\2a,OU=Groups,DC=x))` {
		t.Fatalf("list_group: %v %q", err, d.listFilt)
	}
	st := ok
	st.URL, st.StartTLS = "ldap://dc1.example.test", true
	if _, err := New(st); err != nil {
		t.Fatalf("StartTLS refused: %v", err)
	}
	yes := true
	bad := map[string]func(c *Config){
		"PlainURL":       func(c *Config) { c.URL = "ldap://dc1" },
		"InsecurePlain":  func(c *Config) { c.URL, c.InsecurePlain = "ldap://dc1", true },
		"NameAttribute":  func(c *Config) { c.NameAttribute = "uid" },
		"NoSearch":       func(c *Config) { c.UserSearch = nil },
		"Template":       func(c *Config) { c.UserSearch, c.UserDNTemplate = nil, "CN=%s,DC=x" },
		"Exop":           func(c *Config) { c.UseExop = &yes },
		"PasswordAttr":   func(c *Config) { c.PasswordAttribute = "userPassword" },
		"ShadowLast":     func(c *Config) { c.ShadowLastChange = true },
		"NegativePage":   func(c *Config) { c.PageSize = -1 },
		"UnknownDialect": func(c *Config) { c.Dialect = "samba" },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := ok
			mutate(&c)
			if _, err := New(c); err == nil {
				t.Fatalf("accepted %v", c)
			}
		})
	}
}

func TestWithReset(t *testing.T) {
	t.Parallel()
	ad, err := New(Config{Dialect: ActiveDirectory, URL: "ldaps://dc1", BindDN: "CN=svc", BindPassword: "pw", UserSearch: &UserSearch{Base: "DC=x"}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := ad.WithReset(ResetOptions{MustChange: true})
	if err != nil || v == ad || v.pool != ad.pool || !v.dialect.(activeDirectory).resetOpt.MustChange || ad.dialect.(activeDirectory).resetOpt.MustChange {
		t.Fatalf("WithReset: %v; the view must share the pool and leave the base without options", err)
	}
	if same, err := ad.WithReset(ResetOptions{}); err != nil || same != ad {
		t.Fatalf("zero options: %v", err)
	}
	ol, err := New(Config{URL: "ldaps://x", BindDN: "cn=svc", BindPassword: "pw", UserDNTemplate: "uid=%s,dc=x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ol.WithReset(ResetOptions{Unlock: true}); err == nil {
		t.Fatal("OpenLDAP accepted reset options")
	}
}

func TestADEntry(t *testing.T) {
	t.Parallel()
	// S-1-5-21-1-2-3-1105
	sid := []byte{1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0x51, 0x04, 0, 0}
	e := goldap.NewEntry("CN=alice,OU=People,DC=x", map[string][]string{
		"sAMAccountName": {"alice"}, "objectSid": {string(sid)}, "primaryGroupID": {"513"},
		"whenCreated": {"20261129165630.0Z"}, "pwdLastSet": {"134404449899523220"},
		"msDS-User-Account-Control-Computed": {"16"},
	})
	u := activeDirectory{nameAttr: SAMAccountName}.user(e)
	if u.Name != "alice" || u.ID != "1105" || u.GroupID != "513" || !u.Locked ||
		!u.Created.Equal(time.Date(2026, 11, 29, 16, 56, 30, 0, time.UTC)) ||
		u.PasswordChangedAt.Year() != 2026 || u.PasswordChangedAt.Month() != 11 {
		t.Fatalf("user = %+v", u)
	}
	e = goldap.NewEntry("CN=bob,DC=x", map[string][]string{"sAMAccountName": {"bob"}, "uidNumber": {"30001"}, "gidNumber": {"100"},
		"pwdLastSet": {"0"}, "msDS-User-Account-Control-Computed": {"0"}})
	if u := (activeDirectory{nameAttr: SAMAccountName}).user(e); u.ID != "30001" || u.GroupID != "100" || u.Locked || !u.PasswordChangedAt.IsZero() {
		t.Fatalf("RFC 2307 user, must change = %+v", u)
	}
	if got := sidRID([]byte{1, 2, 0}); got != "" {
		t.Fatalf("sidRID of a short SID = %q", got)
	}
}
