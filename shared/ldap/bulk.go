package ldap

import (
	"context"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"chpass/shared/password"
)

// A batch's users, found in bulk. ResetPassword looks each user up before the
// change (one name, one person: the entry must hold the name exactly), which
// costs a search per user. ForBatch finds a whole batch's entries first with
// one search per 25 names: an OR of one escaped equality term per name, on
// the name attribute, under the user search's base (user_search) or the DN
// template's parent (user_dn_template). A name is settled in bulk only when the
// answer is provably the one its own lookup would give: exactly one entry
// holds it byte for byte, and, with user_search, no more than two entries
// match it under the directory's equality (the lookup's size limit); with a
// DN template, the entry's RDN is the name itself. Everything else (no entry,
// an entry under another spelling, duplicates, an entry whose name values the
// bulk read cannot attribute to one name, a failed search, a name that is not
// plain ASCII) is left to the lookup of that user, which answers as before.

// DefaultBatchChunk is the most names one search of ForBatch asks for.
const DefaultBatchChunk = 25

// batchMaxAge is how long a batch view trusts what it found: after it, each
// user is looked up again, so that an entry renamed during a long batch is not
// reset under a name it no longer holds.
const batchMaxAge = 30 * time.Second

// bulkSearch is how ForBatch finds many names at once: under base, with scope,
// the filter prefix + "(|(attr=n1)(attr=n2)...)" + suffix.
type bulkSearch struct {
	base           string
	scope          int
	prefix, suffix string
	template       bool // entries are named attr=name,base: the RDN must be the name
}

// newBulkSearch returns how d's configuration can find names in bulk, or nil
// when it cannot be done safely: a user search filter whose %s is anything but
// the one value of an equality on the name attribute, reached from the top
// through AND only (so that the filter of a name is the same condition on
// every entry and the name's equality), or a DN template with %s beyond its
// RDN.
func newBulkSearch(cfg Config, scope int, listBase string) *bulkSearch {
	if cfg.UserSearch == nil {
		if strings.Count(cfg.UserDNTemplate, "%s") != 1 {
			return nil // the name is in the parent too: no one parent to search under
		}
		return &bulkSearch{base: listBase, scope: goldap.ScopeSingleLevel, template: true}
	}
	f, attr := cfg.UserSearch.Filter, cfg.NameAttribute
	if strings.Count(f, "%s") != 1 {
		return nil
	}
	at := strings.Index(f, "%s")
	open := strings.LastIndexByte(f[:at], '(')
	if open < 0 || !strings.EqualFold(f[open+1:at], attr+"=") || !strings.HasPrefix(f[at+2:], ")") {
		return nil
	}
	const probe = "chpass-bulk-probe"
	p, err := goldap.CompileFilter(expand(f, probe))
	if err != nil || !onlyThroughAnd(p, probe) {
		return nil
	}
	return &bulkSearch{base: cfg.UserSearch.Base, scope: scope, prefix: f[:open], suffix: f[at+3:]}
}

// onlyThroughAnd reports whether the compiled filter p reaches the equality
// whose value is probe from its top through AND nodes only.
func onlyThroughAnd(p *ber.Packet, probe string) bool {
	switch p.Tag {
	case goldap.FilterEqualityMatch:
		return len(p.Children) == 2 && string(p.Children[1].Data.Bytes()) == probe
	case goldap.FilterAnd:
		for _, c := range p.Children {
			if onlyThroughAnd(c, probe) {
				return true
			}
		}
	}
	return false
}

// filter returns the filter that finds names' entries, each name escaped.
func (b *bulkSearch) filter(attr string, names []string) string {
	var f strings.Builder
	f.WriteString(b.prefix)
	f.WriteString("(|")
	for _, n := range names {
		f.WriteString("(" + attr + "=" + escapeFilterValue(n) + ")")
	}
	f.WriteString(")")
	f.WriteString(b.suffix)
	return f.String()
}

// plainASCII reports whether s is printable ASCII without spaces (0x21 to
// 0x7e): for such strings LDAP string preparation (RFC 4518) changes nothing
// but case, so that they match under caseIgnoreMatch exactly when their lower
// cases are equal.
func plainASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// batchDirectory is a Directory for one run of a batch: ResetPassword changes
// the entries ForBatch found without a search, and looks up the users it did
// not find, as the Directory does. Its other methods are the Directory's.
type batchDirectory struct {
	*Directory
	chunks map[string]*batchChunk // by name
	now    func() time.Time
}

// batchChunk is what one search of ForBatch found.
type batchChunk struct {
	done chan struct{}     // closed once dns and at are set
	dns  map[string]string // name -> DN of the one entry that holds it exactly
	at   time.Time         // when the search was sent
}

var (
	_ password.BatchFinder = (*Directory)(nil)
	_ password.Directory   = (*batchDirectory)(nil)
)

// ForBatch implements password.BatchFinder: it finds names' entries with one
// search per 25 names (see the top of this file), in the background and in
// the batch's order, so that the first users' resets start once the first
// search has answered while the next searches run. The view's ResetPassword
// changes the entries found without another search, for 30 seconds after
// each search. A search that fails, and names it cannot settle, leave those
// names to ResetPassword's own lookup. ctx bounds the searches.
func (d *Directory) ForBatch(ctx context.Context, names []string) password.Directory {
	if d.bulk == nil {
		return d
	}
	todo := make([]string, 0, len(names))
	for _, n := range names {
		if plainASCII(n) && len(n) <= maxNameBytes {
			todo = append(todo, n)
		}
	}
	b := &batchDirectory{Directory: d, chunks: make(map[string]*batchChunk, len(todo)), now: time.Now}
	var chunks []*batchChunk
	var lists [][]string
	for len(todo) > 0 {
		list := todo[:min(d.chunk, len(todo))]
		todo = todo[len(list):]
		c := &batchChunk{done: make(chan struct{})}
		for _, n := range list {
			b.chunks[n] = c
		}
		chunks, lists = append(chunks, c), append(lists, list)
	}
	go func() {
		for i, c := range chunks {
			c.at = b.now()
			if ctx.Err() == nil {
				c.dns = d.findChunk(ctx, lists[i])
			}
			close(c.done)
		}
	}()
	return b
}

// dn returns the DN ForBatch found for name, waiting for its search, or false
// when it found none, or found it too long ago.
func (b *batchDirectory) dn(ctx context.Context, name string) (string, bool) {
	c, ok := b.chunks[name]
	if !ok {
		return "", false
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return "", false
	}
	dn, ok := c.dns[name]
	return dn, ok && b.now().Sub(c.at) <= batchMaxAge
}

// findChunk searches for names and returns the DN of each name it can settle
// (see the top of this file).
func (d *Directory) findChunk(ctx context.Context, names []string) map[string]string {
	attr := d.cfg.NameAttribute
	byKey := make(map[string]string, len(names)) // NameKey -> name; "" when two names share it
	for _, n := range names {
		if _, dup := byKey[d.NameKey(n)]; dup {
			byKey[d.NameKey(n)] = ""
			continue
		}
		byKey[d.NameKey(n)] = n
	}
	req := goldap.NewSearchRequest(d.bulk.base, d.bulk.scope, goldap.NeverDerefAliases, 0, 0, false,
		d.bulk.filter(attr, names), []string{attr}, nil)
	var res *goldap.SearchResult
	err := d.withService(ctx, true, func(c conn) error {
		var err error
		res, err = c.Search(req)
		return err
	})
	if err != nil {
		return nil // the names are looked up one by one
	}
	// candidates[n]: the entries that match n under the directory's equality.
	candidates := make(map[string][]*goldap.Entry, len(names))
	for _, e := range res.Entries {
		keys, ok := d.entryKeys(e, byKey)
		if !ok {
			// An entry matched for a reason these names do not explain (such
			// as a non-ASCII spelling that the server folds): nothing in the
			// chunk is settled, since it may be one more match of any name.
			return nil
		}
		for _, k := range keys {
			if n := byKey[k]; n != "" {
				candidates[n] = append(candidates[n], e)
			}
		}
	}
	dns := make(map[string]string, len(names))
	for _, n := range names {
		if byKey[d.NameKey(n)] != n {
			continue // another spelling of n is in the chunk too
		}
		if dn, ok := d.settle(n, candidates[n]); ok {
			dns[n] = dn
		}
	}
	return dns
}

// entryKeys returns the name keys under which e is a candidate: the keys of
// its name values (user_search), or of its RDN (a DN template; none when the
// RDN is not one name attribute value, since such an entry is no template's
// DN). ok is false when the names do not explain why e matched: a value that
// is not plain ASCII (its key would not tell what the server matched it
// with), or no value whose key is one of the names'.
func (d *Directory) entryKeys(e *goldap.Entry, byKey map[string]string) (keys []string, ok bool) {
	attr := d.cfg.NameAttribute
	explained := false
	for _, v := range e.GetEqualFoldAttributeValues(attr) {
		if !plainASCII(v) {
			return nil, false
		}
		k := d.NameKey(v)
		if _, in := byKey[k]; in {
			explained = true
		}
		keys = append(keys, k)
	}
	if !explained {
		return nil, false
	}
	if !d.bulk.template {
		return keys, true
	}
	v, isRDN := rdnValue(e.DN, attr)
	switch {
	case !isRDN:
		return nil, true
	case !plainASCII(v):
		return nil, false
	}
	return []string{d.NameKey(v)}, true
}

// rdnValue returns the value of dn's first RDN when that RDN is one value of
// attr.
func rdnValue(dn, attr string) (string, bool) {
	// The common case without ParseDN, which costs as much as the rest of
	// reading the entry: a first RDN of type=value with no escape, quote,
	// space, '#', ';', '<', '>' or second value ('+').
	if first, _, _ := strings.Cut(dn, ","); !strings.ContainsAny(first, "\\\" +#;<>") && strings.Count(first, "=") == 1 {
		typ, val, _ := strings.Cut(first, "=")
		if val == "" || !strings.EqualFold(typ, attr) {
			return "", false
		}
		return val, true
	}
	p, err := goldap.ParseDN(dn)
	if err != nil || len(p.RDNs) == 0 || len(p.RDNs[0].Attributes) != 1 || !strings.EqualFold(p.RDNs[0].Attributes[0].Type, attr) {
		return "", false
	}
	return p.RDNs[0].Attributes[0].Value, true
}

// settle returns the DN of the entry for name among the entries that match it,
// when the bulk read proves it to be the one findUser would return.
func (d *Directory) settle(name string, matches []*goldap.Entry) (string, bool) {
	attr := d.cfg.NameAttribute
	if d.bulk.template {
		// The one entry whose DN is the template's for name, when its RDN is
		// name itself and it holds name exactly.
		if len(matches) != 1 {
			return "", false
		}
		v, _ := rdnValue(matches[0].DN, attr)
		if v != name || !holdsName(matches[0], attr, name) {
			return "", false
		}
		return matches[0].DN, true
	}
	// findUser's search has a size limit of 2: more matches are its error.
	if len(matches) > 2 {
		return "", false
	}
	var found *goldap.Entry
	for _, e := range matches {
		if !holdsName(e, attr, name) {
			continue
		}
		if found != nil {
			return "", false // more than one entry holds it: findUser's error
		}
		found = e
	}
	if found == nil {
		return "", false
	}
	return found.DN, true
}

// ResetPassword implements password.Directory: on the entry ForBatch found for
// name, or, for a name it did not find (or after 30 seconds), as the Directory
// does. When the entry is gone (renamed or deleted since), the user is looked
// up again.
func (b *batchDirectory) ResetPassword(ctx context.Context, name, newPassword string) error {
	const op = "ldap.ResetPassword"
	if newPassword == "" {
		return password.Errorf(password.EINVALID, "The new password is required.")
	}
	dn, ok := b.dn(ctx, name)
	if !ok {
		return b.Directory.ResetPassword(ctx, name, newPassword)
	}
	err := b.resetDN(ctx, op, dn, newPassword)
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return b.Directory.ResetPassword(ctx, name, newPassword)
	}
	return b.dialect.domainError(op, admin, err)
}
