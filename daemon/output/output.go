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

// Sink delivers alerts to one destination. Send is called from one
// goroutine at a time unless the sink implements Concurrent; Close, called
// once no Send is running, flushes what the sink holds, bounded by ctx.
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

// Concurrent is implemented by sinks whose Send may run on several
// goroutines at once (the HTTP sink); Fanout runs that many senders.
type Concurrent interface {
	Concurrency() int
}

// FanoutOptions configures a Fanout.
type FanoutOptions struct {
	// QueueSize bounds each sink's queue of alerts not yet handed to it.
	// When full, the alert is dropped for that sink and counted. Default 10000.
	QueueSize int
	Logger    *slog.Logger
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
	// CloseGrace bounds how long Close waits, after its context has ended,
	// for sinks still inside Send to return. Default 2s.
	CloseGrace time.Duration
}

// Fanout sends each alert to every sink. It is safe for concurrent use.
//
// Accounting: every alert given to Send is counted exactly once per sink.
// The fan-out counts what never reached the sink (its queue was full, it
// was closed, or Close cut the flush short) as dropped. For a plain sink it
// also counts Send's outcome: delivered, or dropped on error. A Reporter
// sink counts its own outcomes; the fan-out then only logs Send's error.
type Fanout struct {
	opts  FanoutOptions
	lanes []*lane
	wg    sync.WaitGroup

	// sendCtx is passed to every Send; Close cancels it when its own
	// context ends, so that no Send outlives the flush by much.
	sendCtx    context.Context
	cancelSend context.CancelFunc

	mu       sync.RWMutex
	closed   bool
	closeCtx context.Context // set by Close before the queues are closed
}

type lane struct {
	sink      Sink
	reporter  Reporter
	queue     chan *alert.Alert
	delivered atomic.Uint64
	dropped   atomic.Uint64
	failing   atomic.Int64 // unix nanoseconds of the first failure in a row, 0 when fine
	closeErr  error        // from sink.Close, written before done is closed
	done      chan struct{}
	senders   sync.WaitGroup
	lastLog   atomic.Int64 // unix nanoseconds of the last logged failure
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
	if opts.CloseGrace <= 0 {
		opts.CloseGrace = 2 * time.Second
	}
	f := &Fanout{opts: opts}
	f.sendCtx, f.cancelSend = context.WithCancel(context.Background())
	for _, s := range sinks {
		l := &lane{sink: s, queue: make(chan *alert.Alert, opts.QueueSize), done: make(chan struct{})}
		l.reporter, _ = s.(Reporter)
		f.lanes = append(f.lanes, l)
		n := 1
		if c, ok := s.(Concurrent); ok {
			n = max(1, c.Concurrency())
		}
		f.wg.Add(1)
		l.senders.Add(n)
		for range n {
			go f.send(l)
		}
		go f.finish(l)
	}
	return f
}

// finish closes the sink once every sender of its lane has returned, so a
// sink is never closed while it is inside Send.
func (f *Fanout) finish(l *lane) {
	defer f.wg.Done()
	defer close(l.done)
	l.senders.Wait()
	f.mu.RLock()
	ctx := f.closeCtx
	f.mu.RUnlock()
	if err := l.sink.Close(ctx); err != nil {
		l.closeErr = fmt.Errorf("output %s: close: %w", l.sink.Name(), err)
	}
}

// send delivers from one sink's queue until it is closed and empty.
func (f *Fanout) send(l *lane) {
	defer l.senders.Done()
	for a := range l.queue {
		if f.sendCtx.Err() != nil {
			// Close gave up on the flush: what is left is counted, not sent.
			l.dropped.Add(1)
			continue
		}
		err := l.sink.Send(f.sendCtx, a)
		if l.reporter != nil {
			// The sink counted this alert itself, whatever the outcome.
			if err != nil {
				f.logFailure(l, a, err)
			}
			continue
		}
		if err != nil {
			l.dropped.Add(1)
			l.failing.CompareAndSwap(0, f.opts.Now().UnixNano())
			f.logFailure(l, a, err)
			continue
		}
		l.delivered.Add(1)
		l.failing.Store(0)
	}
}

// logFailure logs a failed send at most once a second per sink; every
// failure is counted in Stats.
func (f *Fanout) logFailure(l *lane, a *alert.Alert, err error) {
	now := f.opts.Now().UnixNano()
	if last := l.lastLog.Load(); now-last < int64(time.Second) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	f.opts.Logger.Error("alert not delivered", "output", l.sink.Name(), "rule", a.Rule, "err", err)
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
// the sinks, all bounded by ctx. When ctx ends first, the sinks' sends are
// cancelled and what is still queued is counted as dropped; Close then
// waits up to CloseGrace for sinks still inside Send, and reports any that
// did not return (each is closed by its own goroutine when it does).
func (f *Fanout) Close(ctx context.Context) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.closeCtx = ctx
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
		f.cancelSend()
		for _, l := range f.lanes {
			// Count what is left now rather than when a sink stuck in
			// Send gets to it (the lane drops the rest without sending).
			for range l.queue {
				l.dropped.Add(1)
			}
		}
		errs = append(errs, fmt.Errorf("output: flush: %w", ctx.Err()))
		t := time.NewTimer(f.opts.CloseGrace)
		select {
		case <-done:
			t.Stop()
		case <-t.C:
			for _, l := range f.lanes {
				select {
				case <-l.done:
				default:
					errs = append(errs, fmt.Errorf("output %s: still sending %s after the flush deadline", l.sink.Name(), f.opts.CloseGrace))
				}
			}
			return errors.Join(errs...)
		}
	}
	f.cancelSend()
	for _, l := range f.lanes {
		if l.closeErr != nil {
			errs = append(errs, l.closeErr)
		}
	}
	return errors.Join(errs...)
}
