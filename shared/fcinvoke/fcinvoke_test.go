package fcinvoke_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"chpass/shared/fcinvoke"
)

// TestSignVendorExamples signs the requests of Alibaba Cloud's published V3 signature examples
// (AccessKey YourAccessKeyId / YourAccessKeySecret, ECS RunInstances with an empty body) and
// expects the signatures the documents print: the V3 request-structure document's worked example
// and the header sample of the ROA request-body document.
func TestSignVendorExamples(t *testing.T) {
	tests := []struct {
		name, date, nonce, want string
	}{
		{"V3 worked example", "2023-10-26T10:22:32Z", "3156853299f313e23d1673dc12e1703d",
			"06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"},
		{"ROA header sample", "2023-10-26T09:01:01Z", "d410180a5abf7fe235dd9b74aca91fc0",
			"e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost,
				"https://ecs.cn-shanghai.aliyuncs.com/?ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai", nil)
			r.Header.Set("x-acs-action", "RunInstances")
			r.Header.Set("x-acs-version", "2014-05-26")
			now, _ := time.Parse(time.RFC3339, tt.date)
			fcinvoke.Sign(r, nil, fcinvoke.Credentials{AccessKeyID: "YourAccessKeyId", AccessKeySecret: "YourAccessKeySecret"}, now, tt.nonce)
			want := "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=" + tt.want
			if got := r.Header.Get("Authorization"); got != want {
				t.Fatalf("Authorization\n got %s\nwant %s", got, want)
			}
			if got := r.Header.Get("x-acs-content-sha256"); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
				t.Fatalf("x-acs-content-sha256 = %s", got)
			}
		})
	}
	t.Run("the token and the FC headers are signed", func(t *testing.T) {
		r, _ := http.NewRequest(http.MethodPost, "https://1.cn-hangzhou.fc.aliyuncs.com/2023-03-30/functions/f%20x/invocations", nil)
		r.Header.Set("x-fc-invocation-type", "Async")
		r.Header.Set("Content-Type", "application/octet-stream")
		fcinvoke.Sign(r, []byte("{}"), fcinvoke.Credentials{AccessKeyID: "id", AccessKeySecret: "s", SecurityToken: "tok"}, time.Unix(0, 0), "n")
		auth := r.Header.Get("Authorization")
		if !strings.Contains(auth, "SignedHeaders=content-type;host;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-fc-invocation-type,") {
			t.Fatalf("Authorization %s: want the token and x-fc-invocation-type signed", auth)
		}
		canonical, _ := fcinvoke.CanonicalRequest(r, r.Header.Get("x-acs-content-sha256"))
		if !strings.HasPrefix(canonical, "POST\n/2023-03-30/functions/f%20x/invocations\n\n") {
			t.Fatalf("canonical request %q", canonical)
		}
		before := auth
		r.Header.Set("x-fc-invocation-type", "Sync")
		c2, _ := fcinvoke.CanonicalRequest(r, r.Header.Get("x-acs-content-sha256"))
		if fcinvoke.Signature("s", c2) == before[strings.LastIndex(before, "=")+1:] {
			t.Fatal("changing x-fc-invocation-type kept the signature")
		}
	})
}

// TestFromEnv: the endpoint is the account's internal one in the function's region, as the FC 3.0
// endpoints document writes it, unless CHPASS_FC_ENDPOINT names another; outside FC it fails.
func TestFromEnv(t *testing.T) {
	env := map[string]string{"FC_FUNCTION_NAME": "f", "FC_ACCOUNT_ID": "123456789012", "FC_REGION": "cn-hangzhou"}
	i, err := fcinvoke.FromEnv(fcinvoke.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil || i.Endpoint() != "https://123456789012.cn-hangzhou-internal.fc.aliyuncs.com" {
		t.Fatalf("endpoint %v, %v", i, err)
	}
	env["CHPASS_FC_ENDPOINT"] = "http://127.0.0.1:1"
	if i, _ = fcinvoke.FromEnv(fcinvoke.Options{Getenv: func(k string) string { return env[k] }}); i.Endpoint() != "http://127.0.0.1:1" {
		t.Fatalf("endpoint %s, want the override", i.Endpoint())
	}
	if _, err := fcinvoke.FromEnv(fcinvoke.Options{Getenv: func(string) string { return "" }}); err == nil {
		t.Fatal("outside FC: no error")
	}
}
