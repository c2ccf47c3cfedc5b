package ehpcapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chpass/shared/batch/batchtest"
	"chpass/shared/logtest"
	"chpass/shared/password"
)

// canary is the password every scenario uses (or contains); it must never
// appear in a log line, a response, an error text, or a task record at rest.
const canary = "Cnry-7Qz!x9Lm"

const (
	testKeyID  = "LTAIexampleKEY"
	testSecret = "exampleSecret0123456789"
)

// fakeDir is an in-memory password.Directory. Errs makes a user's reset fail;
// Hook runs before each reset.
type fakeDir struct {
	mu     sync.Mutex
	users  map[string]string
	Errs   map[string]error
	All    error // when set, every reset fails with it
	Hook   func(name string)
	resets []string
}

var _ password.Directory = (*fakeDir)(nil)

func newFakeDir(names ...string) *fakeDir {
	d := &fakeDir{users: map[string]string{}, Errs: map[string]error{}}
	for _, n := range names {
		d.users[n] = "Old-Pass-123!"
	}
	return d
}

func (d *fakeDir) ChangePassword(context.Context, string, string, string) error {
	return password.Errorf(password.EFORBIDDEN, "not used")
}

func (d *fakeDir) ResetPassword(ctx context.Context, name, pw string) error {
	if d.Hook != nil {
		d.Hook(name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.All != nil {
		return d.All
	}
	if err := d.Errs[name]; err != nil {
		return err
	}
	if _, ok := d.users[name]; !ok {
		return password.Errorf(password.ENOTFOUND, "No such user.")
	}
	d.users[name] = pw
	d.resets = append(d.resets, name)
	return nil
}

func (d *fakeDir) LookupUser(_ context.Context, name string) (*password.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.users[name]; !ok {
		return nil, password.Errorf(password.ENOTFOUND, "No such user.")
	}
	return &password.User{Name: name}, nil
}

func (d *fakeDir) password(name string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.users[name]
}

func (d *fakeDir) resetNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.resets)
}

// ListUsers implements UserLister over the fake's users, sorted by name.
func (d *fakeDir) ListUsers(_ context.Context, offset, limit int) ([]password.User, int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.users))
	for n := range d.users {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []password.User
	for i := offset; i < len(names) && i < offset+limit; i++ {
		out = append(out, password.User{Name: names[i], ID: strconv.Itoa(1000 + i), Group: "users", GroupID: "100",
			Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	}
	return out, len(names), nil
}

type failingLister struct{}

func (failingLister) ListUsers(context.Context, int, int) ([]password.User, int, error) {
	return nil, 0, password.Errorf(password.EUNAVAILABLE, "The directory cannot be reached.")
}

// newMemTasks returns the task store's fake.
func newMemTasks() *batchtest.Memory { return &batchtest.Memory{} }

// env is a handler with its fakes and everything it wrote.
type env struct {
	h     *Handler
	dir   *fakeDir
	tasks *batchtest.Memory
	logs  *logtest.Buffer
	key   []byte
	now   time.Time
	// secrets are the strings that must never appear anywhere.
	secrets []string
}

var taskKey = bytes.Repeat([]byte{0x42}, 32)

// newEnv returns a handler over a fake directory with users user1..user5 on
// cluster "ehpc-demo" (running), plus clusters in other states, an admin key
// allowed everything and a key allowed ListUsers on ehpc-other only. Each
// response and, at cleanup, the logs and the task store are checked for the
// canary.
func newEnv(tb testing.TB, edit func(*Options)) *env {
	tb.Helper()
	e := &env{
		dir:     newFakeDir("user1", "user2", "user3", "user4", "user5"),
		tasks:   newMemTasks(),
		logs:    &logtest.Buffer{},
		key:     taskKey,
		now:     time.Now(),
		secrets: []string{canary},
	}
	svc := password.NewService(password.DefaultPolicy(), e.dir)
	opts := Options{
		Clusters: map[string]Cluster{
			"ehpc-demo":      {Status: StatusRunning, Service: svc, Users: e.dir},
			"ehpc-other":     {Status: StatusRunning, Service: svc, Users: e.dir},
			"ehpc-stopped":   {Status: "stopped", Service: svc, Users: e.dir},
			"ehpc-exception": {Status: StatusException, Service: svc, Users: e.dir},
			"ehpc-nodir":     {Status: StatusRunning, Domain: "corp.example"},
			"ehpc-nolist":    {Status: StatusRunning, Service: svc, Domain: "nolist.example"},
			"ehpc-badlist":   {Status: StatusRunning, Service: svc, Users: failingLister{}, Domain: "badlist.example"},
		},
		AccessKeys: []AccessKey{
			{ID: testKeyID, Secret: testSecret, Actions: []string{"*"}, Clusters: []string{"*"}},
			{ID: "LTAIlimited", Secret: "limitedSecret", Actions: []string{ActionListUsers, ActionModifyUserPasswords}, Clusters: []string{"ehpc-other"}},
		},
		Tasks:    e.tasks,
		TaskKey:  e.key,
		Logger:   zerolog.New(e.logs),
		Function: "modify-user-passwords",
		HostID:   "ehpc.test",
	}
	if edit != nil {
		edit(&opts)
	}
	h, err := New(opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	e.h = h
	tb.Cleanup(func() { e.assertClean(tb) })
	return e
}

// assertClean checks the logs and every task at rest for the secrets.
func (e *env) assertClean(tb testing.TB) {
	tb.Helper()
	logs := e.logs.String()
	for _, s := range e.secrets {
		if strings.Contains(logs, s) {
			tb.Errorf("a secret appears in the logs")
		}
		for _, t := range e.tasks.All() {
			if at, _ := json.Marshal(t); bytes.Contains(t.Sealed, []byte(s)) || bytes.Contains(at, []byte(s)) {
				tb.Errorf("a secret appears in task %s at rest", t.ID)
			}
		}
	}
}

func nonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// signed returns params with the common parameters added and signed with
// secret for method, as the SDK does.
func signed(method string, params map[string]string, keyID, secret string, ts time.Time) map[string]string {
	p := map[string]string{
		"AccessKeyId":      keyID,
		"Format":           "JSON",
		"RegionId":         "cn-hangzhou",
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   nonce(),
		"SignatureType":    "",
		"SignatureVersion": "1.0",
		"Timestamp":        ts.UTC().Format("2006-01-02T15:04:05Z"),
		"Version":          Version,
	}
	for k, v := range params {
		p[k] = v
	}
	p["Signature"] = Sign(method, p, secret)
	return p
}

func encode(p map[string]string) string {
	v := url.Values{}
	for k, x := range p {
		v.Set(k, x)
	}
	return v.Encode()
}

// get builds a GET with p in the query string.
func get(p map[string]string) *http.Request {
	return httptest.NewRequest(http.MethodGet, "/?"+encode(p), nil)
}

// post builds a form POST with p in the body.
func post(p map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(encode(p)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// response is a decoded answer.
type response struct {
	Status int
	Raw    string
	Body   map[string]any
}

func (r response) code() string {
	c, _ := r.Body["Code"].(string)
	return c
}

func (r response) message() string {
	c, _ := r.Body["Message"].(string)
	return c
}

// serve runs req through e's handler and checks the answer for secrets.
func (e *env) serve(tb testing.TB, req *http.Request) response {
	tb.Helper()
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	resp := response{Status: w.Code, Raw: w.Body.String()}
	if err := json.Unmarshal(w.Body.Bytes(), &resp.Body); err != nil {
		tb.Fatalf("answer is not JSON: %v", err)
	}
	for _, s := range e.secrets {
		if strings.Contains(resp.Raw, s) {
			tb.Errorf("a secret appears in the response")
		}
		for _, vs := range w.Header() {
			for _, v := range vs {
				if strings.Contains(v, s) {
					tb.Errorf("a secret appears in a response header")
				}
			}
		}
	}
	return resp
}

// call signs params with the admin key and serves them as a GET.
func (e *env) call(tb testing.TB, params map[string]string) response {
	tb.Helper()
	return e.serve(tb, get(signed(http.MethodGet, params, testKeyID, testSecret, e.now)))
}

// users returns User.N.Name/Password for the names, each with the canary
// password (suffixed so that each is distinct).
func users(names ...string) map[string]string {
	p := map[string]string{}
	for i, n := range names {
		p["User."+strconv.Itoa(i+1)+".Name"] = n
		p["User."+strconv.Itoa(i+1)+".Password"] = canary + strconv.Itoa(i)
	}
	return p
}

func modify(cluster string, extra map[string]string, names ...string) map[string]string {
	p := users(names...)
	p["Action"] = ActionModifyUserPasswords
	p["ClusterId"] = cluster
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// wantError asserts an error answer's status and code.
func wantError(tb testing.TB, r response, status int, code string) {
	tb.Helper()
	if r.Status != status || r.code() != code {
		tb.Fatalf("got %d %s (%s), want %d %s", r.Status, r.code(), r.message(), status, code)
	}
	for _, k := range []string{"RequestId", "HostId", "Code", "Message", "Recommend"} {
		if _, ok := r.Body[k]; !ok {
			tb.Errorf("error body lacks %s", k)
		}
	}
}

var errTest = errors.New("test failure")
