package pipeline

// The tests of this file run the whole detector on this machine: the eBPF
// capture in the real kernel, the process table seeded from /proc with the
// container resolver, the default rules and the pipeline. Each test then
// performs one attack behaviour for real, as a child process or inside a
// real container, and waits for the default rule's alert about that very
// process; a benign run checks that ordinary work raises none.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/capture"
	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/daemon/proctable"
	"github.com/nightjar-sec/nightjar/internal/alert"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/internal/testctr"
	"github.com/nightjar-sec/nightjar/rules"
)

// alertWait bounds the wait for one alert; the pipeline normally delivers
// it within milliseconds.
const alertWait = 10 * time.Second

// det is the test binary's detector, started by TestMain.
var det *detector

func TestMain(m *testing.M) {
	if action := os.Getenv(helperEnv); action != "" {
		os.Exit(runHelper(action, os.Args[1:]))
	}
	var err error
	det, err = startDetector()
	if err != nil {
		// Tests that need it fail with this error; the replay tests of
		// pipeline_test.go still run.
		det = &detector{startErr: err}
	}
	// Every default rule is raised by some behaviour of the corpus
	// (daemon/corpus), which checks that through the real binary.
	code := testctr.Main(m)
	if err := det.close(); err != nil {
		fmt.Fprintln(os.Stderr, "detector:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// record is one alert with what the tests select it by.
type record struct {
	alert *alert.Alert
	pid   uint32
	// lineage is pid and its known ancestors, nearest first.
	lineage   []uint32
	container string // container.id: the short id, or "host"
	seq       int
}

func (r *record) String() string {
	return fmt.Sprintf("%s (pid %d lineage %v container %s) %v", r.alert.Rule, r.pid, r.lineage, r.container, r.alert.OutputFields)
}

// descends reports whether the alert's process is pid or a descendant of it.
func (r *record) descends(pid int) bool {
	for _, p := range r.lineage {
		if p == uint32(pid) {
			return true
		}
	}
	return false
}

// detector is nightjar's detection path assembled as the daemon does it,
// keeping every alert in memory.
type detector struct {
	startErr error
	capture  *capture.Capture
	cancel   context.CancelFunc
	done     chan error

	// cur is the process of the event being evaluated; only the pipeline
	// goroutine touches it (OnEvent sets it, Emit reads it).
	cur *event.Process

	rules *rules.Set

	mu      sync.Mutex
	records []*record
	changed chan struct{} // closed and replaced on every new record
}

func startDetector() (*detector, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the default-rule tests load eBPF programs and run containers: run them as root")
	}
	set, err := rules.Default(rules.Options{Hostname: "nightjar-test"})
	if err != nil {
		return nil, fmt.Errorf("load default rules: %w", err)
	}
	resolver, err := container.NewResolver(container.Config{})
	if err != nil {
		return nil, fmt.Errorf("container resolver: %w", err)
	}
	table := proctable.New(proctable.Config{Containers: resolver})
	if err := table.Seed(context.Background()); err != nil {
		return nil, err
	}
	c, err := capture.Open(capture.Config{
		Types: CaptureTypes(set),
		// As the daemon excludes itself: the test binary's own file and
		// socket activity is not what the tests look at.
		ExcludePIDs: []uint32{uint32(os.Getpid())},
	})
	if err != nil {
		return nil, err
	}
	d := &detector{capture: c, rules: set, done: make(chan error, 1), changed: make(chan struct{})}
	p := New(Config{
		Source:    CaptureSource{Capture: c},
		Processes: table,
		Rules:     set,
		OnEvent:   func(ev *event.Event) { d.cur = ev.Proc },
		Emit:      d.emit,
	})
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { d.done <- p.Run(ctx) }()
	return d, nil
}

func (d *detector) emit(a *alert.Alert) {
	r := &record{alert: a, container: fmt.Sprint(a.OutputFields["container.id"])}
	for p, n := d.cur, 0; p != nil && n < 32; p, n = p.Parent, n+1 {
		if n == 0 {
			r.pid = p.PID
		}
		r.lineage = append(r.lineage, p.PID)
	}
	d.mu.Lock()
	r.seq = len(d.records)
	d.records = append(d.records, r)
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

func (d *detector) close() error {
	if d.capture == nil {
		return nil
	}
	d.cancel()
	d.capture.Close()
	return <-d.done
}

// need fails t when the detector could not start.
func (d *detector) need(t testing.TB) {
	t.Helper()
	if d.startErr != nil {
		t.Fatalf("detector: %v", d.startErr)
	}
}

// mark returns the position from which later waits look.
func (d *detector) mark() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.records)
}

// since returns the records from position from on.
func (d *detector) since(from int) []*record {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*record(nil), d.records[from:]...)
}

// wait returns the first record from position from on for which match is
// true, waiting up to alertWait; it fails t, listing the alerts that did
// arrive for which related is true (nil: all), when none comes.
func (d *detector) wait(t testing.TB, from int, what string, match, related func(*record) bool) *record {
	t.Helper()
	deadline := time.After(alertWait)
	for {
		d.mu.Lock()
		for _, r := range d.records[from:] {
			if match(r) {
				d.mu.Unlock()
				return r
			}
		}
		changed := d.changed
		d.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			var seen []string
			for _, r := range d.since(from) {
				if related == nil || related(r) {
					seen = append(seen, "\n\t"+r.String())
				}
			}
			t.Fatalf("no alert %s within %v; related alerts since the test began:%s", what, alertWait, strings.Join(seen, ""))
			return nil
		}
	}
}

// expect describes the alert a behaviour must raise.
type expect struct {
	rule string
	// fields are output fields the alert must carry, compared as text.
	fields map[string]string
}

// waitRule waits for the alert of rule about process pid or one of its
// descendants, carrying the expected fields.
func waitRule(t testing.TB, from, pid int, want expect) *record {
	t.Helper()
	return det.wait(t, from, fmt.Sprintf("%q for pid %d with %v", want.rule, pid, want.fields), func(r *record) bool {
		return r.alert.Rule == want.rule && r.descends(pid) && hasFields(r, want.fields)
	}, func(r *record) bool { return r.descends(pid) })
}

// waitContainerRule waits for the alert of rule about a process of
// container ctrID (its short id) carrying the expected fields.
func waitContainerRule(t testing.TB, from int, ctrID string, want expect) *record {
	t.Helper()
	return det.wait(t, from, fmt.Sprintf("%q in container %s with %v", want.rule, ctrID, want.fields), func(r *record) bool {
		return r.alert.Rule == want.rule && r.container == ctrID && hasFields(r, want.fields)
	}, func(r *record) bool { return r.container == ctrID })
}

// hasFields reports whether r's output fields have the given values, as text.
func hasFields(r *record, fields map[string]string) bool {
	for k, want := range fields {
		v, ok := r.alert.OutputFields[k]
		if !ok || fmt.Sprint(v) != want {
			return false
		}
	}
	return true
}
