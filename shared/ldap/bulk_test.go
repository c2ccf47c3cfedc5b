package ldap

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/batch"
	"chpass/shared/password"
)

func TestNewBulkSearch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, filter   string
		prefix, suffix string // of the bulk filter; ok is false when both are "-"
	}{
		{"Equality", "(uid=%s)", "", ""},
		{"InAnd", "(&(objectClass=inetOrgPerson)(uid=%s))", "(&(objectClass=inetOrgPerson)", ")"},
		{"AttributeCase", "(&(objectClass=inetOrgPerson)(UID=%s))", "(&(objectClass=inetOrgPerson)", ")"},
		{"NestedAnd", "(&(a=b)(&(c=d)(uid=%s))(e=f))", "(&(a=b)(&(c=d)", ")(e=f))"},
		{"UnderOr", "(|(objectClass=admin)(uid=%s))", "-", "-"},
		{"UnderNot", "(&(a=b)(!(uid=%s)))", "-", "-"},
		{"OrInAnd", "(&(a=b)(|(c=d)(uid=%s)))", "-", "-"},
		{"TwoValues", "(|(uid=%s)(mail=%s))", "-", "-"},
		{"OtherAttribute", "(&(objectClass=person)(mail=%s))", "-", "-"},
		{"Substring", "(uid=%s*)", "-", "-"},
		{"Prefixed", "(uid=x%s)", "-", "-"},
		{"Extensible", "(uid:caseExactMatch:=%s)", "-", "-"},
		{"Approx", "(uid~=%s)", "-", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBulkSearch(Config{NameAttribute: "uid", UserSearch: &UserSearch{Base: "ou=people", Filter: tt.filter}}, goldap.ScopeWholeSubtree, "ou=people")
			if tt.prefix == "-" {
				if b != nil {
					t.Fatalf("bulk search %+v for %s, want none", b, tt.filter)
				}
				return
			}
			if b == nil || b.prefix != tt.prefix || b.suffix != tt.suffix || b.template {
				t.Fatalf("bulk search %+v for %s, want prefix %q suffix %q", b, tt.filter, tt.prefix, tt.suffix)
			}
		})
	}
	t.Run("ActiveDirectoryDefault", func(t *testing.T) {
		cfg := Config{Dialect: ActiveDirectory, UserSearch: &UserSearch{Base: "DC=example,DC=test"}}
		if err := cfg.check(); err != nil {
			t.Fatal(err)
		}
		b := newBulkSearch(cfg, goldap.ScopeWholeSubtree, "")
		if b == nil {
			t.Fatal("no bulk search for the default Active Directory filter")
		}
		want := "(&(objectCategory=person)(objectClass=user)(|(sAMAccountName=alice)(sAMAccountName=bob)))"
		if got := b.filter(SAMAccountName, []string{"alice", "bob"}); got != want {
			t.Fatalf("filter %s, want %s", got, want)
		}
	})
}

// TestBulkFilterEscapes: every name is escaped as a filter value, so that the
// bulk filter is one OR of equalities whatever the names hold.
func TestBulkFilterEscapes(t *testing.T) {
	t.Parallel()
	b := newBulkSearch(Config{NameAttribute: "uid", UserSearch: &UserSearch{Filter: "(&(objectClass=inetOrgPerson)(uid=%s))"}}, goldap.ScopeWholeSubtree, "")
	names := []string{"*", "alice)(uid=*", `\2a`, "a(b", "*)(|(objectClass=*", "x\x00y"}
	got := b.filter("uid", names)
	want := `(&(objectClass=inetOrgPerson)(|(uid=\2a)(uid=alice\29\28uid=\2a)(uid=\5c2a)(uid=a\28b)(uid=\2a\29\28|\28objectClass=\2a)(uid=x\00y)))`
	if got != want {
		t.Fatalf("filter\n%s, want\n%s", got, want)
	}
	p, err := goldap.CompileFilter(got)
	if err != nil {
		t.Fatal(err)
	}
	or := p.Children[1]
	if or.Tag != goldap.FilterOr || len(or.Children) != len(names) {
		t.Fatalf("the names make %d terms under tag %d, want %d under an OR", len(or.Children), or.Tag, len(names))
	}
	for i, term := range or.Children {
		if term.Tag != goldap.FilterEqualityMatch || string(term.Children[1].Data.Bytes()) != names[i] {
			t.Errorf("term %d: tag %d value %q, want the equality to %q", i, term.Tag, term.Children[1].Data.Bytes(), names[i])
		}
	}
	if b := newBulkSearch(Config{NameAttribute: "uid", UserDNTemplate: "uid=%s,ou=%s"}, 0, "ou=%s"); b != nil {
		t.Fatalf("bulk search %+v for a DN template with the name in its parent", b)
	}
	tmpl := newBulkSearch(Config{NameAttribute: "uid", UserDNTemplate: "uid=%s,ou=people"}, 0, "ou=people")
	if got, want := tmpl.filter("uid", names[:2]), `(|(uid=\2a)(uid=alice\29\28uid=\2a))`; got != want {
		t.Fatalf("template filter %s, want %s", got, want)
	}
}

// countSearches makes d count the searches it sends.
func countSearches(d *Directory) *atomic.Int64 {
	n := new(atomic.Int64)
	dial := d.dialFn
	d.dialFn = func(ctx context.Context) (conn, error) {
		c, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		return searchCounter{c, n}, nil
	}
	return n
}

type searchCounter struct {
	conn
	n *atomic.Int64
}

func (c searchCounter) Search(r *goldap.SearchRequest) (*goldap.SearchResult, error) {
	c.n.Add(1)
	return c.conn.Search(r)
}

// search is the user_search configuration of e.plain().
func (e slapdEnv) search() Config {
	cfg := e.plain()
	cfg.UserDNTemplate = ""
	cfg.UserSearch = &UserSearch{Base: e.People, Filter: "(&(objectClass=inetOrgPerson)(uid=%s))", Scope: "one"}
	return cfg
}

// bothModes runs fn on a user_search and on a user_dn_template configuration.
func bothModes(t *testing.T, fn func(t *testing.T, e slapdEnv, cfg Config)) {
	e := requireSlapd(t)
	t.Run("Search", func(t *testing.T) { fn(t, e, e.search()) })
	t.Run("Template", func(t *testing.T) { fn(t, e, e.plain()) })
}

// TestBatchFindsUsersInBulk: a batch of 100 users costs 4 searches (one per
// 25 names) rather than one per user, through password.Service.ResetAll and
// through batch.Reset, and every user gets their own new password.
func TestBatchFindsUsersInBulk(t *testing.T) {
	bothModes(t, func(t *testing.T, e slapdEnv, cfg Config) {
		d := newDirectory(t, cfg)
		searches := countSearches(d)
		svc := password.NewService(password.DefaultPolicy(), d)
		users := e.FreshUsers(t, 100, "")
		entries := make([]password.ResetRequest, len(users))
		for i, u := range users {
			entries[i] = password.ResetRequest{Name: u.Name, Password: fmt.Sprintf("Bulk-All-%03d-x", i)}
		}
		ctx := context.Background()
		for _, r := range svc.ResetAll(ctx, entries, 8) {
			if r.Err != nil {
				t.Fatalf("ResetAll %s: %v", r.Name, r.Err)
			}
		}
		if got := searches.Load(); got != 4 {
			t.Fatalf("ResetAll of 100 users sent %d searches, want 4", got)
		}
		for _, en := range entries {
			if !e.Bind(t, en.Name, en.Password) {
				t.Fatalf("%s does not bind with its new password", en.Name)
			}
		}

		searches.Store(0)
		for i := range entries {
			entries[i].Password = fmt.Sprintf("Bulk-Batch-%03d-x", i)
		}
		for _, r := range batch.Reset(ctx, svc, "c", batch.Origin{}, entries, 8, nil, nil) {
			if r.Err != nil {
				t.Fatalf("batch.Reset %s: %v", r.Name, r.Err)
			}
		}
		if got := searches.Load(); got != 4 {
			t.Fatalf("batch.Reset of 100 users sent %d searches, want 4", got)
		}
		for _, en := range entries {
			if !e.Bind(t, en.Name, en.Password) {
				t.Fatalf("%s does not bind with its new password", en.Name)
			}
		}

		// The view still reconciles as the directory does (batch.PasswordHolder).
		holder, ok := svc.ForBatch(ctx, []string{entries[0].Name}).Directory().(batch.PasswordHolder)
		if !ok {
			t.Fatal("the batch view is not a batch.PasswordHolder")
		}
		if held, err := holder.HoldsPassword(ctx, entries[0].Name, entries[0].Password); err != nil || !held {
			t.Fatalf("HoldsPassword through the view: %v, %v; want true", held, err)
		}

		// Without the bulk read, as before: one search per user.
		searches.Store(0)
		for _, en := range entries[:10] {
			if err := d.ResetPassword(ctx, en.Name, en.Password+"-again"); err != nil {
				t.Fatal(err)
			}
		}
		if got := searches.Load(); got != 10 {
			t.Fatalf("10 resets one by one sent %d searches, want 10", got)
		}
	})
}

// settled returns the names v settled in bulk.
func settled(t *testing.T, v password.Directory, names []string) map[string]string {
	t.Helper()
	b, ok := v.(*batchDirectory)
	if !ok {
		t.Fatalf("ForBatch returned %T, want a *batchDirectory", v)
	}
	out := map[string]string{}
	for _, n := range names {
		if dn, ok := b.dn(context.Background(), n); ok {
			out[n] = dn
		}
	}
	return out
}

// TestBatchChunks: names are asked for 25 at a time (here 7), each name of
// each chunk, on both sides of a boundary, found in its own chunk.
func TestBatchChunks(t *testing.T) {
	bothModes(t, func(t *testing.T, e slapdEnv, cfg Config) {
		d := newDirectory(t, cfg)
		d.chunk = 7
		searches := countSearches(d)
		users := e.FreshUsers(t, 15, "")
		names := make([]string, len(users))
		for i, u := range users {
			names[i] = u.Name
		}
		v := d.ForBatch(context.Background(), names)
		got := settled(t, v, names)
		if n := searches.Load(); n != 3 {
			t.Fatalf("15 names in chunks of 7 sent %d searches, want 3", n)
		}
		for _, n := range names {
			if want := "uid=" + n + "," + e.People; got[n] != want {
				t.Errorf("%s found at %q, want %q", n, got[n], want)
			}
		}
		for i, n := range names[5:9] { // 6th to 9th: across the boundary between the first two chunks
			if err := v.ResetPassword(context.Background(), n, fmt.Sprintf("Chunk-Pass-%d-x", i)); err != nil {
				t.Fatal(err)
			}
			if !e.Bind(t, n, fmt.Sprintf("Chunk-Pass-%d-x", i)) {
				t.Fatalf("%s does not bind with its new password", n)
			}
		}
		if n := searches.Load(); n != 3 {
			t.Fatalf("resets after ForBatch sent %d more searches, want none", n-3)
		}
	})
}

// addEntry adds an inetOrgPerson under People named rdn, with uids, and deletes
// it when t ends.
func addEntry(t *testing.T, e slapdEnv, rdn string, uids ...string) string {
	t.Helper()
	c := e.RootConn(t)
	defer c.Close()
	dn := rdn + "," + e.People
	req := goldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"inetOrgPerson"})
	req.Attribute("uid", uids)
	req.Attribute("cn", []string{strings.TrimPrefix(strings.TrimPrefix(rdn, "cn="), "uid=")})
	req.Attribute("sn", []string{"bulk"})
	req.Attribute("userPassword", []string{"Entry-Pass-1x"})
	if err := c.Add(req); err != nil {
		t.Fatalf("add %s: %v", dn, err)
	}
	t.Cleanup(func() {
		c := e.RootConn(t)
		defer c.Close()
		_ = c.Del(goldap.NewDelRequest(dn, nil))
	})
	return dn
}

// title returns name with its first letter in upper case.
func title(name string) string { return strings.ToUpper(name[:1]) + name[1:] }

// TestBatchNamesNotSettledInBulk: the bulk read settles a name only when it
// proves the entry findUser would find; every other name is looked up on its
// own, and answers as it always did: not found, another spelling, found twice.
func TestBatchNamesNotSettledInBulk(t *testing.T) {
	bothModes(t, func(t *testing.T, e slapdEnv, cfg Config) {
		template := cfg.UserSearch == nil
		d := newDirectory(t, cfg)
		fresh := e.FreshUsers(t, 4, "")
		plain, twinned, tripled, doubled := fresh[0].Name, fresh[1].Name, fresh[2].Name, fresh[3].Name
		// An entry holding another spelling of twinned: two matches, one exact.
		addEntry(t, e, "cn="+twinned+"-twin", strings.ToUpper(twinned))
		// Two more for tripled: three matches under the directory's equality.
		addEntry(t, e, "cn="+tripled+"-2", strings.ToUpper(tripled))
		addEntry(t, e, "cn="+tripled+"-3", title(tripled))
		// Another entry holding doubled exactly.
		addEntry(t, e, "cn="+doubled+"-2", doubled)
		// A name only stored under another spelling (in its DN too).
		shouted := "shouted-" + plain
		addEntry(t, e, "uid="+strings.ToUpper(shouted), strings.ToUpper(shouted))
		missing := "missing-" + plain

		tests := []struct {
			name    string
			settled bool
			code    string
		}{
			{plain, true, ""},
			{twinned, true, ""},
			{tripled, template, map[bool]string{true: "", false: password.EINTERNAL}[template]}, // the search's size limit of 2
			{doubled, template, map[bool]string{true: "", false: password.EINTERNAL}[template]}, // two entries hold it
			{shouted, false, password.ENOTFOUND},
			{missing, false, password.ENOTFOUND},
		}
		names := make([]string, len(tests))
		for i, tt := range tests {
			names[i] = tt.name
		}
		searches := countSearches(d)
		v := d.ForBatch(context.Background(), names)
		got := settled(t, v, names)
		if n := searches.Load(); n != 1 {
			t.Fatalf("ForBatch of %d names sent %d searches, want 1", len(names), n)
		}
		unsettled := 0
		for i, tt := range tests {
			_, ok := got[tt.name]
			if ok != tt.settled {
				t.Errorf("%s settled in bulk: %v, want %v", tt.name, ok, tt.settled)
			}
			if !tt.settled {
				unsettled++
			}
			pw := fmt.Sprintf("Settle-Pass-%d-x", i)
			err := v.ResetPassword(context.Background(), tt.name, pw)
			if code := password.ErrorCode(err); code != tt.code {
				t.Errorf("reset of %s: code %q (%v), want %q", tt.name, code, err, tt.code)
			}
			if tt.code == "" && !e.Bind(t, tt.name, pw) {
				t.Errorf("%s does not bind with its new password", tt.name)
			}
		}
		// The names not settled were looked up one by one.
		if n := searches.Load(); n != int64(1+unsettled) {
			t.Fatalf("ForBatch and the resets sent %d searches, want %d", n, 1+unsettled)
		}
	})
}

// TestBatchUnexplainedMatch: when the directory matches an entry that the
// names do not explain byte for byte (a fullwidth spelling, which LDAP string
// preparation folds), the bulk read settles nothing of that chunk, and the
// names are looked up one by one.
func TestBatchUnexplainedMatch(t *testing.T) {
	bothModes(t, func(t *testing.T, e slapdEnv, cfg Config) {
		d := newDirectory(t, cfg)
		users := e.FreshUsers(t, 3, "")
		fullwidth := []rune(users[0].Name)
		for i, r := range fullwidth {
			fullwidth[i] = r - 0x21 + 0xff01
		}
		addEntry(t, e, "cn="+users[0].Name+"-fullwidth", string(fullwidth))
		c := e.RootConn(t)
		defer c.Close()
		res, err := c.Search(goldap.NewSearchRequest(e.People, goldap.ScopeSingleLevel, goldap.NeverDerefAliases, 0, 0, false,
			"(uid="+users[0].Name+")", []string{"1.1"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		folds := len(res.Entries) == 2 // this slapd takes the fullwidth spelling for the name
		names := []string{users[0].Name, users[1].Name, users[2].Name}
		got := settled(t, d.ForBatch(context.Background(), names), names)
		if folds && len(got) != 0 || !folds && len(got) != 3 {
			t.Fatalf("settled %v (the directory folds fullwidth: %v)", got, folds)
		}
		if !folds {
			t.Log("this slapd does not match the fullwidth spelling: the chunk is settled")
		}
		v := d.ForBatch(context.Background(), names)
		for i, n := range names {
			if err := v.ResetPassword(context.Background(), n, fmt.Sprintf("Unexplained-%d-x", i)); err != nil {
				t.Fatalf("reset of %s: %v", n, err)
			}
		}
	})
}

// TestBatchHostileNames: names made to widen a filter or a DN find nobody in
// bulk, in one search, and reset nobody.
func TestBatchHostileNames(t *testing.T) {
	bothModes(t, func(t *testing.T, e slapdEnv, cfg Config) {
		d := newDirectory(t, cfg)
		victim := e.FreshUsers(t, 1, "")[0]
		v := victim.Name
		hostile := []string{"*", "**", v + "*", "*" + v[1:], v[:1] + "*" + v[2:], v + ")(uid=*", "*)(uid=*",
			v + ")(|(uid=*", v + "\\", "\\2a", v + "\\2a", "(uid=" + v + ")", "uid=" + v, v + ",ou=people", v + "+cn=x",
			"\\" + fmt.Sprintf("%02x", v[0]) + v[1:], v + ")(objectClass=*"}
		searches := countSearches(d)
		view := d.ForBatch(context.Background(), hostile)
		if got := settled(t, view, hostile); len(got) != 0 {
			t.Fatalf("hostile names settled in bulk: %v", got)
		}
		if n := searches.Load(); n != 1 {
			t.Fatalf("ForBatch of %d names sent %d searches, want 1", len(hostile), n)
		}
		for _, n := range hostile {
			err := view.ResetPassword(context.Background(), n, "Hostile-Bulk-1x")
			if code := password.ErrorCode(err); code != password.ENOTFOUND && code != password.EINVALID {
				t.Errorf("reset of %q: code %q (%v), want ENOTFOUND", n, code, err)
			}
		}
		if !e.Bind(t, victim.Name, victim.Password) {
			t.Fatal("the victim's password changed")
		}
	})
}

// TestBatchEntryMovedOrOld: a view falls back to the lookup when its entry
// has gone from the DN it found (renamed since), and once what it found is
// older than batchMaxAge.
func TestBatchEntryMovedOrOld(t *testing.T) {
	bothModes(t, func(t *testing.T, e slapdEnv, cfg Config) {
		template := cfg.UserSearch == nil
		d := newDirectory(t, cfg)
		users := e.FreshUsers(t, 2, "")
		moved, aged := users[0].Name, users[1].Name
		names := []string{moved, aged}
		searches := countSearches(d)
		v := d.ForBatch(context.Background(), names)
		if got := settled(t, v, names); len(got) != 2 {
			t.Fatalf("settled %v, want both", got)
		}
		// moved's entry is renamed to cn=...: it keeps its uid, so a search
		// finds it; a DN template does not.
		c := e.RootConn(t)
		defer c.Close()
		if err := c.ModifyDN(goldap.NewModifyDNRequest("uid="+moved+","+e.People, "cn="+moved+"-moved", false, "")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c := e.RootConn(t)
			defer c.Close()
			_ = c.Del(goldap.NewDelRequest("cn="+moved+"-moved,"+e.People, nil))
		})
		err := v.ResetPassword(context.Background(), moved, "Moved-Pass-1x")
		want := map[bool]string{false: "", true: password.ENOTFOUND}[template]
		if code := password.ErrorCode(err); code != want {
			t.Fatalf("reset of a renamed entry: code %q (%v), want %q", code, err, want)
		}
		if n := searches.Load(); n != 2 {
			t.Fatalf("ForBatch and the reset of a renamed entry sent %d searches, want 2", n)
		}
		// Past batchMaxAge, aged is looked up again.
		v.(*batchDirectory).now = func() time.Time { return time.Now().Add(batchMaxAge + time.Second) }
		if err := v.ResetPassword(context.Background(), aged, "Aged-Pass-1x"); err != nil {
			t.Fatal(err)
		}
		if n := searches.Load(); n != 3 {
			t.Fatalf("a reset after batchMaxAge sent %d searches in all, want 3", n)
		}
		if !e.Bind(t, aged, "Aged-Pass-1x") {
			t.Fatal("aged does not bind with its new password")
		}
	})
}

// TestBatchSearchFails: when the bulk search cannot run (here the batch's
// context has ended), nothing is settled and each reset looks its user up.
func TestBatchSearchFails(t *testing.T) {
	bothModes(t, func(t *testing.T, e slapdEnv, cfg Config) {
		d := newDirectory(t, cfg)
		u := e.FreshUsers(t, 1, "")[0]
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		v := d.ForBatch(ctx, []string{u.Name})
		if got := settled(t, v, []string{u.Name}); len(got) != 0 {
			t.Fatalf("settled %v after the context ended", got)
		}
		if err := v.ResetPassword(context.Background(), u.Name, "Failed-Bulk-1x"); err != nil {
			t.Fatal(err)
		}
		if !e.Bind(t, u.Name, "Failed-Bulk-1x") {
			t.Fatal("the user does not bind with the new password")
		}
	})
}

// TestResetNeverWithoutDN: a reset on an empty DN is refused before anything
// is sent, since the Password Modify operation without a user identity would
// change the service account's own password.
func TestResetNeverWithoutDN(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	d := fakeDirectory(t, 0, func(context.Context) (conn, error) {
		return &fakeConn{ext: func() error { calls.Add(1); return nil }}, nil
	})
	v := &batchDirectory{Directory: d, chunks: map[string]*batchChunk{"alice": {done: make(chan struct{}), dns: map[string]string{"alice": ""}}}, now: time.Now}
	close(v.chunks["alice"].done)
	v.chunks["alice"].at = time.Now()
	if err := d.resetDN(context.Background(), "test", "", "New-Pass-1"); err == nil {
		t.Fatal("resetDN accepted an empty DN")
	}
	if got := password.ErrorCode(v.ResetPassword(context.Background(), "alice", "New-Pass-1")); got != password.EINTERNAL {
		t.Fatalf("a view holding an empty DN: code %q, want EINTERNAL", got)
	}
	if calls.Load() != 0 {
		t.Fatalf("%d Password Modify requests sent", calls.Load())
	}
}

func TestRDNValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dn, value string
		ok        bool
	}{
		{"uid=alice,ou=people,dc=x", "alice", true},
		{"UID=alice,ou=people,dc=x", "alice", true},
		{"uid=alice", "alice", true},
		{"cn=alice,ou=people,dc=x", "", false},
		{"uid=alice+cn=x,ou=people,dc=x", "", false},
		{`uid=a\,b,ou=people,dc=x`, "a,b", true},
		{`uid=a\2cb,ou=people,dc=x`, "a,b", true},
		{`uid=a\+b,ou=people,dc=x`, "a+b", true},
		{`uid=\ a,ou=people,dc=x`, " a", true},
		{"uid=a=b,ou=people,dc=x", "a=b", true}, // as ParseDN reads it
		{"uid=,ou=people", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		value, ok := rdnValue(tt.dn, "uid")
		if value != tt.value || ok != tt.ok {
			t.Errorf("rdnValue(%q) = %q, %v; want %q, %v", tt.dn, value, ok, tt.value, tt.ok)
		}
	}
}
