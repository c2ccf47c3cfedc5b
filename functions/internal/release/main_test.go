package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const root = "../../.."

// cycloneDX returns the cyclonedx-gomod executable make test installs
// ($CHPASS_CYCLONEDX), skipping loudly without it, and failing under CI.
func cycloneDX(tb testing.TB) string {
	tb.Helper()
	p := os.Getenv("CHPASS_CYCLONEDX")
	if p == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("CHPASS_CYCLONEDX is not set: make test installs cyclonedx-gomod and sets it")
		}
		tb.Skip("*** SKIPPED: CHPASS_CYCLONEDX is not set (make sbom-tool; make test sets it): the release is NOT checked ***")
	}
	return p
}

var (
	stampOnce sync.Once
	stampExe  string
	stampErr  error
)

// stamped returns caller-password built as make builds it for Function Compute,
// with the version stamped, once: the release finds the stamp, and
// cyclonedx-gomod reads its modules.
func stamped(tb testing.TB, version string) string {
	tb.Helper()
	stampOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chpass-release-test-*")
		if err != nil {
			stampErr = err
			return
		}
		stampExe = filepath.Join(dir, "exe")
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc,noaws,validator_novalidatefn",
			"-ldflags", "-s -w -buildid= "+VersionFlag+version+")", "-o", stampExe, "./functions/caller-password")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			stampErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if stampErr != nil {
		tb.Fatal(stampErr)
	}
	return stampExe
}

// fakeDist writes dist/<cloud>/<fn>.zip as make package does, each holding exe.
func fakeDist(tb testing.TB, exe string) string {
	tb.Helper()
	fns, err := functionDirs(root)
	if err != nil {
		tb.Fatal(err)
	}
	content, err := os.ReadFile(exe)
	if err != nil {
		tb.Fatal(err)
	}
	dist := tb.TempDir()
	for _, cloud := range clouds {
		for _, fn := range fns {
			name := fn
			if cloud == "aws" {
				name = "bootstrap"
			}
			if err := os.MkdirAll(filepath.Join(dist, cloud), 0o755); err != nil {
				tb.Fatal(err)
			}
			var b bytes.Buffer
			zw := zip.NewWriter(&b)
			h := &zip.FileHeader{Name: name, Method: zip.Store} // deflate under -race takes minutes
			h.SetMode(0o755)
			w, _ := zw.CreateHeader(h)
			w.Write(content)
			zw.Close()
			if err := os.WriteFile(filepath.Join(dist, cloud, fn+".zip"), b.Bytes(), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return dist
}

// tree returns every file under dir with its bytes and mode.
func tree(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		st, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = fmt.Sprintf("%v %s", st.Mode(), b)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestReleaseReproducible releases the same inputs twice, into two places, and
// gets the same files, byte for byte; then checks what the release holds: the
// versioned zips, an SBOM of each naming the version, SHA256SUMS over every
// file, the templates with the version and the zips filled in, and the
// Serverless Devs package whose src/s.yaml renders, as s init renders it, to
// the release's s.yaml with the secret references intact.
func TestReleaseReproducible(t *testing.T) {
	tool := cycloneDX(t)
	const version = "0.1.0" // a release CHANGELOG.md has
	start := time.Now()
	dist := fakeDist(t, stamped(t, version))
	t.Logf("built and packed in %v", time.Since(start).Round(time.Millisecond))
	outs := []string{filepath.Join(t.TempDir(), "a", version), filepath.Join(t.TempDir(), "b", version)}
	for _, out := range outs {
		start := time.Now()
		if err := Release(Options{Version: version, Root: root, Dist: dist, Out: out, CycloneDX: tool}); err != nil {
			t.Fatal(err)
		}
		t.Logf("released in %v", time.Since(start).Round(time.Millisecond))
	}
	start = time.Now()
	a, b := tree(t, outs[0]), tree(t, outs[1])
	defer func() { t.Logf("checked in %v", time.Since(start).Round(time.Millisecond)) }()
	if !reflect.DeepEqual(a, b) {
		for k := range a {
			if a[k] != b[k] {
				t.Errorf("%s differs between two releases of the same inputs", k)
			}
		}
		t.Fatalf("two releases differ: %d and %d files", len(a), len(b))
	}
	out := outs[0]
	fns, _ := functionDirs(root)

	// SHA256SUMS lists every other file with its digest.
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for line := range strings.Lines(string(sums)) {
		sum, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
		content, err := os.ReadFile(filepath.Join(out, name))
		if !ok || err != nil || fmt.Sprintf("%x", sha256.Sum256(content)) != sum {
			t.Errorf("SHA256SUMS line %q does not match the file (%v)", line, err)
		}
		listed[name] = true
	}
	for name := range a {
		if name != "SHA256SUMS" && !listed[name] {
			t.Errorf("SHA256SUMS does not list %s", name)
		}
	}

	for _, cloud := range clouds {
		for _, fn := range fns {
			zipName := ZipName(version, cloud, fn)
			if _, ok := a[zipName]; !ok {
				t.Errorf("no %s", zipName)
			}
			var bom struct {
				BOMFormat    string `json:"bomFormat"`
				SerialNumber string `json:"serialNumber"`
				Metadata     struct {
					Timestamp string `json:"timestamp"`
					Component struct {
						Name, Version string
					} `json:"component"`
				} `json:"metadata"`
				Components []struct{ Name, Version string } `json:"components"`
			}
			raw, err := os.ReadFile(filepath.Join(out, strings.TrimSuffix(zipName, ".zip")+".cdx.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &bom); err != nil {
				t.Fatal(err)
			}
			if bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Name != "chpass" || bom.Metadata.Component.Version != "v"+version || bom.SerialNumber != "" || bom.Metadata.Timestamp != "" {
				t.Errorf("SBOM of %s: %+v: want CycloneDX for chpass v%s, without serial number or timestamp", zipName, bom.Metadata, version)
			}
		}
	}

	// template.yaml: the SAR version, each function's CodeUri the release zip, no build step.
	var tmpl struct {
		Metadata struct {
			App struct {
				SemanticVersion string `yaml:"SemanticVersion"`
			} `yaml:"AWS::ServerlessRepo::Application"`
		} `yaml:"Metadata"`
		Resources map[string]struct {
			Type       string         `yaml:"Type"`
			Metadata   map[string]any `yaml:"Metadata"`
			Properties map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	readYAMLInto(t, filepath.Join(out, "template.yaml"), &tmpl)
	if tmpl.Metadata.App.SemanticVersion != version {
		t.Errorf("template.yaml SemanticVersion %q, want %s", tmpl.Metadata.App.SemanticVersion, version)
	}
	var codeURIs []string
	for id, r := range tmpl.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		uri, _ := r.Properties["CodeUri"].(string)
		if _, ok := a[uri]; !ok {
			t.Errorf("%s: CodeUri %q is not a file of the release", id, uri)
		}
		if _, ok := r.Metadata["BuildMethod"]; ok {
			t.Errorf("%s: the release template still builds from source", id)
		}
		codeURIs = append(codeURIs, uri)
	}
	if len(codeURIs) != len(fns) {
		t.Errorf("template.yaml deploys %v", codeURIs)
	}
	// The release template keeps the intrinsic functions' tags.
	if !strings.Contains(a["template.yaml"], "!Ref SubnetIds") || !strings.Contains(a["template.yaml"], "!GetAtt CallerPasswordRole.Arn") {
		t.Error("template.yaml lost its intrinsic functions")
	}

	// s.yaml: each function's code the release zip beside it.
	var sdevs struct {
		Resources map[string]struct {
			Props struct{ Code string } `yaml:"props"`
		} `yaml:"resources"`
	}
	readYAMLInto(t, filepath.Join(out, "s.yaml"), &sdevs)
	for _, fn := range fns {
		if code := sdevs.Resources[fn].Props.Code; code != "./"+ZipName(version, "fc", fn) {
			t.Errorf("s.yaml %s code %q", fn, code)
		}
	}

	// The Serverless Devs package: s init renders src/s.yaml with the parameters'
	// defaults into the release's s.yaml, the {{kms:…}} references intact.
	pub, err := ReadPublish(filepath.Join(out, "serverless-devs"))
	if err != nil {
		t.Fatal(err)
	}
	if pub.Version != version {
		t.Errorf("publish.yaml Version %q", pub.Version)
	}
	params := map[string]string{}
	for name, p := range pub.Parameters.Properties {
		params[name] = fmt.Sprint(p.Default)
	}
	src, err := os.ReadFile(filepath.Join(out, "serverless-devs", "src", "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := RenderInit(string(src), params)
	if err != nil {
		t.Fatalf("s init cannot render src/s.yaml: %v", err)
	}
	var got, want any
	if err := yaml.Unmarshal([]byte(rendered), &got); err != nil {
		t.Fatalf("src/s.yaml rendered is not YAML: %v\n%s", err, rendered)
	}
	readYAMLInto(t, filepath.Join(out, "s.yaml"), &want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("src/s.yaml rendered with the defaults is not the release's s.yaml:\n%s", rendered)
	}
	if !strings.Contains(rendered, `"{{kms:${vars.directoryPasswordSecret}#password}}"`) || !strings.Contains(rendered, `"{{kms:${vars.adminKeysSecret}}}"`) {
		t.Error("the rendered s.yaml lost its {{kms:…}} references")
	}
	for _, fn := range fns {
		if _, ok := a["serverless-devs/src/"+ZipName(version, "fc", fn)]; !ok {
			t.Errorf("the Serverless Devs package has no %s", ZipName(version, "fc", fn))
		}
	}
	for _, f := range []string{"serverless-devs/readme.md", "serverless-devs/version.md", "serverless-devs/LICENSE", "LICENSE", "README.md", "CHANGELOG.md", "THIRD_PARTY_LICENSES.md"} {
		if _, ok := a[f]; !ok {
			t.Errorf("the release has no %s", f)
		}
	}
	if !strings.Contains(a["serverless-devs/version.md"], "## ["+version+"]") || strings.Contains(a["serverless-devs/version.md"], "## [Unreleased]") {
		t.Errorf("version.md is not the changelog's section of %s:\n%s", version, a["serverless-devs/version.md"])
	}
}

func readYAMLInto(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// TestReleaseRefuses: a version that is not semantic, that the changelog does
// not have, or that the binaries were not stamped with, releases nothing, and
// leaves no partial directory behind.
func TestReleaseRefuses(t *testing.T) {
	dist := fakeDist(t, stamped(t, "0.1.0"))
	tests := []struct {
		name, version, tool, want string
	}{
		{"NotSemantic", "1.2", "cyclonedx-gomod", "not a semantic version"},
		{"NotInChangelog", "9.9.9", "cyclonedx-gomod", "CHANGELOG.md has no section"},
		{"NoTool", "0.1.0", "", "-cyclonedx"},
		{"SBOMFails", "0.1.0", "/nonexistent/cyclonedx-gomod", "SBOM of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			err := Release(Options{Version: tt.version, Root: root, Dist: dist, Out: filepath.Join(parent, "out"), CycloneDX: tt.tool})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Fatalf("left %v behind", entries)
			}
		})
	}
	t.Run("WrongStamp", func(t *testing.T) {
		err := checkStamp(stamped(t, "0.1.0"), "0.2.0")
		if err == nil || !strings.Contains(err.Error(), "is version 0.1.0, not 0.2.0") {
			t.Fatalf("err %v", err)
		}
	})
}

// TestPublishMatchesSdevs: publish.yaml's parameters are exactly s.yaml's vars,
// with the same types and defaults, each default passing its own pattern and
// enum, required, and refusing the characters that would break out of the
// configuration; the registry's fields are there.
func TestPublishMatchesSdevs(t *testing.T) {
	pub, err := ReadPublish(root)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Edition != "3.0.0" || pub.Type != "Project" || pub.Name == "" || !Semver.MatchString(pub.Version) || pub.Description == "" || len(pub.Provider) == 0 || len(pub.Service) == 0 {
		t.Fatalf("publish.yaml: want Edition 3.0.0, Type Project, Name, a semantic Version, Description, Provider and Service: %+v", pub)
	}
	if !strings.Contains(pub.Description, "Apache-2.0") {
		t.Error("publish.yaml: the description names no license")
	}
	var s struct {
		Vars map[string]any `yaml:"vars"`
	}
	readYAMLInto(t, filepath.Join(root, "s.yaml"), &s)
	if names, want := sortedKeys(pub.Parameters.Properties), sortedKeys(s.Vars); !slices.Equal(names, want) {
		t.Fatalf("publish.yaml's parameters %v, s.yaml's vars %v: make them the same", names, want)
	}
	if req := slices.Sorted(slices.Values(pub.Parameters.Required)); !slices.Equal(req, sortedKeys(s.Vars)) {
		t.Errorf("required %v: want every parameter", req)
	}
	for name, p := range pub.Parameters.Properties {
		v := s.Vars[name]
		if list, ok := v.([]any); ok {
			v = list[0]
		}
		if fmt.Sprint(p.Default) != fmt.Sprint(v) || reflect.TypeOf(p.Default) != reflect.TypeOf(v) {
			t.Errorf("parameter %s default %v (%T), s.yaml's vars.%s %v (%T)", name, p.Default, p.Default, name, v, v)
		}
		if p.Pattern != "" {
			re, err := regexp.Compile(p.Pattern)
			if err != nil {
				t.Errorf("parameter %s pattern: %v", name, err)
				continue
			}
			if !re.MatchString(fmt.Sprint(p.Default)) {
				t.Errorf("parameter %s: default %v fails its pattern", name, p.Default)
			}
			for _, bad := range []string{`x"y`, `x\y`, "x${vars.y}", "x\ny"} {
				if re.MatchString(bad) {
					t.Errorf("parameter %s: pattern %s lets %q through", name, p.Pattern, bad)
				}
			}
		} else if p.Type == "string" && len(p.Enum) == 0 {
			t.Errorf("parameter %s: a string needs a pattern or an enum", name)
		}
		if len(p.Enum) > 0 && !slices.ContainsFunc(p.Enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(p.Default) }) {
			t.Errorf("parameter %s: default %v not in its enum", name, p.Default)
		}
	}
	// The version publish.yaml carries in the repository is the newest release.
	changelog, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ChangelogSection(changelog, pub.Version); err != nil {
		t.Errorf("publish.yaml Version %s: %v", pub.Version, err)
	}
}

// TestInitTemplateEscapes: every {{ of s.yaml that is not a parameter reaches
// the rendered file unchanged, and RenderInit refuses what art-template would
// evaluate.
func TestInitTemplateEscapes(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{"Param", `a: "{{ region }}"`, `a: "cn-hangzhou"`, ""},
		{"Escaped", `b: "{{"{{"}}kms:${vars.x}}}"`, `b: "{{kms:${vars.x}}}"`, ""},
		{"RawReference", `b: "{{kms:x}}"`, "", "as JavaScript"},
		{"UnknownParam", `a: {{ nope }}`, "", "no such parameter"},
		{"Original", `a: <%= x %>`, "", "<%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RenderInit(tt.in, map[string]string{"region": "cn-hangzhou"})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
