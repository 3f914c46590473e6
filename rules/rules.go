// Package rules is nightjar's rule engine. It loads rules in Falco's format
// (YAML, or the same model in HCL), compiles their conditions into Go
// closures over event.Event, indexes them by event type and evaluates
// events against them, rendering Falco-compatible alert output.
//
// Loading:
//
//	set, err := rules.LoadFiles(rules.Options{Hostname: h}, "/etc/nightjar/rules.d")
//	set, err := rules.Default(rules.Options{})   // the embedded default rules
//
// A failed load returns an ErrorList naming file, line, column and item of
// every problem; problems that do not stop loading are in Set.Warnings.
//
// Evaluation:
//
//	kernelFilter(set.Types())
//	ev := set.NewEvaluator()                    // one per goroutine
//	ev.Eval(e, func(m *rules.Match) { a := m.Alert(); ... })
//
// A Match, and the strings it renders from, are valid only during the
// callback: the event's memory is reused afterwards.
package rules

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nightjar-sec/nightjar/internal/alert"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/rules/dnsnames"
	"github.com/nightjar-sec/nightjar/rules/fields"
)

// Options select and configure the loaded rules.
type Options struct {
	// Hostname is evt.hostname and the alerts' hostname.
	Hostname string
	// MinPriority, when set, keeps only rules at least this severe.
	MinPriority *alert.Priority
	// DisableTags and DisableRules turn rules off by tag or by name, then
	// EnableTags and EnableRules turn rules on (overriding enabled: false
	// in the files and the disabling above). Names may use * wildcards.
	DisableTags, DisableRules []string
	EnableTags, EnableRules   []string
	// DNS resolves the host names conditions compare fd.sip.name,
	// fd.cip.name, fd.lip.name and fd.rip.name with; Load registers the
	// names with it and whoever owns it runs it (Cache.Run). Without it
	// those fields are unavailable: always missing, with a warning.
	DNS *dnsnames.Cache
	// ExtraFields are fields added to every alert's output_fields, as
	// Falco's append_output extra_fields: container and orchestrator
	// metadata that queries group by, whatever the rule's output names. A
	// field the output already has keeps its place; a missing one is left
	// out rather than set to null. An unknown field fails Load.
	ExtraFields []string
}

// Rule is a loaded rule.
type Rule struct {
	Name      string
	Desc      string
	Condition string
	Output    string
	Priority  alert.Priority
	Tags      []string
	Source    string
	// Enabled reports whether the rule is evaluated, after Options.
	Enabled bool
	// EventTypes are the event types the condition can match.
	EventTypes []event.Type
	// Unavailable lists the fields the rule uses that nightjar cannot fill
	// yet; they evaluate as missing.
	Unavailable []string
	// Pos is where the rule is defined.
	Pos Position
}

type entry struct {
	rule *Rule
	cond evalFunc
	out  *template
}

// Set is a compiled rule set. Its methods are safe for concurrent use.
type Set struct {
	rules     []*Rule
	byType    [event.NumTypes][]*entry
	types     []event.Type
	warnings  []*Error
	hostname  string
	reg       *fields.Registry
	memoSlots int
	pool      sync.Pool
	engine    string
	plugins   []string
	extra     []*fields.Extractor
}

// LoadFiles reads rules files and directories (see ReadSources) and loads them.
func LoadFiles(opts Options, paths ...string) (*Set, error) {
	srcs, err := ReadSources(paths...)
	if err != nil {
		return nil, err
	}
	return Load(opts, srcs...)
}

// Validate loads rules files and returns every error found, or nil.
func Validate(paths ...string) error {
	_, err := LoadFiles(ValidateOptions(), paths...)
	return err
}

// ValidateOptions are the options to check rules with as the daemon runs
// them: with a host name resolver (not run), so that the fd.*ip.name
// fields count as available as they are in the daemon.
func ValidateOptions() Options { return Options{DNS: dnsnames.New(nil)} }

// Load parses, merges (later sources override earlier ones by name) and
// compiles sources. On failure the error is an ErrorList.
func Load(opts Options, sources ...Source) (*Set, error) {
	if len(sources) == 0 {
		return nil, errNoSources
	}
	defs := newDefinitions()
	order := make(map[string]int, len(sources))
	for i, src := range sources {
		if _, dup := order[src.Name]; !dup {
			order[src.Name] = i
		}
	}
	for _, src := range sources {
		var docs []*node
		var perr *Error
		if src.format() == FormatHCL {
			var doc *node
			doc, perr = parseHCL(src)
			docs = []*node{doc}
		} else {
			docs, perr = parseYAML(src)
		}
		if perr != nil {
			defs.errs = append(defs.errs, perr)
			continue
		}
		for _, doc := range docs {
			defs.add(src.Name, doc)
		}
	}
	var reg *fields.Registry
	var hosts fields.HostNames
	if opts.DNS != nil {
		hosts = opts.DNS
	}
	reg = fields.NewWithNames(hosts)
	c := newCompiler(reg, defs)
	c.hostNames = hosts
	s := &Set{hostname: opts.Hostname, reg: reg, warnings: defs.warns}
	for _, f := range opts.ExtraFields {
		name, arg, hasArg := splitFieldArg(f)
		x, err := reg.Resolve(name, arg, hasArg)
		if err != nil {
			return nil, fmt.Errorf("rules: extra output field %q: %w", f, err)
		}
		s.extra = append(s.extra, x)
	}
	if defs.engine.set {
		s.engine = defs.engine.String()
	}
	for _, p := range defs.plugins {
		var alts []string
		for _, a := range p.alternatives {
			alts = append(alts, a.name+" "+a.ver.String())
		}
		s.plugins = append(s.plugins, strings.Join(alts, " or "))
	}

	for _, name := range defs.ruleOrder {
		r := defs.rules[name]
		if r == nil {
			continue
		}
		if r.source != "syscall" {
			s.warnings = append(s.warnings, &Error{Pos: r.pos, Kind: "rule", Name: r.name,
				Msg: fmt.Sprintf("source %q is not supported (only syscall); rule not loaded", r.source)})
			continue
		}
		e, ok := c.compileRule(r, s)
		if !ok {
			continue
		}
		e.rule.Enabled = enabled(r, opts)
		s.rules = append(s.rules, e.rule)
		if !e.rule.Enabled {
			continue
		}
		for _, t := range e.rule.EventTypes {
			s.byType[t] = append(s.byType[t], e)
		}
	}
	// Macros no rule uses are checked too, as Falco does: a syntax error
	// is an error, any other problem (an unknown field, say) only a
	// warning, since an unused macro is never compiled into a rule.
	for _, name := range defs.macroOrder {
		m := defs.macros[name]
		if m.used || m.source != "syscall" {
			continue
		}
		o := owner{kind: "macro", name: m.name, text: m.cond}
		msg := "macro not used by any rule"
		if tree, ok := c.parse(o); ok {
			c.unavail = nil
			n0 := len(c.errs)
			c.compile(tree, o, []string{m.name})
			if len(c.errs) > n0 {
				msg += "; it would not compile"
			}
			for _, e := range c.errs[n0:] {
				e.Msg = "unused macro: " + e.Msg
				s.warnings = append(s.warnings, e)
			}
			c.errs = c.errs[:n0]
		}
		s.warnings = append(s.warnings, &Error{Pos: m.pos, Kind: "macro", Name: m.name, Msg: msg})
	}
	for _, name := range defs.listOrder {
		l := defs.lists[name]
		if !l.used {
			c.resolveList(l, nil)
			if !l.used {
				s.warnings = append(s.warnings, &Error{Pos: l.pos, Kind: "list", Name: l.name, Msg: "list not used by any rule or macro"})
			}
		}
	}
	s.warnings = append(s.warnings, c.warns...)
	errs := append(ErrorList(nil), defs.errs...)
	errs = append(errs, c.errs...)
	if len(errs) > 0 {
		sortErrors(errs, order)
		return nil, errs
	}
	sortErrors(s.warnings, order)
	var all typeSet
	for t := event.Type(1); t < event.NumTypes; t++ {
		if len(s.byType[t]) > 0 {
			all |= 1 << t
		}
	}
	s.types = all.list()
	s.memoSlots = c.memoSlots
	s.pool.New = func() any { return s.NewEvaluator() }
	return s, nil
}

// sortErrors orders errors by source (in load order), line and column.
func sortErrors(errs []*Error, order map[string]int) {
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i].Pos, errs[j].Pos
		if a.File != b.File {
			return order[a.File] < order[b.File]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

func (c *compiler) compileRule(r *ruleDef, s *Set) (*entry, bool) {
	n0 := len(c.errs)
	e, ok := c.compileRuleBody(r, s)
	if ok || !r.skipUnknown || len(c.errs) == n0 {
		return e, ok
	}
	// skip-if-unknown-filter: a rule that fails only for unknown fields is
	// skipped with a warning, as in Falco.
	for _, e := range c.errs[n0:] {
		if !e.unknown {
			return nil, false
		}
	}
	for _, e := range c.errs[n0:] {
		e.Msg += " (rule skipped: skip-if-unknown-filter)"
		s.warnings = append(s.warnings, e)
	}
	c.errs = c.errs[:n0]
	return nil, false
}

func (c *compiler) compileRuleBody(r *ruleDef, s *Set) (*entry, bool) {
	if len(r.cond.parts) == 0 || len(r.output.parts) == 0 {
		return nil, false // not strings: already reported
	}
	c.unavail = map[string]bool{}
	o := owner{kind: "rule", name: r.name, text: r.cond}
	tree, ok := c.parse(o)
	if !ok {
		return nil, false
	}
	cond, ok := c.compile(tree, o, nil)
	exc, excOK := c.compileExceptions(r)
	out, outOK := c.compileOutput(r)
	if !ok || !excOK || !outOK {
		return nil, false
	}
	fn := cond.fn
	if exc != nil {
		cf := cond.fn
		fn = func(ctx *fields.Ctx) bool { return cf(ctx) && !exc(ctx) }
	}
	rule := &Rule{
		Name: r.name, Desc: r.desc, Condition: r.cond.String(), Output: r.output.String(),
		Priority: r.priority, Tags: r.tags, Source: r.source, Pos: r.pos,
		Unavailable: sortedKeys(c.unavail),
	}
	switch {
	case cond.konst == -1 || cond.types == 0:
		s.warnings = append(s.warnings, &Error{Pos: r.pos, Kind: "rule", Name: r.name,
			Msg: "condition can never match an event nightjar captures (an evt.type it does not capture, evt.dir other than < since events are exit events, or an empty list operand)"})
	case cond.types == allTypes && !r.noWarnTypes:
		s.warnings = append(s.warnings, &Error{Pos: r.pos, Kind: "rule", Name: r.name,
			Msg: "condition does not restrict evt.type: the rule runs for every captured event type"})
	}
	if len(rule.Unavailable) > 0 {
		s.warnings = append(s.warnings, &Error{Pos: r.pos, Kind: "rule", Name: r.name,
			Msg: "depends on fields nightjar cannot fill yet (they evaluate as missing): " + strings.Join(rule.Unavailable, ", ")})
	}
	if cond.konst != -1 {
		rule.EventTypes = cond.types.list()
	}
	return &entry{rule: rule, cond: fn, out: out}, true
}

func enabled(r *ruleDef, o Options) bool {
	on := r.enabled
	if o.MinPriority != nil && !r.priority.AtLeast(*o.MinPriority) {
		return false
	}
	hasTag := func(tags []string) bool {
		for _, t := range tags {
			if contains(r.tags, t) {
				return true
			}
		}
		return false
	}
	named := func(pats []string) bool {
		for _, p := range pats {
			if ok, _ := path.Match(p, r.name); ok || p == r.name {
				return true
			}
		}
		return false
	}
	if hasTag(o.DisableTags) || named(o.DisableRules) {
		on = false
	}
	if hasTag(o.EnableTags) || named(o.EnableRules) {
		on = true
	}
	return on
}

// RequiredEngineVersion returns the highest required_engine_version of the
// loaded files ("" when none gave one); it is at most EngineVersion.
func (s *Set) RequiredEngineVersion() string { return s.engine }

// RequiredPlugins returns the plugin requirements of the loaded files
// ("container 0.4.0"), each met by nightjar's built-in fields.
func (s *Set) RequiredPlugins() []string { return s.plugins }

// Rules returns every loaded rule, enabled or not, in load order.
func (s *Set) Rules() []*Rule { return s.rules }

// Types returns the event types the enabled rules need, for the kernel-side
// filter.
func (s *Set) Types() []event.Type { return s.types }

// Warnings returns the problems found while loading that did not stop it.
func (s *Set) Warnings() []*Error { return s.warnings }

// Evaluator evaluates events against a Set. It holds per-event scratch
// memory; use one per goroutine.
type Evaluator struct {
	set *Set
	ctx *fields.Ctx
	m   Match
}

// NewEvaluator returns an evaluator for s.
func (s *Set) NewEvaluator() *Evaluator {
	ctx := fields.NewCtx(s.hostname)
	ctx.SetMemoSlots(s.memoSlots)
	return &Evaluator{set: s, ctx: ctx}
}

// Eval evaluates ev against the enabled rules for its type and calls fn for
// each match, in rule load order. It returns the number of matches. The
// Match is valid only during fn.
func (e *Evaluator) Eval(ev *event.Event, fn func(*Match)) int {
	if ev.Type >= event.NumTypes {
		return 0
	}
	entries := e.set.byType[ev.Type]
	if len(entries) == 0 {
		return 0
	}
	e.ctx.Reset(ev)
	n := 0
	for _, en := range entries {
		if en.cond(e.ctx) {
			n++
			e.m = Match{Rule: en.rule, Event: ev, ctx: e.ctx, out: en.out, extra: e.set.extra, hostname: e.set.hostname}
			fn(&e.m)
		}
	}
	return n
}

// RulesFor returns how many enabled rules an event of type t is evaluated
// against.
func (s *Set) RulesFor(t event.Type) int {
	if t >= event.NumTypes {
		return 0
	}
	return len(s.byType[t])
}

// Eval is Evaluator.Eval with an evaluator from a pool.
func (s *Set) Eval(ev *event.Event, fn func(*Match)) int {
	e := s.pool.Get().(*Evaluator)
	n := e.Eval(ev, fn)
	s.pool.Put(e)
	return n
}

// Match is a rule that matched an event.
type Match struct {
	Rule     *Rule
	Event    *event.Event
	ctx      *fields.Ctx
	out      *template
	extra    []*fields.Extractor
	hostname string
}

// Render returns the rule's output with the event's fields substituted, in
// Falco's form "HH:MM:SS.nnnnnnnnn: Priority message", and the fields
// named in the output keyed by field name (missing ones are nil).
func (m *Match) Render() (string, map[string]any) {
	var b []byte
	b = time.Unix(0, m.Event.Time).UTC().AppendFormat(b, "15:04:05.000000000")
	b = append(b, ": "...)
	b = append(b, m.Rule.Priority.String()...)
	if !m.out.empty() {
		b = append(b, ' ')
		b = m.out.render(b, m.ctx)
	}
	vals := m.out.values(m.ctx)
	for _, x := range m.extra {
		if _, ok := vals[x.Name]; ok {
			continue
		}
		if v := x.Value(m.ctx); v != nil {
			vals[x.Name] = v
		}
	}
	return string(b), vals
}

// Alert returns the match as an alert; UUID is left for the caller.
func (m *Match) Alert() alert.Alert {
	out, fields := m.Render()
	return alert.Alert{
		Time:         time.Unix(0, m.Event.Time).UTC(),
		Rule:         m.Rule.Name,
		Priority:     m.Rule.Priority,
		Source:       m.Rule.Source,
		Hostname:     m.hostname,
		Tags:         append([]string{}, m.Rule.Tags...),
		Output:       out,
		OutputFields: fields,
	}
}
