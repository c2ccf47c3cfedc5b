package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"

	"chpass/shared/config"
	"chpass/shared/ehpcapi"
	"chpass/shared/iamapi"
)

// resigner returns h behind a step that signs a signed request again, now, with
// the configured secret of the access key it names, as the vendor's SDK would:
// SDK-HMAC-SHA256 over the headers it signed before (the Huawei Cloud SDK's own
// signer), or signature v1 with a fresh Timestamp and SignatureNonce. A request
// signed with a key the configuration does not hold, or not signed, passes as it
// is. It says on w what it did; it never writes a secret or a signature.
func resigner(h http.Handler, cfg *config.Config, w io.Writer) http.Handler {
	secrets := make(map[string]string, len(cfg.AccessKeys))
	for _, k := range cfg.AccessKeys {
		secrets[k.ID] = k.Secret.Reveal()
	}
	hs256 := cfg.Tokens.HS256Secret.Reveal()
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		now := time.Now().UTC()
		if resignBearer(r, hs256, now) {
			fmt.Fprintf(w, "local: signed the sample's bearer token again at %s with the configured tokens.hs256_secret "+
				"(NOW=<its time> replays it as recorded)\n", now.Format(time.RFC3339))
			h.ServeHTTP(rw, r)
			return
		}
		ak, err := resign(r, secrets, now)
		switch {
		case err != nil:
			fmt.Fprintf(w, "local: the sample could not be signed again (%v); it goes as recorded\n", err)
		case ak != "":
			fmt.Fprintf(w, "local: signed the sample again at %s with the configured secret of access key %s "+
				"(NOW=<its time> replays it as recorded)\n", now.Format(time.RFC3339), ak)
		}
		h.ServeHTTP(rw, r)
	})
}

// resign signs r again at now, in place, and returns the access key it signed
// with, or "" when r is not signed by a key secrets holds.
func resign(r *http.Request, secrets map[string]string, now time.Time) (string, error) {
	if authz := r.Header.Get("Authorization"); strings.HasPrefix(authz, iamapi.SignAlgorithm+" ") {
		return resignAKSK(r, authz, secrets, now)
	}
	return resignRPC(r, secrets, now)
}

// resignAKSK signs r with the Huawei Cloud SDK's SDK-HMAC-SHA256 signer.
func resignAKSK(r *http.Request, authz string, secrets map[string]string, now time.Time) (string, error) {
	var ak string
	var signed []string
	for part := range strings.SplitSeq(strings.TrimPrefix(authz, iamapi.SignAlgorithm+" "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Access":
			ak = v
		case "SignedHeaders":
			signed = strings.Split(v, ";")
		}
	}
	secret, ok := secrets[ak]
	if !ok {
		return "", nil
	}
	body, err := readBody(r)
	if err != nil {
		return "", err
	}
	b := request.NewHttpRequestBuilder().WithEndpoint("https://" + r.Host).WithPath(r.URL.Path).WithMethod(r.Method)
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			b.AddQueryParam(k, v)
		}
	}
	for _, name := range signed {
		switch {
		case strings.EqualFold(name, iamapi.DateHeader):
		case strings.EqualFold(name, "host"):
			b.AddHeaderParam("Host", r.Host)
		default:
			b.AddHeaderParam(http.CanonicalHeaderKey(name), r.Header.Get(name))
		}
	}
	b.AddHeaderParam(iamapi.DateHeader, now.Format(iamapi.DateFormat))
	if len(body) > 0 {
		b.WithBody("json", string(body))
	}
	headers, err := signer.Sign(b.Build(), ak, secret)
	if err != nil {
		return "", fmt.Errorf("SDK-HMAC-SHA256: %w", err)
	}
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return ak, nil
}

// resignRPC signs r with E-HPC signature v1 when it carries one. The parameters
// go back where they were: in the form body of a form POST, else in the query.
func resignRPC(r *http.Request, secrets map[string]string, now time.Time) (string, error) {
	params := map[string]string{}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", nil
	}
	for k := range q {
		params[k] = q.Get(k)
	}
	body, err := readBody(r)
	if err != nil {
		return "", err
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	form := r.Method == http.MethodPost && mt == "application/x-www-form-urlencoded" && len(body) > 0
	if form {
		f, err := url.ParseQuery(string(body))
		if err != nil {
			return "", nil
		}
		for k := range f {
			params[k] = f.Get(k)
		}
	}
	secret, ok := secrets[params["AccessKeyId"]]
	if _, signed := params["Signature"]; !signed || !ok {
		return "", nil
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", err
	}
	params["Timestamp"] = now.Format("2006-01-02T15:04:05Z")
	params["SignatureNonce"] = hex.EncodeToString(nonce[:])
	params["Signature"] = ehpcapi.Sign(r.Method, params, secret)
	enc := url.Values{}
	for k, v := range params {
		enc.Set(k, v)
	}
	if form {
		r.URL.RawQuery = ""
		setBody(r, []byte(enc.Encode()))
	} else {
		r.URL.RawQuery = enc.Encode()
	}
	return params["AccessKeyId"], nil
}

// readBody reads r's body and puts it back for the handler.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	setBody(r, b)
	return b, nil
}

func setBody(r *http.Request, b []byte) {
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	if r.Header.Get("Content-Length") != "" {
		r.Header.Set("Content-Length", strconv.Itoa(len(b)))
	}
}

// resignBearer signs r's bearer JWT again at now with secret, its iat and
// auth_time now and exp an hour on, as the provider would for a person who has
// just signed in, and reports whether it did. Only a token that secret already
// signed (HS256) is signed again: any other passes as it is.
func resignBearer(r *http.Request, secret string, now time.Time) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	parts := strings.Split(tok, ".")
	if !ok || secret == "" || len(parts) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, hs256(secret, parts[0]+"."+parts[1])) {
		return false
	}
	var header struct {
		Alg string `json:"alg"`
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(raw, &header) != nil || header.Alg != "HS256" {
		return false
	}
	var claims map[string]any
	if raw, err = base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(raw, &claims) != nil {
		return false
	}
	claims["iat"], claims["exp"] = now.Unix(), now.Add(time.Hour).Unix()
	if _, ok := claims["auth_time"]; ok {
		claims["auth_time"] = now.Unix()
	}
	if raw, err = json.Marshal(claims); err != nil {
		return false
	}
	signing := parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw)
	r.Header.Set("Authorization", "Bearer "+signing+"."+base64.RawURLEncoding.EncodeToString(hs256(secret, signing)))
	return true
}

// hs256 is HMAC-SHA256 of s under secret, as JWS HS256 computes it.
func hs256(secret, s string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(s))
	return mac.Sum(nil)
}
