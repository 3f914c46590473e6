package rules

import (
	"sort"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
)

func src(name, text string) Source { return Source{Name: name, Data: []byte(text)} }

// ruleDoc returns a YAML document with one rule R of condition cond.
func ruleDoc(cond string) string {
	return "- rule: R\n  desc: test rule\n  condition: |\n    " + cond + "\n  output: out\n  priority: INFO\n"
}

func mustLoad(t *testing.T, srcs ...Source) *Set {
	t.Helper()
	s, err := Load(Options{Hostname: "node-1"}, srcs...)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return s
}

// fired returns the names of the rules that match ev, sorted.
func fired(s *Set, ev *event.Event) []string {
	var names []string
	s.Eval(ev, func(m *Match) { names = append(names, m.Rule.Name) })
	sort.Strings(names)
	return names
}

func firedString(s *Set, ev *event.Event) string { return strings.Join(fired(s, ev), ",") }

func proc(name string, args ...string) *event.Process {
	return &event.Process{Name: name, Exe: name, ExePath: "/usr/bin/" + name, Args: args, Cwd: "/root",
		Parent: &event.Process{PID: 1, Name: "systemd"}}
}

func inContainer(p *event.Process) *event.Process {
	p.Container = &event.Container{ID: "3f2a1b4c5d6e", Name: "web", ImageRepository: "nginx", K8sNamespace: "default", K8sPodName: "web-0"}
	return p
}

func execEvent(p *event.Process) *event.Event {
	return &event.Event{Type: event.Execve, Time: 1764180000123456789, PID: 4242, PPID: 1, Proc: p}
}

const (
	oRDONLY = 0
	oWRONLY = 0o1
	oRDWR   = 0o2
	oCREAT  = 0o100
	oTRUNC  = 0o1000
)

func openEvent(p *event.Process, path string, flags int64) *event.Event {
	return &event.Event{Type: event.Openat, Time: 1764180000123456789, PID: 4242, Res: 3,
		Args: [4]int64{-100, flags, 0o644}, Path: []byte(path), Proc: p}
}

func ip4(a, b, c, d byte) [16]byte { return [16]byte{a, b, c, d} }

func connectEvent(p *event.Process, ip [16]byte, port uint16) *event.Event {
	ev := &event.Event{Type: event.Connect, Time: 1764180000123456789, PID: 4242, Res: 0, Args: [4]int64{5}, Proto: 6, Proc: p}
	ev.Addr = event.SockAddr{Family: event.AFInet, Port: port, IP: ip}
	ev.Local = event.SockAddr{Family: event.AFInet, Port: 51000, IP: ip4(10, 1, 0, 5)}
	return ev
}
