package rules

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/rules/condition"
	"github.com/nightjar-sec/nightjar/rules/fields"
)

// typeSet is a set of event types, one bit per event.Type.
type typeSet uint64

const allTypes = typeSet(1<<event.NumTypes-1) &^ 1 // every type but TypeUnknown

func (s typeSet) has(t event.Type) bool { return s&(1<<t) != 0 }

func (s typeSet) list() []event.Type {
	var out []event.Type
	for t := event.Type(1); t < event.NumTypes; t++ {
		if s.has(t) {
			out = append(out, t)
		}
	}
	return out
}

// compiled is a compiled (sub)condition with what is known about it ahead
// of any event.
type compiled struct {
	fn evalFunc
	// types holds the event types for which fn can be true.
	types typeSet
	// exact reports that fn is true exactly for the types in types.
	exact bool
	// konst is +1 when fn is always true, -1 when always false, else 0.
	konst int8
}

// owner is the item a condition belongs to, for error messages.
type owner struct {
	kind, name string
	text       text
}

func (o owner) errAt(off int, format string, args ...any) *Error {
	return &Error{Pos: o.text.pos(off), Kind: o.kind, Name: o.name, Msg: fmt.Sprintf(format, args...)}
}

type compiler struct {
	reg *fields.Registry
	// hostNames answers the fd.*ip.name comparisons (nil without a resolver).
	hostNames fields.HostNames
	defs      *definitions
	// parsed caches each macro's syntax tree (nil after a syntax error).
	parsed map[string]condition.Node
	// failed records macros whose compilation failed, with their first
	// error; failedUnknown those that failed only for unknown fields.
	failed        map[string]bool
	failedErr     map[string]*Error
	failedUnknown map[string]bool
	errs          []*Error
	warns         []*Error
	seen          map[string]bool // reported errors, to report each once
	// unavail collects unavailable fields used by the rule being compiled.
	unavail map[string]bool
	scratch *fields.Ctx
	// macros caches compiled macros; memoSlots counts the per-event
	// memo slots handed to them.
	macros    map[string]compiledMacro
	memoSlots int
}

type compiledMacro struct {
	compiled
	unavail []string
}

func newCompiler(reg *fields.Registry, defs *definitions) *compiler {
	return &compiler{
		reg: reg, defs: defs,
		parsed:        map[string]condition.Node{},
		failed:        map[string]bool{},
		failedErr:     map[string]*Error{},
		failedUnknown: map[string]bool{},
		seen:          map[string]bool{},
		scratch:       fields.NewCtx(""),
		macros:        map[string]compiledMacro{},
	}
}

func (c *compiler) report(e *Error) {
	k := e.Error()
	if c.seen[k] {
		return
	}
	c.seen[k] = true
	c.errs = append(c.errs, e)
}

// parse parses an item's condition, reporting syntax errors.
func (c *compiler) parse(o owner) (condition.Node, bool) {
	n, err := condition.Parse(o.text.String())
	if err != nil {
		var se *condition.Error
		if errors.As(err, &se) {
			c.report(o.errAt(se.Pos.Offset, "syntax error: %s", se.Msg))
		} else {
			c.report(o.errAt(0, "%v", err))
		}
		return nil, false
	}
	return n, true
}

// resolveList returns a list's items with nested list references expanded.
func (c *compiler) resolveList(l *listDef, stack []string) ([]string, bool) {
	switch l.state {
	case 2:
		return l.resolved, true
	case -1:
		return nil, false
	case 1:
		c.report(&Error{Pos: l.pos, Kind: "list", Name: l.name, Msg: "list refers to itself through " + strings.Join(append(stack, l.name), " -> ")})
		l.state = -1
		return nil, false
	}
	l.state = 1
	var out []string
	for _, it := range l.items {
		if sub, ok := c.defs.lists[it.scalar]; ok && sub != l {
			sub.used = true
			items, ok := c.resolveList(sub, append(stack, l.name))
			if !ok {
				l.state = -1
				return nil, false
			}
			out = append(out, items...)
			continue
		} else if ok && sub == l {
			c.report(&Error{Pos: it.pos, Kind: "list", Name: l.name, Msg: "list contains itself"})
			l.state = -1
			return nil, false
		}
		out = append(out, listItem(it.scalar))
	}
	l.resolved, l.state = out, 2
	return out, true
}

// listItem is a list item's value as Falco reads it: Falco splices items
// into the condition text, so a quoted item ("10.0.0.0/8", '(systemd)')
// is read as a quoted value and loses its quotes; any other item is taken
// as written.
func listItem(s string) string {
	if u, ok := condition.Unquote(s); ok {
		return u
	}
	return s
}

// compile compiles n, which belongs to o. stack holds the macros being
// expanded, for cycle detection.
func (c *compiler) compile(n condition.Node, o owner, stack []string) (compiled, bool) {
	switch n := n.(type) {
	case *condition.BinaryOp:
		parts := make([]compiled, 0, len(n.Ops))
		ok := true
		for _, op := range n.Ops {
			p, good := c.compile(op, o, stack)
			ok = ok && good
			parts = append(parts, p)
		}
		if !ok {
			return compiled{}, false
		}
		if n.Op == "and" {
			return and(parts), true
		}
		return or(parts), true
	case *condition.Not:
		x, ok := c.compile(n.X, o, stack)
		if !ok {
			return compiled{}, false
		}
		return not(x), true
	case *condition.Ref:
		return c.compileMacro(n, o, stack)
	case *condition.Compare:
		return c.compileCompare(n, o)
	}
	return compiled{}, false
}

func (c *compiler) compileMacro(n *condition.Ref, o owner, stack []string) (compiled, bool) {
	m, ok := c.defs.macros[n.Name]
	if !ok {
		if _, isList := c.defs.lists[n.Name]; isList {
			c.report(o.errAt(n.At.Offset, "%s is a list, not a macro; use it as the operand of in, e.g. proc.name in (%s)", n.Name, n.Name))
		} else {
			c.report(o.errAt(n.At.Offset, "unknown macro %s", n.Name))
		}
		return compiled{}, false
	}
	m.used = true
	for i, s := range stack {
		if s == n.Name {
			cycle := append(append([]string(nil), stack[i:]...), n.Name)
			c.report(o.errAt(n.At.Offset, "macro cycle: %s", strings.Join(cycle, " -> ")))
			c.failed[n.Name] = true
			return compiled{}, false
		}
	}
	if c.failed[n.Name] {
		c.reportMacroFailure(o, n)
		return compiled{}, false
	}
	if cm, ok := c.macros[n.Name]; ok {
		for _, f := range cm.unavail {
			if c.unavail != nil {
				c.unavail[f] = true
			}
		}
		return cm.compiled, true
	}
	mo := owner{kind: "macro", name: m.name, text: m.cond}
	tree, cached := c.parsed[n.Name]
	if !cached {
		var good bool
		n0 := len(c.errs)
		tree, good = c.parse(mo)
		if !good {
			c.failed[n.Name] = true
			if len(c.errs) > n0 {
				c.failedErr[n.Name] = c.errs[n0]
			}
			c.reportMacroFailure(o, n)
			return compiled{}, false
		}
		c.parsed[n.Name] = tree
	}
	outer := c.unavail
	c.unavail = map[string]bool{}
	n0 := len(c.errs)
	r, ok := c.compile(tree, mo, append(stack, n.Name))
	inner := c.unavail
	c.unavail = outer
	if !ok {
		c.failed[n.Name] = true
		unknown := len(c.errs) > n0
		for _, e := range c.errs[n0:] {
			unknown = unknown && e.unknown
		}
		c.failedUnknown[n.Name] = unknown
		if len(c.errs) > n0 {
			c.failedErr[n.Name] = c.errs[n0]
		}
		if len(stack) == 0 || stack[len(stack)-1] != n.Name {
			c.reportMacroFailure(o, n)
		}
		return compiled{}, false
	}
	for f := range inner {
		if outer != nil {
			outer[f] = true
		}
	}
	if !r.exact && r.konst == 0 {
		// Several rules evaluate the same macro on one event: compute it once.
		slot, body := c.memoSlots, r.fn
		c.memoSlots++
		r.fn = func(ctx *fields.Ctx) bool { return ctx.MemoBool(slot, body) }
	}
	c.macros[n.Name] = compiledMacro{compiled: r, unavail: sortedKeys(inner)}
	return r, true
}

// reportMacroFailure reports the use of a macro that did not compile,
// naming the macro's first error.
func (c *compiler) reportMacroFailure(o owner, n *condition.Ref) {
	e := o.errAt(n.At.Offset, "uses macro %s, which has errors", n.Name)
	if first := c.failedErr[n.Name]; first != nil {
		e.Msg += " (" + first.Pos.String() + ": " + first.Msg + ")"
	}
	e.unknown = c.failedUnknown[n.Name]
	c.report(e)
}

// operands returns the values of a comparison with list references
// expanded.
func (c *compiler) operands(n *condition.Compare, o owner) ([]string, []condition.Pos, bool) {
	if n.Op == "exists" {
		return nil, nil, true
	}
	if n.Value != nil {
		return []string{n.Value.Text}, []condition.Pos{n.Value.At}, true
	}
	expand := func(v condition.Value, vals *[]string, pos *[]condition.Pos) bool {
		l, ok := c.defs.lists[v.Text]
		if !ok || v.Quoted {
			*vals = append(*vals, v.Text)
			*pos = append(*pos, v.At)
			return true
		}
		l.used = true
		items, ok := c.resolveList(l, nil)
		if !ok {
			c.report(o.errAt(v.At.Offset, "uses list %s, which has errors", v.Text))
			return false
		}
		for _, it := range items {
			*vals = append(*vals, it)
			*pos = append(*pos, v.At)
		}
		return true
	}
	var vals []string
	var pos []condition.Pos
	if n.ListRef != nil {
		if _, ok := c.defs.lists[n.ListRef.Text]; !ok {
			c.report(o.errAt(n.ListRef.At.Offset, "unknown list %s", n.ListRef.Text))
			return nil, nil, false
		}
		if !expand(*n.ListRef, &vals, &pos) {
			return nil, nil, false
		}
		return vals, pos, true
	}
	for _, v := range n.List {
		if !expand(v, &vals, &pos) {
			return nil, nil, false
		}
	}
	return vals, pos, true
}

// resolveRef resolves a field reference with its transformers (outermost
// first).
func (c *compiler) resolveRef(field, arg string, hasArg bool, trans []string, at condition.Pos, o owner) (*fields.Extractor, bool) {
	x, err := c.reg.Resolve(field, arg, hasArg)
	if err != nil {
		e := o.errAt(at.Offset, "%v", err)
		e.unknown = errors.Is(err, fields.ErrUnknownField)
		c.report(e)
		return nil, false
	}
	for i := len(trans) - 1; i >= 0; i-- {
		if x, err = fields.Transform(trans[i], x); err != nil {
			c.report(o.errAt(at.Offset, "%v", err))
			return nil, false
		}
	}
	if x.Unavailable && c.unavail != nil {
		c.unavail[x.Name] = true
	}
	return x, true
}

func (c *compiler) compileCompare(n *condition.Compare, o owner) (compiled, bool) {
	x, ok := c.resolveRef(n.Field, n.Arg, n.HasArg, n.Transformers, n.At, o)
	if !ok {
		return compiled{}, false
	}
	if n.RHS != nil {
		y, ok := c.resolveRef(n.RHS.Field, n.RHS.Arg, n.RHS.HasArg, n.RHS.Transformers, n.RHS.At, o)
		if !ok {
			return compiled{}, false
		}
		fn, err := compileFieldCompare(x, n.Op, y)
		if err != nil {
			c.report(o.errAt(n.OpAt.Offset, "%v", err))
			return compiled{}, false
		}
		return compiled{fn: fn, types: allTypes}, true
	}
	vals, pos, ok := c.operands(n, o)
	if !ok {
		return compiled{}, false
	}
	if x.Name == "evt.type" && len(n.Transformers) == 0 {
		c.checkEventNames(vals, pos, o)
	}
	if condition.IsListOp(n.Op) && len(vals) == 0 && n.Op != "pmatch" {
		// Falco accepts an empty list; it matches nothing.
		return compiled{fn: func(*fields.Ctx) bool { return false }, konst: -1}, true
	}
	if x.HostIP != nil {
		fn, err := c.compileHostNames(x, n.Op, vals)
		if err != nil {
			c.report(o.errAt(n.OpAt.Offset, "%v", err))
			return compiled{}, false
		}
		return compiled{fn: fn, types: allTypes}, true
	}
	fn, err := compileCompare(x, n.Op, vals)
	if err != nil {
		var ve *valueError
		var oe *opError
		switch {
		case errors.As(err, &ve):
			c.report(o.errAt(pos[ve.index].Offset, "%s: %s", x.Name, ve.msg))
		case errors.As(err, &oe):
			c.report(o.errAt(n.OpAt.Offset, "%s", oe.msg))
		default:
			c.report(o.errAt(n.At.Offset, "%v", err))
		}
		return compiled{}, false
	}
	return c.analyse(x, fn), true
}

// checkEventNames warns of evt.type values that are not Falco event names.
// Falco drops such a name from the rule's event types, so a misspelt one
// (opneat) silently narrows what the rule can match, and a rule left with
// no event type draws its no-evttype warning; the warning here points at
// the value itself.
func (c *compiler) checkEventNames(vals []string, pos []condition.Pos, o owner) {
	for i, v := range vals {
		if _, ok := slices.BinarySearch(falcoEventNames, v); ok {
			continue
		}
		e := o.errAt(pos[i].Offset, "evt.type: unknown event type %q (not a Falco event name: it matches no event)", v)
		if !c.seen[e.Error()] {
			c.seen[e.Error()] = true
			c.warns = append(c.warns, e)
		}
	}
}

// compileHostNames compiles a comparison of an fd.*ip.name field with host
// names as Falco does: the names are resolved in the background and the
// event's address is checked against their addresses. Only =, != and in
// apply.
func (c *compiler) compileHostNames(x *fields.Extractor, op string, names []string) (evalFunc, error) {
	switch op {
	case "=", "==", "!=", "in":
	default:
		return nil, fmt.Errorf("operator %s does not apply to %s (only =, != and in: the names are resolved to addresses)", op, x.Name)
	}
	hosts := c.reg
	for _, n := range names {
		hosts.WantName(n)
	}
	ns := append([]string(nil), names...)
	has := c.hostNames
	if has == nil {
		// No resolver: the field is unavailable and the rule says so.
		return func(*fields.Ctx) bool { return false }, nil
	}
	get := x.HostIP
	match := func(fc *fields.Ctx) (bool, bool) {
		ip, ok := get(fc)
		if !ok {
			return false, false
		}
		for _, n := range ns {
			if has.Has(n, ip) {
				return true, true
			}
		}
		return false, true
	}
	if op == "!=" {
		return func(fc *fields.Ctx) bool { m, ok := match(fc); return ok && !m }, nil
	}
	return func(fc *fields.Ctx) bool { m, _ := match(fc); return m }, nil
}

// analyse works out, ahead of events, what a comparison says about the
// event type: a comparison on evt.type is true for a fixed set of types,
// one on evt.dir is constant (events are exit events).
func (c *compiler) analyse(x *fields.Extractor, fn evalFunc) compiled {
	switch x.Name {
	case "evt.type":
		var set typeSet
		ev := &event.Event{}
		for t := event.Type(1); t < event.NumTypes; t++ {
			ev.Type = t
			c.scratch.Reset(ev)
			if fn(c.scratch) {
				set |= 1 << t
			}
		}
		return typeCheck(set)
	case "evt.dir":
		c.scratch.Reset(&event.Event{})
		if fn(c.scratch) {
			return compiled{fn: fn, types: allTypes, konst: 1}
		}
		return compiled{fn: fn, konst: -1}
	}
	return compiled{fn: fn, types: allTypes}
}

func typeCheck(set typeSet) compiled {
	return compiled{
		fn:    func(c *fields.Ctx) bool { return set&(1<<c.Ev.Type) != 0 },
		types: set, exact: true,
	}
}

func and(parts []compiled) compiled {
	res := compiled{types: allTypes, exact: true, konst: 1}
	var fns []evalFunc
	for _, p := range parts {
		switch p.konst {
		case -1:
			return compiled{fn: func(*fields.Ctx) bool { return false }, konst: -1}
		case 1:
			continue
		}
		res.types &= p.types
		res.exact = res.exact && p.exact
		res.konst = 0
		fns = append(fns, p.fn)
	}
	switch {
	case res.konst == 1:
		res.fn = func(*fields.Ctx) bool { return true }
	case res.exact:
		return typeCheck(res.types)
	default:
		res.fn = andFns(fns)
	}
	return res
}

func or(parts []compiled) compiled {
	res := compiled{exact: true, konst: -1}
	var fns []evalFunc
	for _, p := range parts {
		switch p.konst {
		case 1:
			return compiled{fn: func(*fields.Ctx) bool { return true }, types: allTypes, konst: 1}
		case -1:
			continue
		}
		res.types |= p.types
		res.exact = res.exact && p.exact
		res.konst = 0
		fns = append(fns, p.fn)
	}
	switch {
	case res.konst == -1:
		res.fn = func(*fields.Ctx) bool { return false }
	case res.exact:
		return typeCheck(res.types)
	default:
		res.fn = orFns(fns)
	}
	return res
}

func not(x compiled) compiled {
	switch {
	case x.konst != 0:
		r := compiled{konst: -x.konst}
		k := r.konst == 1
		r.fn = func(*fields.Ctx) bool { return k }
		if k {
			r.types = allTypes
		}
		return r
	case x.exact:
		return typeCheck(allTypes &^ x.types)
	}
	f := x.fn
	return compiled{fn: func(c *fields.Ctx) bool { return !f(c) }, types: allTypes}
}

func andFns(fns []evalFunc) evalFunc {
	switch len(fns) {
	case 1:
		return fns[0]
	case 2:
		a, b := fns[0], fns[1]
		return func(c *fields.Ctx) bool { return a(c) && b(c) }
	case 3:
		a, b, d := fns[0], fns[1], fns[2]
		return func(c *fields.Ctx) bool { return a(c) && b(c) && d(c) }
	}
	return func(c *fields.Ctx) bool {
		for _, f := range fns {
			if !f(c) {
				return false
			}
		}
		return true
	}
}

func orFns(fns []evalFunc) evalFunc {
	switch len(fns) {
	case 1:
		return fns[0]
	case 2:
		a, b := fns[0], fns[1]
		return func(c *fields.Ctx) bool { return a(c) || b(c) }
	case 3:
		a, b, d := fns[0], fns[1], fns[2]
		return func(c *fields.Ctx) bool { return a(c) || b(c) || d(c) }
	}
	return func(c *fields.Ctx) bool {
		for _, f := range fns {
			if f(c) {
				return true
			}
		}
		return false
	}
}

// compileExceptions compiles a rule's exceptions into one condition that
// is true when any exception matches (the rule then does not fire).
func (c *compiler) compileExceptions(r *ruleDef) (evalFunc, bool) {
	var alts []evalFunc
	ok := true
	errf := func(pos Position, format string, args ...any) {
		c.report(&Error{Pos: pos, Kind: "rule", Name: r.name, Msg: fmt.Sprintf(format, args...)})
		ok = false
	}
	for _, x := range r.exceptions {
		exs := make([]*fields.Extractor, len(x.fields))
		comps := make([]string, len(x.fields))
		for i, f := range x.fields {
			ex, err := c.reg.Resolve(splitFieldArg(f.scalar))
			if err != nil {
				errf(f.pos, "exception %s: %v", x.name, err)
				continue
			}
			if ex.HostIP != nil {
				errf(f.pos, "exception %s: %s cannot be an exception field", x.name, ex.Name)
				continue
			}
			if ex.Unavailable && c.unavail != nil {
				c.unavail[ex.Name] = true
			}
			exs[i] = ex
			comps[i] = "="
			if !x.fieldsList {
				comps[i] = "in"
			}
			if i < len(x.comps) {
				comps[i] = x.comps[i].scalar
				if !validOp(comps[i]) {
					errf(x.comps[i].pos, "exception %s: unknown comparison operator %q", x.name, comps[i])
				}
			}
		}
		if !ok {
			continue
		}
		if !x.fieldsList {
			// One field: values is the operand list of the single comparison.
			vals, good := c.exceptionValues(r, x, x.values, comps[0])
			if !good {
				ok = false
				continue
			}
			if len(x.values) == 0 {
				continue
			}
			fn, err := compileCompare(exs[0], comps[0], vals)
			if err != nil {
				errf(x.pos, "exception %s: %v", x.name, err)
				continue
			}
			alts = append(alts, fn)
			continue
		}
		for _, tuple := range x.values {
			if tuple.kind != seqNode {
				errf(tuple.pos, "exception %s: each value must be a list of %d values, one per field", x.name, len(exs))
				continue
			}
			if len(tuple.items) != len(exs) {
				errf(tuple.pos, "exception %s: %d values for %d fields", x.name, len(tuple.items), len(exs))
				continue
			}
			var conj []evalFunc
			for i, v := range tuple.items {
				var vals []string
				if condition.IsListOp(comps[i]) {
					var good bool
					items := []*node{v}
					if v.kind == seqNode {
						items = v.items
					}
					vals, good = c.exceptionValues(r, x, items, comps[i])
					if !good {
						ok = false
						continue
					}
				} else {
					if v.kind != scalarNode {
						errf(v.pos, "exception %s: operator %s takes a single value", x.name, comps[i])
						continue
					}
					vals = []string{listItem(v.scalar)}
				}
				fn, err := compileCompare(exs[i], comps[i], vals)
				if err != nil {
					errf(v.pos, "exception %s: %v", x.name, err)
					continue
				}
				conj = append(conj, fn)
			}
			if len(conj) == len(exs) {
				alts = append(alts, andFns(conj))
			}
		}
	}
	if !ok {
		return nil, false
	}
	if len(alts) == 0 {
		return nil, true
	}
	return orFns(alts), true
}

func (c *compiler) exceptionValues(r *ruleDef, x *exceptionDef, items []*node, op string) ([]string, bool) {
	var out []string
	for _, v := range items {
		if v.kind != scalarNode {
			c.report(&Error{Pos: v.pos, Kind: "rule", Name: r.name, Msg: fmt.Sprintf("exception %s: values for %s must be strings", x.name, op)})
			return nil, false
		}
		if l, ok := c.defs.lists[v.scalar]; ok {
			l.used = true
			items, ok := c.resolveList(l, nil)
			if !ok {
				return nil, false
			}
			out = append(out, items...)
			continue
		}
		out = append(out, listItem(v.scalar))
	}
	return out, true
}

func validOp(op string) bool {
	for _, o := range condition.Operators() {
		if o == op {
			return true
		}
	}
	return false
}

// splitFieldArg splits "proc.aname[2]" into name and bracket argument.
func splitFieldArg(s string) (string, string, bool) {
	if i := strings.IndexByte(s, '['); i > 0 && strings.HasSuffix(s, "]") {
		return s[:i], s[i+1 : len(s)-1], true
	}
	return s, "", false
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
