package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/nightjar-sec/nightjar/outplugin/cloudlogging"
	"github.com/nightjar-sec/nightjar/outplugin/cloudlogging/cltest"
	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch"
	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch/cwtest"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/router"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
)

type env struct {
	cw *cwtest.Server
	cl *cltest.Server
}

func newEnv(t testing.TB) *env {
	t.Helper()
	cw, err := cwtest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cw.Close() })
	cl, err := cltest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &env{cw, cl}
}

// cloudwatch returns a cloudwatch destination block named name. A request
// that times out after the server stored it is sent again, so the
// timeouts leave room for a loaded machine running -race.
func (e *env) cloudwatch(name, extra string) string {
	return fmt.Sprintf(`destination "cloudwatch" %q {
  region            = "us-east-1"
  endpoint          = %q
  access_key_id     = "AKIDTEST"
  secret_access_key = "secret"
  log_group         = "/nightjar/%s"
  log_stream        = "{{ hostname }}"
  timeout           = "60s"
  %s
}
`, name, e.cw.URL(), name, extra)
}

func (e *env) cloudLogging(name, extra string) string {
	return fmt.Sprintf(`destination "cloud_logging" %q {
  project      = "p"
  endpoint     = %q
  insecure     = true
  cluster_name = "c"
  location     = "l"
  timeout      = "60s"
  %s
}
`, name, e.cl.Addr(), extra)
}

func newRouter(t testing.TB, src string, opts router.Options) *router.Router {
	t.Helper()
	reg := destination.NewRegistry()
	cloudwatch.Register(reg)
	cloudlogging.Register(reg)
	cfg, err := routes.Parse([]byte(src), "routes.hcl", routes.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	opts.LogInterval = -1
	r := router.New(cfg, opts)
	t.Cleanup(func() { r.Close() })
	return r
}

// uuids counts alerts per uuid in CloudWatch events.
func uuids(t *testing.T, evs []cwtest.Event) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range evs {
		var a struct{ UUID string }
		if err := json.Unmarshal([]byte(e.Message), &a); err != nil {
			t.Fatal(err)
		}
		out[a.UUID]++
	}
	return out
}

func exactlyOnce(t *testing.T, what string, counts map[string]int, want int) {
	t.Helper()
	dups := 0
	for _, n := range counts {
		dups += n - 1
	}
	if len(counts) != want || dups != 0 {
		t.Errorf("%s: %d distinct records, %d duplicates; want %d and 0", what, len(counts), dups, want)
	}
}

// TestRetryExactlyOnce is the delivery guarantee: a chunk of 5,000 alerts
// goes to CloudWatch and Cloud Logging; CloudWatch fails four times (some
// of its batches go through, some do not) and Cloud Logging fails three
// times. Fluent Bit retries the chunk on FLB_RETRY; in the end each
// destination holds each record exactly once.
func TestRetryExactlyOnce(t *testing.T) {
	e := newEnv(t)
	src := e.cloudwatch("cw", "max_attempts = 1\n concurrency = 1") +
		e.cloudLogging("cl", "max_attempts = 1") + `
route "all" {
  to = [destination.cloudwatch.cw, destination.cloud_logging.cl]
}`
	r := newRouter(t, src, router.Options{})
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 5000, time.Now())
	// Let the group and stream exist so the faults hit PutLogEvents batches.
	if st := r.Flush(context.Background(), "warmup", recordtest.Chunk(recordtest.EventTime, 100000, 1, time.Now())); st != router.OK {
		t.Fatalf("warm-up flush: %v", st)
	}
	e.cw.Inject("PutLogEvents", 0, cwtest.Unavailable, cwtest.Throttle, cwtest.Unavailable, cwtest.Drop)
	e.cl.Inject(codes.Unavailable, codes.ResourceExhausted, codes.Unavailable)

	var statuses []router.Status
	for range 10 {
		st := r.Flush(context.Background(), "nightjar.alerts", chunk)
		statuses = append(statuses, st)
		if st != router.Retry {
			break
		}
	}
	t.Logf("flush results: %v", statuses)
	if len(statuses) < 3 || statuses[len(statuses)-1] != router.OK {
		t.Fatalf("flush results %v: want retries then ok", statuses)
	}
	cw := uuids(t, e.cw.Events("/nightjar/cw", "node-1"))
	delete(cw, "0b7c6c9e-0000-4000-8000-000000100000")
	exactlyOnce(t, "cloudwatch", cw, 5000)
	cl := map[string]int{}
	for _, en := range e.cl.Entries() {
		if en.InsertId != "0b7c6c9e-0000-4000-8000-000000100000" {
			cl[en.InsertId]++
		}
	}
	exactlyOnce(t, "cloud logging", cl, 5000)
	if c := r.Counters(); c.TrackedChunks != 0 || c.ChunksRetry != uint64(len(statuses)-1) {
		t.Errorf("router counters %+v", c)
	}
}

// TestRoutingFanOut checks ordered evaluation, continue, the default route
// and unrouted records.
func TestRoutingFanOut(t *testing.T) {
	e := newEnv(t)
	src := e.cloudwatch("urgent", "") + e.cloudwatch("prod", "") + e.cloudwatch("rest", "") + `
route "urgent" {
  match    = priority >= "Error"
  to       = [destination.cloudwatch.urgent]
  continue = true
}
route "prod" {
  match = output_fields["k8s.ns.name"] == "prod"
  to    = [destination.cloudwatch.prod]
}
route "default" {
  match = tag != "ignored"
  to    = [destination.cloudwatch.rest]
}`
	r := newRouter(t, src, router.Options{})
	now := time.Now()
	var chunk []byte
	add := func(seq int, prio, ns string) {
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: seq, Time: now, Priority: prio, Namespace: ns}))
	}
	add(0, "Critical", "prod")   // urgent + prod
	add(1, "Error", "dev")       // urgent + rest
	add(2, "Warning", "prod")    // prod
	add(3, "Informational", "x") // rest
	if st := r.Flush(context.Background(), "nightjar", chunk); st != router.OK {
		t.Fatal(st)
	}
	count := func(g string) int { return len(e.cw.Events("/nightjar/"+g, "node-1")) }
	if count("urgent") != 2 || count("prod") != 2 || count("rest") != 2 {
		t.Errorf("urgent %d prod %d rest %d; want 2 each", count("urgent"), count("prod"), count("rest"))
	}
	if st := r.Flush(context.Background(), "ignored", recordtest.Chunk(recordtest.EventTime, 10, 3, now)); st != router.OK {
		t.Fatal(st)
	}
	if c := r.Counters(); c.Unrouted != 3 {
		t.Errorf("unrouted = %d, want 3", c.Unrouted)
	}
}

func TestPermanentFailure(t *testing.T) {
	e := newEnv(t)
	src := e.cloudwatch("cw", "create_log_group = false") + e.cloudLogging("cl", "") + `
route "all" { to = [destination.cloudwatch.cw, destination.cloud_logging.cl] }`
	r := newRouter(t, src, router.Options{})
	if st := r.Flush(context.Background(), "t", recordtest.Chunk(recordtest.IntTime, 0, 50, time.Now())); st != router.Error {
		t.Fatalf("status %v, want error", st)
	}
	d := r.Destinations()
	if s := d[0].Metrics.Snapshot(); s.Dropped != 50 {
		t.Errorf("cloudwatch dropped %d, want 50", s.Dropped)
	}
	if e.cl.Accepted() != 50 {
		t.Errorf("cloud logging accepted %d, want 50", e.cl.Accepted())
	}
	// A transient failure elsewhere makes the chunk come back instead; the
	// retry goes only to the destination that failed transiently.
	e.cl.Inject(codes.Unavailable, codes.Unavailable, codes.Unavailable, codes.Unavailable)
	chunk := recordtest.Chunk(recordtest.IntTime, 100, 5, time.Now())
	if st := r.Flush(context.Background(), "t", chunk); st != router.Retry {
		t.Fatalf("status %v, want retry", st)
	}
	cwRequests := e.cw.Requests("PutLogEvents")
	if st := r.Flush(context.Background(), "t", chunk); st != router.OK {
		t.Fatalf("retried flush: %v, want ok", st)
	}
	if n := e.cw.Requests("PutLogEvents"); n != cwRequests {
		t.Errorf("the permanently failing destination got %d more requests on retry", n-cwRequests)
	}
	if s := d[0].Metrics.Snapshot(); s.Dropped != 55 {
		t.Errorf("cloudwatch dropped %d, want 55", s.Dropped)
	}
	if e.cl.Accepted() != 55 {
		t.Errorf("cloud logging accepted %d, want 55", e.cl.Accepted())
	}
}

func TestSkippedRecords(t *testing.T) {
	e := newEnv(t)
	r := newRouter(t, e.cloudwatch("cw", "")+`route "all" { to = [destination.cloudwatch.cw] }`, router.Options{})
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 3, time.Now())
	chunk = append(chunk, 0x92, 0x01, 0xa1, 'x') // body not a map
	chunk = append(chunk, recordtest.Chunk(recordtest.Metadata, 3, 2, time.Now())...)
	if st := r.Flush(context.Background(), "t", chunk); st != router.OK {
		t.Fatal(st)
	}
	if n := len(e.cw.Events("/nightjar/cw", "node-1")); n != 5 {
		t.Errorf("stored %d, want 5", n)
	}
	if c := r.Counters(); c.Skipped != 1 {
		t.Errorf("skipped %d, want 1", c.Skipped)
	}
}

// TestConcurrentFlushes flushes from several goroutines, as Fluent Bit
// workers do.
func TestConcurrentFlushes(t *testing.T) {
	e := newEnv(t)
	r := newRouter(t, e.cloudwatch("cw", "")+e.cloudLogging("cl", "")+`route "all" { to = [destination.cloudwatch.cw, destination.cloud_logging.cl] }`, router.Options{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range 3 {
				chunk := recordtest.Chunk(recordtest.EventTime, (w*3+c)*500, 500, time.Now())
				if st := r.Flush(context.Background(), "t", chunk); st != router.OK {
					t.Errorf("flush: %v", st)
				}
			}
		}()
	}
	wg.Wait()
	exactlyOnce(t, "cloudwatch", uuids(t, e.cw.Events("/nightjar/cw", "node-1")), 6000)
	if n := e.cl.Accepted(); n != 6000 {
		t.Errorf("cloud logging accepted %d", n)
	}
}

func TestTrackerBound(t *testing.T) {
	e := newEnv(t)
	src := e.cloudwatch("cw", "max_attempts = 1") + `route "all" { to = [destination.cloudwatch.cw] }`
	r := newRouter(t, src, router.Options{TrackerMax: 2})
	for i := range 3 {
		e.cw.Inject("PutLogEvents", cwtest.Unavailable)
		if st := r.Flush(context.Background(), "t", recordtest.Chunk(recordtest.EventTime, i*10, 10, time.Now())); st != router.Retry {
			t.Fatalf("flush %d: %v", i, st)
		}
	}
	if c := r.Counters(); c.TrackedChunks != 2 || c.TrackerEvicted != 1 {
		t.Errorf("tracked %d evicted %d; want 2 and 1", c.TrackedChunks, c.TrackerEvicted)
	}
}

func TestPrometheusCollector(t *testing.T) {
	e := newEnv(t)
	r := newRouter(t, e.cloudwatch("cw", "")+`route "all" { to = [destination.cloudwatch.cw] }`, router.Options{})
	r.Flush(context.Background(), "t", recordtest.Chunk(recordtest.EventTime, 0, 7, time.Now()))
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collector())
	want := `# HELP nightjar_output_records_sent_total Records accepted by the destination.
# TYPE nightjar_output_records_sent_total counter
nightjar_output_records_sent_total{destination="cloudwatch.cw"} 7
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "nightjar_output_records_sent_total"); err != nil {
		t.Error(err)
	}
}

// TestRetryOneDestinationDown: a chunk routed to two destinations, one of
// them failing three whole flushes in a row. The healthy one receives each
// record once, on the first flush; the failing one receives each record
// once after it recovers.
func TestRetryOneDestinationDown(t *testing.T) {
	for _, failing := range []string{"cloudwatch", "cloud_logging"} {
		t.Run(failing, func(t *testing.T) {
			e := newEnv(t)
			src := e.cloudwatch("cw", "max_attempts = 1") + e.cloudLogging("cl", "max_attempts = 1") + `
route "all" { to = [destination.cloudwatch.cw, destination.cloud_logging.cl] }`
			r := newRouter(t, src, router.Options{})
			if st := r.Flush(context.Background(), "warmup", recordtest.Chunk(recordtest.EventTime, 100000, 1, time.Now())); st != router.OK {
				t.Fatalf("warm-up flush: %v", st)
			}
			chunk := recordtest.Chunk(recordtest.EventTime, 0, 5000, time.Now())
			// Fail every request of three flushes: CloudWatch sends 5,000
			// alerts in 3 PutLogEvents batches, Cloud Logging in 5 requests.
			healthy := func() int { return e.cl.Requests() }
			if failing == "cloudwatch" {
				for range 3 * 3 {
					e.cw.Inject("PutLogEvents", cwtest.Unavailable)
				}
			} else {
				healthy = func() int { return e.cw.Requests("PutLogEvents") }
				for range 3 * 5 {
					e.cl.Inject(codes.Unavailable)
				}
			}
			var statuses []router.Status
			healthyAfterFirst := 0
			for i := range 10 {
				st := r.Flush(context.Background(), "nightjar.alerts", chunk)
				statuses = append(statuses, st)
				if i == 0 {
					healthyAfterFirst = healthy()
				}
				if st != router.Retry {
					break
				}
			}
			t.Logf("flush results: %v", statuses)
			want := []router.Status{router.Retry, router.Retry, router.Retry, router.OK}
			if fmt.Sprint(statuses) != fmt.Sprint(want) {
				t.Fatalf("flush results %v, want %v", statuses, want)
			}
			if n := healthy(); n != healthyAfterFirst {
				t.Errorf("healthy destination got %d more requests after the first flush", n-healthyAfterFirst)
			}
			cw := uuids(t, e.cw.Events("/nightjar/cw", "node-1"))
			delete(cw, "0b7c6c9e-0000-4000-8000-000000100000")
			exactlyOnce(t, "cloudwatch", cw, 5000)
			cl := map[string]int{}
			for _, en := range e.cl.Entries() {
				if en.InsertId != "0b7c6c9e-0000-4000-8000-000000100000" {
					cl[en.InsertId]++
				}
			}
			exactlyOnce(t, "cloud logging", cl, 5000)
		})
	}
}

// TestDefaultRoute sends the records no route matched, and only those, to
// the default route, wherever it stands in the file.
func TestDefaultRoute(t *testing.T) {
	e := newEnv(t)
	src := e.cloudwatch("fallback", "") + e.cloudwatch("urgent", "") + `
route "fallback" {
  default = true
  to      = [destination.cloudwatch.fallback]
}
route "urgent" {
  match    = priority >= "Error"
  to       = [destination.cloudwatch.urgent]
  continue = true
}`
	r := newRouter(t, src, router.Options{})
	now := time.Now()
	var chunk []byte
	for i, p := range []string{"Critical", "Notice", "Error", "Debug", "Warning"} {
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: i, Time: now, Priority: p}))
	}
	if st := r.Flush(context.Background(), "t", chunk); st != router.OK {
		t.Fatal(st)
	}
	if u, f := len(e.cw.Events("/nightjar/urgent", "node-1")), len(e.cw.Events("/nightjar/fallback", "node-1")); u != 2 || f != 3 {
		t.Errorf("urgent %d, fallback %d; want 2 and 3", u, f)
	}
	if c := r.Counters(); c.Unrouted != 0 {
		t.Errorf("unrouted %d", c.Unrouted)
	}
}

// panicking is a destination with a bug.
type panicking struct{}

func (panicking) Send(context.Context, *destination.Batch) error { panic("bug") }
func (panicking) Close() error                                   { return nil }

// TestDestinationPanic: a destination that panics does not take the
// process down; its records are dropped and counted, the others delivered.
func TestDestinationPanic(t *testing.T) {
	e := newEnv(t)
	reg := destination.NewRegistry()
	cloudwatch.Register(reg)
	reg.Register("buggy", func(destination.Config) (destination.Destination, hcl.Diagnostics) { return panicking{}, nil })
	cfg, err := routes.Parse([]byte(e.cloudwatch("cw", "")+`destination "buggy" "b" {}
route "all" { to = [destination.cloudwatch.cw, destination.buggy.b] }`), "routes.hcl", routes.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	r := router.New(cfg, router.Options{LogInterval: -1})
	defer r.Close()
	if st := r.Flush(context.Background(), "t", recordtest.Chunk(recordtest.EventTime, 0, 10, time.Now())); st != router.Error {
		t.Errorf("status %v, want error", st)
	}
	if n := len(e.cw.Events("/nightjar/cw", "node-1")); n != 10 {
		t.Errorf("cloudwatch stored %d, want 10", n)
	}
	if s := r.Destinations()[1].Metrics.Snapshot(); s.Dropped != 10 {
		t.Errorf("buggy destination dropped %d, want 10", s.Dropped)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPeriodicCountersLog(t *testing.T) {
	e := newEnv(t)
	reg := destination.NewRegistry()
	cloudwatch.Register(reg)
	cfg, err := routes.Parse([]byte(e.cloudwatch("cw", "")+`route "all" { to = [destination.cloudwatch.cw] }`), "routes.hcl", routes.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	r := router.New(cfg, router.Options{Logger: slog.New(slog.NewTextHandler(&out, nil)), LogInterval: 20 * time.Millisecond})
	defer r.Close()
	r.Flush(context.Background(), "t", recordtest.Chunk(recordtest.EventTime, 0, 4, time.Now()))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "destination=cloudwatch.cw sent=4 batches=1") {
		if time.Now().After(deadline) {
			t.Fatalf("no counters line in log:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
