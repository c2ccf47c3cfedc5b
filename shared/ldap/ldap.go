// Package ldap changes and resets passwords in LDAP directories over go-ldap:
// OpenLDAP with the ppolicy overlay, through the RFC 3062 Password Modify
// extended operation, and Active Directory (or Samba AD), through unicodePwd.
// The connection pool, TLS, escaping and user lookup are shared; how a password
// is written and how a refusal is read belong to each dialect.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/go-playground/validator/v10"

	"chpass/shared/password"
)

// Dialects.
const (
	OpenLDAP = "openldap"
)

// Defaults for the zero values of Config.
const (
	DefaultPoolSize          = 8
	DefaultDialTimeout       = 5 * time.Second
	DefaultOpTimeout         = 10 * time.Second
	DefaultNameAttribute     = "uid"
	DefaultPasswordAttribute = "userPassword"
	DefaultPageSize          = 500
)

// Config configures a Directory. Exactly one of UserSearch and UserDNTemplate
// says how a user name becomes an entry.
type Config struct {
	// Dialect is the kind of server: "openldap" (the default) or
	// "active_directory" (Microsoft AD and Samba AD).
	Dialect string `yaml:"dialect" validate:"omitempty,oneof=openldap active_directory"`
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string `yaml:"url" validate:"required,url,startswith=ldap://|startswith=ldaps://"`
	// StartTLS upgrades an ldap:// connection with StartTLS before anything else.
	StartTLS bool `yaml:"start_tls"`
	// CAFile is a PEM file of the CAs to trust instead of the system's.
	CAFile string `yaml:"ca_file" validate:"omitempty,file"`
	// ServerName is the name to verify the server's certificate against, when it
	// is not the URL's host.
	ServerName string `yaml:"server_name"`
	// InsecurePlain allows ldap:// without StartTLS: passwords cross the network
	// in clear. Only for loopback and tests.
	InsecurePlain bool `yaml:"insecure_plain"`
	// BindDN and BindPassword are the service account that looks users up and
	// resets passwords. It must not be the rootdn, which bypasses ppolicy.
	BindDN       string `yaml:"bind_dn" validate:"required"`
	BindPassword string `yaml:"bind_password" json:"-" validate:"required"`
	// UserSearch finds a user's entry with a search as the service account.
	UserSearch *UserSearch `yaml:"user_search"`
	// UserDNTemplate makes a user's DN from the name, which replaces %s escaped
	// as an RDN value, such as "uid=%s,ou=people,dc=example,dc=com".
	UserDNTemplate string `yaml:"user_dn_template" validate:"omitempty,contains=%s"`
	// NameAttribute holds the user name in entries; "uid" by default, and on
	// Active Directory "sAMAccountName" (the default) or "userPrincipalName".
	NameAttribute string `yaml:"name_attribute"`
	// ListGroup, on Active Directory, restricts ListUsers to the members of this
	// group (by DN; members of nested groups too) under user_search.base.
	ListGroup string `yaml:"list_group"`
	// PageSize is the page size of the Simple Paged Results search of ListUsers;
	// 500 by default, 1000 (AD's MaxPageSize) on Active Directory.
	PageSize int `yaml:"page_size" validate:"min=0,max=100000"`
	// UseExop changes passwords with the RFC 3062 Password Modify extended
	// operation (nil or true, the default); false modifies PasswordAttribute.
	UseExop *bool `yaml:"use_exop"`
	// PasswordAttribute is the attribute modified when UseExop is false;
	// "userPassword" by default.
	PasswordAttribute string `yaml:"password_attribute"`
	// ShadowLastChange sets shadowLastChange to today after each change or reset.
	ShadowLastChange bool `yaml:"shadow_last_change"`
	// PoolSize is the most connections bound as the service account; 8 by default.
	PoolSize int `yaml:"pool_size" validate:"min=0,max=256"`
	// DialTimeout bounds connecting, TLS and binding; 5s by default.
	DialTimeout time.Duration `yaml:"dial_timeout" validate:"min=0"`
	// OpTimeout bounds every operation; 10s by default.
	OpTimeout time.Duration `yaml:"op_timeout" validate:"min=0"`
	// Retries is how many times a transient failure (network, busy, unavailable)
	// is retried, with backoff. A refusal is never retried, nor is a change the
	// server may have applied.
	Retries int `yaml:"retries" validate:"min=0,max=10"`
	// Warn, when set, hears of failures that do not fail the operation, such as
	// shadowLastChange not being updated after the password changed.
	Warn func(error) `yaml:"-" json:"-" validate:"-"`
}

// String describes c without its bind password, so that printing a Config with
// %v or %+v never shows the secret.
func (c Config) String() string {
	if c.BindPassword != "" {
		c.BindPassword = "REDACTED"
	}
	type plain Config // no methods: no recursion
	return fmt.Sprintf("%+v", plain(c))
}

// GoString is String for %#v.
func (c Config) GoString() string { return "ldap.Config" + c.String() }

// UserSearch finds a user's entry: a search under Base with Filter, in which %s
// is replaced by the name escaped as a filter value, such as
// "(&(objectClass=inetOrgPerson)(uid=%s))".
type UserSearch struct {
	Base string `yaml:"base" validate:"required"`
	// Filter is required on OpenLDAP; on Active Directory it defaults to the
	// user accounts whose name_attribute is the name.
	Filter string `yaml:"filter" validate:"omitempty,contains=%s,startswith=(,endswith=)"`
	// Scope is "sub" (the default) or "one".
	Scope string `yaml:"scope" validate:"omitempty,oneof=one sub"`
}

// Directory is an LDAP directory: a password.Directory. It is safe for concurrent use.
type Directory struct {
	cfg      Config
	scheme   string
	addr     string
	tls      *tls.Config
	dialect  dialect
	pool     *pool
	listBase string
	listFilt string
	scope    int
	pageSize int
	bulk     *bulkSearch // how ForBatch finds many names at once; nil: one by one
	chunk    int         // the most names one search of ForBatch asks for

	// dialFn opens a connection; a variable so that tests can replace it.
	dialFn func(ctx context.Context) (conn, error)
	// down is set while connections fail, so that Warn hears of an outage once.
	down *atomic.Bool

	ref *refresher // shared by copies (WithReset); the service account's password after a re-read (refresh.go)
}

var _ password.Directory = (*Directory)(nil)

// dialect is how a kind of server changes and resets passwords, and what its
// answers mean: openLDAP and activeDirectory.
type dialect interface {
	// bindUser binds c as the user dn with pw, for a self-service change. It
	// returns nil when bound, errChangeUnbound when pw is right but the user
	// may not bind before changing it (the change then goes over a service
	// connection, with pw in it as the proof), or a domain error.
	bindUser(op string, c conn, dn, pw string) error
	// change sets dn's password, proving oldPassword, on c: bound as the user,
	// or (after errChangeUnbound) as the service account.
	change(c conn, dn, oldPassword, newPassword string) error
	// reset sets dn's password as the service account bound on c.
	reset(c conn, dn, newPassword string) error
	// domainError translates err, returned by op on path p, into a domain error.
	domainError(op string, p path, err error) error
	// ping checks that an idle pooled connection still answers.
	ping(c conn) error
}

// entryReader is a dialect whose entries are not OpenLDAP's: it names the
// attributes to read, and reads them into a User.
type entryReader interface {
	userAttrs() []string
	user(e *goldap.Entry) *password.User
}

// New returns a Directory for cfg. It validates cfg and reads the CA file but
// does not connect: the first operation does.
func New(cfg Config) (*Directory, error) {
	if err := validator.New(validator.WithRequiredStructEnabled()).Struct(cfg); err != nil {
		return nil, fmt.Errorf("ldap: invalid configuration: %w", err)
	}
	if cfg.Dialect == "" {
		cfg.Dialect = OpenLDAP
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("ldap: invalid configuration: %w", err)
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = DefaultPoolSize
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.OpTimeout == 0 {
		cfg.OpTimeout = DefaultOpTimeout
	}
	if cfg.NameAttribute == "" {
		cfg.NameAttribute = DefaultNameAttribute
	}
	if cfg.PasswordAttribute == "" {
		cfg.PasswordAttribute = DefaultPasswordAttribute
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("ldap: invalid configuration: url: %w", err)
	}
	d := &Directory{cfg: cfg, scheme: u.Scheme, down: new(atomic.Bool), ref: new(refresher)}
	port := u.Port()
	switch u.Scheme {
	case "ldaps":
		if cfg.StartTLS {
			return nil, errors.New("ldap: invalid configuration: start_tls applies to ldap:// only")
		}
		if port == "" {
			port = goldap.DefaultLdapsPort
		}
	case "ldap":
		if !cfg.StartTLS && !cfg.InsecurePlain {
			return nil, errors.New("ldap: invalid configuration: ldap:// without start_tls sends passwords in clear; " +
				"use ldaps://, set start_tls, or set insecure_plain to accept that")
		}
		if port == "" {
			port = goldap.DefaultLdapPort
		}
	default:
		return nil, fmt.Errorf("ldap: invalid configuration: url scheme %q", u.Scheme)
	}
	d.addr = net.JoinHostPort(u.Hostname(), port)
	// The session cache lets the fresh connection of each self-service change
	// resume a TLS session rather than pay a full handshake.
	d.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	if d.tls.ServerName == "" {
		d.tls.ServerName = u.Hostname()
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ldap: ca_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ldap: ca_file %s holds no PEM certificate", cfg.CAFile)
		}
		d.tls.RootCAs = roots
	}
	switch cfg.Dialect {
	case OpenLDAP:
		d.dialect = openLDAP{exop: cfg.UseExop == nil || *cfg.UseExop, attr: cfg.PasswordAttribute}
	case ActiveDirectory:
		d.dialect = activeDirectory{nameAttr: cfg.NameAttribute}
	}
	d.pageSize = cfg.PageSize
	d.scope = goldap.ScopeWholeSubtree
	if s := cfg.UserSearch; s != nil {
		if s.Scope == "one" {
			d.scope = goldap.ScopeSingleLevel
		}
		d.listBase, d.listFilt = s.Base, expand(s.Filter, "*")
		if cfg.Dialect == ActiveDirectory {
			d.listFilt = adListFilter(s.Filter, cfg.ListGroup)
		}
	} else {
		_, parent, ok := strings.Cut(cfg.UserDNTemplate, ",")
		if !ok || !strings.HasPrefix(cfg.UserDNTemplate, cfg.NameAttribute+"=%s,") {
			return nil, fmt.Errorf("ldap: invalid configuration: user_dn_template must start with %q", cfg.NameAttribute+"=%s,")
		}
		d.scope = goldap.ScopeSingleLevel
		d.listBase, d.listFilt = parent, "("+cfg.NameAttribute+"=*)"
	}
	d.bulk, d.chunk = newBulkSearch(cfg, d.scope, d.listBase), DefaultBatchChunk
	d.dialFn = d.dialNoted
	d.pool = newPool(cfg.PoolSize, 30*time.Second, min(cfg.OpTimeout, 2*time.Second), d.dialService)
	d.pool.ping = d.dialect.ping
	return d, nil
}

// Close closes the pooled connections. Operations under way finish first; later
// ones fail with EUNAVAILABLE.
func (d *Directory) Close() error {
	d.pool.close()
	return nil
}

// dial connects, with TLS as configured, within DialTimeout and ctx.
func (d *Directory) dial(ctx context.Context) (conn, error) {
	deadline := time.Now().Add(d.cfg.DialTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := (&net.Dialer{}).DialContext(dctx, "tcp", d.addr)
	if err != nil {
		return nil, goldap.NewError(goldap.LDAPResultConnectError, err)
	}
	_ = nc.SetDeadline(deadline) // covers the TLS handshake and StartTLS
	isTLS := false
	if d.scheme == "ldaps" {
		tc := tls.Client(nc, d.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = nc.Close()
			return nil, goldap.NewError(goldap.ErrorNetwork, err)
		}
		nc, isTLS = tc, true
	}
	c := goldap.NewConn(nc, isTLS)
	c.Start()
	c.SetTimeout(time.Until(deadline))
	if d.cfg.StartTLS {
		if err := c.StartTLS(d.tls); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// dialService dials and binds as the service account, for the pool.
func (d *Directory) dialService(ctx context.Context) (conn, error) {
	c, err := d.dialFn(ctx)
	if err != nil {
		return nil, err
	}
	d.setTimeout(ctx, c, d.cfg.DialTimeout)
	pw, _ := d.bindPassword()
	if _, err := c.SimpleBind(&goldap.SimpleBindRequest{Username: d.cfg.BindDN, Password: pw}); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// setTimeout bounds the next operation on c by limit and by ctx's deadline.
func (d *Directory) setTimeout(ctx context.Context, c conn, limit time.Duration) {
	if dl, ok := ctx.Deadline(); ok {
		limit = min(limit, max(time.Until(dl), time.Millisecond))
	}
	c.SetTimeout(limit)
}

// backoff waits before retry attempt n (1, 2, ...): 50ms doubling, with jitter, at most 2s.
func backoff(ctx context.Context, n int) error {
	d := min(50*time.Millisecond<<(n-1), 2*time.Second)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// withService runs fn on a pooled connection bound as the service account.
// Failures to connect are retried up to Retries times when transient; so are
// fn's failures when idempotent, or when the server said it did not act.
func (d *Directory) withService(ctx context.Context, idempotent bool, fn func(c conn) error) error {
	var err error
	refreshed := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if berr := backoff(ctx, attempt); berr != nil {
				return err
			}
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		var pc *pooled
		_, gen := d.bindPassword()
		pc, err = d.pool.get(ctx)
		if err != nil && !refreshed && d.refreshBind(ctx, err, gen) {
			refreshed = true // one refresh and one retry per operation, never a loop
			attempt--
			continue
		}
		if err != nil {
			if attempt < d.cfg.Retries && transient(err) && !errors.Is(err, errPoolClosed) {
				continue
			}
			return err
		}
		d.setTimeout(ctx, pc.c, d.cfg.OpTimeout)
		err = fn(pc.c)
		d.pool.put(pc, err)
		if err != nil && attempt < d.cfg.Retries && transient(err) && (idempotent || !performed(err)) {
			continue
		}
		return err
	}
}

// dialUser opens a fresh connection (never a pooled one) for a user's own bind,
// retrying transient failures to connect.
func (d *Directory) dialUser(ctx context.Context) (conn, error) {
	if d.pool.isClosed() {
		return nil, errPoolClosed
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		c, err := d.dialFn(ctx)
		if err == nil || attempt >= d.cfg.Retries || !transient(err) {
			return c, err
		}
	}
}

// userAttrs are read for LookupUser and ListUsers.
func (d *Directory) userAttrs() []string {
	if r, ok := d.dialect.(entryReader); ok {
		return r.userAttrs()
	}
	return []string{d.cfg.NameAttribute, "uidNumber", "gidNumber", "createTimestamp", "pwdChangedTime", "pwdAccountLockedTime"}
}

// errNoSuchUser is what findUser returns for a name with no entry.
var errNoSuchUser = goldap.NewError(goldap.LDAPResultNoSuchObject, errors.New("no such user"))

// findUser returns the entry of the user called name, as the service account, or
// errNoSuchUser. More than one match is an error of the configuration.
//
// One name, one person: the directory's own matching is looser than the name
// (uid is caseIgnoreMatch, and LDAP string preparation folds Unicode
// compatibility forms and drops ignorable characters), so the entry it finds
// must hold name exactly, byte for byte, as a value of NameAttribute; an entry
// found under another spelling is no such user. With a DN template the entry
// is read too, for the same reason: the DN's RDN matches loosely as well.
func (d *Directory) findUser(ctx context.Context, name string, attrs []string) (*goldap.Entry, error) {
	if !plausibleName(name) {
		return nil, errNoSuchUser
	}
	attrs = withNameAttribute(attrs, d.cfg.NameAttribute)
	var req *goldap.SearchRequest
	if d.cfg.UserSearch != nil {
		req = goldap.NewSearchRequest(d.cfg.UserSearch.Base, d.scope, goldap.NeverDerefAliases, 2, 0, false,
			expand(d.cfg.UserSearch.Filter, escapeFilterValue(name)), attrs, nil)
	} else {
		req = goldap.NewSearchRequest(d.userDNFromTemplate(name), goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", attrs, nil)
	}
	var res *goldap.SearchResult
	err := d.withService(ctx, true, func(c conn) error {
		var err error
		res, err = c.Search(req)
		return err
	})
	switch {
	case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
		return nil, errNoSuchUser
	case goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded):
		return nil, fmt.Errorf("user search matched more than one entry: %w", err)
	case err != nil:
		return nil, err
	}
	var found *goldap.Entry
	for _, e := range res.Entries {
		if !holdsName(e, d.cfg.NameAttribute, name) {
			continue
		}
		if found != nil {
			return nil, errors.New("user search matched more than one entry")
		}
		found = e
	}
	if found == nil {
		return nil, errNoSuchUser
	}
	return found, nil
}

// holdsName reports whether e holds name exactly as a value of attr.
func holdsName(e *goldap.Entry, attr, name string) bool {
	return slices.Contains(e.GetEqualFoldAttributeValues(attr), name)
}

// withNameAttribute returns attrs with attr among them, in place of "1.1" (no attributes).
func withNameAttribute(attrs []string, attr string) []string {
	out := make([]string, 0, len(attrs)+1)
	for _, a := range attrs {
		if a != "1.1" && !strings.EqualFold(a, attr) {
			out = append(out, a)
		}
	}
	return append(out, attr)
}

func (d *Directory) userDNFromTemplate(name string) string {
	return expand(d.cfg.UserDNTemplate, escapeRDNValue(name))
}

// NameKey returns the key under which the directory tells user names apart:
// the name in lower case, since the name attributes of LDAP directories (uid,
// sAMAccountName) match case-insensitively. password.Service.CheckBatch uses
// it to refuse a batch that names one entry twice.
func (d *Directory) NameKey(name string) string { return strings.ToLower(name) }

// userDN returns the DN of the entry that holds name exactly (see findUser).
func (d *Directory) userDN(ctx context.Context, name string) (string, error) {
	e, err := d.findUser(ctx, name, nil)
	if err != nil {
		return "", err
	}
	return e.DN, nil
}

// noSuchDN is bound to when the user does not exist, so that a self-service
// change for a missing user costs what one with a wrong password does.
const noSuchDN = "cn=chpass-no-such-user"

// ChangePassword implements password.Directory: it binds as the user with
// oldPassword on a fresh connection, then changes the password on it with the
// ppolicy control.
func (d *Directory) ChangePassword(ctx context.Context, name, oldPassword, newPassword string) error {
	const op = "ldap.ChangePassword"
	if newPassword == "" {
		return password.Errorf(password.EINVALID, "The new password is required.")
	}
	dn, err := d.userDN(ctx, name)
	missing := errors.Is(err, errNoSuchUser)
	if err != nil && !missing {
		// The service account's search failed: not the user's doing.
		return d.dialect.domainError(op, lookup, err)
	}
	bindPassword := oldPassword
	if missing || oldPassword == "" {
		// Still bind, so that the answer takes as long as a wrong password's.
		dn, bindPassword = noSuchDN+","+d.listBase, "-"
	}
	c, err := d.dialUser(ctx)
	if err != nil {
		return d.dialect.domainError(op, selfService, err)
	}
	defer release(c)

	d.setTimeout(ctx, c, d.cfg.OpTimeout)
	berr := d.dialect.bindUser(op, c, dn, bindPassword)
	if missing || oldPassword == "" {
		return d.dialect.domainError(op, selfService, errNoSuchUser)
	}
	if errors.Is(berr, errChangeUnbound) {
		// The password is right, but the user may not bind before changing it:
		// change it as the service account; the old password in the change
		// itself remains the proof.
		err = d.withService(ctx, false, func(sc conn) error {
			return d.dialect.change(sc, dn, oldPassword, newPassword)
		})
		return d.dialect.domainError(op, selfService, err)
	}
	if berr != nil {
		return berr
	}
	d.setTimeout(ctx, c, d.cfg.OpTimeout)
	if err := d.dialect.change(c, dn, oldPassword, newPassword); err != nil {
		return d.dialect.domainError(op, selfService, err)
	}
	if d.cfg.ShadowLastChange {
		d.setTimeout(ctx, c, d.cfg.OpTimeout)
		d.warn(op, setShadowLastChange(c, dn, time.Now()))
	}
	return nil
}

// ResetPassword implements password.Directory: the service account sets the
// password with the ppolicy control and without the old password.
func (d *Directory) ResetPassword(ctx context.Context, name, newPassword string) error {
	const op = "ldap.ResetPassword"
	if newPassword == "" {
		return password.Errorf(password.EINVALID, "The new password is required.")
	}
	dn, err := d.userDN(ctx, name)
	if err != nil {
		return d.dialect.domainError(op, admin, err)
	}
	return d.dialect.domainError(op, admin, d.resetDN(ctx, op, dn, newPassword))
}

// resetDN sets the password of the entry dn as the service account, and its
// shadowLastChange when configured (a failure of which only warns). It returns
// the LDAP error, untranslated.
func (d *Directory) resetDN(ctx context.Context, op, dn, newPassword string) error {
	if dn == "" {
		// An RFC 3062 request without a user identity changes the password
		// of the user bound: the service account's own.
		return errors.New("no DN to reset")
	}
	var shadowErr error
	err := d.withService(ctx, false, func(c conn) error {
		if err := d.dialect.reset(c, dn, newPassword); err != nil {
			return err
		}
		if d.cfg.ShadowLastChange {
			shadowErr = setShadowLastChange(c, dn, time.Now())
		}
		return nil
	})
	if err == nil {
		d.warn(op, shadowErr)
	}
	return err
}

// LookupUser implements password.Directory.
func (d *Directory) LookupUser(ctx context.Context, name string) (*password.User, error) {
	const op = "ldap.LookupUser"
	e, err := d.findUser(ctx, name, d.userAttrs())
	if err != nil {
		return nil, d.dialect.domainError(op, lookup, err)
	}
	u := d.user(e)
	u.Name = name // the value the entry holds exactly, of several when it has more
	return u, nil
}

// ListUsers returns the users from offset, at most limit of them (all when limit
// is 0 or less), in the order of their names, and how many there are in all.
func (d *Directory) ListUsers(ctx context.Context, offset, limit int) ([]password.User, int, error) {
	const op = "ldap.ListUsers"
	req := goldap.NewSearchRequest(d.listBase, d.scope, goldap.NeverDerefAliases, 0, 0, false, d.listFilt, d.userAttrs(), nil)
	var res *goldap.SearchResult
	err := d.withService(ctx, true, func(c conn) error {
		var err error
		res, err = c.SearchWithPaging(req, uint32(d.pageSize))
		return err
	})
	if err != nil {
		return nil, 0, d.dialect.domainError(op, lookup, err)
	}
	users := make([]password.User, 0, len(res.Entries))
	for _, e := range res.Entries {
		if u := d.user(e); u.Name != "" {
			users = append(users, *u)
		}
	}
	sort.Slice(users, func(i, j int) bool { return users[i].Name < users[j].Name })
	total := len(users)
	offset = min(max(offset, 0), total)
	end := total
	if limit > 0 {
		end = min(offset+limit, total)
	}
	return users[offset:end], total, nil
}

// user reads an entry into a User.
func (d *Directory) user(e *goldap.Entry) *password.User {
	if r, ok := d.dialect.(entryReader); ok {
		return r.user(e)
	}
	u := &password.User{
		Name:    e.GetAttributeValue(d.cfg.NameAttribute),
		ID:      e.GetAttributeValue("uidNumber"),
		GroupID: e.GetAttributeValue("gidNumber"),
		// pwdAccountLockedTime stays after the lockout lapses, until the next
		// bind; Locked may therefore report a lockout that has just ended.
		Locked: e.GetAttributeValue("pwdAccountLockedTime") != "",
	}
	u.Created = generalizedTime(e.GetAttributeValue("createTimestamp"))
	u.PasswordChangedAt = generalizedTime(e.GetAttributeValue("pwdChangedTime"))
	return u
}

// generalizedTime parses an LDAP GeneralizedTime such as 20260102030405Z, or
// returns the zero time.
func generalizedTime(s string) time.Time {
	for _, layout := range []string{"20060102150405Z0700", "20060102150405.999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// warn reports err, which did not fail op, to Config.Warn.
func (d *Directory) warn(op string, err error) {
	if err != nil && d.cfg.Warn != nil {
		d.cfg.Warn(fmt.Errorf("%s: %w", op, sanitize(err, ppNone)))
	}
}

// setShadowLastChange sets dn's shadowLastChange to the day of now, in days since 1970.
func setShadowLastChange(c conn, dn string, now time.Time) error {
	req := goldap.NewModifyRequest(dn, nil)
	req.Replace("shadowLastChange", []string{strconv.FormatInt(now.Unix()/86400, 10)})
	return c.Modify(req)
}

// openLDAP is the OpenLDAP dialect: the RFC 3062 extended operation (or a Modify
// of the password attribute), always with the ppolicy request control so that a
// refusal says why.
type openLDAP struct {
	exop bool
	attr string
}

func (o openLDAP) change(c conn, dn, oldPassword, newPassword string) error {
	if o.exop {
		// No userIdentity: the operation acts on the user bound on c.
		_, err := c.Extended(passwordModifyRequest("", oldPassword, newPassword))
		return err
	}
	req := goldap.NewModifyRequest(dn, []goldap.Control{ppolicyRequest()})
	req.Delete(o.attr, []string{oldPassword})
	req.Add(o.attr, []string{newPassword})
	return c.Modify(req)
}

func (o openLDAP) reset(c conn, dn, newPassword string) error {
	if o.exop {
		_, err := c.Extended(passwordModifyRequest(dn, "", newPassword))
		return err
	}
	req := goldap.NewModifyRequest(dn, []goldap.Control{ppolicyRequest()})
	req.Replace(o.attr, []string{newPassword})
	return c.Modify(req)
}
