package iamapi_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/global"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	iam "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/iam/v5"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/iam/v5/model"

	"chpass/shared/iamapi"
)

// sdkServer serves a handler on the real clock (the SDK signs with time.Now),
// through middle, behind an httptest server.
func sdkServer(tb testing.TB, middle func(http.Handler) http.Handler) (*env, *httptest.Server) {
	tb.Helper()
	e := newEnv(tb, func(o *iamapi.Options, _ *fakeDir) { o.Now = time.Now })
	var h http.Handler = e.h
	if middle != nil {
		h = middle(h)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return e, srv
}

// sdkClient builds the vendor's IAM v5 client with basic credentials (AK/SK and
// a project id, so that the SDK asks no IAM endpoint for one) against endpoint.
func sdkClient(tb testing.TB, endpoint, ak, sk string) *iam.IamClient {
	tb.Helper()
	cred, err := basic.NewCredentialsBuilder().WithAk(ak).WithSk(sk).WithProjectId(projectID).SafeBuild()
	if err != nil {
		tb.Fatal(err)
	}
	hc, err := iam.IamClientBuilder().WithEndpoints([]string{endpoint}).WithCredential(cred).SafeBuild()
	if err != nil {
		tb.Fatal(err)
	}
	return iam.NewIamClient(hc)
}

func changeReq(oldP, newP string) *model.ChangePasswordV5Request {
	return &model.ChangePasswordV5Request{Body: &model.ChangePasswordReqBody{OldPassword: oldP, NewPassword: newP}}
}

// sdkCode returns the error_code the SDK surfaced in its ServiceResponseError.
func sdkCode(tb testing.TB, err error) (string, int) {
	tb.Helper()
	if err == nil {
		return "", http.StatusOK
	}
	var sre *sdkerr.ServiceResponseError
	if !errors.As(err, &sre) {
		tb.Fatalf("error is %T, want *sdkerr.ServiceResponseError", err)
	}
	if sre.RequestId == "" {
		tb.Error("the SDK saw no X-Request-Id")
	}
	return sre.ErrorCode, sre.StatusCode
}

func TestVendorSDK(t *testing.T) {
	t.Run("ChangesPassword", func(t *testing.T) {
		e, srv := sdkServer(t, nil)
		_, err := sdkClient(t, srv.URL, akID, akSecret).ChangePasswordV5(changeReq(oldPW, newPW))
		if err != nil {
			code, status := sdkCode(t, err)
			t.Fatalf("ChangePasswordV5: %s %d", code, status)
		}
		if e.dir.password(user) != newPW {
			t.Fatal("the password did not change")
		}
	})
	t.Run("GlobalCredentialsWithDomainID", func(t *testing.T) {
		e, srv := sdkServer(t, nil)
		cred, err := global.NewCredentialsBuilder().WithAk(akID).WithSk(akSecret).WithDomainId(domainID).SafeBuild()
		if err != nil {
			t.Fatal(err)
		}
		hc, err := iam.IamClientBuilder().WithEndpoints([]string{srv.URL}).WithCredential(cred).SafeBuild()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := iam.NewIamClient(hc).ChangePasswordV5(changeReq(oldPW, newPW)); err != nil {
			code, _ := sdkCode(t, err)
			t.Fatalf("ChangePasswordV5: %s", code)
		}
		if e.dir.password(user) != newPW {
			t.Fatal("the password did not change")
		}
	})
	t.Run("WrongSecret", func(t *testing.T) {
		e, srv := sdkServer(t, nil)
		_, err := sdkClient(t, srv.URL, akID, "wrong-"+akSecret).ChangePasswordV5(changeReq(oldPW, newPW))
		if code, status := sdkCode(t, err); code != iamapi.CodeUnauthenticated || status != http.StatusUnauthorized {
			t.Fatalf("got %s %d, want %s 401", code, status, iamapi.CodeUnauthenticated)
		}
		if e.dir.calls != 0 {
			t.Fatal("reached the directory")
		}
	})
	t.Run("StaleDate", func(t *testing.T) {
		// The SDK's signer signs at the X-Sdk-Date header when one is given, so an
		// extra header shifts its clock: a correct signature, 16 minutes old.
		e, srv := sdkServer(t, nil)
		old := time.Now().UTC().Add(-16 * time.Minute).Format("20060102T150405Z")
		_, err := sdkClient(t, srv.URL, akID, akSecret).ChangePasswordV5Invoker(changeReq(oldPW, newPW)).
			AddHeaders(map[string]string{"X-Sdk-Date": old}).Invoke()
		if code, status := sdkCode(t, err); code != iamapi.CodeUnauthenticated || status != http.StatusUnauthorized {
			t.Fatalf("got %s %d, want %s 401", code, status, iamapi.CodeUnauthenticated)
		}
		if e.dir.calls != 0 {
			t.Fatal("reached the directory")
		}
		// The same shift within 15 minutes is accepted, which shows the
		// signature itself was good.
		recent := time.Now().UTC().Add(-10 * time.Minute).Format("20060102T150405Z")
		if _, err := sdkClient(t, srv.URL, akID, akSecret).ChangePasswordV5Invoker(changeReq(oldPW, newPW)).
			AddHeaders(map[string]string{"X-Sdk-Date": recent}).Invoke(); err != nil {
			code, _ := sdkCode(t, err)
			t.Fatalf("10 minutes old: %s", code)
		}
	})
	t.Run("TamperedBody", func(t *testing.T) {
		// A man in the middle swaps the new password after the SDK signed.
		tamper := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				b = bytes.Replace(b, []byte(newPW), []byte("Evil-"+newPW), 1)
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
				next.ServeHTTP(w, r)
			})
		}
		e, srv := sdkServer(t, tamper)
		_, err := sdkClient(t, srv.URL, akID, akSecret).ChangePasswordV5(changeReq(oldPW, newPW))
		if code, status := sdkCode(t, err); code != iamapi.CodeUnauthenticated || status != http.StatusUnauthorized {
			t.Fatalf("got %s %d, want %s 401", code, status, iamapi.CodeUnauthenticated)
		}
		if e.dir.password(user) != oldPW {
			t.Fatal("the password changed")
		}
	})
	t.Run("PolicyErrorSurfaces", func(t *testing.T) {
		_, srv := sdkServer(t, nil)
		_, err := sdkClient(t, srv.URL, akID, akSecret).ChangePasswordV5(changeReq(oldPW, "short"))
		if code, status := sdkCode(t, err); code != iamapi.CodeWeakPassword || status != http.StatusBadRequest {
			t.Fatalf("got %s %d, want %s 400", code, status, iamapi.CodeWeakPassword)
		}
		if strings.Contains(err.Error(), oldPW) {
			t.Fatal("the SDK's error holds the password")
		}
	})
}
