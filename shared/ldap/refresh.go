package ldap

import (
	"context"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// DefaultRefreshInterval is the least time between two re-reads of the service account's
// password: a wrong password must not make an instance hammer the secret service.
const DefaultRefreshInterval = 30 * time.Second

// BindPasswords re-reads the service account's password from where it is kept: the candidates
// in the order to try them (the secret's current version, then its pending one).
type BindPasswords func(ctx context.Context) ([]string, error)

// refresher holds the service account's password as it is now, and the rate limit of its
// re-reads, so that chpass survives the rotation of its own bind secret: between a rotation's
// setSecret and finishSecret the directory holds the pending password, and after finishSecret
// every warm instance still holds the old one.
type refresher struct {
	mu       sync.Mutex
	password string // "" until the first refresh: cfg.BindPassword
	gen      int    // bumped at each change of password
	last     time.Time
	source   BindPasswords
	interval time.Duration
	now      func() time.Time
}

// SetBindPasswords makes d re-read the service account's password from src when a bind as the
// service account is refused for invalid credentials: at most once per interval (0 means
// DefaultRefreshInterval), trying each candidate, keeping the one that binds, and rebuilding the
// pooled connections; the operation is then retried once. Call it before the first operation.
func (d *Directory) SetBindPasswords(src BindPasswords, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	d.ref.mu.Lock()
	defer d.ref.mu.Unlock()
	d.ref.source, d.ref.interval = src, interval
	if d.ref.now == nil {
		d.ref.now = time.Now
	}
}

// bindPassword returns the service account's password and its generation.
func (d *Directory) bindPassword() (string, int) {
	d.ref.mu.Lock()
	defer d.ref.mu.Unlock()
	if d.ref.password == "" {
		return d.cfg.BindPassword, d.ref.gen
	}
	return d.ref.password, d.ref.gen
}

// refreshBind reacts to err, a failure to get a service connection while the password was of
// generation gen: on an invalid-credentials bind it reports whether the operation should be
// retried, either because another caller already changed the password since gen, or because a
// re-read (rate-limited) found a candidate that binds.
func (d *Directory) refreshBind(ctx context.Context, err error, gen int) bool {
	if !goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
		return false
	}
	d.ref.mu.Lock()
	defer d.ref.mu.Unlock() // held across the re-read: one refresh at a time per instance
	if d.ref.gen != gen {
		return true
	}
	if d.ref.source == nil || (!d.ref.last.IsZero() && d.ref.now().Sub(d.ref.last) < d.ref.interval) {
		return false
	}
	d.ref.last = d.ref.now()
	candidates, rerr := d.ref.source(ctx)
	if rerr != nil {
		d.warn("ldap.refreshBind", rerr)
		return false
	}
	current := d.ref.password
	if current == "" {
		current = d.cfg.BindPassword
	}
	for _, pw := range candidates {
		if pw == "" || pw == current {
			continue
		}
		c, derr := d.dialFn(ctx)
		if derr != nil {
			return false
		}
		d.setTimeout(ctx, c, d.cfg.DialTimeout)
		_, berr := c.SimpleBind(&goldap.SimpleBindRequest{Username: d.cfg.BindDN, Password: pw})
		_ = c.Close()
		if berr == nil {
			d.ref.password = pw
			d.ref.gen++
			d.pool.drain() // idle connections were bound with the old password
			return true
		}
	}
	return false
}
