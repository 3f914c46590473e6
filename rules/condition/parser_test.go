package condition

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// show renders a tree compactly so that tests can compare structure.
func show(n Node) string {
	switch n := n.(type) {
	case *BinaryOp:
		parts := make([]string, len(n.Ops))
		for i, o := range n.Ops {
			parts[i] = show(o)
		}
		return "(" + n.Op + " " + strings.Join(parts, " ") + ")"
	case *Not:
		return "(not " + show(n.X) + ")"
	case *Ref:
		return "@" + n.Name
	case *Compare:
		f := n.Field
		if n.HasArg {
			f += "[" + n.Arg + "]"
		}
		for i := len(n.Transformers) - 1; i >= 0; i-- {
			f = n.Transformers[i] + "(" + f + ")"
		}
		switch {
		case n.RHS != nil:
			r := n.RHS.Field
			if n.RHS.HasArg {
				r += "[" + n.RHS.Arg + "]"
			}
			for i := len(n.RHS.Transformers) - 1; i >= 0; i-- {
				r = n.RHS.Transformers[i] + "(" + r + ")"
			}
			return fmt.Sprintf("[%s %s val(%s)]", f, n.Op, r)
		case n.Value != nil:
			q := ""
			if n.Value.Quoted {
				q = "'"
			}
			return fmt.Sprintf("[%s %s %s%s%s]", f, n.Op, q, n.Value.Text, q)
		case n.ListRef != nil:
			return fmt.Sprintf("[%s %s @%s]", f, n.Op, n.ListRef.Text)
		case n.IsList:
			vals := make([]string, len(n.List))
			for i, v := range n.List {
				vals[i] = v.Text
			}
			return fmt.Sprintf("[%s %s (%s)]", f, n.Op, strings.Join(vals, ","))
		}
		return fmt.Sprintf("[%s %s]", f, n.Op)
	}
	return "?"
}

func TestParse(t *testing.T) {
	tests := []struct{ in, want string }{
		{"proc.name = bash", "[proc.name = bash]"},
		{"proc.name == bash", "[proc.name == bash]"},
		{"proc.name=bash", "[proc.name = bash]"},
		{"proc.name != bash", "[proc.name != bash]"},
		{"proc.pid < 10", "[proc.pid < 10]"},
		{"proc.pid <= 10", "[proc.pid <= 10]"},
		{"proc.pid > 10", "[proc.pid > 10]"},
		{"proc.pid >= 10", "[proc.pid >= 10]"},
		{"fd.num>=0", "[fd.num >= 0]"},
		{"proc.name = val(proc.pname)", "[proc.name = val(proc.pname)]"},
		{"proc.name=val(proc.aname[2])", "[proc.name = val(proc.aname[2])]"},
		{"tolower(proc.name) = bash", "[tolower(proc.name) = bash]"},
		{"toupper( b64(proc.env[X]) ) contains Y", "[toupper(b64(proc.env[X])) contains Y]"},
		{"tolower(proc.name) = tolower(proc.pname)", "[tolower(proc.name) = val(tolower(proc.pname))]"},
		{"len(proc.args) > 3", "[len(proc.args) > 3]"},
		{"basename(proc.exepath) in (cat, ls)", "[basename(proc.exepath) in (cat,ls)]"},
		{"proc.name = val", "[proc.name = val]"},
		{"tolower and x.y = 1", "(and @tolower [x.y = 1])"},
		{"evt.dir = <", "[evt.dir = <]"},
		{"evt.dir=>", "[evt.dir = >]"},
		{"proc.name in (bash, sh, 'my shell')", "[proc.name in (bash,sh,my shell)]"},
		{"proc.name in ()", "[proc.name in ()]"},
		{"proc.name in shells", "[proc.name in @shells]"},
		{"proc.name intersects (a)", "[proc.name intersects (a)]"},
		{"fd.name pmatch (/etc, /usr/bin)", "[fd.name pmatch (/etc,/usr/bin)]"},
		{"proc.cmdline contains \"-e x\"", "[proc.cmdline contains '-e x']"},
		{"proc.cmdline icontains X", "[proc.cmdline icontains X]"},
		{"evt.buffer bcontains CAFE", "[evt.buffer bcontains CAFE]"},
		{"fd.name startswith /etc/", "[fd.name startswith /etc/]"},
		{"evt.buffer bstartswith 7f454c46", "[evt.buffer bstartswith 7f454c46]"},
		{"fd.name endswith .pem", "[fd.name endswith .pem]"},
		{"fd.name glob /home/*/.ssh/*", "[fd.name glob /home/*/.ssh/*]"},
		{"fd.name iglob *.PEM", "[fd.name iglob *.PEM]"},
		{"proc.env exists", "[proc.env exists]"},
		{`proc.name regex "ba(sh|d)\d"`, `[proc.name regex 'ba(sh|d)\d']`},
		{"proc.aname[2] = sshd", "[proc.aname[2] = sshd]"},
		{"proc.env[HOME] = /root", "[proc.env[HOME] = /root]"},
		{"evt.arg.flags contains O_TRUNC", "[evt.arg.flags contains O_TRUNC]"},
		{"evt.arg[0] = 5", "[evt.arg[0] = 5]"},
		{"spawned_process", "@spawned_process"},
		{"a and b or c", "(or (and @a @b) @c)"},
		{"a or b and c", "(or @a (and @b @c))"},
		{"not a and b", "(and (not @a) @b)"},
		{"not not a", "(not (not @a))"},
		{"a and (b or c)", "(and @a (or @b @c))"},
		{"((a))", "@a"},
		{"a and b and c", "(and @a @b @c)"},
		{"notify and android", "(and @notify @android)"},
		{"proc.name = 'it''s'", ""}, // error, checked below
		{"proc.name = \"a\\\"b\"", `[proc.name = 'a"b']`},
		{"proc.name='a\\nb'", "[proc.name = 'a\nb']"},
		{"\n\tproc.name\n=\nbash\n", "[proc.name = bash]"},
		{"fd.sip = 10.0.0.1 and fd.net = 10.0.0.0/8", "(and [fd.sip = 10.0.0.1] [fd.net = 10.0.0.0/8])"},
		{"proc.name in (a,b,)", ""},
	}
	for _, tc := range tests {
		n, err := Parse(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %s, want error", tc.in, show(n))
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := show(n); got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParsePositions(t *testing.T) {
	n, err := Parse("a and\n  proc.name in (x, 'y')")
	if err != nil {
		t.Fatal(err)
	}
	c := n.(*BinaryOp).Ops[1].(*Compare)
	if c.At != (Pos{Offset: 8, Line: 2, Col: 3}) {
		t.Errorf("compare at %+v", c.At)
	}
	if c.OpAt != (Pos{Offset: 18, Line: 2, Col: 13}) {
		t.Errorf("op at %+v", c.OpAt)
	}
	if c.List[1].At != (Pos{Offset: 25, Line: 2, Col: 20}) || !c.List[1].Quoted {
		t.Errorf("value at %+v", c.List[1])
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		pos  string
		want string
	}{
		{"", "1:1", "unexpected end of condition"},
		{"proc.name", "1:10", "expected an operator after field proc.name"},
		{"proc.name bash", "1:11", "expected an operator"},
		{"proc.name = ", "1:13", "expected a value"},
		{"proc.name = 'abc", "1:13", "unterminated quoted string"},
		{"(proc.name = a", "1:15", "expected ')'"},
		{"proc.name = a)", "1:14", "unexpected \")\" after end of condition"},
		{"proc.name in (a, b", "1:19", "unterminated list"},
		{"proc.name in (a b)", "1:17", "expected ',' or ')'"},
		{"proc.name in", "1:13", "expects a list in parentheses"},
		{"a and", "1:6", "unexpected end of condition"},
		{"and a", "1:1", "unexpected \"and\""},
		{"a or or b", "1:6", "unexpected \"or\""},
		{"name = x", "1:1", "\"name\" is not a field"},
		{"proc.aname[ = x", "1:11", "unterminated field argument"},
		{"proc.aname[] = x", "1:11", "empty field argument"},
		{"proc.name = (a)", "1:13", "takes a single value"},
		{"tolower(proc.name = x", "1:19", "expected ')' to close tolower("},
		{"tolower(name) = x", "1:9", "is not a field"},
		{"tolower(val(proc.name)) = x", "1:9", "val() cannot be nested"},
		{"a\n  and ?", "2:7", "unexpected \"?\""},
		{"proc.name in (a, (b))", "1:18", "expected a value"},
		{strings.Repeat("(", 2000) + "a" + strings.Repeat(")", 2000), "1:1002", "nested too deeply"},
		{strings.Repeat("not ", 1200) + "a", "1:4005", "nested too deeply"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.in)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q): error %v, want *Error", tc.in, err)
			continue
		}
		if tc.want == "" {
			continue
		}
		if pe.Pos.String() != tc.pos || !strings.Contains(pe.Msg, tc.want) {
			t.Errorf("Parse(%q) error = %s: %s, want %s: ...%s...", tc.in, pe.Pos, pe.Msg, tc.pos, tc.want)
		}
	}
}

func TestWalk(t *testing.T) {
	n, err := Parse("a and not (b or proc.name = x)")
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	Walk(n, func(n Node) bool {
		if r, ok := n.(*Ref); ok {
			refs = append(refs, r.Name)
		}
		return true
	})
	if strings.Join(refs, ",") != "a,b" {
		t.Errorf("refs = %v", refs)
	}
}

// FuzzParseCondition checks that no input makes the parser panic, that
// errors carry positions inside the input, and that every node position
// lies inside the input.
func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{
		"proc.name = bash",
		"spawned_process and container and proc.name in (shell_binaries) and proc.tty != 0",
		"evt.type in (open, openat) and evt.is_open_write=true and fd.name pmatch (/etc, /usr)",
		"not (a or b) and proc.aname[2] startswith \"ss\\\"h\"",
		"fd.sip = 10.0.0.0/8 or fd.sport >= 1024",
		"proc.cmdline regex 'a[0-9]+' and evt.arg.flags contains O_TRUNC",
		"((((a))))",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error of type %T", err)
			}
			if pe.Pos.Offset < 0 || pe.Pos.Offset > len(s) || pe.Pos.Line < 1 || pe.Pos.Col < 1 {
				t.Fatalf("error position %+v outside input of %d bytes", pe.Pos, len(s))
			}
			return
		}
		Walk(n, func(n Node) bool {
			if p := n.Position(); p.Offset < 0 || p.Offset >= len(s) {
				t.Fatalf("node position %+v outside input of %d bytes", p, len(s))
			}
			return true
		})
	})
}

func TestUnquote(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`"10.0.0.0/8"`, "10.0.0.0/8", true},
		{`'(systemd)'`, "(systemd)", true},
		{`"a \"b\""`, `a "b"`, true},
		{`plain`, "plain", false},
		{`"open`, `"open`, false},
		{`"a" "b"`, `"a" "b"`, false},
		{`"`, `"`, false},
	}
	for _, tt := range tests {
		got, ok := Unquote(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Unquote(%s) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
