package record

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"time"

	"github.com/nightjar-sec/nightjar/internal/jsontext"
)

// AppendJSON appends the JSON form of v to dst. Binary values become base64
// strings, EventTime extensions RFC 3339 strings, other extensions null,
// non-finite floats null, and non-string map keys their JSON text.
func (v Value) AppendJSON(dst []byte) ([]byte, error) {
	dst, _, err := appendJSON(dst, v, 0)
	return dst, err
}

func appendJSON(dst, b []byte, depth int) ([]byte, []byte, error) {
	if depth > maxDepth {
		return dst, nil, errDepth
	}
	switch peekKind(b) {
	case kindNil:
		return append(dst, "null"...), b[1:], nil
	case kindBool:
		if b[0] == 0xc3 {
			return append(dst, "true"...), b[1:], nil
		}
		return append(dst, "false"...), b[1:], nil
	case kindUint:
		u, r, err := readIntOrUint(b)
		return strconv.AppendUint(dst, u, 10), r, err
	case kindInt:
		i, r, err := readInt(b)
		return strconv.AppendInt(dst, i, 10), r, err
	case kindFloat:
		f, r, err := readFloat(b)
		if err != nil {
			return dst, nil, err
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(dst, "null"...), r, nil
		}
		bits := 64
		if b[0] == 0xca {
			bits = 32
		}
		return strconv.AppendFloat(dst, f, 'g', -1, bits), r, nil
	case kindStr:
		s, r, err := readStrOrBin(b)
		if err != nil {
			return dst, nil, err
		}
		return jsontext.AppendString(dst, s), r, nil
	case kindBin:
		s, r, err := readStrOrBin(b)
		if err != nil {
			return dst, nil, err
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, s)
		return append(dst, '"'), r, nil
	case kindExt:
		typ, p, r, err := readExt(b)
		if err != nil {
			return dst, nil, err
		}
		if typ == 0 && len(p) == 8 {
			t := time.Unix(int64(binary.BigEndian.Uint32(p)), int64(binary.BigEndian.Uint32(p[4:]))).UTC()
			dst = append(dst, '"')
			dst = t.AppendFormat(dst, time.RFC3339Nano)
			return append(dst, '"'), r, nil
		}
		return append(dst, "null"...), r, nil
	case kindArray:
		n, r, err := readArrayHeader(b)
		if err != nil {
			return dst, nil, err
		}
		dst = append(dst, '[')
		for i := 0; i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, r, err = appendJSON(dst, r, depth+1); err != nil {
				return dst, nil, err
			}
		}
		return append(dst, ']'), r, nil
	case kindMap:
		n, r, err := readMapHeader(b)
		if err != nil {
			return dst, nil, err
		}
		dst = append(dst, '{')
		for i := 0; i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			if peekKind(r) == kindStr {
				var k []byte
				if k, r, err = readStrOrBin(r); err != nil {
					return dst, nil, err
				}
				dst = jsontext.AppendString(dst, k)
			} else {
				// JSON keys are strings: quote the key's JSON text.
				start := len(dst)
				if dst, r, err = appendJSON(dst, r, depth+1); err != nil {
					return dst, nil, err
				}
				dst = jsontext.AppendString(dst[:start], string(dst[start:]))
			}
			dst = append(dst, ':')
			if dst, r, err = appendJSON(dst, r, depth+1); err != nil {
				return dst, nil, err
			}
		}
		return append(dst, '}'), r, nil
	}
	if len(b) == 0 {
		return dst, nil, errShort
	}
	return dst, nil, errInvalid(b[0])
}

type errInvalid byte

func (e errInvalid) Error() string {
	return "msgpack: invalid type byte 0x" + strconv.FormatUint(uint64(e), 16)
}
