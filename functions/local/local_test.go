package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	alierrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ehpc"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	iam "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/iam/v5"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/iam/v5/model"

	"chpass/shared/logtest"
)

// canary is woven into every password these tests send; it must never appear in
// anything the process writes: logs, responses, or the store's file.
const canary = "Kq7#Canary"

// server is the local main running on a loopback port with a test configuration.
type server struct {
	url       string
	store     string
	stdout    *logtest.Buffer
	stderr    *logtest.Buffer
	responses *logtest.Buffer
}

// startServer runs main's run as `make run` does, with the demo configuration
// moved to a temporary store and cheap hashes, and waits until it serves.
func startServer(tb testing.TB) *server {
	tb.Helper()
	demo, err := os.ReadFile("demo.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	store := filepath.Join(dir, "chpass.db")
	cfg := strings.Replace(string(demo), "path: .cache/chpass-demo.db", "path: "+store+"\n  argon2: {time: 1, memory_kib: 64, threads: 1}", 1)
	cfg = strings.Replace(cfg, `{name: user1, password: "User1-Old-Pass!"}`, `{name: user1, password: "User1-`+canary+`0"}`, 1)
	cfgPath := filepath.Join(dir, "chpass.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &server{store: store, stdout: &logtest.Buffer{}, stderr: &logtest.Buffer{}, responses: &logtest.Buffer{}}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-config", cfgPath, "-addr", "127.0.0.1:0"}, io.MultiWriter(pw, s.stdout), s.stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		tb.Fatalf("the server printed nothing: %v; stderr: %s", err, s.stderr)
	}
	go io.Copy(io.Discard, pr)
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, "http://127.0.0.1:") {
			s.url = f
		}
	}
	if s.url == "" {
		tb.Fatalf("no address in %q", line)
	}
	tb.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				tb.Errorf("run exited %d; stderr: %s", code, s.stderr)
			}
		case <-time.After(10 * time.Second):
			tb.Error("the server did not stop")
		}
	})
	return s
}

// record keeps what a response said, for the canary sweep.
func (s *server) record(v any) { fmt.Fprintf(s.responses, "%+v\n", v) }

func (s *server) huawei(tb testing.TB, ak, sk string) *iam.IamClient {
	tb.Helper()
	cred, err := basic.NewCredentialsBuilder().WithAk(ak).WithSk(sk).WithProjectId("demo-project").SafeBuild()
	if err != nil {
		tb.Fatal(err)
	}
	hc, err := iam.IamClientBuilder().WithEndpoints([]string{s.url}).WithCredential(cred).SafeBuild()
	if err != nil {
		tb.Fatal(err)
	}
	return iam.NewIamClient(hc)
}

func (s *server) alibaba(tb testing.TB, secret string) *ehpc.Client {
	tb.Helper()
	c, err := ehpc.NewClientWithAccessKey("cn-hangzhou", "LTAIexampleKEY", secret)
	if err != nil {
		tb.Fatal(err)
	}
	c.Domain = strings.TrimPrefix(s.url, "http://")
	return c
}

func huaweiCode(tb testing.TB, err error) string {
	tb.Helper()
	if err == nil {
		return ""
	}
	var sre *sdkerr.ServiceResponseError
	if !errors.As(err, &sre) {
		tb.Fatalf("error is %T (%v), want the SDK's ServiceResponseError", err, err)
	}
	return sre.ErrorCode
}

func alibabaCode(tb testing.TB, err error) (string, int) {
	tb.Helper()
	if err == nil {
		return "", http.StatusOK
	}
	var se *alierrors.ServerError
	if !errors.As(err, &se) {
		tb.Fatalf("error is %T (%v), want the SDK's ServerError", err, err)
	}
	return se.ErrorCode(), se.HttpStatus()
}

func change(oldP, newP string) *model.ChangePasswordV5Request {
	return &model.ChangePasswordV5Request{Body: &model.ChangePasswordReqBody{OldPassword: oldP, NewPassword: newP}}
}

func modify(cluster string, async bool, users map[string]string) *ehpc.ModifyUserPasswordsRequest {
	req := ehpc.CreateModifyUserPasswordsRequest()
	req.Scheme = requests.HTTP
	req.ClusterId = cluster
	var us []ehpc.ModifyUserPasswordsUser
	for _, name := range []string{"user1", "user2", "alice", "bob", "ghost"} {
		if pw, ok := users[name]; ok {
			us = append(us, ehpc.ModifyUserPasswordsUser{Name: name, Password: pw})
		}
	}
	req.User = &us
	if async {
		// v1.62.0's request struct has no Async field; the SDK signs any query parameter.
		req.QueryParams["Async"] = "true"
	}
	return req
}

// TestVendorSDKsEndToEnd drives the local server, on the embedded store in a real
// file, with both vendors' own SDKs, as a portal and an administrator would.
func TestVendorSDKsEndToEnd(t *testing.T) {
	s := startServer(t)

	t.Run("HuaweiChangePasswordV5", func(t *testing.T) {
		c := s.huawei(t, "HWAKDEMOALICE", "demo-secret-alice-0123456789")
		resp, err := c.ChangePasswordV5(change("Alice-Old-Pass1!", "Alice-"+canary+"1"))
		s.record(resp)
		if code := huaweiCode(t, err); code != "" {
			t.Fatalf("ChangePasswordV5: %s", code)
		}
		// The new password is now the one to prove: the old one no longer works.
		_, err = c.ChangePasswordV5(change("Alice-Old-Pass1!", "Alice-"+canary+"2"))
		if code := huaweiCode(t, err); code != "IAM.1103" {
			t.Fatalf("old password after the change: %q, want IAM.1103", code)
		}
		_, err = c.ChangePasswordV5(change("Alice-"+canary+"1", "Alice-"+canary+"1"))
		if code := huaweiCode(t, err); code != "IAM.1108" {
			t.Fatalf("same password again: %q, want IAM.1108", code)
		}
		_, err = c.ChangePasswordV5(change("Alice-"+canary+"1", "Alice-Old-Pass1!"))
		if code := huaweiCode(t, err); code != "IAM.1118" {
			t.Fatalf("a password in history: %q, want IAM.1118 (password_reuse_prevention)", code)
		}
	})

	t.Run("HuaweiWrongSecret", func(t *testing.T) {
		_, err := s.huawei(t, "HWAKDEMOALICE", "not-the-secret-"+canary).ChangePasswordV5(change("Alice-"+canary+"1", "Alice-"+canary+"3"))
		if code := huaweiCode(t, err); code != "APIG.0301" {
			t.Fatalf("wrong secret: %q, want APIG.0301", code)
		}
	})

	t.Run("AlibabaModifyUserPasswords", func(t *testing.T) {
		c := s.alibaba(t, "exampleSecret0123456789")
		resp, err := c.ModifyUserPasswords(modify("ehpc-demo", false, map[string]string{"user1": "User1-" + canary + "9", "user2": "User2-" + canary + "9"}))
		s.record(resp)
		if code, _ := alibabaCode(t, err); code != "" {
			t.Fatalf("ModifyUserPasswords: %s", code)
		}
		if resp.RequestId == "" {
			t.Fatal("no RequestId")
		}
		// user1 was reset: its seeded password is history now, the new one current.
		_, err = s.huawei(t, "HWAKDEMOALICE", "demo-secret-alice-0123456789").ChangePasswordV5(change("Alice-"+canary+"1", "Alice-"+canary+"4"))
		if code := huaweiCode(t, err); code != "" {
			t.Fatalf("alice, untouched by the batch, can still change: %s", code)
		}
	})

	t.Run("AlibabaErrors", func(t *testing.T) {
		tests := []struct {
			name       string
			secret     string
			req        *ehpc.ModifyUserPasswordsRequest
			wantCode   string
			wantStatus int
		}{
			{"WrongSecret", "wrong-" + canary, modify("ehpc-demo", false, map[string]string{"user1": "User1-" + canary + "5"}), "SignatureDoesNotMatch", 400},
			{"UnknownCluster", "", modify("ehpc-nope", false, map[string]string{"user1": "User1-" + canary + "5"}), "ClusterNotFound", 404},
			{"StoppedCluster", "", modify("ehpc-stopped", false, map[string]string{"user1": "User1-" + canary + "5"}), "InvalidClusterStatus", 403},
			{"NoDirectory", "", modify("ehpc-nodir", false, map[string]string{"user1": "User1-" + canary + "5"}), "AgentError.Account.DomainNotExist", 406},
			{"WeakPassword", "", modify("ehpc-demo", false, map[string]string{"user1": "User1-" + canary + "6", "user2": "weak"}), "InvalidParams", 400},
			{"UnknownUser", "", modify("ehpc-demo", false, map[string]string{"ghost": "Ghost-" + canary + "6"}), "AgentError.Account.UserNotExist", 406},
			{"PartFailure", "", modify("ehpc-demo", false, map[string]string{"bob": "Bob-" + canary + "6", "ghost": "Ghost-" + canary + "6"}), "PartFailure", 409},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				secret := tt.secret
				if secret == "" {
					secret = "exampleSecret0123456789"
				}
				resp, err := s.alibaba(t, secret).ModifyUserPasswords(tt.req)
				s.record(resp)
				if err != nil {
					s.record(err.Error())
				}
				code, status := alibabaCode(t, err)
				if code != tt.wantCode || status != tt.wantStatus {
					t.Fatalf("got %s %d, want %s %d", code, status, tt.wantCode, tt.wantStatus)
				}
			})
		}
	})

	t.Run("AlibabaAsyncAndListTasks", func(t *testing.T) {
		c := s.alibaba(t, "exampleSecret0123456789")
		resp, err := c.ModifyUserPasswords(modify("ehpc-demo", true, map[string]string{"user1": "User1-" + canary + "7", "user2": "User2-" + canary + "7"}))
		s.record(resp)
		if code, _ := alibabaCode(t, err); code != "" {
			t.Fatalf("async ModifyUserPasswords: %s", code)
		}
		var body struct{ TaskId string }
		if err := json.Unmarshal(resp.GetHttpContentBytes(), &body); err != nil || body.TaskId == "" {
			t.Fatalf("no TaskId in %s", resp.GetHttpContentString())
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			req := ehpc.CreateListTasksRequest()
			req.Scheme = requests.HTTP
			req.ClusterId = "ehpc-demo"
			req.TaskId = body.TaskId
			lt, err := c.ListTasks(req)
			s.record(lt)
			if code, _ := alibabaCode(t, err); code != "" {
				t.Fatalf("ListTasks: %s", code)
			}
			if len(lt.Tasks) != 1 {
				t.Fatalf("ListTasks returned %d tasks", len(lt.Tasks))
			}
			if st := lt.Tasks[0].Status; st != "Processing" {
				if st != "Success" {
					t.Fatalf("task ended %s: %+v", st, lt.Tasks[0])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the local worker did not run the task")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("AlibabaListUsers", func(t *testing.T) {
		req := ehpc.CreateListUsersRequest()
		req.Scheme = requests.HTTP
		req.ClusterId = "ehpc-demo"
		resp, err := s.alibaba(t, "exampleSecret0123456789").ListUsers(req)
		s.record(resp)
		if code, _ := alibabaCode(t, err); code != "" {
			t.Fatalf("ListUsers: %s", code)
		}
		if resp.TotalCount != 4 || len(resp.Users.UserInfo) != 4 || resp.Users.UserInfo[0].Name != "alice" {
			t.Fatalf("ListUsers = %+v", resp)
		}
	})

	t.Run("CanaryNowhere", func(t *testing.T) {
		db, err := os.ReadFile(s.store)
		if err != nil {
			t.Fatal(err)
		}
		places := map[string][]byte{
			"stdout": []byte(s.stdout.String()), "logs": []byte(s.stderr.String()),
			"responses": []byte(s.responses.String()), "store file": db,
		}
		if !strings.Contains(s.stderr.String(), `"event":"password_change"`) {
			t.Fatal("no audit line was logged; the sweep would prove nothing")
		}
		for where, b := range places {
			if bytes.Contains(b, []byte(canary)) {
				t.Errorf("the canary password appears in %s", where)
			}
		}
	})
}
