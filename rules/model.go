package rules

import (
	"fmt"
	"regexp"
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
	// skipUnknown is skip-if-unknown-filter: true: a condition or output
	// naming an unknown field skips the rule with a warning.
	skipUnknown bool
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
	// seen records where each item was defined, for duplicate warnings.
	seen map[string]Position
	// engine is the highest required_engine_version read, plugins the
	// plugin requirements.
	engine  version
	plugins []pluginRequirement
}

func newDefinitions() *definitions {
	return &definitions{
		lists:  map[string]*listDef{},
		macros: map[string]*macroDef{},
		rules:  map[string]*ruleDef{},
		seen:   map[string]Position{},
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
			"exceptions": true, "enabled": true, "warn_evttypes": true, "skip-if-unknown-filter": true},
		"macro": {"condition": true},
		"list":  {"items": true},
	}

	// Falco's name syntax: macros are identifiers, lists bare strings.
	macroNameRE = regexp.MustCompile(`^[a-zA-Z]+[a-zA-Z0-9_]*$`)
	listNameRE  = regexp.MustCompile(`^[^()"'\s=,]+$`)
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
		if it.kind == nullNode {
			continue
		}
		if it.kind != mapNode {
			d.errorf(it.pos, "", "", "item must be a mapping with a rule, macro or list key, found %s", it.kind)
			continue
		}
		switch {
		case it.get("required_engine_version") != nil:
			d.addEngineVersion(it.get("required_engine_version"))
		case it.get("required_plugin_versions") != nil:
			d.addPluginVersions(it.get("required_plugin_versions"))
		case it.get("list") != nil:
			d.addList(file, it)
		case it.get("macro") != nil:
			d.addMacro(file, it)
		case it.get("rule") != nil:
			d.addRule(file, it)
		default:
			// Falco skips unknown top-level items with a warning.
			key := ""
			if len(it.keys) > 0 {
				key = it.keys[0].scalar
			}
			d.warnf(it.pos, "", "", "unknown item %q skipped (want rule, macro, list, required_engine_version or required_plugin_versions)", key)
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
	switch {
	case kind == "macro" && !macroNameRE.MatchString(name):
		d.errorf(n.pos, kind, name, "macro name must be an identifier (letters, then letters, digits or _)")
		return name, nil, false, false
	case kind == "list" && !listNameRE.MatchString(name):
		d.errorf(n.pos, kind, name, "list name must not contain blanks, quotes, parentheses, = or ,")
		return name, nil, false, false
	}
	ok = true
	for _, k := range it.keys {
		if !allowed[k.scalar] {
			// Falco ignores keys outside its schema, with a warning.
			d.warnf(k.pos, kind, name, "unknown key %q ignored", k.scalar)
		}
	}
	if a := it.get("append"); a != nil {
		b, good := boolValue(a)
		if !good {
			d.errorf(a.pos, kind, name, "append must be true or false, found %q", a.scalar)
			ok = false
		}
		legacy = b
		if b {
			d.warnf(a.pos, kind, name, "append: true is deprecated; use override (append or replace per key)")
		}
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
		// Every key an override could change must say how (Falco:
		// "no corresponding entry under 'override'").
		for _, k := range it.keys {
			if !overrideAppend[kind][k.scalar] && !overrideReplace[kind][k.scalar] {
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

// noteDefinition warns when an item is defined again in the same file
// without override: Falco replaces the earlier definition, as a later file
// may on purpose, but within one file it is most likely a mistake.
func (d *definitions) noteDefinition(kind, name string, pos Position) {
	key := kind + "\x00" + name
	if prev, ok := d.seen[key]; ok && prev.File == pos.File {
		d.warnf(pos, kind, name, "%s %q is defined again (first at %s); this definition replaces it", kind, name, prev)
	}
	d.seen[key] = pos
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
	if legacy || override["items"] == "append" {
		if prev == nil {
			d.errorf(it.pos, "list", name, "overrides list %q, which is not defined before", name)
			return
		}
		prev.items = append(prev.items, items...)
		return
	}
	// A replace override is a redefinition, as in Falco.
	if override == nil {
		d.noteDefinition("list", name, it.pos)
	} else if prev == nil {
		d.errorf(it.pos, "list", name, "overrides list %q, which is not defined before", name)
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
	if legacy || override["condition"] == "append" {
		if prev == nil {
			d.errorf(it.pos, "macro", name, "overrides macro %q, which is not defined before", name)
			return
		}
		prev.cond = prev.cond.appended(cn)
		return
	}
	if override == nil {
		d.noteDefinition("macro", name, it.pos)
	} else if prev == nil {
		d.errorf(it.pos, "macro", name, "overrides macro %q, which is not defined before", name)
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
	switch {
	case override != nil:
		if prev == nil {
			d.errorf(it.pos, "rule", name, "overrides rule %q, which is not defined before", name)
			return
		}
		d.setRuleFields(prev, it, override)
		return
	case legacy:
		if prev == nil {
			d.errorf(it.pos, "rule", name, "overrides rule %q, which is not defined before", name)
			return
		}
		// Falco's append: true appends the condition and exceptions and
		// ignores the other keys.
		modes := map[string]string{}
		for _, k := range it.keys {
			switch k.scalar {
			case "rule", "append":
			case "condition", "exceptions":
				modes[k.scalar] = "append"
			default:
				d.warnf(k.pos, "rule", name, "%s ignored: append: true appends only condition and exceptions (use override)", k.scalar)
			}
		}
		d.setRuleFields(prev, it, modes)
		return
	case it.get("condition") == nil && it.get("output") == nil && it.get("desc") == nil && it.get("priority") == nil:
		// Falco's older form of enabled: replace.
		en := it.get("enabled")
		if en == nil {
			d.errorf(it.pos, "rule", name, "missing required keys condition, output, desc and priority (or enabled, to toggle an existing rule)")
			return
		}
		if prev == nil {
			d.errorf(it.pos, "rule", name, "sets enabled on rule %q, which is not defined before", name)
			return
		}
		b, good := boolValue(en)
		if !good {
			d.errorf(en.pos, "rule", name, "enabled must be true or false, found %q", en.scalar)
			return
		}
		d.warnf(it.pos, "rule", name, "a rule item with only enabled is deprecated; use override: {enabled: replace}")
		prev.enabled = b
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
	modes := map[string]string{}
	for _, k := range it.keys {
		modes[k.scalar] = "define"
	}
	d.setRuleFields(r, it, modes)
	if prev != nil && prev.source != r.source {
		d.errorf(it.pos, "rule", name, "rule is defined again with another source (%s, was %s)", r.source, prev.source)
		return
	}
	d.noteDefinition("rule", name, it.pos)
	if prev == nil {
		d.ruleOrder = append(d.ruleOrder, name)
	}
	d.rules[name] = r
}

// setRuleFields sets r's fields from the keys of it that modes names:
// "define" (a new rule), "append" or "replace".
func (d *definitions) setRuleFields(r *ruleDef, it *node, modes map[string]string) {
	name := r.name
	for i, k := range it.keys {
		v := it.items[i]
		mode, set := modes[k.scalar]
		if !set {
			continue
		}
		appendMode := mode == "append"
		switch k.scalar {
		case "condition", "output":
			if _, ok := stringValue(d, "rule", name, k.scalar, v); !ok {
				continue
			}
			t := &r.cond
			if k.scalar == "output" {
				t = &r.output
			}
			if appendMode {
				// Falco skips an empty append.
				if strings.TrimSpace(v.scalar) != "" && len(t.parts) > 0 {
					*t = t.appended(v)
				}
			} else {
				*t = newText(v)
			}
		case "desc":
			if s, ok := stringValue(d, "rule", name, k.scalar, v); ok {
				s = strings.TrimSpace(s)
				if appendMode && r.desc != "" {
					if s != "" {
						r.desc += " " + s
					}
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
			d.setExceptions(r, v, mode)
		case "warn_evttypes", "skip-if-unknown-filter":
			b, ok := boolValue(v)
			if !ok {
				d.errorf(v.pos, "rule", name, "%s must be true or false", k.scalar)
				continue
			}
			if k.scalar == "warn_evttypes" {
				r.noWarnTypes = !b
			} else {
				r.skipUnknown = b
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// setExceptions reads a rule's exceptions. mode is "define" for a new
// rule, "replace" or "append". Appending adds new exceptions (they need
// fields and values) and adds values to existing ones of the same name
// (which must not repeat fields or comps), as Falco does.
func (d *definitions) setExceptions(r *ruleDef, v *node, mode string) {
	if v.kind == nullNode {
		if mode != "append" {
			r.exceptions = nil
		}
		return
	}
	if v.kind != seqNode {
		d.errorf(v.pos, "rule", r.name, "exceptions must be a list, found %s", v.kind)
		return
	}
	var added []*exceptionDef
	names := map[string]bool{}
	for _, e := range v.items {
		if e.kind != mapNode {
			d.errorf(e.pos, "rule", r.name, "exception must be a mapping, found %s", e.kind)
			continue
		}
		for _, k := range e.keys {
			switch k.scalar {
			case "name", "fields", "comps", "values":
			default:
				d.warnf(k.pos, "rule", r.name, "unknown exception key %q ignored", k.scalar)
			}
		}
		nn := e.get("name")
		if nn == nil || nn.kind != scalarNode || nn.scalar == "" {
			d.errorf(e.pos, "rule", r.name, "exception needs a name")
			continue
		}
		if names[nn.scalar] {
			d.errorf(nn.pos, "rule", r.name, "exception %s: exception names must be unique within a rule item", nn.scalar)
			continue
		}
		names[nn.scalar] = true
		values := e.get("values")
		var vals []*node
		if values != nil {
			if values.kind != seqNode && values.kind != nullNode {
				d.errorf(values.pos, "rule", r.name, "exception %s: values must be a list, found %s", nn.scalar, values.kind)
				continue
			}
			vals = values.items
		}
		if mode == "append" {
			var existing *exceptionDef
			for _, x := range r.exceptions {
				if x.name == nn.scalar {
					existing = x
				}
			}
			if existing != nil {
				if f := e.get("fields"); f != nil {
					d.errorf(f.pos, "rule", r.name, "exception %s: cannot append fields to an existing exception, only values", nn.scalar)
					continue
				}
				if c := e.get("comps"); c != nil {
					d.errorf(c.pos, "rule", r.name, "exception %s: cannot append comps to an existing exception, only values", nn.scalar)
					continue
				}
				if values == nil {
					d.warnf(e.pos, "rule", r.name, "exception %s: appending an exception with no values", nn.scalar)
				}
				existing.values = append(existing.values, vals...)
				continue
			}
			if len(vals) == 0 {
				d.errorf(e.pos, "rule", r.name, "exception %s: a new exception appended to a rule needs values", nn.scalar)
				continue
			}
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
				switch cn.scalar {
				case "in", "pmatch", "intersects":
				default:
					d.errorf(cn.pos, "rule", r.name, "exception %s: with a single field, comps must be in, pmatch or intersects", nn.scalar)
					continue
				}
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
		added = append(added, x)
	}
	if mode != "append" {
		r.exceptions = nil
	}
	r.exceptions = append(r.exceptions, added...)
}
