package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// explainYAML turns the error of decoding data into a Config into one that names
// the key and says what is expected, where yaml.v3 names a Go type ("field polcy
// not found in type config.Config", "cannot unmarshal !!str into time.Duration")
// or a line that is not the broken one (a bad indentation). It runs only when
// decoding failed, so it costs a start nothing. Its messages never quote a value.
func explainYAML(data []byte, err error) error {
	var doc yaml.Node
	if perr := yaml.Unmarshal(data, &doc); perr != nil {
		if line, why := badIndentation(string(data)); line > 0 {
			return fmt.Errorf("yaml: line %d: %s", line, why)
		}
		return fmt.Errorf("yaml: %s", yamlMessage(err))
	}
	if len(doc.Content) > 0 {
		var msgs []string
		explainNode(doc.Content[0], reflect.TypeFor[Config](), "", &msgs)
		if len(msgs) > 0 {
			return errors.New(strings.Join(msgs, "; "))
		}
	}
	return fmt.Errorf("yaml: %s", yamlMessage(err))
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// explainNode checks n against t, at the key path path, and adds a message for
// each unknown key and each value of the wrong kind.
func explainNode(n *yaml.Node, t reflect.Type, path string, msgs *[]string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	add := func(format string, args ...any) {
		*msgs = append(*msgs, fmt.Sprintf("%s (line %d): ", keyOr(path), n.Line)+fmt.Sprintf(format, args...))
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode || n.Decode(new(time.Duration)) != nil {
			add("must be a duration, such as 30s, 15m or 1h30m (units ns, us, ms, s, m, h)")
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if !reflect.PointerTo(t).Implements(unmarshalerType) {
				add("must be a mapping of keys (%s)", strings.Join(yamlKeys(t), ", "))
			}
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("%s (line %d): unknown key", join(path, k.Value), k.Line)
				if near := nearest(k.Value, yamlKeys(t)); near != "" {
					msg += fmt.Sprintf("; did you mean %s?", join(path, near))
				} else if elsewhere := findKey(reflect.TypeFor[Config](), k.Value, ""); len(elsewhere) > 0 {
					msg += fmt.Sprintf("; it is a key of %s: indent it under that", strings.Join(elsewhere, " or "))
				} else {
					msg += fmt.Sprintf("; the keys here are %s", strings.Join(yamlKeys(t), ", "))
				}
				*msgs = append(*msgs, msg)
				continue
			}
			explainNode(v, f.Type, join(path, k.Value), msgs)
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			add("must be a mapping of names")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			explainNode(n.Content[i+1], t.Elem(), path+"["+n.Content[i].Value+"]", msgs)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			add("must be a list")
			return
		}
		for i, item := range n.Content {
			explainNode(item, t.Elem(), path+"["+strconv.Itoa(i)+"]", msgs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			add("must be a single value, not a mapping or a list")
			return
		}
		if n.Decode(reflect.New(t).Interface()) != nil {
			switch t.Kind() {
			case reflect.Bool:
				add("must be true or false")
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				add("must be a whole number")
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				add("must be a whole number, 0 or more")
			default:
				add("must be a %s", t.Kind())
			}
		}
	}
}

func keyOr(path string) string {
	if path == "" {
		return "(the top level)"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields returns t's fields by their YAML key, those of inlined structs too.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-" || !f.IsExported():
			continue
		case strings.Contains(opts, "inline"):
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		case name == "":
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

// yamlKeys returns t's YAML keys in the order of its fields.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "-" && name != "" && f.IsExported() {
			keys = append(keys, name)
		}
	}
	return keys
}

// findKey returns the paths of the mappings of t that have the key k (a map's
// entries shown as [name]).
func findKey(t reflect.Type, k, path string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Map || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Map {
			path += "[name]"
		} else if t.Kind() == reflect.Slice {
			path += "[N]"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == durationType {
		return nil
	}
	var out []string
	fields := yamlFields(t)
	if _, ok := fields[k]; ok && path != "" {
		out = append(out, path)
	}
	for _, name := range yamlKeys(t) {
		out = append(out, findKey(fields[name].Type, k, join(path, name))...)
	}
	return out
}

// nearest returns the key of keys closest to k, when it is close enough to be a
// slip of the keyboard, else "".
func nearest(k string, keys []string) string {
	best, bestD := "", 0
	for _, c := range keys {
		d := editDistance(strings.ToLower(k), c)
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(2, len(best)/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, by bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// badIndentation finds the first line of a block YAML text whose indentation
// fits none of the lines above it: indented under a key that already holds a
// value, or back to a column where no enclosing key is. yaml.v3 reports such a
// line where the block it breaks began; this names the line itself. It returns
// 0 when it finds none (the error is then of another kind).
func badIndentation(text string) (int, string) {
	var stack []int // the indentation of each open block, innermost last
	opens := true   // whether the previous line opened a block (a key with no value, a list item)
	inScalar := -1  // the indentation of the key whose block scalar (| or >) is being read, else -1
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		indent := len(line) - len(trimmed)
		if strings.HasPrefix(trimmed, "\t") {
			return i + 1, "a tab in the indentation: indent with spaces"
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || trimmed == "---" {
			continue
		}
		if inScalar >= 0 {
			if indent > inScalar {
				continue
			}
			inScalar = -1
		}
		top := -1
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch {
		case indent > top && !opens && top >= 0:
			return i + 1, "indented under a key that already has a value on the line above: " +
				"line it up with the keys above it, or give that key no value of its own"
		case indent > top:
			stack = append(stack, indent)
		case indent < top:
			for len(stack) > 0 && stack[len(stack)-1] > indent {
				stack = stack[:len(stack)-1]
			}
			if len(stack) == 0 || stack[len(stack)-1] != indent {
				return i + 1, "indented to a column where no key above it is: line it up with the keys it belongs with"
			}
		}
		content := trimmed
		// A list item: what follows "- " is a block one level further in.
		for strings.HasPrefix(content, "- ") || content == "-" {
			rest := strings.TrimLeft(strings.TrimPrefix(content, "-"), " ")
			indent += len(content) - len(rest)
			if rest == "" {
				break
			}
			stack = append(stack, indent)
			content = rest
		}
		value := stripComment(content)
		opens = strings.HasSuffix(value, ":") || value == "-" || strings.HasSuffix(value, " |") || strings.HasSuffix(value, " >")
		if strings.HasSuffix(value, "|") || strings.HasSuffix(value, ">") || strings.HasSuffix(value, "|-") || strings.HasSuffix(value, ">-") {
			inScalar, opens = indent, false
		}
	}
	return 0, ""
}

// stripComment removes a trailing " # comment" outside quotes.
func stripComment(s string) string {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && i > 0 && s[i-1] == ' ':
			return strings.TrimRight(s[:i], " ")
		}
	}
	return strings.TrimRight(s, " ")
}
