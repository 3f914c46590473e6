package router_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/nightjar-sec/nightjar/outplugin/cloudlogging"
	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch"
	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch/cwtest"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/router"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"google.golang.org/grpc/codes"
)

// openRouter is newRouter through router.Open, returning its error.
func openRouter(t *testing.T, src string, opts router.Options) (*router.Router, error) {
	t.Helper()
	reg := destination.NewRegistry()
	cloudwatch.Register(reg)
	cloudlogging.Register(reg)
	cfg, err := routes.Parse([]byte(src), "routes.hcl", routes.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	opts.LogInterval = -1
	return router.Open(cfg, opts)
}

func clCounts(e *env) map[string]int {
	out := map[string]int{}
	for _, en := range e.cl.Entries() {
		out[en.InsertId]++
	}
	return out
}

// TestStateSurvivesRestart: CloudWatch takes a chunk, Cloud Logging fails
// it, and the router is closed and opened again on the same state_dir
// (with the destinations declared in the other order) before Fluent Bit's
// retry. Each destination ends with each record once. Without state_dir
// the same sequence duplicates the CloudWatch records, which shows the
// test can tell.
func TestStateSurvivesRestart(t *testing.T) {
	for _, persist := range []bool{true, false} {
		name := "state_dir"
		if !persist {
			name = "memory"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			cw, cl := e.cloudwatch("cw", "max_attempts = 1"), e.cloudLogging("cl", "max_attempts = 1")
			route := `route "all" { to = [destination.cloudwatch.cw, destination.cloud_logging.cl] }`
			opts := router.Options{}
			if persist {
				opts.StateDir = filepath.Join(t.TempDir(), "state")
			}
			chunk := recordtest.Chunk(recordtest.EventTime, 0, 3000, time.Now())
			r1, err := openRouter(t, cw+cl+route, opts)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 { // 3000 entries: three requests, all refused
				e.cl.Inject(codes.Unavailable)
			}
			if st := r1.Flush(context.Background(), "nightjar", chunk); st != router.Retry {
				t.Fatalf("first flush: %v, want retry", st)
			}
			if err := r1.Close(); err != nil {
				t.Fatal(err)
			}

			r2, err := openRouter(t, cl+cw+route, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			if c := r2.Counters(); persist && c.TrackedChunks != 1 {
				t.Errorf("reopened router tracks %d chunks, want 1", c.TrackedChunks)
			}
			if st := r2.Flush(context.Background(), "nightjar", chunk); st != router.OK {
				t.Fatalf("flush after restart: %v, want ok", st)
			}
			cwSeen := uuids(t, e.cw.Events("/nightjar/cw", "node-1"))
			if persist {
				exactlyOnce(t, "cloudwatch", cwSeen, 3000)
				if n := r2.Counters().TrackedChunks; n != 0 {
					t.Errorf("%d chunks still tracked after delivery", n)
				}
				if left, _ := filepath.Glob(filepath.Join(opts.StateDir, "*.state")); len(left) != 0 {
					t.Errorf("state files left after delivery: %v", left)
				}
			} else if dups := len(e.cw.Events("/nightjar/cw", "node-1")) - len(cwSeen); dups != 3000 {
				t.Errorf("without state_dir CloudWatch got %d duplicates, want 3000", dups)
			}
			exactlyOnce(t, "cloud logging", clCounts(e), 3000)
		})
	}
}

// TestStateTornAndCorrupt: a torn state file, one with a flipped bit and a
// temporary file left by a crash are refused at start-up and counted; the
// intact state is used.
func TestStateTornAndCorrupt(t *testing.T) {
	e := newEnv(t)
	src := e.cloudwatch("cw", "max_attempts = 1") + e.cloudLogging("cl", "max_attempts = 1") +
		`route "all" { to = [destination.cloudwatch.cw, destination.cloud_logging.cl] }`
	dir := t.TempDir()
	r1, err := openRouter(t, src, router.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	chunks := [][]byte{
		recordtest.Chunk(recordtest.EventTime, 0, 100, time.Now()),
		recordtest.Chunk(recordtest.EventTime, 100, 100, time.Now()),
		recordtest.Chunk(recordtest.EventTime, 200, 100, time.Now()),
	}
	for i, c := range chunks {
		e.cl.Inject(codes.Unavailable)
		if st := r1.Flush(context.Background(), "t", c); st != router.Retry {
			t.Fatalf("flush %d: %v", i, st)
		}
	}
	r1.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.state"))
	if len(files) != 3 {
		t.Fatalf("%d state files, want 3", len(files))
	}
	// Torn: the file cut in the middle. Corrupt: one byte changed.
	data, _ := os.ReadFile(files[0])
	os.WriteFile(files[0], data[:len(data)/2], 0o600)
	data, _ = os.ReadFile(files[1])
	data[len(data)/2] ^= 0x10
	os.WriteFile(files[1], data, 0o600)
	os.WriteFile(filepath.Join(dir, ".tmp-123"), data[:7], 0o600)

	r2, err := openRouter(t, src, router.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if c := r2.Counters(); c.TrackedChunks != 1 || c.StateCorrupt != 2 {
		t.Errorf("tracked %d, corrupt %d; want 1 and 2", c.TrackedChunks, c.StateCorrupt)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// The chunks whose state was lost go out in full again (duplicates, not
	// losses); the intact one only to Cloud Logging.
	before := len(e.cw.Events("/nightjar/cw", "node-1"))
	for i, c := range chunks {
		if st := r2.Flush(context.Background(), "t", c); st != router.OK {
			t.Fatalf("flush %d after restart: %v", i, st)
		}
	}
	if n := len(e.cw.Events("/nightjar/cw", "node-1")) - before; n != 200 {
		t.Errorf("CloudWatch got %d records after restart, want 200", n)
	}
	exactlyOnce(t, "cloud logging", clCounts(e), 300)
}

// TestStateDirLocked: two routers cannot share a state directory.
func TestStateDirLocked(t *testing.T) {
	e := newEnv(t)
	src := e.cloudwatch("cw", "") + `route "all" { to = [destination.cloudwatch.cw] }`
	dir := t.TempDir()
	r1, err := openRouter(t, src, router.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openRouter(t, src, router.Options{StateDir: dir}); err == nil || !strings.Contains(err.Error(), "in use by another nightjar output") {
		t.Errorf("second open: %v, want the directory in use", err)
	}
	r1.Close()
	r3, err := openRouter(t, src, router.Options{StateDir: dir})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	r3.Close()
}

// TestStateExpiresAtLoad: stored state older than the TTL is dropped at
// start-up, file included, and counted as evicted.
func TestStateExpiresAtLoad(t *testing.T) {
	e := newEnv(t)
	src := e.cloudwatch("cw", "max_attempts = 1") + `route "all" { to = [destination.cloudwatch.cw] }`
	dir := t.TempDir()
	r1, err := openRouter(t, src, router.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e.cw.Inject("PutLogEvents", cwtest.Unavailable)
	if st := r1.Flush(context.Background(), "t", recordtest.Chunk(recordtest.EventTime, 0, 5, time.Now())); st != router.Retry {
		t.Fatal(st)
	}
	r1.Close()
	time.Sleep(20 * time.Millisecond)
	r2, err := openRouter(t, src, router.Options{StateDir: dir, TrackerTTL: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if c := r2.Counters(); c.TrackedChunks != 0 || c.TrackerEvicted != 1 {
		t.Errorf("tracked %d, evicted %d; want 0 and 1", c.TrackedChunks, c.TrackerEvicted)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.state")); len(left) != 0 {
		t.Errorf("expired state files left: %v", left)
	}
}

// TestIdenticalConcurrentFlushes: a chunk awaits its retry when an
// identical chunk arrives and both flush at once. They take turns on the
// delivery state (run with -race): one sends what the first attempt left
// owed, the other is a chunk of its own and sends everything, so every
// record is stored exactly twice, once per chunk.
func TestIdenticalConcurrentFlushes(t *testing.T) {
	e := newEnv(t)
	src := e.cloudwatch("cw", "max_attempts = 1\nconcurrency = 1") + `route "all" { to = [destination.cloudwatch.cw] }`
	r := newRouter(t, src, router.Options{})
	if st := r.Flush(context.Background(), "warmup", recordtest.Chunk(recordtest.EventTime, 100000, 1, time.Now())); st != router.OK {
		t.Fatalf("warm-up flush: %v", st)
	}
	// 5,000 alerts make three PutLogEvents batches; the second fails.
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 5000, time.Now())
	e.cw.Inject("PutLogEvents", 0, cwtest.Unavailable)
	if st := r.Flush(context.Background(), "t", chunk); st != router.Retry {
		t.Fatalf("first flush: %v", st)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st := r.Flush(context.Background(), "t", chunk); st != router.OK {
				t.Errorf("concurrent flush: %v", st)
			}
		}()
	}
	wg.Wait()
	counts := uuids(t, e.cw.Events("/nightjar/cw", "node-1"))
	delete(counts, "0b7c6c9e-0000-4000-8000-000000100000")
	wrong := 0
	for _, n := range counts {
		if n != 2 {
			wrong++
		}
	}
	if len(counts) != 5000 || wrong != 0 {
		t.Errorf("%d distinct records, %d not stored exactly twice; want 5000 and 0", len(counts), wrong)
	}
}

// TestFlushPanic: a bug in routing (here a match function that panics)
// drops the chunk without taking the process down; the panic and the
// dropped records are counted, and the next flush of the same chunk is not
// blocked by the one that panicked.
func TestFlushPanic(t *testing.T) {
	e := newEnv(t)
	reg := destination.NewRegistry()
	cloudwatch.Register(reg)
	cfg, err := routes.Parse([]byte(e.cloudwatch("cw", "")+`route "all" {
  match = priority >= "Debug"
  to    = [destination.cloudwatch.cw]
}`), "routes.hcl", routes.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	match := cfg.Routes[0].Match
	cfg.Routes[0].Match = func(tag string, rec *record.Record) bool {
		if tag == "buggy" {
			panic("matcher bug")
		}
		return match(tag, rec)
	}
	r := router.New(cfg, router.Options{LogInterval: -1, FlushTimeout: 5 * time.Second})
	defer r.Close()
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 12, time.Now())
	if st := r.Flush(context.Background(), "buggy", chunk); st != router.Error {
		t.Fatalf("status %v, want error", st)
	}
	if c := r.Counters(); c.Panics != 1 || c.PanicDropped != 12 || c.ChunksError != 1 {
		t.Errorf("counters %+v, want 1 panic, 12 dropped, 1 error chunk", c)
	}
	if st := r.Flush(context.Background(), "buggy", chunk); st != router.Error {
		t.Fatalf("second flush of the chunk: %v, want error (not a wait on the first)", st)
	}
	if st := r.Flush(context.Background(), "ok", chunk); st != router.OK {
		t.Fatalf("healthy flush: %v", st)
	}
	if n := len(e.cw.Events("/nightjar/cw", "node-1")); n != 12 {
		t.Errorf("stored %d, want 12", n)
	}
}

// panicAfterAck is a destination that settles half its records and then
// panics.
type panicAfterAck struct{}

func (panicAfterAck) Send(_ context.Context, b *destination.Batch) error {
	for i := range len(b.Records) / 2 {
		b.Ack(i)
	}
	panic("destination bug")
}
func (panicAfterAck) Close() error { return nil }

// TestDestinationPanicCounted: a destination that panics midway has its
// unsettled records counted as dropped and the panic counted.
func TestDestinationPanicCounted(t *testing.T) {
	reg := destination.NewRegistry()
	reg.Register("buggy", func(destination.Config) (destination.Destination, hcl.Diagnostics) { return panicAfterAck{}, nil })
	cfg, err := routes.Parse([]byte(`destination "buggy" "b" {}
route "all" { to = [destination.buggy.b] }`), "routes.hcl", routes.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	r := router.New(cfg, router.Options{LogInterval: -1})
	defer r.Close()
	if st := r.Flush(context.Background(), "t", recordtest.Chunk(recordtest.EventTime, 0, 10, time.Now())); st != router.Error {
		t.Errorf("status %v, want error", st)
	}
	if s := r.Destinations()[0].Metrics.Snapshot(); s.Dropped != 5 {
		t.Errorf("dropped %d, want the 5 unsettled", s.Dropped)
	}
	if c := r.Counters(); c.Panics != 1 || c.ChunksError != 1 {
		t.Errorf("counters %+v, want 1 panic and 1 error chunk", c)
	}
}
