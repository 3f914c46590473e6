package rules

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// TestLoaderCorpus loads each file of testdata/loader: files that load, as
// Falco loads them, with warnings at exact positions naming the item, and
// the rules that result.
func TestLoaderCorpus(t *testing.T) {
	bash := execEvent(proc("bash"))
	zsh := execEvent(proc("zsh"))
	cat := execEvent(proc("cat"))
	openat := openEvent(proc("cat"), "/etc/hosts", oRDONLY)
	tests := []struct {
		file     string
		warnings []string // file:line:col: item: message (prefixes)
		rules    []string // loaded rules
		ev       *event.Event
		fired    string
	}{
		{"duplicate_list.yaml", []string{`3:3: list "l": list "l" is defined again (first at testdata/loader/duplicate_list.yaml:1:3); this definition replaces it`},
			[]string{"R"}, nil, ""},
		{"duplicate_macro.yaml", []string{`3:3: macro "m": macro "m" is defined again`}, []string{"R"}, openat, "R"},
		{"duplicate_rule.yaml", []string{`6:3: rule "Twice": rule "Twice" is defined again`}, []string{"Twice"}, openat, "Twice"},
		{"unknown_item.yaml", []string{`6:3: unknown item "filter" skipped`}, []string{"R"}, bash, "R"},
		{"unknown_key.yaml", []string{`6:3: rule "Unknown key": unknown key "severity" ignored`}, []string{"Unknown key"}, bash, "Unknown key"},
		{"unused_macro_error.yaml", []string{
			`2:14: macro "unused": unused macro: unknown field proc.nam`,
			`1:3: macro "unused": macro not used by any rule; it would not compile`,
		}, []string{"R"}, bash, "R"},
		{"multidoc.yaml", nil, []string{"Shell"}, zsh, "Shell"},
		{"skip_unknown.yaml", []string{
			`2:14: macro "future": unknown field proc.future_field (rule skipped: skip-if-unknown-filter)`,
			`5:36: rule "Future condition": uses macro future, which has errors`,
			`12:13: rule "Future output": output: unknown field proc.other_future (rule skipped: skip-if-unknown-filter)`,
		}, []string{"Present"}, bash, "Present"},
		{"legacy_forms.yaml", []string{
			`8:3: rule "R": output ignored: append: true appends only condition and exceptions`,
			`9:11: rule "R": append: true is deprecated`,
			`15:3: rule "Off": a rule item with only enabled is deprecated`,
		}, []string{"R", "Off"}, bash, "R"},
		{"engine_versions.yaml", []string{
			`4:7: required plugin container 0.3.0: provided by nightjar's built-in fields`,
		}, []string{"R"}, cat, "R"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "loader", tc.file)
			s, err := LoadFiles(Options{}, path)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			var ws []string
			for _, w := range s.Warnings() {
				ws = append(ws, w.Error())
			}
			all := strings.Join(ws, "\n")
			for _, w := range tc.warnings {
				if !strings.Contains(all, path+":"+w) {
					t.Errorf("no warning %q in:\n%s", path+":"+w, all)
				}
			}
			var names []string
			for _, r := range s.Rules() {
				names = append(names, r.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.rules, ",") {
				t.Errorf("rules %q, want %q", names, tc.rules)
			}
			if tc.ev != nil {
				if got := firedString(s, tc.ev); got != tc.fired {
					t.Errorf("fired %q, want %q", got, tc.fired)
				}
			}
		})
	}
}

// TestOverrides checks override and append as Falco 0.44 applies them.
func TestOverrides(t *testing.T) {
	base := `- list: shells
  items: [bash]
- macro: shell
  condition: proc.name in (shells)
- rule: Shell
  desc: a shell
  condition: evt.type = execve and shell
  output: shell
  priority: WARNING
  tags: [a]
  exceptions:
    - name: known
      fields: [proc.pname]
      values: [[sshd]]
`
	bash := execEvent(proc("bash"))
	zsh := execEvent(proc("zsh"))
	bashUnderSSHD := execEvent(withParent(proc("bash"), "sshd"))
	bashUnderCron := execEvent(withParent(proc("bash"), "cron"))
	tests := []struct {
		name     string
		override string
		ev       *event.Event
		fired    string
		check    func(*testing.T, *Rule)
	}{
		{"condition append and output replace in one item", `- rule: Shell
  condition: and proc.args = ""
  output: replaced %proc.name
  override: {condition: append, output: replace}
`, bash, "Shell", func(t *testing.T, r *Rule) {
			if r.Output != "replaced %proc.name" || !strings.HasSuffix(r.Condition, `and proc.args = ""`) {
				t.Errorf("output %q condition %q", r.Output, r.Condition)
			}
		}},
		{"enabled replace disables", "- rule: Shell\n  enabled: false\n  override: {enabled: replace}\n", bash, "", nil},
		{"priority replace", "- rule: Shell\n  priority: CRITICAL\n  override: {priority: replace}\n", bash, "Shell",
			func(t *testing.T, r *Rule) {
				if r.Priority.String() != "Critical" {
					t.Errorf("priority %s", r.Priority)
				}
			}},
		{"tags append is a union", "- rule: Shell\n  tags: [a, b]\n  override: {tags: append}\n", bash, "Shell",
			func(t *testing.T, r *Rule) {
				if strings.Join(r.Tags, ",") != "a,b" {
					t.Errorf("tags %q", r.Tags)
				}
			}},
		{"tags replace", "- rule: Shell\n  tags: [c]\n  override: {tags: replace}\n", bash, "Shell",
			func(t *testing.T, r *Rule) {
				if strings.Join(r.Tags, ",") != "c" {
					t.Errorf("tags %q", r.Tags)
				}
			}},
		{"exception values appended", `- rule: Shell
  exceptions:
    - name: known
      values: [[cron]]
  override: {exceptions: append}
`, bashUnderCron, "", nil},
		{"new exception appended", `- rule: Shell
  exceptions:
    - name: by_name
      fields: proc.name
      values: [bash]
  override: {exceptions: append}
`, bash, "", nil},
		{"exceptions replaced", `- rule: Shell
  exceptions:
    - name: other
      fields: [proc.pname]
      values: [[cron]]
  override: {exceptions: replace}
`, bashUnderSSHD, "Shell", nil},
		{"the kept exception still excepts", "- rule: Shell\n  desc: more\n  override: {desc: append}\n", bashUnderSSHD, "",
			func(t *testing.T, r *Rule) {
				if r.Desc != "a shell more" {
					t.Errorf("desc %q", r.Desc)
				}
			}},
		{"list items append", "- list: shells\n  items: [zsh]\n  override: {items: append}\n", zsh, "Shell", nil},
		{"list items replace", "- list: shells\n  items: [zsh]\n  override: {items: replace}\n", bash, "", nil},
		{"macro condition append", "- macro: shell\n  condition: or proc.name = zsh\n  override: {condition: append}\n", zsh, "Shell", nil},
		{"macro condition replace", "- macro: shell\n  condition: proc.name = zsh\n  override: {condition: replace}\n", bash, "", nil},
		{"redefinition in a later file replaces", `- rule: Shell
  desc: d
  condition: evt.type = execve and proc.name = zsh
  output: o
  priority: INFO
`, zsh, "Shell", nil},
		{"skip-if-unknown-filter replace", "- rule: Shell\n  skip-if-unknown-filter: true\n  override: {skip-if-unknown-filter: replace}\n", bash, "Shell", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(Options{}, src("base.yaml", base), src("local.yaml", tt.override))
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if got := firedString(s, tt.ev); got != tt.fired {
				t.Errorf("fired %q, want %q", got, tt.fired)
			}
			if tt.check != nil {
				for _, r := range s.Rules() {
					if r.Name == "Shell" {
						tt.check(t, r)
					}
				}
			}
		})
	}
}

func TestContainerInfoDropped(t *testing.T) {
	s := mustLoad(t, src("c.yaml", "- rule: R\n  desc: d\n  condition: evt.type = execve\n  output: shell %container.info (%proc.name)\n  priority: INFO\n"))
	found := false
	for _, w := range s.Warnings() {
		if strings.HasPrefix(w.Error(), `c.yaml:4:17: rule "R": output: %container.info is deprecated`) {
			found = true
		}
	}
	if !found {
		t.Errorf("no deprecation warning in %v", s.Warnings())
	}
	n := s.Eval(execEvent(proc("bash")), func(m *Match) {
		if out, _ := m.Render(); !strings.HasSuffix(out, "Informational shell  (bash)") {
			t.Errorf("output %q", out)
		}
	})
	if n != 1 {
		t.Errorf("%d matches", n)
	}
}
