// Package pipeline owns the daemon's event loop: it reads captured events,
// keeps the process table current, evaluates the rules and turns their
// matches into alerts.
//
// Everything on the event path runs on the goroutine that calls Run, so the
// process table and the rule evaluator need no locks. Alerts leave through
// Emit, which must not block (output.Fanout.Send queues and never blocks).
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/alert"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/rules"
)

// Source yields captured events; *capture.Capture implements it, and tests
// replay recorded events through it. Read returns ErrEnd (or an error that
// wraps it) when there are no more events, and may return ErrSkip for a
// record it could not decode, which Run counts and skips.
type Source interface {
	Read(ev *event.Event) error
}

var (
	// ErrEnd ends Run without error.
	ErrEnd = errors.New("end of events")
	// ErrSkip makes Run skip one record.
	ErrSkip = errors.New("skip record")
)

// Processes is the process table; *proctable.Table implements it.
type Processes interface {
	Handle(ev *event.Event)
}

// StateTypes returns the event types the process table needs whatever the
// rules ask for: without them process names, ancestry, and cwd would go
// stale. The slice is the caller's.
func StateTypes() []event.Type {
	return []event.Type{
		event.Execve, event.Execveat,
		event.Clone, event.Clone3, event.Fork, event.Vfork, event.ProcExit,
		event.Chdir, event.Fchdir,
		event.Dup, event.Dup2, event.Dup3,
	}
}

// CaptureTypes returns the event types to capture for set: the ones its
// rules need plus StateTypes.
func CaptureTypes(set *rules.Set) []event.Type {
	var seen [event.NumTypes]bool
	var out []event.Type
	for _, list := range [][]event.Type{StateTypes(), set.Types()} {
		for _, t := range list {
			if t < event.NumTypes && !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// Config configures a Pipeline.
type Config struct {
	Source    Source
	Processes Processes
	Rules     *rules.Set
	// Emit receives each alert. It is called on the event goroutine and
	// must not block. Alerts leave without uuid; delivery assigns it.
	Emit func(*alert.Alert)
	// OnEvent, if set, sees every event after enrichment, before the rules;
	// telemetry counts events with it.
	OnEvent func(*event.Event)
	// OnSkip, if set, sees every record the source could not decode.
	OnSkip func(error)
}

// Stats are the pipeline's counters.
type Stats struct {
	Events, Skipped, Matches uint64
	// Evaluations counts rule conditions evaluated against events.
	Evaluations uint64
}

// Pipeline is the daemon's event loop.
type Pipeline struct {
	cfg     Config
	pending atomic.Pointer[rules.Set] // set by Reload, picked up by Run
	events  atomic.Uint64
	skipped atomic.Uint64
	matches atomic.Uint64
	evals   atomic.Uint64
}

// New returns a pipeline; Run starts it.
func New(cfg Config) *Pipeline {
	return &Pipeline{cfg: cfg}
}

// Reload replaces the rule set from the next event on. It is safe to call
// from any goroutine; the caller also updates the kernel-side filter.
func (p *Pipeline) Reload(set *rules.Set) { p.pending.Store(set) }

// Stats returns the counters; safe from any goroutine.
func (p *Pipeline) Stats() Stats {
	return Stats{Events: p.events.Load(), Skipped: p.skipped.Load(), Matches: p.matches.Load(),
		Evaluations: p.evals.Load()}
}

// Run processes events until the source ends or fails, or ctx is done. The
// caller stops a blocked Read by closing the source when ctx ends.
func (p *Pipeline) Run(ctx context.Context) error {
	set := p.cfg.Rules
	eval := set.NewEvaluator()
	var ev event.Event
	emit := func(m *rules.Match) {
		p.matches.Add(1)
		p.cfg.Emit(p.alert(m))
	}
	for ctx.Err() == nil {
		if next := p.pending.Swap(nil); next != nil {
			set, eval = next, next.NewEvaluator()
		}
		ev = event.Event{}
		err := p.cfg.Source.Read(&ev)
		switch {
		case err == nil:
		case errors.Is(err, ErrEnd):
			return nil
		case errors.Is(err, ErrSkip):
			p.skipped.Add(1)
			if p.cfg.OnSkip != nil {
				p.cfg.OnSkip(err)
			}
			continue
		default:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read event: %w", err)
		}
		p.events.Add(1)
		if p.cfg.Processes != nil {
			p.cfg.Processes.Handle(&ev)
		}
		if p.cfg.OnEvent != nil {
			p.cfg.OnEvent(&ev)
		}
		if n := set.RulesFor(ev.Type); n > 0 {
			p.evals.Add(uint64(n))
			eval.Eval(&ev, emit)
		}
	}
	return nil
}

// alert builds the alert of a match. It copies everything it keeps: the
// match and its event are only valid until the next event.
func (p *Pipeline) alert(m *rules.Match) *alert.Alert {
	a := m.Alert()
	if a.OutputFields == nil {
		a.OutputFields = make(map[string]any, 2)
	}
	var c *event.Container
	if m.Event.Proc != nil {
		c = m.Event.Proc.Container
	}
	if _, ok := a.OutputFields["container.id"]; !ok {
		a.OutputFields["container.id"] = container.ID(c)
	}
	if _, ok := a.OutputFields["container.name"]; !ok {
		a.OutputFields["container.name"] = containerName(c)
	}
	return &a
}

// containerName is container.name as Falco prints it: "host" outside a
// container, null when the runtime gave no name.
func containerName(c *event.Container) any {
	if c == nil {
		return "host"
	}
	if c.Name == "" {
		return nil
	}
	return c.Name
}
