package crash

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chpass/shared/ehpcapi"
	"chpass/shared/ldap/ldaptest"
	chredis "chpass/shared/redis"
	"chpass/shared/redis/redistest"
)

// sharedFixture is ldapFixture for two servers on one Redis: no embedded store
// (two servers cannot share a bbolt file), tasks in Redis with a short lease.
func sharedFixture(tb testing.TB, rc chredis.Config) *fixture {
	e := ldaptest.Require(tb)
	tb.Setenv("CHPASS_CRASH_BIND_PASSWORD", e.AdminPassword)
	tb.Setenv("CHPASS_CRASH_REDIS_PASSWORD", rc.Password)
	dir := tb.TempDir()
	f := &fixture{current: map[string]string{}}
	for _, u := range e.FreshUsers(tb, nUsers, "") {
		f.users = append(f.users, u.Name)
		f.current[u.Name] = u.Password
	}
	f.cfgPath = filepath.Join(dir, "chpass.yaml")
	cfg := fmt.Sprintf(`
log_level: info
tasks: {key: Y3Jhc2gtdGFzay1rZXktMzItYnl0ZXMtbG9uZy4uLi4=, lease: 2s}
batch: {concurrency: 4}
policy: {minimum_password_length: 8, password_char_combination: 3, password_reuse_prevention: 3}
access_keys:
  - {id: %s, secret: %s, actions: ["*"], clusters: ["*"]}
store: {path: %s}
self_service: {directory: corp}
directories:
  corp:
    type: ldap
    ldap:
      url: %s
      start_tls: true
      ca_file: %s
      bind_dn: %s
      bind_password: ${CHPASS_CRASH_BIND_PASSWORD}
      user_dn_template: uid=%%s,%s
clusters:
  %s: {directory: corp, status: running}
redis:
  address: %s
  ca_file: %s
  username: "%s"
  password: ${CHPASS_CRASH_REDIS_PASSWORD}
  key_prefix: "%s"
`, keyID, secret, filepath.Join(dir, "unused.db"), e.URL, e.CA, e.AdminDN, e.People, cluster, rc.Address, rc.CAFile, rc.Username, rc.KeyPrefix)
	if err := os.WriteFile(f.cfgPath, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	f.binds = func(tb testing.TB, name, pw string) bool { return e.Bind(tb, name, pw) }
	f.atRest = func() []string { return nil } // Redis is swept by redistest at cleanup
	return f
}

// TestTwoServersOneRedis: an Async task accepted by one local server, which is
// killed (kill -9) mid-batch, is finished by another server on the same Redis
// once the dead one's lease has run out, with every user's outcome exact and
// nobody reset twice. Redis holds no password in clear (the sweep at cleanup).
func TestTwoServersOneRedis(t *testing.T) {
	f := sharedFixture(t, redistest.Config(t, canary))
	for i, killAfter := range []int{1, nUsers / 2} {
		t.Run(fmt.Sprintf("kill-after-%d", killAfter), func(t *testing.T) {
			next := map[string]string{}
			params := map[string]string{"Action": ehpcapi.ActionModifyUserPasswords, "ClusterId": cluster, "Async": "true"}
			batch := append(append(append([]string{}, f.users[:nUsers/2]...), ghost), f.users[nUsers/2:]...)
			for j, n := range batch {
				pw := fmt.Sprintf("S%02d-%s-%s-%d", i, canary, n, j)
				next[n] = pw
				params[fmt.Sprintf("User.%d.Name", j+1)] = n
				params[fmt.Sprintf("User.%d.Password", j+1)] = pw
			}
			a, b := start(t, f.cfgPath), start(t, f.cfgPath)
			status, body, err := call(context.Background(), a.url, params)
			if err != nil || status != 200 {
				t.Fatalf("Async on a: %d %v %v", status, body, err)
			}
			taskID, _ := body["TaskId"].(string)
			a.waitLines(killAfter, event("audit_intent"), event("task_finished"), 30*time.Second)
			a.kill()
			killed := time.Now()
			info := waitTask(t, b, taskID)
			t.Logf("b finished the task %v after a was killed", time.Since(killed).Round(time.Millisecond))
			var results []outcome
			if err := json.Unmarshal([]byte(info["Result"].(string)), &results); err != nil {
				t.Fatal(err)
			}
			if len(results) != len(batch) || info["Status"] != ehpcapi.TaskPartialFail {
				t.Fatalf("the finished task: %v, want PartialFail with %d users", info, len(batch))
			}
			b.kill()
			logs := append(strings.Split(a.log(), "\n"), strings.Split(b.log(), "\n")...)
			for _, l := range logs {
				if strings.Contains(l, canary) {
					t.Fatal("a password appears in a server's log")
				}
			}
			check(t, f, round{async: true, killAfter: killAfter}, batch, next, results, logs, taskID)
		})
	}
}

// TestRedisRestartedMidBatch: Redis killed (kill -9) while a local server runs
// an Async batch, and started again: the task is finished with every user's
// outcome exact (Redis keeps its data in an append-only file).
func TestRedisRestartedMidBatch(t *testing.T) {
	srv := redistest.StartServer(t)
	rc := srv.Config()
	f := sharedFixture(t, rc)
	next := map[string]string{}
	params := map[string]string{"Action": ehpcapi.ActionModifyUserPasswords, "ClusterId": cluster, "Async": "true"}
	batch := append(append(append([]string{}, f.users[:nUsers/2]...), ghost), f.users[nUsers/2:]...)
	for j, n := range batch {
		pw := fmt.Sprintf("T-%s-%s-%d", canary, n, j)
		next[n] = pw
		params[fmt.Sprintf("User.%d.Name", j+1)] = n
		params[fmt.Sprintf("User.%d.Password", j+1)] = pw
	}
	p := start(t, f.cfgPath)
	status, body, err := call(context.Background(), p.url, params)
	if err != nil || status != 200 {
		t.Fatalf("Async: %d %v %v", status, body, err)
	}
	taskID, _ := body["TaskId"].(string)
	p.waitLines(3, event("audit_intent"), event("task_finished"), 30*time.Second)
	srv.Kill(t)
	// While Redis is down a signed request answers 503 and changes nothing.
	status, body, _ = call(context.Background(), p.url, map[string]string{"Action": ehpcapi.ActionListTasks, "ClusterId": cluster, "TaskId": taskID})
	if status != 503 || body["Code"] != ehpcapi.CodeServiceUnavailable {
		t.Fatalf("with Redis down: %d %v, want 503 %s", status, body, ehpcapi.CodeServiceUnavailable)
	}
	srv.Start(t)
	info := waitTask(t, p, taskID)
	var results []outcome
	if err := json.Unmarshal([]byte(info["Result"].(string)), &results); err != nil {
		t.Fatal(err)
	}
	if len(results) != len(batch) || info["Status"] != ehpcapi.TaskPartialFail {
		t.Fatalf("the finished task: %v, want PartialFail with %d users", info, len(batch))
	}
	if n := redistest.Sweep(t, rc, canary); n == 0 {
		t.Error("the canary sweep found no key in Redis")
	}
	p.kill()
	logs := strings.Split(p.log(), "\n")
	check(t, f, round{async: true, killAfter: 3}, batch, next, results, logs, taskID)
}
