package templates

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"chpass/shared/config"
)

// root is the repository, where template.yaml and s.yaml live.
const root = "../../.."

// functions lists the functions: the directories of functions/ that hold a
// deployable main (not local, which serves them all on a developer's machine).
func functions(tb testing.TB) []string {
	tb.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		tb.Fatal(err)
	}
	var fns []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "internal" && e.Name() != "local" {
			fns = append(fns, e.Name())
		}
	}
	if len(fns) == 0 {
		tb.Fatal("no functions")
	}
	return fns
}

func readYAML(tb testing.TB, name string) *yaml.Node {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		tb.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return doc.Content[0]
}

// event is a sample event of events/ and the request it carries.
type event struct {
	Function, File string
	FC             bool
	Method, Path   string
	RouteKey       string // payload 2.0: the route API Gateway chose
}

// events reads every file of events/: each must belong to a function and carry
// a request this test can route.
func events(tb testing.TB) []event {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(root, "events", "*", "*"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no events: %v", err)
	}
	known := map[string]bool{}
	for _, fn := range functions(tb) {
		known[fn] = true
	}
	var evs []event
	for _, f := range files {
		fn, name := filepath.Base(filepath.Dir(f)), filepath.Base(f)
		if !known[fn] {
			tb.Errorf("events/%s/%s: no function %s", fn, name, fn)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if strings.HasPrefix(name, "rotation-") || strings.HasPrefix(name, "fc-timer") {
			continue // not HTTP: Secrets Manager and the FC timer invoke the function (TestRotationEvents)
		}
		var ev struct {
			RawPath        string `json:"rawPath"`
			Path           string `json:"path"`
			HTTPMethod     string `json:"httpMethod"`
			RouteKey       string `json:"routeKey"`
			RequestContext struct {
				HTTP struct {
					Method string `json:"method"`
				} `json:"http"`
			} `json:"requestContext"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			tb.Errorf("events/%s/%s: %v", fn, name, err)
			continue
		}
		e := event{Function: fn, File: name, Method: ev.RequestContext.HTTP.Method, Path: ev.RawPath, RouteKey: ev.RouteKey}
		if e.Method == "" {
			e.Method = ev.HTTPMethod
		}
		if e.Path == "" {
			e.Path = ev.Path
		}
		// fc-*.json, or <kind>-fc-*.json (policy-fc-http.json, page-fc-http.json).
		e.FC = strings.HasPrefix(name, "fc-") || strings.Contains(name, "-fc-")
		if !strings.HasSuffix(name, ".json") || e.Method == "" || e.Path == "" {
			tb.Errorf("events/%s/%s: not a JSON HTTP event with a method and a path", fn, name)
			continue
		}
		evs = append(evs, e)
	}
	return evs
}

// recorder is a config.Resolver that serves references with a prefix, records
// them, and answers fixed values, so that a test sees which secrets a
// configuration reads without any cloud.
type recorder struct {
	prefix string
	values func(ref string) string

	mu   sync.Mutex
	refs []string
}

func (r *recorder) Resolve(_ context.Context, ref string) (string, bool, error) {
	if !strings.HasPrefix(ref, r.prefix) {
		return "", false, nil
	}
	r.mu.Lock()
	r.refs = append(r.refs, ref)
	r.mu.Unlock()
	return r.values(ref), true, nil
}

func (r *recorder) sorted() []string {
	out := append([]string(nil), r.refs...)
	sort.Strings(out)
	return out
}

// parseConfig loads a deployed configuration with r as the cloud's resolver and
// no ${ENV}: a deployment's secrets come from the secret service only.
func parseConfig(tb testing.TB, yml string, r *recorder) *config.Config {
	tb.Helper()
	for _, line := range strings.Split(yml, "\n") {
		if (strings.Contains(line, "${") || strings.Contains(line, "{{")) && !strings.Contains(line, r.prefix) {
			tb.Errorf("configuration line %q references something other than %s", line, r.prefix)
		}
	}
	cfg, err := config.Parse(context.Background(), strings.NewReader(yml), r)
	if err != nil {
		tb.Fatalf("the deployed configuration does not load: %v\n%s", err, yml)
	}
	return cfg
}

// selfServiceKeys and adminKeys are what the two access key secrets hold in these tests.
const (
	selfServiceKeys = `[{"id":"AKSELF","secret":"sk-self-0123456789","user":"alice"}]`
	adminKeys       = `[{"id":"AKADMIN","secret":"sk-admin-0123456789","actions":["ModifyUserPasswords","ListUsers"],"clusters":["*"]}]`
)
