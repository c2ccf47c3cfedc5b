// Package directorytest is the contract suite of password.Directory: the same
// tests, run against every implementation (the embedded store, OpenLDAP, ...).
package directorytest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chpass/shared/password"
)

// Account is a user of a fixture and its current password.
type Account struct {
	Name     string
	Password string
}

// Fixture is a directory prepared for one test.
type Fixture struct {
	// Directory is the implementation under test.
	Directory password.Directory
	// Users are at least 4 accounts of Directory that no other test touches:
	// not locked, with no failed attempts and no password history beyond the
	// current Password.
	Users []Account
	// History is how many previous passwords (at least 1) the directory refuses
	// on a change.
	History int
	// MaxFailures is how many wrong passwords in a row lock an account.
	MaxFailures int
}

// Run runs the contract suite. newFixture is called once per test and must give
// fresh users each time; it may call t.Cleanup.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	fixture := func(t *testing.T) Fixture {
		t.Helper()
		f := newFixture(t)
		if len(f.Users) < 4 {
			t.Fatalf("directorytest: the fixture has %d users, want at least 4", len(f.Users))
		}
		if f.History < 1 || f.MaxFailures < 1 {
			t.Fatalf("directorytest: the fixture needs History and MaxFailures of at least 1, has %d and %d", f.History, f.MaxFailures)
		}
		return f
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, f Fixture)
	}{
		{"ChangePassword", testChange},
		{"ResetPassword", testReset},
		{"LookupUser", testLookup},
		{"WrongOldPassword", testWrongOld},
		{"UnknownUser", testUnknown},
		{"History", testHistory},
		{"Lockout", testLockout},
		{"HostileNames", testHostileNames},
		{"OtherSpellings", testOtherSpellings},
		{"SpecialPasswords", testSpecialPasswords},
		{"Concurrency", testConcurrency},
		{"Batch", testBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, fixture(t))
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantCode fails t unless err carries one of codes ("" for nil).
func wantCode(t *testing.T, what string, err error, codes ...string) {
	t.Helper()
	if got := password.ErrorCode(err); !slices.Contains(codes, got) {
		t.Fatalf("%s: got code %q (%v), want %q", what, got, err, codes)
	}
}

// canLogIn proves that name's password is pw, the only way the port allows: by
// changing it to next with pw as the old password.
func canLogIn(t *testing.T, d password.Directory, name, pw, next string) {
	t.Helper()
	if err := d.ChangePassword(ctx(t), name, pw, next); err != nil {
		t.Fatalf("%s can no longer log in with the password it had: %v", name, err)
	}
}

func testChange(t *testing.T, f Fixture) {
	d, u := f.Directory, f.Users[0]
	c := ctx(t)
	wantCode(t, "change", d.ChangePassword(c, u.Name, u.Password, "Changed-Pass-1"), "")
	wantCode(t, "change with the replaced password", d.ChangePassword(c, u.Name, u.Password, "Changed-Pass-2"), password.EUNAUTHORIZED)
	wantCode(t, "change with the new password", d.ChangePassword(c, u.Name, "Changed-Pass-1", "Changed-Pass-3"), "")
	// The other users are untouched.
	canLogIn(t, d, f.Users[1].Name, f.Users[1].Password, "Other-Pass-1")
}

func testReset(t *testing.T, f Fixture) {
	d, u := f.Directory, f.Users[0]
	c := ctx(t)
	wantCode(t, "reset", d.ResetPassword(c, u.Name, "Reset-Pass-1"), "")
	wantCode(t, "change with the password before the reset", d.ChangePassword(c, u.Name, u.Password, "Reset-Pass-2"), password.EUNAUTHORIZED)
	wantCode(t, "change with the reset password", d.ChangePassword(c, u.Name, "Reset-Pass-1", "Reset-Pass-3"), "")
	wantCode(t, "second reset", d.ResetPassword(c, u.Name, "Reset-Pass-4"), "")
	canLogIn(t, d, u.Name, "Reset-Pass-4", "Reset-Pass-5")
	canLogIn(t, d, f.Users[1].Name, f.Users[1].Password, "Other-Pass-1")
}

func testLookup(t *testing.T, f Fixture) {
	for _, u := range f.Users {
		got, err := f.Directory.LookupUser(ctx(t), u.Name)
		if err != nil {
			t.Fatalf("LookupUser(%q): %v", u.Name, err)
		}
		if got.Name != u.Name {
			t.Errorf("LookupUser(%q).Name = %q", u.Name, got.Name)
		}
		if got.Locked {
			t.Errorf("LookupUser(%q).Locked = true for a fresh user", u.Name)
		}
	}
}

func testWrongOld(t *testing.T, f Fixture) {
	d, u := f.Directory, f.Users[0]
	wantCode(t, "change with a wrong old password", d.ChangePassword(ctx(t), u.Name, u.Password+"x", "Wrong-Old-Pass-1"), password.EUNAUTHORIZED)
	wantCode(t, "change with an empty old password", d.ChangePassword(ctx(t), u.Name, "", "Wrong-Old-Pass-2"), password.EUNAUTHORIZED, password.EINVALID)
	canLogIn(t, d, u.Name, u.Password, "Wrong-Old-Pass-3")
}

func testUnknown(t *testing.T, f Fixture) {
	d := f.Directory
	name := f.Users[0].Name + "-nobody"
	wantCode(t, "change of an unknown user", d.ChangePassword(ctx(t), name, f.Users[0].Password, "Unknown-Pass-1"), password.EUNAUTHORIZED)
	wantCode(t, "reset of an unknown user", d.ResetPassword(ctx(t), name, "Unknown-Pass-2"), password.ENOTFOUND)
	_, err := d.LookupUser(ctx(t), name)
	wantCode(t, "lookup of an unknown user", err, password.ENOTFOUND)
	_, err = d.LookupUser(ctx(t), "")
	wantCode(t, "lookup of the empty name", err, password.ENOTFOUND, password.EINVALID)
}

func testHistory(t *testing.T, f Fixture) {
	d, u := f.Directory, f.Users[0]
	c := ctx(t)
	// Unchanged: the current password again.
	err := d.ChangePassword(c, u.Name, u.Password, u.Password)
	wantRule(t, "change to the current password", err, password.RuleReusePrevention)

	// Previous passwords, as deep as the history goes.
	pws := []string{u.Password}
	for i := 1; i <= f.History; i++ {
		next := fmt.Sprintf("History-Pass-%d", i)
		wantCode(t, "change", d.ChangePassword(c, u.Name, pws[len(pws)-1], next), "")
		pws = append(pws, next)
	}
	cur := pws[len(pws)-1]
	for i := len(pws) - 2; i >= len(pws)-1-f.History && i >= 0; i-- {
		err := d.ChangePassword(c, u.Name, cur, pws[i])
		wantRule(t, fmt.Sprintf("change back to the password %d changes ago", len(pws)-1-i), err, password.RuleReusePrevention)
	}
	canLogIn(t, d, u.Name, cur, "History-Pass-new")
}

func wantRule(t *testing.T, what string, err error, rule string) {
	t.Helper()
	wantCode(t, what, err, password.EPOLICY)
	vs := password.ErrorViolations(err)
	if !slices.ContainsFunc(vs, func(v password.Violation) bool { return v.Rule == rule }) {
		t.Fatalf("%s: violations %+v, want rule %q", what, vs, rule)
	}
}

func testLockout(t *testing.T, f Fixture) {
	d, u := f.Directory, f.Users[0]
	c := ctx(t)
	for i := range f.MaxFailures {
		err := d.ChangePassword(c, u.Name, fmt.Sprintf("Wrong-Pass-%d", i), "Lockout-Pass-1")
		wantCode(t, fmt.Sprintf("wrong password %d", i+1), err, password.EUNAUTHORIZED, password.ELOCKED)
	}
	wantCode(t, "the right password after the lockout", d.ChangePassword(c, u.Name, u.Password, "Lockout-Pass-2"), password.ELOCKED)
	// Nobody else is locked.
	canLogIn(t, d, f.Users[1].Name, f.Users[1].Password, "Lockout-Pass-3")
}

// hostileNames are names that a careless adapter would let match, or change,
// some other entry than the one (not) called so. base is a real user.
func hostileNames(base string) []string {
	return []string{
		"*", "**", "(", ")", "\\", ",", "=", "+", "<", ">", "#", ";", "\"", "\x00",
		base + "*", "*" + base[1:], base[:1] + "*" + base[2:],
		base + ")(uid=*", base + ")(|(uid=*", "*)(uid=*", base + ")(objectClass=*", "(uid=" + base + ")",
		base + "\\", base + "\\2a", "\\2a", "\\" + fmt.Sprintf("%02x", base[0]) + base[1:],
		base + "\x00", base + "\x00*", "\x00" + base,
		base + ",ou=people", "uid=" + base, base + "+cn=x", base + "=", base + ";", base + "#", "#" + base,
		"<" + base + ">", "\"" + base + "\"", " " + base, base + " ", " " + base + " ",
		base + "\n", "\t" + base,
	}
}

func testHostileNames(t *testing.T, f Fixture) {
	d, victim := f.Directory, f.Users[0]
	for _, name := range hostileNames(victim.Name) {
		c := ctx(t) // 30 s for each name's three calls: some 130 calls in all, too many for one budget on a busy directory
		// The victim's own password: a name that found the victim would succeed.
		err := d.ChangePassword(c, name, victim.Password, "Hostile-Pass-1")
		wantCode(t, fmt.Sprintf("change of %q", name), err, password.EUNAUTHORIZED, password.EINVALID)
		err = d.ResetPassword(c, name, "Hostile-Pass-2")
		wantCode(t, fmt.Sprintf("reset of %q", name), err, password.ENOTFOUND, password.EINVALID)
		u, err := d.LookupUser(c, name)
		wantCode(t, fmt.Sprintf("lookup of %q", name), err, password.ENOTFOUND, password.EINVALID)
		if u != nil {
			t.Fatalf("lookup of %q returned %+v", name, u)
		}
	}
	// Nobody was changed, locked or reset.
	for i, u := range f.Users {
		canLogIn(t, d, u.Name, u.Password, fmt.Sprintf("After-Hostile-%d", i))
	}
}

// OtherSpellings are names that differ from name, a real user's, but that a
// directory's own matching may take for it: other cases, Unicode compatibility
// forms (fullwidth), and characters that LDAP string preparation maps to
// nothing or folds.
func OtherSpellings(name string) []string {
	fullwidth := []rune(name)
	for i, r := range fullwidth {
		if r > ' ' && r < 0x7f {
			fullwidth[i] = r - 0x21 + 0xff01
		}
	}
	return []string{
		strings.ToUpper(name),
		strings.ToUpper(name[:1]) + name[1:],
		string(fullwidth),
		string(fullwidth[:1]) + name[1:],
		name[:1] + "\u00ad" + name[1:], // soft hyphen: mapped to nothing
		name + "\u200b",                // zero-width space: mapped to nothing
		name[:1] + "\u200d" + name[1:], // zero-width joiner
		"\ufeff" + name,                // byte order mark
	}
}

// testOtherSpellings holds the rule "one name, one person": an operation acts
// only on the account whose stored name is exactly the name asked for. Other
// spellings are unknown users, and failures through them count against no one.
func testOtherSpellings(t *testing.T, f Fixture) {
	d, victim := f.Directory, f.Users[0]
	c := ctx(t)
	for _, name := range OtherSpellings(victim.Name) {
		err := d.ChangePassword(c, name, victim.Password, "Spelling-Pass-1")
		wantCode(t, fmt.Sprintf("change of %q", name), err, password.EUNAUTHORIZED, password.EINVALID)
		err = d.ResetPassword(c, name, "Spelling-Pass-2")
		wantCode(t, fmt.Sprintf("reset of %q", name), err, password.ENOTFOUND, password.EINVALID)
		u, err := d.LookupUser(c, name)
		wantCode(t, fmt.Sprintf("lookup of %q", name), err, password.ENOTFOUND, password.EINVALID)
		if u != nil {
			t.Fatalf("lookup of %q returned %+v", name, u)
		}
	}
	// Wrong passwords through another spelling do not lock the victim.
	other := OtherSpellings(victim.Name)[0]
	for i := range f.MaxFailures + 1 {
		err := d.ChangePassword(c, other, fmt.Sprintf("Wrong-Pass-%d", i), "Spelling-Pass-3")
		wantCode(t, fmt.Sprintf("wrong password %d as %q", i+1, other), err, password.EUNAUTHORIZED)
	}
	for i, u := range f.Users {
		canLogIn(t, d, u.Name, u.Password, fmt.Sprintf("After-Spelling-%d", i))
	}
}

// SpecialPasswords are passwords that must survive every layer unchanged.
var SpecialPasswords = []string{
	"Aa1" + password.Specials,
	"with spaces in it 1A",
	"  leading and trailing  ",
	`double "quotes" 1A`,
	`single 'quotes' 1A`,
	`back\slash\\1A`,
	`\2a\00\5c star*1A`,
	"Pässwörd-中文-1",
	"emoji-🔑-Key-1",
	"ldap(uid=*)1A,cn=x+y;z<>#",
}

func testSpecialPasswords(t *testing.T, f Fixture) {
	d, u := f.Directory, f.Users[0]
	c := ctx(t)
	cur := u.Password
	for i, pw := range SpecialPasswords {
		if i%2 == 0 {
			wantCode(t, fmt.Sprintf("reset to special password %d", i), d.ResetPassword(c, u.Name, pw), "")
		} else {
			wantCode(t, fmt.Sprintf("change to special password %d", i), d.ChangePassword(c, u.Name, cur, pw), "")
		}
		// A near miss does not pass for it.
		wantCode(t, fmt.Sprintf("special password %d, truncated", i), d.ChangePassword(c, u.Name, pw[:len(pw)-1], "Never-Set-1"), password.EUNAUTHORIZED)
		cur = pw
		if i%3 == 2 {
			// Keep clear of the lockout: a success resets the failure count.
			next := fmt.Sprintf("Interlude-Pass-%d", i)
			canLogIn(t, d, u.Name, cur, next)
			cur = next
		}
	}
	canLogIn(t, d, u.Name, cur, "Special-Final-1")
}

func testConcurrency(t *testing.T, f Fixture) {
	d := f.Directory
	c := ctx(t)
	const rounds = 3
	var wg sync.WaitGroup
	errs := make(chan error, len(f.Users)*rounds*4)
	for i, u := range f.Users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cur := u.Password
			for r := range rounds {
				next := fmt.Sprintf("Conc-%d-%d-Change", i, r)
				if err := d.ChangePassword(c, u.Name, cur, next); err != nil {
					errs <- fmt.Errorf("change %s round %d: %w", u.Name, r, err)
					return
				}
				cur = next
				next = fmt.Sprintf("Conc-%d-%d-Reset", i, r)
				if err := d.ResetPassword(c, u.Name, next); err != nil {
					errs <- fmt.Errorf("reset %s round %d: %w", u.Name, r, err)
					return
				}
				cur = next
				if got, err := d.LookupUser(c, u.Name); err != nil || got.Name != u.Name {
					errs <- fmt.Errorf("lookup %s round %d: %v, %v", u.Name, r, got, err)
					return
				}
				// A wrong password from another goroutine's user never locks this one.
				if err := d.ChangePassword(c, u.Name, cur+"-wrong", "Never-Set-1"); password.ErrorCode(err) != password.EUNAUTHORIZED {
					errs <- fmt.Errorf("wrong password for %s round %d: %v", u.Name, r, err)
					return
				}
			}
			if err := d.ChangePassword(c, u.Name, cur, fmt.Sprintf("Conc-%d-Final", i)); err != nil {
				errs <- fmt.Errorf("final change %s: %w", u.Name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testBatch holds a password.BatchFinder's view to the directory's own
// answers: its users are reset, each to their own new password; names that
// hold no account (unknown, other spellings, hostile) answer as the directory
// does, and change nobody, whether they share the batch with the real names
// or not. A directory that is not a BatchFinder passes.
func testBatch(t *testing.T, f Fixture) {
	finder, ok := f.Directory.(password.BatchFinder)
	if !ok {
		t.Skip("not a password.BatchFinder")
	}
	c := ctx(t)
	victim := f.Users[0]
	var strays []string // names of no account
	strays = append(strays, victim.Name+"-nobody")
	strays = append(strays, OtherSpellings(victim.Name)...)
	strays = append(strays, hostileNames(victim.Name)...)

	// The strays alone: nobody is found, nobody changes.
	view := finder.ForBatch(c, strays)
	for _, name := range strays {
		wantCode(t, fmt.Sprintf("batch reset of %q", name), view.ResetPassword(c, name, "Batch-Stray-1"), password.ENOTFOUND, password.EINVALID)
	}
	for i, u := range f.Users {
		next := fmt.Sprintf("Batch-Untouched-%d", i)
		canLogIn(t, f.Directory, u.Name, u.Password, next)
		f.Users[i].Password = next
	}

	// The users with the strays (all but the victim's other spellings, which
	// a batch of hers may not hold): each user gets their own password.
	var names []string
	for _, u := range f.Users[1:] {
		names = append(names, u.Name)
	}
	names = append(names, strays[:1]...)
	names = append(names, hostileNames(victim.Name)...)
	view = finder.ForBatch(c, names)
	for i, u := range f.Users[1:] {
		wantCode(t, fmt.Sprintf("batch reset of %q", u.Name), view.ResetPassword(c, u.Name, fmt.Sprintf("Batch-Reset-%d", i)), "")
	}
	for _, name := range names[len(f.Users)-1:] {
		wantCode(t, fmt.Sprintf("batch reset of %q", name), view.ResetPassword(c, name, "Batch-Stray-2"), password.ENOTFOUND, password.EINVALID)
	}
	for i, u := range f.Users[1:] {
		canLogIn(t, f.Directory, u.Name, fmt.Sprintf("Batch-Reset-%d", i), fmt.Sprintf("Batch-After-%d", i))
	}
	canLogIn(t, f.Directory, victim.Name, f.Users[0].Password, "Batch-After-victim")
}
