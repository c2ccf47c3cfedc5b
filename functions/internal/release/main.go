// Command release writes a release of chpass into one directory, the same bytes
// for the same inputs: the zips of make package named with the version, a
// CycloneDX SBOM for each (cyclonedx-gomod bin, no serial number, no timestamp),
// template.yaml and s.yaml with the version and the zips filled in, the Serverless
// Devs registry package (publish.yaml, src/s.yaml whose parameters s init
// renders), LICENSE, README.md, CHANGELOG.md, THIRD_PARTY_LICENSES.md, and
// SHA256SUMS over all of them. make release runs it:
//
//	go run ./functions/internal/release -version 1.2.3 -cyclonedx .cache/bin/cyclonedx-gomod -o dist/release/1.2.3
//
// It refuses a version that is not semantic, that CHANGELOG.md has no section
// for, or that a binary in the zips was not stamped with, and leaves no partial
// release behind.
package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

func main() {
	var o Options
	flag.StringVar(&o.Version, "version", "", "the release's semantic version, x.y.z")
	flag.StringVar(&o.Root, "root", ".", "the repository")
	flag.StringVar(&o.Dist, "dist", "dist", "where make package wrote aws/<fn>.zip and fc/<fn>.zip")
	flag.StringVar(&o.Out, "o", "", "the release directory to write (default dist/release/VERSION)")
	flag.StringVar(&o.CycloneDX, "cyclonedx", "", "the cyclonedx-gomod executable (v1.10.0)")
	flag.Parse()
	if o.Out == "" {
		o.Out = filepath.Join(o.Dist, "release", o.Version)
	}
	if err := Release(o); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	fmt.Println("released", o.Out)
}

// Options says what to release and where.
type Options struct {
	Version, Root, Dist, Out, CycloneDX string
}

// Semver is Semantic Versioning 2.0.0's regular expression.
var Semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// clouds are the builds make package writes, as dist/<cloud>/<fn>.zip.
var clouds = []string{"aws", "fc"}

// ZipName is the name of a function's zip for cloud in the release of version.
func ZipName(version, cloud, fn string) string {
	return fmt.Sprintf("chpass-%s-%s-%s.zip", version, cloud, fn)
}

// Release writes the release o describes into o.Out, replacing it whole.
func Release(o Options) (err error) {
	if !Semver.MatchString(o.Version) {
		return fmt.Errorf("version %q is not a semantic version (x.y.z)", o.Version)
	}
	if o.CycloneDX == "" {
		return errors.New("-cyclonedx: name the cyclonedx-gomod executable (make release installs v1.10.0)")
	}
	changelog, err := os.ReadFile(filepath.Join(o.Root, "CHANGELOG.md"))
	if err != nil {
		return err
	}
	if !regexp.MustCompile(`(?m)^## \[` + regexp.QuoteMeta(o.Version) + `\] - \d{4}-\d{2}-\d{2}$`).Match(changelog) {
		return fmt.Errorf("CHANGELOG.md has no section \"## [%s] - YYYY-MM-DD\": write what the release changes first", o.Version)
	}
	fns, err := functionDirs(o.Root)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(o.Out)), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(o.Out)), ".release-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "chpass-release-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// The SBOMs (license detection reads every module) run at once, one per
	// distinct binary; a binary packed twice gets a copy of the same SBOM.
	type job struct{ exe, out string }
	var jobs []job
	first := map[[sha256.Size]byte]int{}
	dups := map[int][]string{}
	for _, cloud := range clouds {
		for _, fn := range fns {
			src := filepath.Join(o.Dist, cloud, fn+".zip")
			exe, err := unzipOne(src, filepath.Join(work, cloud, fn))
			if err != nil {
				return fmt.Errorf("%s: %w (run make package VERSION=%s)", src, err, o.Version)
			}
			if err := checkStamp(exe, o.Version); err != nil {
				return fmt.Errorf("%s: %w (run make package VERSION=%s)", src, err, o.Version)
			}
			name := ZipName(o.Version, cloud, fn)
			if err := copyFile(src, filepath.Join(tmp, name)); err != nil {
				return err
			}
			content, err := os.ReadFile(exe)
			if err != nil {
				return err
			}
			out := filepath.Join(tmp, strings.TrimSuffix(name, ".zip")+".cdx.json")
			if i, ok := first[sha256.Sum256(content)]; ok {
				dups[i] = append(dups[i], out)
				continue
			}
			first[sha256.Sum256(content)] = len(jobs)
			jobs = append(jobs, job{exe, out})
		}
	}
	var wg sync.WaitGroup
	sbomErrs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sbom(o.CycloneDX, o.Version, j.exe, j.out); err != nil {
				sbomErrs[i] = fmt.Errorf("SBOM of %s: %w", filepath.Base(j.out), err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(sbomErrs...); err != nil {
		return err
	}
	for i, outs := range dups {
		for _, out := range outs {
			if err := copyFile(jobs[i].out, out); err != nil {
				return err
			}
		}
	}
	for _, f := range []string{"LICENSE", "README.md", "CHANGELOG.md", "THIRD_PARTY_LICENSES.md"} {
		if err := copyFile(filepath.Join(o.Root, f), filepath.Join(tmp, f)); err != nil {
			return err
		}
	}
	tmpl, err := SAMTemplate(o.Root, o.Version, fns)
	if err != nil {
		return fmt.Errorf("template.yaml: %w", err)
	}
	if err := writeFile(filepath.Join(tmp, "template.yaml"), tmpl); err != nil {
		return err
	}
	sdevs, err := SdevsTemplate(o.Root, o.Version, fns, "./")
	if err != nil {
		return fmt.Errorf("s.yaml: %w", err)
	}
	if err := writeFile(filepath.Join(tmp, "s.yaml"), sdevs); err != nil {
		return err
	}
	if err := registryPackage(o, fns, tmp, changelog); err != nil {
		return fmt.Errorf("Serverless Devs package: %w", err)
	}
	sums, err := SHA256Sums(tmp)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(tmp, "SHA256SUMS"), sums); err != nil {
		return err
	}
	if err := os.RemoveAll(o.Out); err != nil {
		return err
	}
	return os.Rename(tmp, o.Out)
}

// functionDirs lists functions/ but internal and local: the shipped functions.
func functionDirs(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, err
	}
	var fns []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "internal" && e.Name() != "local" {
			fns = append(fns, e.Name())
		}
	}
	if len(fns) == 0 {
		return nil, errors.New("no functions in functions/")
	}
	return fns, nil
}

// unzipOne extracts the one executable of a deployment zip into dir.
func unzipOne(path, dir string) (string, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return "", err
	}
	defer zr.Close()
	if len(zr.File) != 1 || strings.ContainsAny(zr.File[0].Name, `/\`) {
		return "", errors.New("want exactly one executable at the zip's root")
	}
	f := zr.File[0]
	rc, err := f.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, f.Name)
	w, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(w, rc); err != nil {
		w.Close()
		return "", err
	}
	return out, w.Close()
}

// VersionFlag is the linker flag make stamps the version with (setup.Stamp).
const VersionFlag = "-X chpass/functions/internal/setup.Stamp=chpass.version("

var stampPattern = regexp.MustCompile(`chpass\.version\(([0-9A-Za-z.+-]+)\)`)

// checkStamp fails unless the Go binary exe was stamped with the version, and
// with no other: -trimpath keeps -ldflags out of the build information, so the
// stamp is found in the binary's data.
func checkStamp(exe, version string) error {
	if _, err := buildinfo.ReadFile(exe); err != nil {
		return err
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		return err
	}
	var found []string
	for _, m := range stampPattern.FindAllSubmatch(b, -1) {
		if v := string(m[1]); !slices.Contains(found, v) {
			found = append(found, v)
		}
	}
	switch {
	case len(found) == 0:
		return fmt.Errorf("the binary carries no version (%s%s))", VersionFlag, version)
	case len(found) > 1 || found[0] != version:
		return fmt.Errorf("the binary is version %s, not %s", strings.Join(found, ", "), version)
	}
	return nil
}

// sbom writes the CycloneDX SBOM of the Go binary exe, reproducibly.
func sbom(tool, version, exe, out string) error {
	cmd := exec.Command(tool, "bin", "-json", "-noserial", "-notimestamp", "-licenses", "-version", "v"+version, "-output", out, exe)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", filepath.Base(tool), err, strings.TrimSpace(stderr.String()))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(`"bomFormat": "CycloneDX"`)) {
		return errors.New("the output is not a CycloneDX JSON SBOM")
	}
	return os.Chmod(out, 0o644)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeFile(dst, b)
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	return os.Chmod(path, 0o644)
}

// SHA256Sums returns sha256sum's lines for every file under dir, by path.
func SHA256Sums(dir string) ([]byte, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel != "SHA256SUMS" {
			paths = append(paths, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	var b bytes.Buffer
	for _, p := range paths {
		content, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256(content), p)
	}
	return b.Bytes(), nil
}

// child returns the value of key in the mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// deleteKey removes key from the mapping n.
func deleteKey(n *yaml.Node, key string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			return
		}
	}
}

func setScalar(n *yaml.Node, value string) {
	n.Kind, n.Tag, n.Value, n.Style, n.Content = yaml.ScalarNode, "!!str", value, 0, nil
}

func readYAML(path string) (*yaml.Node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

func encode(doc *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var camel = regexp.MustCompile(`([a-z0-9])([A-Z])`)

// SAMTemplate returns template.yaml for the release: the Serverless Application
// Repository's SemanticVersion set to version, and each function's CodeUri the
// release zip (no build step: sam deploy and sam package upload the zip).
func SAMTemplate(root, version string, fns []string) ([]byte, error) {
	doc, err := readYAML(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	top := doc.Content[0]
	sv := child(child(child(top, "Metadata"), "AWS::ServerlessRepo::Application"), "SemanticVersion")
	if sv == nil {
		return nil, errors.New("no Metadata.AWS::ServerlessRepo::Application.SemanticVersion")
	}
	setScalar(sv, version)
	res := child(top, "Resources")
	var seen []string
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, res.Content[i+1]
		if t := child(r, "Type"); t == nil || t.Value != "AWS::Serverless::Function" {
			continue
		}
		fn := strings.ToLower(camel.ReplaceAllString(strings.TrimSuffix(id, "Function"), "$1-$2"))
		if !slices.Contains(fns, fn) {
			return nil, fmt.Errorf("%s: no function %s in functions/", id, fn)
		}
		seen = append(seen, fn)
		if md := child(r, "Metadata"); md != nil {
			deleteKey(md, "BuildMethod")
			if len(md.Content) == 0 {
				deleteKey(r, "Metadata")
			}
		}
		props := child(r, "Properties")
		if cu := child(props, "CodeUri"); cu != nil {
			setScalar(cu, ZipName(version, "aws", fn))
		} else {
			props.Content = append([]*yaml.Node{
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: "CodeUri"},
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: ZipName(version, "aws", fn)},
			}, props.Content...)
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, fns) {
		return nil, fmt.Errorf("deploys %v, functions/ holds %v", seen, fns)
	}
	return encode(doc)
}

// SdevsTemplate returns s.yaml for the release: each function's code the release
// zip, under dir (relative to the s.yaml written).
func SdevsTemplate(root, version string, fns []string, dir string) ([]byte, error) {
	doc, err := sdevsDoc(root, version, fns, dir)
	if err != nil {
		return nil, err
	}
	return encode(doc)
}

func sdevsDoc(root, version string, fns []string, dir string) (*yaml.Node, error) {
	doc, err := readYAML(filepath.Join(root, "s.yaml"))
	if err != nil {
		return nil, err
	}
	res := child(doc.Content[0], "resources")
	var seen []string
	for i := 0; i+1 < len(res.Content); i += 2 {
		fn := res.Content[i].Value
		if !slices.Contains(fns, fn) {
			return nil, fmt.Errorf("resource %s: no function %s in functions/", fn, fn)
		}
		seen = append(seen, fn)
		code := child(child(res.Content[i+1], "props"), "code")
		if code == nil {
			return nil, fmt.Errorf("resource %s has no props.code", fn)
		}
		setScalar(code, dir+ZipName(version, "fc", fn))
	}
	slices.Sort(seen)
	if !slices.Equal(seen, fns) {
		return nil, fmt.Errorf("deploys %v, functions/ holds %v", seen, fns)
	}
	return doc, nil
}
