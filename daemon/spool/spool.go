// Package spool owns the forward output's bounded on-disk queue: records
// that could not be handed to the log router are appended to segment files
// and read back, oldest first, once the router is reachable again. The spool
// survives a restart of the daemon. When it is full the oldest segment is
// dropped and every record lost that way is counted.
//
// Layout: a directory of segment files named by a 20-digit sequence number
// (NNNN.seg), each a series of records framed as a 4-byte big-endian length,
// a 4-byte CRC-32C of the payload and the payload; and a file "cursor" that
// holds the sequence number and offset of the first unconsumed record.
package spool

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

const (
	headerSize = 8
	segSuffix  = ".seg"
	cursorName = "cursor"
	// firstSeq leaves room below it for Prepend, which writes segments
	// numbered before the current head.
	firstSeq = uint64(1) << 40
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
}

// Pos is a position in the spool returned by Peek and passed to Commit.
type Pos struct {
	seq uint64
	off int64
	n   int
}

type segment struct {
	seq     uint64
	size    int64 // bytes in the file
	records int   // records in the file
}

// Spool is a bounded FIFO of byte records on disk. It is safe for concurrent use.
type Spool struct {
	dir  string
	opts Options

	mu       sync.Mutex
	segs     []*segment // ascending seq; the last one is being written
	w        *os.File
	bw       *bufio.Writer
	curSeq   uint64 // head: first unconsumed record is in segment curSeq at curOff
	curOff   int64
	consumed int // records of the head segment before curOff
	total    int64
	dropped  uint64
	pending  int // unconsumed records
	closed   bool
}

// Open opens (creating if needed) the spool in dir and recovers its contents:
// a record torn by a crash at the end of the last segment is cut off.
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
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, opts: opts}
	if err := s.recover(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Spool) segPath(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, segSuffix))
}

func (s *Spool) recover() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			continue
		}
		s.segs = append(s.segs, &segment{seq: seq})
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return cmp.Compare(a.seq, b.seq) })

	curSeq, curOff := uint64(0), int64(0)
	if b, err := os.ReadFile(filepath.Join(s.dir, cursorName)); err == nil {
		if _, err := fmt.Sscanf(string(b), "%d %d", &curSeq, &curOff); err != nil {
			return fmt.Errorf("spool: %s: malformed cursor %q", filepath.Join(s.dir, cursorName), b)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}

	for i, seg := range s.segs {
		last := i == len(s.segs)-1
		size, records, err := scanSegment(s.segPath(seg.seq), last)
		if err != nil {
			return err
		}
		seg.size, seg.records = size, records
		s.total += size
	}
	// Segments wholly before the cursor were consumed before a restart.
	for len(s.segs) > 0 && s.segs[0].seq < curSeq {
		if err := s.removeHead(); err != nil {
			return err
		}
	}
	if len(s.segs) == 0 {
		s.curSeq = firstSeq
		return s.openWriter(firstSeq)
	}
	s.curSeq = s.segs[0].seq
	if curSeq == s.curSeq && curOff > 0 && curOff <= s.segs[0].size {
		n, err := countRecords(s.segPath(s.curSeq), curOff)
		if err != nil {
			return err
		}
		s.curOff, s.consumed = curOff, n
	}
	for _, seg := range s.segs {
		s.pending += seg.records
	}
	s.pending -= s.consumed
	return s.openWriter(s.segs[len(s.segs)-1].seq)
}

// scanSegment validates a segment and returns its size and record count. In
// the last segment a torn or corrupt tail is truncated; elsewhere it is an error.
func scanSegment(path string, truncateTail bool) (int64, int, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var off int64
	n := 0
	var hdr [headerSize]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return off, n, nil
			}
			break
		}
		l := binary.BigEndian.Uint32(hdr[:4])
		if cap(buf) < int(l) {
			buf = make([]byte, l)
		}
		buf = buf[:l]
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			break
		}
		off += headerSize + int64(l)
		n++
	}
	if !truncateTail {
		return 0, 0, fmt.Errorf("spool: %s: corrupt record at offset %d", path, off)
	}
	if err := f.Truncate(off); err != nil {
		return 0, 0, fmt.Errorf("spool: truncate torn tail: %w", err)
	}
	return off, n, nil
}

// countRecords counts the records in the first off bytes of a segment.
func countRecords(path string, off int64) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var pos int64
	n := 0
	var hdr [headerSize]byte
	for pos < off {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, fmt.Errorf("spool: %s: cursor beyond data: %w", path, err)
		}
		l := int64(binary.BigEndian.Uint32(hdr[:4]))
		if _, err := r.Discard(int(l)); err != nil {
			return 0, fmt.Errorf("spool: %s: %w", path, err)
		}
		pos += headerSize + l
		n++
	}
	return n, nil
}

func (s *Spool) openWriter(seq uint64) error {
	f, err := os.OpenFile(s.segPath(seq), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.w = f
	if s.bw == nil {
		s.bw = bufio.NewWriterSize(f, 1<<16)
	} else {
		s.bw.Reset(f)
	}
	if len(s.segs) == 0 || s.segs[len(s.segs)-1].seq != seq {
		s.segs = append(s.segs, &segment{seq: seq})
	}
	return nil
}

// Append adds records at the tail. It makes room by dropping the oldest
// segments when the spool is full. The records reach the operating system
// before Append returns, so they survive the daemon being killed.
func (s *Spool) Append(recs ...[]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool: closed")
	}
	for _, rec := range recs {
		need := int64(headerSize + len(rec))
		if need > s.opts.SegmentBytes {
			s.dropped++
			return fmt.Errorf("spool: record of %d bytes exceeds the segment size %d (dropped)", len(rec), s.opts.SegmentBytes)
		}
		tail := s.segs[len(s.segs)-1]
		if tail.size+need > s.opts.SegmentBytes {
			if err := s.rotate(); err != nil {
				return err
			}
			tail = s.segs[len(s.segs)-1]
		}
		for s.total+need > s.opts.MaxBytes && len(s.segs) > 1 {
			if err := s.dropHead(); err != nil {
				return err
			}
		}
		var hdr [headerSize]byte
		binary.BigEndian.PutUint32(hdr[:4], uint32(len(rec)))
		binary.BigEndian.PutUint32(hdr[4:], crc32.Checksum(rec, castagnoli))
		s.bw.Write(hdr[:])
		s.bw.Write(rec)
		tail.size += need
		tail.records++
		s.total += need
		s.pending++
	}
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("spool: write: %w", err)
	}
	return nil
}

func (s *Spool) rotate() error {
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("spool: write: %w", err)
	}
	if err := s.w.Sync(); err != nil {
		return fmt.Errorf("spool: sync: %w", err)
	}
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return s.openWriter(s.segs[len(s.segs)-1].seq + 1)
}

// dropHead removes the oldest segment to make room, counting its
// unconsumed records as dropped.
func (s *Spool) dropHead() error {
	head := s.segs[0]
	lost := head.records - s.consumed
	s.dropped += uint64(lost)
	s.pending -= lost
	return s.removeHead()
}

// removeHead deletes the oldest segment and moves the cursor to the next.
func (s *Spool) removeHead() error {
	head := s.segs[0]
	if err := os.Remove(s.segPath(head.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	s.total -= head.size
	s.segs = s.segs[1:]
	s.curOff, s.consumed = 0, 0
	if len(s.segs) > 0 {
		s.curSeq = s.segs[0].seq
	}
	return nil
}

// Peek returns up to max records from the head, oldest first, without
// consuming them, and the position after them for Commit. It returns no
// records when the spool is empty.
func (s *Spool) Peek(max int) ([][]byte, Pos, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, Pos{}, errors.New("spool: closed")
	}
	for s.pending > 0 && len(s.segs) > 1 && s.consumed >= s.segs[0].records {
		if err := s.removeHead(); err != nil {
			return nil, Pos{}, err
		}
	}
	if s.pending == 0 || max <= 0 {
		return nil, Pos{seq: s.curSeq, off: s.curOff}, nil
	}
	head := s.segs[0]
	if head == s.segs[len(s.segs)-1] {
		if err := s.bw.Flush(); err != nil {
			return nil, Pos{}, fmt.Errorf("spool: write: %w", err)
		}
	}
	f, err := os.Open(s.segPath(head.seq))
	if err != nil {
		return nil, Pos{}, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.NewSectionReader(f, s.curOff, head.size-s.curOff), 1<<16)
	n := min(max, head.records-s.consumed)
	recs := make([][]byte, 0, n)
	off := s.curOff
	var hdr [headerSize]byte
	for range n {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, Pos{}, fmt.Errorf("spool: read %s at %d: %w", s.segPath(head.seq), off, err)
		}
		rec := make([]byte, binary.BigEndian.Uint32(hdr[:4]))
		if _, err := io.ReadFull(r, rec); err != nil {
			return nil, Pos{}, fmt.Errorf("spool: read %s at %d: %w", s.segPath(head.seq), off, err)
		}
		if crc32.Checksum(rec, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			return nil, Pos{}, fmt.Errorf("spool: %s: checksum mismatch at offset %d", s.segPath(head.seq), off)
		}
		off += headerSize + int64(len(rec))
		recs = append(recs, rec)
	}
	return recs, Pos{seq: head.seq, off: off, n: n}, nil
}

// Commit consumes the records returned by the Peek that returned p. If those
// records were dropped meanwhile to make room, Commit does nothing.
func (s *Spool) Commit(p Pos) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool: closed")
	}
	if p.n == 0 || len(s.segs) == 0 || p.seq != s.curSeq || p.off <= s.curOff {
		return nil
	}
	s.curOff = p.off
	s.consumed += p.n
	s.pending -= p.n
	head := s.segs[0]
	if s.consumed >= head.records && len(s.segs) > 1 {
		if err := s.removeHead(); err != nil {
			return err
		}
	}
	return s.writeCursor()
}

// Prepend puts records before everything in the spool (a batch that was taken
// from memory but not acknowledged before the connection failed).
func (s *Spool) Prepend(recs [][]byte) error {
	if len(recs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool: closed")
	}
	// A partly consumed head segment is compacted first so that the
	// cursor can point at the start of the new segment.
	seq := s.segs[0].seq - 1
	var buf []byte
	var size int64
	for _, rec := range recs {
		var hdr [headerSize]byte
		binary.BigEndian.PutUint32(hdr[:4], uint32(len(rec)))
		binary.BigEndian.PutUint32(hdr[4:], crc32.Checksum(rec, castagnoli))
		buf = append(buf, hdr[:]...)
		buf = append(buf, rec...)
		size += headerSize + int64(len(rec))
	}
	if s.consumed > 0 {
		if err := s.compactHead(); err != nil {
			return err
		}
	}
	tmp := s.segPath(seq) + ".tmp"
	if err := os.WriteFile(tmp, buf, 0o600); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp, s.segPath(seq)); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.segs = slices.Insert(s.segs, 0, &segment{seq: seq, size: size, records: len(recs)})
	s.total += size
	s.pending += len(recs)
	s.curSeq, s.curOff, s.consumed = seq, 0, 0
	for s.total > s.opts.MaxBytes && len(s.segs) > 1 {
		// Over the limit: the oldest records go, which are the ones just
		// prepended, counted like any other drop.
		if err := s.dropHead(); err != nil {
			return err
		}
	}
	return s.writeCursor()
}

// compactHead rewrites the head segment without its consumed records.
func (s *Spool) compactHead() error {
	head := s.segs[0]
	if head == s.segs[len(s.segs)-1] {
		if err := s.bw.Flush(); err != nil {
			return fmt.Errorf("spool: write: %w", err)
		}
	}
	b, err := os.ReadFile(s.segPath(head.seq))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	rest := b[s.curOff:head.size]
	tmp := s.segPath(head.seq) + ".tmp"
	if err := os.WriteFile(tmp, rest, 0o600); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp, s.segPath(head.seq)); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if head == s.segs[len(s.segs)-1] {
		// The writer still points at the replaced file: reopen it.
		s.w.Close()
		if err := s.openWriter(head.seq); err != nil {
			return err
		}
	}
	s.total -= s.curOff
	head.size -= s.curOff
	head.records -= s.consumed
	s.curOff, s.consumed = 0, 0
	return nil
}

func (s *Spool) writeCursor() error {
	p := filepath.Join(s.dir, cursorName)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", s.curSeq, s.curOff), 0o600); err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	return nil
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

// Close flushes and syncs the spool and closes its files.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.bw.Flush()
	if e := s.w.Sync(); err == nil {
		err = e
	}
	if e := s.w.Close(); err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("spool: close: %w", err)
	}
	return nil
}
