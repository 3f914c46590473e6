package rules

import (
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// TestOperators exercises every operator on every field type, including
// Falco's rule that a comparison with a missing field is false.
func TestOperators(t *testing.T) {
	p := proc("bash", "-c", "echo hi")
	p.Parent = &event.Process{PID: 77, Name: "sshd", Parent: &event.Process{PID: 1, Name: "systemd"}}
	open := openEvent(p, "/etc/shadow", oRDONLY)
	open.Time = 1000
	conn := connectEvent(p, ip4(10, 96, 0, 1), 443)
	bare := &event.Event{Type: event.Openat, Res: 3, Path: []byte("/x")} // no process info
	tests := []struct {
		cond string
		ev   *event.Event
		want bool
	}{
		// String fields.
		{"proc.name = bash", open, true},
		{"proc.name == bash", open, true},
		{"proc.name = sh", open, false},
		{"proc.name != sh", open, true},
		{"proc.name != bash", open, false},
		{"proc.pname != sshd", bare, false}, // missing: false even for !=
		{"not proc.pname = sshd", bare, true},
		{"proc.name in (sh, bash)", open, true},
		{"proc.name in (sh, zsh)", open, false},
		{"proc.name in (a1, a2, a3, a4, a5, a6, a7, a8, a9, bash)", open, true},
		{"proc.name in (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10)", open, false},
		{"proc.name intersects (bash)", open, true},
		{"proc.name in ()", open, false},
		{"proc.cmdline contains 'echo hi'", open, true},
		{"proc.cmdline contains ECHO", open, false},
		{"proc.cmdline icontains ECHO", open, true},
		{"proc.cmdline icontains nope", open, false},
		{"proc.name bcontains 6173", open, true},    // "as"
		{"proc.name bcontains 7a7a", open, false},   // "zz"
		{"proc.name bstartswith 6261", open, true},  // "ba"
		{"proc.name bstartswith 6173", open, false}, // "as"
		{"fd.name startswith /etc/", open, true},
		{"fd.name startswith /usr/", open, false},
		{"fd.name endswith shadow", open, true},
		{"fd.name endswith passwd", open, false},
		{"fd.name glob /etc/*", open, true},
		{"fd.name glob '/e?c/sh[a-d]dow'", open, true},
		{"fd.name glob '/e?c/sh[!a]dow'", open, false},
		{"fd.name glob /*/shadow", open, true},
		{"fd.name glob /usr/*", open, false},
		{"fd.name iglob /ETC/SHA*", open, true},
		{"fd.name glob /ETC/SHA*", open, false},
		{"fd.name pmatch (/usr, /etc)", open, true},
		{"fd.name pmatch (/etc/shadow)", open, true},
		{"fd.name pmatch (/et)", open, false},
		{"fd.name pmatch (/etc/)", open, true},
		{"fd.name pmatch (/e*/sha*)", open, true}, // wildcards match a component each
		{"fd.name pmatch (/e?c)", open, true},
		{"fd.name pmatch (/*)", open, true},
		{"fd.name pmatch (/usr/*, /*/shadow/x)", open, false},
		{"fd.name pmatch (/*/sh)", open, false},
		{"fd.name pmatch (/e*c/shadow)", open, true},
		{"fd.name pmatch (e*/shadow)", open, false}, // relative pattern, absolute path
		{"fd.name regex '/etc/s[a-z]+'", open, true},
		{"fd.name regex 'shadow'", open, false}, // whole-string match
		{"fd.name exists", open, true},
		{"fd.sip exists", open, false},
		{"proc.pname exists", bare, false},
		{"evt.type = openat", open, true},
		{"evt.type != openat", open, false},
		{"evt.type startswith open", open, true},
		{"evt.dir = <", open, true},
		{"evt.dir = >", open, false},
		// Multi-valued fields: any ancestor.
		{"proc.aname = systemd", open, true},
		{"proc.aname = init", open, false},
		{"proc.aname in (init, sshd)", open, true},
		{"proc.aname[1] = sshd", open, true},
		{"proc.aname[2] = sshd", open, false},
		{"proc.apid = 1", open, true},
		{"proc.apid[1] = 77", open, true},
		// Integer fields.
		{"proc.pid = 4242", open, true},
		{"proc.pid != 4242", open, false},
		{"proc.pid < 5000", open, true},
		{"proc.pid < 4242", open, false},
		{"proc.pid <= 4242", open, true},
		{"proc.pid > 4242", open, false},
		{"proc.pid >= 4242", open, true},
		{"proc.pid in (1, 4242)", open, true},
		{"proc.pid in (1, 2)", open, false},
		{"proc.pid intersects (4242)", open, true},
		{"evt.rawres = 0x3", open, true},
		{"evt.rawres >= 0", open, true},
		{"proc.tty exists", bare, false},
		{"proc.tty = 0", open, true},
		// Booleans.
		{"evt.failed = false", open, true},
		{"evt.failed = true", open, false},
		{"evt.failed != true", open, true},
		{"evt.is_open_read = true", open, true},
		{"evt.is_open_read in (true)", open, true},
		// Time.
		{"evt.time > 999", open, true},
		{"evt.time < 1000", open, false},
		// Ports.
		{"fd.sport = 443", conn, true},
		{"fd.sport in (80, 443)", conn, true},
		{"fd.sport != 443", conn, false},
		{"fd.sport > 1024", conn, false},
		{"fd.cport > 1024", conn, true},
		{"fd.port = 51000", conn, true},
		{"fd.sport = 443", open, false},
		// Addresses.
		{"fd.sip = 10.96.0.1", conn, true},
		{"fd.sip = 10.96.0.2", conn, false},
		{"fd.sip = 10.0.0.0/8", conn, true},
		{"fd.sip != 10.0.0.0/8", conn, false},
		{"fd.sip in (192.168.0.1, 10.96.0.1)", conn, true},
		{"fd.sip in (::1, 192.168.0.0/16)", conn, false},
		{"fd.rip = 10.96.0.1", conn, true},
		{"fd.lip = 10.1.0.5", conn, true},
		{"fd.ip = 10.1.0.5", conn, true},
		{"fd.net = 10.1.0.0/16", conn, true},
		{"fd.net = 172.16.0.0/12", conn, false},
		{"fd.snet = 10.96.0.0/12", conn, true},
		{"fd.cnet = 10.96.0.0/12", conn, false},
		{"fd.net in (172.16.0.0/12, 10.96.0.0/24)", conn, true},
		{"fd.sip exists", conn, true},
		// Boolean structure.
		{"proc.name = bash and fd.name = /etc/shadow", open, true},
		{"proc.name = bash and fd.name = /etc/passwd", open, false},
		{"proc.name = sh or fd.name = /etc/shadow", open, true},
		{"not (proc.name = sh or fd.name = /etc/passwd)", open, true},
		{"not proc.name = bash", open, false},
		{"(evt.type = openat or evt.type = open) and not evt.type = open", open, true},
		{"evt.type in (execve) and proc.name = bash", open, false},
	}
	for _, tc := range tests {
		s, err := Load(Options{}, src("t.yaml", ruleDoc(tc.cond)))
		if err != nil {
			t.Errorf("%s: %v", tc.cond, err)
			continue
		}
		got := len(fired(s, tc.ev)) == 1
		if got != tc.want {
			t.Errorf("%s on %s event: matched=%v, want %v", tc.cond, tc.ev.Type, got, tc.want)
		}
	}
}

// TestEventTypeIndex checks that the event types a rule can match are
// derived from its condition, through macros, negation and constants.
func TestEventTypeIndex(t *testing.T) {
	tests := []struct {
		cond string
		want string
	}{
		{"evt.type = openat", "openat"},
		{"evt.type in (open, openat) and proc.name = x", "open,openat"},
		{"evt.type = open or evt.type = connect", "open,connect"},
		{"(evt.type = open or proc.name = x) and evt.type = connect", "connect"},
		{"evt.type = execve and evt.dir = <", "execve"},
		{"not evt.type != ptrace", "ptrace"},
		{"evt.type startswith setres", "setresuid,setresgid"},
		{"evt.type in (open, openat) and not evt.type = open", "openat"},
	}
	for _, tc := range tests {
		s := mustLoad(t, src("t.yaml", ruleDoc(tc.cond)))
		var names []string
		for _, ty := range s.Rules()[0].EventTypes {
			names = append(names, ty.String())
		}
		if got := joinComma(names); got != tc.want {
			t.Errorf("%s: types %s, want %s", tc.cond, got, tc.want)
		}
		if got := joinComma(typeNames(s.Types())); got != tc.want {
			t.Errorf("%s: Set.Types %s, want %s", tc.cond, got, tc.want)
		}
	}
}

func typeNames(ts []event.Type) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.String())
	}
	return out
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}
