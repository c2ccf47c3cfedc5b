package crash

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"chpass/shared/ehpcapi"
	"chpass/shared/embedded"
	"chpass/shared/ldap/ldaptest"
)

// server is the local server's binary (functions/local), built once by TestMain:
// the tests run it, as make run does, and kill it.
var server string

// TestMain builds the local server, then runs the tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chpass-crash-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = filepath.Join(dir, "local")
	args := []string{"build", "-o", server}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "chpass/functions/local")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the local server: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// servingLine is the local server's line that says where it listens.
var servingLine = regexp.MustCompile(`serving every function on (http://\S+)`)

const (
	keyID   = "LTAIcrashKEY"
	secret  = "crash-secret-0123456789"
	cluster = "crash"
	ghost   = "ghost-user"
	// canary is in every password the loop sets; it must never be in a log
	// line or, in clear, in the store's file.
	canary = "Cr4sh-Kanary"
	nUsers = 12
)

// proc is one incarnation of the child server.
type proc struct {
	cmd   *exec.Cmd
	url   string
	mu    sync.Mutex
	logs  bytes.Buffer
	lines chan string
	done  chan struct{}
}

func start(tb testing.TB, cfgPath string) *proc {
	tb.Helper()
	cmd := exec.Command(server, "-config", cfgPath, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 100000), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			p.lines <- sc.Text()
		}
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		url := ""
		for url == "" && sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				url = m[1]
			}
		}
		addr <- url
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case p.url = <-addr:
	case <-time.After(2 * time.Minute): // a race-built child on a loaded machine
	}
	if !strings.HasPrefix(p.url, "http://") {
		p.kill()
		tb.Fatalf("the server did not start: %q; logs: %s", p.url, p.log())
	}
	tb.Cleanup(p.kill)
	return p
}

// kill kills the process with SIGKILL and waits for it and its output.
func (p *proc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	<-p.done
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// waitLines waits until n lines matching match have been logged, the process
// logged a line matching stop (then it reports true), or timeout passed.
func (p *proc) waitLines(n int, match, stop func(map[string]any) bool, timeout time.Duration) (stopped bool) {
	deadline := time.After(timeout)
	for seen := 0; seen < n; {
		select {
		case l := <-p.lines:
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) != nil {
				continue
			}
			if match(m) {
				seen++
			}
			if stop != nil && stop(m) {
				return true
			}
		case <-deadline:
			return false
		}
	}
	return false
}

func event(name string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["event"] == name }
}

func anyAudit(m map[string]any) bool { return m["event"] == "audit" || m["event"] == "audit_intent" }

func nonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// call sends a signed E-HPC request and decodes the answer.
func call(ctx context.Context, base string, params map[string]string) (int, map[string]any, error) {
	p := map[string]string{
		"Version": ehpcapi.Version, "Format": "JSON", "AccessKeyId": keyID, "SignatureMethod": "HMAC-SHA1",
		"SignatureVersion": "1.0", "SignatureNonce": nonce(), "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"),
	}
	for k, v := range params {
		p[k] = v
	}
	p["Signature"] = ehpcapi.Sign(http.MethodPost, p, secret)
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%d %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, body, nil
}

// fixture is a directory under test: its users, the server's configuration,
// and how to learn which password really binds.
type fixture struct {
	cfgPath string
	users   []string
	current map[string]string // what each user's password is now
	// binds reports whether name's password is pw in the directory; the
	// server is not running when it is called.
	binds func(tb testing.TB, name, pw string) bool
	// atRest returns the files to sweep for the canary.
	atRest func() []string
	// noFailedLogons, when set, fails tb if the directory counted a failed
	// logon for a user since the last successful bind (AD's badPwdCount);
	// it is called after the servers are killed, before binds checks.
	noFailedLogons func(tb testing.TB, name string)
}

func writeConfig(tb testing.TB, dir, body string) string {
	tb.Helper()
	path := filepath.Join(dir, "chpass.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

const common = `
log_level: info
tasks: {key: Y3Jhc2gtdGFzay1rZXktMzItYnl0ZXMtbG9uZy4uLi4=}
batch: {concurrency: 4}
policy: {minimum_password_length: 8, password_char_combination: 3, password_reuse_prevention: 3}
access_keys:
  - {id: ` + keyID + `, secret: ` + secret + `, actions: ["*"], clusters: ["*"]}
`

var cheap = embedded.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

func embeddedFixture(tb testing.TB) *fixture {
	dir := tb.TempDir()
	store := filepath.Join(dir, "chpass.db")
	f := &fixture{current: map[string]string{}}
	var seed strings.Builder
	for i := range nUsers {
		name := fmt.Sprintf("crash%02d", i)
		f.users = append(f.users, name)
		f.current[name] = fmt.Sprintf("Init-%02d-Pass!x", i)
		fmt.Fprintf(&seed, "  - {name: %s, password: %q}\n", name, f.current[name])
	}
	f.cfgPath = writeConfig(tb, dir, common+fmt.Sprintf(`
store: {path: %s, argon2: {time: 1, memory_kib: 64, threads: 1}}
self_service: {directory: embedded}
clusters:
  %s: {directory: embedded, status: running}
users:
%s`, store, cluster, seed.String()))
	f.binds = func(tb testing.TB, name, pw string) bool {
		tb.Helper()
		s, err := embedded.Open(embedded.Options{Path: store, Argon2: cheap})
		if err != nil {
			tb.Fatal(err)
		}
		defer s.Close()
		ok, err := s.HoldsPassword(context.Background(), name, pw)
		if err != nil {
			tb.Fatal(err)
		}
		return ok
	}
	f.atRest = func() []string { return []string{store} }
	return f
}

func ldapFixture(tb testing.TB) *fixture {
	e := ldaptest.Require(tb)
	tb.Setenv("CHPASS_CRASH_BIND_PASSWORD", e.AdminPassword)
	dir := tb.TempDir()
	store := filepath.Join(dir, "tasks.db")
	f := &fixture{current: map[string]string{}}
	for _, u := range e.FreshUsers(tb, nUsers, "") {
		f.users = append(f.users, u.Name)
		f.current[u.Name] = u.Password
	}
	f.cfgPath = writeConfig(tb, dir, common+fmt.Sprintf(`
store: {path: %s, argon2: {time: 1, memory_kib: 64, threads: 1}}
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
`, store, e.URL, e.CA, e.AdminDN, e.People, cluster))
	f.binds = func(tb testing.TB, name, pw string) bool { return e.Bind(tb, name, pw) }
	f.atRest = func() []string { return []string{store} }
	return f
}

// adFixture is the Samba AD domain with the delegated service account (not a
// Domain Admin), users found by sAMAccountName under OU=People. The truth is a
// bind as the user; the previous password's bind follows a failed one, and a
// successful bind sets badPwdCount back to 0, so that at the next round's
// check any count above 0 is the server's doing: noFailedLogons reads it, as
// Administrator, before the binds.
func adFixture(tb testing.TB) *fixture {
	e := ldaptest.RequireAD(tb)
	tb.Setenv("CHPASS_CRASH_BIND_PASSWORD", e.ServicePassword)
	dir := tb.TempDir()
	store := filepath.Join(dir, "tasks.db")
	f := &fixture{current: map[string]string{}}
	for _, u := range e.FreshUsers(tb, nUsers) {
		f.users = append(f.users, u.Name)
		f.current[u.Name] = u.Password
	}
	f.cfgPath = writeConfig(tb, dir, common+fmt.Sprintf(`
store: {path: %s, argon2: {time: 1, memory_kib: 64, threads: 1}}
self_service: {directory: ad}
directories:
  ad:
    type: ldap
    ldap:
      dialect: active_directory
      url: %s
      ca_file: %s
      bind_dn: %q
      bind_password: ${CHPASS_CRASH_BIND_PASSWORD}
      user_search: {base: %q}
clusters:
  %s: {directory: ad, status: running}
`, store, e.URL, e.CA, e.ServiceDN, e.People, cluster))
	f.binds = func(tb testing.TB, name, pw string) bool { return e.Bind(tb, name, pw) == nil }
	f.noFailedLogons = func(tb testing.TB, name string) {
		tb.Helper()
		if n := e.Attr(tb, name, "badPwdCount"); n != "0" {
			tb.Errorf("%s: badPwdCount is %q after the server ran: it counted a failed logon", name, n)
		}
	}
	f.atRest = func() []string { return []string{store} }
	return f
}

// round is one batch and the moment its server is killed.
type round struct {
	async bool
	// killAfter is how many "audit_intent" lines the first server logs
	// before it is killed (0: at once after the request was answered or sent),
	// or how long killAfter users take by the calibration, whichever comes
	// first: the kill does not depend on the lines the server writes.
	killAfter int
	// killResume kills the restarted server too, after its first audit line
	// (Async only), so that a resumed run is itself interrupted.
	killResume bool
}

// rounds are the moments the loop kills the server at: before anything, after
// every few users, and after the end.
func rounds() []round {
	var rs []round
	for _, async := range []bool{false, true} {
		for i, k := range []int{0, 1, 3, 6, 10, nUsers + 2} {
			rs = append(rs, round{async: async, killAfter: k, killResume: async && i%2 == 1})
		}
	}
	return rs
}

func TestCrashLoopEmbedded(t *testing.T) { crashLoop(t, embeddedFixture(t)) }

func TestCrashLoopLDAP(t *testing.T) { crashLoop(t, ldapFixture(t)) }

// TestCrashLoopAD runs the loop on Samba AD, where an intent without an
// outcome is reconciled by PasswordChangedSince (replPropertyMetaData), not by
// reading the password back; no round may leave a failed logon counted.
func TestCrashLoopAD(t *testing.T) { crashLoop(t, adFixture(t)) }

func crashLoop(t *testing.T, f *fixture) {
	// Calibration: a whole sync batch, not killed, measures a user's time.
	var logs []string
	var took time.Duration
	t.Run("calibration", func(t *testing.T) { logs, took = runRound(t, f, 99, round{killAfter: -1}, 0) })
	// Three times what the calibration saw: later batches check a longer
	// password history on every reset.
	perUser := max(3*took/time.Duration(nUsers+1), time.Millisecond)
	t.Logf("a user takes about %v", perUser)
	for i, r := range rounds() {
		name := fmt.Sprintf("%02d-sync-kill-after-%d", i, r.killAfter)
		if r.async {
			name = fmt.Sprintf("%02d-async-kill-after-%d", i, r.killAfter)
			if r.killResume {
				name += "-and-resume"
			}
		}
		ok := t.Run(name, func(t *testing.T) {
			l, _ := runRound(t, f, i, r, perUser)
			logs = append(logs, l...)
		})
		if !ok {
			break
		}
	}
	// The canary sweep: no password in a log line, nor in clear at rest.
	for _, l := range logs {
		if strings.Contains(l, canary) {
			t.Fatal("a password is in the server's logs")
		}
	}
	for _, path := range f.atRest() {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(canary)) {
			t.Fatalf("a password is in clear in %s", path)
		}
	}
}

// outcome is what was reported for one user.
type outcome struct{ Name, Code string }

// runRound runs one round and returns the servers' logs and how long the
// first server ran after the batch was sent.
func runRound(t *testing.T, f *fixture, i int, r round, perUser time.Duration) ([]string, time.Duration) {
	next := map[string]string{}
	params := map[string]string{"Action": ehpcapi.ActionModifyUserPasswords, "ClusterId": cluster}
	batch := append([]string{}, f.users[:nUsers/2]...)
	batch = append(batch, ghost)
	batch = append(batch, f.users[nUsers/2:]...)
	for j, n := range batch {
		pw := fmt.Sprintf("R%02d-%s-%s-%d", i, canary, n, j)
		next[n] = pw
		params[fmt.Sprintf("User.%d.Name", j+1)] = n
		params[fmt.Sprintf("User.%d.Password", j+1)] = pw
	}
	if r.async {
		params["Async"] = "true"
	}
	ctx := context.Background()
	var procs []*proc
	p := start(t, f.cfgPath)
	procs = append(procs, p)
	sent := time.Now()
	var reported []outcome
	type answer struct {
		status int
		body   map[string]any
		err    error
	}
	answers := make(chan answer, 1)
	taskID := ""
	if r.async {
		status, body, err := call(ctx, p.url, params)
		if err != nil || status != 200 {
			t.Fatalf("Async: %d %v %v", status, body, err)
		}
		taskID, _ = body["TaskId"].(string)
	} else {
		go func() {
			status, body, err := call(ctx, p.url, params)
			answers <- answer{status, body, err}
		}()
	}
	ended := false
	end := event("task_finished")
	if !r.async {
		end = event("request") // the batch was answered
	}
	switch {
	case r.killAfter < 0: // not killed: the batch runs to its end
		ended = p.waitLines(1, end, end, time.Minute)
	case r.killAfter > 0:
		ended = p.waitLines(r.killAfter, event("audit_intent"), end, time.Duration(r.killAfter)*perUser)
	}
	took := time.Since(sent)
	var a answer
	if !r.async && ended {
		a = <-answers // answered before the kill: read it first
	}
	p.kill()
	if !r.async {
		if !ended {
			a = <-answers
		}
		if a.err == nil {
			// The batch ended before the kill: its answer is a report too.
			results, _ := a.body["Results"].([]any)
			if a.status != 409 || len(results) != len(batch) {
				t.Fatalf("sync answer %d %v", a.status, a.body)
			}
			for _, x := range results {
				m := x.(map[string]any)
				reported = append(reported, outcome{m["Name"].(string), m["Code"].(string)})
			}
		}
	}

	// Restart, as the platform does.
	p = start(t, f.cfgPath)
	procs = append(procs, p)
	if r.async && r.killResume && !ended {
		p.waitLines(1, anyAudit, event("task_finished"), 10*time.Second)
		p.kill()
		p = start(t, f.cfgPath)
		procs = append(procs, p)
	}
	if r.async {
		info := waitTask(t, p, taskID)
		var results []outcome
		if err := json.Unmarshal([]byte(info["Result"].(string)), &results); err != nil {
			t.Fatal(err)
		}
		if len(results) != len(batch) {
			t.Fatalf("the finished task reports %d users of %d: %v", len(results), len(batch), info)
		}
		if info["Status"] != ehpcapi.TaskPartialFail {
			t.Errorf("task status %v, want PartialFail (every user but %s changed)", info["Status"], ghost)
		}
		reported = append(reported, results...)
	} else if status, _, err := call(ctx, p.url, map[string]string{"Action": ehpcapi.ActionListUsers, "ClusterId": cluster}); err != nil || status == 0 {
		t.Fatalf("the restarted server does not answer: %v", err)
	}
	for _, p := range procs {
		p.kill()
	}
	var logs []string
	for _, p := range procs {
		logs = append(logs, strings.Split(p.log(), "\n")...)
	}
	check(t, f, r, batch, next, reported, logs, taskID)
	return logs, took
}

// waitTask polls ListTasks until the task has ended.
func waitTask(t *testing.T, p *proc, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		status, body, err := call(context.Background(), p.url, map[string]string{"Action": ehpcapi.ActionListTasks, "ClusterId": cluster, "TaskId": id})
		if err != nil || status != 200 {
			t.Fatalf("ListTasks: %d %v %v", status, body, err)
		}
		tasks, _ := body["Tasks"].([]any)
		if len(tasks) != 1 {
			t.Fatalf("ListTasks: %v", body)
		}
		info := tasks[0].(map[string]any)
		if info["Status"] != ehpcapi.TaskProcessing {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task did not end: %v\n%s", info, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check compares every report with the truth: for each user, which password
// binds (the new one or the one before), what was reported (the answer of a
// sync batch that finished, the task's per-user results, the audit lines), and
// that a changed password has an audit line.
func check(t *testing.T, f *fixture, r round, batch []string, next map[string]string, reported []outcome, logs []string, taskID string) {
	t.Helper()
	type audit struct {
		intents  int
		outcomes []string
	}
	checked := 0
	audits := map[string]*audit{}
	for _, l := range logs {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil || (m["event"] != "audit" && m["event"] != "audit_intent") {
			continue
		}
		if taskID != "" && m["task_id"] != taskID {
			t.Errorf("an audit line of another task: %s", l)
			continue
		}
		u, _ := m["user"].(string)
		if audits[u] == nil {
			audits[u] = &audit{}
		}
		if m["event"] == "audit_intent" {
			audits[u].intents++
		} else {
			audits[u].outcomes = append(audits[u].outcomes, fmt.Sprint(m["outcome"]))
			if m["checked"] == true {
				checked++
			}
		}
	}
	changed := 0
	for _, u := range batch {
		if u == ghost {
			continue
		}
		if f.noFailedLogons != nil {
			f.noFailedLogons(t, u)
		}
		isNew := f.binds(t, u, next[u])
		if !isNew && !f.binds(t, u, f.current[u]) {
			t.Fatalf("%s binds with neither its new nor its previous password", u)
		}
		a := audits[u]
		if a == nil {
			a = &audit{}
		}
		if isNew {
			changed++
			f.current[u] = next[u]
			if a.intents+len(a.outcomes) == 0 {
				t.Errorf("%s: the password changed and there is no audit line", u)
			}
		}
		if len(a.outcomes) > 1 {
			t.Errorf("%s: %d outcome audit lines %v: reset more than once", u, len(a.outcomes), a.outcomes)
		}
		for _, o := range a.outcomes {
			if (o == ehpcapi.CodeSuccess) != isNew {
				t.Errorf("%s: an audit line says %s, but the new password binds: %v", u, o, isNew)
			}
		}
		for _, o := range reported {
			if o.Name == u && (o.Code == ehpcapi.CodeSuccess) != isNew {
				t.Errorf("%s: reported %s, but the new password binds: %v", u, o.Code, isNew)
			}
		}
		if r.async {
			if !isNew {
				t.Errorf("%s: an Async task ended without changing it", u)
			}
			found := 0
			for _, o := range reported {
				if o.Name == u {
					found++
				}
			}
			if found != 1 {
				t.Errorf("%s: reported %d times in the task's results", u, found)
			}
		}
	}
	for _, o := range reported {
		if o.Name == ghost && o.Code != ehpcapi.CodeUserNotExist {
			t.Errorf("%s reported %s", ghost, o.Code)
		}
	}
	t.Logf("kill after %d intents: %d users changed, %d reports, %d audited users, %d found holding the password on resume",
		r.killAfter, changed, len(reported), len(audits), checked)
}
