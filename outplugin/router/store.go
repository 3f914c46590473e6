package router

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// store keeps the delivery state of partly delivered chunks in a directory,
// one file per chunk, so that a chunk Fluent Bit sends again after a
// restart reaches no destination twice. A file is written to a temporary
// name, synced and renamed into place, so a reader sees either the whole
// previous state or the whole new one; a checksum rejects anything else.
// Settled records are kept per destination ID, not index, so that a
// changed routes.hcl cannot credit one destination with another's records.
type store struct {
	dir  string
	lock *os.File
	ids  []string // destination IDs by index
}

const (
	stateMagic   = "NJDS"
	stateVersion = 1
	stateSuffix  = ".state"
	tempPrefix   = ".tmp-"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// openStore creates dir if needed and takes its lock: two outputs sharing
// a state directory would take each other's chunks for their own.
func openStore(dir string, ids []string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state_dir %s is in use by another nightjar output; give each output its own state_dir", dir)
		}
		return nil, fmt.Errorf("state_dir %s: lock: %w", dir, err)
	}
	return &store{dir: dir, lock: lock, ids: ids}, nil
}

func (s *store) close() error { return s.lock.Close() }

func (s *store) path(key uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x%s", key, stateSuffix))
}

// loaded is one chunk's state read back from disk.
type loaded struct {
	key uint64
	d   *delivery
}

// load reads every state file. Leftover temporary files (a write cut
// short) and files that fail their checks are removed and counted in bad.
func (s *store) load() (out []loaded, bad int, err error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, 0, fmt.Errorf("state_dir: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tempPrefix):
			os.Remove(filepath.Join(s.dir, name))
		case strings.HasSuffix(name, stateSuffix) && e.Type().IsRegular():
			key, perr := strconv.ParseUint(strings.TrimSuffix(name, stateSuffix), 16, 64)
			data, rerr := os.ReadFile(filepath.Join(s.dir, name))
			var d *delivery
			if perr == nil && rerr == nil {
				d, perr = s.decode(key, data)
			}
			if perr != nil || rerr != nil {
				bad++
				os.Remove(filepath.Join(s.dir, name))
				continue
			}
			out = append(out, loaded{key, d})
		}
	}
	return out, bad, nil
}

// save writes the state of one chunk durably.
func (s *store) save(key uint64, d *delivery) error {
	data := s.encode(key, d)
	f, err := os.CreateTemp(s.dir, tempPrefix)
	if err != nil {
		return fmt.Errorf("save delivery state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path(key))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save delivery state: %w", err)
	}
	// The rename itself must survive a crash.
	if dir, err := os.Open(s.dir); err == nil {
		err = dir.Sync()
		dir.Close()
		if err != nil {
			return fmt.Errorf("save delivery state: sync %s: %w", s.dir, err)
		}
	}
	return nil
}

// remove forgets a chunk. A removal lost in a crash leaves a state that
// is still true (those records were settled) and expires with the TTL.
func (s *store) remove(key uint64) { os.Remove(s.path(key)) }

func (s *store) encode(key uint64, d *delivery) []byte {
	b := append([]byte(stateMagic), stateVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(d.created.UnixNano()))
	b = binary.LittleEndian.AppendUint64(b, key)
	b = binary.LittleEndian.AppendUint64(b, uint64(d.size))
	n := 0
	for _, w := range d.bits {
		if len(w) > 0 {
			n++
		}
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	for i, words := range d.bits {
		if len(words) == 0 {
			continue
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(s.ids[i])))
		b = append(b, s.ids[i]...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(words)))
		for _, w := range words {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errCorrupt = errors.New("corrupt delivery state")

func (s *store) decode(key uint64, data []byte) (*delivery, error) {
	if len(data) < len(stateMagic)+1+8+8+8+2+4 {
		return nil, errCorrupt
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum || string(body[:4]) != stateMagic || body[4] != stateVersion {
		return nil, errCorrupt
	}
	b := body[5:]
	created := time.Unix(0, int64(binary.LittleEndian.Uint64(b)))
	if binary.LittleEndian.Uint64(b[8:]) != key {
		return nil, errCorrupt
	}
	d := &delivery{created: created, size: int(binary.LittleEndian.Uint64(b[16:])), bits: make([][]uint64, len(s.ids))}
	n := int(binary.LittleEndian.Uint16(b[24:]))
	b = b[26:]
	for range n {
		if len(b) < 2 {
			return nil, errCorrupt
		}
		l := int(binary.LittleEndian.Uint16(b))
		if len(b) < 2+l+4 {
			return nil, errCorrupt
		}
		id := string(b[2 : 2+l])
		b = b[2+l:]
		nw := int(binary.LittleEndian.Uint32(b))
		b = b[4:]
		if len(b) < 8*nw {
			return nil, errCorrupt
		}
		words := make([]uint64, nw)
		for i := range words {
			words[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
		b = b[8*nw:]
		// A destination no longer configured keeps nothing.
		for i, have := range s.ids {
			if have == id {
				d.bits[i] = words
			}
		}
	}
	if len(b) != 0 {
		return nil, errCorrupt
	}
	return d, nil
}
