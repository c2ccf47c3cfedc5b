package ehpcapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ehpc"
	"github.com/rs/zerolog"

	"chpass/shared/batch/batchtest"
	"chpass/shared/ehpcapi"
	"chpass/shared/password"
)

const (
	sdkKeyID  = "LTAIexampleKEY"
	sdkSecret = "exampleSecret0123456789"
	sdkCanary = "Sdk-Cnry-4Vw!q8"
)

// memDir is a minimal in-memory directory with a lister.
type memDir struct {
	mu    sync.Mutex
	users map[string]string
}

func (d *memDir) ChangePassword(context.Context, string, string, string) error {
	return password.Errorf(password.EFORBIDDEN, "not used")
}

func (d *memDir) ResetPassword(_ context.Context, name, pw string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.users[name]; !ok {
		return password.Errorf(password.ENOTFOUND, "No such user.")
	}
	d.users[name] = pw
	return nil
}

func (d *memDir) LookupUser(_ context.Context, name string) (*password.User, error) {
	return &password.User{Name: name}, nil
}

func (d *memDir) ListUsers(_ context.Context, offset, limit int) ([]password.User, int, error) {
	all := []password.User{{Name: "user1", ID: "1001", Group: "users", GroupID: "100"}, {Name: "user2", ID: "1002", Group: "users", GroupID: "100"}}
	if offset >= len(all) {
		return nil, len(all), nil
	}
	return all[offset:min(len(all), offset+limit)], len(all), nil
}

type sdkEnv struct {
	h     *ehpcapi.Handler
	srv   *httptest.Server
	dir   *memDir
	store *batchtest.Memory
	logs  *bytes.Buffer
	mu    sync.Mutex
	seen  []string // every raw query the server received, to prove the SDK sent passwords there
}

func newSDKEnv(tb testing.TB, now func() time.Time) *sdkEnv {
	tb.Helper()
	e := &sdkEnv{dir: &memDir{users: map[string]string{"user1": "x", "user2": "y"}}, store: &batchtest.Memory{}, logs: &bytes.Buffer{}}
	var logMu sync.Mutex
	h, err := ehpcapi.New(ehpcapi.Options{
		Clusters: map[string]ehpcapi.Cluster{
			"ehpc-demo": {Status: ehpcapi.StatusRunning, Service: password.NewService(password.DefaultPolicy(), e.dir), Users: e.dir},
		},
		AccessKeys: []ehpcapi.AccessKey{{ID: sdkKeyID, Secret: sdkSecret, Actions: []string{"*"}, Clusters: []string{"*"}}},
		Tasks:      e.store,
		TaskKey:    bytes.Repeat([]byte{7}, 32),
		Logger:     zerolog.New(lockedWriter{&logMu, e.logs}),
		Now:        now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.h = h
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.seen = append(e.seen, r.URL.RawQuery)
		e.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	tb.Cleanup(func() {
		e.srv.Close()
		logMu.Lock()
		defer logMu.Unlock()
		if strings.Contains(e.logs.String(), sdkCanary) {
			tb.Error("the canary is in the logs")
		}
		for _, t := range e.store.All() {
			if at, _ := json.Marshal(t); bytes.Contains(t.Sealed, []byte(sdkCanary)) || bytes.Contains(at, []byte(sdkCanary)) {
				tb.Error("the canary is in a task at rest")
			}
		}
	})
	return e
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// client returns the vendor SDK's E-HPC client pointed at the test server:
// v1.62.0 takes the endpoint from Client.Domain (request.Domain wins when
// set), and the scheme from request.Scheme.
func (e *sdkEnv) client(tb testing.TB, secret string) *ehpc.Client {
	tb.Helper()
	c, err := ehpc.NewClientWithAccessKey("cn-hangzhou", sdkKeyID, secret)
	if err != nil {
		tb.Fatal(err)
	}
	c.Domain = strings.TrimPrefix(e.srv.URL, "http://")
	return c
}

func modifyRequest(async bool, names ...string) *ehpc.ModifyUserPasswordsRequest {
	req := ehpc.CreateModifyUserPasswordsRequest()
	req.Scheme = requests.HTTP
	req.ClusterId = "ehpc-demo"
	var us []ehpc.ModifyUserPasswordsUser
	for _, n := range names {
		us = append(us, ehpc.ModifyUserPasswordsUser{Name: n, Password: sdkCanary + n})
	}
	req.User = &us
	if async {
		// v1.62.0's request struct has no Async field; the SDK signs any query parameter.
		req.QueryParams["Async"] = "true"
	}
	return req
}

// serverCode returns the ErrorCode of the SDK's ServerError, failing otherwise.
func serverCode(tb testing.TB, err error) string {
	tb.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		tb.Fatalf("want an SDK ServerError, got %T %v", err, err)
	}
	if strings.Contains(se.Error(), sdkCanary) {
		tb.Error("the SDK's error text holds the canary")
	}
	return se.ErrorCode()
}

func TestVendorSDK(t *testing.T) {
	e := newSDKEnv(t, nil)
	c := e.client(t, sdkSecret)

	t.Run("ModifyUserPasswords", func(t *testing.T) {
		resp, err := c.ModifyUserPasswords(modifyRequest(false, "user1", "user2"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.RequestId == "" || !resp.IsSuccess() {
			t.Errorf("response %+v", resp)
		}
		e.dir.mu.Lock()
		defer e.dir.mu.Unlock()
		if e.dir.users["user1"] != sdkCanary+"user1" || e.dir.users["user2"] != sdkCanary+"user2" {
			t.Error("the SDK's resets did not reach the directory")
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		last := e.seen[len(e.seen)-1]
		if q, _ := url.ParseQuery(last); q.Get("User.1.Password") == "" || q.Get("Signature") == "" {
			t.Error("the SDK did not send the passwords in the signed query, as protocols.md says")
		}
	})
	t.Run("ModifyUserPasswords/UserNotExist", func(t *testing.T) {
		_, err := c.ModifyUserPasswords(modifyRequest(false, "ghost"))
		if code := serverCode(t, err); code != ehpcapi.CodeUserNotExist {
			t.Errorf("code %s", code)
		}
	})
	t.Run("ListUsers", func(t *testing.T) {
		req := ehpc.CreateListUsersRequest()
		req.Scheme = requests.HTTP
		req.ClusterId = "ehpc-demo"
		req.PageSize = requests.NewInteger(1)
		resp, err := c.ListUsers(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalCount != 2 || resp.PageSize != 1 || len(resp.Users.UserInfo) != 1 || resp.Users.UserInfo[0].Name != "user1" || resp.Users.UserInfo[0].UserId != "1001" {
			t.Errorf("response %+v", resp)
		}
	})
	t.Run("AsyncAndListTasks", func(t *testing.T) {
		if _, err := c.ModifyUserPasswords(modifyRequest(true, "user1", "ghost")); err != nil {
			t.Fatal(err)
		}
		if err := e.h.Batches().RunPending(context.Background()); err != nil {
			t.Fatal(err)
		}
		req := ehpc.CreateListTasksRequest()
		req.Scheme = requests.HTTP
		req.ClusterId = "ehpc-demo"
		resp, err := c.ListTasks(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalCount != 1 || len(resp.Tasks) != 1 {
			t.Fatalf("response %+v", resp)
		}
		task := resp.Tasks[0]
		if task.Status != ehpcapi.TaskPartialFail || task.TaskType != "ModifyUserPasswords" || task.TotalSteps != 2 ||
			!strings.Contains(task.Errors, "ghost") || !strings.Contains(task.Request, `"User.1.Password":"******"`) {
			t.Errorf("task %+v", task)
		}
		req2 := ehpc.CreateListTasksRequest()
		req2.Scheme = requests.HTTP
		req2.TaskId = task.TaskId
		if resp, err := c.ListTasks(req2); err != nil || resp.TotalCount != 1 {
			t.Errorf("by TaskId: %v %+v", err, resp)
		}
	})
	t.Run("WrongSecret", func(t *testing.T) {
		_, err := e.client(t, "not-the-secret").ModifyUserPasswords(modifyRequest(false, "user1"))
		if code := serverCode(t, err); code != ehpcapi.CodeSignatureDoesNotMatch {
			t.Errorf("code %s", code)
		}
	})
	t.Run("ReplayedNonce", func(t *testing.T) {
		rt := &replayer{base: http.DefaultTransport}
		rc := e.client(t, sdkSecret)
		rc.SetTransport(rt)
		if _, err := rc.ModifyUserPasswords(modifyRequest(false, "user1")); err != nil {
			t.Fatal(err)
		}
		rt.replay = true // the next request goes out as the captured one, byte for byte
		_, err := rc.ModifyUserPasswords(modifyRequest(false, "user2"))
		if code := serverCode(t, err); code != ehpcapi.CodeSignatureNonceUsed {
			t.Errorf("code %s", code)
		}
	})
}

func TestVendorSDKStaleTimestamp(t *testing.T) {
	// The server's clock is 20 minutes ahead of the SDK's.
	e := newSDKEnv(t, func() time.Time { return time.Now().Add(20 * time.Minute) })
	_, err := e.client(t, sdkSecret).ModifyUserPasswords(modifyRequest(false, "user1"))
	if code := serverCode(t, err); code != ehpcapi.CodeTimestampExpired {
		t.Errorf("code %s", code)
	}
}

// replayer captures the first request's URL and, once armed, sends it again
// in place of the next request: a replay of a validly signed request.
type replayer struct {
	base   http.RoundTripper
	first  *url.URL
	replay bool
}

func (r *replayer) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.first == nil {
		u := *req.URL
		r.first = &u
	} else if r.replay {
		req = req.Clone(req.Context())
		u := *r.first
		req.URL = &u
	}
	return r.base.RoundTrip(req)
}
