// Package spool owns the forward output's bounded on-disk queue: records
// that could not be handed to the log router are appended to segment files
// and read back, oldest first, once the router is reachable again. The spool
// survives a restart of the daemon, including one by SIGKILL at any point.
// When it is full the oldest segment is dropped and every record lost that
// way is counted.
//
// Layout: a directory of segment files named by a 20-digit sequence number
// (NNNN.seg), each a series of records framed as a 4-byte big-endian length,
// a 4-byte CRC-32C of the payload and the payload; and a file "cursor" with
// one "seq offset" line per segment that is partly consumed. The first line
// names the head: segments numbered below it were consumed.
//
// Crash safety rests on two rules. Counters move only after the bytes are
// written, and a write that fails is cut off again, so a full disk costs
// the records of that call and nothing after it. Every change to the set of
// segments is made visible by renaming the cursor: a prepended segment is
// written and synced under a temporary name, the cursor naming it is
// renamed into place, and only then is the segment renamed; recovery
// finishes that last rename if the daemon died before it.
package spool

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/nightjar-sec/nightjar/daemon/trustdir"
)

const (
	headerSize = 8
	segSuffix  = ".seg"
	tmpSuffix  = ".tmp"
	cursorName = "cursor"
	lockName   = "lock"
	// firstSeq leaves room below it for Prepend, which writes segments
	// numbered before the current head.
	firstSeq = uint64(1) << 40
	// openFlags keep a planted symbolic link from redirecting a write.
	openFlags = syscall.O_NOFOLLOW | syscall.O_CLOEXEC
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options bound the spool.
type Options struct {
	// MaxBytes bounds the bytes of all segment files. Default 256 MiB.
	MaxBytes int64
	// SegmentBytes is the size at which a segment is closed and a new one
	// started; it is also the granularity of dropping. Default MaxBytes/16,
	// at least 64 KiB.
	SegmentBytes int64
	// Logger receives what recovery repaired. Default slog.Default().
	Logger *slog.Logger

	// crash is called at each step that changes the files, for the crash
	// tests, which kill the process there.
	crash func(step string)
}

// Pos is a position in the spool returned by Peek and passed to Commit.
type Pos struct {
	seq uint64
	off int64
	n   int
}

type segment struct {
	seq     uint64
	size    int64 // valid bytes in the file
	records int   // records in the file
	start   int64 // offset of the first unconsumed record
	skipped int   // records before start
}

func (g *segment) unconsumed() int { return g.records - g.skipped }

// Spool is a bounded FIFO of byte records on disk. It is safe for concurrent use.
type Spool struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *os.File // flock'd while open

	mu      sync.Mutex
	segs    []*segment // ascending seq; never empty; the last one is being written
	w       *os.File   // the last segment, opened for appending
	buf     []byte     // records framed for the next write
	total   int64
	dropped uint64
	pending int // unconsumed records
	closed  bool

	cursorFailing bool // the last cursor write failed
}

// Open opens (creating if needed) the spool in dir and recovers its contents:
// a record torn by a crash is cut off, a cursor that does not fall on a
// record boundary is ignored (those records are read again rather than
// lost). dir must be owned by root and writable by no one else.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 20
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = max(opts.MaxBytes/16, 64<<10)
	}
	if opts.SegmentBytes > opts.MaxBytes {
		opts.SegmentBytes = opts.MaxBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := trustdir.Check(dir, false); err != nil {
		return nil, fmt.Errorf("spool: refusing directory: %w", err)
	}
	// Two processes (or two outputs) sharing a spool would corrupt it.
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR|openFlags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool: %s is in use by another output or process: %w", dir, err)
	}
	s := &Spool{dir: dir, opts: opts, log: opts.Logger, lock: lock}
	if err := s.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

func (s *Spool) crash(step string) {
	if s.opts.crash != nil {
		s.opts.crash(step)
	}
}

func (s *Spool) segPath(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, segSuffix))
}

type cursorLine struct {
	seq uint64
	off int64
}

// readCursor returns the cursor's lines; none when there is no cursor or it
// cannot be read (then everything is read again, not lost).
func (s *Spool) readCursor() []cursorLine {
	p := filepath.Join(s.dir, cursorName)
	b, err := readFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		s.log.Error("spool: cannot read the cursor; records may be delivered again", "path", p, "err", err)
		return nil
	}
	var lines []cursorLine
	for i, ln := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var c cursorLine
		if _, err := fmt.Sscanf(ln, "%d %d", &c.seq, &c.off); err != nil || c.off < 0 {
			s.log.Error("spool: malformed cursor; records may be delivered again", "path", p, "line", i+1, "text", ln)
			return nil
		}
		lines = append(lines, c)
	}
	return lines
}

func (s *Spool) recover() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	cursor := s.readCursor()
	seqs := map[uint64]bool{}
	var tmps []uint64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			base := strings.TrimSuffix(name, tmpSuffix)
			if seq, err := strconv.ParseUint(strings.TrimSuffix(base, segSuffix), 10, 64); err == nil && strings.HasSuffix(base, segSuffix) {
				tmps = append(tmps, seq)
				continue
			}
			os.Remove(filepath.Join(s.dir, name))
			continue
		}
		if !strings.HasSuffix(name, segSuffix) || !e.Type().IsRegular() {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			continue
		}
		seqs[seq] = true
	}
	// A prepended segment whose cursor was written but which was not yet
	// renamed: it was complete and synced before the cursor named it.
	for _, seq := range tmps {
		tmp := s.segPath(seq) + tmpSuffix
		if len(cursor) > 0 && cursor[0].seq == seq && !seqs[seq] {
			if err := os.Rename(tmp, s.segPath(seq)); err != nil {
				return fmt.Errorf("spool: finish prepend: %w", err)
			}
			seqs[seq] = true
			continue
		}
		os.Remove(tmp)
	}
	for seq := range seqs {
		s.segs = append(s.segs, &segment{seq: seq})
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return cmp.Compare(a.seq, b.seq) })

	// Segments below the cursor's head were consumed before a restart.
	if len(cursor) > 0 {
		for len(s.segs) > 0 && s.segs[0].seq < cursor[0].seq {
			os.Remove(s.segPath(s.segs[0].seq))
			s.segs = s.segs[1:]
		}
	}
	starts := map[uint64]int64{}
	for _, c := range cursor {
		starts[c.seq] = c.off
	}
	for _, seg := range s.segs {
		if err := s.scan(seg, starts[seg.seq]); err != nil {
			return err
		}
		s.total += seg.size
		s.pending += seg.unconsumed()
	}
	if len(s.segs) == 0 {
		seq := firstSeq
		if len(cursor) > 0 {
			// A new segment numbered below the cursor's head would be
			// taken for consumed at the next start.
			seq = max(seq, cursor[0].seq)
		}
		return s.openWriter(seq)
	}
	return s.openWriter(s.segs[len(s.segs)-1].seq)
}

// scan validates a segment, fills in its size and record count, and places
// its start at start if that is a record boundary. A torn or corrupt tail
// is cut off; in any but the last segment that loses records, which are
// counted as dropped.
func (s *Spool) scan(seg *segment, start int64) error {
	path := s.segPath(seg.seq)
	f, err := os.OpenFile(path, os.O_RDWR|openFlags, 0)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := trustdir.OwnedRegular(path, fi); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	fileSize := fi.Size()
	r := bufio.NewReaderSize(f, 1<<16)
	var off int64
	n := 0
	startOK := start == 0
	var hdr [headerSize]byte
	var buf []byte
	var bad error
	for {
		if off == start {
			seg.skipped, startOK = n, true
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err != io.EOF {
				bad = errors.New("torn record header")
			}
			break
		}
		// A length beyond the file is a torn or corrupt header; checking
		// it first keeps a bad length from allocating up to 4 GiB.
		l := int64(binary.BigEndian.Uint32(hdr[:4]))
		if l > fileSize-off-headerSize {
			bad = fmt.Errorf("record length %d runs past the end of the file", l)
			break
		}
		if int64(cap(buf)) < l {
			buf = make([]byte, l)
		}
		buf = buf[:l]
		if _, err := io.ReadFull(r, buf); err != nil {
			bad = fmt.Errorf("read record: %w", err)
			break
		}
		if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			bad = errors.New("checksum mismatch")
			break
		}
		off += headerSize + l
		n++
	}
	if bad != nil {
		s.log.Error("spool: cutting off a damaged segment tail", "path", path, "offset", off, "bytes", fileSize-off, "err", bad)
		if seg.seq != s.lastSeq() {
			// Records of a damaged segment that is not the last cannot be
			// counted from the bytes; at least one was lost.
			s.dropped++
		}
		if err := f.Truncate(off); err != nil {
			return fmt.Errorf("spool: %s: truncate damaged tail: %w", path, err)
		}
	}
	seg.size, seg.records = off, n
	if !startOK {
		s.log.Error("spool: cursor is not at a record boundary; the segment is read again from its start",
			"path", path, "cursor", start, "size", off)
		seg.skipped = 0
		start = 0
	}
	seg.start = start
	return nil
}

func (s *Spool) lastSeq() uint64 { return s.segs[len(s.segs)-1].seq }

func (s *Spool) openWriter(seq uint64) error {
	path := s.segPath(seq)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|openFlags, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if fi, err := f.Stat(); err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	} else if err := trustdir.OwnedRegular(path, fi); err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	s.w = f
	if len(s.segs) == 0 || s.lastSeq() != seq {
		s.segs = append(s.segs, &segment{seq: seq})
	}
	return nil
}

// Append adds records at the tail and returns how many of them it took:
// written, or dropped and counted because a record can never fit in a
// segment. When the spool is full it first makes room by dropping the
// oldest segments, counting their records. On a write error (a full disk)
// the partial write is cut off again and recs[n:] were not taken; the next
// Append tries again. Written records reach the operating system before
// Append returns, so they survive the daemon being killed.
func (s *Spool) Append(recs ...[]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errors.New("spool: closed")
	}
	s.buf = s.buf[:0]
	taken, inBuf := 0, 0 // records taken so far; of them, in s.buf
	for _, rec := range recs {
		need := int64(headerSize + len(rec))
		if need > s.opts.SegmentBytes {
			s.dropped++
			s.log.Error("spool: record larger than a segment dropped", "bytes", len(rec), "segment_size", s.opts.SegmentBytes)
			taken++
			continue
		}
		tail := s.segs[len(s.segs)-1]
		if tail.size+int64(len(s.buf))+need > s.opts.SegmentBytes && tail.size+int64(len(s.buf)) > 0 {
			if err := s.flush(inBuf); err != nil {
				return taken - inBuf, err
			}
			inBuf = 0
			if err := s.rotate(); err != nil {
				return taken, err
			}
		}
		for s.total+int64(len(s.buf))+need > s.opts.MaxBytes && len(s.segs) > 1 {
			if err := s.dropHead(); err != nil {
				return taken - inBuf, err
			}
		}
		s.buf = appendRecord(s.buf, rec)
		inBuf++
		taken++
	}
	if err := s.flush(inBuf); err != nil {
		return taken - inBuf, err
	}
	return taken, nil
}

func appendRecord(b, rec []byte) []byte {
	var hdr [headerSize]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(rec)))
	binary.BigEndian.PutUint32(hdr[4:], crc32.Checksum(rec, castagnoli))
	return append(append(b, hdr[:]...), rec...)
}

// flush writes s.buf (n records) to the tail segment and only then counts
// them. A failed write is cut off so that the segment ends on a record.
func (s *Spool) flush(n int) error {
	if len(s.buf) == 0 {
		return nil
	}
	tail := s.segs[len(s.segs)-1]
	s.crash("append.write")
	_, err := s.w.Write(s.buf)
	if err != nil {
		if terr := s.w.Truncate(tail.size); terr != nil {
			// The segment may now end in a partial record; recovery cuts it
			// off, and no later record goes after it.
			s.w.Close()
			if oerr := s.openWriter(tail.seq + 1); oerr != nil {
				return fmt.Errorf("spool: write: %w (and cannot cut it off: %v; nor start a segment: %v)", err, terr, oerr)
			}
		}
		s.buf = s.buf[:0]
		return fmt.Errorf("spool: write: %w", err)
	}
	s.crash("append.written")
	tail.size += int64(len(s.buf))
	tail.records += n
	s.total += int64(len(s.buf))
	s.pending += n
	s.buf = s.buf[:0]
	return nil
}

func (s *Spool) rotate() error {
	if err := s.w.Sync(); err != nil {
		return fmt.Errorf("spool: sync: %w", err)
	}
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.crash("rotate.closed")
	return s.openWriter(s.lastSeq() + 1)
}

// dropHead removes the oldest segment to make room, counting its
// unconsumed records as dropped.
func (s *Spool) dropHead() error {
	head := s.segs[0]
	lost := head.unconsumed()
	s.dropped += uint64(lost)
	s.pending -= lost
	s.log.Warn("spool: full; oldest records dropped", "dropped", lost, "max_size", s.opts.MaxBytes)
	return s.removeHead()
}

// removeHead forgets the oldest segment (never the last one). The file goes
// first, which frees space for the cursor on a full disk; a crash before the
// cursor is written leaves it naming a missing segment, and recovery starts
// at the next one, which is where the head now is.
func (s *Spool) removeHead() error {
	head := s.segs[0]
	s.segs = s.segs[1:]
	s.total -= head.size
	if err := os.Remove(s.segPath(head.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	s.crash("remove.file")
	s.saveCursor()
	return nil
}

// saveCursor writes the cursor. A failure (a full disk) is logged and the
// cursor is written again with the next change: until then a crash would
// deliver some consumed records again, never lose unconsumed ones.
func (s *Spool) saveCursor() {
	err := s.writeCursor()
	switch {
	case err != nil && !s.cursorFailing:
		s.cursorFailing = true
		s.log.Error("spool: cannot write the cursor; consumed records may be delivered again after a restart", "err", err)
	case err == nil && s.cursorFailing:
		s.cursorFailing = false
		s.log.Info("spool: cursor written again")
	}
}

// Peek returns up to max records from the head, oldest first, without
// consuming them, and the position after them for Commit. It returns no
// records when the spool is empty. A damaged record ends its segment: the
// records from there on are counted as dropped and Peek goes on with the
// next segment.
func (s *Spool) Peek(max int) ([][]byte, Pos, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, Pos{}, errors.New("spool: closed")
	}
	for {
		for len(s.segs) > 1 && s.segs[0].unconsumed() == 0 {
			if err := s.removeHead(); err != nil {
				return nil, Pos{}, err
			}
		}
		head := s.segs[0]
		if s.pending == 0 || max <= 0 || head.unconsumed() == 0 {
			return nil, Pos{seq: head.seq, off: head.start}, nil
		}
		recs, off, err := s.read(head, min(max, head.unconsumed()))
		if err == nil {
			return recs, Pos{seq: head.seq, off: off, n: len(recs)}, nil
		}
		// Cut the segment's view at the damage; what follows is lost.
		lost := head.unconsumed() - len(recs)
		s.log.Error("spool: damaged record; the rest of the segment is dropped", "path", s.segPath(head.seq), "offset", off, "dropped", lost, "err", err)
		s.dropped += uint64(lost)
		s.pending -= lost
		s.total -= head.size - off
		head.size, head.records = off, head.skipped+len(recs)
		if head.seq == s.lastSeq() {
			if err := s.w.Truncate(off); err != nil {
				return nil, Pos{}, fmt.Errorf("spool: %w", err)
			}
		}
		if len(recs) > 0 {
			return recs, Pos{seq: head.seq, off: off, n: len(recs)}, nil
		}
	}
}

// read reads n records of seg from its start. On damage it returns the
// good records before it, the offset of the damage and an error.
func (s *Spool) read(seg *segment, n int) ([][]byte, int64, error) {
	off := seg.start
	f, err := os.OpenFile(s.segPath(seg.seq), os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, off, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.NewSectionReader(f, seg.start, seg.size-seg.start), 1<<16)
	recs := make([][]byte, 0, n)
	var hdr [headerSize]byte
	for range n {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return recs, off, fmt.Errorf("read header: %w", err)
		}
		l := int64(binary.BigEndian.Uint32(hdr[:4]))
		if l > seg.size-off-headerSize {
			return recs, off, fmt.Errorf("record length %d runs past the segment", l)
		}
		rec := make([]byte, l)
		if _, err := io.ReadFull(r, rec); err != nil {
			return recs, off, fmt.Errorf("read record: %w", err)
		}
		if crc32.Checksum(rec, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			return recs, off, errors.New("checksum mismatch")
		}
		off += headerSize + l
		recs = append(recs, rec)
	}
	return recs, off, nil
}

// Commit consumes the records returned by the Peek that returned p. If those
// records were dropped meanwhile to make room, Commit does nothing.
func (s *Spool) Commit(p Pos) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool: closed")
	}
	head := s.segs[0]
	if p.n == 0 || p.seq != head.seq || p.off <= head.start {
		return nil
	}
	head.start = p.off
	head.skipped += p.n
	s.pending -= p.n
	if head.unconsumed() == 0 && len(s.segs) > 1 {
		return s.removeHead()
	}
	s.crash("commit.cursor")
	s.saveCursor()
	return nil
}

// Prepend puts records before everything in the spool (a batch that was taken
// from memory but not acknowledged before the connection failed). Either
// all of them are taken or, on error, none.
func (s *Spool) Prepend(recs [][]byte) error {
	if len(recs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool: closed")
	}
	seq := s.segs[0].seq - 1
	var buf []byte
	for _, rec := range recs {
		buf = appendRecord(buf, rec)
	}
	tmp := s.segPath(seq) + tmpSuffix
	if err := writeSynced(tmp, buf); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("spool: prepend: %w", err)
	}
	s.crash("prepend.written")
	seg := &segment{seq: seq, size: int64(len(buf)), records: len(recs)}
	s.segs = slices.Insert(s.segs, 0, seg)
	if err := s.writeCursor(); err != nil {
		s.segs = s.segs[1:]
		os.Remove(tmp)
		return fmt.Errorf("spool: prepend: %w", err)
	}
	s.crash("prepend.cursor")
	if err := os.Rename(tmp, s.segPath(seq)); err != nil {
		// The cursor already names the segment; recovery would finish
		// the rename, but this process reads it under its final name.
		return fmt.Errorf("spool: prepend: %w", err)
	}
	s.crash("prepend.renamed")
	s.total += seg.size
	s.pending += len(recs)
	for s.total > s.opts.MaxBytes && len(s.segs) > 1 {
		// Over the limit: the oldest records go, which are the ones just
		// prepended, counted like any other drop.
		if err := s.dropHead(); err != nil {
			return err
		}
	}
	return nil
}

// writeCursor replaces the cursor: the head's position, then that of every
// other partly consumed segment.
func (s *Spool) writeCursor() error {
	var b []byte
	for i, g := range s.segs {
		if i == 0 || g.start > 0 {
			b = fmt.Appendf(b, "%d %d\n", g.seq, g.start)
		}
	}
	p := filepath.Join(s.dir, cursorName)
	tmp := p + tmpSuffix
	if err := writeFile(tmp, b); err != nil {
		os.Remove(tmp)
		// On a full disk a new file cannot get a block, but the cursor has
		// one: overwrite it in place. One small write is not torn by a
		// crash of the process.
		if ierr := overwrite(p, b); ierr != nil {
			return fmt.Errorf("spool: cursor: %w", err)
		}
		return nil
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	return nil
}

func writeFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|openFlags, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if e := f.Close(); err == nil {
		err = e
	}
	return err
}

func overwrite(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|openFlags, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Truncate(int64(len(b)))
	}
	if e := f.Close(); err == nil {
		err = e
	}
	return err
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|openFlags, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if e := f.Sync(); err == nil {
		err = e
	}
	if e := f.Close(); err == nil {
		err = e
	}
	return err
}

func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(io.LimitReader(f, 1<<20))
	return b.Bytes(), err
}

// Len returns the number of unconsumed records.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Size returns the bytes of all segment files.
func (s *Spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Dropped returns how many records were dropped since Open, to make room or
// because a record could never fit.
func (s *Spool) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Close syncs the spool and closes its files.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.w.Sync()
	if e := s.w.Close(); err == nil {
		err = e
	}
	s.lock.Close()
	if err != nil {
		return fmt.Errorf("spool: close: %w", err)
	}
	return nil
}
