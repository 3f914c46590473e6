package splunkhec_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/destination/desttest"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"github.com/nightjar-sec/nightjar/outplugin/splunkhec"
	"github.com/nightjar-sec/nightjar/outplugin/splunkhec/hectest"
)

const token = "11111111-2222-3333-4444-555555555555"

func registry() *destination.Registry {
	reg := destination.NewRegistry()
	splunkhec.Register(reg)
	return reg
}

func lookupEnv(k string) (string, bool) {
	if k == "SPLUNK_HEC_TOKEN" {
		return token, true
	}
	return "", false
}

// logs counts log records by message.
type logs struct {
	mu  sync.Mutex
	msg map[string]int
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msg[r.Message]++
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }
func (l *logs) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for m, c := range l.msg {
		if strings.HasPrefix(m, prefix) {
			n += c
		}
	}
	return n
}

func load(t *testing.T, srv *hectest.Server, body string) (destination.Destination, *destination.Metrics, *logs) {
	t.Helper()
	src := fmt.Sprintf(`destination "splunk_hec" "s" {
  url   = %q
  token = env("SPLUNK_HEC_TOKEN")
%s
}
route "all" { to = [destination.splunk_hec.s] }
`, srv.URL, body)
	l := &logs{msg: map[string]int{}}
	cfg, err := routes.Parse([]byte(src), "routes.hcl", routes.Options{Registry: registry(), LookupEnv: lookupEnv, Logger: slog.New(l)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.Close() })
	return cfg.Destinations[0].Dest, cfg.Destinations[0].Metrics, l
}

func newServer(t *testing.T) *hectest.Server {
	t.Helper()
	s := hectest.New(token)
	t.Cleanup(s.Close)
	return s
}

func send(t *testing.T, d destination.Destination, recs []*record.Record) (*destination.Batch, error) {
	t.Helper()
	b := destination.NewBatch("nightjar.alerts", recs)
	return b, d.Send(context.Background(), b)
}

// uuids counts indexed events per alert uuid.
func uuids(t *testing.T, evs []hectest.Event) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range evs {
		var a struct{ UUID string }
		if err := json.Unmarshal(e.Event, &a); err != nil {
			t.Fatalf("event is not a JSON alert: %v", err)
		}
		out[a.UUID]++
	}
	return out
}

func exactlyOnce(t *testing.T, counts map[string]int, want int) {
	t.Helper()
	dups := 0
	for _, n := range counts {
		dups += n - 1
	}
	if len(counts) != want || dups != 0 {
		t.Errorf("%d distinct records, %d duplicates; want %d and 0", len(counts), dups, want)
	}
}

// TestBatchesAndEnvelope sends 6,000 alerts in requests the server checks
// against the 1 MiB content limit, gzip-compressed, and checks the event
// envelope: millisecond time, templated host, index, source, sourcetype,
// and indexed fields.
func TestBatchesAndEnvelope(t *testing.T) {
	srv := newServer(t)
	srv.Indexes = []string{"main", "sec-default", "sec-prod"}
	d, m, _ := load(t, srv, `index  = "sec-{{ output_fields.k8s.ns.name }}"
source = "nightjar:{{ tag }}"
fields = ["proc.name", "k8s.ns.name", "missing.field"]`)
	start := time.Date(2026, 11, 26, 18, 0, 0, 123456789, time.UTC)
	var chunk []byte
	for i := range 6000 {
		ns := "default"
		if i%3 == 0 {
			ns = "prod"
		}
		ts := start.Add(time.Duration(i) * time.Millisecond)
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, ts, recordtest.AppendAlert(nil, recordtest.Alert{Seq: i, Time: ts, Namespace: ns}))
	}
	recs := recordtest.Decode(t, chunk)
	b, err := send(t, d, recs)
	if err != nil || b.Pending() != 0 {
		t.Fatalf("send: %v, %d pending", err, b.Pending())
	}
	if r := srv.Rejected(); len(r) > 0 {
		t.Fatalf("server rejected %d requests, first: %s", len(r), r[0])
	}
	all, gz := srv.Requests()
	if all < 3 || gz != all {
		t.Errorf("%d requests, %d gzipped; want at least 3 (2.6 MB in 1 MiB requests), all gzipped", all, gz)
	}
	evs := srv.Events()
	exactlyOnce(t, uuids(t, evs), 6000)
	bySeq := map[string]hectest.Event{}
	for _, e := range evs {
		var a struct{ UUID string }
		json.Unmarshal(e.Event, &a)
		bySeq[a.UUID] = e
	}
	e := bySeq["0b7c6c9e-0000-4000-8000-000000000000"]
	if want := float64(start.UnixMilli()) / 1000; e.Time != want || e.Host != "node-1" || e.Sourcetype != "falco" || e.Source != "nightjar:nightjar.alerts" || e.Index != "sec-prod" {
		t.Errorf("envelope time %v (want %v) host %q sourcetype %q source %q index %q", e.Time, want, e.Host, e.Sourcetype, e.Source, e.Index)
	}
	if len(e.Fields) != 2 || e.Fields["proc.name"] != "bash" || e.Fields["k8s.ns.name"] != "prod" {
		t.Errorf("fields %v", e.Fields)
	}
	e = bySeq["0b7c6c9e-0000-4000-8000-000000000001"]
	if want := float64(start.UnixMilli()+1) / 1000; e.Index != "sec-default" || e.Time != want {
		t.Errorf("second event index %q time %v, want %v", e.Index, e.Time, want)
	}
	if s := m.Snapshot(); s.Sent != 6000 || s.Batches != uint64(all) || s.Dropped != 0 {
		t.Errorf("counters %+v", s)
	}
}

// TestSmallLimitAndOversized sets a 64 KiB limit on both sides and sends
// an alert larger than that: it is truncated to a string event and
// counted, the rest batched within the limit.
func TestSmallLimitAndOversized(t *testing.T) {
	srv := newServer(t)
	srv.MaxContentLength = 65536
	d, m, _ := load(t, srv, `max_request_bytes = 65536
gzip = false`)
	now := time.Now()
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 500, now)
	chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: 500, Time: now, Output: strings.Repeat("\"é", 40000)}))
	b, err := send(t, d, recordtest.Decode(t, chunk))
	if err != nil || b.Pending() != 0 {
		t.Fatalf("send: %v, %d pending", err, b.Pending())
	}
	if r := srv.Rejected(); len(r) > 0 {
		t.Fatalf("server rejected %d requests, first: %s", len(r), r[0])
	}
	all, gz := srv.Requests()
	if gz != 0 || all < 4 {
		t.Errorf("%d requests (%d gzipped)", all, gz)
	}
	evs := srv.Events()
	if len(evs) != 501 {
		t.Fatalf("%d events, want 501", len(evs))
	}
	// Requests run concurrently: find the one string event.
	var strs []string
	for _, e := range evs {
		var s string
		if json.Unmarshal(e.Event, &s) == nil {
			strs = append(strs, s)
		}
	}
	if len(strs) != 1 || !strings.HasSuffix(strs[0], splunkhec.TruncationMarker) || !strings.HasPrefix(strs[0], `{"time":`) {
		t.Errorf("want one truncated string event, got %d: %.80q", len(strs), strs)
	}
	if s := m.Snapshot(); s.Truncated != 1 || s.Sent != 501 {
		t.Errorf("counters %+v", s)
	}
}

// TestFaults injects every transient failure; each record is indexed
// exactly once within one Send.
func TestFaults(t *testing.T) {
	srv := newServer(t)
	d, m, _ := load(t, srv, `timeout = "2s"
max_attempts = 8
concurrency = 1`)
	srv.Inject(hectest.Busy, hectest.Throttle, hectest.InternalError, hectest.Hang, hectest.Drop)
	b, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 3000, time.Now())))
	if err != nil || b.Pending() != 0 {
		t.Fatalf("send: %v, %d pending", err, b.Pending())
	}
	exactlyOnce(t, uuids(t, srv.Events()), 3000)
	if s := m.Snapshot(); s.Retries < 5 || s.Failures < 5 {
		t.Errorf("counters %+v, want at least 5 retries and failures", s)
	}
}

// TestRetriesExhausted leaves the failed request's records pending and
// the ones that went through settled.
func TestRetriesExhausted(t *testing.T) {
	srv := newServer(t)
	d, _, _ := load(t, srv, `max_attempts = 2
concurrency = 1
max_request_bytes = 65536`)
	srv.Inject(0, hectest.Busy, hectest.Busy)
	recs := recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 1000, time.Now()))
	b, err := send(t, d, recs)
	if err == nil || destination.IsPermanent(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	stored := len(srv.Events())
	if stored == 0 || b.Pending() != len(recs)-stored {
		t.Fatalf("stored %d, pending %d of %d", stored, b.Pending(), len(recs))
	}
	var rest []*record.Record
	for i, r := range recs {
		if !b.Acked(i) {
			rest = append(rest, r)
		}
	}
	if _, err := send(t, d, rest); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, uuids(t, srv.Events()), 1000)
}

// TestInvalidEventIsolated makes the collector refuse one event of a
// batch (an index the token may not write): the events before it are
// indexed by Splunk, it is dropped and counted, and the rest is resent.
func TestInvalidEventIsolated(t *testing.T) {
	srv := newServer(t)
	srv.Indexes = []string{"ok"}
	d, m, l := load(t, srv, `index = "{{ output_fields.k8s.ns.name }}"`)
	now := time.Now()
	var chunk []byte
	for i := range 100 {
		ns := "ok"
		if i == 37 || i == 80 {
			ns = "forbidden"
		}
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: i, Time: now, Namespace: ns}))
	}
	b, err := send(t, d, recordtest.Decode(t, chunk))
	if err != nil || b.Pending() != 0 {
		t.Fatalf("send: %v, %d pending", err, b.Pending())
	}
	got := uuids(t, srv.Events())
	exactlyOnce(t, got, 98)
	if got["0b7c6c9e-0000-4000-8000-000000000037"] != 0 || got["0b7c6c9e-0000-4000-8000-000000000080"] != 0 {
		t.Error("refused events were indexed")
	}
	if s := m.Snapshot(); s.Dropped != 2 || s.Sent != 98 {
		t.Errorf("counters %+v", s)
	}
	if l.count("Splunk refused an event") != 1 {
		t.Errorf("refusal logged %d times, want once (rate-limited)", l.count("Splunk refused an event"))
	}
}

// TestExpiredToken: the token stops working; the error is permanent, the
// records are not acknowledged (the router counts them dropped), and the
// problem is logged once however often it recurs.
func TestExpiredToken(t *testing.T) {
	srv := newServer(t)
	d, _, l := load(t, srv, "")
	srv.Inject(hectest.ExpireToken)
	for range 3 {
		b, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 10, time.Now())))
		if !destination.IsPermanent(err) || b.Pending() != 10 {
			t.Fatalf("err = %v, %d pending; want permanent, 10 pending", err, b.Pending())
		}
	}
	if n := l.count("Splunk refused the request"); n != 1 {
		t.Errorf("logged %d times, want once", n)
	}
	if len(srv.Events()) != 0 {
		t.Error("events indexed with an invalid token")
	}
}

// TestAck enables indexer acknowledgement: records settle only once their
// ackId is reported true; a request whose ack never comes is retried on
// the next Send and indexed exactly once.
func TestAck(t *testing.T) {
	srv := newServer(t)
	srv.Ack, srv.AckPolls = true, 2
	d, m, _ := load(t, srv, `ack = true
ack_interval = "20ms"
ack_timeout = "2s"
max_request_bytes = 65536
concurrency = 1`)
	recs := recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 1000, time.Now()))
	srv.Inject(0, hectest.LoseAck)
	b, err := send(t, d, recs)
	if err == nil || destination.IsPermanent(err) {
		t.Fatalf("err = %v, want transient (an ack never came)", err)
	}
	stored := len(srv.Events())
	if b.Pending() == 0 || b.Pending() != len(recs)-stored {
		t.Fatalf("pending %d with %d of %d stored", b.Pending(), stored, len(recs))
	}
	var rest []*record.Record
	for i, r := range recs {
		if !b.Acked(i) {
			rest = append(rest, r)
		}
	}
	if b, err := send(t, d, rest); err != nil || b.Pending() != 0 {
		t.Fatalf("resend: %v", err)
	}
	evs := srv.Events()
	exactlyOnce(t, uuids(t, evs), 1000)
	for _, e := range evs {
		if len(e.Channel) != 36 {
			t.Fatalf("channel %q is not a GUID", e.Channel)
		}
	}
	if s := m.Snapshot(); s.Sent != 1000 {
		t.Errorf("counters %+v", s)
	}
}

// TestTLS talks HTTPS to a collector whose certificate comes from ca_file.
func TestTLS(t *testing.T) {
	srv := hectest.NewTLS(token)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	d, _, _ := load(t, srv, fmt.Sprintf(`tls {
  ca_file = %q
  server_name = "example.com"
}`, ca))
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 10, time.Now()))); err != nil {
		t.Fatal(err)
	}
	if len(srv.Events()) != 10 {
		t.Errorf("%d events", len(srv.Events()))
	}
}

// TestConfigErrors loads each file of testdata/errors; its first line is
// "# want: <line>:<col> <text>".
func TestConfigErrors(t *testing.T) {
	desttest.ConfigErrors(t, routes.Options{Registry: registry(), LookupEnv: lookupEnv}, 8)
}

func FuzzConfig(f *testing.F) {
	desttest.FuzzConfig(f, routes.Options{Registry: registry(), LookupEnv: lookupEnv}, `destination "splunk_hec" "s" {
  url = "https://splunk:8088"
  token = env("SPLUNK_HEC_TOKEN")
  ack = true
  fields = ["proc.name"]
}
route "r" { to = [destination.splunk_hec.s] }`)
}

// FuzzEvent sends arbitrary field values through the event encoder to the
// strict collector: every event must be valid HEC JSON.
func FuzzEvent(f *testing.F) {
	f.Add("node-1", "Terminal shell", "bash")
	f.Add("\x00\xff\"\\", "\u2028", strings.Repeat("é", 100))
	srv := hectest.New(token)
	srv.Discard = true
	f.Cleanup(srv.Close)
	f.Fuzz(func(t *testing.T, host, rule, output string) {
		d, _, _ := load(t, srv, `host = "{{ hostname }}"
source = "{{ rule }}"
gzip = false`)
		now := time.Now()
		chunk := recordtest.AppendRecord(nil, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Time: now, Hostname: host, Rule: rule, Output: output}))
		before := srv.Accepted()
		if _, err := send(t, d, recordtest.Decode(t, chunk)); err != nil {
			t.Fatalf("send: %v", err)
		}
		if srv.Accepted() != before+1 || len(srv.Rejected()) > 0 {
			t.Fatalf("event not accepted: %v", srv.Rejected())
		}
	})
}

// TestAckMismatch: acknowledgement on in the block but off on the token
// settles on acceptance (logged once); off in the block but required by
// the token is a permanent configuration error.
func TestAckMismatch(t *testing.T) {
	srv := newServer(t)
	d, _, l := load(t, srv, `ack = true`)
	for range 2 {
		if b, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 5, time.Now()))); err != nil || b.Pending() != 0 {
			t.Fatalf("send: %v", err)
		}
	}
	if n := l.count("the collector returned no ackId"); n != 1 {
		t.Errorf("logged %d times, want once", n)
	}
	srv.Ack = true
	d, _, _ = load(t, srv, "")
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 5, time.Now()))); !destination.IsPermanent(err) || !strings.Contains(err.Error(), "channel") {
		t.Errorf("err = %v, want a permanent error about the channel", err)
	}
}
