package templates

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// sdevsVar is the one Serverless Devs variable form s.yaml uses.
var sdevsVar = regexp.MustCompile(`\$\{vars\.([A-Za-z0-9_]+)\}`)

// renderSdevs substitutes ${vars.X} through s.yaml, as `s` does before it hands
// the props to the fc3 component, and fails on any other ${...} it would render.
func renderSdevs(tb testing.TB) *yaml.Node {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "s.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct {
		Vars map[string]yaml.Node `yaml:"vars"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		tb.Fatal(err)
	}
	out := sdevsVar.ReplaceAllStringFunc(string(raw), func(m string) string {
		name := sdevsVar.FindStringSubmatch(m)[1]
		v, ok := doc.Vars[name]
		if !ok {
			tb.Errorf("s.yaml: ${vars.%s} is not in vars", name)
			return m
		}
		if v.Kind == yaml.ScalarNode {
			return v.Value
		}
		b, _ := yaml.Marshal(&v)
		return strings.TrimSpace(strings.ReplaceAll(string(b), "\n", " "))
	})
	// Lines outside vars that still hold ${ would be rendered by s as expressions.
	for i, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "${") {
			tb.Errorf("s.yaml:%d: %q would be rendered by Serverless Devs", i+1, strings.TrimSpace(line))
		}
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(out), &n); err != nil {
		tb.Fatalf("s.yaml after ${vars}: %v", err)
	}
	return n.Content[0]
}

// TestServerlessDevs checks s.yaml against what the fc3 component requires and
// against the functions: one resource per function on go1, the handler the name
// of the executable in the zip `make package` writes, memory a multiple of 64
// from 128, a sane timeout and concurrency, the VPC and log settings, and HTTP
// triggers whose methods carry every Function Compute sample event.
func TestServerlessDevs(t *testing.T) {
	s := renderSdevs(t)
	if v := child(s, "edition"); v == nil || v.Value != "3.0.0" {
		t.Fatal("edition: want 3.0.0")
	}
	resources := child(s, "resources")
	var names []string
	for i := 0; i+1 < len(resources.Content); i += 2 {
		names = append(names, resources.Content[i].Value)
	}
	slices.Sort(names)
	if want := functions(t); !slices.Equal(names, want) {
		t.Fatalf("s.yaml deploys %v, functions/ holds %v", names, want)
	}
	methods := map[string][]string{}
	for _, ev := range events(t) {
		if ev.FC {
			methods[ev.Function] = append(methods[ev.Function], ev.Method)
		}
	}
	dist := os.Getenv("CHPASS_DIST")
	if dist == "" {
		dist = filepath.Join(root, "dist")
	}
	var roles []string
	defer func() {
		slices.Sort(roles)
		if len(slices.Compact(roles)) != len(names) {
			t.Errorf("roles %v: want one per function, each reading only its own secrets", roles)
		}
	}()
	for _, fn := range names {
		t.Run(fn, func(t *testing.T) {
			res := child(resources, fn)
			if v := child(res, "component"); v == nil || v.Value != "fc3" {
				t.Fatal("component: want fc3")
			}
			p := child(res, "props")
			str := func(k string) string {
				if v := child(p, k); v != nil {
					return v.Value
				}
				return ""
			}
			num := func(k string) int { n, _ := strconv.Atoi(str(k)); return n }
			if str("runtime") != "go1" {
				t.Errorf("runtime %q: want go1", str("runtime"))
			}
			if str("handler") != fn {
				t.Errorf("handler %q: want %s, the executable make package puts in the zip", str("handler"), fn)
			}
			if want := "./dist/fc/" + fn + ".zip"; str("code") != want {
				t.Errorf("code %q: want %s", str("code"), want)
			}
			if m := num("memorySize"); m < 128 || m > 32768 || m%64 != 0 {
				t.Errorf("memorySize %d: want a multiple of 64 from 128", m)
			}
			if n := num("timeout"); n < 1 || n > 600 {
				t.Errorf("timeout %d: want 1-600 s for an HTTP function", n)
			}
			if n := num("instanceConcurrency"); n < 1 || n > 200 {
				t.Errorf("instanceConcurrency %d: want 1-200", n)
			}
			if str("region") == "" || str("functionName") == "" || str("role") == "" {
				t.Error("region, functionName and role are required")
			}
			roles = append(roles, str("role"))
			if rc := path(p, "concurrencyConfig", "reservedConcurrency"); rc == nil || atoi(rc.Value) < 1 {
				t.Error("concurrencyConfig.reservedConcurrency: want a ceiling on instances")
			}
			vpc := child(p, "vpcConfig")
			if path(vpc, "vpcId") == nil || path(vpc, "securityGroupId") == nil || path(vpc, "vSwitchIds") == nil || len(path(vpc, "vSwitchIds").Content) == 0 {
				t.Error("vpcConfig: want vpcId, securityGroupId and vSwitchIds")
			}
			logs := child(p, "logConfig")
			if logs == nil || logs.Value != "auto" && (child(logs, "project") == nil || child(logs, "logstore") == nil) {
				t.Error("logConfig: want project and logstore (or auto)")
			}
			var allowed []string
			trs := child(p, "triggers")
			if trs == nil || len(trs.Content) == 0 {
				t.Fatal("no triggers")
			}
			if fn == "rotate-password" {
				checkTimer(t, trs)
				return
			}
			for _, tr := range trs.Content {
				if child(tr, "triggerType").Value != "http" {
					t.Errorf("trigger %s: want http", child(tr, "triggerName").Value)
					continue
				}
				cfg := child(tr, "triggerConfig")
				if a := child(cfg, "authType"); a == nil || !slices.Contains([]string{"anonymous", "function", "jwt"}, a.Value) {
					t.Error("triggerConfig.authType: want anonymous, function or jwt")
				}
				for _, m := range child(cfg, "methods").Content {
					if !slices.Contains([]string{"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"}, m.Value) {
						t.Errorf("method %s", m.Value)
					}
					allowed = append(allowed, m.Value)
				}
			}
			for _, m := range methods[fn] {
				if !slices.Contains(allowed, m) {
					t.Errorf("a %s sample event of events/%s finds no trigger method (%v)", m, fn, allowed)
				}
			}
			if len(methods[fn]) == 0 {
				t.Errorf("no Function Compute sample event in events/%s", fn)
			}

			zipPath := filepath.Join(dist, "fc", fn+".zip")
			zr, err := zip.OpenReader(zipPath)
			switch {
			case errors.Is(err, fs.ErrNotExist) && os.Getenv("CHPASS_DIST") == "" && os.Getenv("CI") != "true":
				t.Logf("*** %s is not built: run make package to check the handler is in it ***", zipPath)
				return
			case err != nil:
				t.Fatal(err)
			}
			defer zr.Close()
			if len(zr.File) != 1 || zr.File[0].Name != str("handler") || zr.File[0].Mode()&0o111 == 0 {
				t.Fatalf("%s: want exactly the executable %s", zipPath, str("handler"))
			}
		})
	}
}

// atoi is strconv.Atoi, 0 on error.
func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// TestServerlessDevsConfiguration loads each function's CHPASS_CONFIG_YAML of
// s.yaml as the function would: valid, with every secret a KMS secret name the
// function reads at start, never a value.
func TestServerlessDevsConfiguration(t *testing.T) {
	s := renderSdevs(t)
	raw, err := os.ReadFile(filepath.Join(root, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Vars map[string]any `yaml:"vars"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	resources := child(s, "resources")
	for i := 0; i+1 < len(resources.Content); i += 2 {
		fn, props := resources.Content[i].Value, child(resources.Content[i+1], "props")
		t.Run(fn, func(t *testing.T) {
			env := child(props, "environmentVariables")
			for j := 0; j+1 < len(env.Content); j += 2 {
				if k := env.Content[j].Value; k != "CHPASS_CONFIG_YAML" && k != "CHPASS_KMS_ENDPOINT" {
					t.Errorf("environment variable %s: only the configuration and the KMS endpoint belong there", k)
				}
			}
			yml := child(env, "CHPASS_CONFIG_YAML")
			if yml == nil {
				t.Fatal("no CHPASS_CONFIG_YAML")
			}
			self, admin := "kms:"+doc.Vars["selfServiceKeysSecret"].(string), "kms:"+doc.Vars["adminKeysSecret"].(string)
			r := &recorder{prefix: "kms:", values: func(ref string) string {
				switch ref {
				case self:
					return selfServiceKeys
				case admin:
					return adminKeys
				case "kms:" + doc.Vars["tasksKeySecret"].(string):
					return samTasksKey
				}
				return "secret-of-" + ref
			}}
			cfg := parseConfig(t, yml.Value, r)
			// Each function reads only its own kind of access keys.
			// The bind secret is JSON (Rotation in the README): read through #password.
			bind := "kms:" + doc.Vars["directoryPasswordSecret"].(string) + "#password"
			redisAuth, tasksKey := "kms:"+doc.Vars["redisAuthSecret"].(string), "kms:"+doc.Vars["tasksKeySecret"].(string)
			want := []string{bind, admin, redisAuth, tasksKey}
			if fn == "rotate-password" {
				want = want[:1]
			}
			if fn == "caller-password" {
				want = []string{bind, self, "kms:" + doc.Vars["tokenSecret"].(string)}
			}
			slices.Sort(want)
			if got := r.sorted(); !slices.Equal(got, want) {
				t.Fatalf("resolved %v, want %v", got, want)
			}
			if d := cfg.Directories["corp"]; d.LDAP == nil || d.LDAP.URL != doc.Vars["directoryUrl"] {
				t.Fatalf("directory corp: %+v", d.LDAP)
			}
			if fn == "rotate-password" {
				if len(cfg.AccessKeys) != 0 || cfg.Rotation.Backend != "kms" {
					t.Fatalf("rotate-password: access keys %d, rotation %+v", len(cfg.AccessKeys), cfg.Rotation)
				}
				return
			}
			if len(cfg.AccessKeys) != 1 {
				t.Fatalf("access keys: %d", len(cfg.AccessKeys))
			}
			// modify-user-passwords shares Redis (Async batches on FC) with its AUTH password and
			// tasks.key from KMS; caller-password keeps its own state.
			if fn == "modify-user-passwords" {
				if cfg.Redis.Address != doc.Vars["redisAddress"] || cfg.Redis.Password.Reveal() != "secret-of-"+redisAuth ||
					cfg.Redis.KeyPrefix != doc.Vars["redisKeyPrefix"] || cfg.Tasks.Key.Reveal() != samTasksKey {
					t.Fatalf("redis %q prefix %q; AUTH or tasks.key not from their KMS secrets", cfg.Redis.Address, cfg.Redis.KeyPrefix)
				}
			}
		})
	}
}

// checkTimer checks rotate-password's one trigger: a timer with a six-field cron expression
// and a payload naming the secrets to rotate.
func checkTimer(t *testing.T, trs *yaml.Node) {
	t.Helper()
	if len(trs.Content) != 1 || child(trs.Content[0], "triggerType").Value != "timer" {
		t.Fatal("rotate-password: want one timer trigger")
	}
	cfg := child(trs.Content[0], "triggerConfig")
	cron := strings.TrimPrefix(child(cfg, "cronExpression").Value, "CRON_TZ=UTC ")
	if len(strings.Fields(cron)) != 6 {
		t.Errorf("cronExpression %q: want six fields, seconds first", cron)
	}
	var payload struct{ Secrets []string }
	if err := json.Unmarshal([]byte(child(cfg, "payload").Value), &payload); err != nil || len(payload.Secrets) == 0 {
		t.Errorf("payload %q: want {\"secrets\": [...]}: %v", child(cfg, "payload").Value, err)
	}
}

// TestServerlessDevsAsyncInvoke: on FC, modify-user-passwords' asynchronous invocations (Async
// batches) are retried maxAsyncRetryAttempts times within maxAsyncEventAgeInSeconds, then delivered
// to the function itself as the on-failure destination; its role's RAM policy lets it invoke
// itself; no other function has an async configuration.
func TestServerlessDevsAsyncInvoke(t *testing.T) {
	s := renderSdevs(t)
	resources := child(s, "resources")
	for i := 0; i+1 < len(resources.Content); i += 2 {
		fn, props := resources.Content[i].Value, child(resources.Content[i+1], "props")
		aic := child(props, "asyncInvokeConfig")
		if fn != "modify-user-passwords" {
			if aic != nil {
				t.Errorf("%s has an asyncInvokeConfig; only modify-user-passwords invokes itself", fn)
			}
			continue
		}
		if aic == nil {
			t.Fatal("modify-user-passwords has no asyncInvokeConfig")
		}
		if n := atoi(child(aic, "maxAsyncRetryAttempts").Value); n < 0 || n > 8 {
			t.Errorf("maxAsyncRetryAttempts %d: want 0-8", n)
		}
		if n := atoi(child(aic, "maxAsyncEventAgeInSeconds").Value); n < 1 || n > 86400 {
			t.Errorf("maxAsyncEventAgeInSeconds %d: want 1-86400", n)
		}
		d := path(aic, "destinationConfig", "onFailure", "destination")
		want := regexp.MustCompile(`^acs:fc:` + regexp.QuoteMeta(child(props, "region").Value) + `:[0-9]+:functions/` +
			regexp.QuoteMeta(child(props, "functionName").Value) + `$`)
		if d == nil || !want.MatchString(d.Value) {
			t.Errorf("on-failure destination %v: want the function itself", d)
		}
		if path(aic, "destinationConfig", "onSuccess") != nil {
			t.Error("an on-success destination: every finished task would be delivered again")
		}
	}
	raw, err := os.ReadFile(filepath.Join(root, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"Action": \["fc:InvokeFunction"\],\s*#\s*"Resource": \["acs:fc:[a-z0-9-]+:[0-9]+:functions/chpass-modify-user-passwords"\]`).Match(raw) {
		t.Error("s.yaml's RAM policy comment does not give modify-user-passwords fc:InvokeFunction on itself")
	}
}
