// Package jsontext owns nightjar's encoding of text as JSON strings: alerts,
// trace lines and re-encoded Fluent Bit records all quote text through it, so
// that they agree byte for byte.
//
// The bytes are those encoding/json writes with SetEscapeHTML(false): '"' and
// '\\' are escaped, control characters become \b, \f, \n, \r, \t or \u00XX,
// U+2028 and U+2029 become \u2028 and \u2029, and each byte that is not part
// of valid UTF-8 becomes \ufffd, so the result is always valid JSON. '<', '>'
// and '&' are left alone: alerts are read in logs and consoles rather than
// embedded in HTML, and Falco prints "<NA>" as it is.
package jsontext

import "unicode/utf8"

// AppendString appends s to dst as a quoted JSON string.
func AppendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	dst = AppendEscaped(dst, s)
	return append(dst, '"')
}

// AppendEscaped appends s to dst escaped as the inside of a JSON string,
// without the quotes; callers use it to build one string from several parts.
func AppendEscaped[S ~string | ~[]byte](dst []byte, s S) []byte {
	start := 0 // s[start:i] is pending, copied in one append
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		// At most UTFMax bytes, so that the conversion of a []byte needs
		// no allocation.
		r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but not valid JavaScript string literals.
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}

const hex = "0123456789abcdef"

// plain marks the bytes that JSON strings carry unescaped and that need no
// UTF-8 check; indexed by any byte, so the common case is one load.
var plain = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()
