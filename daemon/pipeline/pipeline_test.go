package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/alert"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/rules"
)

// replay is a Source over recorded events.
type replay struct {
	events []event.Event
	errs   map[int]error // error returned instead of the event at index
	i      int
}

func (r *replay) Read(ev *event.Event) error {
	if r.i >= len(r.events) {
		return ErrEnd
	}
	i := r.i
	r.i++
	if err := r.errs[i]; err != nil {
		return err
	}
	*ev = r.events[i]
	return nil
}

// procs fills in a fixed process, as the process table would.
type procs struct{ p *event.Process }

func (s procs) Handle(ev *event.Event) { ev.Proc = s.p }

func shadowRead(pid uint32) event.Event {
	ev := event.Event{Type: event.Openat, PID: pid, TID: pid, Time: 1764180000123456789, Res: 3,
		Path: []byte("/etc/shadow")}
	ev.Args[1] = 0 // O_RDONLY
	ev.FD = &event.FD{Num: 3, Type: event.FDFile, Name: []byte("/etc/shadow")}
	return ev
}

func TestRunEmitsAlerts(t *testing.T) {
	set, err := rules.Default(rules.Options{Hostname: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	proc := &event.Process{PID: 42, Name: "cat", Exe: "cat", ExePath: "/usr/bin/cat", Args: []string{"/etc/shadow"},
		User: "root", Container: &event.Container{ID: "3f2a1b4c5d6e", Name: "web"}}
	benign := event.Event{Type: event.Openat, PID: 42, TID: 42, Res: 3, Path: []byte("/tmp/x")}
	benign.FD = &event.FD{Num: 3, Type: event.FDFile, Name: []byte("/tmp/x")}
	src := &replay{
		events: []event.Event{benign, {}, shadowRead(42)},
		errs:   map[int]error{1: errors.Join(ErrSkip, errors.New("bad record"))},
	}
	var got []*alert.Alert
	var skips []error
	p := New(Config{
		Source: src, Processes: procs{proc}, Rules: set,
		Emit:   func(a *alert.Alert) { got = append(got, a) },
		OnSkip: func(err error) { skips = append(skips, err) },
	})
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d alerts, want 1: %+v", len(got), got)
	}
	a := got[0]
	if a.Rule != "Read sensitive file untrusted" || a.Hostname != "node-1" {
		t.Errorf("alert = %+v", a)
	}
	for k, want := range map[string]any{"fd.name": "/etc/shadow", "proc.name": "cat",
		"container.id": "3f2a1b4c5d6e", "container.name": "web"} {
		if a.OutputFields[k] != want {
			t.Errorf("output_fields[%q] = %v, want %v", k, a.OutputFields[k], want)
		}
	}
	if len(skips) != 1 || !strings.Contains(skips[0].Error(), "bad record") {
		t.Errorf("skips = %v, want the one bad record", skips)
	}
	wantEvals := 2 * uint64(set.RulesFor(event.Openat))
	if st := p.Stats(); st != (Stats{Events: 2, Skipped: 1, Matches: 1, Evaluations: wantEvals}) || wantEvals == 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestReloadSwapsRules(t *testing.T) {
	def, err := rules.Default(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	none, err := rules.Load(rules.Options{}, rules.Source{Name: "empty.yaml", Data: []byte("- list: nothing\n  items: []\n")})
	if err != nil {
		t.Fatal(err)
	}
	proc := &event.Process{PID: 7, Name: "cat", User: "root"}
	src := &replay{events: []event.Event{shadowRead(7), shadowRead(7)}}
	var n int
	var p *Pipeline
	p = New(Config{Source: src, Processes: procs{proc}, Rules: def, Emit: func(*alert.Alert) {
		n++
		p.Reload(none) // takes effect from the next event
	}})
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("alerts = %d, want 1 (the reloaded empty set must not match)", n)
	}
}

func TestCaptureTypesIncludeState(t *testing.T) {
	set, err := rules.Default(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[event.Type]bool{}
	for _, ty := range CaptureTypes(set) {
		if got[ty] {
			t.Errorf("%v listed twice", ty)
		}
		got[ty] = true
	}
	for _, ty := range append(StateTypes(), event.Openat, event.Ptrace, event.Connect) {
		if !got[ty] {
			t.Errorf("capture types lack %v", ty)
		}
	}
}
