package rules

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestMalformed loads each file of testdata/malformed and checks that the
// load fails with an error at the exact position, naming the item and the
// problem.
func TestMalformed(t *testing.T) {
	tests := []struct {
		file string
		pos  string // line:col, or line for whole-line YAML syntax errors
		want string
	}{
		{"append_undefined.yaml", "1:3", `list "nowhere": overrides list "nowhere", which is not defined before`},
		{"bad_bool.yaml", "3:56", `rule "Bad bool": evt.is_open_write: "yes" is not a boolean`},
		{"bad_cidr.yaml", "3:46", `rule "Bad cidr": fd.net: "10.0.0.0/33" is not a CIDR network`},
		{"bad_enabled.yaml", "6:12", `rule "Bad enabled": enabled must be true or false`},
		{"bad_hex.yaml", "3:56", `rule "Bad hex": proc.name: bcontains needs a hexadecimal byte string`},
		{"bad_int_value.yaml", "3:55", `rule "Bad int": proc.pid: "abc" is not a number`},
		{"bad_ip_value.yaml", "3:46", `rule "Bad ip": fd.sip: "10.0.0.300" is not an IP address`},
		{"bad_operator_for_type.yaml", "3:45", `rule "Bad op": operator contains does not apply to int field proc.pid`},
		{"bad_port.yaml", "3:48", `rule "Bad port": fd.sport: "70000" is not a port number`},
		{"bad_priority.yaml", "5:13", `rule "Bad priority": unknown priority "SEVERE"`},
		{"bad_regex.yaml", "3:52", `rule "Bad regex": proc.name: bad regular expression "ba(sh"`},
		{"error_in_macro.yaml", "2:36", `macro "broken": unknown field proc.naem`},
		{"error_in_macro.yaml", "5:14", `rule "Uses broken": uses macro broken, which has errors`},
		{"exception_arity.yaml", "11:11", `rule "Exception arity": exception e: 1 values for 2 fields`},
		{"exception_bad_comp.yaml", "9:18", `rule "Exception comp": exception e: unknown comparison operator "like"`},
		{"exception_comps_length.yaml", "9:14", `rule "Exception comps": exception e: 1 comps for 2 fields`},
		{"exception_unknown_field.yaml", "8:27", `rule "Exception field": exception e: unknown field proc.nmae`},
		{"field_bad_argument.yaml", "3:36", `rule "Field arg": field proc.aname: argument "x" is not a non-negative number`},
		{"hcl_bad_operator.hcl", "2:47", `macro "m": operator startswith does not apply to int field proc.pid`},
		{"hcl_syntax.hcl", "1:15", `Unclosed configuration block`},
		{"hcl_unknown_block.hcl", "8:1", `unknown block type "filter"`},
		{"hcl_unknown_field.hcl", "5:7", `rule "Heredoc": unknown field proc.nmae`},
		{"list_as_macro.yaml", "5:36", `rule "List as macro": shells is a list, not a macro`},
		{"list_cycle.yaml", "1:3", `list "first": list refers to itself through first -> second -> first`},
		{"macro_cycle.yaml", "4:31", `macro "pong": macro cycle: ping -> pong -> ping`},
		{"macro_cycle.yaml", "7:14", `rule "Cycle": uses macro ping, which has errors`},
		{"macro_self.yaml", "2:14", `macro "loop": macro cycle: loop -> loop`},
		{"missing_condition.yaml", "1:3", `rule "No condition": missing required key condition`},
		{"missing_priority.yaml", "1:3", `rule "No priority": missing required key priority`},
		{"not_a_list.yaml", "1:1", `a rules file is a list of rule, macro and list items, found a mapping`},
		{"output_unknown_field.yaml", "4:32", `rule "Output field": output: unknown field user.nmae`},
		{"override_bad_mode.yaml", "9:15", `rule "R": priority cannot be overridden with append`},
		{"override_undefined.yaml", "1:3", `rule "Not there": overrides rule "Not there", which is not defined before`},
		{"override_unlisted_key.yaml", "8:3", `rule "R": key output must be listed in override`},
		{"quoted_condition.yaml", "3:59", `rule "Quoted": unknown field proc.nme`},
		{"syntax_folded_block.yaml", "6:22", `rule "Folded": syntax error: expected an operator after field proc.cmdline, found "contans"`},
		{"syntax_literal_block.yaml", "6:30", `rule "Literal": syntax error: expected ')' to close '('`},
		{"syntax_missing_value.yaml", "3:47", `rule "Missing value": syntax error: expected a value`},
		{"syntax_unclosed_paren.yaml", "3:53", `rule "Unclosed": syntax error: expected ')' to close '('`},
		{"syntax_unterminated_string.yaml", "3:49", `rule "Unterminated": syntax error: unterminated quoted string`},
		{"tags_not_list.yaml", "6:9", `rule "Bad tags": tags must be a list, found a scalar`},
		{"unknown_field.yaml", "3:36", `rule "Bad field": unknown field proc.nme`},
		{"unknown_list.yaml", "3:49", `rule "Bad list": unknown list no_such_list`},
		{"unknown_macro.yaml", "3:36", `rule "Bad macro": unknown macro not_a_macro`},
		{"yaml_syntax.yaml", "4", `YAML syntax error: mapping values are not allowed`},
		{"exception_single_comp.yaml", "9:14", `rule "Single": exception e: with a single field, comps must be in, pmatch or intersects`},
		{"engine_too_new.yaml", "1:28", `rules require engine version 0.99.0, but nightjar's rule engine is 0.57.0`},
		{"engine_bad.yaml", "1:28", `unable to parse engine version "latest"`},
		{"plugin_missing.yaml", "2:7", `rules require plugin k8saudit 0.1.0, which nightjar does not provide`},
		{"macro_bad_name.yaml", "1:10", `macro "bad-name": macro name must be an identifier`},
		{"override_replace_source.yaml", "9:13", `rule "R": source cannot be overridden with replace`},
		{"exception_append_fields.yaml", "14:15", `rule "R": exception e: cannot append fields to an existing exception, only values`},
		{"exception_append_new_no_values.yaml", "12:7", `rule "R": exception fresh: a new exception appended to a rule needs values`},
		{"skip_unknown_other_error.yaml", "3:47", `rule "Skip": proc.pid: "abc" is not a number`},
		{"multidoc_error.yaml", "9:36", `rule "Second": unknown field proc.nme`},
		{"transformer_type.yaml", "3:14", `rule "Transform": transformer tolower applies to string fields, not int field proc.pid`},
		{"val_type_mismatch.yaml", "3:46", `rule "Val": cannot compare string field proc.name with int field proc.pid`},
		{"hostname_operator.yaml", "3:49", `rule "Host": operator startswith does not apply to fd.sip.name`},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.file] = true
		path := filepath.Join("testdata", "malformed", tc.file)
		_, err := LoadFiles(Options{}, path)
		var list ErrorList
		if !errors.As(err, &list) {
			t.Errorf("%s: error %v, want an ErrorList", tc.file, err)
			continue
		}
		want := path + ":" + tc.pos + ": " + tc.want
		found := false
		for _, e := range list {
			if strings.HasPrefix(e.Error(), want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no error starting %q in:\n%v", tc.file, want, err)
		}
		if err := Validate(path); err == nil {
			t.Errorf("Validate(%s) = nil", tc.file)
		}
	}
	files, err := filepath.Glob("testdata/malformed/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no expectation", f)
		}
	}
	if len(covered) < 30 {
		t.Errorf("corpus has %d files, want at least 30", len(covered))
	}
}

// TestErrorsCollected checks that one load reports every error, not just
// the first.
func TestErrorsCollected(t *testing.T) {
	_, err := Load(Options{}, src("a.yaml", ruleDoc("proc.nme = x")), src("b.yaml", `
- rule: B
  desc: d
  condition: evt.type = execve and nope
  output: "%fd.nam"
  priority: LOUD
`))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 4 {
		t.Fatalf("want 4 errors, got %v", err)
	}
	want := []string{
		`a.yaml:4:5: rule "R": unknown field proc.nme`,
		`b.yaml:4:36: rule "B": unknown macro nope`,
		`b.yaml:5:12: rule "B": output: unknown field fd.nam`,
		`b.yaml:6:13: rule "B": unknown priority "LOUD"`,
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, list[i], w)
		}
	}
}
