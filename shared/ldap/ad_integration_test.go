package ldap

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/ldap/ldaptest"
	"chpass/shared/password"
	"chpass/shared/password/directorytest"
)

// The Active Directory dialect against the throwaway Samba AD domain that
// testdata/samba.sh provisions. The adapter always runs as the delegated
// service account (a plain Domain User with Reset Password on OU=People),
// never as Administrator, which only fixtures use.

// adEnv is the test domain, with the adapter configurations under test.
type adEnv struct{ ldaptest.ADEnv }

func requireAD(tb testing.TB) adEnv {
	tb.Helper()
	return adEnv{ldaptest.RequireAD(tb)}
}

// ldaps finds users by sAMAccountName under OU=People, over ldaps://.
func (e adEnv) ldaps() Config {
	return Config{
		Dialect: ActiveDirectory, URL: e.URL, CAFile: e.CA, BindDN: e.ServiceDN, BindPassword: e.ServicePassword,
		UserSearch: &UserSearch{Base: e.People},
	}
}

// startTLSUPN finds users by userPrincipalName, over ldap:// with StartTLS.
func (e adEnv) startTLSUPN() Config {
	return Config{
		Dialect: ActiveDirectory, URL: e.StartTLSURL, StartTLS: true, CAFile: e.CA,
		BindDN: e.ServiceDN, BindPassword: e.ServicePassword,
		UserSearch: &UserSearch{Base: e.People}, NameAttribute: UserPrincipalName,
	}
}

// upn returns accounts named by their userPrincipalName.
func upn(us []directorytest.Account) []directorytest.Account {
	out := slices.Clone(us)
	for i := range out {
		out[i].Name += "@example.test"
	}
	return out
}

func TestADContractLDAPS(t *testing.T) {
	e := requireAD(t)
	d := newDirectory(t, e.ldaps())
	directorytest.Run(t, func(t *testing.T) directorytest.Fixture {
		return directorytest.Fixture{
			Directory:   d,
			Users:       e.FreshUsers(t, 4),
			History:     3, // pwdHistoryLength 4 counts the current password
			MaxFailures: 5, // lockoutThreshold
		}
	})
}

func TestADContractStartTLSUserPrincipalName(t *testing.T) {
	e := requireAD(t)
	d := newDirectory(t, e.startTLSUPN())
	directorytest.Run(t, func(t *testing.T) directorytest.Fixture {
		return directorytest.Fixture{Directory: d, Users: upn(e.FreshUsers(t, 4)), History: 3, MaxFailures: 5}
	})
}

// TestADPlainRefused: Active Directory writes passwords only over an encrypted
// connection, so a configuration without one is refused at start, saying so.
func TestADPlainRefused(t *testing.T) {
	e := requireAD(t)
	cfg := e.ldaps()
	cfg.URL = e.StartTLSURL
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), "url: Active Directory changes passwords only over an encrypted connection") {
		t.Fatalf("ldap:// without start_tls: %v", err)
	}
	cfg.InsecurePlain = true
	_, err = New(cfg)
	if err == nil || !strings.Contains(err.Error(), "insecure_plain: Active Directory refuses password changes over a plain connection") {
		t.Fatalf("insecure_plain: %v", err)
	}
	// What Samba answers on a plain connection, which the adapter never opens.
	c, err := goldap.DialURL(e.StartTLSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(e.ServiceDN, e.ServicePassword); err == nil || !goldap.IsErrorWithCode(err, goldap.LDAPResultStrongAuthRequired) {
		t.Fatalf("a plain bind: %v, want 8 \"Transport encryption required\"", err)
	}
}

// TestADExpiredPasswordChanges: a user whose password has expired cannot bind
// (data 532), yet changes it through self-service with the old password.
func TestADExpiredPasswordChanges(t *testing.T) {
	e := requireAD(t)
	d := newDirectory(t, e.ldaps())
	ctx := context.Background()
	u := e.Expired(t)
	if err := e.Bind(t, u.Name, u.Password); err == nil || !strings.Contains(err.Error(), "data 532") {
		t.Fatalf("bind of an expired user: %v, want data 532", err)
	}
	// The old password stays the proof: a wrong one is refused, and nothing changes.
	if err := d.ChangePassword(ctx, u.Name, u.Password+"x", "Expired-New-1x"); password.ErrorCode(err) != password.EUNAUTHORIZED {
		t.Fatalf("wrong old password: %v", err)
	}
	if err := d.ChangePassword(ctx, u.Name, u.Password, "Expired-New-1x"); err != nil {
		t.Fatalf("change of an expired password: %v", err)
	}
	if err := e.Bind(t, u.Name, "Expired-New-1x"); err != nil {
		t.Fatalf("bind with the new password: %v", err)
	}
	if err := e.Bind(t, u.Name, u.Password); err == nil {
		t.Fatal("the expired password still binds")
	}
}

// TestADMustChangePasswordChanges: a user who must change the password at next
// logon (pwdLastSet=0) cannot bind (data 773), yet changes it through
// self-service; the history still applies.
func TestADMustChangePasswordChanges(t *testing.T) {
	e := requireAD(t)
	d := newDirectory(t, e.startTLSUPN())
	ctx := context.Background()
	u := e.FreshUsers(t, 1)[0]
	e.Modify(t, u.Name, "pwdLastSet", "0")
	if err := e.Bind(t, u.Name, u.Password); err == nil || !strings.Contains(err.Error(), "data 773") {
		t.Fatalf("bind of a must-change user: %v, want data 773", err)
	}
	name := u.Name + "@example.test"
	if err := d.ChangePassword(ctx, name, u.Password+"x", "Must-New-1x"); password.ErrorCode(err) != password.EUNAUTHORIZED {
		t.Fatalf("wrong old password: %v", err)
	}
	err := d.ChangePassword(ctx, name, u.Password, u.Password)
	if vs := password.ErrorViolations(err); len(vs) != 1 || vs[0].Rule != password.RuleReusePrevention {
		t.Fatalf("the current password again: %v %+v, want %s", err, vs, password.RuleReusePrevention)
	}
	if err := d.ChangePassword(ctx, name, u.Password, "Must-New-1x"); err != nil {
		t.Fatalf("change of a must-change password: %v", err)
	}
	if err := e.Bind(t, u.Name, "Must-New-1x"); err != nil {
		t.Fatalf("bind with the new password: %v", err)
	}
	if e.Attr(t, u.Name, "pwdLastSet") == "0" {
		t.Fatal("pwdLastSet is still 0")
	}
}

// TestADRefusals: every refusal Samba gives, through the adapter, as the domain
// errors OpenLDAP's give.
func TestADRefusals(t *testing.T) {
	e := requireAD(t)
	d := newDirectory(t, e.ldaps())
	domainWide := e.ldaps()
	domainWide.UserSearch = &UserSearch{Base: e.Base}
	wide := newDirectory(t, domainWide)
	ctx := context.Background()
	svc := func(t *testing.T) *goldap.Conn {
		c := e.Conn(t)
		t.Cleanup(func() { c.Close() })
		if err := c.Bind(e.ServiceDN, e.ServicePassword); err != nil {
			t.Fatal(err)
		}
		return c
	}
	ad := activeDirectory{nameAttr: SAMAccountName}
	cases := []struct {
		name, group string
		run         func(t *testing.T, u directorytest.Account) error
		code, rule  string
	}{
		{"TooShort0000052D", "", func(t *testing.T, u directorytest.Account) error {
			return d.ChangePassword(ctx, u.Name, u.Password, "Sh0rt!")
		}, password.EPOLICY, password.RuleMinLength},
		{"TooShortOnReset0000052D", "", func(t *testing.T, u directorytest.Account) error {
			return d.ResetPassword(ctx, u.Name, "Sh0rt!")
		}, password.EPOLICY, password.RuleMinLength},
		{"Complexity0000052D", "chpass-complex", func(t *testing.T, u directorytest.Account) error {
			return d.ChangePassword(ctx, u.Name, u.Password, "onlylowercaseletters")
		}, password.EPOLICY, password.RuleDirectoryQuality},
		{"ComplexityOnReset0000052D", "chpass-complex", func(t *testing.T, u directorytest.Account) error {
			return d.ResetPassword(ctx, u.Name, "onlylowercaseletters")
		}, password.EPOLICY, password.RuleDirectoryQuality},
		{"History0000052D", "", func(t *testing.T, u directorytest.Account) error {
			return d.ChangePassword(ctx, u.Name, u.Password, u.Password)
		}, password.EPOLICY, password.RuleReusePrevention},
		{"ResetIgnoresHistory", "", func(t *testing.T, u directorytest.Account) error {
			return d.ResetPassword(ctx, u.Name, u.Password)
		}, "", ""},
		{"MinimumAge0000052D", "chpass-min-age", func(t *testing.T, u directorytest.Account) error {
			return d.ChangePassword(ctx, u.Name, u.Password, "Young-Pass-1x")
		}, password.EPOLICY, password.RuleMinAge},
		{"WrongOldPassword00000056", "", func(t *testing.T, u directorytest.Account) error {
			// Through the adapter a wrong old password fails the bind first
			// (52e); this is AD's answer to the Modify itself.
			err := ad.change(svc(t), e.UserDN(u.Name), u.Password+"x", "Other-Pass-1x")
			if !strings.HasPrefix(errString(errorsInner(err)), "00000056") {
				t.Fatalf("Samba answered %v, want 00000056", err)
			}
			return ad.domainError("test", selfService, err)
		}, password.EUNAUTHORIZED, ""},
		{"WrongPassword52e", "", func(t *testing.T, u directorytest.Account) error {
			return d.ChangePassword(ctx, u.Name, u.Password+"x", "Other-Pass-1x")
		}, password.EUNAUTHORIZED, ""},
		{"Locked775", "", func(t *testing.T, u directorytest.Account) error {
			for range 5 {
				_ = e.Bind(t, u.Name, "Wrong-Pass-0")
			}
			return d.ChangePassword(ctx, u.Name, u.Password, "Locked-Pass-1x")
		}, password.ELOCKED, ""},
		{"LockedChange00000775", "", func(t *testing.T, u directorytest.Account) error {
			for range 5 {
				_ = e.Bind(t, u.Name, "Wrong-Pass-0")
			}
			err := ad.change(svc(t), e.UserDN(u.Name), u.Password, "Locked-Pass-1x")
			if !strings.HasPrefix(errString(errorsInner(err)), "00000775") {
				t.Fatalf("Samba answered %v, want 00000775", err)
			}
			return ad.domainError("test", selfService, err)
		}, password.ELOCKED, ""},
		{"Disabled533", "", func(t *testing.T, u directorytest.Account) error {
			e.Modify(t, u.Name, "userAccountControl", "514")
			if err := e.Bind(t, u.Name, u.Password); err == nil || !strings.Contains(err.Error(), "data 533") {
				t.Fatalf("bind of a disabled user: %v, want data 533", err)
			}
			return d.ChangePassword(ctx, u.Name, u.Password, "Disabled-Pass-1x")
		}, password.EFORBIDDEN, ""},
		{"DisabledWrongPassword52e", "", func(t *testing.T, u directorytest.Account) error {
			e.Modify(t, u.Name, "userAccountControl", "514")
			return d.ChangePassword(ctx, u.Name, u.Password+"x", "Disabled-Pass-1x")
		}, password.EUNAUTHORIZED, ""},
		{"InsufficientAccess", "", func(t *testing.T, u directorytest.Account) error {
			// Administrator is outside the service account's OU, and protected.
			return wide.ResetPassword(ctx, "Administrator", "Admin-Reset-1x")
		}, password.EFORBIDDEN, ""},
		{"Anonymous00002020", "", func(t *testing.T, u directorytest.Account) error {
			c := e.Conn(t)
			defer c.Close()
			err := ad.change(c, e.UserDN(u.Name), u.Password, "Anon-Pass-1x")
			if !strings.HasPrefix(errString(errorsInner(err)), "00002020") {
				t.Fatalf("Samba answered %v, want 00002020", err)
			}
			return ad.domainError("test", selfService, err)
		}, password.EINTERNAL, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var groups []string
			if tc.group != "" {
				groups = append(groups, tc.group)
			}
			u := e.FreshUsers(t, 1, groups...)[0]
			err := tc.run(t, u)
			if got := password.ErrorCode(err); got != tc.code {
				t.Fatalf("got %q (%v), want %q", got, err, tc.code)
			}
			if tc.rule != "" {
				vs := password.ErrorViolations(err)
				if len(vs) != 1 || vs[0].Rule != tc.rule {
					t.Fatalf("violations %+v, want exactly %q", vs, tc.rule)
				}
			}
		})
	}
}

// errorsInner returns the diagnostic of an *ldap.Error, or err.
func errorsInner(err error) error {
	if le, ok := err.(*goldap.Error); ok && le.Err != nil {
		return le.Err
	}
	return err
}

// TestADResetOptions: a reset may also set "must change at next logon" and
// unlock the account, in the same Modify; by default it does neither.
func TestADResetOptions(t *testing.T) {
	e := requireAD(t)
	base := newDirectory(t, e.ldaps())
	ctx := context.Background()
	lock := func(t *testing.T, name string) {
		for range 5 {
			_ = e.Bind(t, name, "Wrong-Pass-0")
		}
		if err := e.Bind(t, name, "Wrong-Pass-0"); err == nil || !strings.Contains(err.Error(), "data 775") {
			t.Fatalf("not locked: %v", err)
		}
	}
	t.Run("Default", func(t *testing.T) {
		u := e.FreshUsers(t, 1)[0]
		lock(t, u.Name)
		if err := base.ResetPassword(ctx, u.Name, "Reset-Pass-1x"); err != nil {
			t.Fatal(err)
		}
		if err := e.Bind(t, u.Name, "Reset-Pass-1x"); err == nil || !strings.Contains(err.Error(), "data 775") {
			t.Fatalf("bind after a plain reset: %v, want still locked (775)", err)
		}
		if got := e.Attr(t, u.Name, "pwdLastSet"); got == "0" {
			t.Fatal("a plain reset set pwdLastSet to 0")
		}
	})
	t.Run("MustChangeAndUnlock", func(t *testing.T) {
		d, err := base.WithReset(ResetOptions{MustChange: true, Unlock: true})
		if err != nil {
			t.Fatal(err)
		}
		u := e.FreshUsers(t, 1)[0]
		lock(t, u.Name)
		if err := d.ResetPassword(ctx, u.Name, "Reset-Pass-1x"); err != nil {
			t.Fatal(err)
		}
		// 773 comes only for the right password of an account that is not locked.
		if err := e.Bind(t, u.Name, "Reset-Pass-1x"); err == nil || !strings.Contains(err.Error(), "data 773") {
			t.Fatalf("bind after the reset: %v, want must change (773)", err)
		}
		// And the user can then change it through self-service.
		if err := d.ChangePassword(ctx, u.Name, "Reset-Pass-1x", "Own-Pass-2x"); err != nil {
			t.Fatal(err)
		}
		if err := e.Bind(t, u.Name, "Own-Pass-2x"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("UnlockOnly", func(t *testing.T) {
		d, err := base.WithReset(ResetOptions{Unlock: true})
		if err != nil {
			t.Fatal(err)
		}
		u := e.FreshUsers(t, 1)[0]
		lock(t, u.Name)
		if err := d.ResetPassword(ctx, u.Name, "Reset-Pass-1x"); err != nil {
			t.Fatal(err)
		}
		if err := e.Bind(t, u.Name, "Reset-Pass-1x"); err != nil {
			t.Fatalf("bind after an unlocking reset: %v", err)
		}
	})
}

// TestADListUsers lists the members of a group, nested ones included, in
// pages smaller than the list; and every user of the OU.
func TestADListUsers(t *testing.T) {
	e := requireAD(t)
	ctx := context.Background()
	cfg := e.ldaps()
	cfg.ListGroup = e.GroupDN("chpass-list-outer") // holds chpass-list, which holds the batch users
	cfg.PageSize = 7
	d := newDirectory(t, cfg)
	all, total, err := d.ListUsers(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if total != e.BatchUsers || len(all) != total {
		t.Fatalf("ListUsers of the group: %d of %d, want the %d batch users", len(all), total, e.BatchUsers)
	}
	for i, u := range all {
		if want := fmt.Sprintf("batch%03d", i+1); u.Name != want || u.ID == "" || u.GroupID != "513" || u.Created.IsZero() {
			t.Fatalf("user %d = %+v, want %s with an id, group 513 (Domain Users) and a creation time", i, u, want)
		}
	}
	page, total2, err := d.ListUsers(ctx, 10, 25)
	if err != nil || total2 != total || len(page) != 25 || page[0].Name != "batch011" || page[24].Name != "batch035" {
		t.Fatalf("page 10+25: %d of %d, %v", len(page), total2, err)
	}

	fresh := e.FreshUsers(t, 1)[0]
	cfg = e.ldaps()
	cfg.PageSize = 9
	everyone, n, err := newDirectory(t, cfg).ListUsers(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n < e.BatchUsers+10 || !slices.ContainsFunc(everyone, func(u password.User) bool { return u.Name == fresh.Name }) {
		t.Fatalf("ListUsers of OU=People: %d users, want the batch, the expired and %s", n, fresh.Name)
	}
}

// TestADLookupUser reads an AD entry: RID, primary group, times, lockout.
func TestADLookupUser(t *testing.T) {
	e := requireAD(t)
	d := newDirectory(t, e.ldaps())
	ctx := context.Background()
	u := e.FreshUsers(t, 1)[0]
	got, err := d.LookupUser(ctx, u.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != u.Name || got.ID == "" || got.GroupID != "513" || got.Locked ||
		time.Since(got.Created) > time.Hour || time.Since(got.PasswordChangedAt) > time.Hour {
		t.Fatalf("LookupUser = %+v", got)
	}
	for range 5 {
		_ = d.ChangePassword(ctx, u.Name, "Wrong-Pass-0", "Never-Set-1x")
	}
	if got, err := d.LookupUser(ctx, u.Name); err != nil || !got.Locked {
		t.Fatalf("LookupUser after 5 wrong passwords = %+v, %v; want locked", got, err)
	}
}

// TestADNoPasswordInErrors: no refusal, on any path, shows a password.
func TestADNoPasswordInErrors(t *testing.T) {
	e := requireAD(t)
	ctx := context.Background()
	const canary = "Canary-7f3a9-Pass"
	d := newDirectory(t, e.ldaps())
	u := e.FreshUsers(t, 1)[0]
	young := e.FreshUsers(t, 1, "chpass-min-age")[0]
	complex := e.FreshUsers(t, 1, "chpass-complex")[0]
	must := e.FreshUsers(t, 1)[0]
	e.Modify(t, must.Name, "pwdLastSet", "0")
	errs := []error{
		d.ChangePassword(ctx, u.Name, canary+"-old", canary+"-new"),
		d.ChangePassword(ctx, u.Name, u.Password, "C4n!"),
		d.ChangePassword(ctx, u.Name, u.Password, u.Password),
		d.ChangePassword(ctx, u.Name+"-nobody", canary+"-old", canary+"-new"),
		d.ChangePassword(ctx, young.Name, young.Password, canary+"-young"),
		d.ChangePassword(ctx, complex.Name, complex.Password, "canarylowercase"),
		d.ChangePassword(ctx, must.Name, must.Password, "C4n!"),
		d.ChangePassword(ctx, must.Name, must.Password+canary, canary+"-must"),
		d.ResetPassword(ctx, u.Name, "C4n!"),
		d.ResetPassword(ctx, u.Name+"-nobody", canary+"-reset"),
		d.ChangePassword(ctx, u.Name, u.Password, "bad \xff utf8 "+canary),
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), password.ErrorMessage(err)} {
			for _, pw := range []string{canary, "C4n!", "canarylowercase", u.Password, must.Password, young.Password, complex.Password} {
				if strings.Contains(s, pw) {
					t.Errorf("case %d: the error shows a password: %s", i, s)
				}
			}
		}
	}
}

// TestADHostileNames: names that a careless adapter would let match, or name,
// some other entry, among them the victim's own DN, touch no entry, whether
// users are found by sAMAccountName or userPrincipalName.
func TestADHostileNames(t *testing.T) {
	e := requireAD(t)
	ctx := context.Background()
	for name, cfg := range map[string]Config{"sAMAccountName": e.ldaps(), "userPrincipalName": e.startTLSUPN()} {
		t.Run(name, func(t *testing.T) {
			d := newDirectory(t, cfg)
			v := e.FreshUsers(t, 1)[0]
			before := e.Attr(t, v.Name, "pwdLastSet")
			dn := e.UserDN(v.Name)
			for _, n := range []string{
				"*", "*)(", ")(", "\\", "\x00", v.Name + "\x00", dn, strings.ToLower(dn), "CN=" + v.Name, v.Name + "*", "*" + v.Name[1:],
				v.Name + ")(sAMAccountName=*", "*)(objectClass=*", v.Name + "@*", "*@example.test", v.Name + "@example.test)(|(cn=*",
				"\\2a", v.Name[:1] + "\\2a", "Administrator)(|(x=", "krbtgt*", v.Name + ",OU=People", "<SID=S-1-5-21>",
			} {
				if err := d.ChangePassword(ctx, n, v.Password, "Hostile-Pass-1x"); password.ErrorCode(err) != password.EUNAUTHORIZED {
					t.Fatalf("change of %q: %v", n, err)
				}
				if err := d.ResetPassword(ctx, n, "Hostile-Pass-2x"); password.ErrorCode(err) != password.ENOTFOUND {
					t.Fatalf("reset of %q: %v", n, err)
				}
				if u, err := d.LookupUser(ctx, n); password.ErrorCode(err) != password.ENOTFOUND || u != nil {
					t.Fatalf("lookup of %q: %+v, %v", n, u, err)
				}
			}
			if err := e.Bind(t, v.Name, v.Password); err != nil {
				t.Fatalf("the victim no longer binds: %v", err)
			}
			if after := e.Attr(t, v.Name, "pwdLastSet"); after != before {
				t.Fatalf("the victim's pwdLastSet changed: %s -> %s", before, after)
			}
		})
	}
}

// TestADPoolProbe: an idle pooled connection is probed before reuse; Samba does
// not implement Who am I?, so the AD dialect probes with a root DSE search, and
// a healthy connection is kept rather than dialled anew.
func TestADPoolProbe(t *testing.T) {
	e := requireAD(t)
	d := newDirectory(t, e.ldaps())
	var dials int
	dial := d.dialFn
	d.dialFn = func(ctx context.Context) (conn, error) { dials++; return dial(ctx) }
	d.pool.checkIdle = 0 // probe every reuse
	u := e.FreshUsers(t, 1)[0]
	for range 3 {
		if _, err := d.LookupUser(context.Background(), u.Name); err != nil {
			t.Fatal(err)
		}
	}
	if dials != 1 {
		t.Fatalf("%d dials for 3 lookups: the probe failed on a healthy connection", dials)
	}
}

// TestADPasswordChangedSince: on Samba, the check that reconciles a batch's
// interrupted reset tells a reset made after the intent (with and without
// "must change at next logon", which zeroes pwdLastSet) from one never made,
// answers for an unknown user, and counts no failed logon: badPwdCount stays 0
// through many checks (it is read as Administrator, and would rise by one for
// each wrong bind as the user). HoldsPassword refuses on AD without a search.
func TestADPasswordChangedSince(t *testing.T) {
	e := requireAD(t)
	base := newDirectory(t, e.ldaps())
	mustChange, err := base.WithReset(ResetOptions{MustChange: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	us := e.FreshUsers(t, 3)
	// DSTIME has whole seconds, and a write counts only a second after the
	// intent: leave the fixtures' own writes two seconds behind.
	time.Sleep(2 * time.Second)
	tests := []struct {
		name  string
		reset *Directory // nil: the reset never happens
		want  bool
	}{
		{"ResetCompleted", base, true},
		{"NeverCompleted", nil, false},
		{"MustChangeReset", mustChange, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := us[i]
			since := time.Now() // the intent's recorded time
			if tt.reset != nil {
				// DSTIME and currentTime are whole seconds: a write is proven after since
				// only when it comes at least two seconds later (one for each truncation).
				time.Sleep(2100 * time.Millisecond)
				if err := tt.reset.ResetPassword(ctx, u.Name, "Batch-Reset-9x"); err != nil {
					t.Fatal(err)
				}
			}
			for range 10 {
				got, err := base.PasswordChangedSince(ctx, u.Name, since)
				if err != nil || got != tt.want {
					t.Fatalf("PasswordChangedSince = %v, %v; want %v", got, err, tt.want)
				}
			}
			if tt.reset == mustChange {
				if got := e.Attr(t, u.Name, "pwdLastSet"); got != "0" {
					t.Fatalf("pwdLastSet = %s after a must-change reset, want 0", got)
				}
			}
			if got := e.Attr(t, u.Name, "badPwdCount"); got != "0" {
				t.Fatalf("badPwdCount = %q after the checks, want 0", got)
			}
			// Before the fixture's own password was set, the password changed since.
			if got, err := base.PasswordChangedSince(ctx, u.Name, since.Add(-time.Hour)); err != nil || !got {
				t.Fatalf("since an hour ago: %v, %v", got, err)
			}
		})
	}
	t.Run("UnknownUser", func(t *testing.T) {
		_, err := base.PasswordChangedSince(ctx, "nobody-"+us[0].Name, time.Now())
		if password.ErrorCode(err) != password.ENOTFOUND {
			t.Fatalf("unknown user: %v", err)
		}
	})
	t.Run("HoldsPasswordRefuses", func(t *testing.T) {
		_, err := base.HoldsPassword(ctx, us[0].Name, us[0].Password)
		if password.ErrorCode(err) != password.EFORBIDDEN {
			t.Fatalf("HoldsPassword on AD: %v, want EFORBIDDEN", err)
		}
	})
}

// TestADBatchFindsUsersInBulk: on Active Directory too, a batch finds its
// users 25 at a time (by sAMAccountName or userPrincipalName, under the
// default user filter), resets each one's own password without another
// search, leaves another spelling to its own lookup (not found), and applies
// a cluster's reset options (must change at next logon) through the view.
func TestADBatchFindsUsersInBulk(t *testing.T) {
	e := requireAD(t)
	fresh := e.FreshUsers(t, 31) // the first is not in the batch: another spelling of its name is
	for _, tt := range []struct {
		name  string
		cfg   Config
		users []directorytest.Account
	}{
		{"SAMAccountName", e.ldaps(), fresh},
		{"UserPrincipalName", e.startTLSUPN(), upn(fresh)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := newDirectory(t, tt.cfg)
			d, err := base.WithReset(ResetOptions{MustChange: true})
			if err != nil {
				t.Fatal(err)
			}
			searches := countSearches(base) // d shares base's connections
			d.dialFn = base.dialFn
			stray := strings.ToUpper(tt.users[0].Name)
			entries := []password.ResetRequest{{Name: stray, Password: "Ad-Stray-1x!"}}
			for i, u := range tt.users[1:] {
				entries = append(entries, password.ResetRequest{Name: u.Name, Password: fmt.Sprintf("Ad-Bulk-%s-%02d!", tt.name[:3], i)})
			}
			results := password.NewService(password.DefaultPolicy(), d).ResetAll(context.Background(), entries, 8)
			if code := password.ErrorCode(results[0].Err); code != password.ENOTFOUND {
				t.Fatalf("reset of %s: code %q (%v), want ENOTFOUND", stray, code, results[0].Err)
			}
			for _, r := range results[1:] {
				if r.Err != nil {
					t.Fatalf("%s: %v", r.Name, r.Err)
				}
			}
			// Two bulk searches for 31 names, and one lookup for the stray.
			// (A batch holding both spellings would leave both to their
			// lookups; CheckBatch refuses such a batch.)
			if n := searches.Load(); n != 3 {
				t.Fatalf("a batch of %d names sent %d searches, want 3", len(entries), n)
			}
			for _, u := range fresh[1:] {
				if got := e.Attr(t, u.Name, "pwdLastSet"); got != "0" {
					t.Fatalf("%s: pwdLastSet %s after a reset with MustChange, want 0", u.Name, got)
				}
			}
		})
	}
}
