package forward

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/spool"
	"github.com/nightjar-sec/nightjar/internal/alert"
)

// mountTmpfs mounts a tmpfs of the given size (as mount -t tmpfs -o size=…
// does) on a new directory and unmounts it when the test ends.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a size-limited tmpfs and must run as root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// The router is down and the spool's disk fills up: alerts wait in memory,
// the excess is dropped and counted once; when space returns the spool
// takes alerts again, and once the router is back everything not dropped
// is delivered: delivered + dropped = sent.
func TestSpoolDiskFullThenSpaceReturns(t *testing.T) {
	fs := mountTmpfs(t, "1m")
	ballast := filepath.Join(fs, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 960<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	path := sockPath(t)
	o, err := New(Options{Address: path, RequireAck: true, BatchSize: 100, QueueSize: 200,
		SpoolDir: filepath.Join(fs, "spool"), Spool: spool.Options{MaxBytes: 4 << 20, SegmentBytes: 8 << 10},
		BackoffMin: time.Millisecond, BackoffMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	send := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := o.Send(context.Background(), testAlert(i)); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
	}
	const first, second = 2000, 1000
	send(0, first)
	st := o.Stats()
	if st.Spooled+st.Pending+st.Dropped != first {
		t.Fatalf("disk full: spooled %d + pending %d + dropped %d != %d sent", st.Spooled, st.Pending, st.Dropped, first)
	}
	if st.Dropped == 0 || st.Spooled == 0 || st.Pending != 200 {
		t.Fatalf("disk full: %+v; want some spooled, 200 waiting in memory, the rest dropped", st)
	}
	droppedWhileFull := st.Dropped

	// Space returns: the spool takes alerts again (after its retry pause).
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	send(first, first+second)
	st = o.Stats()
	if st.Dropped != droppedWhileFull || st.Pending != 0 || st.Spooled+st.Dropped != first+second {
		t.Fatalf("after space returned: %+v; want every new alert spooled, dropped still %d", st, droppedWhileFull)
	}

	// The router comes back: everything spooled is delivered.
	l := newListener(t, path)
	waitFor(t, "spool drained", func() bool {
		st := o.Stats()
		return st.Spooled == 0 && st.Pending == 0 && st.Delivered+st.Dropped == first+second
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	chunks, errs := l.snapshot()
	if len(errs) > 0 {
		t.Fatalf("listener protocol errors: %v", errs)
	}
	seen := map[int64]int{}
	last := int64(-1)
	for _, ch := range chunks {
		for _, e := range ch.entries {
			seq := toInt(e.record["output_fields"].(map[string]any)["seq"])
			seen[seq]++
			if seq <= last {
				t.Fatalf("alert %d arrived after %d", seq, last)
			}
			last = seq
		}
	}
	st = o.Stats()
	if uint64(len(seen)) != st.Delivered || st.Delivered+st.Dropped != first+second {
		t.Fatalf("listener got %d distinct alerts; stats %+v (sent %d)", len(seen), st, first+second)
	}
	for i := first; i < first+second; i++ {
		if seen[int64(i)] != 1 {
			t.Fatalf("alert %d sent after space returned arrived %d times", i, seen[int64(i)])
		}
	}
	t.Logf("sent %d: delivered %d, dropped %d while the disk was full", first+second, st.Delivered, st.Dropped)
}

// An alert too large for a spool segment is dropped and counted once, by
// the spool, and does not hold up the alerts after it.
func TestOversizedAlertCountedOnce(t *testing.T) {
	path := sockPath(t)
	o, err := New(Options{Address: path, RequireAck: true, SpoolDir: t.TempDir(),
		Spool:      spool.Options{MaxBytes: 1 << 20, SegmentBytes: 64 << 10},
		BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// The router is down (no listener yet), so alerts go to the spool.
	waitFor(t, "router found down", func() bool { return !o.Stats().FailingSince.IsZero() })
	huge := testAlert(1)
	huge.Output = string(make([]byte, 100<<10))
	for i, a := range []*alert.Alert{testAlert(0), huge, testAlert(2)} {
		if err := o.Send(context.Background(), a); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	waitFor(t, "alerts spooled", func() bool { st := o.Stats(); return st.Spooled+st.Dropped+st.Pending == 3 })
	l := newListener(t, path)
	waitFor(t, "delivery", func() bool { return o.Stats().Delivered == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Dropped != 1 || st.Delivered != 2 || st.Spooled != 0 {
		t.Fatalf("stats %+v; want the oversized alert dropped once and the other two delivered", st)
	}
	chunks, _ := l.snapshot()
	var seqs []int64
	for _, ch := range chunks {
		for _, e := range ch.entries {
			seqs = append(seqs, toInt(e.record["output_fields"].(map[string]any)["seq"]))
		}
	}
	if len(seqs) != 2 || seqs[0] != 0 || seqs[1] != 2 {
		t.Fatalf("delivered %v, want [0 2]", seqs)
	}
}
