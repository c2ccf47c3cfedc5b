package setup_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "chpass/functions/internal/setup"
	"chpass/functions/internal/setup/ehpc"

	"chpass/shared/config"
	"chpass/shared/ehpcapi"
	"chpass/shared/fcinvoke"
	"chpass/shared/fcinvoke/fcinvoketest"
	"chpass/shared/gateway"
	"chpass/shared/lambdainvoke"
	"chpass/shared/lambdainvoke/lambdainvoketest"
	"chpass/shared/ldap/ldaptest"
	"chpass/shared/logtest"
	"chpass/shared/platform"
	chredis "chpass/shared/redis"
	"chpass/shared/redis/redistest"
)

const (
	asyncAWSKey, asyncAWSSecret, asyncAWSToken = "AKIAASYNCTEST", "aws-async-secret-0123456789", "aws-async-token"
	asyncAliKey, asyncAliSecret, asyncAliToken = "STS.asyncTest", "ali-async-secret-0123456789", "ali-async-token"
)

func init() {
	// What modify-user-passwords' main registers (its async_aws.go and async_alibaba.go).
	ehpc.RegisterAsyncInvoker(gateway.Lambda, func() (ehpc.DispatchFunc, error) {
		i, err := lambdainvoke.FromEnv(lambdainvoke.Options{})
		if err != nil {
			return nil, err
		}
		return i.Dispatch, nil
	})
	ehpc.RegisterAsyncInvoker(gateway.FC, func() (ehpc.DispatchFunc, error) {
		i, err := fcinvoke.FromEnv(fcinvoke.Options{})
		if err != nil {
			return nil, err
		}
		return i.Dispatch, nil
	})
}

// TestCloudAsync runs an Async batch of modify-user-passwords on Lambda and on Function Compute,
// with slapd as the directory and the real Redis as the task store: the request is answered at
// once with a task id, the task is handed to a fake of the platform's asynchronous invocation
// that checks the request's signature and delivers the run-task event to the function, every
// user then holds the new password, ListTasks reads the task from Redis, a second delivery of the
// same event (a platform retry) changes nothing, and the same event sent as an HTTP request is
// refused without running anything. Without Redis, Async stays InvalidOpt and the function
// accepts no run-task event.
func TestCloudAsync(t *testing.T) {
	e := ldaptest.Require(t)
	for _, on := range []string{gateway.Lambda, gateway.FC} {
		t.Run(on, func(t *testing.T) {
			users := e.FreshUsers(t, 3, "")
			rc := redistest.Config(t, sharedCanary, users[0].Password, users[1].Password, users[2].Password, sharedAdminSecret, asyncAWSSecret, asyncAliSecret)
			var fn platform.Function
			deliver := func(body []byte) error {
				_, err := platform.Handler(on, fn.Kinds...)(context.Background(), body)
				return err
			}
			var fake interface {
				Wait()
				Seen() ([]string, []error)
			}
			var srvURL string
			if on == gateway.Lambda {
				s := lambdainvoketest.Start(t, lambdainvoketest.Credentials{AccessKeyID: asyncAWSKey, SecretAccessKey: asyncAWSSecret,
					SessionToken: asyncAWSToken, Region: "eu-central-1", Function: "chpass-modify"}, deliver)
				fake, srvURL = s, s.URL
				for k, v := range map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "AWS_LAMBDA_FUNCTION_NAME": "chpass-modify",
					"AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": asyncAWSKey, "AWS_SECRET_ACCESS_KEY": asyncAWSSecret,
					"AWS_SESSION_TOKEN": asyncAWSToken, "AWS_ENDPOINT_URL_LAMBDA": srvURL} {
					t.Setenv(k, v)
				}
			} else {
				s := fcinvoketest.Start(t, fcinvoketest.Credentials{AccessKeyID: asyncAliKey, AccessKeySecret: asyncAliSecret,
					SecurityToken: asyncAliToken, Function: "chpass-modify"}, deliver)
				fake, srvURL = s, s.URL
				for k, v := range map[string]string{"FC_RUNTIME_API": "127.0.0.1:9", "FC_FUNCTION_NAME": "chpass-modify",
					"FC_REGION": "cn-hangzhou", "FC_ACCOUNT_ID": "1234567890123456", "ALIBABA_CLOUD_ACCESS_KEY_ID": asyncAliKey,
					"ALIBABA_CLOUD_ACCESS_KEY_SECRET": asyncAliSecret, "ALIBABA_CLOUD_SECURITY_TOKEN": asyncAliToken, "CHPASS_FC_ENDPOINT": srvURL} {
					t.Setenv(k, v)
				}
			}
			logs := &logtest.Buffer{}
			fn = cloudFunction(t, e, &rc, logs)
			rpc := httptest.NewServer(fn.Local)
			defer rpc.Close()
			get := func(q string) (int, []byte) {
				res, err := http.Get(rpc.URL + q)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res.StatusCode, b
			}
			params := map[string]string{"Action": ehpcapi.ActionModifyUserPasswords, "ClusterId": "ldap", "Async": "true"}
			newPW := make([]string, len(users))
			for i, u := range users {
				newPW[i] = fmt.Sprintf("N%d-%s", i, sharedCanary)
				params[fmt.Sprintf("User.%d.Name", i+1)] = u.Name
				params[fmt.Sprintf("User.%d.Password", i+1)] = newPW[i]
			}
			st, b := get(ehpcQuery(params, sharedAdminSecret, time.Now()))
			var resp struct{ TaskId string }
			if err := json.Unmarshal(b, &resp); st != http.StatusOK || err != nil || resp.TaskId == "" {
				t.Fatalf("Async ModifyUserPasswords: %d %s", st, b)
			}
			fake.Wait()
			if bodies, errs := fake.Seen(); len(errs) > 0 || len(bodies) != 1 || bodies[0] != string(platform.NewRunTaskEvent(resp.TaskId)) {
				t.Fatalf("async invocations %q, errors %v: want one run-task event of %s", bodies, errs, resp.TaskId)
			}
			for i, u := range users {
				if !e.Bind(t, u.Name, newPW[i]) {
					t.Fatalf("user %d does not hold the new password", i)
				}
			}
			st, b = get(ehpcQuery(map[string]string{"Action": ehpcapi.ActionListTasks, "ClusterId": "ldap", "TaskId": resp.TaskId}, sharedAdminSecret, time.Now()))
			if st != http.StatusOK || !strings.Contains(string(b), resp.TaskId) || !strings.Contains(string(b), `"Status":"Success","TotalSteps":3,"CurrentStep":3`) {
				t.Fatalf("ListTasks: %d %s, want the task a Success of 3 steps", st, b)
			}
			// A retry of the same event (the platform retries) runs nothing again.
			started := strings.Count(logs.String(), `"task_started"`)
			if err := deliver(platform.NewRunTaskEvent(resp.TaskId)); err != nil {
				t.Fatalf("redelivered: %v", err)
			}
			if got := strings.Count(logs.String(), `"task_started"`); got != started {
				t.Fatalf("a redelivered event ran the task again (%d starts, was %d)", got, started)
			}
			// The same event as an HTTP request, as a body and as the platform's HTTP event.
			res, err := http.Post(rpc.URL+"/", "application/json", bytes.NewReader(platform.NewRunTaskEvent(resp.TaskId)))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				t.Fatal("the run-task event POSTed over HTTP was answered 200")
			}
			httpEvent := map[string]any{"body": string(platform.NewRunTaskEvent(resp.TaskId)), "rawPath": "/", "isBase64Encoded": false,
				"headers":        map[string]string{"content-type": "application/json"},
				"requestContext": map[string]any{"http": map[string]any{"method": "POST", "path": "/", "sourceIp": "192.0.2.1"}, "requestId": "r1"}}
			if on == gateway.Lambda {
				httpEvent["version"] = "2.0"
			} else {
				httpEvent["version"] = "v1"
			}
			data, _ := json.Marshal(httpEvent)
			out, err := platform.Handler(on, fn.Kinds...)(context.Background(), data)
			if err != nil {
				t.Fatal(err)
			}
			if o, _ := json.Marshal(out); !strings.Contains(string(o), `"statusCode":400`) {
				t.Fatalf("the run-task event in an HTTP event: %s, want a 400 of the RPC API", o)
			}
			if strings.Count(logs.String(), `"task_started"`) != started {
				t.Fatal("an HTTP request ran a task")
			}
			if strings.Contains(logs.String(), sharedCanary) || strings.Contains(logs.String(), asyncAliSecret) || strings.Contains(logs.String(), asyncAWSSecret) {
				t.Fatal("a password or a credential in the logs")
			}
			if n := redistest.Sweep(t, rc, append(newPW, asyncAWSSecret, asyncAliSecret, asyncAliToken, asyncAWSToken)...); n == 0 {
				t.Fatal("Redis holds no key: the task was not recorded there")
			}
		})
	}
	t.Run("without Redis", func(t *testing.T) {
		t.Setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
		t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "chpass-modify")
		t.Setenv("AWS_REGION", "eu-central-1")
		fn := cloudFunction(t, e, nil, &logtest.Buffer{})
		_, err := platform.Handler(gateway.Lambda, fn.Kinds...)(context.Background(), platform.NewRunTaskEvent("0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"))
		if err == nil || !strings.Contains(err.Error(), "accepts only") {
			t.Fatalf("run-task event without a task store: %v, want refused", err)
		}
	})
}

// cloudFunction builds modify-user-passwords as a cloud cold start does, on slapd and, when rc
// is not nil, on Redis with tasks.key.
func cloudFunction(tb testing.TB, e ldaptest.Env, rc *chredis.Config, logs io.Writer) platform.Function {
	tb.Helper()
	tb.Setenv("CHPASS_ASYNC_BIND_PASSWORD", e.AdminPassword)
	shared := ""
	if rc != nil {
		tb.Setenv("CHPASS_ASYNC_REDIS_PASSWORD", rc.Password)
		user := ""
		if rc.Username != "" {
			user = "\n  username: " + rc.Username
		}
		shared = fmt.Sprintf("redis:\n  address: %s\n  ca_file: %s%s\n  password: ${CHPASS_ASYNC_REDIS_PASSWORD}\n  key_prefix: \"%s\"\ntasks: {key: %s}\n",
			rc.Address, rc.CAFile, user, rc.KeyPrefix, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
	}
	yml := fmt.Sprintf(`
store: {path: %s}
access_keys:
  - {id: %s, secret: %s, actions: ["*"], clusters: [ldap]}
directories:
  corp:
    type: ldap
    ldap:
      url: %s
      start_tls: true
      ca_file: %s
      bind_dn: %s
      bind_password: ${CHPASS_ASYNC_BIND_PASSWORD}
      user_dn_template: uid=%%s,%s
clusters:
  ldap: {directory: corp, status: running}
%s`, filepath.Join(tb.TempDir(), "unused.db"), sharedAdminKey, sharedAdminSecret, e.URL, e.CA, e.AdminDN, e.People, shared)
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml))
	if err != nil {
		tb.Fatal(err)
	}
	a := New(cfg, NewLogger(logs, "modify-user-passwords", "info"))
	tb.Cleanup(func() { _ = a.Close() })
	fn, err := ehpc.Build(context.Background(), a)
	if err != nil {
		tb.Fatal(err)
	}
	return fn
}
