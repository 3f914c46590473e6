package cloudwatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch"
	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch/cwtest"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
)

func newServer(t *testing.T) *cwtest.Server {
	t.Helper()
	srv, err := cwtest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// load builds a cloudwatch destination from an HCL body through routes.
// Unless body sets one, the request timeout is long: a request that times
// out after the server stored it is sent again, and under -race on a
// loaded machine 10s is not always enough.
func load(t *testing.T, srv *cwtest.Server, body string) (destination.Destination, *destination.Metrics) {
	t.Helper()
	if !strings.Contains(body, "timeout") {
		body += "\ntimeout = \"60s\""
	}
	reg := destination.NewRegistry()
	cloudwatch.Register(reg)
	src := fmt.Sprintf(`destination "cloudwatch" "cw" {
  region            = "us-east-1"
  endpoint          = %q
  access_key_id     = "AKIDTEST"
  secret_access_key = "secret"
%s
}
route "all" { to = [destination.cloudwatch.cw] }
`, srv.URL(), body)
	cfg, err := routes.Parse([]byte(src), "routes.hcl", routes.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.Close() })
	return cfg.Destinations[0].Dest, cfg.Destinations[0].Metrics
}

func decode(t *testing.T, chunk []byte) []*record.Record {
	t.Helper()
	d := record.NewDecoder(chunk)
	var out []*record.Record
	for {
		r := new(record.Record)
		if !d.Next(r) {
			break
		}
		out = append(out, r)
	}
	if d.Err() != nil {
		t.Fatal(d.Err())
	}
	return out
}

// seqs returns the alert sequence numbers found in events, failing on
// duplicates.
func seqs(t *testing.T, evs []cwtest.Event) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range evs {
		if strings.HasSuffix(e.Message, cloudwatch.TruncationMarker) {
			continue
		}
		var a struct {
			UUID string `json:"uuid"`
		}
		if err := json.Unmarshal([]byte(e.Message), &a); err != nil {
			t.Fatalf("stored message is not JSON: %v", err)
		}
		if seen[a.UUID] {
			t.Fatalf("duplicate %s", a.UUID)
		}
		seen[a.UUID] = true
	}
	return seen
}

func send(t *testing.T, d destination.Destination, recs []*record.Record) (*destination.Batch, error) {
	t.Helper()
	b := destination.NewBatch("nightjar", recs)
	err := d.Send(context.Background(), b)
	return b, err
}

// TestBatchLimits sends more than one request can carry in every
// dimension: event count, bytes, time span, out-of-order input and an
// oversized event. The server refuses any request that breaks a limit.
func TestBatchLimits(t *testing.T) {
	srv := newServer(t)
	d, m := load(t, srv, `log_group = "/nightjar/alerts"
log_stream = "{{ hostname }}"`)
	now := time.Now()
	var chunk []byte
	n := 0
	add := func(ts time.Time, output string) {
		a := recordtest.Alert{Seq: n, Time: ts, Output: output}
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, ts, recordtest.AppendAlert(nil, a))
		n++
	}
	for i := range 25000 { // count and byte limits
		add(now.Add(-time.Duration(i)*time.Millisecond), "")
	}
	for i := range 6 { // six 300 kB events: only three fit in a request
		add(now.Add(time.Duration(i)*time.Second), strings.Repeat("y", 300_000))
	}
	for i := range 4 { // spread over three days: separate requests by span
		add(now.Add(-time.Duration(i)*25*time.Hour), "")
	}
	add(now, strings.Repeat("é", 600_000)) // 1.2 MB: truncated
	recs := decode(t, chunk)
	b, err := send(t, d, recs)
	if err != nil {
		t.Fatal(err)
	}
	if b.Pending() != 0 {
		t.Fatalf("%d records pending", b.Pending())
	}
	if r := srv.Rejected(); len(r) > 0 {
		t.Fatalf("server rejected %d requests, first: %s", len(r), r[0])
	}
	evs := srv.Events("/nightjar/alerts", "node-1")
	if len(evs) != n {
		t.Fatalf("stored %d events, want %d", len(evs), n)
	}
	if got := len(seqs(t, evs)); got != n-1 {
		t.Errorf("distinct alerts %d, want %d", got, n-1)
	}
	truncated := 0
	for _, e := range evs {
		if strings.HasSuffix(e.Message, cloudwatch.TruncationMarker) {
			truncated++
			if len(e.Message) > cwtest.MaxEventBytes-cwtest.EventOverhead {
				t.Errorf("truncated event is %d bytes", len(e.Message))
			}
		}
	}
	s := m.Snapshot()
	if truncated != 1 || s.Truncated != 1 {
		t.Errorf("truncated: %d stored, counter %d; want 1", truncated, s.Truncated)
	}
	if s.Sent != uint64(n) || s.Dropped != 0 {
		t.Errorf("counters %+v", s)
	}
	if min := uint64(25000*420/cwtest.MaxBatchBytes) + 3; s.Batches < min {
		t.Errorf("%d batches, expected at least %d", s.Batches, min)
	}
}

// TestTemplatesAndCreation routes records to templated groups and streams
// that do not exist yet and checks the group settings.
func TestTemplatesAndCreation(t *testing.T) {
	srv := newServer(t)
	d, _ := load(t, srv, `log_group = "/nightjar/{{ output_fields.k8s.ns.name }}"
log_stream = "{{ hostname }}:{{ rule }}"
retention_days = 30
kms_key_id = "arn:aws:kms:us-east-1:111122223333:key/abc"
log_group_class = "INFREQUENT_ACCESS"
tags = { team = "sec" }`)
	now := time.Now()
	var chunk []byte
	for i, ns := range []string{"prod", "dev", "prod", "dev", "prod"} {
		a := recordtest.Alert{Seq: i, Time: now, Namespace: ns, Hostname: fmt.Sprintf("node-%d", i%2)}
		chunk = recordtest.AppendRecord(chunk, recordtest.IntTime, now, recordtest.AppendAlert(nil, a))
	}
	if _, err := send(t, d, decode(t, chunk)); err != nil {
		t.Fatal(err)
	}
	g, ok := srv.Group("/nightjar/prod")
	if !ok {
		t.Fatal("group /nightjar/prod not created")
	}
	if g.Retention != 30 || g.KMSKeyID == "" || g.Class != "INFREQUENT_ACCESS" || g.Tags["team"] != "sec" {
		t.Errorf("group settings %+v", g)
	}
	// ':' is not allowed in stream names and is replaced.
	if got := len(g.Streams["node-0_Terminal shell in container"]); got != 3 {
		t.Errorf("prod/node-0 has %d events, want 3 (streams %v)", got, g.Streams)
	}
	if got := len(srv.Events("/nightjar/dev", "node-1_Terminal shell in container")); got != 2 {
		t.Errorf("dev/node-1 has %d events, want 2", got)
	}
}

// TestFaults injects every transient failure kind into PutLogEvents; the
// destination retries within one Send and stores each record exactly once.
func TestFaults(t *testing.T) {
	srv := newServer(t)
	d, m := load(t, srv, `log_group = "/f"
log_stream = "s"
max_attempts = 8
concurrency = 1`)
	srv.Inject("PutLogEvents", cwtest.Unavailable, cwtest.Throttle, cwtest.InternalError, cwtest.Drop)
	recs := decode(t, recordtest.Chunk(recordtest.Metadata, 0, 3000, time.Now()))
	if _, err := send(t, d, recs); err != nil {
		t.Fatal(err)
	}
	if got := len(seqs(t, srv.Events("/f", "s"))); got != 3000 {
		t.Errorf("stored %d distinct records, want 3000", got)
	}
	if s := m.Snapshot(); s.Retries < 4 || s.Failures < 4 {
		t.Errorf("counters %+v, want at least 4 retries and failures", s)
	}

	// A hang costs one timeout; a small batch keeps the short timeout
	// clear of a slow machine.
	d, m = load(t, srv, `log_group = "/f"
log_stream = "hang"
timeout = "2s"
max_attempts = 3`)
	srv.Inject("PutLogEvents", 0, cwtest.Hang) // the first answers ResourceNotFoundException
	if _, err := send(t, d, recs[:10]); err != nil {
		t.Fatal(err)
	}
	if got := len(seqs(t, srv.Events("/f", "hang"))); got != 10 {
		t.Errorf("stored %d distinct records after the hang, want 10", got)
	}
	if s := m.Snapshot(); s.Retries != 1 || s.Failures != 1 {
		t.Errorf("counters %+v after the hang, want 1 retry and 1 failure", s)
	}
}

// TestRetriesExhausted returns a transient error that leaves the failed
// batch unacknowledged while the batches that went through stay acked.
func TestRetriesExhausted(t *testing.T) {
	srv := newServer(t)
	d, _ := load(t, srv, `log_group = "/f"
log_stream = "s"
max_attempts = 2
concurrency = 1`)
	// 2 requests succeed first (group/stream creation happens on the first).
	recs := decode(t, recordtest.Chunk(recordtest.EventTime, 0, 6000, time.Now()))
	if _, err := send(t, d, recs[:1]); err != nil {
		t.Fatal(err)
	}
	srv.Inject("PutLogEvents", 0, cwtest.Unavailable, cwtest.Unavailable)
	b, err := send(t, d, recs[1:])
	if err == nil || destination.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	stored := len(srv.Events("/f", "s")) - 1
	if stored == 0 || b.Pending() != len(recs)-1-stored {
		t.Errorf("stored %d, pending %d of %d", stored, b.Pending(), len(recs)-1)
	}
}

func TestPermanentAndRejected(t *testing.T) {
	srv := newServer(t)
	d, m := load(t, srv, `log_group = "/p"
log_stream = "s"`)
	srv.Inject("CreateLogGroup", cwtest.AccessDenied)
	_, err := send(t, d, decode(t, recordtest.Chunk(recordtest.EventTime, 0, 10, time.Now())))
	if !destination.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}

	// Old and future events are dropped and counted; the server's clock runs
	// almost 14 days ahead so it also refuses one the destination let through.
	srv.Now = func() time.Time { return time.Now().Add(14*24*time.Hour - time.Hour) }
	now := time.Now()
	var chunk []byte
	for i, ts := range []time.Time{now.Add(-15 * 24 * time.Hour), now.Add(3 * time.Hour), now.Add(-2 * time.Hour), now} {
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, ts, recordtest.AppendAlert(nil, recordtest.Alert{Seq: i, Time: ts}))
	}
	srv.Inject("PutLogEvents", cwtest.Invalid) // split and resent
	b, err := send(t, d, decode(t, chunk))
	if err != nil || b.Pending() != 0 {
		t.Fatalf("err %v, pending %d", err, b.Pending())
	}
	if s := m.Snapshot(); s.Dropped != 3 || s.Sent != 1 {
		t.Errorf("counters %+v, want 3 dropped and 1 sent", s)
	}
	if evs := srv.Events("/p", "s"); len(evs) != 1 {
		t.Errorf("stored %d events, want 1", len(evs))
	}
}

// TestAssumeRole signs requests with credentials from STS AssumeRole.
func TestAssumeRole(t *testing.T) {
	srv := newServer(t)
	d, _ := load(t, srv, fmt.Sprintf(`log_group = "/r"
role_arn = "arn:aws:iam::111122223333:role/nightjar"
external_id = "ext"
sts_endpoint = %q`, srv.URL()))
	if _, err := send(t, d, decode(t, recordtest.Chunk(recordtest.EventTime, 0, 3, time.Now()))); err != nil {
		t.Fatal(err)
	}
	if r := srv.AssumedRoles(); len(r) != 1 || r[0] != "arn:aws:iam::111122223333:role/nightjar" {
		t.Errorf("assumed roles %v", r)
	}
	if k := srv.AccessKey("PutLogEvents"); k != cwtest.AssumedRoleKey {
		t.Errorf("PutLogEvents signed with %q, want the assumed role's key", k)
	}
}

// TestCreateOnDemandIsNoFailure: the first PutLogEvents to a stream that
// does not exist yet is answered ResourceNotFoundException by the server;
// creating the stream and writing again is the normal path, not a failure.
func TestCreateOnDemandIsNoFailure(t *testing.T) {
	srv := newServer(t)
	d, m := load(t, srv, `log_group = "/new/{{ output_fields.k8s.ns.name }}"
log_stream = "{{ hostname }}"`)
	now := time.Now()
	var chunk []byte
	for i, ns := range []string{"a", "b", "a"} {
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: i, Time: now, Namespace: ns}))
	}
	if _, err := send(t, d, decode(t, chunk)); err != nil {
		t.Fatal(err)
	}
	// One more stream in a group that exists: CreateLogStream only.
	chunk = recordtest.AppendRecord(nil, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: 9, Time: now, Namespace: "a", Hostname: "node-2"}))
	if _, err := send(t, d, decode(t, chunk)); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests("PutLogEvents"); n != 6 {
		t.Errorf("PutLogEvents requests %d, want 6 (3 answered ResourceNotFoundException)", n)
	}
	if n := srv.Requests("CreateLogGroup"); n != 2 {
		t.Errorf("CreateLogGroup requests %d, want 2", n)
	}
	if s := m.Snapshot(); s.Failures != 0 || s.Retries != 0 || s.Sent != 4 {
		t.Errorf("counters %+v, want 4 sent and no failures or retries", s)
	}
}

// TestRetentionRetried: PutRetentionPolicy fails once after the group is
// created. The records are delivered all the same and the policy is set on
// the next Send.
func TestRetentionRetried(t *testing.T) {
	srv := newServer(t)
	d, m := load(t, srv, `log_group = "/ret"
log_stream = "s"
retention_days = 90`)
	srv.Inject("PutRetentionPolicy", cwtest.Unavailable)
	if _, err := send(t, d, decode(t, recordtest.Chunk(recordtest.EventTime, 0, 5, time.Now()))); err != nil {
		t.Fatal(err)
	}
	g, _ := srv.Group("/ret")
	if g.Retention != 0 || len(g.Streams["s"]) != 5 {
		t.Fatalf("after the failed policy: retention %d, %d events; want 0 and 5", g.Retention, len(g.Streams["s"]))
	}
	if _, err := send(t, d, decode(t, recordtest.Chunk(recordtest.EventTime, 5, 5, time.Now()))); err != nil {
		t.Fatal(err)
	}
	g, _ = srv.Group("/ret")
	if g.Retention != 90 || len(g.Streams["s"]) != 10 {
		t.Errorf("after the retry: retention %d, %d events; want 90 and 10", g.Retention, len(g.Streams["s"]))
	}
	if n := srv.Requests("PutRetentionPolicy"); n != 2 {
		t.Errorf("PutRetentionPolicy requests %d, want 2", n)
	}
	// Once set, the policy is not sent again.
	if _, err := send(t, d, decode(t, recordtest.Chunk(recordtest.EventTime, 10, 1, time.Now()))); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests("PutRetentionPolicy"); n != 2 {
		t.Errorf("PutRetentionPolicy requests %d after the policy was set, want 2", n)
	}
	if s := m.Snapshot(); s.Failures != 1 {
		t.Errorf("failures %d, want 1 (the refused policy)", s.Failures)
	}
}

// TestKnownGroupsBound: templated group names cannot grow the cache of
// known groups past its bound; evictions are counted.
func TestKnownGroupsBound(t *testing.T) {
	srv := newServer(t)
	d, m := load(t, srv, `log_group = "/lru/{{ output_fields.k8s.ns.name }}"`)
	cloudwatch.SetKnownGroupsMax(d, 2)
	now := time.Now()
	for i, ns := range []string{"a", "b", "c", "d", "a"} {
		chunk := recordtest.AppendRecord(nil, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: i, Time: now, Namespace: ns, Hostname: fmt.Sprintf("h%d", i)}))
		if _, err := send(t, d, decode(t, chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if n := cloudwatch.KnownGroups(d); n != 2 {
		t.Errorf("known groups %d, want 2", n)
	}
	// a, b, c, d fill and overflow the cache; the new stream in a finds a
	// evicted, so CreateLogGroup answers ResourceAlreadyExists.
	if s := m.Snapshot(); s.CacheEvictions != 3 || s.Sent != 5 {
		t.Errorf("counters %+v, want 3 evictions and 5 sent", s)
	}
	if n := srv.Requests("CreateLogGroup"); n != 5 {
		t.Errorf("CreateLogGroup requests %d, want 5", n)
	}
}
