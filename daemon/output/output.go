// Package output owns alert delivery to sinks: the Sink interface, the
// stdout, file and HTTP sinks, and Fanout, which hands every alert to each
// enabled sink through its own bounded queue and counts, per sink, what was
// delivered, is pending, is spooled and was dropped.
package output

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nightjar-sec/nightjar/internal/alert"
)

// Sink delivers alerts to one destination. Send may be called from one
// goroutine at a time; Close flushes what the sink holds, bounded by ctx.
type Sink interface {
	Name() string
	Send(ctx context.Context, a *alert.Alert) error
	Close(ctx context.Context) error
}

// Stats are one sink's delivery counters.
type Stats struct {
	Delivered uint64 // alerts the destination accepted (acknowledged, where the protocol has acks)
	Pending   uint64 // alerts held in memory, not yet delivered
	Spooled   uint64 // alerts held on disk, not yet delivered
	Dropped   uint64 // alerts given up on; each one was logged or counted, never silent
	// Reconnects counts connections re-established after a failure.
	Reconnects uint64
	// FailingSince is when the sink's current run of failures began; zero
	// when its last attempt succeeded.
	FailingSince time.Time
}

// Reporter is implemented by sinks that keep their own counters (the forward
// sink, which delivers asynchronously). Fanout uses them instead of counting
// Send results.
type Reporter interface {
	Stats() Stats
}

// FanoutOptions configures a Fanout.
type FanoutOptions struct {
	// QueueSize bounds each sink's queue of alerts not yet handed to it.
	// When full, the alert is dropped for that sink and counted. Default 10000.
	QueueSize int
	Logger    *slog.Logger
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// Fanout sends each alert to every sink. It is safe for concurrent use.
type Fanout struct {
	opts  FanoutOptions
	lanes []*lane
	wg    sync.WaitGroup

	mu     sync.RWMutex
	closed bool
}

type lane struct {
	sink      Sink
	reporter  Reporter
	queue     chan *alert.Alert
	delivered atomic.Uint64
	dropped   atomic.Uint64
	failing   atomic.Int64 // unix nanoseconds of the first failure in a row, 0 when fine
}

// NewFanout starts one delivery goroutine per sink.
func NewFanout(opts FanoutOptions, sinks ...Sink) *Fanout {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Fanout{opts: opts}
	for _, s := range sinks {
		l := &lane{sink: s, queue: make(chan *alert.Alert, opts.QueueSize)}
		l.reporter, _ = s.(Reporter)
		f.lanes = append(f.lanes, l)
		f.wg.Add(1)
		go f.run(l)
	}
	return f
}

func (f *Fanout) run(l *lane) {
	defer f.wg.Done()
	for a := range l.queue {
		err := l.sink.Send(context.Background(), a)
		if l.reporter != nil {
			// The sink counts its own outcomes; Send failing means it
			// refused the alert outright.
			if err != nil {
				l.dropped.Add(1)
				f.opts.Logger.Error("output refused alert", "output", l.sink.Name(), "rule", a.Rule, "err", err)
			}
			continue
		}
		if err != nil {
			l.dropped.Add(1)
			l.failing.CompareAndSwap(0, f.opts.Now().UnixNano())
			f.opts.Logger.Error("alert not delivered", "output", l.sink.Name(), "rule", a.Rule, "err", err)
			continue
		}
		l.delivered.Add(1)
		l.failing.Store(0)
	}
}

// Send queues a for every sink. It never blocks: a sink whose queue is full
// loses the alert and counts it as dropped, and Send returns an error naming it.
func (f *Fanout) Send(a *alert.Alert) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		for _, l := range f.lanes {
			l.dropped.Add(1)
		}
		return errors.New("output: fan-out closed; alert dropped")
	}
	var errs []error
	for _, l := range f.lanes {
		select {
		case l.queue <- a:
		default:
			l.dropped.Add(1)
			errs = append(errs, fmt.Errorf("output %s: queue full, alert dropped", l.sink.Name()))
		}
	}
	return errors.Join(errs...)
}

// Stats returns every sink's counters by sink name.
func (f *Fanout) Stats() map[string]Stats {
	m := make(map[string]Stats, len(f.lanes))
	for _, l := range f.lanes {
		var st Stats
		if l.reporter != nil {
			st = l.reporter.Stats()
		} else {
			st.Delivered = l.delivered.Load()
			if ns := l.failing.Load(); ns != 0 {
				st.FailingSince = time.Unix(0, ns)
			}
		}
		st.Dropped += l.dropped.Load()
		st.Pending += uint64(len(l.queue))
		m[l.sink.Name()] = st
	}
	return m
}

// Close stops accepting alerts, lets every sink drain its queue and closes
// the sinks, all bounded by ctx. Alerts still queued when ctx ends are
// counted as dropped.
func (f *Fanout) Close(ctx context.Context) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	for _, l := range f.lanes {
		close(l.queue)
	}
	f.mu.Unlock()

	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		for _, l := range f.lanes {
			// Empty what is left so it is counted rather than lost.
			for range len(l.queue) {
				select {
				case <-l.queue:
					l.dropped.Add(1)
				default:
				}
			}
		}
		errs = append(errs, fmt.Errorf("output: flush: %w", ctx.Err()))
	}
	for _, l := range f.lanes {
		if err := l.sink.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("output %s: close: %w", l.sink.Name(), err))
		}
	}
	return errors.Join(errs...)
}
