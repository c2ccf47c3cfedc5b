// Command load drives the local server (functions/local) over loopback with
// correctly signed requests of both APIs, mixed: policy reads, self-service
// changes signed with SDK-HMAC-SHA256 by the Huawei Cloud SDK's signer, E-HPC
// ListUsers and ModifyUserPasswords batches signed with signature v1. It builds
// and starts the server on a fresh embedded store, runs the same load several
// times, and prints throughput, p50/p99 latency, the answers by code, and the
// server's RSS before, at peak and after each run. It exits 1 on any 5xx or
// transport error. `make load` runs it; it only ever talks to 127.0.0.1.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"

	"chpass/shared/ehpcapi"
)

const (
	adminKey    = "LTAIloadADMIN"
	adminSecret = "load-admin-secret-0123456789"
	cluster     = "ehpc-load"
	batchSize   = 3
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	n, c, runs int
	mix        string
	argon2Mem  int
	settle     time.Duration
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.n, "n", 1000, "requests per run")
	fs.IntVar(&o.c, "c", 20, "requests at once")
	fs.IntVar(&o.runs, "runs", 2, "runs of n requests against the same server")
	fs.StringVar(&o.mix, "mix", "policy=40,list=20,change=25,batch=15", "percentages of each kind of request")
	fs.IntVar(&o.argon2Mem, "argon2-memory-kib", 19456, "argon2id memory of the server's store (the default is OWASP's)")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "idle time before 'after' is measured")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.n < 1 || o.c < 1 || o.runs < 1 || o.n > 1_000_000 || o.c > 500 {
		fmt.Fprintln(stderr, "load: -n must be 1..1000000, -c 1..500, -runs at least 1")
		return 2
	}
	weights, err := parseMix(o.mix)
	if err != nil {
		fmt.Fprintln(stderr, "load:", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := startServer(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "load:", err)
		return 1
	}
	defer srv.stop()
	fmt.Fprintf(stdout, "server pid %d on %s; %d requests per run, %d at once, mix %s, argon2id %d KiB\n",
		srv.cmd.Process.Pid, srv.url, o.n, o.c, o.mix, o.argon2Mem)
	d := newDriver(srv.url, o.c)
	bad := false
	var peaks []int64
	for r := 1; r <= o.runs; r++ {
		before := srv.rss()
		sampler := srv.sample()
		start := time.Now()
		res := d.runOnce(o.n, weights)
		elapsed := time.Since(start)
		peak := sampler.stop()
		time.Sleep(o.settle)
		after := srv.rss()
		peaks = append(peaks, peak)
		fmt.Fprintf(stdout, "\nrun %d: %d requests in %.2fs: %.1f req/s\n", r, o.n, elapsed.Seconds(), float64(o.n)/elapsed.Seconds())
		res.print(stdout)
		fmt.Fprintf(stdout, "  server RSS: before %.1f MiB, peak %.1f MiB, after %.1f MiB (settled %s)\n", mib(before), mib(peak), mib(after), o.settle)
		if res.failed() {
			bad = true
		}
	}
	if len(peaks) > 1 {
		ratio := float64(peaks[len(peaks)-1]) / float64(peaks[0])
		fmt.Fprintf(stdout, "\nlast run's peak RSS / first run's: %.3f (goal: within 1.10)\n", ratio)
	}
	if bad {
		fmt.Fprintln(stdout, "FAIL: 5xx answers or transport errors")
		return 1
	}
	return 0
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// parseMix reads "kind=percent,..." into a 100-slot schedule of kinds.
func parseMix(s string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || !slices.Contains([]string{"policy", "list", "change", "batch"}, k) {
			return nil, fmt.Errorf("-mix: %q is not kind=percent with kind policy, list, change or batch", part)
		}
		for range n {
			out = append(out, k)
		}
	}
	if len(out) != 100 {
		return nil, fmt.Errorf("-mix: the percentages add up to %d, not 100", len(out))
	}
	return out, nil
}

// server is the local server process under load.
type server struct {
	cmd  *exec.Cmd
	url  string
	dir  string
	done chan struct{}
}

// startServer builds functions/local, writes a configuration with c self-service
// users (one access key each) and c batches' worth of admin users, and starts it
// on a free loopback port.
func startServer(ctx context.Context, o options, stderr io.Writer) (*server, error) {
	dir, err := os.MkdirTemp("", "chpass-load-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "chpass-local")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./functions/local")
	build.Stdout, build.Stderr = stderr, stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building the local server: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "log_level: warn\nstore: {path: %s, argon2: {time: 2, memory_kib: %d, threads: 1}}\n", filepath.Join(dir, "load.db"), o.argon2Mem)
	fmt.Fprintf(&b, "tasks: {key: %s}\nclusters: {%s: {directory: embedded, status: running}}\nusers:\n", "bG9hZC10YXNrLWtleS0zMi1ieXRlcy1sb25nLi4uLi4=", cluster)
	for w := range o.c {
		fmt.Fprintf(&b, "  - {name: %s, password: %q}\n", selfUser(w), selfPassword(w, 0))
		for i := range batchSize {
			fmt.Fprintf(&b, "  - {name: %s, password: %q}\n", batchUser(w, i), "Seed-Batch-Pass1!")
		}
	}
	fmt.Fprintf(&b, "access_keys:\n  - {id: %s, secret: %s, actions: [\"*\"], clusters: [\"*\"]}\n", adminKey, adminSecret)
	for w := range o.c {
		fmt.Fprintf(&b, "  - {id: %s, secret: %s, user: %s}\n", selfKey(w), selfSecret(w), selfUser(w))
	}
	cfg := filepath.Join(dir, "load.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	logs, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-config", cfg, "-addr", "127.0.0.1:0")
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logs.Close(); close(s.done) }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("the server printed no address (log in %s): %w", logs.Name(), err)
	}
	go io.Copy(io.Discard, out)
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, "http://127.0.0.1:") {
			s.url = f
		}
	}
	if s.url == "" {
		s.stop()
		return nil, fmt.Errorf("no loopback address in %q", line)
	}
	return s, nil
}

func (s *server) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	_ = os.RemoveAll(s.dir)
}

// rss reads the server's resident set size from /proc, in bytes.
func (s *server) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// sampler records the highest RSS seen every 20 ms until stopped.
type sampler struct {
	peak atomic.Int64
	quit chan struct{}
	done chan struct{}
}

func (s *server) sample() *sampler {
	sm := &sampler{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(sm.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if r := s.rss(); r > sm.peak.Load() {
				sm.peak.Store(r)
			}
			select {
			case <-sm.quit:
				return
			case <-t.C:
			}
		}
	}()
	return sm
}

func (sm *sampler) stop() int64 {
	close(sm.quit)
	<-sm.done
	return sm.peak.Load()
}

func selfUser(w int) string        { return fmt.Sprintf("load%03d", w) }
func selfKey(w int) string         { return fmt.Sprintf("HWAKLOAD%03d", w) }
func selfSecret(w int) string      { return fmt.Sprintf("load-self-secret-%03d-0123456789", w) }
func batchUser(w, i int) string    { return fmt.Sprintf("batch%03d-%d", w, i) }
func selfPassword(w, k int) string { return fmt.Sprintf("Load-%03d-Pass-%d!x", w, k%4) }

// driver sends the requests; worker w owns self-service user w and batch users w-*,
// so that no two requests race for one account.
type driver struct {
	base   string
	client *http.Client
	c      int
	state  []workerState
}

type workerState struct {
	changes int // self-service changes made: the current password is selfPassword(w, changes)
	batches int
}

func newDriver(base string, c int) *driver {
	return &driver{
		base:   base,
		c:      c,
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}},
		state:  make([]workerState, c),
	}
}

// result is what one run saw.
type result struct {
	mu        sync.Mutex
	latencies map[string][]time.Duration
	codes     map[string]int
	errors    int
}

func (d *driver) runOnce(n int, mix []string) *result {
	res := &result{latencies: map[string][]time.Duration{}, codes: map[string]int{}}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range d.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				kind := mix[(i*37)%len(mix)] // spread the kinds over the run
				start := time.Now()
				code, err := d.do(w, kind)
				lat := time.Since(start)
				res.mu.Lock()
				if err != nil {
					res.errors++
					code = "transport error"
				}
				res.latencies[kind] = append(res.latencies[kind], lat)
				res.latencies["all"] = append(res.latencies["all"], lat)
				res.codes[kind+" "+code]++
				res.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return res
}

func (r *result) failed() bool {
	if r.errors > 0 {
		return true
	}
	for k := range r.codes {
		if f := strings.Fields(k); len(f) > 1 && strings.HasPrefix(f[1], "5") {
			return true
		}
	}
	return false
}

func (r *result) print(w io.Writer) {
	for _, kind := range []string{"all", "policy", "list", "change", "batch"} {
		ls := r.latencies[kind]
		if len(ls) == 0 {
			continue
		}
		slices.Sort(ls)
		fmt.Fprintf(w, "  %-6s %5d  p50 %7.2f ms  p99 %7.2f ms\n", kind, len(ls), ms(ls[len(ls)/2]), ms(ls[min(len(ls)-1, len(ls)*99/100)]))
	}
	keys := make([]string, 0, len(r.codes))
	for k := range r.codes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  answers %-40s %d\n", k, r.codes[k])
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// do sends one request of kind for worker w and returns "status code".
func (d *driver) do(w int, kind string) (string, error) {
	var req *http.Request
	var err error
	st := &d.state[w]
	switch kind {
	case "policy":
		req, err = http.NewRequest(http.MethodGet, d.base+"/v5/password-policy", nil)
	case "change":
		req, err = d.change(w, selfPassword(w, st.changes), selfPassword(w, st.changes+1))
	case "list":
		req, err = d.rpc(map[string]string{"Action": "ListUsers", "ClusterId": cluster, "PageSize": "50"})
	case "batch":
		p := map[string]string{"Action": "ModifyUserPasswords", "ClusterId": cluster}
		for i := range batchSize {
			p[fmt.Sprintf("User.%d.Name", i+1)] = batchUser(w, i)
			p[fmt.Sprintf("User.%d.Password", i+1)] = fmt.Sprintf("Batch-%d-%d-Pass!x", st.batches, i)
		}
		req, err = d.rpc(p)
	}
	if err != nil {
		return "", err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	code := "OK"
	if resp.StatusCode != http.StatusOK {
		var e struct {
			IAM  string `json:"error_code"`
			EHPC string `json:"Code"`
		}
		_ = json.Unmarshal(body, &e)
		code = e.IAM + e.EHPC
	}
	if resp.StatusCode == http.StatusOK {
		switch kind {
		case "change":
			st.changes++
		case "batch":
			st.batches++
		}
	}
	return strconv.Itoa(resp.StatusCode) + " " + code, nil
}

// change is POST /v5/caller-password signed by worker w's access key with the
// Huawei Cloud SDK's own signer.
func (d *driver) change(w int, oldP, newP string) (*http.Request, error) {
	body, _ := json.Marshal(map[string]string{"old_password": oldP, "new_password": newP})
	u, _ := url.Parse(d.base)
	b := request.NewHttpRequestBuilder().WithEndpoint(d.base).WithPath("/v5/caller-password").WithMethod(http.MethodPost)
	b.AddHeaderParam("X-Sdk-Date", time.Now().UTC().Format("20060102T150405Z"))
	b.AddHeaderParam("Host", u.Host)
	b.WithBody("json", string(body))
	headers, err := signer.Sign(b.Build(), selfKey(w), selfSecret(w))
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, d.base+"/v5/caller-password", strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Sdk-Date", headers["X-Sdk-Date"])
	req.Header.Set("Authorization", headers["Authorization"])
	return req, nil
}

// rpc is a GET of params signed with signature v1 by the admin key.
func (d *driver) rpc(params map[string]string) (*http.Request, error) {
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	p := map[string]string{
		"Version": ehpcapi.Version, "Format": "JSON", "AccessKeyId": adminKey, "SignatureMethod": "HMAC-SHA1",
		"SignatureVersion": "1.0", "SignatureNonce": hex.EncodeToString(nonce[:]), "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"),
	}
	for k, v := range params {
		p[k] = v
	}
	p["Signature"] = ehpcapi.Sign(http.MethodGet, p, adminSecret)
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	return http.NewRequest(http.MethodGet, d.base+"/?"+q.Encode(), nil)
}
