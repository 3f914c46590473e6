package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func rec(i int) []byte { return fmt.Appendf(nil, "record-%06d", i) }

// drain peeks and commits everything, returning the records in order.
func drain(t *testing.T, s *Spool, batch int) []string {
	t.Helper()
	var out []string
	for {
		recs, pos, err := s.Peek(batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			out = append(out, string(r))
		}
		if err := s.Commit(pos); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOrderAcrossSegmentsAndRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{MaxBytes: 1 << 20, SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Consume 30, leave the rest for after a restart.
	recs, pos, err := s.Peek(30)
	if err != nil || len(recs) == 0 {
		t.Fatalf("peek: %d records, %v", len(recs), err)
	}
	// A second Peek without Commit returns the same records (resend after a lost ack).
	again, _, _ := s.Peek(30)
	if string(again[0]) != string(recs[0]) {
		t.Fatalf("peek is not idempotent: %q vs %q", again[0], recs[0])
	}
	if err := s.Commit(pos); err != nil {
		t.Fatal(err)
	}
	consumed := len(recs)
	if got := s.Len(); got != 100-consumed {
		t.Fatalf("Len = %d, want %d", got, 100-consumed)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, Options{MaxBytes: 1 << 20, SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Len(); got != 100-consumed {
		t.Fatalf("after restart Len = %d, want %d", got, 100-consumed)
	}
	got := drain(t, s, 7)
	if len(got) != 100-consumed {
		t.Fatalf("drained %d records, want %d", len(got), 100-consumed)
	}
	for i, r := range got {
		if want := string(rec(consumed + i)); r != want {
			t.Fatalf("record %d = %q, want %q", i, r, want)
		}
	}
	// Consumed segments are removed; only the active one may remain.
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("%d segment files left after draining, want 1", len(segs))
	}
}

func TestSizeLimitDropsOldestAndCounts(t *testing.T) {
	dir := t.TempDir()
	// Each record is 8+13 = 21 bytes; 4 records per 100-byte segment.
	s, err := Open(dir, Options{MaxBytes: 400, SegmentBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 100
	for i := range n {
		if _, err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
		if s.Size() > 400 {
			t.Fatalf("spool size %d exceeds the limit 400", s.Size())
		}
	}
	kept := s.Len()
	if dropped := s.Dropped(); int(dropped)+kept != n || dropped == 0 {
		t.Fatalf("dropped %d + kept %d != %d appended", dropped, kept, n)
	}
	got := drain(t, s, 1000)
	if len(got) != kept {
		t.Fatalf("drained %d, Len said %d", len(got), kept)
	}
	// What is left is the newest records, in order.
	for i, r := range got {
		if want := string(rec(n - kept + i)); r != want {
			t.Fatalf("record %d = %q, want %q", i, r, want)
		}
	}
	if n, err := s.Append(make([]byte, 200)); n != 1 || err != nil {
		t.Fatalf("Append of an oversized record = %d, %v; want it taken (dropped) without error", n, err)
	}
	if s.Len() != 0 {
		t.Fatalf("an oversized record was stored: Len = %d", s.Len())
	}
	if s.Dropped() != uint64(n-kept+1) {
		t.Fatalf("oversized record not counted as dropped: %d", s.Dropped())
	}
}

func TestTornTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.Append(rec(i))
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	f, err := os.OpenFile(segs[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 0, 50, 1, 2, 3, 4, 'x'}) // header promising 50 bytes, 1 written
	f.Close()

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Len() != 3 {
		t.Fatalf("Len = %d after torn write, want 3", s.Len())
	}
	s.Append(rec(3))
	got := drain(t, s, 10)
	if len(got) != 4 || got[3] != string(rec(3)) {
		t.Fatalf("after recovery got %q", got)
	}
}

func TestPrependGoesFirst(t *testing.T) {
	s, err := Open(t.TempDir(), Options{SegmentBytes: 64 << 10, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 10; i < 20; i++ {
		s.Append(rec(i))
	}
	// Consume part of the head: the cursor must keep skipping it after the prepend.
	_, pos, _ := s.Peek(2)
	s.Commit(pos)
	if err := s.Prepend([][]byte{rec(0), rec(1)}); err != nil {
		t.Fatal(err)
	}
	s.Append(rec(20))
	got := drain(t, s, 3)
	want := []string{string(rec(0)), string(rec(1))}
	for i := 12; i <= 20; i++ {
		want = append(want, string(rec(i)))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
