package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 64

var (
	errShort = errors.New("msgpack: unexpected end of data")
	errDepth = errors.New("msgpack: nesting too deep")
)

// kind is the coarse type of the msgpack value at the head of a buffer.
type kind uint8

const (
	kindInvalid kind = iota
	kindNil
	kindBool
	kindInt
	kindUint
	kindFloat
	kindStr
	kindBin
	kindArray
	kindMap
	kindExt
)

func peekKind(b []byte) kind {
	if len(b) == 0 {
		return kindInvalid
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return kindUint
	case c <= 0x8f:
		return kindMap
	case c <= 0x9f:
		return kindArray
	case c <= 0xbf:
		return kindStr
	case c >= 0xe0:
		return kindInt
	}
	switch c {
	case 0xc0:
		return kindNil
	case 0xc2, 0xc3:
		return kindBool
	case 0xc4, 0xc5, 0xc6:
		return kindBin
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return kindExt
	case 0xca, 0xcb:
		return kindFloat
	case 0xcc, 0xcd, 0xce, 0xcf:
		return kindUint
	case 0xd0, 0xd1, 0xd2, 0xd3:
		return kindInt
	case 0xd9, 0xda, 0xdb:
		return kindStr
	case 0xdc, 0xdd:
		return kindArray
	case 0xde, 0xdf:
		return kindMap
	}
	return kindInvalid // 0xc1 is never used
}

// need checks that b holds n bytes after a header of h bytes.
func need(b []byte, h, n int) error {
	if n < 0 || len(b) < h || len(b)-h < n {
		return errShort
	}
	return nil
}

func be16(b []byte) int { return int(binary.BigEndian.Uint16(b)) }
func be32(b []byte) int {
	v := binary.BigEndian.Uint32(b)
	if uint64(v) > math.MaxInt32 {
		return -1
	}
	return int(v)
}

// readArrayHeader returns the element count of the array at the head of b.
func readArrayHeader(b []byte) (int, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errShort
	}
	switch c := b[0]; {
	case c >= 0x90 && c <= 0x9f:
		return int(c & 0x0f), b[1:], nil
	case c == 0xdc:
		if err := need(b, 3, 0); err != nil {
			return 0, nil, err
		}
		return be16(b[1:]), b[3:], nil
	case c == 0xdd:
		if err := need(b, 5, 0); err != nil {
			return 0, nil, err
		}
		n := be32(b[1:])
		if n < 0 {
			return 0, nil, errShort
		}
		return n, b[5:], nil
	}
	return 0, nil, fmt.Errorf("msgpack: want array, got 0x%02x", b[0])
}

// readMapHeader returns the pair count of the map at the head of b.
func readMapHeader(b []byte) (int, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errShort
	}
	switch c := b[0]; {
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f), b[1:], nil
	case c == 0xde:
		if err := need(b, 3, 0); err != nil {
			return 0, nil, err
		}
		return be16(b[1:]), b[3:], nil
	case c == 0xdf:
		if err := need(b, 5, 0); err != nil {
			return 0, nil, err
		}
		n := be32(b[1:])
		if n < 0 {
			return 0, nil, errShort
		}
		return n, b[5:], nil
	}
	return 0, nil, fmt.Errorf("msgpack: want map, got 0x%02x", b[0])
}

// readStrOrBin returns the bytes of the str or bin value at the head of b
// without copying.
func readStrOrBin(b []byte) ([]byte, []byte, error) {
	if len(b) == 0 {
		return nil, nil, errShort
	}
	var h, n int
	switch c := b[0]; {
	case c >= 0xa0 && c <= 0xbf:
		h, n = 1, int(c&0x1f)
	case c == 0xd9 || c == 0xc4:
		if len(b) < 2 {
			return nil, nil, errShort
		}
		h, n = 2, int(b[1])
	case c == 0xda || c == 0xc5:
		if len(b) < 3 {
			return nil, nil, errShort
		}
		h, n = 3, be16(b[1:])
	case c == 0xdb || c == 0xc6:
		if len(b) < 5 {
			return nil, nil, errShort
		}
		h, n = 5, be32(b[1:])
	default:
		return nil, nil, fmt.Errorf("msgpack: want string, got 0x%02x", b[0])
	}
	if err := need(b, h, n); err != nil {
		return nil, nil, err
	}
	return b[h : h+n], b[h+n:], nil
}

// readExt returns the type and payload of the extension value at the head of b.
func readExt(b []byte) (int8, []byte, []byte, error) {
	if len(b) == 0 {
		return 0, nil, nil, errShort
	}
	var h, n int
	switch b[0] {
	case 0xd4:
		h, n = 2, 1
	case 0xd5:
		h, n = 2, 2
	case 0xd6:
		h, n = 2, 4
	case 0xd7:
		h, n = 2, 8
	case 0xd8:
		h, n = 2, 16
	case 0xc7:
		if len(b) < 3 {
			return 0, nil, nil, errShort
		}
		h, n = 3, int(b[1])
	case 0xc8:
		if len(b) < 4 {
			return 0, nil, nil, errShort
		}
		h, n = 4, be16(b[1:])
	case 0xc9:
		if len(b) < 6 {
			return 0, nil, nil, errShort
		}
		h, n = 6, be32(b[1:])
	default:
		return 0, nil, nil, fmt.Errorf("msgpack: want ext, got 0x%02x", b[0])
	}
	if err := need(b, h, n); err != nil {
		return 0, nil, nil, err
	}
	return int8(b[h-1]), b[h : h+n], b[h+n:], nil
}

// readInt reads a signed or unsigned integer that fits in int64.
func readInt(b []byte) (int64, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errShort
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return int64(c), b[1:], nil
	case c >= 0xe0:
		return int64(int8(c)), b[1:], nil
	}
	var size int
	switch c {
	case 0xcc, 0xd0:
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2:
		size = 4
	case 0xcf, 0xd3:
		size = 8
	default:
		return 0, nil, fmt.Errorf("msgpack: want integer, got 0x%02x", c)
	}
	if err := need(b, 1, size); err != nil {
		return 0, nil, err
	}
	p := b[1 : 1+size]
	var v int64
	switch c {
	case 0xcc:
		v = int64(p[0])
	case 0xcd:
		v = int64(binary.BigEndian.Uint16(p))
	case 0xce:
		v = int64(binary.BigEndian.Uint32(p))
	case 0xcf:
		u := binary.BigEndian.Uint64(p)
		if u > math.MaxInt64 {
			return 0, nil, errors.New("msgpack: integer overflows int64")
		}
		v = int64(u)
	case 0xd0:
		v = int64(int8(p[0]))
	case 0xd1:
		v = int64(int16(binary.BigEndian.Uint16(p)))
	case 0xd2:
		v = int64(int32(binary.BigEndian.Uint32(p)))
	case 0xd3:
		v = int64(binary.BigEndian.Uint64(p))
	}
	return v, b[1+size:], nil
}

// readFloat reads a float32 or float64.
func readFloat(b []byte) (float64, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errShort
	}
	switch b[0] {
	case 0xca:
		if err := need(b, 1, 4); err != nil {
			return 0, nil, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:]))), b[5:], nil
	case 0xcb:
		if err := need(b, 1, 8); err != nil {
			return 0, nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b[1:])), b[9:], nil
	}
	return 0, nil, fmt.Errorf("msgpack: want float, got 0x%02x", b[0])
}

// skip returns b after the value at its head.
func skip(b []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, errDepth
	}
	if len(b) == 0 {
		return nil, errShort
	}
	switch peekKind(b) {
	case kindNil, kindBool:
		return b[1:], nil
	case kindInt, kindUint:
		_, r, err := readIntOrUint(b)
		return r, err
	case kindFloat:
		_, r, err := readFloat(b)
		return r, err
	case kindStr, kindBin:
		_, r, err := readStrOrBin(b)
		return r, err
	case kindExt:
		_, _, r, err := readExt(b)
		return r, err
	case kindArray:
		n, r, err := readArrayHeader(b)
		if err != nil {
			return nil, err
		}
		for ; n > 0; n-- {
			if r, err = skip(r, depth+1); err != nil {
				return nil, err
			}
		}
		return r, nil
	case kindMap:
		n, r, err := readMapHeader(b)
		if err != nil {
			return nil, err
		}
		for n *= 2; n > 0; n-- {
			if r, err = skip(r, depth+1); err != nil {
				return nil, err
			}
		}
		return r, nil
	}
	return nil, fmt.Errorf("msgpack: invalid type byte 0x%02x", b[0])
}

// readIntOrUint reads any integer; unsigned values above MaxInt64 are
// returned as their bit pattern with isUint set by the caller's kind check.
func readIntOrUint(b []byte) (uint64, []byte, error) {
	if len(b) > 0 && b[0] == 0xcf {
		if err := need(b, 1, 8); err != nil {
			return 0, nil, err
		}
		return binary.BigEndian.Uint64(b[1:]), b[9:], nil
	}
	v, r, err := readInt(b)
	return uint64(v), r, err
}
