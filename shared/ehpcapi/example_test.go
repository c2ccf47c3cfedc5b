package ehpcapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"chpass/shared/ehpcapi"
	"chpass/shared/password"
)

// ExampleNew wires a handler for one cluster and sends it a ModifyUserPasswords
// signed with signature v1, as the vendor SDK would.
func ExampleNew() {
	dir := &memDir{users: map[string]string{"user1": "old", "user2": "old"}}
	h, err := ehpcapi.New(ehpcapi.Options{
		Clusters: map[string]ehpcapi.Cluster{
			"ehpc-demo": {Status: ehpcapi.StatusRunning, Service: password.NewService(password.DefaultPolicy(), dir), Users: dir},
		},
		AccessKeys: []ehpcapi.AccessKey{{ID: "LTAIexampleKEY", Secret: "exampleSecret0123456789",
			Actions: []string{ehpcapi.ActionModifyUserPasswords}, Clusters: []string{"ehpc-demo"}}},
		Logger:   zerolog.Nop(),
		Function: "modify-user-passwords",
	})
	if err != nil {
		panic(err)
	}
	p := map[string]string{
		"Action": "ModifyUserPasswords", "Version": "2018-04-12", "ClusterId": "ehpc-demo",
		"User.1.Name": "user1", "User.1.Password": "User1-New-Pass2@",
		"AccessKeyId": "LTAIexampleKEY", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
		"SignatureNonce": "b3f1c2d4e5", "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"),
	}
	p["Signature"] = ehpcapi.Sign(http.MethodGet, p, "exampleSecret0123456789")
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/?"+q.Encode(), nil))
	fmt.Println(w.Code, dir.users["user1"] == "User1-New-Pass2@")
	// Output: 200 true
}
