package setup_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"chpass/shared/ehpcapi"
)

// rpcBody is what an E-HPC answer says, error or not.
type rpcBody struct {
	RequestID string `json:"RequestId"`
	Code      string
	Message   string
	Recommend string
	Results   []ehpcapi.UserResult
}

var nonceSeq atomic.Int64

// rpc signs params (plus the common ones) with key and secret as the Alibaba
// Cloud SDK does, serves them to h as a GET, and returns the status and body.
func rpc(tb testing.TB, h http.Handler, key, secret string, params map[string]string) (int, rpcBody) {
	tb.Helper()
	p := map[string]string{
		"Version": "2018-04-12", "Format": "JSON", "AccessKeyId": key, "SignatureMethod": "HMAC-SHA1",
		"SignatureVersion": "1.0", "SignatureNonce": fmt.Sprintf("n-%d-%d", time.Now().UnixNano(), nonceSeq.Add(1)),
		"Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"),
	}
	for k, v := range params {
		p[k] = v
	}
	p["Signature"] = ehpcapi.Sign(http.MethodGet, p, secret)
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/?"+q.Encode(), nil))
	var b rpcBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		tb.Fatalf("answer is not JSON: %d %s", w.Code, w.Body)
	}
	return w.Code, b
}

// resetParams returns ModifyUserPasswords parameters for cluster and name/password pairs.
func resetParams(cluster string, pairs ...string) map[string]string {
	p := map[string]string{"Action": "ModifyUserPasswords", "ClusterId": cluster}
	for i := 0; i+1 < len(pairs); i += 2 {
		p[fmt.Sprintf("User.%d.Name", i/2+1)] = pairs[i]
		p[fmt.Sprintf("User.%d.Password", i/2+1)] = pairs[i+1]
	}
	return p
}
