package record_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/tinylib/msgp/msgp"
)

func decodeAll(t testing.TB, chunk []byte) ([]record.Record, *record.Decoder) {
	t.Helper()
	d := record.NewDecoder(chunk)
	var out []record.Record
	var r record.Record
	for d.Next(&r) {
		out = append(out, r)
	}
	return out, d
}

func TestDecodeFormats(t *testing.T) {
	ts := time.Date(2026, 11, 26, 18, 0, 0, 123456789, time.UTC)
	for _, tc := range []struct {
		name   string
		format recordtest.Format
		want   time.Time
	}{
		{"eventtime", recordtest.EventTime, ts},
		{"int", recordtest.IntTime, ts.Truncate(time.Second)},
		{"metadata", recordtest.Metadata, ts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunk := recordtest.AppendRecord(nil, tc.format, ts, recordtest.AppendAlert(nil, recordtest.Alert{Seq: 7, Time: ts, Namespace: "prod"}))
			recs, d := decodeAll(t, chunk)
			if len(recs) != 1 || d.Skipped() != 0 || d.Err() != nil {
				t.Fatalf("got %d records, %d skipped, err %v", len(recs), d.Skipped(), d.Err())
			}
			r := recs[0]
			if !r.Time.Equal(tc.want) {
				t.Errorf("time = %v, want %v", r.Time, tc.want)
			}
			if v, ok := r.Lookup("output_fields.k8s.ns.name"); !ok || v.Text() != "prod" {
				t.Errorf("output_fields.k8s.ns.name = %q, %v", v.Text(), ok)
			}
			if v, ok := r.Lookup("rule"); !ok || v.Text() != "Terminal shell in container" {
				t.Errorf("rule = %q", v.Text())
			}
			if _, ok := r.Lookup("output_fields.k8s.ns"); ok {
				t.Errorf("partial key resolved")
			}
			tags, _ := r.Lookup("tags")
			if !tags.Contains("shell") || tags.Contains("shel") {
				t.Errorf("tags contains wrong")
			}
			js, err := r.Body.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(js, &m); err != nil {
				t.Fatalf("invalid JSON %s: %v", js, err)
			}
			if m["uuid"] != "0b7c6c9e-0000-4000-8000-000000000007" {
				t.Errorf("uuid = %v", m["uuid"])
			}
			of := m["output_fields"].(map[string]any)
			if of["evt.time"].(float64) != float64(ts.UnixNano()) {
				t.Errorf("evt.time = %v", of["evt.time"])
			}
		})
	}
}

func TestDecodeFloatTime(t *testing.T) {
	chunk := msgp.AppendArrayHeader(nil, 2)
	chunk = msgp.AppendFloat64(chunk, 1700000000.25)
	chunk = msgp.AppendMapStrStr(chunk, map[string]string{"log": "x"})
	recs, d := decodeAll(t, chunk)
	if len(recs) != 1 || d.Err() != nil {
		t.Fatalf("%d records, err %v", len(recs), d.Err())
	}
	if want := time.Unix(1700000000, 250000000); !recs[0].Time.Equal(want) {
		t.Errorf("time = %v, want %v", recs[0].Time, want)
	}
}

func TestDecodeSkipsBadRecords(t *testing.T) {
	ts := time.Unix(1700000000, 0)
	good := recordtest.AppendRecord(nil, recordtest.EventTime, ts, msgp.AppendMapStrStr(nil, map[string]string{"log": "hello"}))
	var chunk []byte
	chunk = append(chunk, good...)
	chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, ts, msgp.AppendString(nil, "not a map")) // body not a map
	chunk = msgp.AppendArrayHeader(chunk, 3)                                                              // wrong arity
	chunk = msgp.AppendInt(chunk, 1)
	chunk = msgp.AppendInt(chunk, 2)
	chunk = msgp.AppendInt(chunk, 3)
	chunk = msgp.AppendString(chunk, "stray") // not an array
	chunk = append(chunk, good...)
	chunk = append(chunk, 0x92, 0xd7) // truncated
	recs, d := decodeAll(t, chunk)
	if len(recs) != 2 {
		t.Fatalf("got %d good records, want 2", len(recs))
	}
	if d.Skipped() != 4 {
		t.Errorf("skipped = %d, want 4", d.Skipped())
	}
	if recs[1].Index != 4 {
		t.Errorf("second good record index = %d, want 4", recs[1].Index)
	}
	if d.Err() == nil {
		t.Error("no error reported")
	}
}

func TestJSONConversion(t *testing.T) {
	var b []byte
	b = msgp.AppendMapHeader(b, 8)
	b = msgp.AppendString(b, "s")
	b = msgp.AppendString(b, "q\"\\\n\x01é\xff<")
	b = msgp.AppendString(b, "neg")
	b = msgp.AppendInt64(b, -1234567890123)
	b = msgp.AppendString(b, "u")
	b = msgp.AppendUint64(b, 18446744073709551615)
	b = msgp.AppendString(b, "f")
	b = msgp.AppendFloat64(b, 1.5)
	b = msgp.AppendString(b, "bin")
	b = msgp.AppendBytes(b, []byte{1, 2, 3})
	b = msgp.AppendString(b, "nil")
	b = msgp.AppendNil(b)
	b = msgp.AppendInt(b, 42) // integer key
	b = msgp.AppendBool(b, true)
	b = msgp.AppendString(b, "t")
	b = recordtest.AppendEventTime(b, time.Unix(1, 5).UTC())
	got, err := record.Value(b).AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"s":"q\"\\\n\u0001é\ufffd<","neg":-1234567890123,"u":18446744073709551615,"f":1.5,"bin":"AQID","nil":null,"42":true,"t":"1970-01-01T00:00:01.000000005Z"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !json.Valid(got) {
		t.Error("invalid JSON")
	}
}

func TestDeepNestingRejected(t *testing.T) {
	body := []byte(strings.Repeat("\x91", 200) + "\xc0")
	chunk := recordtest.AppendRecord(nil, recordtest.EventTime, time.Unix(1, 0), append([]byte{0x81, 0xa1, 'x'}, body...))
	recs, d := decodeAll(t, chunk)
	if len(recs) != 0 || d.Skipped() != 1 {
		t.Fatalf("got %d records, %d skipped", len(recs), d.Skipped())
	}
}

func FuzzDecode(f *testing.F) {
	ts := time.Unix(1700000000, 42)
	for _, fm := range []recordtest.Format{recordtest.EventTime, recordtest.IntTime, recordtest.Metadata} {
		f.Add(recordtest.Chunk(fm, 0, 2, ts))
	}
	f.Add([]byte{0x92, 0xd7, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x80})
	f.Fuzz(func(t *testing.T, chunk []byte) {
		d := record.NewDecoder(chunk)
		var r record.Record
		n := 0
		for d.Next(&r) {
			n++
			js, err := r.Body.AppendJSON(nil)
			if err == nil && !json.Valid(js) {
				t.Fatalf("invalid JSON %q", js)
			}
			r.Lookup("output_fields.k8s.ns.name")
			r.Lookup("a.b.c")
			r.Body.Pairs(func(k, v record.Value) bool { k.Text(); v.Float(); v.Time(); return true })
		}
		if n+d.Skipped() != d.Count() {
			t.Fatalf("good %d + skipped %d != count %d", n, d.Skipped(), d.Count())
		}
	})
}

func BenchmarkDecodeJSON(b *testing.B) {
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 6000, time.Now())
	b.SetBytes(int64(len(chunk)))
	var buf []byte
	for b.Loop() {
		d := record.NewDecoder(chunk)
		var r record.Record
		for d.Next(&r) {
			buf, _ = r.Body.AppendJSON(buf[:0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*6000), "ns/record")
}

func TestLookupDottedKeys(t *testing.T) {
	mk := func(pairs ...any) []byte {
		b := msgp.AppendMapHeader(nil, uint32(len(pairs)/2))
		for i := 0; i < len(pairs); i += 2 {
			b = msgp.AppendString(b, pairs[i].(string))
			switch v := pairs[i+1].(type) {
			case int:
				b = msgp.AppendInt(b, v)
			case []byte:
				b = append(b, v...)
			}
		}
		return b
	}
	for _, tc := range []struct {
		body []byte
		path string
		want string
	}{
		{mk("a.b", mk("c", 1), "a", mk("b.c", 2)), "a.b.c", "1"},
		{mk("a.b", mk("x", 1), "a", mk("b", mk("c", 2))), "a.b.c", "2"},
		{mk("a", mk("b", mk("c", 3))), "a.b.c", "3"},
		{mk("k8s.ns.name", 4), "k8s.ns.name", "4"},
		{mk("ab", 5), "a.b", ""},
		{mk("a", 6), "a.b", ""},
		{mk("a", 7), "a", "7"},
	} {
		v, ok := record.Value(tc.body).Lookup(tc.path)
		if got := v.Text(); got != tc.want || ok != (tc.want != "") {
			t.Errorf("Lookup(%s) = %q, %v; want %q", tc.path, got, ok, tc.want)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 1, time.Now())
	var r record.Record
	if !record.NewDecoder(chunk).Next(&r) {
		b.Fatal("no record")
	}
	if _, ok := r.Lookup("output_fields.proc.name"); !ok {
		b.Fatal("output_fields.proc.name not found")
	}
	for b.Loop() {
		r.Lookup("output_fields.proc.name")
		r.Body.Get("priority")
	}
}
