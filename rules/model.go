package rules

import (
	"fmt"
	"strings"

	"github.com/nightjar-sec/nightjar/internal/alert"
)

// text is a condition or output assembled from one or more file values
// (appends join them with a space, as Falco does), able to map an offset
// back to the file. Each value's trailing whitespace is dropped, as Falco
// trims them: a folded or literal YAML block ends in a newline that is not
// part of the text and would otherwise sit where an append joins it.
type text struct {
	parts []textPart
}

type textPart struct {
	off int // offset of the part in String()
	val *node
}

func newText(n *node) text { return text{parts: []textPart{{0, n}}} }

func (t text) String() string {
	var b strings.Builder
	for i, p := range t.parts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(trimEnd(p.val.scalar))
	}
	return b.String()
}

func trimEnd(s string) string { return strings.TrimRight(s, " \t\r\n") }

func (t text) appended(n *node) text {
	s := t.String()
	parts := append(append([]textPart(nil), t.parts...), textPart{off: len(s) + 1, val: n})
	return text{parts: parts}
}

// pos maps an offset of String() to the file.
func (t text) pos(off int) Position {
	for i := len(t.parts) - 1; i >= 0; i-- {
		p := t.parts[i]
		if off >= p.off || i == 0 {
			rel := off - p.off
			if rel < 0 {
				rel = 0
			}
			if p.val.text != nil {
				return p.val.text.pos(rel)
			}
			return p.val.pos
		}
	}
	return Position{}
}

type listDef struct {
	name  string
	pos   Position
	items []*node
	used  bool
	// resolved holds the items with nested list references expanded.
	resolved []string
	state    int8 // 0 unresolved, 1 resolving, 2 done, -1 failed
}

type macroDef struct {
	name   string
	pos    Position
	cond   text
	source string
	used   bool
}

type exceptionDef struct {
	name       string
	pos        Position
	fields     []*node // one or more field names
	fieldsList bool    // fields was written as a list
	comps      []*node
	values     []*node // value tuples (or, with a single field, values)
}

type ruleDef struct {
	name       string
	pos        Position
	file       string
	cond       text
	output     text
	desc       string
	priority   alert.Priority
	priPos     Position
	tags       []string
	enabled    bool
	source     string
	exceptions []*exceptionDef
	// noWarnTypes is warn_evttypes: false.
	noWarnTypes bool
}

// definitions is every list, macro and rule read so far, in order of first
// definition, with overrides applied.
type definitions struct {
	lists      map[string]*listDef
	macros     map[string]*macroDef
	rules      map[string]*ruleDef
	ruleOrder  []string
	listOrder  []string
	macroOrder []string
	errs       []*Error
	warns      []*Error
	// seen records the file that defined each item, for duplicate checks.
	seen map[string]string
}

func newDefinitions() *definitions {
	return &definitions{
		lists:  map[string]*listDef{},
		macros: map[string]*macroDef{},
		rules:  map[string]*ruleDef{},
		seen:   map[string]string{},
	}
}

func (d *definitions) errorf(pos Position, kind, name, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: pos, Kind: kind, Name: name, Msg: fmt.Sprintf(format, args...)})
}

func (d *definitions) warnf(pos Position, kind, name, format string, args ...any) {
	d.warns = append(d.warns, &Error{Pos: pos, Kind: kind, Name: name, Msg: fmt.Sprintf(format, args...)})
}

// Keys each item kind accepts, and which of them an override may append to
// or replace (Falco's rules).
var (
	ruleKeys = map[string]bool{
		"rule": true, "condition": true, "output": true, "desc": true, "priority": true, "tags": true,
		"enabled": true, "source": true, "exceptions": true, "append": true, "override": true,
		"warn_evttypes": true, "skip-if-unknown-filter": true, "capture": true, "capture_duration": true,
	}
	macroKeys = map[string]bool{"macro": true, "condition": true, "append": true, "override": true, "source": true}
	listKeys  = map[string]bool{"list": true, "items": true, "append": true, "override": true, "source": true}

	overrideAppend = map[string]map[string]bool{
		"rule":  {"condition": true, "output": true, "desc": true, "tags": true, "exceptions": true},
		"macro": {"condition": true},
		"list":  {"items": true},
	}
	overrideReplace = map[string]map[string]bool{
		"rule": {"condition": true, "output": true, "desc": true, "priority": true, "tags": true,
			"exceptions": true, "enabled": true, "source": true, "warn_evttypes": true, "skip-if-unknown-filter": true},
		"macro": {"condition": true},
		"list":  {"items": true},
	}
)

// add reads one document's items into d.
func (d *definitions) add(file string, doc *node) {
	switch doc.kind {
	case nullNode:
		return
	case seqNode:
	default:
		d.errorf(doc.pos, "", "", "a rules file is a list of rule, macro and list items, found %s", doc.kind)
		return
	}
	for _, it := range doc.items {
		if it.kind != mapNode {
			d.errorf(it.pos, "", "", "item must be a mapping with a rule, macro or list key, found %s", it.kind)
			continue
		}
		switch {
		case it.get("rule") != nil:
			d.addRule(file, it)
		case it.get("macro") != nil:
			d.addMacro(file, it)
		case it.get("list") != nil:
			d.addList(file, it)
		case it.get("required_engine_version") != nil:
		case it.get("required_plugin_versions") != nil:
			d.warnf(it.pos, "", "", "required_plugin_versions ignored: nightjar loads no plugins")
		default:
			key := ""
			if len(it.keys) > 0 {
				key = it.keys[0].scalar
			}
			d.errorf(it.pos, "", "", "unknown item %q (want rule, macro, list, required_engine_version or required_plugin_versions)", key)
		}
	}
}

// header checks an item's name and keys and returns its name, its override
// modes (key → append|replace) and whether it appends the legacy way.
func (d *definitions) header(kind string, it *node, allowed map[string]bool) (name string, override map[string]string, legacy, ok bool) {
	n := it.get(kind)
	if n.kind != scalarNode || strings.TrimSpace(n.scalar) == "" {
		d.errorf(n.pos, kind, "", "%s name must be a non-empty string", kind)
		return "", nil, false, false
	}
	name = n.scalar
	ok = true
	for _, k := range it.keys {
		if !allowed[k.scalar] {
			d.errorf(k.pos, kind, name, "unknown key %q", k.scalar)
			ok = false
		}
	}
	if a := it.get("append"); a != nil {
		b, good := boolValue(a)
		if !good {
			d.errorf(a.pos, kind, name, "append must be true or false, found %q", a.scalar)
			ok = false
		}
		legacy = b
	}
	if o := it.get("override"); o != nil {
		if legacy {
			d.errorf(o.pos, kind, name, "override and append: true cannot be used together")
			return name, nil, false, false
		}
		if o.kind != mapNode {
			d.errorf(o.pos, kind, name, "override must be a mapping of key to append or replace")
			return name, nil, false, false
		}
		override = map[string]string{}
		for i, k := range o.keys {
			v := o.items[i]
			mode := v.scalar
			switch {
			case v.kind != scalarNode || (mode != "append" && mode != "replace"):
				d.errorf(v.pos, kind, name, "override of %s must be append or replace, found %q", k.scalar, v.scalar)
				ok = false
			case mode == "append" && !overrideAppend[kind][k.scalar]:
				d.errorf(v.pos, kind, name, "%s cannot be overridden with append", k.scalar)
				ok = false
			case mode == "replace" && !overrideReplace[kind][k.scalar]:
				d.errorf(v.pos, kind, name, "%s cannot be overridden with replace", k.scalar)
				ok = false
			case it.get(k.scalar) == nil:
				d.errorf(k.pos, kind, name, "override names %s but the item has no %s key", k.scalar, k.scalar)
				ok = false
			}
			override[k.scalar] = mode
		}
		for _, k := range it.keys {
			switch k.scalar {
			case kind, "override":
				continue
			}
			if _, listed := override[k.scalar]; !listed {
				d.errorf(k.pos, kind, name, "key %s must be listed in override (append or replace) when overriding", k.scalar)
				ok = false
			}
		}
	}
	return name, override, legacy, ok
}

func boolValue(n *node) (bool, bool) {
	if n.kind != scalarNode {
		return false, false
	}
	switch strings.ToLower(n.scalar) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

func stringValue(d *definitions, kind, name, key string, n *node) (string, bool) {
	if n.kind != scalarNode {
		d.errorf(n.pos, kind, name, "%s must be a string, found %s", key, n.kind)
		return "", false
	}
	return n.scalar, true
}

func stringList(d *definitions, kind, name, key string, n *node) ([]*node, bool) {
	if n.kind == nullNode {
		return nil, true
	}
	if n.kind != seqNode {
		d.errorf(n.pos, kind, name, "%s must be a list, found %s", key, n.kind)
		return nil, false
	}
	for _, it := range n.items {
		if it.kind != scalarNode {
			d.errorf(it.pos, kind, name, "%s entries must be strings, found %s", key, it.kind)
			return nil, false
		}
	}
	return n.items, true
}

// checkDuplicate reports a second definition in the same file that does
// not override the first; across files a later definition replaces an
// earlier one, as in Falco.
func (d *definitions) checkDuplicate(kind, name, file string, pos Position) bool {
	key := kind + "\x00" + name
	if f, ok := d.seen[key]; ok && f == file {
		d.errorf(pos, kind, name, "%s %q is already defined in this file; use override to change it", kind, name)
		return false
	}
	d.seen[key] = file
	return true
}

func (d *definitions) addList(file string, it *node) {
	name, override, legacy, ok := d.header("list", it, listKeys)
	if !ok {
		return
	}
	itemsNode := it.get("items")
	if itemsNode == nil {
		d.errorf(it.pos, "list", name, "missing required key items")
		return
	}
	items, ok := stringList(d, "list", name, "items", itemsNode)
	if !ok {
		return
	}
	prev := d.lists[name]
	if legacy || override != nil {
		if prev == nil {
			d.errorf(it.pos, "list", name, "overrides list %q, which is not defined before", name)
			return
		}
		if legacy || override["items"] == "append" {
			prev.items = append(prev.items, items...)
		} else {
			prev.items = items
		}
		return
	}
	if !d.checkDuplicate("list", name, file, it.pos) {
		return
	}
	if prev == nil {
		d.listOrder = append(d.listOrder, name)
	}
	d.lists[name] = &listDef{name: name, pos: it.pos, items: items}
}

func (d *definitions) addMacro(file string, it *node) {
	name, override, legacy, ok := d.header("macro", it, macroKeys)
	if !ok {
		return
	}
	cn := it.get("condition")
	if cn == nil {
		d.errorf(it.pos, "macro", name, "missing required key condition")
		return
	}
	if _, ok := stringValue(d, "macro", name, "condition", cn); !ok {
		return
	}
	source := "syscall"
	if s := it.get("source"); s != nil {
		source = s.scalar
	}
	prev := d.macros[name]
	if legacy || override != nil {
		if prev == nil {
			d.errorf(it.pos, "macro", name, "overrides macro %q, which is not defined before", name)
			return
		}
		if legacy || override["condition"] == "append" {
			prev.cond = prev.cond.appended(cn)
		} else {
			prev.cond = newText(cn)
		}
		return
	}
	if !d.checkDuplicate("macro", name, file, it.pos) {
		return
	}
	if prev == nil {
		d.macroOrder = append(d.macroOrder, name)
	}
	d.macros[name] = &macroDef{name: name, pos: it.pos, cond: newText(cn), source: source}
}

func (d *definitions) addRule(file string, it *node) {
	name, override, legacy, ok := d.header("rule", it, ruleKeys)
	if !ok {
		return
	}
	prev := d.rules[name]
	// A rule item with only an enabled key toggles an existing rule
	// (Falco's older form of override: enabled: replace).
	if override == nil && !legacy && it.get("condition") == nil && it.get("enabled") != nil && len(it.keys) == 2 {
		if prev == nil {
			d.errorf(it.pos, "rule", name, "sets enabled on rule %q, which is not defined before", name)
			return
		}
		if b, good := boolValue(it.get("enabled")); good {
			prev.enabled = b
		} else {
			d.errorf(it.get("enabled").pos, "rule", name, "enabled must be true or false")
		}
		return
	}
	if legacy || override != nil {
		if prev == nil {
			d.errorf(it.pos, "rule", name, "overrides rule %q, which is not defined before", name)
			return
		}
		modes := override
		if legacy {
			modes = map[string]string{}
			for _, k := range it.keys {
				switch k.scalar {
				case "rule", "append":
				case "condition", "output", "desc", "exceptions", "tags":
					modes[k.scalar] = "append"
				default:
					d.errorf(k.pos, "rule", name, "%s cannot be appended to (append: true appends condition, output, desc, tags and exceptions)", k.scalar)
					return
				}
			}
		}
		d.applyRuleOverride(prev, it, modes)
		return
	}
	r := &ruleDef{name: name, pos: it.pos, file: file, enabled: true, source: "syscall"}
	good := true
	for _, key := range []string{"condition", "output", "desc", "priority"} {
		if it.get(key) == nil {
			d.errorf(it.pos, "rule", name, "missing required key %s", key)
			good = false
		}
	}
	if !good {
		return
	}
	d.setRuleFields(r, it, nil)
	if !d.checkDuplicate("rule", name, file, it.pos) {
		return
	}
	if prev == nil {
		d.ruleOrder = append(d.ruleOrder, name)
	}
	d.rules[name] = r
}

// setRuleFields sets r's fields from it; modes says which keys append.
func (d *definitions) setRuleFields(r *ruleDef, it *node, modes map[string]string) {
	name := r.name
	for i, k := range it.keys {
		v := it.items[i]
		appendMode := modes[k.scalar] == "append"
		switch k.scalar {
		case "condition", "output":
			if _, ok := stringValue(d, "rule", name, k.scalar, v); !ok {
				continue
			}
			t := &r.cond
			if k.scalar == "output" {
				t = &r.output
			}
			if appendMode && len(t.parts) > 0 {
				*t = t.appended(v)
			} else {
				*t = newText(v)
			}
		case "desc":
			if s, ok := stringValue(d, "rule", name, k.scalar, v); ok {
				s = strings.TrimSpace(s)
				if appendMode && r.desc != "" {
					r.desc += " " + s
				} else {
					r.desc = s
				}
			}
		case "priority":
			if s, ok := stringValue(d, "rule", name, k.scalar, v); ok {
				p, err := alert.ParsePriority(s)
				if err != nil {
					d.errorf(v.pos, "rule", name, "%v", err)
					continue
				}
				r.priority, r.priPos = p, v.pos
			}
		case "tags":
			tags, ok := stringList(d, "rule", name, "tags", v)
			if !ok {
				continue
			}
			if !appendMode {
				r.tags = nil
			}
			for _, t := range tags {
				if !contains(r.tags, t.scalar) {
					r.tags = append(r.tags, t.scalar)
				}
			}
		case "enabled":
			b, ok := boolValue(v)
			if !ok {
				d.errorf(v.pos, "rule", name, "enabled must be true or false, found %q", v.scalar)
				continue
			}
			r.enabled = b
		case "source":
			if s, ok := stringValue(d, "rule", name, k.scalar, v); ok {
				r.source = s
			}
		case "exceptions":
			d.setExceptions(r, v, appendMode)
		case "warn_evttypes", "skip-if-unknown-filter":
			b, ok := boolValue(v)
			if !ok {
				d.errorf(v.pos, "rule", name, "%s must be true or false", k.scalar)
				continue
			}
			if k.scalar == "warn_evttypes" {
				r.noWarnTypes = !b
			}
		}
	}
}

func (d *definitions) applyRuleOverride(r *ruleDef, it *node, modes map[string]string) {
	d.setRuleFields(r, it, modes)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (d *definitions) setExceptions(r *ruleDef, v *node, appendMode bool) {
	if v.kind == nullNode {
		if !appendMode {
			r.exceptions = nil
		}
		return
	}
	if v.kind != seqNode {
		d.errorf(v.pos, "rule", r.name, "exceptions must be a list, found %s", v.kind)
		return
	}
	if !appendMode {
		r.exceptions = nil
	}
	for _, e := range v.items {
		if e.kind != mapNode {
			d.errorf(e.pos, "rule", r.name, "exception must be a mapping, found %s", e.kind)
			continue
		}
		for _, k := range e.keys {
			switch k.scalar {
			case "name", "fields", "comps", "values":
			default:
				d.errorf(k.pos, "rule", r.name, "unknown exception key %q", k.scalar)
			}
		}
		nn := e.get("name")
		if nn == nil || nn.kind != scalarNode || nn.scalar == "" {
			d.errorf(e.pos, "rule", r.name, "exception needs a name")
			continue
		}
		var existing *exceptionDef
		for _, x := range r.exceptions {
			if x.name == nn.scalar {
				existing = x
			}
		}
		values := e.get("values")
		var vals []*node
		if values != nil {
			if values.kind != seqNode && values.kind != nullNode {
				d.errorf(values.pos, "rule", r.name, "exception %s: values must be a list, found %s", nn.scalar, values.kind)
				continue
			}
			vals = values.items
		}
		if existing != nil && appendMode {
			// Appending to an exception of the same name adds values.
			if e.get("fields") != nil || e.get("comps") != nil {
				d.errorf(e.pos, "rule", r.name, "exception %s: appending to an existing exception may only add values", nn.scalar)
				continue
			}
			existing.values = append(existing.values, vals...)
			continue
		}
		x := &exceptionDef{name: nn.scalar, pos: e.pos, values: vals}
		fn := e.get("fields")
		if fn == nil {
			d.errorf(e.pos, "rule", r.name, "exception %s: missing fields", nn.scalar)
			continue
		}
		switch fn.kind {
		case scalarNode:
			x.fields = []*node{fn}
		case seqNode:
			x.fieldsList = true
			x.fields = fn.items
		default:
			d.errorf(fn.pos, "rule", r.name, "exception %s: fields must be a field name or a list of them", nn.scalar)
			continue
		}
		if cn := e.get("comps"); cn != nil {
			switch {
			case cn.kind == scalarNode && !x.fieldsList:
				x.comps = []*node{cn}
			case cn.kind == seqNode && x.fieldsList:
				x.comps = cn.items
			default:
				d.errorf(cn.pos, "rule", r.name, "exception %s: comps must match the form of fields (one operator, or a list as long as fields)", nn.scalar)
				continue
			}
			if len(x.comps) != len(x.fields) {
				d.errorf(cn.pos, "rule", r.name, "exception %s: %d comps for %d fields", nn.scalar, len(x.comps), len(x.fields))
				continue
			}
		}
		r.exceptions = append(r.exceptions, x)
	}
}
