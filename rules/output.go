package rules

import (
	"errors"
	"strings"

	"github.com/nightjar-sec/nightjar/rules/fields"
)

// template is a compiled output: literal text and fields, alternating.
type template struct {
	lits   []string // len(lits) == len(fields)+1
	fields []*fields.Extractor
}

func (t *template) render(dst []byte, c *fields.Ctx) []byte {
	for i, f := range t.fields {
		dst = append(dst, t.lits[i]...)
		dst = f.AppendText(dst, c)
	}
	return append(dst, t.lits[len(t.lits)-1]...)
}

// empty reports whether the template renders nothing, so Render adds no
// separator for it.
func (t *template) empty() bool { return len(t.fields) == 0 && t.lits[0] == "" }

func (t *template) values(c *fields.Ctx) map[string]any {
	m := make(map[string]any, len(t.fields))
	for _, f := range t.fields {
		m[f.Name] = f.Value(c)
	}
	return m
}

func isFieldChar(c byte) bool {
	return c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// compileOutput parses "%field" references in a rule's output. A field
// name may carry an argument in brackets (%proc.aname[2]); trailing dots
// end a sentence rather than belong to the field.
func (c *compiler) compileOutput(r *ruleDef) (*template, bool) {
	s := r.output.String() // without the newline of a YAML block; see text
	o := owner{kind: "rule", name: r.name, text: r.output}
	t := &template{}
	var lit strings.Builder
	ok := true
	for i := 0; i < len(s); {
		if s[i] != '%' || i+1 >= len(s) || !isFieldChar(s[i+1]) {
			lit.WriteByte(s[i])
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isFieldChar(s[j]) {
			j++
		}
		name := s[i+1 : j]
		arg, hasArg := "", false
		if j < len(s) && s[j] == '[' {
			if k := strings.IndexByte(s[j:], ']'); k > 0 {
				arg, hasArg = s[j+1:j+k], true
				j += k + 1
			}
		}
		trimmed := strings.TrimRight(name, ".")
		if !hasArg && trimmed != name {
			j -= len(name) - len(trimmed)
			name = trimmed
		}
		if name == "container.info" && !hasArg {
			// Falco drops its old %container.info shorthand, with a warning.
			c.warns = append(c.warns, o.errAt(i, "output: %%container.info is deprecated and dropped from the output"))
			i = j
			continue
		}
		x, err := c.reg.Resolve(name, arg, hasArg)
		if err != nil {
			e := o.errAt(i, "output: %v", err)
			e.unknown = errors.Is(err, fields.ErrUnknownField)
			c.report(e)
			ok = false
			i = j
			continue
		}
		if x.Unavailable {
			c.unavail[x.Name] = true
		}
		t.lits = append(t.lits, lit.String())
		lit.Reset()
		t.fields = append(t.fields, x)
		i = j
	}
	t.lits = append(t.lits, lit.String())
	return t, ok
}
