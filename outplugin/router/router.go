// Package router is the output plugin without cgo: it decodes a Fluent Bit
// chunk, evaluates the routes for every record, hands each destination its
// share of the chunk within the flush call and remembers, per chunk and
// destination, which records were settled so that a chunk Fluent Bit
// retries reaches no destination twice.
package router

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
)

// Status is the outcome of a flush, mapped by the plugin shell onto
// FLB_OK, FLB_RETRY and FLB_ERROR.
type Status int

const (
	// OK means every record was delivered or settled (dropped and counted).
	OK Status = iota
	// Retry means a transient failure left records undelivered; Fluent Bit
	// should hand the chunk back later.
	Retry
	// Error means records failed permanently; they are counted as dropped.
	Error
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Retry:
		return "retry"
	case Error:
		return "error"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Options tune a Router. Zero values select the defaults.
type Options struct {
	Logger       *slog.Logger
	FlushTimeout time.Duration // bound on one flush; default 60s
	LogInterval  time.Duration // period of the counters log line; default 60s, negative disables
	TrackerTTL   time.Duration // how long delivery state of a failed chunk is kept; default 2h
	TrackerMax   int           // most chunks whose delivery state is kept; default 4096
	// StateDir, when set, is where Open keeps the delivery state of partly
	// delivered chunks so that it survives a restart. New ignores it.
	StateDir string
}

// Router routes chunks to the destinations of one routes configuration.
type Router struct {
	cfg     *routes.Config
	log     *slog.Logger
	opts    Options
	tracker *tracker
	limiter *destination.Limiter
	pool    sync.Pool // *flushState

	skipped      atomic.Uint64 // malformed records and records that are not maps
	unrouted     atomic.Uint64 // records no route matched
	panics       atomic.Uint64 // flushes and destination calls that panicked
	panicDropped atomic.Uint64 // records of chunks dropped by a panic in the router
	chunks       [3]atomic.Uint64
	stop         chan struct{}
	stopped      sync.WaitGroup
	closeOnce    sync.Once
}

// New returns a router over cfg that keeps delivery state in memory only.
// The router owns cfg's destinations and closes them in Close.
func New(cfg *routes.Config, opts Options) *Router {
	opts.StateDir = ""
	r, _ := Open(cfg, opts)
	return r
}

// Open returns a router over cfg. With opts.StateDir the delivery state of
// partly delivered chunks is kept there and read back, so that chunks
// Fluent Bit sends again after a restart reach no destination twice. The
// router owns cfg's destinations and closes them in Close, also when Open
// fails.
func Open(cfg *routes.Config, opts Options) (*Router, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 60 * time.Second
	}
	if opts.LogInterval == 0 {
		opts.LogInterval = 60 * time.Second
	}
	if opts.TrackerTTL <= 0 {
		opts.TrackerTTL = 2 * time.Hour
	}
	if opts.TrackerMax <= 0 {
		opts.TrackerMax = 4096
	}
	var st *store
	if opts.StateDir != "" {
		ids := make([]string, len(cfg.Destinations))
		for i, d := range cfg.Destinations {
			ids[i] = d.ID()
		}
		var err error
		if st, err = openStore(opts.StateDir, ids); err != nil {
			cfg.Close()
			return nil, err
		}
	}
	r := &Router{
		cfg:     cfg,
		log:     opts.Logger,
		opts:    opts,
		tracker: newTracker(opts.TrackerMax, opts.TrackerTTL, st, opts.Logger),
		limiter: destination.NewLimiter(time.Minute),
		stop:    make(chan struct{}),
	}
	if st != nil {
		if err := r.tracker.restore(); err != nil {
			st.close()
			cfg.Close()
			return nil, err
		}
		if n := r.tracker.len(); n > 0 {
			r.log.Info("restored delivery state of partly delivered chunks", "dir", opts.StateDir, "chunks", n)
		}
	}
	if opts.LogInterval > 0 {
		r.stopped.Add(1)
		go r.logLoop(opts.LogInterval)
	}
	return r, nil
}

// flushState holds per-flush buffers reused across flushes.
type flushState struct {
	recs  []record.Record
	byDst [][]*record.Record
	seen  []bool
}

// Flush delivers the records of one chunk. It is safe for concurrent use.
func (r *Router) Flush(ctx context.Context, tag string, chunk []byte) (status Status) {
	defer func() {
		// A bug must not take Fluent Bit down: the chunk is dropped, and
		// counted with its records.
		if p := recover(); p != nil {
			n := countRecords(chunk)
			r.panics.Add(1)
			r.panicDropped.Add(uint64(n))
			r.chunks[Error].Add(1)
			r.log.Error("flush panicked; chunk dropped", "tag", tag, "records", n, "panic", p, "stack", string(debug.Stack()))
			status = Error
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, r.opts.FlushTimeout)
	defer cancel()

	key := chunkKey(tag, chunk)
	release, err := r.tracker.acquire(ctx, key)
	if err != nil {
		// An identical chunk is still being flushed; it can wait its turn.
		r.chunks[Retry].Add(1)
		return Retry
	}
	defer release()

	st, _ := r.pool.Get().(*flushState)
	if st == nil {
		st = &flushState{}
	}
	defer r.pool.Put(st)
	nd := len(r.cfg.Destinations)
	if cap(st.byDst) < nd {
		st.byDst = make([][]*record.Record, nd)
		st.seen = make([]bool, nd)
	}
	st.byDst = st.byDst[:nd]
	st.seen = st.seen[:nd]
	for i := range st.byDst {
		st.byDst[i] = st.byDst[i][:0]
	}

	dec := record.NewDecoder(chunk)
	st.recs = st.recs[:0]
	for {
		st.recs = append(st.recs, record.Record{})
		if !dec.Next(&st.recs[len(st.recs)-1]) {
			st.recs = st.recs[:len(st.recs)-1]
			break
		}
	}
	if n := dec.Skipped(); n > 0 {
		r.skipped.Add(uint64(n))
		r.limiter.Log(r.log, slog.LevelWarn, "skip", "skipped malformed records", "tag", tag, "count", n, "first_error", dec.Err())
	}

	done := r.tracker.get(key, len(chunk)) // nil when this chunk was never partly delivered
	r.route(tag, st, done)
	// With a store, a destination that finishes while others still run
	// has its progress saved when the flush is a retry or a slow one, so
	// that a crash before the flush returns repeats nothing it delivered.
	// Quick first attempts, the common case, write nothing.
	var progress func(result)
	if r.tracker.store != nil {
		start := time.Now()
		progress = func(res result) {
			if done == nil && time.Since(start) < progressAfter {
				return
			}
			if done == nil {
				done = r.tracker.newDelivery(len(chunk), nd)
			}
			done.settleResult(res)
			r.tracker.put(key, done)
		}
	}
	results := r.deliver(ctx, tag, st.byDst, progress)
	var failed []result
	for _, res := range results {
		if res.err != nil {
			failed = append(failed, res)
		}
	}
	if len(failed) == 0 {
		r.tracker.remove(key)
		r.chunks[OK].Add(1)
		return OK
	}

	status = Error
	for _, res := range failed {
		dst := r.cfg.Destinations[res.dst]
		if destination.IsPermanent(res.err) {
			dst.Metrics.Dropped.Add(uint64(res.batch.Pending()))
			r.limiter.Log(r.log, slog.LevelError, "permanent:"+dst.ID(), "destination failed permanently; records dropped", "destination", dst.ID(), "records", res.batch.Pending(), "error", res.err)
			continue
		}
		status = Retry
		r.limiter.Log(r.log, slog.LevelWarn, "transient:"+dst.ID(), "destination failed; chunk will be retried", "destination", dst.ID(), "records", res.batch.Pending(), "error", res.err)
	}
	if status == Error {
		r.tracker.remove(key)
		r.chunks[Error].Add(1)
		return Error
	}

	// Fluent Bit will flush this chunk again: remember what every
	// destination settled, including the records a permanent failure
	// dropped, so that the retry carries only what is still owed.
	if done == nil {
		done = r.tracker.newDelivery(len(chunk), nd)
	}
	for _, res := range results {
		done.settleResult(res)
	}
	r.tracker.put(key, done)
	r.chunks[Retry].Add(1)
	return Retry
}

// countRecords counts the records of a chunk for the drop counter of a
// panicked flush; a decoder that panics again counts nothing.
func countRecords(chunk []byte) (n int) {
	defer func() {
		if recover() != nil {
			n = 0
		}
	}()
	dec := record.NewDecoder(chunk)
	var rec record.Record
	for dec.Next(&rec) {
		n++
	}
	return n + dec.Skipped()
}

// route assigns each record to the destinations of the routes it matches,
// leaving out what done says a destination already settled.
func (r *Router) route(tag string, st *flushState, done *delivery) {
	unrouted := 0
	for i := range st.recs {
		rec := &st.recs[i]
		clear(st.seen)
		matched := false
		for _, rt := range r.cfg.Routes {
			if rt.Match != nil && !rt.Match(tag, rec) {
				continue
			}
			matched = true
			for _, d := range rt.To {
				if st.seen[d] {
					continue
				}
				st.seen[d] = true
				if done != nil && done.settled(d, rec.Index) {
					continue
				}
				st.byDst[d] = append(st.byDst[d], rec)
			}
			if !rt.Continue {
				break
			}
		}
		if !matched {
			if def := r.cfg.Default; def != nil {
				for _, d := range def.To {
					if !st.seen[d] && (done == nil || !done.settled(d, rec.Index)) {
						st.seen[d] = true
						st.byDst[d] = append(st.byDst[d], rec)
					}
				}
			} else {
				unrouted++
			}
		}
	}
	if unrouted > 0 {
		r.unrouted.Add(uint64(unrouted))
	}
}

// progressAfter is how long a first attempt runs before the destinations
// that finish have their progress saved.
const progressAfter = time.Second

// deliver sends every destination its records in parallel and returns
// each destination's outcome. progress, if not nil, is called from the
// calling goroutine with each outcome but the last, as they come in.
func (r *Router) deliver(ctx context.Context, tag string, byDst [][]*record.Record, progress func(result)) []result {
	results := make(chan result, len(byDst))
	running := 0
	for d, recs := range byDst {
		if len(recs) == 0 {
			continue
		}
		running++
		b := destination.NewBatch(tag, recs)
		go func() {
			err := r.send(ctx, d, b)
			if err == nil && b.Pending() > 0 {
				err = fmt.Errorf("%d records left unsettled", b.Pending())
			}
			results <- result{d, b, err}
		}()
	}
	out := make([]result, 0, running)
	for left := running; left > 0; left-- {
		res := <-results
		out = append(out, res)
		if progress != nil && left > 1 {
			progress(res)
		}
	}
	return out
}

// send calls a destination, turning a panic into a permanent error: a bug
// must not take Fluent Bit down, nor make it retry the chunk forever.
func (r *Router) send(ctx context.Context, d int, b *destination.Batch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.panics.Add(1)
			err = destination.Permanent(fmt.Errorf("destination %s panicked: %v\n%s", r.cfg.Destinations[d].ID(), p, debug.Stack()))
		}
	}()
	return r.cfg.Destinations[d].Dest.Send(ctx, b)
}

// result is one destination's outcome within a flush.
type result struct {
	dst   int
	batch *destination.Batch
	err   error
}

// chunkKey identifies a chunk by its tag and bytes, the same in every
// process, so that stored state matches a chunk resent after a restart.
func chunkKey(tag string, chunk []byte) uint64 {
	h := xxhash.New()
	h.WriteString(tag)
	h.Write([]byte{0})
	h.Write(chunk)
	return h.Sum64()
}

// Close stops the periodic log and closes the destinations.
func (r *Router) Close() error {
	var err error
	r.closeOnce.Do(func() {
		close(r.stop)
		r.stopped.Wait()
		r.logCounters()
		err = r.cfg.Close()
		if r.tracker.store != nil {
			if cerr := r.tracker.store.close(); err == nil {
				err = cerr
			}
		}
	})
	return err
}

// Counters are the router's own counts.
type Counters struct {
	Skipped, Unrouted     uint64
	ChunksOK, ChunksRetry uint64
	ChunksError           uint64
	TrackedChunks         int
	TrackerEvicted        uint64
	Panics                uint64 // flushes and destination calls that panicked
	PanicDropped          uint64 // records of chunks a panic in the router dropped
	StateWriteErrors      uint64 // delivery states that could not be saved
	StateCorrupt          uint64 // state files rejected at start-up (torn or corrupt)
}

// Counters returns the router's counts.
func (r *Router) Counters() Counters {
	return Counters{
		Skipped: r.skipped.Load(), Unrouted: r.unrouted.Load(),
		ChunksOK: r.chunks[OK].Load(), ChunksRetry: r.chunks[Retry].Load(), ChunksError: r.chunks[Error].Load(),
		TrackedChunks: r.tracker.len(), TrackerEvicted: r.tracker.evicted.Load(),
		Panics: r.panics.Load(), PanicDropped: r.panicDropped.Load(),
		StateWriteErrors: r.tracker.storeErrors.Load(), StateCorrupt: r.tracker.storeBad.Load(),
	}
}

// Destinations returns the configured destinations.
func (r *Router) Destinations() []*routes.Destination { return r.cfg.Destinations }

func (r *Router) logLoop(every time.Duration) {
	defer r.stopped.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.logCounters()
		}
	}
}

func (r *Router) logCounters() {
	c := r.Counters()
	r.log.Info("router counters", "skipped", c.Skipped, "unrouted", c.Unrouted, "chunks_ok", c.ChunksOK,
		"chunks_retry", c.ChunksRetry, "chunks_error", c.ChunksError, "tracked_chunks", c.TrackedChunks, "panics", c.Panics, "panic_dropped", c.PanicDropped,
		"state_write_errors", c.StateWriteErrors)
	for _, d := range r.cfg.Destinations {
		s := d.Metrics.Snapshot()
		r.log.Info("destination counters", "destination", d.ID(), "sent", s.Sent, "batches", s.Batches,
			"retries", s.Retries, "failures", s.Failures, "dropped", s.Dropped, "truncated", s.Truncated,
			"cache_evictions", s.CacheEvictions)
	}
}
