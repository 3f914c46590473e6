package forward

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/nightjar-sec/nightjar/internal/alert"
)

// The record is encoded by hand: it has a fixed shape, every alert goes
// through here, and reflection would dominate the cost.

func appendStr(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(b, s...)
}

func appendBinHeader(b []byte, n int) []byte {
	switch {
	case n < 1<<8:
		return append(b, 0xc4, byte(n))
	case n < 1<<16:
		return append(b, 0xc5, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
}

func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n < 1<<16:
		return append(b, 0xdc, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
	}
}

func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n < 1<<16:
		return append(b, 0xde, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
	}
}

func appendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return appendUint(b, uint64(v))
	}
	switch {
	case v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(b, byte(v))
	case v < 1<<8:
		return append(b, 0xcc, byte(v))
	case v < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v < 1<<32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

// appendEventTime appends the forward protocol's EventTime: msgpack ext type
// 0 with 8 bytes, seconds then nanoseconds, both big-endian uint32.
func appendEventTime(b []byte, t time.Time) []byte {
	b = append(b, 0xd7, 0x00)
	b = binary.BigEndian.AppendUint32(b, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, 0xc0), nil
	case string:
		return appendStr(b, v), nil
	case bool:
		if v {
			return append(b, 0xc3), nil
		}
		return append(b, 0xc2), nil
	case int:
		return appendInt(b, int64(v)), nil
	case int32:
		return appendInt(b, int64(v)), nil
	case int64:
		return appendInt(b, v), nil
	case uint32:
		return appendUint(b, uint64(v)), nil
	case uint64:
		return appendUint(b, v), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(v)), nil
	case []string:
		b = appendArrayHeader(b, len(v))
		for _, s := range v {
			b = appendStr(b, s)
		}
		return b, nil
	}
	enc, err := msgpack.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, enc...), nil
}

// AppendEntry appends one forward-protocol entry, [EventTime, record], for a
// to b. The record is a map with the keys of the alert's JSON form.
func AppendEntry(b []byte, a *alert.Alert) ([]byte, error) {
	b = append(b, 0x92)
	b = appendEventTime(b, a.Time)
	b = appendMapHeader(b, 9)
	b = appendStr(b, "time")
	b = appendStr(b, a.Time.UTC().Format(time.RFC3339Nano))
	b = appendStr(b, "rule")
	b = appendStr(b, a.Rule)
	b = appendStr(b, "priority")
	b = appendStr(b, a.Priority.String())
	b = appendStr(b, "source")
	b = appendStr(b, a.Source)
	b = appendStr(b, "hostname")
	b = appendStr(b, a.Hostname)
	b = appendStr(b, "tags")
	b = appendArrayHeader(b, len(a.Tags))
	for _, t := range a.Tags {
		b = appendStr(b, t)
	}
	b = appendStr(b, "output")
	b = appendStr(b, a.Output)
	b = appendStr(b, "output_fields")
	b = appendMapHeader(b, len(a.OutputFields))
	keys := make([]string, 0, len(a.OutputFields))
	for k := range a.OutputFields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendStr(b, k)
		var err error
		if b, err = appendValue(b, a.OutputFields[k]); err != nil {
			return b, fmt.Errorf("output field %q: %w", k, err)
		}
	}
	b = appendStr(b, "uuid")
	return appendStr(b, a.UUID), nil
}
