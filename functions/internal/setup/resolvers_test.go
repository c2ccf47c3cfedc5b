//go:build !noaws && !noalibaba

package setup

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"chpass/shared/config"
	"chpass/shared/kms/kmstest"
	smtest "chpass/shared/secretsmanager/secretsmanagertest"
)

// TestResolversLoadCloudSecrets parses configurations whose secrets live in AWS
// Secrets Manager and Alibaba Cloud KMS, through the resolvers Main uses and the
// vendor SDKs, against fake services that check the signatures.
func TestResolversLoadCloudSecrets(t *testing.T) {
	const (
		canary  = "CANARY-s3cr3t-setup-"
		secARN  = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:chpass/app-Xy12Zw"
		kmsName = "chpass/access-keys"
	)
	taskKey := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	aws := smtest.NewServer(t, smtest.Options{
		Region: "eu-central-1", AccessKeyID: "AKIASETUPEXAMPLE", SecretAccessKey: "setup-aws-secret-key",
		SessionToken: "setup-aws-session-token",
		Secrets: map[string]smtest.Secret{
			secARN: smtest.String(`{"hs256":"` + canary + `jwt-0123456789-0123456789","tasks_key":"` + taskKey + `"}`),
		},
	})
	ali := kmstest.NewServer(t, kmstest.Options{
		AccessKeyID: "LTAIsetupEXAMPLE", AccessKeySecret: "setup-ali-secret", SecurityToken: "setup-sts-token",
		Secrets: map[string]kmstest.Secret{
			kmsName: {Data: `{"self":"` + canary + `self-0123","admin":"` + canary + `admin-4567"}`},
		},
	})
	cloudYAML := `
access_keys:
  - {id: HWAKSETUPSELF, secret: "${kms:` + kmsName + `#self}", user: alice}
  - {id: LTAIsetupADMIN, secret: "${kms:` + kmsName + `#admin}", actions: ["*"], clusters: ["*"]}
tokens: {hs256_secret: "${` + secARN + `#hs256}"}
tasks: {key: "${` + secARN + `#tasks_key}"}
`
	envYAML := `
access_keys:
  - {id: HWAKSETUPSELF, secret: "${CHPASS_TEST_SELF_SECRET}", user: alice}
tokens: {hs256_secret: literal-jwt-secret-0123456789}
`
	cloudEnv := map[string]string{"AWS_REGION": "us-east-1", "FC_REGION": "cn-hangzhou"}
	for k, v := range aws.Env() {
		cloudEnv[k] = v
	}
	for k, v := range ali.Env() {
		cloudEnv[k] = v
	}
	tests := []struct {
		name   string
		yaml   string
		env    map[string]string // laid over cloudEnv, or over an empty cloud environment when noEnv
		noEnv  bool              // start from an environment with no cloud settings
		errKey string            // the config key the error must name; empty means success
		errHas string
	}{
		{name: "ResolvesBothClouds", yaml: cloudYAML},
		{name: "LocalNeedsNoCloudCredentials", yaml: envYAML, noEnv: true, env: map[string]string{"CHPASS_TEST_SELF_SECRET": "self-from-env"}},
		{name: "ErrAWSUnreachable", yaml: cloudYAML, env: map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:1"},
			errKey: "tokens.hs256_secret", errHas: "connection refused"},
		{name: "ErrKMSUnreachable", yaml: cloudYAML, env: map[string]string{"CHPASS_KMS_ENDPOINT": "http://127.0.0.1:1"},
			errKey: "access_keys[0].secret", errHas: "connection refused"},
		{name: "ErrNoAWSCredentials", yaml: cloudYAML, env: map[string]string{"AWS_ACCESS_KEY_ID": ""},
			errKey: "tokens.hs256_secret", errHas: "no AWS credentials"},
		{name: "ErrNoAlibabaCredentials", yaml: cloudYAML, env: map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": ""},
			errKey: "access_keys[0].secret", errHas: "no Alibaba Cloud credentials"},
		{name: "ErrWrongSTSToken", yaml: cloudYAML, env: map[string]string{"ALIBABA_CLOUD_SECURITY_TOKEN": "other"},
			errKey: "access_keys[0].secret", errHas: "InvalidSecurityToken.MismatchWithAccessKey"},
		{name: "ErrMissingJSONKey", yaml: strings.Replace(cloudYAML, "#admin}", "#nope}", 1),
			errKey: "access_keys[1].secret", errHas: `JSON key "nope"`},
		{name: "ErrNoSuchSecret", yaml: strings.Replace(cloudYAML, "#hs256}", "-other#hs256}", 1),
			errKey: "tokens.hs256_secret", errHas: "ResourceNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
				"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
				"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
				"FC_REGION", "ALIBABA_CLOUD_REGION_ID", "CHPASS_KMS_ENDPOINT"} {
				v := cloudEnv[k]
				if tt.noEnv {
					v = ""
				}
				t.Setenv(k, v)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			beforeAWS, beforeKMS := aws.Requests(secARN), ali.Requests(kmsName)
			ctx := context.Background()
			cfg, err := config.Parse(ctx, strings.NewReader(tt.yaml), Resolvers(ctx)...)
			if tt.errKey != "" {
				if err == nil {
					t.Fatal("Parse succeeded, want an error")
				}
				t.Log(err)
				if !strings.HasPrefix(err.Error(), tt.errKey+": ") || !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("error %q: want one about %s holding %q", err, tt.errKey, tt.errHas)
				}
				if strings.Contains(err.Error(), canary) {
					t.Errorf("the error holds a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"access_keys[0].secret": "self-from-env", "tokens.hs256_secret": "literal-jwt-secret-0123456789"}
			if !tt.noEnv {
				want = map[string]string{
					"access_keys[0].secret": canary + "self-0123",
					"access_keys[1].secret": canary + "admin-4567",
					"tokens.hs256_secret":   canary + "jwt-0123456789-0123456789",
					"tasks.key":             taskKey,
				}
				// Two keys of each secret, one request for each.
				if n := aws.Requests(secARN) - beforeAWS; n != 1 {
					t.Errorf("%d Secrets Manager requests, want 1", n)
				}
				if n := ali.Requests(kmsName) - beforeKMS; n != 1 {
					t.Errorf("%d KMS requests, want 1", n)
				}
			}
			got := map[string]string{"access_keys[0].secret": cfg.AccessKeys[0].Secret.Reveal(), "tokens.hs256_secret": cfg.Tokens.HS256Secret.Reveal()}
			if len(cfg.AccessKeys) > 1 {
				got["access_keys[1].secret"] = cfg.AccessKeys[1].Secret.Reveal()
			}
			if !cfg.Tasks.Key.IsZero() {
				got["tasks.key"] = cfg.Tasks.Key.Reveal()
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if len(got) != len(want) {
				t.Errorf("resolved %v, want %v", got, want)
			}
		})
	}
}
