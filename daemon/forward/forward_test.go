package forward

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/spool"
	"github.com/nightjar-sec/nightjar/internal/alert"
)

func testAlert(seq int) *alert.Alert {
	return &alert.Alert{
		Time:     time.Date(2026, 11, 26, 18, 0, 0, 123456789+seq, time.UTC),
		Rule:     "Terminal shell in container",
		Priority: alert.PriorityNotice,
		Source:   "syscall",
		Hostname: "node-1",
		Tags:     []string{"container", "shell"},
		Output:   "A shell was spawned " + strconv.Itoa(seq),
		OutputFields: map[string]any{
			"seq":          int64(seq),
			"proc.name":    "bash",
			"container.id": "3f2a1b",
			"evt.time":     uint64(1764180000123456789),
			"proc.args":    []string{"-i"},
			"fd.num":       int64(-1),
			"ok":           true,
			"absent":       nil,
		},
		UUID: fmt.Sprintf("uuid-%d", seq),
	}
}

// waitFor polls cond until it holds or the test's deadline nears.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func sockPath(t *testing.T) string { return filepath.Join(t.TempDir(), "fluent.sock") }

func TestWireFormat(t *testing.T) {
	for _, mode := range []Mode{PackedForward, Forward, CompressedPackedForward} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			path := sockPath(t)
			l := newListener(t, path)
			o, err := New(Options{Address: path, RequireAck: true, Mode: mode, BatchSize: 2})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := o.Send(context.Background(), testAlert(i)); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := o.Close(ctx); err != nil {
				t.Fatal(err)
			}
			chunks, errs := l.snapshot()
			if len(errs) > 0 {
				t.Fatalf("listener protocol errors: %v", errs)
			}
			var entries []entry
			for _, ch := range chunks {
				if ch.tag != "nightjar.alerts" {
					t.Errorf("tag %q, want nightjar.alerts", ch.tag)
				}
				if ch.packed != (mode != Forward) {
					t.Errorf("entries packed=%v in mode %v", ch.packed, mode)
				}
				if len(ch.entries) > 2 {
					t.Errorf("chunk of %d entries exceeds BatchSize 2", len(ch.entries))
				}
				id, _ := ch.options["chunk"].(string)
				if raw, err := base64.StdEncoding.DecodeString(id); err != nil || len(raw) != 16 {
					t.Errorf("chunk option %q is not base64 of 16 bytes", id)
				}
				if !ch.acked {
					t.Errorf("chunk %q not acked", id)
				}
				if mode == CompressedPackedForward && ch.options["compressed"] != "gzip" {
					t.Errorf("compressed option = %v", ch.options["compressed"])
				}
				entries = append(entries, ch.entries...)
			}
			if len(entries) != 3 {
				t.Fatalf("got %d entries, want 3", len(entries))
			}
			for i, e := range entries {
				want := testAlert(i)
				if int64(e.sec) != want.Time.Unix() || int(e.nsec) != want.Time.Nanosecond() {
					t.Errorf("entry %d EventTime %d.%09d, want %d.%09d", i, e.sec, e.nsec, want.Time.Unix(), want.Time.Nanosecond())
				}
				wantRec := map[string]any{
					"time":     want.Time.Format(time.RFC3339Nano),
					"rule":     want.Rule,
					"priority": "Notice",
					"source":   "syscall",
					"hostname": "node-1",
					"tags":     []any{"container", "shell"},
					"output":   want.Output,
					"output_fields": map[string]any{
						"seq": int8(i), "proc.name": "bash", "container.id": "3f2a1b",
						"evt.time": uint64(1764180000123456789), "proc.args": []any{"-i"},
						"fd.num": int8(-1), "ok": true, "absent": nil,
					},
					"uuid": want.UUID,
				}
				if !reflect.DeepEqual(e.record, wantRec) {
					t.Errorf("entry %d record\n got %#v\nwant %#v", i, e.record, wantRec)
				}
			}
			if st := o.Stats(); st.Delivered != 3 || st.Pending != 0 || st.Dropped != 0 {
				t.Errorf("stats %+v, want 3 delivered", st)
			}
		})
	}
}

func spoolOpts(maxBytes, segBytes int64) spool.Options {
	return spool.Options{MaxBytes: maxBytes, SegmentBytes: segBytes}
}

// dropAt makes the listener vanish after its k-th next chunk, unacked.
func (l *listener) dropAt(k int) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropAfter = l.seen + k
	l.dropped = make(chan struct{})
	return l.dropped
}

// checkDelivery verifies that every one of n alerts arrived, that the first
// arrivals are in order and that any repeat belongs to a chunk whose ack was lost.
func checkDelivery(t *testing.T, chunks []chunk, n int) {
	t.Helper()
	seen := make(map[int64]bool)
	unacked := make(map[int64]bool)
	next := int64(0)
	for _, ch := range chunks {
		for _, e := range ch.entries {
			seq := toInt(e.record["output_fields"].(map[string]any)["seq"])
			if !ch.acked {
				unacked[seq] = true
			}
			if seen[seq] {
				continue
			}
			if seq != next {
				t.Fatalf("alert %d arrived where %d was due", seq, next)
			}
			seen[seq] = true
			next++
		}
	}
	if next != int64(n) {
		t.Fatalf("%d of %d alerts arrived", next, n)
	}
	// A repeat is allowed only for an alert that was in an unacked chunk.
	repeats := 0
	count := make(map[int64]int)
	for _, ch := range chunks {
		for _, e := range ch.entries {
			seq := toInt(e.record["output_fields"].(map[string]any)["seq"])
			count[seq]++
		}
	}
	for seq, c := range count {
		if c > 1 {
			repeats += c - 1
			if !unacked[seq] {
				t.Errorf("alert %d arrived %d times but never in an unacked chunk", seq, c)
			}
		}
	}
	t.Logf("%d alerts, %d chunks, %d repeats of unacked alerts", n, len(chunks), repeats)
}

func toInt(v any) int64 {
	switch v := v.(type) {
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		return int64(v)
	}
	panic(fmt.Sprintf("not an integer: %T", v))
}

func TestRouterRestartMidStream(t *testing.T) {
	for _, withSpool := range []bool{false, true} {
		t.Run(fmt.Sprintf("spool=%v", withSpool), func(t *testing.T) {
			path := sockPath(t)
			l := newListener(t, path)
			opts := Options{Address: path, RequireAck: true, BatchSize: 50,
				BackoffMin: time.Millisecond, BackoffMax: 20 * time.Millisecond}
			if withSpool {
				opts.SpoolDir = t.TempDir()
			}
			o, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			const n = 5000
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				for i := range n {
					if err := o.Send(context.Background(), testAlert(i)); err != nil {
						t.Errorf("send %d: %v", i, err)
						return
					}
					if i%100 == 0 {
						time.Sleep(time.Millisecond) // keep alerts coming across the restarts
					}
				}
			}()
			// Three router restarts while alerts keep coming; each time
			// the chunk in hand is read but its ack is lost.
			for range 3 {
				<-l.dropAt(3)
				time.Sleep(5 * time.Millisecond) // the router stays away a little
				l.start()
			}
			<-sent
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := o.Close(ctx); err != nil {
				t.Fatal(err)
			}
			chunks, errs := l.snapshot()
			if len(errs) > 0 {
				t.Fatalf("listener protocol errors: %v", errs)
			}
			checkDelivery(t, chunks, n)
			st := o.Stats()
			if st.Reconnects < 3 {
				t.Errorf("reconnects = %d, want ≥ 3", st.Reconnects)
			}
			if st.Dropped != 0 || st.Pending != 0 || st.Spooled != 0 {
				t.Errorf("stats after close %+v, want nothing dropped or left", st)
			}
			if st.Delivered < n {
				t.Errorf("delivered = %d, want ≥ %d", st.Delivered, n)
			}
		})
	}
}

func TestSpoolAcrossDaemonRestart(t *testing.T) {
	path := sockPath(t)
	spoolDir := t.TempDir()
	opts := Options{Address: path, RequireAck: true, BatchSize: 64, SpoolDir: spoolDir,
		BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond}

	// The router is down: the daemon spools and is then stopped.
	o, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		if err := o.Send(context.Background(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Spooled != n || st.Delivered != 0 || st.Dropped != 0 || st.FailingSince.IsZero() {
		t.Fatalf("after stopping with the router down: %+v, want %d spooled and failing", st, n)
	}

	// The router comes back, the daemon restarts and sends new alerts too.
	l := newListener(t, path)
	o, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := n; i < n+100; i++ {
		if err := o.Send(context.Background(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all alerts delivered", func() bool { return o.Stats().Delivered == n+100 })
	waitFor(t, "failure cleared", func() bool { return o.Stats().FailingSince.IsZero() })
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	chunks, errs := l.snapshot()
	if len(errs) > 0 {
		t.Fatalf("listener protocol errors: %v", errs)
	}
	checkDelivery(t, chunks, n+100)
	if st := o.Stats(); st.Spooled != 0 || st.Dropped != 0 {
		t.Fatalf("after delivery: %+v", st)
	}
}

func TestSpoolLimitCountsDrops(t *testing.T) {
	path := sockPath(t)
	o, err := New(Options{Address: path, SpoolDir: t.TempDir(),
		Spool:      spoolOpts(64<<10, 8<<10),
		BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000 // ~300 bytes each: several times the 64 KiB limit
	for i := range n {
		o.Send(context.Background(), testAlert(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o.Close(ctx)
	st := o.Stats()
	if st.Dropped == 0 || st.Dropped+st.Spooled != n {
		t.Fatalf("stats %+v: want dropped > 0 and dropped + spooled = %d", st, n)
	}

	// What survived is the newest alerts, delivered in order.
	l := newListener(t, path)
	o, err = New(Options{Address: path, RequireAck: true, SpoolDir: o.opts.SpoolDir, Spool: spoolOpts(64<<10, 8<<10)})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "spool drained", func() bool { return o.Stats().Delivered == st.Spooled })
	o.Close(ctx)
	chunks, _ := l.snapshot()
	first := int64(-1)
	prev := int64(-1)
	for _, ch := range chunks {
		for _, e := range ch.entries {
			seq := toInt(e.record["output_fields"].(map[string]any)["seq"])
			if first < 0 {
				first = seq
			}
			if seq != prev+1 && prev >= 0 {
				t.Fatalf("alert %d after %d", seq, prev)
			}
			prev = seq
		}
	}
	if prev != n-1 || first != int64(st.Dropped) {
		t.Fatalf("delivered alerts %d..%d, want %d..%d", first, prev, st.Dropped, n-1)
	}
}

func TestTCPAndBatchBytes(t *testing.T) {
	l := newNetListener(t, "tcp", "127.0.0.1:0")
	entry, _ := AppendEntry(nil, testAlert(0))
	limit := 3*len(entry) + len(entry)/2 // room for 3 entries per chunk
	o, err := New(Options{Network: "tcp", Address: l.path, RequireAck: true, BatchBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	// Queue everything before the first chunk can leave, then flush.
	for i := range 20 {
		if err := o.Send(context.Background(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	chunks, errs := l.snapshot()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, ch := range chunks {
		if len(ch.entries) > 3 {
			t.Fatalf("chunk of %d entries exceeds batch_bytes for 3", len(ch.entries))
		}
	}
	checkDelivery(t, chunks, 20)
}

func TestWithoutAck(t *testing.T) {
	path := sockPath(t)
	l := newListener(t, path)
	o, err := New(Options{Address: path, Tag: "custom.tag"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		o.Send(context.Background(), testAlert(i))
	}
	waitFor(t, "listener to see 10 alerts", func() bool {
		chunks, _ := l.snapshot()
		n := 0
		for _, ch := range chunks {
			n += len(ch.entries)
		}
		return n == 10
	})
	o.Close(context.Background())
	chunks, errs := l.snapshot()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, ch := range chunks {
		if _, ok := ch.options["chunk"]; ok || ch.tag != "custom.tag" {
			t.Fatalf("chunk without require_ack: tag %q options %v", ch.tag, ch.options)
		}
	}
	checkDelivery(t, chunks, 10)
	if st := o.Stats(); st.Delivered != 10 {
		t.Fatalf("stats %+v", st)
	}
}
