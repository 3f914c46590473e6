package routes

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/nightjar-sec/nightjar/internal/alert"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/zclconf/go-cty/cty"
)

// operand is one side of a comparison or a function argument: a record
// field, the Fluent Bit tag, or a literal.
type operand struct {
	path  string // record field path, resolved with record.Lookup
	tag   bool   // the Fluent Bit tag
	lit   *cty.Value
	rng   hcl.Range
	label string
}

// text returns the operand's value as text for one record.
func (o *operand) text(tag string, r *record.Record) ([]byte, bool) {
	if o.tag {
		return []byte(tag), true
	}
	v, ok := r.Lookup(o.path)
	if !ok {
		return nil, false
	}
	if s, ok := v.Str(); ok {
		return s, true
	}
	return []byte(v.Text()), true
}

func diag(rng hcl.Range, summary, format string, args ...any) hcl.Diagnostics {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng.Ptr()}}
}

// compileMatch compiles a match expression. The language is HCL expression
// syntax over record fields: comparisons (priority compares by Falco's
// order), &&, ||, !, parentheses and the functions contains, regex,
// startswith, endswith and exists.
func compileMatch(expr hcl.Expression) (Matcher, hcl.Diagnostics) {
	e, ok := expr.(hclsyntax.Expression)
	if !ok {
		return nil, diag(expr.Range(), "Invalid match", "match must be an HCL native-syntax expression.")
	}
	return compileBool(e)
}

func compileBool(e hclsyntax.Expression) (Matcher, hcl.Diagnostics) {
	switch e := e.(type) {
	case *hclsyntax.ParenthesesExpr:
		return compileBool(e.Expression)
	case *hclsyntax.LiteralValueExpr:
		if e.Val.Type() == cty.Bool && !e.Val.IsNull() {
			v := e.Val.True()
			return func(string, *record.Record) bool { return v }, nil
		}
	case *hclsyntax.UnaryOpExpr:
		if e.Op == hclsyntax.OpLogicalNot {
			m, d := compileBool(e.Val)
			if d.HasErrors() {
				return nil, d
			}
			return func(t string, r *record.Record) bool { return !m(t, r) }, nil
		}
	case *hclsyntax.BinaryOpExpr:
		switch e.Op {
		case hclsyntax.OpLogicalAnd, hclsyntax.OpLogicalOr:
			l, d := compileBool(e.LHS)
			r, d2 := compileBool(e.RHS)
			d = append(d, d2...)
			if d.HasErrors() {
				return nil, d
			}
			if e.Op == hclsyntax.OpLogicalAnd {
				return func(t string, rec *record.Record) bool { return l(t, rec) && r(t, rec) }, nil
			}
			return func(t string, rec *record.Record) bool { return l(t, rec) || r(t, rec) }, nil
		case hclsyntax.OpEqual, hclsyntax.OpNotEqual, hclsyntax.OpLessThan, hclsyntax.OpLessThanOrEqual,
			hclsyntax.OpGreaterThan, hclsyntax.OpGreaterThanOrEqual:
			return compileCompare(e)
		}
	case *hclsyntax.FunctionCallExpr:
		return compileCall(e)
	}
	return nil, diag(e.Range(), "Invalid match", "Expected a condition: a comparison, a function call (contains, regex, startswith, endswith, exists), or conditions joined with &&, || and !.")
}

func compileOperand(e hclsyntax.Expression) (*operand, hcl.Diagnostics) {
	o := &operand{rng: e.Range()}
	switch e := e.(type) {
	case *hclsyntax.ParenthesesExpr:
		return compileOperand(e.Expression)
	case *hclsyntax.LiteralValueExpr:
		v := e.Val
		o.lit = &v
		return o, nil
	case *hclsyntax.TemplateExpr:
		if e.IsStringLiteral() {
			v, d := e.Value(nil)
			if d.HasErrors() {
				return nil, d
			}
			o.lit = &v
			return o, nil
		}
	case *hclsyntax.ScopeTraversalExpr:
		var parts []string
		for _, step := range e.Traversal {
			switch s := step.(type) {
			case hcl.TraverseRoot:
				parts = append(parts, s.Name)
			case hcl.TraverseAttr:
				parts = append(parts, s.Name)
			case hcl.TraverseIndex:
				if s.Key.Type() != cty.String || s.Key.IsNull() {
					return nil, diag(e.Range(), "Invalid field", "Field keys in brackets must be strings, as in output_fields[\"k8s.ns.name\"].")
				}
				parts = append(parts, s.Key.AsString())
			default:
				return nil, diag(e.Range(), "Invalid field", "Unsupported traversal.")
			}
		}
		switch {
		case len(parts) == 1 && parts[0] == "tag":
			o.tag = true
		case parts[0] == "record" && len(parts) > 1:
			o.path = strings.Join(parts[1:], ".")
		default:
			o.path = strings.Join(parts, ".")
		}
		o.label = strings.Join(parts, ".")
		return o, nil
	}
	return nil, diag(e.Range(), "Invalid operand", "Expected a record field (priority, rule, output_fields[\"k8s.ns.name\"], ...), tag, or a literal.")
}

func compileCompare(e *hclsyntax.BinaryOpExpr) (Matcher, hcl.Diagnostics) {
	l, d := compileOperand(e.LHS)
	r, d2 := compileOperand(e.RHS)
	d = append(d, d2...)
	if d.HasErrors() {
		return nil, d
	}
	op := e.Op
	if l.lit != nil && r.lit == nil {
		l, r = r, l
		op = mirror(op)
	}
	if l.lit != nil {
		return nil, diag(e.Range(), "Invalid comparison", "At least one side must be a record field or tag.")
	}
	if r.lit == nil {
		// Field against field: compare as text.
		return func(tag string, rec *record.Record) bool {
			a, ok1 := l.text(tag, rec)
			b, ok2 := r.text(tag, rec)
			if !ok1 || !ok2 {
				return op == hclsyntax.OpNotEqual
			}
			return cmpResult(op, bytes.Compare(a, b))
		}, nil
	}
	lit := *r.lit
	if lit.IsNull() {
		return nil, diag(r.rng, "Invalid comparison", "Cannot compare with null; use exists(field).")
	}
	switch {
	case l.path == "priority" && lit.Type() == cty.String:
		want, err := alert.ParsePriority(lit.AsString())
		if err != nil {
			return nil, diag(r.rng, "Invalid priority", "%v.", err)
		}
		return func(_ string, rec *record.Record) bool {
			v, ok := rec.Lookup("priority")
			if !ok {
				return op == hclsyntax.OpNotEqual
			}
			s, _ := v.Str()
			got, ok := parsePriority(s)
			if !ok {
				return op == hclsyntax.OpNotEqual
			}
			// Lower Priority values are more severe, so "greater" means a
			// smaller number.
			return cmpResult(op, int(want)-int(got))
		}, nil
	case lit.Type() == cty.Number:
		want, _ := lit.AsBigFloat().Float64()
		return func(tag string, rec *record.Record) bool {
			s, ok := l.text(tag, rec)
			if !ok {
				return op == hclsyntax.OpNotEqual
			}
			got, err := strconv.ParseFloat(string(s), 64)
			if err != nil {
				return op == hclsyntax.OpNotEqual
			}
			switch {
			case got < want:
				return cmpResult(op, -1)
			case got > want:
				return cmpResult(op, 1)
			}
			return cmpResult(op, 0)
		}, nil
	case lit.Type() == cty.String || lit.Type() == cty.Bool:
		var want []byte
		if lit.Type() == cty.Bool {
			want = []byte(strconv.FormatBool(lit.True()))
		} else {
			want = []byte(lit.AsString())
		}
		return func(tag string, rec *record.Record) bool {
			s, ok := l.text(tag, rec)
			if !ok {
				return op == hclsyntax.OpNotEqual
			}
			return cmpResult(op, bytes.Compare(s, want))
		}, nil
	}
	return nil, diag(r.rng, "Invalid comparison", "Compare with a string, number or bool.")
}

// parsePriority parses a priority name case-insensitively without allocating.
func parsePriority(s []byte) (alert.Priority, bool) {
	for p := alert.PriorityEmergency; p <= alert.PriorityDebug; p++ {
		if bytes.EqualFold(s, []byte(p.String())) {
			return p, true
		}
	}
	switch {
	case bytes.EqualFold(s, []byte("info")):
		return alert.PriorityInformational, true
	case bytes.EqualFold(s, []byte("warn")):
		return alert.PriorityWarning, true
	}
	return 0, false
}

func mirror(op *hclsyntax.Operation) *hclsyntax.Operation {
	switch op {
	case hclsyntax.OpLessThan:
		return hclsyntax.OpGreaterThan
	case hclsyntax.OpLessThanOrEqual:
		return hclsyntax.OpGreaterThanOrEqual
	case hclsyntax.OpGreaterThan:
		return hclsyntax.OpLessThan
	case hclsyntax.OpGreaterThanOrEqual:
		return hclsyntax.OpLessThanOrEqual
	}
	return op
}

// cmpResult applies op to the sign of a three-way comparison c.
func cmpResult(op *hclsyntax.Operation, c int) bool {
	switch op {
	case hclsyntax.OpEqual:
		return c == 0
	case hclsyntax.OpNotEqual:
		return c != 0
	case hclsyntax.OpLessThan:
		return c < 0
	case hclsyntax.OpLessThanOrEqual:
		return c <= 0
	case hclsyntax.OpGreaterThan:
		return c > 0
	case hclsyntax.OpGreaterThanOrEqual:
		return c >= 0
	}
	return false
}

func compileCall(e *hclsyntax.FunctionCallExpr) (Matcher, hcl.Diagnostics) {
	wantArgs := map[string]int{"contains": 2, "regex": 2, "startswith": 2, "endswith": 2, "exists": 1}
	n, known := wantArgs[e.Name]
	if !known {
		return nil, diag(e.NameRange, "Unknown function", "%q is not a match function; use contains, regex, startswith, endswith or exists.", e.Name)
	}
	if len(e.Args) != n {
		return nil, diag(e.Range(), "Wrong number of arguments", "%s takes %d arguments.", e.Name, n)
	}
	field, d := compileOperand(e.Args[0])
	if d.HasErrors() {
		return nil, d
	}
	if field.lit != nil {
		return nil, diag(field.rng, "Invalid argument", "The first argument of %s must be a record field or tag.", e.Name)
	}
	if e.Name == "exists" {
		if field.tag {
			return func(string, *record.Record) bool { return true }, nil
		}
		return func(_ string, r *record.Record) bool { _, ok := r.Lookup(field.path); return ok }, nil
	}
	arg, d := compileOperand(e.Args[1])
	if d.HasErrors() {
		return nil, d
	}
	if arg.lit == nil || arg.lit.Type() != cty.String || arg.lit.IsNull() {
		return nil, diag(arg.rng, "Invalid argument", "The second argument of %s must be a string literal.", e.Name)
	}
	s := arg.lit.AsString()
	sb := []byte(s)
	switch e.Name {
	case "contains":
		return func(tag string, r *record.Record) bool {
			if field.tag {
				return strings.Contains(tag, s)
			}
			v, ok := r.Lookup(field.path)
			return ok && v.Contains(s)
		}, nil
	case "regex":
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, diag(arg.rng, "Invalid regular expression", "%v.", err)
		}
		return func(tag string, r *record.Record) bool {
			t, ok := field.text(tag, r)
			return ok && re.Match(t)
		}, nil
	case "startswith":
		return func(tag string, r *record.Record) bool {
			t, ok := field.text(tag, r)
			return ok && bytes.HasPrefix(t, sb)
		}, nil
	default: // endswith
		return func(tag string, r *record.Record) bool {
			t, ok := field.text(tag, r)
			return ok && bytes.HasSuffix(t, sb)
		}, nil
	}
}
