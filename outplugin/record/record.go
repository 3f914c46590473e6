// Package record decodes Fluent Bit's chunk format (a sequence of msgpack
// [timestamp, map] or [[timestamp, metadata], map] arrays) without building
// Go maps, and converts record bodies straight from msgpack to JSON.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Record is one log record. Body refers into the chunk it came from and is
// valid only as long as that chunk is.
type Record struct {
	Index int       // position of the record in its chunk, counting skipped ones
	Time  time.Time // the record's timestamp
	Body  Value     // the record's map
}

// Decoder iterates over the records of one chunk.
type Decoder struct {
	rest    []byte
	index   int
	skipped int
	err     error
}

// NewDecoder returns a decoder reading chunk.
func NewDecoder(chunk []byte) *Decoder { return &Decoder{rest: chunk} }

// Next decodes the next well-formed record into r. It returns false at the
// end of the chunk. Records that are not [time, map] arrays or are malformed
// are counted (see Skipped) and passed over.
func (d *Decoder) Next(r *Record) bool {
	for len(d.rest) > 0 {
		idx := d.index
		d.index++
		end, err := decodeEntry(d.rest, r)
		if err == nil {
			d.rest = end
			r.Index = idx
			return true
		}
		d.skipped++
		if d.err == nil {
			d.err = fmt.Errorf("record %d: %w", idx, err)
		}
		// Pass over the malformed entry; if it cannot be framed, nothing
		// after it can be either.
		if d.rest, err = skip(d.rest, 0); err != nil {
			d.rest = nil
			return false
		}
	}
	return false
}

// Skipped returns how many records were malformed or not maps so far.
func (d *Decoder) Skipped() int { return d.skipped }

// Err returns the first decoding problem met, if any. Problems do not stop
// decoding except when the rest of the chunk cannot be framed.
func (d *Decoder) Err() error { return d.err }

// Count returns the number of records (well-formed or not) decoded so far.
func (d *Decoder) Count() int { return d.index }

var errNotMap = errors.New("record body is not a map")

// decodeEntry decodes the record at the head of b and returns what follows.
func decodeEntry(b []byte, r *Record) ([]byte, error) {
	n, b, err := readArrayHeader(b)
	if err != nil {
		return nil, err
	}
	if n != 2 {
		return nil, fmt.Errorf("record is an array of %d elements, want 2", n)
	}
	if peekKind(b) == kindArray {
		// Fluent Bit 2.1+ form: [[time, metadata], body].
		m, h, err := readArrayHeader(b)
		if err != nil {
			return nil, err
		}
		if m < 1 {
			return nil, errors.New("empty record header")
		}
		if r.Time, err = decodeTime(h); err != nil {
			return nil, err
		}
	} else if r.Time, err = decodeTime(b); err != nil {
		return nil, err
	}
	if b, err = skip(b, 0); err != nil {
		return nil, err
	}
	if peekKind(b) != kindMap {
		return nil, errNotMap
	}
	end, err := skip(b, 0)
	if err != nil {
		return nil, err
	}
	r.Body = Value(b[:len(b)-len(end)])
	return end, nil
}

// decodeTime decodes a Fluent Bit timestamp: the EventTime extension (type 0,
// seconds and nanoseconds as big-endian uint32), an integer or a float of
// seconds since the epoch.
func decodeTime(b []byte) (time.Time, error) {
	switch peekKind(b) {
	case kindExt:
		typ, p, _, err := readExt(b)
		if err != nil {
			return time.Time{}, err
		}
		if typ != 0 || len(p) != 8 {
			return time.Time{}, fmt.Errorf("timestamp extension type %d with %d bytes, want EventTime (type 0, 8 bytes)", typ, len(p))
		}
		return time.Unix(int64(binary.BigEndian.Uint32(p)), int64(binary.BigEndian.Uint32(p[4:]))), nil
	case kindInt, kindUint:
		s, _, err := readInt(b)
		if err != nil {
			return time.Time{}, err
		}
		return time.Unix(s, 0), nil
	case kindFloat:
		f, _, err := readFloat(b)
		if err != nil {
			return time.Time{}, err
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
			return time.Time{}, fmt.Errorf("timestamp %v out of range", f)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	return time.Time{}, errors.New("timestamp is not an EventTime, integer or float")
}

// Lookup resolves a dotted path against the record body. Keys may themselves
// contain dots (Falco's "k8s.ns.name"), so at each level the longest key
// that exists wins: "output_fields.k8s.ns.name" finds
// body["output_fields"]["k8s.ns.name"].
func (r *Record) Lookup(path string) (Value, bool) { return r.Body.Lookup(path) }
