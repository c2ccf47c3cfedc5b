package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chpass/shared/fcinvoke/fcinvoketest"
	"chpass/shared/lambdainvoke/lambdainvoketest"
	"chpass/shared/ldap/ldaptest"
	chplatform "chpass/shared/platform"
	"chpass/shared/redis/redistest"
)

// TestCloudAsync runs an Async batch through the packaged modify-user-passwords on each cloud's
// loopback runtime API, with slapd as the directory and the real Redis as the task store: the
// function answers at once with a task id and hands the task to a fake of the platform's
// asynchronous invocation (Lambda Invoke, FC InvokeFunction), which checks the request's
// signature (SigV4 by the AWS SDK's signer; ACS3 computed independently) and delivers the
// run-task event to the function as the platform would; every user then holds the new password.
// The same event sent over HTTP is refused and runs nothing.
func TestCloudAsync(t *testing.T) {
	dist := distDir(t)
	e := ldaptest.Require(t)
	const fn = "modify-user-passwords"
	for _, p := range platforms {
		t.Run(p.name, func(t *testing.T) {
			users := e.FreshUsers(t, 2, "")
			newPW := []string{"Async-E2e-One-1#", "Async-E2e-Two-2#"}
			rc := redistest.Config(t, append(newPW, users[0].Password, users[1].Password, awsSecretKey, aliyunSecret)...)
			delivered := make(chan []byte, 4)
			deliver := func(body []byte) error { delivered <- body; return nil }
			var seen func() ([]string, []error)
			env := []string{"CHPASS_E2E_BIND_PASSWORD=" + e.AdminPassword, "CHPASS_E2E_REDIS_PASSWORD=" + rc.Password}
			if p.name == lambda.name {
				s := lambdainvoketest.Start(t, lambdainvoketest.Credentials{AccessKeyID: awsAccessKeyID, SecretAccessKey: awsSecretKey,
					SessionToken: awsSessionToken, Region: "us-east-1", Function: fn}, deliver)
				seen, env = s.Seen, append(env, "AWS_ENDPOINT_URL_LAMBDA="+s.URL)
			} else {
				s := fcinvoketest.Start(t, fcinvoketest.Credentials{AccessKeyID: aliyunAccessKeyID, AccessKeySecret: aliyunSecret,
					SecurityToken: aliyunToken, Function: fn}, deliver)
				seen, env = s.Seen, append(env, "CHPASS_FC_ENDPOINT="+s.URL)
			}
			dir := t.TempDir()
			cfg := demoYAML(t, dir, func(cfg map[string]any) {
				dirs, _ := cfg["directories"].(map[string]any)
				if dirs == nil {
					dirs = map[string]any{}
					cfg["directories"] = dirs
				}
				dirs["corp"] = map[string]any{"type": "ldap", "ldap": map[string]any{"url": e.URL, "start_tls": true, "ca_file": e.CA,
					"bind_dn": e.AdminDN, "bind_password": "${CHPASS_E2E_BIND_PASSWORD}", "user_dn_template": "uid=%s," + e.People}}
				cfg["clusters"].(map[string]any)["ehpc-demo"].(map[string]any)["directory"] = "corp"
				r := map[string]any{"address": rc.Address, "ca_file": rc.CAFile, "password": "${CHPASS_E2E_REDIS_PASSWORD}", "key_prefix": rc.KeyPrefix}
				if rc.Username != "" {
					r["username"] = rc.Username
				}
				cfg["redis"] = r
				cfg["tasks"] = map[string]any{"key": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))}
			})
			path := filepath.Join(dir, "chpass.yaml")
			if err := os.WriteFile(path, cfg, 0o600); err != nil {
				t.Fatal(err)
			}
			in := startFunction(t, dist, p, fn, append(env, "CHPASS_CONFIG="+path)...)
			in.proc.secrets = append(in.proc.secrets, newPW[0], newPW[1], rc.Password, e.AdminPassword)

			ev := firstEvent(t, fc, fn).clone(t) // a signed E-HPC request
			if p.name == lambda.name {
				ev = sampleEvent(t, fn, "apigw-http-v2.json").clone(t)
			}
			ev.resign(t, time.Now(), func(params map[string]string) {
				params["Async"], params["ClusterId"] = "true", "ehpc-demo"
				for i, u := range users {
					params[fmt.Sprintf("User.%d.Name", i+1)], params[fmt.Sprintf("User.%d.Password", i+1)] = u.Name, newPW[i]
				}
			})
			_, r := in.invoke(t, ev.payload(t))
			var resp struct{ TaskId string }
			if err := json.Unmarshal([]byte(r.Body), &resp); r.StatusCode != http.StatusOK || err != nil || resp.TaskId == "" {
				t.Fatalf("Async ModifyUserPasswords: %d %s", r.StatusCode, r.Body)
			}
			var body []byte
			select {
			case body = <-delivered:
			case <-time.After(awaitTimeout):
				bodies, errs := seen()
				t.Fatalf("no async invocation accepted (%q, %v); output:\n%s", bodies, errs, in.proc.output())
			}
			if string(body) != string(chplatform.NewRunTaskEvent(resp.TaskId)) {
				t.Fatalf("async invocation carried %s, want the run-task event of %s", body, resp.TaskId)
			}
			inv := in.rt.enqueue(body)
			po := in.rt.await(t, in.proc)
			if po.kind != "response" || po.id != inv.id || strings.TrimSpace(string(po.body)) != "null" {
				t.Fatalf("the run-task invocation: %s %s, want a null response; output:\n%s", po.kind, po.body, in.proc.output())
			}
			for i, u := range users {
				if !e.Bind(t, u.Name, newPW[i]) {
					t.Fatalf("user %d does not hold the new password; output:\n%s", i+1, in.proc.output())
				}
			}
			started := strings.Count(in.proc.output(), `"task_started"`)
			if started != 1 {
				t.Fatalf("%d task_started lines, want 1", started)
			}
			// The same event over HTTP: the RPC API's own refusal, nothing run.
			h := ev.clone(t)
			h.setBody(body)
			_, r = in.invoke(t, h.payload(t))
			if r.StatusCode == http.StatusOK {
				t.Fatalf("the run-task event over HTTP: %d %s, want refused", r.StatusCode, r.Body)
			}
			if got := strings.Count(in.proc.output(), `"task_started"`); got != started {
				t.Fatal("the run-task event over HTTP ran a task")
			}
			if bodies, errs := seen(); len(bodies) != 1 || len(errs) != 0 {
				t.Fatalf("async invocations %d, errors %v: want exactly one, signed", len(bodies), errs)
			}
			redistest.Sweep(t, rc, append(newPW, users[0].Password, users[1].Password)...)
		})
	}
}
