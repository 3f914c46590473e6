package destination

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/zclconf/go-cty/cty"
)

// Template is a string with "{{ path }}" placeholders filled from a record,
// such as "/nightjar/{{ output_fields.k8s.ns.name }}". Paths resolve as in
// record.Lookup; "tag" is the chunk's Fluent Bit tag and "record.<path>" a
// field whatever its name; a missing field renders as Missing.
type Template struct {
	parts []templatePart
	text  string // the whole template when it has no placeholders
}

type templatePart struct {
	literal string
	path    string // set for placeholders
	tag     bool   // the placeholder is the Fluent Bit tag
}

// Missing is what a placeholder renders as when its field is absent or empty.
const Missing = "unknown"

// ParseTemplate parses s.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{}
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if strings.Contains(rest, "}}") {
				return nil, fmt.Errorf("template %q: \"}}\" without \"{{\"", s)
			}
			if rest != "" {
				t.parts = append(t.parts, templatePart{literal: rest})
			}
			break
		}
		if i > 0 {
			t.parts = append(t.parts, templatePart{literal: rest[:i]})
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("template %q: unclosed \"{{\"", s)
		}
		path := strings.TrimSpace(rest[i+2 : i+j])
		if path == "" || strings.ContainsAny(path, " {}") {
			return nil, fmt.Errorf("template %q: placeholder %q is not a field path", s, rest[i:i+j+2])
		}
		switch {
		case path == "tag":
			t.parts = append(t.parts, templatePart{path: path, tag: true})
		case strings.HasPrefix(path, "record.") && len(path) > len("record."):
			t.parts = append(t.parts, templatePart{path: path[len("record."):]})
		default:
			t.parts = append(t.parts, templatePart{path: path})
		}
		rest = rest[i+j+2:]
	}
	if len(t.parts) == 0 || (len(t.parts) == 1 && t.parts[0].path == "") {
		t.text = s
		t.parts = nil
	}
	return t, nil
}

// Static returns the template's text when it has no placeholders.
func (t *Template) Static() (string, bool) { return t.text, t.parts == nil }

// Render fills the placeholders from r, which arrived with Fluent Bit tag;
// a field that is absent or empty renders as Missing.
func (t *Template) Render(tag string, r *record.Record) string {
	s, _ := t.fill(tag, r, false)
	return s
}

// TemplateAttr evaluates expr (a string attribute) and parses it as a
// template. A nil expr or an absent attribute gives def.
func TemplateAttr(expr hcl.Expression, ectx *hcl.EvalContext, def string) (*Template, hcl.Diagnostics) {
	s := def
	if expr != nil {
		v, diags := expr.Value(ectx)
		if diags.HasErrors() {
			return nil, diags
		}
		if !v.IsNull() {
			if v.Type() != cty.String || !v.IsKnown() {
				return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid template", Detail: "A string is required.", Subject: expr.Range().Ptr()}}
			}
			s = v.AsString()
		}
	}
	t, err := ParseTemplate(s)
	if err != nil {
		r := hcl.Range{}
		if expr != nil {
			r = expr.Range()
		}
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid template", Detail: err.Error(), Subject: &r}}
	}
	return t, nil
}

// Try fills the placeholders like Render and reports whether every field
// was present and not empty.
func (t *Template) Try(tag string, r *record.Record) (string, bool) { return t.fill(tag, r, true) }

// fill renders the template; strict gives up at the first absent or empty
// field instead of writing Missing.
func (t *Template) fill(tag string, r *record.Record, strict bool) (string, bool) {
	if t.parts == nil {
		return t.text, true
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.path == "" {
			b.WriteString(p.literal)
			continue
		}
		s := tag
		if !p.tag {
			s = ""
			if v, ok := r.Lookup(p.path); ok {
				s = v.Text()
			}
		}
		if s == "" {
			if strict {
				return "", false
			}
			s = Missing
		}
		b.WriteString(s)
	}
	return b.String(), true
}
