package record

import (
	"bytes"
	"strconv"
)

// Value is one msgpack-encoded value referenced in place.
type Value []byte

// IsMap reports whether v is a map.
func (v Value) IsMap() bool { return peekKind(v) == kindMap }

// IsArray reports whether v is an array.
func (v Value) IsArray() bool { return peekKind(v) == kindArray }

// Get returns the value of key in map v.
func (v Value) Get(key string) (Value, bool) {
	n, b, err := readMapHeader(v)
	if err != nil {
		return nil, false
	}
	for ; n > 0; n-- {
		k, isStr, val, rest, err := nextPair(b)
		if err != nil {
			return nil, false
		}
		if isStr && string(k) == key {
			return val, true
		}
		b = rest
	}
	return nil, false
}

// Each calls fn for every pair of map v whose key is a string, in order,
// until fn returns false.
func (v Value) Each(fn func(key []byte, val Value) bool) {
	n, b, err := readMapHeader(v)
	if err != nil {
		return
	}
	for ; n > 0; n-- {
		k, isStr, val, rest, err := nextPair(b)
		if err != nil || isStr && !fn(k, val) {
			return
		}
		b = rest
	}
}

// nextPair reads the map pair at the head of b: the key's bytes when it is
// a string (isStr), the value, and the bytes after the pair.
func nextPair(b []byte) (key []byte, isStr bool, val Value, rest []byte, err error) {
	if isStr = peekKind(b) == kindStr; isStr {
		key, b, err = readStrOrBin(b)
	} else {
		b, err = skip(b, 0)
	}
	if err != nil {
		return nil, false, nil, nil, err
	}
	if rest, err = skip(b, 0); err != nil {
		return nil, false, nil, nil, err
	}
	return key, isStr, Value(b[:len(b)-len(rest)]), rest, nil
}

// Elems calls fn for every element of array v until fn returns false.
func (v Value) Elems(fn func(Value) bool) {
	n, b, err := readArrayHeader(v)
	if err != nil {
		return
	}
	for ; n > 0; n-- {
		rest, err := skip(b, 0)
		if err != nil {
			return
		}
		if !fn(Value(b[:len(b)-len(rest)])) {
			return
		}
		b = rest
	}
}

// Lookup resolves a dotted path inside map v; see Record.Lookup.
func (v Value) Lookup(path string) (Value, bool) {
	if path == "" {
		return nil, false
	}
	// One pass over the map finds the longest key that is the whole path
	// or a prefix of it ending at a dot. Should that prefix lead nowhere,
	// shorter prefixes are tried in later passes.
	limit := len(path) + 1
	for {
		var best Value
		bestLen := -1
		n, b, err := readMapHeader(v)
		if err != nil {
			return nil, false
		}
		for ; n > 0; n-- {
			k, isStr, val, rest, err := nextPair(b)
			if err != nil {
				return nil, false
			}
			if isStr && len(k) > bestLen && len(k) < limit && len(k) <= len(path) && string(k) == path[:len(k)] &&
				(len(k) == len(path) || path[len(k)] == '.') {
				best, bestLen = val, len(k)
			}
			b = rest
		}
		switch {
		case bestLen < 0:
			return nil, false
		case bestLen == len(path):
			return best, true
		}
		if best.IsMap() {
			if r, ok := best.Lookup(path[bestLen+1:]); ok {
				return r, true
			}
		}
		limit = bestLen
	}
}

// Str returns v's bytes when v is a string.
func (v Value) Str() ([]byte, bool) {
	if peekKind(v) != kindStr {
		return nil, false
	}
	s, _, err := readStrOrBin(v)
	return s, err == nil
}

// Text renders a scalar as text: strings as they are, numbers and booleans
// in their usual form, nil as "". Maps and arrays render as JSON.
func (v Value) Text() string {
	switch peekKind(v) {
	case kindStr, kindBin:
		s, _, _ := readStrOrBin(v)
		return string(s)
	case kindNil:
		return ""
	case kindBool:
		return strconv.FormatBool(v[0] == 0xc3)
	}
	b, err := v.AppendJSON(nil)
	if err != nil {
		return ""
	}
	return string(b)
}

// Contains reports whether v, an array, has an element whose text is s, or
// whether v, a string, contains s.
func (v Value) Contains(s string) bool {
	switch peekKind(v) {
	case kindArray:
		found := false
		v.Elems(func(e Value) bool {
			if b, ok := e.Str(); ok && string(b) == s {
				found = true
				return false
			}
			return true
		})
		return found
	case kindStr:
		b, _ := v.Str()
		return bytes.Contains(b, []byte(s))
	}
	return false
}
