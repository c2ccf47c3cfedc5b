// Package redistest gives tests the private redis-server that testdata/redis.sh
// starts (TLS and passwords on): its settings from the environment, a fresh key
// prefix per test, a canary sweep over every key, and private servers that a
// test may stop and restart.
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	chredis "chpass/shared/redis"
)

// Env is what testdata/redis.sh writes into DIR/env.
type Env struct {
	Addr, CA, Cert, Key string
	Password            string // the default user's (requirepass)
	User, UserPassword  string // an ACL user's
	Server              string // the redis-server binary, for private servers
}

// Require returns the test server's settings. Without REDIS_TEST_ADDR it skips
// loudly, and fails when CI=true: CI must run these tests.
func Require(tb testing.TB) Env {
	tb.Helper()
	e := Env{
		Addr: os.Getenv("REDIS_TEST_ADDR"), CA: os.Getenv("REDIS_TEST_CA"), Cert: os.Getenv("REDIS_TEST_CERT"),
		Key: os.Getenv("REDIS_TEST_KEY"), Password: os.Getenv("REDIS_TEST_PASSWORD"), User: os.Getenv("REDIS_TEST_USER"),
		UserPassword: os.Getenv("REDIS_TEST_USER_PASSWORD"), Server: os.Getenv("REDIS_TEST_SERVER"),
	}
	if e.Addr == "" {
		msg := "\n" +
			"################################################################################\n" +
			"#  REDIS TESTS NOT RUN: REDIS_TEST_ADDR is not set.\n" +
			"#  `make test` starts the test redis-server; by hand (needs redis-server, redis-tools, openssl):\n" +
			"#    shared/redis/testdata/install-deps.sh\n" +
			"#    shared/redis/testdata/redis.sh up /tmp/chpass-redis\n" +
			"#    eval \"$(shared/redis/testdata/redis.sh env /tmp/chpass-redis)\"\n" +
			"################################################################################"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg + "\n#  CI=true: failing instead of skipping.")
		}
		tb.Skip(msg)
	}
	for k, v := range map[string]string{"REDIS_TEST_CA": e.CA, "REDIS_TEST_PASSWORD": e.Password, "REDIS_TEST_USER": e.User,
		"REDIS_TEST_USER_PASSWORD": e.UserPassword, "REDIS_TEST_SERVER": e.Server, "REDIS_TEST_CERT": e.Cert, "REDIS_TEST_KEY": e.Key} {
		if v == "" {
			tb.Fatalf("REDIS_TEST_ADDR is set but %s is not; source the env file that redis.sh writes", k)
		}
	}
	return e
}

// Config returns a configuration for the shared test server, as the ACL user,
// with a key prefix of its own that no other test uses, and a canary sweep of
// that prefix at cleanup for each of secrets.
func Config(tb testing.TB, secrets ...string) chredis.Config {
	tb.Helper()
	e := Require(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg := chredis.Config{
		Address:   "rediss://" + e.Addr,
		CAFile:    e.CA,
		Username:  e.User,
		Password:  e.UserPassword,
		KeyPrefix: "test" + hex.EncodeToString(b[:]) + ":",
	}
	tb.Cleanup(func() { Sweep(tb, cfg, secrets...) })
	return cfg
}

// Client returns a plain connection to cfg's server (redigo, outside the Store),
// for tests to look inside.
func Client(tb testing.TB, cfg chredis.Config) redis.Conn {
	tb.Helper()
	pem, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := redis.Dial("tcp", strings.TrimPrefix(cfg.Address, "rediss://"),
		redis.DialUsername(cfg.Username), redis.DialPassword(cfg.Password), redis.DialUseTLS(true),
		redis.DialTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}),
		redis.DialConnectTimeout(5*time.Second), redis.DialReadTimeout(5*time.Second), redis.DialWriteTimeout(5*time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Sweep scans every key under cfg's prefix and dumps it (DUMP, the whole
// serialized value, whatever its type), and fails the test if any key or value
// holds one of secrets. It reports how many keys it read.
func Sweep(tb testing.TB, cfg chredis.Config, secrets ...string) int {
	tb.Helper()
	c := Client(tb, cfg)
	n := 0
	cursor := "0"
	for {
		reply, err := redis.Values(c.Do("SCAN", cursor, "MATCH", cfg.KeyPrefix+"*", "COUNT", 500))
		if err != nil || len(reply) != 2 {
			tb.Errorf("canary sweep: SCAN: %v", err)
			return n
		}
		cursor, _ = redis.String(reply[0], nil)
		keys, _ := redis.Strings(reply[1], nil)
		for _, k := range keys {
			n++
			dump, err := redis.String(c.Do("DUMP", k))
			if err == redis.ErrNil {
				continue // expired since the scan
			}
			if err != nil {
				tb.Errorf("canary sweep: DUMP: %v", err)
				return n
			}
			for _, s := range secrets {
				if s == "" {
					continue
				}
				if strings.Contains(k, s) || strings.Contains(dump, s) {
					tb.Errorf("canary sweep: a secret appears in Redis (key %q)", k)
				}
			}
		}
		if cursor == "0" {
			break
		}
	}
	return n
}

// Server is a private redis-server that one test may stop and restart: TLS
// with the shared server's certificate, a password, and an append-only file so
// that its data outlives a restart.
type Server struct {
	Addr, Password string
	env            Env
	dir            string
	cmd            *exec.Cmd
}

// StartServer starts a private server on a free loopback port; cleanup kills it.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	e := Require(tb)
	var b [12]byte
	_, _ = rand.Read(b[:])
	s := &Server{env: e, dir: tb.TempDir(), Password: hex.EncodeToString(b[:])}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.Addr = l.Addr().String()
	l.Close()
	conf := fmt.Sprintf("bind 127.0.0.1\nport 0\ntls-port %s\ntls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\n"+
		"tls-auth-clients no\nrequirepass %s\ndir %s\nappendonly yes\nappendfsync always\nsave \"\"\n",
		s.Addr[strings.LastIndex(s.Addr, ":")+1:], e.Cert, e.Key, e.CA, s.Password, s.dir)
	if err := os.WriteFile(filepath.Join(s.dir, "redis.conf"), []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Kill(tb) }) // before Start, so that a server that never answers is killed too
	s.Start(tb)
	return s
}

// Config returns a configuration for the private server.
func (s *Server) Config() chredis.Config {
	return chredis.Config{Address: "rediss://" + s.Addr, CAFile: s.env.CA, Password: s.Password, KeyPrefix: "chpass:", Timeout: 300 * time.Millisecond, DialTimeout: 300 * time.Millisecond}
}

// Start starts the server (again) and waits until it answers.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	s.cmd = exec.Command(s.env.Server, filepath.Join(s.dir, "redis.conf"))
	out, _ := s.cmd.StdoutPipe()
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { // drain the log
		sc := bufio.NewScanner(out)
		for sc.Scan() {
		}
	}()
	st, err := chredis.Open(s.Config(), chredis.DefaultLimits())
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(10 * time.Second)
	for st.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			tb.Fatalf("the private redis-server on %s did not answer", s.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill(tb testing.TB) {
	tb.Helper()
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
