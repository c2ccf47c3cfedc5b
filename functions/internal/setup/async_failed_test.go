package setup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"chpass/shared/batch"
	"chpass/shared/ehpcapi"
	"chpass/shared/fcinvoke/fcinvoketest"
	"chpass/shared/gateway"
	"chpass/shared/lambdainvoke/lambdainvoketest"
	"chpass/shared/ldap/ldaptest"
	"chpass/shared/logtest"
	"chpass/shared/password"
	"chpass/shared/platform"
	chredis "chpass/shared/redis"
	"chpass/shared/redis/redistest"
)

// TestCloudAsyncRetriesExhausted: every asynchronous invocation of a task fails, after a run
// that died mid-way (user 0's reset made, its outcome not recorded; user 1 recorded done; user 2
// never tried), and the platform delivers its failure record (Lambda's, FC's) to the function,
// its own on-failure destination. While the dead run's claim lasts, the record is an error
// (the platform delivers it again) and nothing changes; once the lease has expired, the task
// ends in Redis as PartialFail: user 0 checked against slapd and succeeded, user 1 kept, user 2
// failed and not reset. A second delivery changes nothing. Without the kind (before it), the
// record was refused as an unknown event and the task stayed Running for ever.
func TestCloudAsyncRetriesExhausted(t *testing.T) {
	e := ldaptest.Require(t)
	for _, on := range []string{gateway.Lambda, gateway.FC} {
		t.Run(on, func(t *testing.T) {
			users := e.FreshUsers(t, 3, "")
			rc := redistest.Config(t, sharedCanary, users[0].Password, users[1].Password, users[2].Password, sharedAdminSecret)
			failing := func([]byte) error { return errors.New("the function timed out") } // every invocation fails
			if on == gateway.Lambda {
				s := lambdainvoketest.Start(t, lambdainvoketest.Credentials{AccessKeyID: asyncAWSKey, SecretAccessKey: asyncAWSSecret,
					SessionToken: asyncAWSToken, Region: "eu-central-1", Function: "chpass-modify"}, failing)
				for k, v := range map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "AWS_LAMBDA_FUNCTION_NAME": "chpass-modify",
					"AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": asyncAWSKey, "AWS_SECRET_ACCESS_KEY": asyncAWSSecret,
					"AWS_SESSION_TOKEN": asyncAWSToken, "AWS_ENDPOINT_URL_LAMBDA": s.URL} {
					t.Setenv(k, v)
				}
			} else {
				s := fcinvoketest.Start(t, fcinvoketest.Credentials{AccessKeyID: asyncAliKey, AccessKeySecret: asyncAliSecret,
					SecurityToken: asyncAliToken, Function: "chpass-modify"}, failing)
				for k, v := range map[string]string{"FC_RUNTIME_API": "127.0.0.1:9", "FC_FUNCTION_NAME": "chpass-modify",
					"FC_REGION": "cn-hangzhou", "FC_ACCOUNT_ID": "1234567890123456", "ALIBABA_CLOUD_ACCESS_KEY_ID": asyncAliKey,
					"ALIBABA_CLOUD_ACCESS_KEY_SECRET": asyncAliSecret, "ALIBABA_CLOUD_SECURITY_TOKEN": asyncAliToken, "CHPASS_FC_ENDPOINT": s.URL} {
					t.Setenv(k, v)
				}
			}
			logs := &logtest.Buffer{}
			fn := cloudFunction(t, e, &rc, logs)
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
			newPW := make([]string, len(users))
			params := map[string]string{"Action": ehpcapi.ActionModifyUserPasswords, "ClusterId": "ldap", "Async": "true"}
			for i, u := range users {
				newPW[i] = fmt.Sprintf("F%d-%s", i, sharedCanary)
				params[fmt.Sprintf("User.%d.Name", i+1)] = u.Name
				params[fmt.Sprintf("User.%d.Password", i+1)] = newPW[i]
			}
			st, b := get(ehpcQuery(params, sharedAdminSecret, time.Now()))
			var resp struct{ TaskId string }
			if err := json.Unmarshal(b, &resp); st != http.StatusOK || err != nil || resp.TaskId == "" {
				t.Fatalf("Async ModifyUserPasswords: %d %s", st, b)
			}
			id := resp.TaskId

			// The run that died: user 0 reset (synchronously here) after its intent, no outcome;
			// user 1 recorded done; user 2 never tried. Its claim lasts two seconds.
			ctx := context.Background()
			st, b = get(ehpcQuery(map[string]string{"Action": ehpcapi.ActionModifyUserPasswords, "ClusterId": "ldap",
				"User.1.Name": users[0].Name, "User.1.Password": newPW[0]}, sharedAdminSecret, time.Now()))
			if st != http.StatusOK {
				t.Fatalf("resetting user 0: %d %s", st, b)
			}
			rs, err := chredis.Open(rc, chredis.DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			store := rs.Tasks()
			lease := 2 * time.Second
			claimed := time.Now()
			if _, err := store.ClaimTask(ctx, id, "dead", lease); err != nil {
				t.Fatal(err)
			}
			for _, r := range []batch.UserRecord{
				{Index: 0, Name: users[0].Name, Phase: batch.PhaseIntent, At: time.Now().Add(-time.Second)},
				{Index: 1, Name: users[1].Name, Phase: batch.PhaseIntent, At: time.Now()},
				{Index: 1, Name: users[1].Name, Phase: batch.PhaseOutcome, At: time.Now()},
			} {
				if err := store.RecordUser(ctx, id, "dead", r); err != nil {
					t.Fatal(err)
				}
			}
			record := lambdaFailureRecord(platform.NewRunTaskEvent(id))
			if on == gateway.FC {
				record = fcFailureRecord(platform.NewRunTaskEvent(id))
			}
			deliver := func() error {
				_, err := platform.Handler(on, fn.Kinds...)(ctx, record)
				return err
			}
			// A live claim: the record is an error for the platform to deliver again; nothing changes.
			if err := deliver(); password.ErrorCode(err) != batch.ECLAIMED {
				t.Fatalf("record under a live claim: %v, want an ECLAIMED error", err)
			}
			if task, err := store.Task(ctx, id); err != nil || task.Status.Final() || len(task.Users) != 2 {
				t.Fatalf("under a live claim the task changed: %+v %v", task, err)
			}
			time.Sleep(time.Until(claimed.Add(lease + 200*time.Millisecond)))
			if err := deliver(); err != nil {
				t.Fatalf("record after the lease: %v", err)
			}
			task, err := store.Task(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got := map[int]batch.UserRecord{}
			for _, u := range task.Users {
				got[u.Index] = u
			}
			if task.Status != batch.StatusPartial || task.Sealed != nil || task.Done() != 3 {
				t.Fatalf("task %s, done %d, sealed kept %v", task.Status, task.Done(), task.Sealed != nil)
			}
			if r := got[0]; r.Phase != batch.PhaseOutcome || r.Code != "" || !r.Checked {
				t.Errorf("user 0 (reset, outcome lost): %+v, want checked success", r)
			}
			if r := got[1]; r.Phase != batch.PhaseOutcome || r.Code != "" {
				t.Errorf("user 1 (done): %+v", r)
			}
			if r := got[2]; r.Phase != batch.PhaseOutcome || r.Code != password.ECANCELED {
				t.Errorf("user 2 (never tried): %+v, want failed", r)
			}
			if !e.Bind(t, users[2].Name, users[2].Password) || !e.Bind(t, users[0].Name, newPW[0]) {
				t.Fatal("user 2 was reset, or user 0 does not hold its new password")
			}
			st, b = get(ehpcQuery(map[string]string{"Action": ehpcapi.ActionListTasks, "ClusterId": "ldap", "TaskId": id}, sharedAdminSecret, time.Now()))
			if st != http.StatusOK || !strings.Contains(string(b), `"Status":"`+ehpcapi.TaskPartialFail+`"`) {
				t.Fatalf("ListTasks: %d %s, want PartialFail", st, b)
			}
			// A second delivery leaves the ended task alone.
			if err := deliver(); err != nil {
				t.Fatalf("second record: %v", err)
			}
			if again, _ := store.Task(ctx, id); again.Status != batch.StatusPartial || len(again.Users) != 3 {
				t.Fatalf("a second record changed the task: %s", again.Status)
			}
			if strings.Contains(logs.String(), sharedCanary) {
				t.Fatal("a password in the logs")
			}
			redistest.Sweep(t, rc, newPW...)
		})
	}
}

func lambdaFailureRecord(payload []byte) []byte {
	b, _ := json.Marshal(map[string]any{
		"version": "1.0", "timestamp": "2026-11-29T18:00:00.000Z",
		"requestContext": map[string]any{"requestId": "e4b4c1a8-0000-4000-8000-000000000001",
			"functionArn": "arn:aws:lambda:eu-central-1:123456789012:function:chpass-modify:$LATEST",
			"condition":   "RetriesExhausted", "approximateInvokeCount": 3},
		"requestPayload":  json.RawMessage(payload),
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"responsePayload": map[string]any{"errorMessage": "timed out"},
	})
	return b
}

func fcFailureRecord(payload []byte) []byte {
	b, _ := json.Marshal(map[string]any{
		"timestamp": 1660120276975,
		"requestContext": map[string]any{"requestId": "1-0000", "functionArn": "acs:fc:cn-hangzhou:1234567890123456:functions/chpass-modify",
			"condition": "UnhandledInvocationError", "approximateInvokeCount": 4},
		"requestPayload":  string(payload),
		"responseContext": map[string]any{"statusCode": 200, "functionError": "UnhandledInvocationError"},
		"responsePayload": "",
	})
	return b
}
