package e2e

import (
	"archive/zip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"chpass/shared/gateway"
	"chpass/shared/logtest"
)

// functions are the functions make package packs, one zip per platform each.
var functions = []string{"caller-password", "modify-user-passwords"}

// platform is a cloud that runs the packaged functions: where make package puts its
// zips, how the Makefile builds its binaries, and how its runtime API speaks.
type platform struct {
	name       string // gateway.Lambda or gateway.FC
	dist       string // the directory of its zips under dist
	goarch     string
	tagsVar    string // the Makefile's variable of its build tags
	apiVersion string // the first element of its runtime API's paths
	accepted   int    // the status its runtime API answers a posted result with
	userAgent  string // how its runtime SDK names itself when it polls
}

var (
	lambda = platform{
		name: gateway.Lambda, dist: "aws", goarch: "arm64", tagsVar: "TAGS_AWS",
		apiVersion: "2018-06-01", accepted: http.StatusAccepted, userAgent: "aws-lambda-go/",
	}
	fc = platform{
		name: gateway.FC, dist: "fc", goarch: "amd64", tagsVar: "TAGS_FC",
		apiVersion: "2020-11-11", accepted: http.StatusOK, userAgent: "aliyun-fc-go/",
	}
	platforms = []platform{lambda, fc}
)

// makeVar returns the value of the Makefile's simple variable name (NAME := value),
// so that the tests and the benchmark's builds follow the Makefile's flags.
func makeVar(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(tb), "Makefile"))
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":="); ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	tb.Fatalf("the Makefile sets no %s", name)
	return ""
}

// zip returns the path of fn's zip for p under dist.
func (p platform) zip(dist, fn string) string { return filepath.Join(dist, p.dist, fn+".zip") }

// executable returns the name of fn's executable in its zip: Lambda's custom runtimes
// run bootstrap, Function Compute the handler s.yaml names, the function's name.
func (p platform) executable(fn string) string {
	if p.name == gateway.Lambda {
		return "bootstrap"
	}
	return fn
}

// Dummy cloud credentials, handed to every process as its platform hands real ones:
// they must never show in its output.
const (
	awsAccessKeyID    = "ASIAE2EDUMMYACCESSKEY"
	awsSecretKey      = "e2e-canary-aws-secret-access-key"
	awsSessionToken   = "e2e-canary-aws-session-token"
	aliyunAccessKeyID = "STS.E2EDummyAccessKey"
	aliyunSecret      = "e2e-canary-alibaba-access-key-secret"
	aliyunToken       = "e2e-canary-alibaba-security-token"
	fcHeaderSecret    = "e2e-canary-fc-header-access-key-secret"
	fcHeaderToken     = "e2e-canary-fc-header-security-token"
	invocationTimeout = 30 * time.Second // what each invocation's deadline allows
	awaitTimeout      = 90 * time.Second // how long a test waits for a process under qemu on a busy machine
)

// env returns the environment p gives fn's process, whose code is unpacked in codeDir
// and whose runtime API listens on api: the variables the cloud sets, and nothing of
// the test's but PATH.
func (p platform) env(fn, exe, codeDir, api string) []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	switch p.name {
	case gateway.Lambda:
		env = append(env,
			"AWS_LAMBDA_RUNTIME_API="+api,
			"AWS_LAMBDA_FUNCTION_NAME="+fn,
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
			"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
			"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
			"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+fn,
			"AWS_LAMBDA_LOG_STREAM_NAME=2026/11/24/[$LATEST]0123456789abcdef0123456789abcdef",
			"AWS_REGION=us-east-1",
			"AWS_DEFAULT_REGION=us-east-1",
			"_HANDLER="+exe,
			"LAMBDA_TASK_ROOT="+codeDir,
			"LANG=en_US.UTF-8",
			"TZ=:UTC",
			"AWS_ACCESS_KEY_ID="+awsAccessKeyID,
			"AWS_SECRET_ACCESS_KEY="+awsSecretKey,
			"AWS_SESSION_TOKEN="+awsSessionToken,
		)
	case gateway.FC:
		env = append(env,
			"FC_RUNTIME_API="+api,
			"FC_FUNCTION_NAME="+fn,
			"FC_FUNCTION_HANDLER="+exe,
			"FC_FUNCTION_MEMORY_SIZE=128",
			"FC_REGION=cn-hangzhou",
			"FC_ACCOUNT_ID=1234567890123456",
			"FC_INSTANCE_ID=c-e2e0123456789abcdef",
			"FC_FUNC_CODE_PATH="+codeDir+"/",
			"ALIBABA_CLOUD_ACCESS_KEY_ID="+aliyunAccessKeyID,
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET="+aliyunSecret,
			"ALIBABA_CLOUD_SECURITY_TOKEN="+aliyunToken,
		)
	}
	return env
}

// repoRoot returns the directory of go.mod above the test's directory.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// underCI reports whether a missing prerequisite fails the tests rather than skip them.
func underCI() bool { return os.Getenv("CI") == "true" }

const banner = "################################################################################"

// missing fails tb under CI=true or when strict (why says why), and otherwise skips
// it, with a message no one can miss: what is missing, how to fix it, and what
// goes untested.
func missing(tb testing.TB, strict bool, why, what, fix, untested string) {
	tb.Helper()
	msg := fmt.Sprintf("\n%s\n#  MISSING: %s\n#  %s\n%s", banner, what, fix, banner)
	switch {
	case underCI():
		tb.Fatal(msg + "\n(failing: CI=true)")
	case strict:
		tb.Fatal(msg + "\n(failing: " + why + ")")
	}
	tb.Skip(msg + "\n*** SKIPPED: " + untested + " NOT tested ***")
}

// distDir returns the directory of the packaged zips: $CHPASS_DIST, else dist at the
// repository's root. A missing zip fails tb under CI=true or when CHPASS_DIST is set,
// and skips it otherwise.
func distDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("CHPASS_DIST")
	explicit := dir != ""
	if !explicit {
		dir = filepath.Join(repoRoot(tb), "dist")
	}
	var absent []string
	for _, p := range platforms {
		for _, fn := range functions {
			if _, err := os.Stat(p.zip(dir, fn)); err != nil {
				absent = append(absent, p.zip(dir, fn))
			}
		}
	}
	if len(absent) > 0 {
		missing(tb, explicit, "CHPASS_DIST is set", "the packaged functions "+strings.Join(absent, ", "),
			"run `make package` (make test and make bench do) to build them", "the packaged functions are")
	}
	return dir
}

// qemuNames are the user-mode emulators that run Linux binaries of a GOARCH.
var qemuNames = map[string][]string{
	"arm64": {"qemu-aarch64-static", "qemu-aarch64"},
	"amd64": {"qemu-x86_64-static", "qemu-x86_64"},
}

// emulator returns the command that runs p's binaries on this machine: none on
// Linux of p's architecture, else qemu's user mode. A missing emulator fails tb under
// CI=true and skips it otherwise.
func emulator(tb testing.TB, p platform) []string {
	tb.Helper()
	if runtime.GOOS != "linux" {
		missing(tb, false, "", "a Linux machine: the packaged functions are Linux binaries", "run the tests on Linux",
			"the packaged functions are")
	}
	if p.goarch == runtime.GOARCH {
		return nil
	}
	for _, name := range qemuNames[p.goarch] {
		if path, err := exec.LookPath(name); err == nil {
			return []string{path}
		}
	}
	missing(tb, false, "", fmt.Sprintf("%s, to run the %s binaries (%s) on this %s machine",
		strings.Join(qemuNames[p.goarch], " or "), p.name, p.goarch, runtime.GOARCH),
		"run `make qemu-deps` (functions/internal/e2e/testdata/install-qemu.sh)", "the "+p.name+" binaries are")
	return nil
}

// unpack gives a fresh directory dir the code of fn's zip for p, as the cloud
// unpacks a new instance's code, and returns the executable's path. Each zip is
// extracted once a run and linked from there: under the race detector, inflating
// one costs a second and a half.
func unpack(tb testing.TB, dist string, p platform, fn, dir string) string {
	tb.Helper()
	code, err := extracted(p.zip(dist, fn))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	entries, err := os.ReadDir(code)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if err := linkOrCopy(filepath.Join(code, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			tb.Fatal(err)
		}
	}
	exe := filepath.Join(dir, p.executable(fn))
	if st, err := os.Stat(exe); err != nil || st.Mode().Perm()&0o111 == 0 {
		tb.Fatalf("%s holds no executable %s (%v)", p.zip(dist, fn), p.executable(fn), err)
	}
	return exe
}

// extractions holds each zip's extraction of this run, by the zip's path.
var extractions = struct {
	sync.Mutex
	root string // removed by TestMain
	dirs map[string]func() (string, error)
}{dirs: map[string]func() (string, error){}}

// extracted returns the directory the zip at path is extracted into, extracting it
// on first use.
func extracted(path string) (string, error) {
	extractions.Lock()
	if extractions.root == "" {
		root, err := os.MkdirTemp("", "chpass-e2e-")
		if err != nil {
			extractions.Unlock()
			return "", err
		}
		extractions.root = root
	}
	get, ok := extractions.dirs[path]
	if !ok {
		dir := filepath.Join(extractions.root, strconv.Itoa(len(extractions.dirs)))
		get = sync.OnceValues(func() (string, error) { return dir, extract(path, dir) })
		extractions.dirs[path] = get
	}
	extractions.Unlock()
	return get()
}

// extract writes the entries of the zip at path into dir, with their modes.
func extract(path, dir string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer zr.Close()
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for _, f := range zr.File {
		if f.Name != filepath.Base(f.Name) || f.FileInfo().IsDir() {
			return fmt.Errorf("%s: unexpected entry %q", path, f.Name)
		}
		in, err := f.Open()
		if err != nil {
			return err
		}
		out, err := os.OpenFile(filepath.Join(dir, f.Name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, f.Mode().Perm())
		if err == nil {
			_, err = io.Copy(out, in)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		in.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// linkOrCopy hard-links from to to, or copies it where it cannot.
func linkOrCopy(from, to string) error {
	if os.Link(from, to) == nil {
		return nil
	}
	return copyFile(from, to)
}

// copyFile copies the file from to a new file to, with its permissions.
func copyFile(from, to string) error {
	st, err := os.Stat(from)
	if err != nil {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, st.Mode().Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// TestMain removes the zips' extractions after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if extractions.root != "" {
		os.RemoveAll(extractions.root)
	}
	os.Exit(code)
}

// demoConfig is what the tests read of functions/local/demo.yaml: the credentials
// they sign with and look for in logs.
type demoConfig struct {
	Users []struct {
		Name     string `yaml:"name"`
		Password string `yaml:"password"`
	} `yaml:"users"`
	AccessKeys []struct {
		ID     string `yaml:"id"`
		Secret string `yaml:"secret"`
	} `yaml:"access_keys"`
	Tokens struct {
		Issuer      string `yaml:"issuer"`
		HS256Secret string `yaml:"hs256_secret"`
	} `yaml:"tokens"`
	Tasks struct {
		Key string `yaml:"key"`
	} `yaml:"tasks"`
}

func demoPath(tb testing.TB) string {
	return filepath.Join(repoRoot(tb), "functions", "local", "demo.yaml")
}

// demo returns the demo configuration's credentials.
func demo(tb testing.TB) demoConfig {
	tb.Helper()
	b, err := os.ReadFile(demoPath(tb))
	if err != nil {
		tb.Fatal(err)
	}
	var d demoConfig
	if err := yaml.Unmarshal(b, &d); err != nil {
		tb.Fatal(err)
	}
	return d
}

// secretOf returns the demo secret of access key id.
func secretOf(tb testing.TB, id string) string {
	tb.Helper()
	for _, k := range demo(tb).AccessKeys {
		if k.ID == id {
			return k.Secret
		}
	}
	tb.Fatalf("the demo configuration has no access key %s", id)
	return ""
}

// demoYAML returns the demo configuration with its store in dir and a cheap
// argon2id, after edit (when not nil) changed it.
func demoYAML(tb testing.TB, dir string, edit func(cfg map[string]any)) []byte {
	tb.Helper()
	b, err := os.ReadFile(demoPath(tb))
	if err != nil {
		tb.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		tb.Fatal(err)
	}
	store, ok := cfg["store"].(map[string]any)
	if !ok {
		tb.Fatal("demo.yaml has no store")
	}
	store["path"] = filepath.Join(dir, "chpass.db")
	store["argon2"] = map[string]any{"time": 1, "memory_kib": 64, "threads": 1}
	if edit != nil {
		edit(cfg)
	}
	if b, err = yaml.Marshal(cfg); err != nil {
		tb.Fatal(err)
	}
	return b
}

// writeConfig writes demoYAML(tb, dir, edit) into dir and returns its path.
func writeConfig(tb testing.TB, dir string, edit func(cfg map[string]any)) string {
	tb.Helper()
	path := filepath.Join(dir, "chpass.yaml")
	if err := os.WriteFile(path, demoYAML(tb, dir, edit), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// eventPasswords finds the passwords the sample events carry, in JSON bodies and
// E-HPC parameters alike.
var eventPasswords = regexp.MustCompile(`(?:_password\\":\\"|User\.\d+\.Password":\s*")([^"\\]+)`)

// loopPasswords are the new passwords TestInvocationLoop sets in place of the events'.
var loopPasswords = map[string]string{"User.1.Password": "User1-Loop-Pass3#", "User.2.Password": "User2-Loop-Pass3#"}

// setLoopPasswords puts loopPasswords in params.
func setLoopPasswords(params map[string]string) {
	for k, v := range loopPasswords {
		params[k] = v
	}
}

// canaries returns what must never show in a function's output: every password and
// secret of the demo configuration and of the sample events, as written and
// URL-encoded, and the dummy cloud credentials the harness hands the process.
func canaries(tb testing.TB) []string {
	tb.Helper()
	d := demo(tb)
	list := []string{d.Tokens.HS256Secret, d.Tasks.Key, awsSecretKey, awsSessionToken, aliyunSecret, aliyunToken, fcHeaderSecret, fcHeaderToken}
	for _, u := range d.Users {
		list = append(list, u.Password)
	}
	for _, k := range d.AccessKeys {
		list = append(list, k.Secret)
	}
	for _, v := range loopPasswords {
		list = append(list, v)
	}
	files, err := filepath.Glob(filepath.Join(repoRoot(tb), "events", "*", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, m := range eventPasswords.FindAllSubmatch(b, -1) {
			list = append(list, string(m[1]))
		}
	}
	for _, s := range list {
		if e := url.QueryEscape(s); e != s {
			list = append(list, e)
		}
	}
	slices.Sort(list)
	return slices.Compact(list)
}

// process is a function's process, as a cloud runs it.
type process struct {
	name    string
	cmd     *exec.Cmd
	stdout  logtest.Buffer
	stderr  logtest.Buffer
	started time.Time     // just before it was started
	done    chan struct{} // closed once it has exited
	err     error         // how it exited, once done is closed
	secrets []string      // what its output must not hold, beyond canaries
	once    sync.Once
}

// launch starts exe in its directory as p starts a function's code: with the
// environment p sets plus env, and nothing of the test's but PATH, under an emulator
// when this machine is not of p's architecture. When tb ends it kills the process and
// fails tb if its output holds a canary.
func launch(tb testing.TB, p platform, fn, exe string, rt *runtimeAPI, env ...string) *process {
	tb.Helper()
	emu := emulator(tb, p)
	args := append(slices.Clone(emu), exe)
	pr := &process{name: p.name + "/" + fn, done: make(chan struct{})}
	pr.cmd = exec.Command(args[0], args[1:]...)
	pr.cmd.Dir = filepath.Dir(exe)
	pr.cmd.Env = append(p.env(fn, filepath.Base(exe), filepath.Dir(exe), rt.addr()), env...)
	pr.cmd.Stdout, pr.cmd.Stderr = &pr.stdout, &pr.stderr
	pr.started = time.Now()
	if err := pr.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		pr.err = pr.cmd.Wait()
		close(pr.done)
	}()
	tb.Cleanup(func() { pr.stop(tb) })
	return pr
}

// stop kills the process unless it has exited, waits for it, and fails tb if its
// output holds a canary; it logs the output, secrets redacted, when tb failed. It
// does so once.
func (pr *process) stop(tb testing.TB) {
	tb.Helper()
	pr.once.Do(func() {
		select {
		case <-pr.done:
		default:
			_ = pr.cmd.Process.Kill()
			<-pr.done
		}
		out := pr.output()
		var leaked []string
		for _, s := range append(canaries(tb), pr.secrets...) {
			if s != "" && strings.Contains(out, s) {
				leaked = append(leaked, fmt.Sprintf("%.4s…", s))
				out = strings.ReplaceAll(out, s, "«secret»")
			}
		}
		switch {
		case len(leaked) > 0:
			tb.Errorf("%s: the output holds secrets %q; it is, redacted:\n%s", pr.name, leaked, out)
		case tb.Failed():
			tb.Logf("%s: its output:\n%s", pr.name, out)
		}
	})
}

// exitCode waits for the process to exit on its own and returns its exit code.
func (pr *process) exitCode(tb testing.TB) int {
	tb.Helper()
	select {
	case <-pr.done:
	case <-time.After(awaitTimeout):
		tb.Fatalf("%s did not exit; its output:\n%s", pr.name, pr.output())
	}
	if pr.cmd.ProcessState == nil {
		tb.Fatalf("%s: %v", pr.name, pr.err)
	}
	return pr.cmd.ProcessState.ExitCode()
}

// output returns what the process wrote so far.
func (pr *process) output() string {
	return "--- stdout:\n" + pr.stdout.String() + "--- stderr:\n" + pr.stderr.String()
}

// runtimeAPI serves a Lambda or Function Compute runtime API on loopback to one
// function process. It hands out queued invocations one at a time, holding a poll
// for the next until the last is answered, as an instance that serves one request at
// a time is fed (unless told to hand them out concurrently), and records what the
// function posts.
type runtimeAPI struct {
	p       platform
	fn      string
	srv     *httptest.Server
	queue   chan invocation
	idle    chan struct{} // holds a token while no invocation is in flight
	posts   chan post
	closing chan struct{}
	once    sync.Once

	mu         sync.Mutex
	inflight   map[string]invocation
	concurrent bool          // hand out invocations while others are in flight
	drained    chan struct{} // closed once a concurrent runtime API's queue is empty
	drainOnce  sync.Once
	maxFlight  int       // the most invocations in flight at once
	firstPoll  time.Time // when the function first asked for an invocation
	agents     []string  // the User-Agent of each poll
	strays     []string  // requests the runtime API does not serve
}

// invocation is one event handed to the function.
type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
}

// post is what the function posted: the result of an invocation (kind "response" or
// "error"), or an initialization error (kind "init/error", id empty).
type post struct {
	kind   string
	id     string
	header http.Header // with the trailers
	body   []byte
	at     time.Time
}

// newRuntimeAPI starts p's runtime API for one process of fn; it stops when tb ends.
func newRuntimeAPI(tb testing.TB, p platform, fn string) *runtimeAPI {
	tb.Helper()
	rt := &runtimeAPI{
		p: p, fn: fn,
		queue:    make(chan invocation, 64),
		idle:     make(chan struct{}, 1),
		posts:    make(chan post, 64),
		closing:  make(chan struct{}),
		drained:  make(chan struct{}),
		inflight: map[string]invocation{},
	}
	rt.idle <- struct{}{}
	base := "/" + p.apiVersion + "/runtime/"
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"invocation/next", rt.next)
	mux.HandleFunc("POST "+base+"invocation/{id}/response", rt.result("response"))
	mux.HandleFunc("POST "+base+"invocation/{id}/error", rt.result("error"))
	if p.name == gateway.Lambda {
		mux.HandleFunc("POST "+base+"init/error", rt.initError)
	}
	mux.HandleFunc("/", rt.stray)
	rt.srv = httptest.NewServer(mux)
	tb.Cleanup(rt.close) // registered before the process's, so it runs after the process is gone
	return rt
}

// addr returns the host:port the runtime API listens on, as the *_RUNTIME_API variables name it.
func (rt *runtimeAPI) addr() string { return strings.TrimPrefix(rt.srv.URL, "http://") }

// close stops the runtime API, releasing the polls it holds.
func (rt *runtimeAPI) close() {
	rt.once.Do(func() {
		close(rt.closing)
		rt.srv.Close()
	})
}

// enqueue queues an invocation of payload and returns it.
func (rt *runtimeAPI) enqueue(payload []byte) invocation {
	inv := invocation{id: rt.newRequestID(), payload: payload, deadline: time.Now().Add(invocationTimeout)}
	rt.queue <- inv
	return inv
}

// await returns the next thing the function posts, failing tb when the process
// exits first or nothing comes in time.
func (rt *runtimeAPI) await(tb testing.TB, pr *process) post {
	tb.Helper()
	select {
	case po := <-rt.posts:
		return po
	case <-pr.done:
		select {
		case po := <-rt.posts:
			return po
		default:
		}
		tb.Fatalf("%s exited (%v) without answering; its output:\n%s", pr.name, pr.err, pr.output())
	case <-time.After(awaitTimeout):
		tb.Fatalf("%s did not answer within %v; its output:\n%s", pr.name, awaitTimeout, pr.output())
	}
	return post{}
}

// pollAgents returns the User-Agent of each poll for an invocation so far.
func (rt *runtimeAPI) pollAgents() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.agents)
}

// handOutConcurrently makes the runtime API hand out invocations while others are
// in flight, as Function Compute feeds an instance whose concurrency is above one.
// So that all are in flight at once however fast the function answers, it holds
// each posted result until the queue is empty (for at most ten seconds): a runtime
// that waits for one result to be taken before it polls again stalls there.
func (rt *runtimeAPI) handOutConcurrently() {
	rt.mu.Lock()
	rt.concurrent = true
	rt.mu.Unlock()
}

// mostInFlight returns the most invocations the function had in flight at once.
func (rt *runtimeAPI) mostInFlight() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.maxFlight
}

// polledAt returns when the function first polled for an invocation: the end of its
// initialization.
func (rt *runtimeAPI) polledAt() time.Time {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.firstPoll
}

// strayRequests returns the requests the runtime API did not serve.
func (rt *runtimeAPI) strayRequests() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.strays)
}

// newRequestID returns a request id shaped as p's: a UUID on Lambda, FC's
// "1-<8 hex>-<8 hex>-<12 hex>" otherwise.
func (rt *runtimeAPI) newRequestID() string {
	h := randomHex(16)
	if rt.p.name == gateway.Lambda {
		return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
	}
	return "1-" + h[0:8] + "-" + h[8:16] + "-" + h[16:28]
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// next serves a poll for the next invocation, with the headers p's runtime API sends.
func (rt *runtimeAPI) next(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	rt.mu.Lock()
	if rt.firstPoll.IsZero() {
		rt.firstPoll = at
	}
	rt.agents = append(rt.agents, r.UserAgent())
	gated := !rt.concurrent
	rt.mu.Unlock()
	if gated {
		select {
		case <-rt.idle:
		case <-r.Context().Done():
			return
		case <-rt.closing:
			http.Error(w, "the runtime API is shutting down", http.StatusInternalServerError)
			return
		}
	}
	var inv invocation
	select {
	case inv = <-rt.queue:
	case <-r.Context().Done():
		if gated {
			rt.idle <- struct{}{}
		}
		return
	case <-rt.closing:
		if gated {
			rt.idle <- struct{}{}
		}
		http.Error(w, "the runtime API is shutting down", http.StatusInternalServerError)
		return
	}
	rt.mu.Lock()
	rt.inflight[inv.id] = inv
	rt.maxFlight = max(rt.maxFlight, len(rt.inflight))
	rt.mu.Unlock()
	if !gated && len(rt.queue) == 0 {
		rt.drainOnce.Do(func() { close(rt.drained) })
	}
	deadline := strconv.FormatInt(inv.deadline.UnixMilli(), 10)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	switch rt.p.name {
	case gateway.Lambda:
		// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html#runtimes-api-next
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", deadline)
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:"+rt.fn)
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-"+randomHex(4)+"-"+randomHex(12)+";Parent="+randomHex(8)+";Sampled=0")
	case gateway.FC:
		// What fc-runtime-go-sdk v0.3.1 reads (fc/runtime_api_client.go, fc/invoke_loop.go):
		// it refuses an invocation without a numeric deadline and timeout.
		h.Set("X-Fc-Request-Id", inv.id)
		h.Set("X-Fc-Function-Deadline", deadline)
		h.Set("X-Fc-Function-Timeout", strconv.Itoa(int(invocationTimeout/time.Second)))
		h.Set("X-Fc-Function-Name", rt.fn)
		h.Set("X-Fc-Function-Handler", rt.p.executable(rt.fn))
		h.Set("X-Fc-Function-Memory", "128")
		h.Set("X-Fc-Region", "cn-hangzhou")
		h.Set("X-Fc-Account-Id", "1234567890123456")
		h.Set("X-Fc-Qualifier", "LATEST")
		h.Set("X-Fc-Access-Key-Id", aliyunAccessKeyID)
		h.Set("X-Fc-Access-Key-Secret", fcHeaderSecret)
		h.Set("X-Fc-Security-Token", fcHeaderToken)
	}
	_, _ = w.Write(inv.payload)
}

// result records a posted result of kind for an invocation in flight.
func (rt *runtimeAPI) result(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		body, err := io.ReadAll(r.Body)
		at := time.Now()
		rt.mu.Lock()
		concurrent := rt.concurrent
		rt.mu.Unlock()
		if concurrent {
			select {
			case <-rt.drained:
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			case <-rt.closing:
			}
		}
		rt.mu.Lock()
		_, ok := rt.inflight[id]
		delete(rt.inflight, id)
		rt.mu.Unlock()
		if err != nil || !ok {
			rt.strayf("%s %s: not an invocation in flight (%v)", r.Method, r.URL.Path, err)
			http.Error(w, "no such invocation in flight", http.StatusBadRequest)
			return
		}
		header := r.Header.Clone()
		for k, v := range r.Trailer {
			if len(v) > 0 {
				header[k] = v
			}
		}
		rt.posts <- post{kind: kind, id: id, header: header, body: body, at: at}
		w.WriteHeader(rt.p.accepted)
		select {
		case rt.idle <- struct{}{}:
		default:
		}
	}
}

// initError records an initialization error (Lambda's /runtime/init/error).
func (rt *runtimeAPI) initError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rt.posts <- post{kind: "init/error", header: r.Header.Clone(), body: body, at: time.Now()}
	w.WriteHeader(http.StatusAccepted)
}

// stray records a request the runtime API does not serve.
func (rt *runtimeAPI) stray(w http.ResponseWriter, r *http.Request) {
	rt.strayf("%s %s", r.Method, r.URL.Path)
	http.NotFound(w, r)
}

func (rt *runtimeAPI) strayf(format string, args ...any) {
	rt.mu.Lock()
	rt.strays = append(rt.strays, fmt.Sprintf(format, args...))
	rt.mu.Unlock()
}

// instance is one function process with its own code directory, store and runtime API.
type instance struct {
	p    platform
	fn   string
	rt   *runtimeAPI
	proc *process
}

// startFunction unpacks fn's zip for p into a fresh directory and starts it there,
// with env (CHPASS_CONFIG, say) added to the environment p sets.
func startFunction(tb testing.TB, dist string, p platform, fn string, env ...string) *instance {
	tb.Helper()
	exe := unpack(tb, dist, p, fn, filepath.Join(tb.TempDir(), "code"))
	rt := newRuntimeAPI(tb, p, fn)
	return &instance{p: p, fn: fn, rt: rt, proc: launch(tb, p, fn, exe, rt, env...)}
}

// startDemo starts fn on p with the demo configuration on a fresh store.
func startDemo(tb testing.TB, dist string, p platform, fn string) *instance {
	tb.Helper()
	return startFunction(tb, dist, p, fn, "CHPASS_CONFIG="+writeConfig(tb, tb.TempDir(), nil))
}

// invoke hands payload to the function and returns the invocation and the platform
// response the function posted for it.
func (in *instance) invoke(tb testing.TB, payload []byte) (invocation, reply) {
	tb.Helper()
	inv := in.rt.enqueue(payload)
	po := in.rt.await(tb, in.proc)
	if po.kind != "response" || po.id != inv.id {
		tb.Fatalf("%s posted %s for %q, want a response for %q: %s\nits output:\n%s",
			in.proc.name, po.kind, po.id, inv.id, po.body, in.proc.output())
	}
	if ct := po.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Errorf("%s posted its response as %q, want application/json", in.proc.name, ct)
	}
	return inv, decodeReply(tb, po.body)
}

// initErrorType is the errorType a function that cannot start reports to Lambda's
// /runtime/init/error.
const initErrorType = "Runtime.ConfigError"

// checkRefusedToStart fails tb unless the function, which cannot start, exited 1
// without polling for an invocation, saying on stderr, after "<fn>: ", each of
// reasons, and nothing on stdout; and, on Lambda only, reported the same to
// /runtime/init/error as a Runtime.ConfigError, holding no secret.
func (in *instance) checkRefusedToStart(tb testing.TB, reasons ...string) {
	tb.Helper()
	pr := in.proc
	if code := pr.exitCode(tb); code != 1 {
		tb.Errorf("exit code %d, want 1; output:\n%s", code, pr.output())
	}
	stderr := pr.stderr.String()
	if !strings.HasPrefix(stderr, in.fn+": ") {
		tb.Errorf("stderr %q, want %q", stderr, in.fn+": …")
	}
	for _, r := range reasons {
		if !strings.Contains(stderr, r) {
			tb.Errorf("stderr %q, want it naming %q", stderr, r)
		}
	}
	if out := pr.stdout.String(); out != "" {
		tb.Errorf("stdout %q, want nothing", out)
	}
	if n := len(in.rt.pollAgents()); n > 0 {
		tb.Errorf("polled %d times for an invocation, want none", n)
	}
	var inits []post
	for len(in.rt.posts) > 0 {
		po := <-in.rt.posts
		if po.kind != "init/error" {
			tb.Errorf("posted %s %q: %s", po.kind, po.id, po.body)
			continue
		}
		inits = append(inits, po)
	}
	if in.p.name != gateway.Lambda {
		if len(inits) > 0 {
			tb.Errorf("posted an init error on %s, which has no such call: %s", in.p.name, inits[0].body)
		}
	} else if len(inits) != 1 {
		tb.Errorf("posted %d init errors, want 1", len(inits))
	} else {
		in.checkInitError(tb, inits[0], reasons)
	}
	if s := in.rt.strayRequests(); len(s) > 0 {
		tb.Errorf("requests the runtime API does not serve: %q", s)
	}
}

// checkInitError fails tb unless po is a Runtime.ConfigError naming reasons and no secret.
func (in *instance) checkInitError(tb testing.TB, po post, reasons []string) {
	tb.Helper()
	var body struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if err := json.Unmarshal(po.body, &body); err != nil {
		tb.Fatalf("init error %s: %v", po.body, err)
	}
	if body.ErrorType != initErrorType || po.header.Get("Lambda-Runtime-Function-Error-Type") != initErrorType {
		tb.Errorf("init error of type %q (header %q), want %s", body.ErrorType, po.header.Get("Lambda-Runtime-Function-Error-Type"), initErrorType)
	}
	if !strings.HasPrefix(body.ErrorMessage, in.fn+": ") {
		tb.Errorf("init error message %q, want %q", body.ErrorMessage, in.fn+": …")
	}
	for _, r := range reasons {
		if !strings.Contains(body.ErrorMessage, r) {
			tb.Errorf("init error message %q, want it naming %q", body.ErrorMessage, r)
		}
	}
	posted := string(po.body) + "\n" + body.ErrorMessage // as sent, and with JSON's escapes undone
	for _, s := range append(canaries(tb), in.proc.secrets...) {
		if s != "" && strings.Contains(posted, s) {
			tb.Errorf("the init error holds the secret %.4s…", s)
		}
	}
}

// checkRuntimeUse fails tb when the function polled with another platform's SDK or
// made a request the runtime API does not serve.
func (in *instance) checkRuntimeUse(tb testing.TB) {
	tb.Helper()
	agents := in.rt.pollAgents()
	if len(agents) == 0 {
		tb.Errorf("%s never polled its runtime API", in.proc.name)
	}
	for _, a := range agents {
		if !strings.HasPrefix(a, in.p.userAgent) {
			tb.Errorf("%s polled as %q, want %s…", in.proc.name, a, in.p.userAgent)
		}
	}
	if s := in.rt.strayRequests(); len(s) > 0 {
		tb.Errorf("%s made requests its runtime API does not serve: %q", in.proc.name, s)
	}
}
