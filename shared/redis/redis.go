// Package redis keeps chpass's shared state in Redis (Amazon ElastiCache or
// MemoryDB, ApsaraDB for Redis or Tair) through redigo, so that every
// instance of a function sees the same state: the guard's used nonces and
// bad-signature lockouts, each one atomic Lua script, one round trip.
//
// Every failure of Redis is reported wrapped in guard.ErrUnavailable, and a
// failed call changes nothing that the caller relies on: the surfaces answer
// 503 and never fall back to per-instance state. Commands are not retried: a
// script that ran but whose answer was lost would, run again, refuse its own
// request as a replay.
package redis

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"

	"chpass/shared/guard"
)

// Config says how to reach Redis.
type Config struct {
	// Address is rediss://host:port[/db] (TLS), or host:port (TLS too), or
	// redis://host:port[/db] (plain TCP, allowed only on a loopback address).
	// A user or password in the address is refused: they belong in Username and
	// Password, which may be secret references.
	Address string
	// CAFile is a PEM file of the CAs that sign the server's certificate; empty
	// uses the system's roots (ElastiCache and ApsaraDB use public CAs).
	CAFile string
	// ServerName is the name the certificate must carry; default the address's host.
	ServerName string
	// Username is the ACL user (Redis 6+); empty authenticates as "default"
	// with Password alone (requirepass, or ElastiCache's AUTH token).
	Username string
	Password string
	// KeyPrefix starts every key; default "chpass:".
	KeyPrefix string
	// DialTimeout bounds a connection's setup (TCP, TLS, AUTH); default 2s.
	DialTimeout time.Duration
	// Timeout bounds each command's read and write; default 500ms.
	Timeout time.Duration
	// PoolSize is the most connections open at once; default 10 per CPU.
	PoolSize int
}

// Store is the shared state on Redis. It is safe for concurrent use.
type Store struct {
	pool    *redis.Pool
	getWait time.Duration // how long a command waits for a connection, dialing included
	prefix  string
	limits  guard.Limits
}

var _ guard.Store = (*Store)(nil)

// Open returns a Store for cfg, locking keys by limits (zero fields take
// guard.DefaultLimits). It does not connect; Ping does.
func Open(cfg Config, limits guard.Limits) (*Store, error) {
	o, err := options(cfg)
	if err != nil {
		return nil, err
	}
	prefix := cfg.KeyPrefix
	if prefix == "" {
		prefix = "chpass:"
	}
	size := cfg.PoolSize
	if size <= 0 {
		size = 10 * runtime.GOMAXPROCS(0)
	}
	pool := &redis.Pool{
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			var tcp net.Conn
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{Timeout: o.dialTimeout, KeepAlive: 5 * time.Minute}).DialContext(ctx, network, addr)
				tcp = c
				return c, err
			}
			c, err := redis.DialContext(ctx, "tcp", o.addr, append(slices.Clip(o.dial), redis.DialContextFunc(dial))...)
			if err != nil {
				return nil, err
			}
			return liveConn{Conn: c, tcp: tcp}, nil
		},
		// A connection the server closed while it sat in the pool (a restart, a
		// failover) is found closed here and replaced, instead of failing a request.
		TestOnBorrow: func(c redis.Conn, _ time.Time) error {
			if lc, ok := c.(liveConn); ok {
				return connCheck(lc.tcp)
			}
			return nil
		},
		MaxActive:   size,
		MaxIdle:     size,
		IdleTimeout: 4 * time.Minute, // below the servers' and the NAT gateways' idle limits
		Wait:        true,
	}
	return &Store{pool: pool, getWait: o.timeout + o.dialTimeout, prefix: prefix, limits: limits.WithDefaults()}, nil
}

// liveConn is a connection with the TCP connection under it, so that the pool
// can see whether the server closed it (connCheck).
type liveConn struct {
	redis.Conn
	tcp net.Conn
}

// DoContext and ReceiveContext keep the connection's context support
// (redis.ConnWithContext), which the embedded interface hides.
func (c liveConn) DoContext(ctx context.Context, cmd string, args ...any) (any, error) {
	return redis.DoContext(c.Conn, ctx, cmd, args...)
}

func (c liveConn) ReceiveContext(ctx context.Context) (any, error) {
	return redis.ReceiveContext(c.Conn, ctx)
}

// do runs one command on a pooled connection. A connection whose command
// failed on the network is dropped, not reused. Commands are never retried.
func (s *Store) do(ctx context.Context, cmd string, args ...any) (any, error) {
	return s.with(ctx, func(c redis.Conn) (any, error) { return redis.DoContext(c, ctx, cmd, args...) })
}

// with runs f on a pooled connection, waiting for one at most getWait.
func (s *Store) with(ctx context.Context, f func(redis.Conn) (any, error)) (any, error) {
	gctx, cancel := context.WithTimeout(ctx, s.getWait)
	c, err := s.pool.GetContext(gctx)
	cancel()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return f(c)
}

// script is a Lua script run with EVALSHA (EVAL when the server lacks it: a
// script EVALSHA found missing did not run, so it never runs twice). Its
// redis.Script, which hashes the source, is made by its first run rather than
// at every start: a package-level &script{...} costs a start nothing.
type script struct {
	src  string
	once sync.Once
	s    *redis.Script
}

// run runs the script with keys and args on a pooled connection.
func (sc *script) run(ctx context.Context, s *Store, keys []string, args ...any) (any, error) {
	sc.once.Do(func() { sc.s = redis.NewScript(-1, sc.src) })
	kv := make([]any, 0, 1+len(keys)+len(args))
	kv = append(kv, len(keys))
	for _, k := range keys {
		kv = append(kv, k)
	}
	kv = append(kv, args...)
	return s.with(ctx, func(c redis.Conn) (any, error) { return sc.s.DoContext(ctx, c, kv...) })
}

// dialOptions is what Open derives from a Config.
type dialOptions struct {
	addr                 string
	dial                 []redis.DialOption
	timeout, dialTimeout time.Duration
}

func options(cfg Config) (dialOptions, error) {
	addr := cfg.Address
	useTLS := true
	db := 0
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return dialOptions{}, errors.New("redis: the address is not rediss://host:port[/db]")
		}
		switch u.Scheme {
		case "rediss":
		case "redis":
			useTLS = false
		default:
			return dialOptions{}, fmt.Errorf("redis: the address's scheme must be rediss (or redis on loopback), not %q", u.Scheme)
		}
		if u.User != nil {
			return dialOptions{}, errors.New("redis: the address must not hold a user or password: set username and password")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return dialOptions{}, errors.New("redis: the address must not have a query or fragment")
		}
		if p := strings.Trim(u.Path, "/"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return dialOptions{}, errors.New("redis: the address's path must be a database number")
			}
			db = n
		}
		addr = u.Host
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return dialOptions{}, errors.New("redis: the address must name a host and a port")
	}
	if !useTLS {
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return dialOptions{}, errors.New("redis: plain redis:// is allowed only on a loopback address; use rediss:// (TLS)")
		}
	}
	o := dialOptions{addr: addr, timeout: def(cfg.Timeout, 500*time.Millisecond), dialTimeout: def(cfg.DialTimeout, 2*time.Second)}
	o.dial = []redis.DialOption{
		redis.DialDatabase(db),
		redis.DialPassword(cfg.Password),
		redis.DialUsername(cfg.Username),
		redis.DialConnectTimeout(o.dialTimeout),
		redis.DialTLSHandshakeTimeout(o.dialTimeout),
		redis.DialReadTimeout(o.timeout),
		redis.DialWriteTimeout(o.timeout),
		redis.DialUseTLS(useTLS),
	}
	if useTLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
		if tc.ServerName == "" {
			tc.ServerName = host
		}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return dialOptions{}, fmt.Errorf("redis: ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return dialOptions{}, errors.New("redis: ca_file holds no PEM certificate")
			}
			tc.RootCAs = pool
		}
		o.dial = append(o.dial, redis.DialTLSConfig(tc))
	}
	return o, nil
}

func def(d, v time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return v
}

// Close closes the connections.
func (s *Store) Close() error { return s.pool.Close() }

// Ping checks that Redis answers and accepts the credentials.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.do(ctx, "PING"); err != nil {
		return unavailable("Ping", err)
	}
	return nil
}

// unavailable wraps a failure of Redis. redigo's errors name the address and
// the server's reply, never the password.
func unavailable(op string, err error) error {
	return fmt.Errorf("redis.%s: %w: %v", op, guard.ErrUnavailable, err)
}

// keys of a guard.Key: the scope in braces is the hash tag, so that a script's
// keys share one slot on a cluster.
func (s *Store) guardKeys(k guard.Key) (lock, fails string) {
	base := s.prefix + "g:{" + k.Scope + "}:"
	return base + "l:" + k.Source, base + "f:" + k.Source
}

// nonceKey holds a digest of the nonce, never the nonce: the IAM surface's
// nonce is the request's signature.
func (s *Store) nonceKey(k guard.Key, nonce string) string {
	sum := sha256.Sum256([]byte(nonce))
	return s.prefix + "g:{" + k.Scope + "}:n:" + hex.EncodeToString(sum[:16])
}

// admitScript: KEYS lock, fails, nonce; ARGV ttl in ms. Returns a guard.Verdict.
var admitScript = &script{src: `
if redis.call('EXISTS', KEYS[1]) == 1 then return 3 end
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[1]) then return 2 end
redis.call('DEL', KEYS[2])
return 1
`}

// failScript: KEYS lock, fails; ARGV failures, lock ms, window ms. Returns a guard.Verdict.
var failScript = &script{src: `
if redis.call('EXISTS', KEYS[1]) == 1 then return 3 end
local n = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
  redis.call('DEL', KEYS[2])
  return 5
end
return 4
`}

// Admit implements guard.Store.
func (s *Store) Admit(ctx context.Context, k guard.Key, nonce string, ttl time.Duration) (guard.Verdict, error) {
	lock, fails := s.guardKeys(k)
	ms := max(ttl.Milliseconds(), 1)
	v, err := redis.Int(admitScript.run(ctx, s, []string{lock, fails, s.nonceKey(k, nonce)}, ms))
	if err != nil {
		return 0, unavailable("Admit", err)
	}
	return guard.Verdict(v), nil
}

// Fail implements guard.Store.
func (s *Store) Fail(ctx context.Context, k guard.Key) (guard.Verdict, error) {
	lock, fails := s.guardKeys(k)
	v, err := redis.Int(failScript.run(ctx, s, []string{lock, fails},
		s.limits.Failures, s.limits.Lock.Milliseconds(), s.limits.Window.Milliseconds()))
	if err != nil {
		return 0, unavailable("Fail", err)
	}
	return guard.Verdict(v), nil
}

// DefaultLimits returns guard.DefaultLimits.
func DefaultLimits() guard.Limits { return guard.DefaultLimits }

// Users returns the per-user lockout counter over the same connections:
// limits.Failures wrong old passwords lock a user for limits.Lock.
func (s *Store) Users(limits guard.Limits) Users {
	return Users{s: s, limits: limits.WithDefaults()}
}

// Users counts wrong old passwords per user (password.UserCounter), shared by
// every instance, for directories without a lockout of their own.
type Users struct {
	s      *Store
	limits guard.Limits
}

func (u Users) key(name string) guard.Key {
	sum := sha256.Sum256([]byte(name))
	return guard.Key{Scope: "user:" + hex.EncodeToString(sum[:16])}
}

// UserLocked implements password.UserCounter.
func (u Users) UserLocked(ctx context.Context, name string) (bool, error) {
	lock, _ := u.s.guardKeys(u.key(name))
	n, err := redis.Int(u.s.do(ctx, "EXISTS", lock))
	if err != nil {
		return false, unavailable("UserLocked", err)
	}
	return n == 1, nil
}

// UserFailed implements password.UserCounter.
func (u Users) UserFailed(ctx context.Context, name string) error {
	lock, fails := u.s.guardKeys(u.key(name))
	_, err := failScript.run(ctx, u.s, []string{lock, fails},
		u.limits.Failures, u.limits.Lock.Milliseconds(), u.limits.Window.Milliseconds())
	if err != nil {
		return unavailable("UserFailed", err)
	}
	return nil
}

// UserSucceeded implements password.UserCounter.
func (u Users) UserSucceeded(ctx context.Context, name string) error {
	_, fails := u.s.guardKeys(u.key(name))
	if _, err := u.s.do(ctx, "DEL", fails); err != nil {
		return unavailable("UserSucceeded", err)
	}
	return nil
}
