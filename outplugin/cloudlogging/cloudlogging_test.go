package cloudlogging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/cloudlogging"
	"github.com/nightjar-sec/nightjar/outplugin/cloudlogging/cltest"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"github.com/tinylib/msgp/msgp"
	ltype "google.golang.org/genproto/googleapis/logging/type"
	"google.golang.org/grpc/codes"
)

// setup starts a server and builds a destination for it from body. Unless
// body sets one, the request timeout is long: a request that times out
// after the server stored it is sent again, and under -race on a loaded
// machine 10s is not always enough.
func setup(t *testing.T, body string) (*cltest.Server, destination.Destination, *destination.Metrics) {
	t.Helper()
	if !strings.Contains(body, "timeout") {
		body += "\ntimeout = \"60s\""
	}
	srv, err := cltest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	reg := destination.NewRegistry()
	cloudlogging.Register(reg)
	src := fmt.Sprintf(`destination "cloud_logging" "cl" {
  project      = "proj-1"
  endpoint     = %q
  insecure     = true
  cluster_name = "c1"
  location     = "europe-west1"
%s
}
route "all" { to = [destination.cloud_logging.cl] }
`, srv.Addr(), body)
	cfg, err := routes.Parse([]byte(src), "routes.hcl", routes.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.Close() })
	return srv, cfg.Destinations[0].Dest, cfg.Destinations[0].Metrics
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
	return out
}

func send(t *testing.T, d destination.Destination, recs []*record.Record) (*destination.Batch, error) {
	t.Helper()
	b := destination.NewBatch("t", recs)
	return b, d.Send(context.Background(), b)
}

func TestEntries(t *testing.T) {
	srv, d, m := setup(t, `log_name = "nightjar-{{ source }}"`)
	ts := time.Date(2026, 11, 26, 18, 0, 0, 123456789, time.UTC)
	var chunk []byte
	chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, ts, recordtest.AppendAlert(nil, recordtest.Alert{Seq: 1, Time: ts, Priority: "Critical", Namespace: "prod"}))
	chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, ts, []byte("\x82\xa3log\xa5hello\xa8hostname\xa2n9")) // plain log record
	if _, err := send(t, d, decode(t, chunk)); err != nil {
		t.Fatal(err)
	}
	got := srv.Entries()
	if len(got) != 2 {
		t.Fatalf("stored %d entries", len(got))
	}
	a := got[0]
	if a.LogName != "projects/proj-1/logs/nightjar-syscall" || a.Severity != ltype.LogSeverity_CRITICAL || !a.Timestamp.AsTime().Equal(ts) {
		t.Errorf("entry %v %v %v", a.LogName, a.Severity, a.Timestamp.AsTime())
	}
	if a.Resource.Type != "k8s_container" || a.Resource.Labels["namespace_name"] != "prod" || a.Resource.Labels["cluster_name"] != "c1" || a.Resource.Labels["pod_name"] != "web-7c9" {
		t.Errorf("resource %v", a.Resource)
	}
	if a.Labels["rule"] != "Terminal shell in container" || a.Labels["priority"] != "Critical" || a.Labels["namespace"] != "prod" {
		t.Errorf("labels %v", a.Labels)
	}
	p := a.GetJsonPayload().AsMap()
	if p["rule"] != "Terminal shell in container" || p["output_fields"].(map[string]any)["proc.name"] != "bash" {
		t.Errorf("payload %v", p)
	}
	if a.InsertId != "0b7c6c9e-0000-4000-8000-000000000001" {
		t.Errorf("insert id %q", a.InsertId)
	}
	b := got[1]
	if b.Resource.Type != "generic_node" || b.Resource.Labels["node_id"] != "n9" || b.Severity != ltype.LogSeverity_DEFAULT || b.LogName != "projects/proj-1/logs/nightjar-unknown" {
		t.Errorf("plain record entry %v %v %v", b.Resource, b.Severity, b.LogName)
	}
	if s := m.Snapshot(); s.Sent != 2 || s.Batches != 1 {
		t.Errorf("counters %+v", s)
	}
}

// TestLimits writes enough data to need several requests and an entry over
// 256 KiB; the server refuses anything beyond the limits.
func TestLimits(t *testing.T) {
	srv, d, m := setup(t, `labels = { rule = "{{ rule }}", out = "{{ output }}" }`)
	now := time.Now()
	var chunk []byte
	n := 0
	for i := range 80 { // 80 × 150 kB: several 10 MB requests
		a := recordtest.Alert{Seq: n, Time: now, Output: strings.Repeat(string(rune('a'+i%26)), 150_000)}
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, recordtest.AppendAlert(nil, a))
		n++
	}
	for range 2000 {
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: n, Time: now}))
		n++
	}
	big := recordtest.Alert{Seq: n, Time: now, Output: strings.Repeat("z", 40_000)}
	body := recordtest.AppendAlert(nil, big)
	// Add a 300 kB field so that the entry is over the limit.
	body[0]++ // one more map pair
	body = append(body, "\xa5extra"...)
	body = append(body, 0xdb, 0, 0x04, 0x93, 0xe0)
	body = append(body, strings.Repeat("q", 300_000)...)
	chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, body)
	n++
	b, err := send(t, d, decode(t, chunk))
	if err != nil {
		t.Fatal(err)
	}
	if r := srv.Rejected(); len(r) > 0 {
		t.Fatalf("server rejected %d, first: %.200s", len(r), r[0])
	}
	if b.Pending() != 0 || srv.Accepted() != n {
		t.Fatalf("pending %d, accepted %d of %d", b.Pending(), srv.Accepted(), n)
	}
	s := m.Snapshot()
	if s.Truncated != 1 || s.Batches < 3 {
		t.Errorf("counters %+v", s)
	}
	var trunc int
	for _, e := range srv.Entries() {
		if e.GetJsonPayload().AsMap()["nightjar_truncated"] == true {
			trunc++
			if !strings.HasSuffix(e.GetJsonPayload().AsMap()["record"].(string), cloudlogging.TruncationMarker) {
				t.Error("truncated entry lacks the marker")
			}
		}
	}
	if trunc != 1 {
		t.Errorf("%d truncated entries stored", trunc)
	}
}

func TestFaults(t *testing.T) {
	srv, d, m := setup(t, `max_attempts = 4`)
	srv.Inject(codes.Unavailable, codes.ResourceExhausted, codes.Unavailable)
	recs := decode(t, recordtest.Chunk(recordtest.Metadata, 0, 1500, time.Now()))
	if _, err := send(t, d, recs); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range srv.Entries() {
		if seen[e.InsertId] {
			t.Fatalf("duplicate %s", e.InsertId)
		}
		seen[e.InsertId] = true
	}
	if len(seen) != 1500 {
		t.Errorf("stored %d distinct entries, want 1500", len(seen))
	}
	if s := m.Snapshot(); s.Retries != 3 {
		t.Errorf("counters %+v, want 3 retries", s)
	}

	// Out of attempts: a transient error and unacknowledged records.
	srv.Inject(codes.Unavailable, codes.Unavailable, codes.Unavailable, codes.Unavailable)
	b, err := send(t, d, recs[:10])
	if err == nil || destination.IsPermanent(err) || b.Pending() != 10 {
		t.Errorf("err %v, pending %d", err, b.Pending())
	}
	srv.Inject(codes.PermissionDenied)
	if _, err := send(t, d, recs[:10]); !destination.IsPermanent(err) {
		t.Errorf("permission denied: err %v, want permanent", err)
	}
}

func TestPartialErrors(t *testing.T) {
	// A label over 64 KiB is cut by the destination; 65 labels are refused
	// at load; an invalid log name is refused by the server per entry.
	srv, d, m := setup(t, `log_name = "{{ output_fields.logname }}"`)
	now := time.Now()
	var chunk []byte
	for i := range 4 {
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: i, Time: now}))
	}
	// Every record renders log name "unknown" except none: make one invalid
	// by a name over 512 characters.
	long := strings.Repeat("n", 600)
	chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, []byte(fmt.Sprintf("\x81\xadoutput_fields\x81\xa7logname\xda\x02\x58%s", long)))
	b, err := send(t, d, decode(t, chunk))
	if err != nil || b.Pending() != 0 {
		t.Fatalf("err %v pending %d", err, b.Pending())
	}
	if s := m.Snapshot(); s.Sent != 4 || s.Dropped != 1 {
		t.Errorf("counters %+v, want 4 sent 1 dropped", s)
	}
	if srv.Accepted() != 4 {
		t.Errorf("accepted %d", srv.Accepted())
	}
}

// TestSizeBoundHolds checks the size bound against exact sizes for
// records made of the values that grow most.
func TestSizeBoundHolds(t *testing.T) {
	for _, body := range [][]byte{
		append([]byte{0x81, 0xa1, 'a', 0xdc, 0x01, 0x00}, bytes.Repeat([]byte{0x01}, 256)...), // 256 fixints
		append([]byte{0x81, 0xa1, 'a', 0xdc, 0x01, 0x00}, bytes.Repeat([]byte{0xc0}, 256)...), // 256 nils
		append([]byte{0x81, 0xa1, 'a', 0xdc, 0x01, 0x00}, bytes.Repeat([]byte{0x90}, 256)...), // 256 empty lists
		append([]byte{0x81, 0xa1, 'a', 0xdc, 0x01, 0x00}, bytes.Repeat([]byte{0x80}, 256)...), // 256 empty maps
		append([]byte{0xde, 0x01, 0x00}, bytes.Repeat([]byte{0xa1, 'k', 0x01}, 256)...),       // repeated key
		recordtest.AppendAlert(nil, recordtest.Alert{Time: time.Now()}),
	} {
		chunk := recordtest.AppendRecord(nil, recordtest.EventTime, time.Now(), body)
		recs := decode(t, chunk)
		if len(recs) != 1 {
			t.Fatalf("bad test record %x", body)
		}
		exact, bound := cloudlogging.EntrySizes(recs[0])
		if exact > bound {
			t.Errorf("record %x: exact size %d over bound %d", body[:8], exact, bound)
		}
	}
}

// TestPayloadMatchesJSON checks that the Struct payload holds what the
// record's JSON form holds, for every msgpack type.
func TestPayloadMatchesJSON(t *testing.T) {
	var b []byte
	b = msgp.AppendMapHeader(b, 10)
	b = msgp.AppendString(b, "s")
	b = msgp.AppendString(b, "é\xff\"")
	b = msgp.AppendString(b, "i")
	b = msgp.AppendInt64(b, -42)
	b = msgp.AppendString(b, "u")
	b = msgp.AppendUint64(b, 1<<40)
	b = msgp.AppendString(b, "f")
	b = msgp.AppendFloat32(b, 0.5)
	b = msgp.AppendString(b, "bin")
	b = msgp.AppendBytes(b, []byte{0, 1, 2})
	b = msgp.AppendString(b, "t")
	b = recordtest.AppendEventTime(b, time.Unix(5, 6))
	b = msgp.AppendString(b, "nil")
	b = msgp.AppendNil(b)
	b = msgp.AppendInt(b, 7) // integer key
	b = msgp.AppendBool(b, false)
	b = msgp.AppendString(b, "list")
	b = msgp.AppendArrayHeader(b, 2)
	b = msgp.AppendString(b, "a")
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(b, "k")
	b = msgp.AppendInt(b, 1)
	b = msgp.AppendString(b, "ext")
	b = append(b, 0xd4, 0x05, 0x01) // fixext1 of type 5
	s, err := cloudlogging.ToStruct(record.Value(b))
	if err != nil {
		t.Fatal(err)
	}
	js, err := record.Value(b).AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(js, &want); err != nil {
		t.Fatal(err)
	}
	if got := s.AsMap(); !reflect.DeepEqual(got, want) {
		t.Errorf("struct payload %v\nJSON form      %v", got, want)
	}
}
