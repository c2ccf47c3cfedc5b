package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Parameter is one parameter of publish.yaml: what s init asks for.
type Parameter struct {
	Title       string `yaml:"title"`
	Type        string `yaml:"type"`
	Default     any    `yaml:"default"`
	Description string `yaml:"description"`
	Pattern     string `yaml:"pattern"`
	Enum        []any  `yaml:"enum"`
}

// Publish is the part of publish.yaml the release reads.
type Publish struct {
	Edition     string   `yaml:"Edition"`
	Type        string   `yaml:"Type"`
	Name        string   `yaml:"Name"`
	Version     string   `yaml:"Version"`
	Description string   `yaml:"Description"`
	HomePage    string   `yaml:"HomePage"`
	Provider    []string `yaml:"Provider"`
	Tags        []string `yaml:"Tags"`
	Category    string   `yaml:"Category"`
	Service     map[string]struct {
		Authorities []string `yaml:"Authorities"`
	} `yaml:"Service"`
	Effective  string `yaml:"Effective"`
	Parameters struct {
		Type                 string               `yaml:"type"`
		AdditionalProperties bool                 `yaml:"additionalProperties"`
		Required             []string             `yaml:"required"`
		Properties           map[string]Parameter `yaml:"properties"`
	} `yaml:"Parameters"`
}

// ReadPublish reads publish.yaml at root, strictly.
func ReadPublish(root string) (*Publish, error) {
	b, err := os.ReadFile(filepath.Join(root, "publish.yaml"))
	if err != nil {
		return nil, err
	}
	var p Publish
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("publish.yaml: %w", err)
	}
	return &p, nil
}

// paramSentinel stands for a parameter in the encoded s.yaml until it becomes
// the placeholder s init renders.
func paramSentinel(name string) string { return "CHPASSPARAM__" + name + "__" }

// InitTemplate returns the src/s.yaml of the registry package: the release's
// s.yaml (code beside it) with each of vars a {{ name }} placeholder of
// publish.yaml's parameters, which s init renders with art-template, and every
// other {{ written as {{"{{"}}, which art-template renders as {{, so that the
// {{kms:NAME}} secret references reach the deployed configuration unchanged.
func InitTemplate(root, version string, fns []string, pub *Publish) ([]byte, error) {
	doc, err := sdevsDoc(root, version, fns, "./")
	if err != nil {
		return nil, err
	}
	vars := child(doc.Content[0], "vars")
	if vars == nil {
		return nil, errors.New("s.yaml has no vars")
	}
	kinds := map[string]string{}
	for i := 0; i+1 < len(vars.Content); i += 2 {
		name, v := vars.Content[i].Value, vars.Content[i+1]
		p, ok := pub.Parameters.Properties[name]
		if !ok {
			return nil, fmt.Errorf("vars.%s is not a parameter of publish.yaml", name)
		}
		want := map[string]string{"!!str": "string", "!!int": "number", "!!bool": "boolean", "!!seq": "string"}[v.Tag]
		if p.Type != want {
			return nil, fmt.Errorf("publish.yaml parameter %s is %s; s.yaml's vars.%s wants %s", name, p.Type, name, want)
		}
		kinds[name] = v.Tag
		if v.Kind == yaml.SequenceNode {
			*v = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: paramSentinel(name)}}}
		} else {
			setScalar(v, paramSentinel(name))
		}
	}
	for name := range pub.Parameters.Properties {
		if _, ok := kinds[name]; !ok {
			return nil, fmt.Errorf("publish.yaml parameter %s is not one of s.yaml's vars", name)
		}
	}
	b, err := encode(doc)
	if err != nil {
		return nil, err
	}
	text := string(b)
	if strings.Contains(text, "<%") {
		return nil, errors.New("s.yaml holds <%, which art-template would evaluate")
	}
	text = strings.ReplaceAll(text, "{{", `{{"{{"}}`)
	for name, tag := range kinds {
		placeholder := "{{ " + name + " }}"
		if tag == "!!str" || tag == "!!seq" {
			placeholder = `"` + placeholder + `"`
		}
		if n := strings.Count(text, paramSentinel(name)); n != 1 {
			return nil, fmt.Errorf("vars.%s: its placeholder appears %d times", name, n)
		}
		text = strings.Replace(text, paramSentinel(name), placeholder, 1)
	}
	return []byte(text), nil
}

var (
	artTag  = regexp.MustCompile(`\{\{([\s\S]*?)\}\}`)
	artName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// RenderInit renders text as s init's art-template does for the two tags
// InitTemplate writes: {{ name }} becomes the parameter's value and {{"{{"}}
// becomes {{. Any other tag (or <%) is an error: art-template would evaluate it
// as JavaScript.
func RenderInit(text string, params map[string]string) (string, error) {
	if strings.Contains(text, "<%") {
		return "", errors.New("<% would be evaluated")
	}
	var errs []error
	out := artTag.ReplaceAllStringFunc(text, func(tag string) string {
		inner := strings.TrimSpace(artTag.FindStringSubmatch(tag)[1])
		switch {
		case inner == `"{{"`:
			return "{{"
		case artName.MatchString(inner):
			v, ok := params[inner]
			if !ok {
				errs = append(errs, fmt.Errorf("{{ %s }}: no such parameter", inner))
			}
			return v
		}
		errs = append(errs, fmt.Errorf("%s: art-template would evaluate it as JavaScript", tag))
		return tag
	})
	return out, errors.Join(errs...)
}

// registryPackage writes serverless-devs/ under dir: publish.yaml with the
// version, src/s.yaml and the function zips, readme.md, version.md (this
// release's CHANGELOG section) and LICENSE.
func registryPackage(o Options, fns []string, dir string, changelog []byte) error {
	pub, err := ReadPublish(o.Root)
	if err != nil {
		return err
	}
	doc, err := readYAML(filepath.Join(o.Root, "publish.yaml"))
	if err != nil {
		return err
	}
	v := child(doc.Content[0], "Version")
	if v == nil {
		return errors.New("publish.yaml has no Version")
	}
	setScalar(v, o.Version)
	pubText, err := encode(doc)
	if err != nil {
		return err
	}
	pkg := filepath.Join(dir, "serverless-devs")
	if err := writeFile(filepath.Join(pkg, "publish.yaml"), pubText); err != nil {
		return err
	}
	src, err := InitTemplate(o.Root, o.Version, fns, pub)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(pkg, "src", "s.yaml"), src); err != nil {
		return err
	}
	for _, fn := range fns {
		name := ZipName(o.Version, "fc", fn)
		if err := copyFile(filepath.Join(dir, name), filepath.Join(pkg, "src", name)); err != nil {
			return err
		}
	}
	if err := copyFile(filepath.Join(o.Root, "README.md"), filepath.Join(pkg, "readme.md")); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(o.Root, "LICENSE"), filepath.Join(pkg, "LICENSE")); err != nil {
		return err
	}
	section, err := ChangelogSection(changelog, o.Version)
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(pkg, "version.md"), section)
}

// ChangelogSection returns the section of CHANGELOG.md for version.
func ChangelogSection(changelog []byte, version string) ([]byte, error) {
	head := regexp.MustCompile(`(?m)^## \[` + regexp.QuoteMeta(version) + `\] - \d{4}-\d{2}-\d{2}\n`)
	loc := head.FindIndex(changelog)
	if loc == nil {
		return nil, fmt.Errorf("CHANGELOG.md has no section for %s", version)
	}
	rest := changelog[loc[0]:]
	if i := regexp.MustCompile(`(?m)^(## |\[[^\]]+\]: )`).FindIndex(rest[loc[1]-loc[0]:]); i != nil {
		rest = rest[:loc[1]-loc[0]+i[0]]
	}
	return append(bytes.TrimRight(rest, "\n"), '\n'), nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
