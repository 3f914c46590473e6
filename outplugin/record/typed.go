package record

import (
	"encoding/binary"
	"time"
)

// Kind is the type of a Value.
type Kind uint8

// Value kinds. Int covers signed and unsigned integers.
const (
	Invalid Kind = iota
	Nil
	Bool
	Int
	Float
	String
	Binary
	Array
	Map
	Ext
)

// Kind returns the type of v.
func (v Value) Kind() Kind {
	switch peekKind(v) {
	case kindNil:
		return Nil
	case kindBool:
		return Bool
	case kindInt, kindUint:
		return Int
	case kindFloat:
		return Float
	case kindStr:
		return String
	case kindBin:
		return Binary
	case kindArray:
		return Array
	case kindMap:
		return Map
	case kindExt:
		return Ext
	}
	return Invalid
}

// Bool returns v's value when v is a boolean.
func (v Value) Bool() (bool, bool) {
	if peekKind(v) != kindBool {
		return false, false
	}
	return v[0] == 0xc3, true
}

// Float returns v as a float64 when v is a number.
func (v Value) Float() (float64, bool) {
	switch peekKind(v) {
	case kindFloat:
		f, _, err := readFloat(v)
		return f, err == nil
	case kindUint:
		u, _, err := readIntOrUint(v)
		return float64(u), err == nil
	case kindInt:
		i, _, err := readInt(v)
		return float64(i), err == nil
	}
	return 0, false
}

// Time returns v's time when v is Fluent Bit's EventTime extension.
func (v Value) Time() (time.Time, bool) {
	if peekKind(v) != kindExt {
		return time.Time{}, false
	}
	typ, p, _, err := readExt(v)
	if err != nil || typ != 0 || len(p) != 8 {
		return time.Time{}, false
	}
	return time.Unix(int64(binary.BigEndian.Uint32(p)), int64(binary.BigEndian.Uint32(p[4:]))), true
}

// Pairs calls fn for every pair of map v, whatever the key's type, in
// order, until fn returns false.
func (v Value) Pairs(fn func(key, val Value) bool) {
	n, b, err := readMapHeader(v)
	if err != nil {
		return
	}
	for ; n > 0; n-- {
		kend, err := skip(b, 0)
		if err != nil {
			return
		}
		key := Value(b[:len(b)-len(kend)])
		vend, err := skip(kend, 0)
		if err != nil {
			return
		}
		if !fn(key, Value(kend[:len(kend)-len(vend)])) {
			return
		}
		b = vend
	}
}

// Len returns the number of elements of an array or pairs of a map.
func (v Value) Len() int {
	switch peekKind(v) {
	case kindArray:
		n, _, _ := readArrayHeader(v)
		return n
	case kindMap:
		n, _, _ := readMapHeader(v)
		return n
	}
	return 0
}
