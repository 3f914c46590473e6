package fields

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// Transform wraps x in one of Falco's field transformers: tolower,
// toupper, b64 (base64 decoding), basename (the part after the last /, ""
// when the value ends in /) and len (characters of a string, values of a
// multi-valued field). A multi-valued field is transformed value by value,
// except by len.
func Transform(name string, x *Extractor) (*Extractor, error) {
	full := name + "(" + x.Name + ")"
	if x.Type != String {
		return nil, fmt.Errorf("transformer %s applies to string fields, not %s field %s", name, x.Type, x.Name)
	}
	if x.HostIP != nil {
		return nil, fmt.Errorf("transformer %s does not apply to %s", name, x.Name)
	}
	get := x.Str
	out := &Extractor{Name: full, Type: String, Multi: x.Multi, Unavailable: x.Unavailable}
	switch name {
	case "tolower", "toupper":
		up := name == "toupper"
		out.Str = func(c *Ctx, i int) (string, bool) {
			s, ok := get(c, i)
			if !ok {
				return "", false
			}
			if !needsCase(s, up) {
				return s, true
			}
			return c.build(func(dst []byte) []byte { return appendCase(dst, s, up) }), true
		}
	case "b64":
		out.Str = func(c *Ctx, i int) (string, bool) {
			s, ok := get(c, i)
			if !ok {
				return "", false
			}
			enc := base64.StdEncoding
			if len(s)%4 != 0 {
				enc = base64.RawStdEncoding
			}
			n := enc.DecodedLen(len(s))
			start := len(c.arena)
			c.arena = slices.Grow(c.arena, n)[:start+n]
			m, err := enc.Decode(c.arena[start:], []byte(s))
			if err != nil {
				c.arena = c.arena[:start]
				return "", false
			}
			c.arena = c.arena[:start+m]
			return view(c.arena[start : start+m : start+m]), true
		}
	case "basename":
		out.Str = func(c *Ctx, i int) (string, bool) {
			s, ok := get(c, i)
			if !ok {
				return "", false
			}
			return s[strings.LastIndexByte(s, '/')+1:], true
		}
	case "len":
		out.Type, out.Multi, out.Str = Int, false, nil
		if x.Multi {
			out.Int = func(c *Ctx, _ int) (int64, bool) {
				n := 0
				for ; n < 1<<16; n++ {
					if _, ok := get(c, n); !ok {
						break
					}
				}
				return int64(n), true
			}
		} else {
			out.Int = func(c *Ctx, _ int) (int64, bool) {
				s, ok := get(c, 0)
				if !ok {
					return 0, false
				}
				return int64(len(s)), true
			}
		}
	default:
		return nil, fmt.Errorf("unknown transformer %s", name)
	}
	return out, nil
}

func needsCase(s string, up bool) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; up && c >= 'a' && c <= 'z' || !up && c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

// appendCase appends s with ASCII letters changed to upper or lower case,
// as Falco's transformers do (byte-wise).
func appendCase(dst []byte, s string, up bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case up && c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case !up && c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
