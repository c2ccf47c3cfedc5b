package ehpcapi

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"chpass/shared/password"
)

// seedRows is the error table of the vendor's 2024 English ModifyUserPasswords
// page (seeds/ehpc-modify-user-passwords.en-2024.txt), copied by hand.
var seedRows = []struct {
	status  int
	code    string
	message string
}{
	{400, "InvalidParams", "The specified parameter %s is invalid."},
	{400, "NotEnabled", "You have not enabled this service"},
	{400, "InDebt", "Your account has overdue payments."},
	{400, "InvalidOpt", "The specified operation is invalid. Please try again later. If the problem still exists, submit a ticket."},
	{403, "InvalidClusterStatus", "The operation failed due to invalid cluster status."},
	{404, "ClusterNotFound", "The specified cluster does not exist."},
	{404, "ManagerNotFound", "The manager nodes do not exist or their status is abnormal."},
	{406, "AgentError", "The agent service request failed."},
	{406, "AgentError.Account.DomainNotExist", "The specified domain does not exist: %s."},
	{406, "AgentError.Account.GetentPasswdFailure", "Failed to get the user list: %s."},
	{406, "AgentError.Account.UserNotExist", "The specified user is not found in the domain: %s."},
	{406, "AgentError.Account.UserChangePasswordFailure", "Failed to modify user password in domain: %s."},
	{407, "NotAuthorized", "You are not authorized by RAM for this request."},
	{409, "PartFailure", "Part of the batch operation failed."},
	{500, "UnknownError", "An unknown error occurred."},
	{503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server"},
}

// TestCatalogMatchesSeed proves every row of the seed is in the catalog with
// its status and message verbatim, and that the seed file still says so.
func TestCatalogMatchesSeed(t *testing.T) {
	seed, err := os.ReadFile("../../../shared/seeds/ehpc-modify-user-passwords.en-2024.txt")
	for _, row := range seedRows {
		t.Run(row.code, func(t *testing.T) {
			c, ok := catalog[row.code]
			if !ok {
				t.Fatalf("%s is not in the catalog", row.code)
			}
			if c.Status != row.status || c.Message != row.message || c.Source != "seed" {
				t.Errorf("catalog has %d %q (%s), seed says %d %q", c.Status, c.Message, c.Source, row.status, row.message)
			}
			if err == nil && !strings.Contains(string(seed), row.code+row.message) {
				t.Errorf("the seed file does not have %s%s", row.code, row.message)
			}
		})
	}
}

// TestUnreachableCodes documents the seed codes this service never answers:
// chpass has no subscription to enable and no billing, so NotEnabled and InDebt
// cannot arise. Their entries stay exact so that a client's handling of them
// keeps working, and no code path refers to them.
func TestUnreachableCodes(t *testing.T) {
	for _, code := range []string{CodeNotEnabled, CodeInDebt} {
		t.Run(code, func(t *testing.T) {
			e := errf(code, "")
			if e.status() != http.StatusBadRequest {
				t.Errorf("status %d", e.status())
			}
			want := map[string]string{CodeNotEnabled: "You have not enabled this service", CodeInDebt: "Your account has overdue payments."}[code]
			if e.message() != want {
				t.Errorf("message %q", e.message())
			}
			for _, f := range []string{"handler.go", "modify.go", "tasks.go", "users.go", "params.go", "signature.go"} {
				src, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(src), "Code"+code) {
					t.Errorf("%s refers to %s, which this service documents as unreachable", f, code)
				}
			}
		})
	}
}

// TestCatalogMarkdown checks that CATALOG.md is the catalog as it is.
func TestCatalogMarkdown(t *testing.T) {
	md, err := os.ReadFile("CATALOG.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(md) != catalogMarkdown() {
		t.Errorf("CATALOG.md is stale: run UPDATE_CATALOG=1 go test -run TestWriteCatalogMarkdown ./shared/ehpcapi")
	}
}

// TestSeedErrors provokes every row of the seed's error table that can arise.
func TestSeedErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Options)
		setup   func(*env)
		params  map[string]string
		status  int
		code    string
		message string
	}{
		{name: "InvalidParams", params: modify("ehpc-demo", map[string]string{"User.2.Password": "short"}, "user1", "user2"),
			status: 400, code: CodeInvalidParams, message: "The specified parameter User.2.Password is invalid."},
		{name: "InvalidOpt", edit: func(o *Options) { o.Tasks, o.TaskKey = nil, nil },
			params: modify("ehpc-demo", map[string]string{"Async": "true"}, "user1"), status: 400, code: CodeInvalidOpt},
		{name: "InvalidClusterStatus", params: modify("ehpc-stopped", nil, "user1"), status: 403, code: CodeInvalidClusterStatus},
		{name: "ClusterNotFound", params: modify("ehpc-nope", nil, "user1"), status: 404, code: CodeClusterNotFound},
		{name: "ManagerNotFound", params: modify("ehpc-exception", nil, "user1"), status: 404, code: CodeManagerNotFound},
		{name: "AgentError", setup: func(e *env) { e.dir.All = password.Errorf(password.EINTERNAL, "Internal error.") },
			params: modify("ehpc-demo", nil, "user1", "user2"), status: 406, code: CodeAgentError},
		{name: "DomainNotExist", params: modify("ehpc-nodir", nil, "user1"), status: 406, code: CodeDomainNotExist,
			message: "The specified domain does not exist: corp.example."},
		{name: "GetentPasswdFailure/unsupported", params: map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-nolist"},
			status: 406, code: CodeGetentPasswdFailure, message: "Failed to get the user list: nolist.example."},
		{name: "GetentPasswdFailure/failed", params: map[string]string{"Action": ActionListUsers, "ClusterId": "ehpc-badlist"},
			status: 406, code: CodeGetentPasswdFailure, message: "Failed to get the user list: badlist.example."},
		{name: "UserNotExist", params: modify("ehpc-demo", nil, "ghost1", "ghost2"), status: 406, code: CodeUserNotExist,
			message: "The specified user is not found in the domain: ghost1,ghost2."},
		{name: "UserChangePasswordFailure/policy", setup: func(e *env) {
			e.dir.All = password.PolicyError([]password.Violation{password.DefaultPolicy().Violation(password.RuleReusePrevention)})
		}, params: modify("ehpc-demo", nil, "user1"), status: 406, code: CodeUserChangePasswordFailure,
			message: "Failed to modify user password in domain: user1."},
		{name: "UserChangePasswordFailure/forbidden", setup: func(e *env) {
			e.dir.All = password.Errorf(password.EFORBIDDEN, "The service account may not reset this password.")
		}, params: modify("ehpc-demo", nil, "user1", "user2"), status: 406, code: CodeUserChangePasswordFailure},
		{name: "NotAuthorized", params: map[string]string{"Action": ActionListTasks, "ClusterId": "ehpc-demo", "AccessKeyId": "LTAIlimited"},
			status: 407, code: CodeNotAuthorized, message: "You are not authorized by RAM for this request."},
		{name: "PartFailure", params: modify("ehpc-demo", nil, "user1", "ghost"), status: 409, code: CodePartFailure},
		{name: "UnknownError", setup: func(e *env) { e.tasks.Err = errTest },
			params: modify("ehpc-demo", map[string]string{"Async": "true"}, "user1"), status: 500, code: CodeUnknownError},
		{name: "ServiceUnavailable", setup: func(e *env) {
			e.dir.All = password.Errorf(password.EUNAVAILABLE, "The directory cannot be reached.")
		}, params: modify("ehpc-demo", nil, "user1", "user2"), status: 503, code: CodeServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.edit)
			if tt.setup != nil {
				tt.setup(e)
			}
			keyID, secret := testKeyID, testSecret
			if tt.params["AccessKeyId"] == "LTAIlimited" {
				keyID, secret = "LTAIlimited", "limitedSecret"
			}
			r := e.serve(t, get(signed(http.MethodGet, tt.params, keyID, secret, e.now)))
			wantError(t, r, tt.status, tt.code)
			if tt.message != "" && r.message() != tt.message {
				t.Errorf("message %q, want %q", r.message(), tt.message)
			}
		})
	}
}

// TestServiceUnavailableOnDeadline: when the request's deadline leaves less
// than the safety margin, nothing is tried and every user is reported as a
// temporary failure.
func TestServiceUnavailableOnDeadline(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req := get(signed(http.MethodGet, modify("ehpc-demo", nil, "user1", "user2"), testKeyID, testSecret, e.now)).WithContext(ctx)
	r := e.serve(t, req)
	wantError(t, r, 503, CodeServiceUnavailable)
	if n := len(e.dir.resetNames()); n != 0 {
		t.Errorf("%d resets after the deadline", n)
	}
}

// TestWriteCatalogMarkdown regenerates CATALOG.md from the catalog when
// UPDATE_CATALOG=1.
func TestWriteCatalogMarkdown(t *testing.T) {
	if os.Getenv("UPDATE_CATALOG") != "1" {
		t.Skip("set UPDATE_CATALOG=1 to regenerate CATALOG.md")
	}
	if err := os.WriteFile("CATALOG.md", []byte(catalogMarkdown()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func catalogMarkdown() string {
	var b strings.Builder
	b.WriteString("# E-HPC error catalog (modify-user-passwords)\n\n")
	b.WriteString("Generated from `catalog.go` (`UPDATE_CATALOG=1 go test -run TestWriteCatalogMarkdown ./shared/ehpcapi`).\n")
	b.WriteString("Every error body is `{\"RequestId\",\"HostId\",\"Code\",\"Message\",\"Recommend\"}`; PartFailure (and an all-failed batch)\n")
	b.WriteString("adds `Results: [{Name, Code, Message, Detail}]`, one per user, never a password. `%s` is filled with a parameter,\n")
	b.WriteString("domain or user name, never a value. Source: *seed* = the vendor's ModifyUserPasswords page (2024, verbatim),\n")
	b.WriteString("*gateway* = the Alibaba Cloud RPC gateway's common codes, *chpass* = this service's own.\n\n")
	b.WriteString("| HTTP | Code | Message | Source | When chpass answers it |\n|---|---|---|---|---|\n")
	codes := make([]string, 0, len(catalog))
	for c := range catalog {
		codes = append(codes, c)
	}
	slices.SortFunc(codes, func(a, b string) int {
		if d := catalog[a].Status - catalog[b].Status; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, c := range codes {
		e := catalog[c]
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s | %s |\n", e.Status, c, strings.ReplaceAll(e.Message, "|", "\\|"), e.Source, strings.ReplaceAll(e.When, "|", "\\|"))
	}
	b.WriteString(`
## Decisions

- **Cluster status.** Only ` + "`running`" + ` lets ModifyUserPasswords and ListUsers reach the directory. ` + "`exception`" + ` (the manager is
  known to be abnormal) answers ManagerNotFound 404; every other status (stopped, installing, uninstalling, upgrading, ...)
  answers InvalidClusterStatus 403. ListTasks reads task records only and is allowed in any status.
- **Directory unreachable.** A reset that fails with EUNAVAILABLE (unreachable, timed out) or ECANCELED (the deadline,
  less a 500 ms safety margin, passed first) is transient: when every user fails so, the answer is ServiceUnavailable 503,
  which the SDK retries. ManagerNotFound is kept for the configured ` + "`exception`" + ` status, which is not transient.
- **One reason for all.** When every user fails with the same code the answer is that code (UserNotExist with the names
  joined by commas, UserChangePasswordFailure, ServiceUnavailable, AgentError); when outcomes differ (including all failed
  for different reasons) it is PartFailure 409. Both carry Results.
- **AgentError** is a generic directory failure (EINTERNAL, or a code a reset should not return).
  **UnknownError** is a failure of chpass itself (task store, panic).
- **InvalidOpt** answers Async=true or ListTasks where no task store is configured; Recommend says what to configure.
- **NotEnabled, InDebt** never arise: chpass has no subscription or billing. Their entries are exact and tested.
- **Authorization before existence.** A key not allowed on a cluster gets NotAuthorized 407 whether or not the cluster
  exists; only a key allowed on it (or on ` + "`*`" + `) learns ClusterNotFound.
`)
	return b.String()
}
