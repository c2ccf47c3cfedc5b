package main

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ehpc"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	iam "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/iam/v5"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/iam/v5/model"
)

// The README's admin and portal examples are the text between the README:begin
// and README:end lines below, one tab less indented; TestReadmeExamples runs them
// against the local server and checks that the README shows them as they are.

// adminExample is what an administrator writes with the Alibaba Cloud Go SDK
// (v1.62.0) against `make run`: endpoint is "127.0.0.1:8080".
func adminExample(endpoint string, out io.Writer) error {
	// README:begin admin
	client, err := ehpc.NewClientWithAccessKey("cn-hangzhou", "LTAIexampleKEY", "exampleSecret0123456789")
	if err != nil {
		return err
	}
	// Find the ClusterId: ListClusters answers the clusters this key may use.
	lc := ehpc.CreateListClustersRequest()
	lc.Scheme, lc.Domain = requests.HTTP, endpoint // make run speaks plain HTTP on loopback
	clusters, err := client.ListClusters(lc)
	if err != nil {
		return err
	}
	for _, c := range clusters.Clusters.ClusterInfoSimple {
		fmt.Fprintln(out, c.Id, c.Status)
	}
	req := ehpc.CreateModifyUserPasswordsRequest()
	req.Scheme, req.Domain = requests.HTTP, endpoint
	req.ClusterId = "ehpc-demo"
	req.User = &[]ehpc.ModifyUserPasswordsUser{
		{Name: "user1", Password: "User1-New-Pass2@"},
		{Name: "user2", Password: "User2-New-Pass2@"},
	}
	// v1.62.0's request has no Async field; the SDK signs any query parameter.
	// "true" answers at once with a TaskId, which ListTasks follows.
	req.QueryParams["Async"] = "false"
	resp, err := client.ModifyUserPasswords(req)
	if err != nil {
		return err // a *errors.ServerError: ErrorCode() is the catalog's code
	}
	fmt.Fprintln(out, "reset, RequestId", resp.RequestId)
	// README:end
	return nil
}

// portalExample is what a portal holding alice's AK/SK writes with the Huawei
// Cloud Go SDK against `make run`: endpoint is "http://127.0.0.1:8080".
func portalExample(endpoint string, out io.Writer) error {
	// README:begin portal
	cred, err := basic.NewCredentialsBuilder().
		WithAk("HWAKDEMOALICE").WithSk("demo-secret-alice-0123456789").
		SafeBuild()
	if err != nil {
		return err
	}
	hc, err := iam.IamClientBuilder().WithEndpoints([]string{endpoint}).WithCredential(cred).SafeBuild()
	if err != nil {
		return err
	}
	_, err = iam.NewIamClient(hc).ChangePasswordV5(&model.ChangePasswordV5Request{
		Body: &model.ChangePasswordReqBody{OldPassword: "Alice-Old-Pass1!", NewPassword: "Alice-New-Pass2@"},
	})
	if err != nil {
		return err // a *sdkerr.ServiceResponseError: ErrorCode is IAM.1103, IAM.1118, ...
	}
	fmt.Fprintln(out, "alice's password changed")
	// README:end
	return nil
}

// exampleBlock returns the lines of this file between README:begin name and
// README:end, one tab less indented.
func exampleBlock(tb testing.TB, name string) string {
	tb.Helper()
	src, err := os.ReadFile("examples_test.go")
	if err != nil {
		tb.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "\t// README:begin "+name+"\n")
	block, _, ok2 := strings.Cut(rest, "\t// README:end\n")
	if !ok || !ok2 {
		tb.Fatalf("no README:begin %s ... README:end block", name)
	}
	lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "\t")
	}
	return strings.Join(lines, "\n") + "\n"
}

// aliyunLine matches the README's `aliyun ehpc` command, continued lines joined.
var aliyunLine = regexp.MustCompile(`(?m)^aliyun ehpc ModifyUserPasswords .*$`)

// TestReadmeExamples runs the README's admin and portal examples against the
// local server, as `make run` serves them, and checks that the README shows them
// as they are compiled here; and it sends the README's aliyun command's request
// as the aliyun CLI builds it (an RPC CommonRequest of the same SDK, plain HTTP
// with --insecure) and checks that it is answered.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile(repoRoot(t) + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"admin", "portal"} {
		if block := exampleBlock(t, name); !strings.Contains(string(readme), "```go\n"+block+"```\n") {
			t.Errorf("the README does not show the %s example as examples_test.go has it:\n%s", name, block)
		}
	}
	s := startServer(t)
	endpoint := strings.TrimPrefix(s.url, "http://")

	var out strings.Builder
	if err := adminExample(endpoint, &out); err != nil {
		t.Fatalf("the admin example: %v", err)
	}
	if !strings.Contains(out.String(), "ehpc-demo running\n") || !strings.Contains(out.String(), "reset, RequestId ") {
		t.Fatalf("the admin example printed:\n%s", out.String())
	}
	out.Reset()
	if err := portalExample(s.url, &out); err != nil {
		t.Fatalf("the portal example: %v", err)
	}
	if out.String() != "alice's password changed\n" {
		t.Fatalf("the portal example printed:\n%s", out.String())
	}

	t.Run("AliyunCLILine", func(t *testing.T) {
		joined := strings.ReplaceAll(string(readme), "\\\n  ", "")
		line := aliyunLine.FindString(joined)
		if line == "" {
			t.Fatal("the README has no `aliyun ehpc ModifyUserPasswords` line")
		}
		flags := map[string]string{}
		fields := strings.Fields(line)[3:]
		for i := 0; i < len(fields); i++ {
			name := strings.TrimPrefix(fields[i], "--")
			if name == "insecure" {
				flags[name] = "true"
				continue
			}
			if i+1 >= len(fields) {
				t.Fatalf("flag %s has no value in %q", name, line)
			}
			flags[name] = strings.Trim(fields[i+1], "'")
			i++
		}
		for _, f := range []string{"region", "access-key-id", "access-key-secret", "endpoint", "insecure", "ClusterId", "User.1.Name", "User.1.Password"} {
			if flags[f] == "" {
				t.Fatalf("the README's aliyun line lacks --%s: %q", f, line)
			}
		}
		if flags["endpoint"] != "127.0.0.1:8080" {
			t.Fatalf("the README's aliyun line points at %s, not make run's address", flags["endpoint"])
		}
		client, err := sdk.NewClientWithAccessKey(flags["region"], flags["access-key-id"], flags["access-key-secret"])
		if err != nil {
			t.Fatal(err)
		}
		req := requests.NewCommonRequest()
		req.Product, req.Version, req.ApiName = "EHPC", "2018-04-12", "ModifyUserPasswords"
		req.Scheme, req.Domain = requests.HTTP, endpoint // --insecure, and --endpoint (this test's port)
		for k, v := range flags {
			if k[0] >= 'A' && k[0] <= 'Z' { // API parameters are capitalised; CLI options are not
				req.QueryParams[k] = v
			}
		}
		resp, err := client.ProcessCommonRequest(req)
		if err != nil {
			t.Fatalf("the aliyun line's request: %v", err)
		}
		if !resp.IsSuccess() || !strings.Contains(resp.GetHttpContentString(), `"RequestId"`) {
			t.Fatalf("the aliyun line's request: %d %s", resp.GetHttpStatus(), resp.GetHttpContentString())
		}
	})
}
