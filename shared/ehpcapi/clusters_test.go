package ehpcapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ehpc"
	"github.com/rs/zerolog"

	"chpass/shared/ehpcapi"
	"chpass/shared/password"
)

// TestListClustersSDK asks for the clusters with the vendor SDK (v1.62.0's
// ListClusters), as every E-HPC seed tells its users to do to find the ClusterId:
// each key sees the clusters it may use, a page at a time, with the fields chpass
// knows truthfully and no others; a key without the action is refused.
func TestListClustersSDK(t *testing.T) {
	dir := &memDir{users: map[string]string{"user1": "x"}}
	svc := password.NewService(password.DefaultPolicy(), dir)
	h, err := ehpcapi.New(ehpcapi.Options{
		Clusters: map[string]ehpcapi.Cluster{
			"ehpc-b":    {Status: ehpcapi.StatusRunning, Service: svc, AccountType: "ldap"},
			"ehpc-a":    {Status: "stopped", Service: svc},
			"ehpc-c":    {Status: ehpcapi.StatusRunning},
			"ehpc-hide": {Status: ehpcapi.StatusRunning, Service: svc},
		},
		AccessKeys: []ehpcapi.AccessKey{
			{ID: "AKALL", Secret: "secret-all-0123456789", Actions: []string{"*"}, Clusters: []string{"*"}},
			{ID: "AKSOME", Secret: "secret-some-0123456789", Actions: []string{ehpcapi.ActionListClusters, ehpcapi.ActionModifyUserPasswords}, Clusters: []string{"ehpc-c", "ehpc-b"}},
			{ID: "AKNOLIST", Secret: "secret-nolist-0123456789", Actions: []string{ehpcapi.ActionModifyUserPasswords}, Clusters: []string{"*"}},
		},
		Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := func(t *testing.T, id, secret string) *ehpc.Client {
		c, err := ehpc.NewClientWithAccessKey("cn-hangzhou", id, secret)
		if err != nil {
			t.Fatal(err)
		}
		c.Domain = strings.TrimPrefix(srv.URL, "http://")
		return c
	}
	list := func(page, size int) *ehpc.ListClustersRequest {
		req := ehpc.CreateListClustersRequest()
		req.Scheme = requests.HTTP
		if page > 0 {
			req.PageNumber = requests.NewInteger(page)
			req.PageSize = requests.NewInteger(size)
		}
		return req
	}
	ids := func(resp *ehpc.ListClustersResponse) string {
		var out []string
		for _, c := range resp.Clusters.ClusterInfoSimple {
			out = append(out, c.Id+"="+c.Status)
		}
		return strings.Join(out, ",")
	}

	t.Run("EveryCluster", func(t *testing.T) {
		resp, err := client(t, "AKALL", "secret-all-0123456789").ListClusters(list(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalCount != 4 || resp.PageNumber != 1 || resp.PageSize != 10 || resp.RequestId == "" ||
			ids(resp) != "ehpc-a=stopped,ehpc-b=running,ehpc-c=running,ehpc-hide=running" {
			t.Fatalf("response %+v", resp)
		}
		if b := resp.Clusters.ClusterInfoSimple[1]; b.AccountType != "ldap" {
			t.Errorf("ehpc-b: AccountType %q, want ldap", b.AccountType)
		}
		// Only what chpass knows: no invented name, region, nodes or resources.
		var raw struct {
			Clusters struct{ ClusterInfoSimple []map[string]any }
		}
		if err := json.Unmarshal(resp.GetHttpContentBytes(), &raw); err != nil {
			t.Fatal(err)
		}
		for _, c := range raw.Clusters.ClusterInfoSimple {
			for k := range c {
				if k != "Id" && k != "Status" && k != "AccountType" {
					t.Errorf("cluster %v has the field %s, which chpass cannot fill truthfully", c["Id"], k)
				}
			}
		}
	})
	t.Run("OnlyTheKeysClusters", func(t *testing.T) {
		resp, err := client(t, "AKSOME", "secret-some-0123456789").ListClusters(list(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalCount != 2 || ids(resp) != "ehpc-b=running,ehpc-c=running" {
			t.Fatalf("response %+v", resp)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		resp, err := client(t, "AKALL", "secret-all-0123456789").ListClusters(list(2, 3))
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalCount != 4 || resp.PageNumber != 2 || resp.PageSize != 3 || ids(resp) != "ehpc-hide=running" {
			t.Fatalf("response %+v", resp)
		}
		resp, err = client(t, "AKALL", "secret-all-0123456789").ListClusters(list(3, 3))
		if err != nil || resp.TotalCount != 4 || len(resp.Clusters.ClusterInfoSimple) != 0 {
			t.Fatalf("past the end: %v %+v", err, resp)
		}
	})
	t.Run("NotAuthorized", func(t *testing.T) {
		_, err := client(t, "AKNOLIST", "secret-nolist-0123456789").ListClusters(list(0, 0))
		if code := serverCode(t, err); code != ehpcapi.CodeNotAuthorized {
			t.Fatalf("code %s, want %s", code, ehpcapi.CodeNotAuthorized)
		}
	})
	t.Run("BadPageSize", func(t *testing.T) {
		_, err := client(t, "AKALL", "secret-all-0123456789").ListClusters(list(1, 51))
		if code := serverCode(t, err); code != ehpcapi.CodeInvalidParams {
			t.Fatalf("code %s, want %s", code, ehpcapi.CodeInvalidParams)
		}
	})
	t.Run("WrongSecret", func(t *testing.T) {
		_, err := client(t, "AKALL", "not-the-secret").ListClusters(list(0, 0))
		if code := serverCode(t, err); code != ehpcapi.CodeSignatureDoesNotMatch {
			t.Fatalf("code %s", code)
		}
	})
}
