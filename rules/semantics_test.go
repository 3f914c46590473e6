package rules

import (
	"slices"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/alert"
	"github.com/nightjar-sec/nightjar/internal/event"
)

const base = `
- list: shells
  items: [bash, sh]
- list: all_shells
  items: [shells, zsh]
- macro: is_exec
  condition: evt.type = execve
- macro: shell_exec
  condition: is_exec and proc.name in (all_shells)
- rule: Shell
  desc: a shell ran
  condition: shell_exec
  output: shell %proc.name
  priority: WARNING
  tags: [a]
`

// TestSemantics checks list, macro, override, append and exception
// behaviour against what Falco does with the same files.
func TestSemantics(t *testing.T) {
	bash := execEvent(proc("bash", "-c", "id"))
	zsh := execEvent(proc("zsh"))
	fish := execEvent(proc("fish"))
	tests := []struct {
		name  string
		docs  []string
		opts  Options
		ev    *event.Event
		want  string // fired rules, comma separated
		check func(t *testing.T, s *Set)
	}{
		{name: "nested list and macro", docs: []string{base}, ev: bash, want: "Shell"},
		{name: "list of lists", docs: []string{base}, ev: zsh, want: "Shell"},
		{name: "not in list", docs: []string{base}, ev: fish, want: ""},
		{name: "list append legacy", docs: []string{base, "- list: shells\n  items: [fish]\n  append: true\n"}, ev: fish, want: "Shell"},
		{name: "list override append", docs: []string{base, "- list: shells\n  items: [fish]\n  override:\n    items: append\n"}, ev: fish, want: "Shell"},
		{name: "list override replace drops old items", docs: []string{base, "- list: shells\n  items: [fish]\n  override:\n    items: replace\n"}, ev: bash, want: ""},
		{name: "list redefined in a later file replaces it", docs: []string{base, "- list: shells\n  items: [fish]\n"}, ev: bash, want: ""},
		{name: "macro append is textual", docs: []string{base, "- macro: shell_exec\n  condition: or proc.name = fish\n  append: true\n"}, ev: fish, want: "Shell"},
		{name: "macro override replace", docs: []string{base, "- macro: shell_exec\n  condition: is_exec and proc.name = fish\n  override:\n    condition: replace\n"}, ev: bash, want: ""},
		{name: "rule condition append", docs: []string{base, "- rule: Shell\n  condition: and not proc.args contains id\n  override:\n    condition: append\n"}, ev: bash, want: ""},
		{name: "rule condition append keeps others", docs: []string{base, "- rule: Shell\n  condition: and not proc.args contains id\n  override:\n    condition: append\n"}, ev: zsh, want: "Shell"},
		{name: "rule legacy append", docs: []string{base, "- rule: Shell\n  condition: and proc.name = zsh\n  append: true\n"}, ev: bash, want: ""},
		{name: "rule replaced by later file", docs: []string{base, "- rule: Shell\n  desc: d\n  condition: evt.type = execve and proc.name = fish\n  output: o\n  priority: ERROR\n"}, ev: fish, want: "Shell",
			check: func(t *testing.T, s *Set) {
				if r := s.Rules()[0]; r.Priority != alert.PriorityError || len(r.Tags) != 0 {
					t.Errorf("replaced rule: priority %v tags %v", r.Priority, r.Tags)
				}
			}},
		{name: "priority replace", docs: []string{base, "- rule: Shell\n  priority: CRITICAL\n  override:\n    priority: replace\n"}, ev: bash, want: "Shell",
			check: func(t *testing.T, s *Set) {
				if p := s.Rules()[0].Priority; p != alert.PriorityCritical {
					t.Errorf("priority %v", p)
				}
			}},
		{name: "tags append is a union", docs: []string{base, "- rule: Shell\n  tags: [a, b]\n  override:\n    tags: append\n"}, ev: bash, want: "Shell",
			check: func(t *testing.T, s *Set) {
				if tags := strings.Join(s.Rules()[0].Tags, ","); tags != "a,b" {
					t.Errorf("tags %s", tags)
				}
			}},
		{name: "output append", docs: []string{base, "- rule: Shell\n  output: (pid=%proc.pid)\n  override:\n    output: append\n"}, ev: bash, want: "Shell",
			check: func(t *testing.T, s *Set) {
				s.Eval(bash, func(m *Match) {
					if out, _ := m.Render(); !strings.HasSuffix(out, "Warning shell bash (pid=4242)") {
						t.Errorf("output %q", out)
					}
				})
			}},
		{name: "enabled false", docs: []string{base, "- rule: Shell\n  enabled: false\n"}, ev: bash, want: "",
			check: func(t *testing.T, s *Set) {
				if s.Rules()[0].Enabled || len(s.Types()) != 0 {
					t.Errorf("disabled rule still active: types %v", s.Types())
				}
			}},
		{name: "enabled replace", docs: []string{base, "- rule: Shell\n  enabled: false\n  override:\n    enabled: replace\n"}, ev: bash, want: ""},
		{name: "re-enabled by a later file", docs: []string{base, "- rule: Shell\n  enabled: false\n", "- rule: Shell\n  enabled: true\n"}, ev: bash, want: "Shell"},
		{name: "disabled by tag", docs: []string{base}, opts: Options{DisableTags: []string{"a"}}, ev: bash, want: ""},
		{name: "enabled by name wins over tag", docs: []string{base}, opts: Options{DisableTags: []string{"a"}, EnableRules: []string{"Sh*"}}, ev: bash, want: "Shell"},
		{name: "disabled by name", docs: []string{base}, opts: Options{DisableRules: []string{"Shell"}}, ev: bash, want: ""},
		{name: "below minimum priority", docs: []string{base}, opts: Options{MinPriority: ptr(alert.PriorityError)}, ev: bash, want: ""},
		{name: "at minimum priority", docs: []string{base}, opts: Options{MinPriority: ptr(alert.PriorityWarning)}, ev: bash, want: "Shell"},
		// Exceptions.
		{name: "exception tuple matches", docs: []string{base + `  exceptions:
    - name: known
      fields: [proc.name, proc.args]
      values:
        - [bash, -c id]
`}, ev: bash, want: ""},
		{name: "exception needs every field to match", docs: []string{base + `  exceptions:
    - name: known
      fields: [proc.name, proc.args]
      values:
        - [bash, -c ls]
        - [zsh, -c id]
`}, ev: bash, want: "Shell"},
		{name: "exception comps", docs: []string{base + `  exceptions:
    - name: known
      fields: [proc.name, proc.cmdline]
      comps: [in, contains]
      values:
        - [[sh, bash], "c id"]
`}, ev: bash, want: ""},
		{name: "exception comps with list reference", docs: []string{base + `  exceptions:
    - name: known
      fields: [proc.name, proc.pid]
      comps: [in, "="]
      values:
        - [shells, 4242]
`}, ev: bash, want: ""},
		{name: "single-field exception defaults to in", docs: []string{base + `  exceptions:
    - name: known
      fields: proc.name
      values: [zsh, bash]
`}, ev: bash, want: ""},
		{name: "single-field exception with comps", docs: []string{base + `  exceptions:
    - name: known
      fields: proc.name
      comps: in
      values: [bash]
`}, ev: bash, want: ""},
		{name: "exception without values excepts nothing", docs: []string{base + `  exceptions:
    - name: known
      fields: [proc.name]
`}, ev: bash, want: "Shell"},
		{name: "exception values appended later", docs: []string{base + `  exceptions:
    - name: known
      fields: [proc.name]
`, `- rule: Shell
  exceptions:
    - name: known
      values:
        - [bash]
  override:
    exceptions: append
`}, ev: bash, want: ""},
		{name: "exception values appended legacy", docs: []string{base + `  exceptions:
    - name: known
      fields: [proc.name]
`, `- rule: Shell
  exceptions:
    - name: known
      values: [[zsh]]
  append: true
`}, ev: zsh, want: ""},
		{name: "new exception appended", docs: []string{base, `- rule: Shell
  exceptions:
    - name: added
      fields: [proc.name]
      values: [[bash]]
  override:
    exceptions: append
`}, ev: bash, want: ""},
		{name: "exceptions replaced", docs: []string{base + `  exceptions:
    - name: known
      fields: [proc.name]
      values: [[bash]]
`, `- rule: Shell
  exceptions:
    - name: other
      fields: [proc.name]
      values: [[zsh]]
  override:
    exceptions: replace
`}, ev: bash, want: "Shell"},
		{name: "quoted list name is a plain value", docs: []string{`
- list: shells
  items: [bash]
- rule: R
  desc: d
  condition: evt.type = execve and proc.name in ("shells")
  output: o
  priority: INFO
`}, ev: bash, want: ""},
		{name: "bare list reference", docs: []string{`
- list: shells
  items: [bash]
- rule: R
  desc: d
  condition: evt.type = execve and proc.name in shells
  output: o
  priority: INFO
`}, ev: bash, want: "R"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var srcs []Source
			for i, d := range tc.docs {
				srcs = append(srcs, src("f"+string(rune('0'+i))+".yaml", d))
			}
			s, err := Load(tc.opts, srcs...)
			if err != nil {
				t.Fatal(err)
			}
			if got := firedString(s, tc.ev); got != tc.want {
				t.Errorf("fired %q, want %q", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRenderAndAlert(t *testing.T) {
	s := mustLoad(t, src("r.yaml", `
- rule: Open
  desc: d
  condition: evt.type = openat and fd.name startswith /etc
  output: "%proc.name opened %fd.name (flags=%evt.arg.flags anc=%proc.aname[2] pid=%proc.pid sip=%fd.sip 100%)"
  priority: NOTICE
  tags: [x, T1]
`))
	p := inContainer(proc("cat", "/etc/hosts"))
	p.Parent = &event.Process{Name: "sh", Parent: &event.Process{Name: "sshd"}}
	ev := openEvent(p, "/etc/hosts", oRDONLY)
	n := s.Eval(ev, func(m *Match) {
		out, fields := m.Render()
		want := "18:00:00.123456789: Notice cat opened /etc/hosts (flags=O_RDONLY anc=sshd pid=4242 sip=<NA> 100%)"
		if out != want {
			t.Errorf("output\n%q\nwant\n%q", out, want)
		}
		if fields["proc.name"] != "cat" || fields["proc.pid"] != int64(4242) || fields["fd.sip"] != nil ||
			fields["proc.aname[2]"] != "sshd" || fields["evt.arg.flags"] != "O_RDONLY" || len(fields) != 6 {
			t.Errorf("output fields %#v", fields)
		}
		a := m.Alert()
		if a.Rule != "Open" || a.Priority != alert.PriorityNotice || a.Source != "syscall" || a.Hostname != "node-1" ||
			a.Output != want || a.Time.UnixNano() != 1764180000123456789 || strings.Join(a.Tags, ",") != "x,T1" {
			t.Errorf("alert %+v", a)
		}
	})
	if n != 1 {
		t.Errorf("%d matches", n)
	}
}

func TestHCL(t *testing.T) {
	hcl := `
required_engine_version = "0.1.0"

list "shells" {
  items = ["bash", "sh"]
}

macro "shell_exec" {
  condition = "evt.type = execve and proc.name in (shells)"
}

rule "Shell" {
  desc      = "a shell ran"
  condition = <<EOT
shell_exec
  and not proc.pname = sshd
EOT
  output    = "shell %proc.name"
  priority  = "WARNING"
  tags      = ["a", "T1059"]

  exception "known" {
    fields = ["proc.name", "proc.args"]
    values = [["bash", "-c ok"]]
  }
}

rule "Shell" {
  condition = "and proc.name != zsh"
  override  = { condition = "append" }
}
`
	s := mustLoad(t, Source{Name: "r.hcl", Data: []byte(hcl)})
	if got := firedString(s, execEvent(proc("bash", "-c", "id"))); got != "Shell" {
		t.Errorf("bash: fired %q", got)
	}
	if got := firedString(s, execEvent(proc("bash", "-c", "ok"))); got != "" {
		t.Errorf("excepted: fired %q", got)
	}
	r := s.Rules()[0]
	if r.Priority != alert.PriorityWarning || strings.Join(r.Tags, ",") != "a,T1059" || r.Pos.String() != "r.hcl:12:1" {
		t.Errorf("rule %+v", r)
	}
	if !strings.Contains(r.Condition, "and proc.name != zsh") {
		t.Errorf("condition %q", r.Condition)
	}
	// YAML and HCL sources mix: a YAML file may override an HCL rule.
	s = mustLoad(t, Source{Name: "r.hcl", Data: []byte(hcl)}, src("o.yaml", "- rule: Shell\n  enabled: false\n"))
	if s.Rules()[0].Enabled {
		t.Error("YAML override of HCL rule not applied")
	}
}

func TestLoadFilesDirectoryOrder(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := writeFile(dir+"/"+name, text); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", "- rule: Shell\n  enabled: false\n")
	write("a.yaml", base)
	write("c.txt", "not rules")
	s, err := LoadFiles(Options{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rules()) != 1 || s.Rules()[0].Enabled {
		t.Errorf("b.yaml should load after a.yaml and disable Shell: %+v", s.Rules())
	}
	if err := Validate(dir); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := Validate(dir + "/missing"); err == nil {
		t.Error("Validate of a missing path succeeded")
	}
}

func TestWarnings(t *testing.T) {
	s := mustLoad(t, src("w.yaml", `
- required_plugin_versions:
    - name: container
      version: 0.2.0
- list: unused_list
  items: [a]
- macro: unused_macro
  condition: proc.name = a
- rule: Never
  desc: d
  condition: evt.type = execve and evt.dir = >
  output: o
  priority: INFO
- rule: Everything
  desc: d
  condition: proc.name = x
  output: o
  priority: INFO
- rule: Resolver
  desc: d
  condition: evt.type = connect and fd.sip.name = example.com
  output: o %proc.env[X]
  priority: INFO
- rule: Audit
  desc: d
  condition: ka.verb = create
  output: o
  priority: INFO
  source: k8s_audit
`))
	text := warningsText(s)
	for _, want := range []string{
		`w.yaml:3:7: required plugin container 0.2.0: provided by nightjar's built-in fields`,
		`w.yaml:5:3: list "unused_list": list not used`,
		`w.yaml:7:3: macro "unused_macro": macro not used`,
		`w.yaml:9:3: rule "Never": condition can never match`,
		`w.yaml:14:3: rule "Everything": condition does not restrict evt.type`,
		`w.yaml:19:3: rule "Resolver": depends on fields nightjar cannot fill yet (they evaluate as missing): fd.sip.name`,
		`w.yaml:24:3: rule "Audit": source "k8s_audit" is not supported`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing warning %q in\n%s", want, text)
		}
	}
	quiet := mustLoad(t, src("q.yaml", "- rule: Q\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n  warn_evttypes: false\n"))
	if len(quiet.Warnings()) != 0 {
		t.Errorf("warn_evttypes: false still warns: %v", quiet.Warnings())
	}
	if len(s.Rules()) != 3 {
		t.Errorf("%d rules loaded, want 3 (the k8s_audit rule is skipped)", len(s.Rules()))
	}
}

// TestConcurrentEval evaluates from several goroutines at once through the
// pooled Set.Eval; run with -race it checks that a Set is safe to share.
func TestConcurrentEval(t *testing.T) {
	s, err := Default(Options{Hostname: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := defaultCases()
	done := make(chan int)
	for g := 0; g < 4; g++ {
		go func() {
			n := 0
			for i := 0; i < 20; i++ {
				for _, tc := range cases {
					s.Eval(tc.hit[0], func(m *Match) {
						if out, _ := m.Render(); out != "" {
							n++
						}
					})
				}
			}
			done <- n
		}()
	}
	for g := 0; g < 4; g++ {
		if n := <-done; n < 20*len(cases) {
			t.Errorf("goroutine saw %d matches, want at least %d", n, 20*len(cases))
		}
	}
}

// TestOutputTrailingWhitespace checks outputs as Falco renders them: the
// newline a folded or literal YAML block (or an HCL heredoc) leaves is not
// part of the message, not at its end and not where an append joins it.
func TestOutputTrailingWhitespace(t *testing.T) {
	const want = "18:00:00.123456789: Notice cat opened /etc/hosts"
	for _, tc := range []struct{ name, src string }{
		{"folded.yaml", `
- rule: Open
  desc: d
  condition: evt.type = openat
  output: >
    %proc.name opened
    %fd.name
  priority: NOTICE
`},
		{"literal.yaml", "- rule: Open\n  desc: d\n  condition: evt.type = openat\n  output: |+\n    %proc.name opened %fd.name  \n\n\n  priority: NOTICE\n"},
		{"append.yaml", `
- rule: Open
  desc: d
  condition: evt.type = openat
  output: >
    %proc.name opened
  priority: NOTICE
- rule: Open
  override:
    output: append
  output: |
    %fd.name
`},
		{"heredoc.hcl", `
rule "Open" {
  desc      = "d"
  condition = "evt.type = openat"
  output    = <<-EOT
    %proc.name opened %fd.name
  EOT
  priority  = "NOTICE"
}
`},
	} {
		s := mustLoad(t, src(tc.name, tc.src))
		n := s.Eval(openEvent(proc("cat"), "/etc/hosts", oRDONLY), func(m *Match) {
			if a := m.Alert(); a.Output != want {
				t.Errorf("%s: output %q, want %q", tc.name, a.Output, want)
			}
		})
		if n != 1 {
			t.Errorf("%s: %d matches", tc.name, n)
		}
	}
	// An output of only whitespace renders without a trailing separator.
	s := mustLoad(t, src("blank.yaml", "- rule: Blank\n  desc: d\n  condition: evt.type = openat\n  output: \"  \"\n  priority: NOTICE\n"))
	s.Eval(openEvent(proc("cat"), "/etc/hosts", oRDONLY), func(m *Match) {
		if out, _ := m.Render(); out != "18:00:00.123456789: Notice" {
			t.Errorf("blank output renders as %q", out)
		}
	})
}

// TestUnknownEventType: a value of evt.type that is no Falco event name
// matches nothing (Falco drops it from the rule's event types); the loader
// warns at the value's file:line:col, for a literal, a list operand and a
// list reference alike, and still loads the rule.
func TestUnknownEventType(t *testing.T) {
	s := mustLoad(t, src("e.yaml", `- list: open_types
  items: [openat, opneat2]
- rule: Typo
  desc: d
  condition: evt.type = opneat and proc.name = cat
  output: o
  priority: INFO
- rule: Mixed
  desc: d
  condition: evt.type in (open, opne) or evt.type in (open_types)
  output: o
  priority: INFO
- rule: Known
  desc: d
  condition: evt.type in (ptrace, mmap2, openat) and proc.name = cat
  output: o
  priority: INFO
`))
	text := warningsText(s)
	for _, want := range []string{
		`e.yaml:5:25: rule "Typo": evt.type: unknown event type "opneat"`,
		`e.yaml:3:3: rule "Typo": condition can never match`,
		`e.yaml:10:33: rule "Mixed": evt.type: unknown event type "opne"`,
		`e.yaml:10:55: rule "Mixed": evt.type: unknown event type "opneat2"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing warning %q in\n%s", want, text)
		}
	}
	if strings.Contains(text, `"Known"`) {
		t.Errorf("warning for Falco event names nightjar does not capture:\n%s", text)
	}
	if len(s.Rules()) != 3 {
		t.Errorf("%d rules loaded, want 3", len(s.Rules()))
	}
}

func TestFalcoEventNamesSorted(t *testing.T) {
	if !slices.IsSorted(falcoEventNames) {
		t.Fatal("falcoEventNames is not sorted: the binary search misses names")
	}
	for tp := event.Type(1); tp < event.NumTypes; tp++ {
		if _, ok := slices.BinarySearch(falcoEventNames, tp.String()); !ok && tp.String() != "unknown" {
			t.Errorf("captured event type %s is not among Falco's event names", tp)
		}
	}
}

// warningsText is a Set's warnings, one a line.
func warningsText(s *Set) string {
	var all []string
	for _, w := range s.Warnings() {
		all = append(all, w.Error())
	}
	return strings.Join(all, "\n")
}
