package templates

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// cfn evaluates the CloudFormation intrinsic functions template.yaml uses in the
// values these tests read (!Ref, !Sub, !Join, !If with !Equals and !Not), over
// given parameter values, as CloudFormation would at deploy time.
type cfn struct {
	params     map[string]string
	conditions map[string]*yaml.Node
}

// noValue is what !Ref AWS::NoValue evaluates to.
type noValue struct{}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (c *cfn) eval(tb testing.TB, n *yaml.Node) any {
	tb.Helper()
	switch n.Tag {
	case "!Ref":
		if n.Value == "AWS::NoValue" {
			return noValue{}
		}
		return c.ref(tb, n.Value)
	case "!Sub":
		if n.Kind == yaml.ScalarNode {
			return c.sub(tb, n.Value, nil)
		}
		vars := map[string]string{}
		m := n.Content[1]
		for i := 0; i+1 < len(m.Content); i += 2 {
			vars[m.Content[i].Value] = fmt.Sprint(c.eval(tb, m.Content[i+1]))
		}
		return c.sub(tb, n.Content[0].Value, vars)
	case "!Join":
		var parts []string
		for _, p := range n.Content[1].Content {
			parts = append(parts, fmt.Sprint(c.eval(tb, p)))
		}
		return strings.Join(parts, n.Content[0].Value)
	case "!If":
		if c.cond(tb, n.Content[0].Value) {
			return c.eval(tb, n.Content[1])
		}
		return c.eval(tb, n.Content[2])
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value
	case yaml.SequenceNode:
		var out []any
		for _, e := range n.Content {
			if v := c.eval(tb, e); v != (noValue{}) {
				out = append(out, v)
			}
		}
		return out
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = c.eval(tb, n.Content[i+1])
		}
		return out
	}
	tb.Fatalf("line %d: cannot evaluate %s", n.Line, n.Tag)
	return nil
}

func (c *cfn) ref(tb testing.TB, name string) string {
	tb.Helper()
	switch name {
	case "AWS::Region":
		return "eu-west-1"
	case "AWS::StackName":
		return "chpass"
	case "AWS::URLSuffix":
		return "amazonaws.com"
	}
	v, ok := c.params[name]
	if !ok {
		tb.Fatalf("!Ref %s: no such parameter", name)
	}
	return v
}

// sub substitutes ${Name} by vars or parameters; ${Res.Attr} stays as written.
func (c *cfn) sub(tb testing.TB, s string, vars map[string]string) string {
	tb.Helper()
	return subVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if v, ok := vars[name]; ok {
			return v
		}
		if strings.Contains(name, ".") {
			return m
		}
		return c.ref(tb, name)
	})
}

func (c *cfn) cond(tb testing.TB, name string) bool {
	tb.Helper()
	n, ok := c.conditions[name]
	if !ok {
		tb.Fatalf("no condition %s", name)
	}
	return c.boolean(tb, n)
}

func (c *cfn) boolean(tb testing.TB, n *yaml.Node) bool {
	tb.Helper()
	switch n.Tag {
	case "!Not":
		return !c.boolean(tb, n.Content[0])
	case "!And":
		for _, m := range n.Content {
			if !c.boolean(tb, m) {
				return false
			}
		}
		return true
	case "!Equals":
		return fmt.Sprint(c.eval(tb, n.Content[0])) == fmt.Sprint(c.eval(tb, n.Content[1]))
	}
	tb.Fatalf("line %d: unsupported condition %s", n.Line, n.Tag)
	return false
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

// path follows keys down from n.
func path(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = child(n, k)
	}
	return n
}
