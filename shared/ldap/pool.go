package ldap

import (
	"context"
	"errors"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// conn is what the adapter asks of an LDAP connection; *ldap.Conn has it.
type conn interface {
	SimpleBind(*goldap.SimpleBindRequest) (*goldap.SimpleBindResult, error)
	Search(*goldap.SearchRequest) (*goldap.SearchResult, error)
	SearchWithPaging(*goldap.SearchRequest, uint32) (*goldap.SearchResult, error)
	Modify(*goldap.ModifyRequest) error
	Extended(*goldap.ExtendedRequest) (*goldap.ExtendedResponse, error)
	SetTimeout(time.Duration)
	IsClosing() bool
	Unbind() error
	Close() error
}

// release ends a healthy connection cleanly: an unbind request, then the close.
func release(c conn) {
	if c.Unbind() != nil {
		_ = c.Close()
	}
}

var _ conn = (*goldap.Conn)(nil)

// errPoolClosed is returned once Close has been called.
var errPoolClosed = goldap.NewError(goldap.LDAPResultUnavailable, errors.New("ldap: directory closed"))

// pooled is a connection bound as the service account, with when it was last used.
type pooled struct {
	c    conn
	used time.Time
}

// pool keeps at most size connections bound as the service account. A caller
// holds one token of sem for as long as it holds a connection, so no more than
// size connections are ever open; idle ones wait in idle.
type pool struct {
	dial      func(ctx context.Context) (conn, error) // dials and binds as the service account
	sem       chan struct{}
	idle      chan *pooled
	checkIdle time.Duration      // idle connections older than this are probed before use
	probe     time.Duration      // timeout of that probe
	ping      func(c conn) error // the probe; the dialect's (Who am I? by default)

	mu     sync.Mutex
	closed bool
}

func newPool(size int, checkIdle, probe time.Duration, dial func(ctx context.Context) (conn, error)) *pool {
	return &pool{
		dial:      dial,
		sem:       make(chan struct{}, size),
		idle:      make(chan *pooled, size),
		checkIdle: checkIdle,
		probe:     probe,
	}
}

// get returns a healthy connection, reusing an idle one or dialing anew, waiting
// for a free slot no longer than ctx allows. The caller must put it back.
func (p *pool) get(ctx context.Context) (*pooled, error) {
	if p.isClosed() {
		return nil, errPoolClosed
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		select {
		case pc := <-p.idle:
			if p.healthy(pc) {
				return pc, nil
			}
			_ = pc.c.Close()
			continue
		default:
		}
		c, err := p.dial(ctx)
		if err != nil {
			<-p.sem
			return nil, err
		}
		return &pooled{c: c, used: time.Now()}, nil
	}
}

// healthy reports whether an idle connection can be used: it is not closing and,
// when it idled long enough for a firewall or the server to have dropped it
// silently, it answers a probe: ping, or a Who am I? request.
func (p *pool) healthy(pc *pooled) bool {
	if pc.c.IsClosing() {
		return false
	}
	if time.Since(pc.used) < p.checkIdle {
		return true
	}
	pc.c.SetTimeout(p.probe)
	if p.ping != nil {
		return p.ping(pc.c) == nil
	}
	_, err := pc.c.Extended(goldap.NewExtendedRequest(oidWhoAmI, nil))
	return err == nil
}

// put returns a connection taken by get. A connection that broke, or that err
// says may be out of step with the server, is closed instead of kept.
func (p *pool) put(pc *pooled, err error) {
	defer func() { <-p.sem }()
	if err != nil && brokenConn(err) || pc.c.IsClosing() {
		_ = pc.c.Close()
		return
	}
	if p.isClosed() {
		release(pc.c)
		return
	}
	pc.used = time.Now()
	select {
	case p.idle <- pc:
	default:
		release(pc.c)
	}
	// Close may have drained idle between the check and the send.
	if p.isClosed() {
		p.drain()
	}
}

// brokenConn reports whether err leaves the connection unusable: a network error
// or a timeout, after which a late answer could still arrive.
func brokenConn(err error) bool {
	var le *goldap.Error
	if errors.As(err, &le) {
		return le.ResultCode == goldap.ErrorNetwork || le.ResultCode >= goldap.LDAPResultServerDown && le.ResultCode <= goldap.LDAPResultConnectError
	}
	return true
}

func (p *pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// close closes every idle connection; connections in use are closed as they come back.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.drain()
}

func (p *pool) drain() {
	for {
		select {
		case pc := <-p.idle:
			release(pc.c)
		default:
			return
		}
	}
}
