package templates

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// semver is Semantic Versioning 2.0.0's own regular expression.
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// latestRelease returns the newest released version of CHANGELOG.md: the first
// "## [x.y.z] - date" heading.
func latestRelease(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		tb.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^## \[([0-9][^\]]*)\] - \d{4}-\d{2}-\d{2}$`).FindStringSubmatch(string(b))
	if m == nil {
		tb.Fatal("CHANGELOG.md: no released version")
	}
	return m[1]
}

// TestServerlessRepoMetadata checks template.yaml's AWS::ServerlessRepo::Application
// metadata against the rules the AWS Serverless Application Repository applies
// at sam publish: the required fields, their lengths and patterns, no intrinsic
// functions, at most 10 labels, a semantic version (the newest of CHANGELOG.md;
// make release writes the one it releases), the license the repository carries,
// and license and readme files that sam package can upload.
func TestServerlessRepoMetadata(t *testing.T) {
	app := path(readYAML(t, "template.yaml"), "Metadata", "AWS::ServerlessRepo::Application")
	if app == nil {
		t.Fatal("template.yaml: no Metadata.AWS::ServerlessRepo::Application")
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if strings.HasPrefix(n.Tag, "!") && n.Tag != "!!str" && n.Tag != "!!seq" && n.Tag != "!!map" {
			t.Errorf("line %d: %s: SAR's metadata takes no intrinsic function", n.Line, n.Tag)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(app)
	known := map[string]bool{"Name": true, "Description": true, "Author": true, "SpdxLicenseId": true, "LicenseUrl": true,
		"ReadmeUrl": true, "Labels": true, "HomePageUrl": true, "SemanticVersion": true, "SourceCodeUrl": true}
	for i := 0; i+1 < len(app.Content); i += 2 {
		if !known[app.Content[i].Value] {
			t.Errorf("unknown property %s", app.Content[i].Value)
		}
	}
	str := func(k string) string {
		if v := child(app, k); v != nil && v.Kind == yaml.ScalarNode {
			return v.Value
		}
		return ""
	}
	fields := []struct {
		key     string
		min     int
		max     int
		pattern string
	}{
		{"Name", 1, 140, `^[a-zA-Z0-9\-]+$`},
		{"Description", 1, 256, ``},
		{"Author", 1, 127, `^[a-z0-9](?:[a-z0-9]|-[a-z0-9])*$`}, // SAR's ^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$ without lookahead
		{"SpdxLicenseId", 1, 64, `^Apache-2\.0$`},
		{"LicenseUrl", 1, 1024, ``},
		{"ReadmeUrl", 1, 1024, ``},
		{"HomePageUrl", 1, 1024, `^https://[^\s]+$`},
		{"SourceCodeUrl", 1, 1024, `^https://[^\s]+$`},
		{"SemanticVersion", 1, 255, semver.String()},
	}
	for _, f := range fields {
		v := str(f.key)
		if len(v) < f.min || len(v) > f.max {
			t.Errorf("%s %q: want %d-%d characters", f.key, v, f.min, f.max)
		}
		if f.pattern != "" && !regexp.MustCompile(f.pattern).MatchString(v) {
			t.Errorf("%s %q: does not match %s", f.key, v, f.pattern)
		}
	}
	labels := child(app, "Labels")
	if labels == nil || len(labels.Content) == 0 || len(labels.Content) > 10 {
		t.Error("Labels: want 1-10")
	} else {
		for _, l := range labels.Content {
			if len(l.Value) > 127 || !regexp.MustCompile(`^[a-zA-Z0-9+\-_:/@]+$`).MatchString(l.Value) {
				t.Errorf("label %q: want 1-127 of [a-zA-Z0-9+-_:/@]", l.Value)
			}
		}
	}
	if v, want := str("SemanticVersion"), latestRelease(t); v != want {
		t.Errorf("SemanticVersion %s: want %s, the newest release of CHANGELOG.md", v, want)
	}
	// sam package uploads local files the template names, relative to it.
	lic, err := os.ReadFile(filepath.Join(root, str("LicenseUrl")))
	if err != nil || !strings.Contains(string(lic), "Apache License") || !strings.Contains(string(lic), "Version 2.0, January 2004") {
		t.Errorf("LicenseUrl %s: want the Apache License 2.0 text (%v)", str("LicenseUrl"), err)
	}
	if st, err := os.Stat(filepath.Join(root, str("ReadmeUrl"))); err != nil || !strings.HasSuffix(str("ReadmeUrl"), ".md") || st.Size() > 5<<20 {
		t.Errorf("ReadmeUrl %s: want a Markdown file under 5 MB (%v)", str("ReadmeUrl"), err)
	}
	if st, err := os.Stat(filepath.Join(root, str("LicenseUrl"))); err == nil && st.Size() > 5<<20 {
		t.Errorf("LicenseUrl: over 5 MB")
	}
}
