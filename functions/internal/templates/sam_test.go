package templates

import (
	"debug/elf"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"chpass/shared/config"
)

// samParams are the parameters the tests deploy template.yaml with.
var samParams = map[string]string{
	"DirectoryUrl":                  "ldaps://ldap.corp.internal:636",
	"DirectoryStartTls":             "false",
	"DirectoryBindDn":               "cn=chpass,ou=services,dc=example,dc=org",
	"DirectoryUserDnTemplate":       "uid=%s,ou=people,dc=example,dc=org",
	"DirectoryPasswordSecretArn":    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chpass/directory-AbCdEf",
	"SelfServiceKeysSecretArn":      "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chpass/self-service-keys-GhIjKl",
	"AdminKeysSecretArn":            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chpass/admin-keys-StUvWx",
	"TokenSecretArn":                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chpass/token-MnOpQr",
	"TokenIssuer":                   "https://idp.example.org",
	"AllowedOrigins":                "https://portal.example.org",
	"EventBusArn":                   "arn:aws:events:eu-west-1:123456789012:event-bus/chpass",
	"PageClientId":                  "chpass-page",
	"SecretsKmsKeyArn":              "",
	"ClusterId":                     "ehpc-hz-0123456789",
	"LogRetentionInDays":            "90",
	"ThrottlingRateLimit":           "50",
	"RotatedSecretArns":             "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chpass/app-db-YzAbCd",
	"RotationSchedule":              "rate(30 days)",
	"AlarmTopicArn":                 "",
	"ThrottlingBurstLimit":          "100",
	"VpcEndpointsVpcId":             "",
	"RedisAddress":                  "rediss://master.chpass.abc123.euw1.cache.amazonaws.com:6379",
	"RedisAuthSecretArn":            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chpass/redis-auth-EfGhIj",
	"RedisKeyPrefix":                "chpass-prod:",
	"TasksKeySecretArn":             "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chpass/tasks-key-KlMnOp",
	"AsyncMaximumRetryAttempts":     "2",
	"AsyncMaximumEventAgeInSeconds": "3600",
}

// samTasksKey is the tasks.key the tests' TasksKeySecretArn holds.
var samTasksKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// samFunction is one AWS::Serverless::Function of template.yaml.
type samFunction struct {
	LogicalID, Dir string
	Node           *yaml.Node // Properties
	Metadata       *yaml.Node
}

// samFunctions returns the template's functions, each with the functions/
// directory its logical id names (CallerPasswordFunction: caller-password).
func samFunctions(tb testing.TB, tmpl *yaml.Node) []samFunction {
	tb.Helper()
	res := child(tmpl, "Resources")
	var fns []samFunction
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, res.Content[i+1]
		if child(r, "Type").Value != "AWS::Serverless::Function" {
			continue
		}
		dir := strings.ToLower(regexp.MustCompile(`([a-z0-9])([A-Z])`).ReplaceAllString(strings.TrimSuffix(id, "Function"), "$1-$2"))
		fns = append(fns, samFunction{LogicalID: id, Dir: dir, Node: child(r, "Properties"), Metadata: child(r, "Metadata")})
	}
	return fns
}

// prop returns a function property, or the Globals one.
func prop(tmpl *yaml.Node, fn samFunction, key string) *yaml.Node {
	if n := child(fn.Node, key); n != nil {
		return n
	}
	return path(tmpl, "Globals", "Function", key)
}

// TestSAMFunctions checks every function of template.yaml against what exists:
// one per function directory, provided.al2023 on arm64 with Handler bootstrap,
// built by `make build-<LogicalId>` into $(ARTIFACTS_DIR)/bootstrap, with a log
// group that expires its logs and sensible memory and timeout.
func TestSAMFunctions(t *testing.T) {
	tmpl := readYAML(t, "template.yaml")
	fns := samFunctions(t, tmpl)
	var dirs []string
	for _, fn := range fns {
		dirs = append(dirs, fn.Dir)
	}
	slices.Sort(dirs)
	if want := functions(t); !slices.Equal(dirs, want) {
		t.Fatalf("template.yaml deploys %v, functions/ holds %v", dirs, want)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		t.Run(fn.LogicalID, func(t *testing.T) {
			for key, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap", "CodeUri": "."} {
				if n := prop(tmpl, fn, key); n == nil || n.Value != want {
					t.Errorf("%s: want %s", key, want)
				}
			}
			if n := prop(tmpl, fn, "Architectures"); n == nil || len(n.Content) != 1 || n.Content[0].Value != "arm64" {
				t.Error("Architectures: want [arm64]")
			}
			if n := child(fn.Metadata, "BuildMethod"); n == nil || n.Value != "makefile" {
				t.Error("Metadata.BuildMethod: want makefile")
			}
			target := regexp.MustCompile(`(?m)^build-` + fn.LogicalID + `:\n\t.*-o \$\(ARTIFACTS_DIR\)/bootstrap \./functions/` + fn.Dir + `\n`)
			if !target.Match(makefile) {
				t.Errorf("the Makefile has no target build-%s building ./functions/%s into $(ARTIFACTS_DIR)/bootstrap", fn.LogicalID, fn.Dir)
			}
			if n := prop(tmpl, fn, "VpcConfig"); child(n, "SubnetIds") == nil || child(n, "SecurityGroupIds") == nil {
				t.Error("VpcConfig: want SubnetIds and SecurityGroupIds")
			}
			c := &cfn{params: samParams}
			mem, _ := strconv.Atoi(fmt.Sprint(c.eval(t, prop(tmpl, fn, "MemorySize"))))
			timeout, _ := strconv.Atoi(fmt.Sprint(c.eval(t, prop(tmpl, fn, "Timeout"))))
			if mem < 128 || mem > 10240 || timeout < 1 || timeout > 29 {
				t.Errorf("MemorySize %d, Timeout %d: want 128-10240 MB, and 1-29 s to answer before API Gateway's 30 s", mem, timeout)
			}
			lg := path(fn.Node, "LoggingConfig", "LogGroup")
			if lg == nil || lg.Tag != "!Ref" || path(tmpl, "Resources", lg.Value, "Properties", "RetentionInDays") == nil {
				t.Error("LoggingConfig.LogGroup: want a !Ref to a log group with RetentionInDays")
			}
		})
	}
}

// TestSAMBuildTargets runs what `sam build` runs for each function, make
// build-<LogicalId> with ARTIFACTS_DIR, and checks that it leaves an arm64 Linux
// executable named bootstrap there.
func TestSAMBuildTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the functions")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	for _, fn := range samFunctions(t, readYAML(t, "template.yaml")) {
		t.Run(fn.LogicalID, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command("make", "-s", "build-"+fn.LogicalID, "ARTIFACTS_DIR="+dir)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make build-%s: %v\n%s", fn.LogicalID, err, out)
			}
			bin := filepath.Join(dir, "bootstrap")
			st, err := os.Stat(bin)
			if err != nil || st.Mode()&0o111 == 0 {
				t.Fatalf("bootstrap: %v, mode %v", err, st)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != elf.EM_AARCH64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
				t.Fatalf("bootstrap is %v/%v, want linux arm64", f.Machine, f.OSABI)
			}
		})
	}
}

// TestSAMRoutes checks that the HTTP API routes every Lambda sample event of
// events/ to its function, and that every route of the template has a sample.
func TestSAMRoutes(t *testing.T) {
	tmpl := readYAML(t, "template.yaml")
	routes := map[string]string{} // "METHOD /path" -> function
	for _, fn := range samFunctions(t, tmpl) {
		evs := child(fn.Node, "Events")
		if evs == nil {
			continue // rotate-password: Secrets Manager invokes it (see TestSAMRotation)
		}
		for i := 0; i+1 < len(evs.Content); i += 2 {
			ev := evs.Content[i+1]
			if child(ev, "Type").Value != "HttpApi" {
				t.Errorf("%s.%s: want an HttpApi event", fn.LogicalID, evs.Content[i].Value)
				continue
			}
			p := child(ev, "Properties")
			routes[child(p, "Method").Value+" "+child(p, "Path").Value] = fn.Dir
		}
	}
	used := map[string]bool{}
	for _, ev := range events(t) {
		// A Function URL reaches its function without any route (and
		// template.yaml declares none).
		if ev.FC || strings.Contains(ev.File, "function-url") {
			continue
		}
		t.Run(ev.Function+"/"+ev.File, func(t *testing.T) {
			route := httpAPIRoute(routes, ev.Method, ev.Path)
			if got := routes[route]; got != ev.Function {
				t.Fatalf("%s %s reaches %q (route %q), want %s", ev.Method, ev.Path, got, route, ev.Function)
			}
			// A payload 2.0 sample that names the route it took must name that one.
			if ev.RouteKey != "" && ev.RouteKey != "$default" && ev.RouteKey != route {
				t.Fatalf("routeKey %q, but the template routes %s %s to %q", ev.RouteKey, ev.Method, ev.Path, route)
			}
			used[route] = true
		})
	}
	for route := range routes {
		if !used[route] {
			t.Errorf("route %s has no sample event in events/", route)
		}
	}
	for _, out := range []string{"ApiEndpoint", "CallerPasswordUrl", "PasswordPolicyUrl"} {
		if path(tmpl, "Outputs", out, "Value") == nil {
			t.Errorf("Outputs.%s is missing", out)
		}
	}
}

// httpAPIRoute is the route key of routes an HTTP API chooses for method and
// path: the exact path first, then the longest greedy {proxy+} route whose
// prefix is followed by at least one more character. "" when none matches.
func httpAPIRoute(routes map[string]string, method, p string) string {
	if k := method + " " + p; routes[k] != "" {
		return k
	}
	best := ""
	for k := range routes {
		m, rp, _ := strings.Cut(k, " ")
		prefix, ok := strings.CutSuffix(rp, "{proxy+}")
		if m != method || !ok || !strings.HasPrefix(p, prefix) || len(p) == len(prefix) {
			continue
		}
		if len(k) > len(best) {
			best = k
		}
	}
	return best
}

// TestSAMConfiguration deploys template.yaml's configuration with sample
// parameters, as CloudFormation would, and loads it as the function would: it
// is valid, each of its secrets is a Secrets Manager ARN the function resolves
// at start (never a value in the environment), and the function's role may read
// exactly those secrets.
func TestSAMConfiguration(t *testing.T) {
	tmpl := readYAML(t, "template.yaml")
	conds := map[string]*yaml.Node{}
	cn := child(tmpl, "Conditions")
	for i := 0; i+1 < len(cn.Content); i += 2 {
		conds[cn.Content[i].Value] = cn.Content[i+1]
	}
	withoutToken := map[string]string{}
	for k, v := range samParams {
		withoutToken[k] = v
	}
	withoutToken["TokenSecretArn"] = ""
	withoutToken["EventBusArn"] = ""
	withoutToken["PageClientId"] = ""
	withoutToken["RedisAddress"] = "" // and without Redis: one state per instance, as before
	for _, params := range []map[string]string{samParams, withoutToken} {
		for _, fn := range samFunctions(t, tmpl) {
			name := fn.LogicalID
			if params["TokenSecretArn"] == "" {
				name += "/WithoutTokenSecret"
			}
			t.Run(name, func(t *testing.T) {
				c := &cfn{params: params, conditions: conds}
				env := path(fn.Node, "Environment", "Variables")
				for i := 0; i+1 < len(env.Content); i += 2 {
					if k := env.Content[i].Value; k != "CHPASS_CONFIG_YAML" {
						t.Errorf("environment variable %s: the configuration is the only one", k)
					}
				}
				yml, _ := c.eval(t, child(env, "CHPASS_CONFIG_YAML")).(string)
				r := &recorder{prefix: "arn:aws:secretsmanager:", values: func(ref string) string {
					switch ref {
					case params["SelfServiceKeysSecretArn"]:
						return selfServiceKeys
					case params["AdminKeysSecretArn"]:
						return adminKeys
					case params["TasksKeySecretArn"]:
						return samTasksKey
					}
					return "secret-of-" + ref
				}}
				cfg := parseConfig(t, yml, r)

				var want []string
				for _, p := range []string{"DirectoryPasswordSecretArn", "SelfServiceKeysSecretArn", "AdminKeysSecretArn", "TokenSecretArn",
					"RedisAuthSecretArn", "TasksKeySecretArn"} {
					if strings.Contains(yml, "${"+params[p]+"}") && params[p] != "" {
						want = append(want, params[p])
					}
				}
				// The bind secret is JSON (Rotation in the README): read through #password.
				bindRef := params["DirectoryPasswordSecretArn"] + "#password"
				if !strings.Contains(yml, "${"+bindRef+"}") {
					t.Fatalf("the configuration does not read the bind secret as ${%s}", bindRef)
				}
				want = append(want, bindRef)
				slices.Sort(want)
				slices.Sort(want)
				if got := r.sorted(); !slices.Equal(got, want) || len(got) < 2 && fn.Dir != "rotate-password" {
					t.Fatalf("resolved %v, want the ARNs %v", got, want)
				}
				if d := cfg.Directories["corp"]; d.LDAP == nil || d.LDAP.URL != params["DirectoryUrl"] || d.LDAP.BindPassword != "secret-of-"+bindRef || d.BindPasswordRef != bindRef {
					t.Fatalf("directory corp: %+v", d.LDAP)
				}
				if fn.Dir == "rotate-password" {
					if len(cfg.AccessKeys) != 0 || cfg.Rotation.Backend != "secretsmanager" {
						t.Fatalf("rotate-password: access keys %d, rotation %+v", len(cfg.AccessKeys), cfg.Rotation)
					}
					return // its role: TestSAMRotation
				}
				if len(cfg.AccessKeys) == 0 {
					t.Fatal("no access keys")
				}
				// Each function reads only its own kind of keys: the portal's function
				// never holds an administrator's key, nor the reverse.
				self, admin := strings.Contains(yml, params["SelfServiceKeysSecretArn"]), strings.Contains(yml, params["AdminKeysSecretArn"])
				if self == admin || self != (fn.Dir == "caller-password") {
					t.Fatalf("%s reads self-service keys %v, admin keys %v", fn.Dir, self, admin)
				}
				switch fn.Dir {
				case "caller-password":
					// An issuer without a token secret is an OpenID Connect provider to discover.
					if cfg.SelfService.Directory != "corp" || cfg.Tokens.Enabled() != (params["TokenSecretArn"] != "" || params["TokenIssuer"] != "") ||
						cfg.Tokens.Discovery() != (params["TokenSecretArn"] == "" && params["TokenIssuer"] != "") {
						t.Fatalf("self_service %+v, tokens enabled %v, discovery %v", cfg.SelfService, cfg.Tokens.Enabled(), cfg.Tokens.Discovery())
					}
					// The page is on exactly when PageClientId is given, at the path
					// PortalApi routes to this function (TestSAMRoutes).
					wantPage := config.Page{}
					if params["PageClientId"] != "" {
						wantPage = config.Page{Path: "/portal/", ClientID: params["PageClientId"]}
					}
					if !reflect.DeepEqual(cfg.Page, wantPage) {
						t.Fatalf("page %+v, want %+v", cfg.Page, wantPage)
					}
				case "modify-user-passwords":
					if cl, ok := cfg.Clusters[params["ClusterId"]]; !ok || cl.Directory != "corp" {
						t.Fatalf("clusters: %+v", cfg.Clusters)
					}
					// With RedisAddress: Redis with its AUTH token and tasks.key from Secrets
					// Manager (Async on Lambda); without, no shared state at all.
					if params["RedisAddress"] != "" {
						rd := cfg.Redis
						if rd.Address != params["RedisAddress"] || rd.Password.Reveal() != "secret-of-"+params["RedisAuthSecretArn"] ||
							rd.KeyPrefix != params["RedisKeyPrefix"] || cfg.Tasks.Key.Reveal() != samTasksKey {
							t.Fatalf("redis %q prefix %q, AUTH from the secret %v, tasks.key from the secret %v", rd.Address, rd.KeyPrefix,
								rd.Password.Reveal() == "secret-of-"+params["RedisAuthSecretArn"], cfg.Tasks.Key.Reveal() == samTasksKey)
						}
					} else if (cfg.Redis != config.Redis{}) || !cfg.Tasks.Key.IsZero() {
						t.Fatalf("without RedisAddress: redis %q, tasks.key set %v", cfg.Redis.Address, !cfg.Tasks.Key.IsZero())
					}
				default:
					if (cfg.Redis != config.Redis{}) || !cfg.Tasks.Key.IsZero() {
						t.Fatalf("%s has Redis or tasks.key: only modify-user-passwords runs Async batches", fn.Dir)
					}
				}

				// The role reads exactly the secrets the configuration names.
				role := child(fn.Node, "Role")
				if role == nil || role.Tag != "!GetAtt" {
					t.Fatal("Role: want !GetAtt of the function's own role")
				}
				roleID := strings.TrimSuffix(role.Value, ".Arn")
				var readable []string
				pols := path(tmpl, "Resources", roleID, "Properties", "Policies")
				var putEvents []string
				for _, pol := range pols.Content {
					pm, ok := c.eval(t, pol).(map[string]any) // a policy may be an !If
					if !ok {
						continue
					}
					doc, _ := pm["PolicyDocument"].(map[string]any)
					sts, _ := doc["Statement"].([]any)
					for _, v := range sts {
						m, ok := v.(map[string]any)
						if !ok {
							continue
						}
						if m["Effect"] != "Allow" {
							continue
						}
						if fmtList(m["Action"]) == "events:PutEvents" {
							putEvents = append(putEvents, strings.Fields(fmtList(m["Resource"]))...)
						}
						if fmtList(m["Action"]) == "secretsmanager:GetSecretValue" {
							readable = append(readable, strings.Fields(fmtList(m["Resource"]))...)
						}
						if fmtList(m["Resource"]) == "*" && !strings.HasPrefix(fmtList(m["Action"]), "ec2:") {
							t.Errorf("%s allows %s on every resource", roleID, m["Action"])
						}
					}
				}
				slices.Sort(readable)
				var wantARNs []string
				for _, w := range want {
					wantARNs = append(wantARNs, strings.TrimSuffix(w, "#password"))
				}
				slices.Sort(wantARNs)
				if !slices.Equal(readable, wantARNs) {
					t.Fatalf("%s may read %v, the configuration reads %v", roleID, readable, want)
				}
				// Events: PutEvents on the configured bus only, and only when one is configured.
				var bus []string
				if eb := cfg.Events.EventBridge; eb != nil {
					bus = []string{eb.Bus}
				}
				if !slices.Equal(putEvents, bus) || (params["EventBusArn"] != "" && !slices.Equal(bus, []string{params["EventBusArn"]})) {
					t.Fatalf("%s may put events on %v; the configuration publishes to %v", roleID, putEvents, bus)
				}
			})
		}
	}
}

// fmtList renders a string or a list of strings as space-separated words.
func fmtList(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var s []string
		for _, e := range v {
			s = append(s, fmtList(e))
		}
		return strings.Join(s, " ")
	}
	return ""
}

// TestSAMParameters checks the parameters' constraints as CloudFormation would
// apply them: the sample deployment passes, and the values an operator gets
// wrong are refused before anything is created.
func TestSAMParameters(t *testing.T) {
	params := child(readYAML(t, "template.yaml"), "Parameters")
	allowed := func(name, value string) bool {
		p := child(params, name)
		if p == nil {
			t.Fatalf("no parameter %s", name)
		}
		if pat := child(p, "AllowedPattern"); pat != nil && !regexp.MustCompile(pat.Value).MatchString(value) {
			return false
		}
		if vals := child(p, "AllowedValues"); vals != nil {
			ok := false
			for _, v := range vals.Content {
				ok = ok || v.Value == value
			}
			return ok
		}
		return true
	}
	for i := 0; i+1 < len(params.Content); i += 2 {
		name := params.Content[i].Value
		v, ok := samParams[name]
		if !ok {
			if name != "SubnetIds" && name != "SecurityGroupIds" {
				t.Errorf("parameter %s has no sample value", name)
			}
			continue
		}
		if !allowed(name, v) {
			t.Errorf("%s=%q: the sample deployment is refused", name, v)
		}
	}
	refused := []struct{ name, value string }{
		{"DirectoryPasswordSecretArn", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chpass/directory"},
		{"SelfServiceKeysSecretArn", "chpass/self-service-keys"},
		{"AdminKeysSecretArn", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chpass/admin-keys-StUvWx\n"},
		{"TokenSecretArn", "arn:aws:ssm:eu-west-1:123456789012:parameter/token"},
		{"DirectoryUrl", "http://ldap.corp.internal"},
		{"DirectoryUrl", `ldaps://ldap.corp.internal"`},
		{"DirectoryBindDn", `cn=chpass\,x,dc=example,dc=org`},
		{"DirectoryBindDn", `cn="chpass",dc=example,dc=org`},
		{"DirectoryUserDnTemplate", "uid=alice,ou=people,dc=example,dc=org"},
		{"DirectoryStartTls", "yes"},
		{"ClusterId", "ehpc: {directory: evil}"},
		{"LogRetentionInDays", "2"},
		{"VpcEndpointsVpcId", "vpc-XYZ"},
	}
	for _, tt := range refused {
		t.Run("Refuses"+tt.name, func(t *testing.T) {
			if allowed(tt.name, tt.value) {
				t.Fatalf("%s=%q is allowed", tt.name, tt.value)
			}
		})
	}
}

// TestSAMCORSOnlyOnPortalApi: the portals' CORS configuration is on
// caller-password's own HTTP API, from AllowedOrigins, never with credentials,
// and the E-HPC API has none.
func TestSAMCORSOnlyOnPortalApi(t *testing.T) {
	tmpl := readYAML(t, "template.yaml")
	if c := path(tmpl, "Resources", "Api", "Properties", "CorsConfiguration"); c != nil {
		t.Error("the E-HPC HTTP API has a CorsConfiguration")
	}
	c := path(tmpl, "Resources", "PortalApi", "Properties", "CorsConfiguration")
	if c == nil || c.Tag != "!If" || len(c.Content) != 3 {
		t.Fatal("PortalApi has no CorsConfiguration conditional on AllowedOrigins")
	}
	cfg := c.Content[1]
	if o := child(cfg, "AllowOrigins"); o == nil || o.Tag != "!Ref" || o.Value != "AllowedOrigins" {
		t.Error("AllowOrigins is not !Ref AllowedOrigins")
	}
	if cr := child(cfg, "AllowCredentials"); cr == nil || cr.Value != "false" {
		t.Error("AllowCredentials is not false")
	}
	for _, fn := range samFunctions(t, tmpl) {
		for _, ev := range []string{"ChangePassword", "PasswordPolicy", "RpcGet", "RpcPost"} {
			id := path(fn.Node, "Events", ev, "Properties", "ApiId")
			if id == nil {
				continue
			}
			want := "Api"
			if fn.Dir == "caller-password" {
				want = "PortalApi"
			}
			if id.Value != want {
				t.Errorf("%s event %s is on %s, want %s", fn.Dir, ev, id.Value, want)
			}
		}
	}
}

// TestSAMAsyncInvoke: with Redis, modify-user-passwords may invoke itself (and nothing else) through
// a policy of its own (on the role, the function's ARN would be a dependency cycle), and its
// asynchronous invocations are retried MaximumRetryAttempts times within MaximumEventAgeInSeconds,
// then delivered to itself as the on-failure destination (the task is ended as failed). No other
// role may invoke a function.
func TestSAMAsyncInvoke(t *testing.T) {
	tmpl := readYAML(t, "template.yaml")
	res := child(tmpl, "Resources")
	conds := map[string]*yaml.Node{}
	cn := child(tmpl, "Conditions")
	for i := 0; i+1 < len(cn.Content); i += 2 {
		conds[cn.Content[i].Value] = cn.Content[i+1]
	}
	c := &cfn{params: samParams, conditions: conds}
	var policies, configs []string
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, res.Content[i+1]
		switch child(r, "Type").Value {
		case "AWS::IAM::Policy":
			policies = append(policies, id)
		case "AWS::Lambda::EventInvokeConfig":
			configs = append(configs, id)
		case "AWS::IAM::Role":
			if strings.Contains(fmt.Sprint(c.eval(t, child(r, "Properties"))), "lambda:") {
				t.Errorf("role %s allows a lambda: action; self-invocation belongs in its own AWS::IAM::Policy", id)
			}
		}
	}
	if !slices.Equal(policies, []string{"ModifyUserPasswordsSelfInvokePolicy"}) || !slices.Equal(configs, []string{"ModifyUserPasswordsEventInvokeConfig"}) {
		t.Fatalf("policies %v, event invoke configs %v", policies, configs)
	}
	pol := child(res, "ModifyUserPasswordsSelfInvokePolicy")
	if cond := child(pol, "Condition"); cond == nil || cond.Value != "HasRedis" {
		t.Error("the self-invoke policy is not conditional on HasRedis")
	}
	if roles := path(pol, "Properties", "Roles"); len(roles.Content) != 1 || roles.Content[0].Tag != "!Ref" || roles.Content[0].Value != "ModifyUserPasswordsRole" {
		t.Error("the self-invoke policy is not on ModifyUserPasswordsRole alone")
	}
	st := path(pol, "Properties", "PolicyDocument", "Statement")
	if len(st.Content) != 1 {
		t.Fatalf("%d statements, want one", len(st.Content))
	}
	s0 := st.Content[0]
	if a := fmtList(c.eval(t, child(s0, "Action"))); a != "lambda:InvokeFunction" || child(s0, "Effect").Value != "Allow" {
		t.Errorf("self-invoke action %q", a)
	}
	if r := child(s0, "Resource"); r.Tag != "!GetAtt" || r.Value != "ModifyUserPasswordsFunction.Arn" {
		t.Errorf("self-invoke resource %s %s, want !GetAtt ModifyUserPasswordsFunction.Arn", r.Tag, r.Value)
	}
	eic := child(res, "ModifyUserPasswordsEventInvokeConfig")
	if cond := child(eic, "Condition"); cond == nil || cond.Value != "HasRedis" {
		t.Error("the event invoke config is not conditional on HasRedis")
	}
	if d := child(eic, "DependsOn"); d == nil || d.Value != "ModifyUserPasswordsSelfInvokePolicy" {
		t.Error("the event invoke config does not depend on the self-invoke policy (Lambda checks the destination's permission)")
	}
	p := child(eic, "Properties")
	if f := child(p, "FunctionName"); f.Tag != "!Ref" || f.Value != "ModifyUserPasswordsFunction" || child(p, "Qualifier").Value != "$LATEST" {
		t.Errorf("event invoke config of %s:%s", f.Value, child(p, "Qualifier").Value)
	}
	if r := c.eval(t, child(p, "MaximumRetryAttempts")); r != samParams["AsyncMaximumRetryAttempts"] {
		t.Errorf("MaximumRetryAttempts %v", r)
	}
	if r := c.eval(t, child(p, "MaximumEventAgeInSeconds")); r != samParams["AsyncMaximumEventAgeInSeconds"] {
		t.Errorf("MaximumEventAgeInSeconds %v", r)
	}
	if d := path(p, "DestinationConfig", "OnFailure", "Destination"); d == nil || d.Tag != "!GetAtt" || d.Value != "ModifyUserPasswordsFunction.Arn" {
		t.Error("the on-failure destination is not the function itself")
	}
}
