package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
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

func bigRec(i int) []byte {
	b := bytes.Repeat([]byte{'.'}, 1000)
	copy(b, fmt.Sprintf("%08d", i))
	return b
}

func recID(t *testing.T, r []byte) int {
	t.Helper()
	id, err := strconv.Atoi(string(r[:8]))
	if err != nil {
		t.Fatalf("record %q does not start with an id", r[:8])
	}
	return id
}

func TestFullDiskThenSpaceReturns(t *testing.T) {
	fs := mountTmpfs(t, "64k")
	dir := filepath.Join(fs, "spool")
	// The spool's own limit is far above the filesystem's: the disk fills first.
	opts := Options{MaxBytes: 1 << 20, SegmentBytes: 16 << 10}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	var werr error
	for ; next < 1000; next++ {
		n, err := s.Append(bigRec(next))
		if err != nil {
			if n != 0 {
				t.Fatalf("failed Append took %d records", n)
			}
			werr = err
			break
		}
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("filling a 64k tmpfs: %v, want ENOSPC", werr)
	}
	accepted := next
	if s.Len() != accepted || accepted < 20 {
		t.Fatalf("Len = %d after %d accepted appends", s.Len(), accepted)
	}
	// While full every Append fails and nothing is counted.
	for i := range 5 {
		if n, err := s.Append(bigRec(10000 + i)); n != 0 || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Append on a full disk = %d, %v", n, err)
		}
	}
	if s.Len() != accepted || s.Dropped() != 0 {
		t.Fatalf("after failed appends Len = %d, Dropped = %d; want %d, 0", s.Len(), s.Dropped(), accepted)
	}

	// Delivering frees whole segments; then the spool takes records again.
	consumed := 0
	for consumed < 32 {
		recs, pos, err := s.Peek(8)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if got := recID(t, r); got != consumed {
				t.Fatalf("peeked record %d, want %d", got, consumed)
			}
			consumed++
		}
		if err := s.Commit(pos); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if n, err := s.Append(bigRec(accepted + i)); n != 1 || err != nil {
			t.Fatalf("Append %d after space returned = %d, %v", i, n, err)
		}
	}
	want := accepted - consumed + 10
	if s.Len() != want {
		t.Fatalf("Len = %d, want %d", s.Len(), want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart exactly the accepted, unconsumed records are there, in order.
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Len() != want {
		t.Fatalf("after reopen Len = %d, want %d", s.Len(), want)
	}
	id := consumed
	for {
		recs, pos, err := s.Peek(16)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if got := recID(t, r); got != id {
				t.Fatalf("record %d where %d was due", got, id)
			}
			id++
		}
		s.Commit(pos)
	}
	if id != accepted+10 {
		t.Fatalf("read up to %d, want %d", id, accepted+10)
	}
}

func TestCursorOffRecordBoundaryRereadsSegment(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		s.Append(rec(i))
	}
	recs, pos, _ := s.Peek(2)
	s.Commit(pos)
	s.Close()
	if len(recs) != 2 {
		t.Fatal("peek")
	}
	// A cursor pointing into the middle of record 2.
	b, err := os.ReadFile(filepath.Join(dir, cursorName))
	if err != nil {
		t.Fatal(err)
	}
	var seq uint64
	var off int64
	fmt.Sscanf(string(b), "%d %d", &seq, &off)
	os.WriteFile(filepath.Join(dir, cursorName), fmt.Appendf(nil, "%d %d\n", seq, off+3), 0o600)

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Read again from the start: delivered twice, never lost or misframed.
	if got := drain(t, s, 10); len(got) != 5 || got[0] != string(rec(0)) || got[4] != string(rec(4)) {
		t.Fatalf("after a misplaced cursor got %q", got)
	}
}

func TestHugeLengthIsCorruptionNotAllocation(t *testing.T) {
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
	var hdr [headerSize]byte
	binary.BigEndian.PutUint32(hdr[:4], 0xfffffff0)
	f.Write(hdr[:])
	f.Write([]byte("tail"))
	f.Close()
	var before, after runtimeMem
	before.read()
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after.read()
	if after.total-before.total > 64<<20 {
		t.Fatalf("recovery allocated %d bytes for a bogus length", after.total-before.total)
	}
	if got := drain(t, s, 10); len(got) != 3 {
		t.Fatalf("got %q, want the 3 good records", got)
	}
}

func TestRefusesUntrustedDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: the directory checks are about root writing where others can")
	}
	base := t.TempDir()
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777)
	if _, err := Open(open, Options{}); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("world-writable spool directory: %v", err)
	}
	foreign := filepath.Join(base, "foreign")
	os.Mkdir(foreign, 0o700)
	os.Chown(foreign, 65534, 65534)
	if _, err := Open(foreign, Options{}); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("spool directory owned by nobody: %v", err)
	}
	real := filepath.Join(base, "real")
	os.Mkdir(real, 0o700)
	link := filepath.Join(base, "link")
	os.Symlink(real, link)
	if _, err := Open(link, Options{}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("spool directory through a symlink: %v", err)
	}
	// A planted symlink in place of the cursor is not followed.
	target := filepath.Join(base, "target")
	os.WriteFile(target, []byte("keep"), 0o600)
	s, err := Open(real, Options{})
	if err != nil {
		t.Fatal(err)
	}
	os.Symlink(target, filepath.Join(real, cursorName+tmpSuffix))
	s.Append(rec(0))
	_, pos, _ := s.Peek(1)
	s.Commit(pos)
	s.Close()
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("a write followed a planted symlink: target now %q", b)
	}
}

type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.total = ms.TotalAlloc
}

func TestSecondOpenOfADirectoryFails(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open of a spool in use: %v", err)
	}
	s.Close()
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s.Close()
}
