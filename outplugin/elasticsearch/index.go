package elasticsearch

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
)

// indexName is the index setting: a record template in which strftime-style
// date tokens (%Y, %m, %d, %H, %j, %V, %%) take the record's UTC date, as in
// "nightjar-%Y.%m.%d" or "nightjar-{{ output_fields.k8s.ns.name }}-%Y.%m".
type indexName struct {
	parts  []indexPart
	static string // the whole name when it has neither dates nor fields
}

type indexPart struct {
	tmpl    *destination.Template // set for template text
	literal string                // the text outside placeholders, for checks
	raw     string                // the template as written
	date    byte                  // set for a date token
}

func parseIndex(s string) (*indexName, error) {
	n := &indexName{}
	var lit strings.Builder
	flush := func() error {
		if lit.Len() == 0 {
			return nil
		}
		t, err := destination.ParseTemplate(lit.String())
		if err != nil {
			return err
		}
		n.parts = append(n.parts, indexPart{tmpl: t, literal: outsidePlaceholders(lit.String()), raw: lit.String()})
		lit.Reset()
		return nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("index %q ends with a lone %%", s)
		}
		i++
		switch c := s[i]; c {
		case '%':
			lit.WriteByte('%')
		case 'Y', 'm', 'd', 'H', 'j', 'V':
			if err := flush(); err != nil {
				return nil, err
			}
			n.parts = append(n.parts, indexPart{date: c})
		default:
			return nil, fmt.Errorf("index %q: unknown date token %%%c (use %%Y, %%m, %%d, %%H, %%j or %%V)", s, c)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(n.parts) == 1 && n.parts[0].tmpl != nil {
		if t, ok := n.parts[0].tmpl.Static(); ok {
			n.static, n.parts = t, nil
		}
	}
	if len(n.parts) == 0 && n.static == "" {
		return nil, fmt.Errorf("index must not be empty")
	}
	return n, nil
}

// Static returns the name when it is the same for every record.
func (n *indexName) Static() (string, bool) { return n.static, n.parts == nil }

// appendName appends the index name for r, cleaned to what Elasticsearch
// accepts.
func (n *indexName) appendName(dst []byte, tag string, r *record.Record) []byte {
	if n.parts == nil {
		return append(dst, n.static...)
	}
	start := len(dst)
	t := r.Time.UTC()
	for _, p := range n.parts {
		if p.tmpl != nil {
			dst = append(dst, p.tmpl.Render(tag, r)...)
			continue
		}
		switch p.date {
		case 'Y':
			dst = appendInt(dst, t.Year(), 4)
		case 'm':
			dst = appendInt(dst, int(t.Month()), 2)
		case 'd':
			dst = appendInt(dst, t.Day(), 2)
		case 'H':
			dst = appendInt(dst, t.Hour(), 2)
		case 'j':
			dst = appendInt(dst, t.YearDay(), 3)
		case 'V':
			_, w := t.ISOWeek()
			dst = appendInt(dst, w, 2)
		}
	}
	return sanitizeIndex(dst, start)
}

// appendInt appends v zero-padded to width digits; dates before year 0
// render as 0.
func appendInt(dst []byte, v, width int) []byte {
	start := len(dst)
	dst = strconv.AppendInt(dst, int64(max(v, 0)), 10)
	if pad := width - (len(dst) - start); pad > 0 {
		dst = append(dst, "0000"[:min(pad, 4)]...)
		copy(dst[start+pad:], dst[start:len(dst)-pad])
		copy(dst[start:start+pad], "0000")
	}
	return dst
}

// maxIndexBytes is Elasticsearch's bound on index names.
const maxIndexBytes = 255

// sanitizeIndex rewrites dst[start:] in place into a valid index name:
// lowercase, without the characters \ / * ? " < > | , # : or space, not
// starting with - _ or +, not "." or "..", at most 255 bytes.
func sanitizeIndex(dst []byte, start int) []byte {
	name := dst[start:]
	if !isASCII(name) {
		// Lowercase as Elasticsearch does, beyond ASCII too; invalid
		// UTF-8 would not survive JSON.
		name = bytes.ToLower(bytes.ToValidUTF8(name, []byte("_")))
	}
	for i, c := range name {
		switch {
		case c >= 'A' && c <= 'Z':
			name[i] = c + 'a' - 'A'
		case strings.IndexByte(`\/*?"<>|,#: `, c) >= 0 || c < 0x20:
			name[i] = '_'
		}
	}
	for len(name) > 0 && (name[0] == '-' || name[0] == '_' || name[0] == '+') {
		name = name[1:]
	}
	if len(name) > maxIndexBytes {
		cut := maxIndexBytes
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	if len(name) == 0 || string(name) == "." || string(name) == ".." {
		name = []byte(destination.Missing)
	}
	return append(dst[:start], name...)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// checkIndex reports why a fixed index name would be refused.
func checkIndex(s string) error {
	switch {
	case s != strings.ToLower(s):
		return fmt.Errorf("index %q must be lowercase", s)
	case strings.ContainsAny(s, `\/*?"<>|,#: `):
		return fmt.Errorf("index %q must not contain \\ / * ? \" < > | , # : or space", s)
	case strings.IndexAny(s, "-_+") == 0:
		return fmt.Errorf("index %q must not start with -, _ or +", s)
	case s == "." || s == "..":
		return fmt.Errorf("index %q is reserved", s)
	case len(s) > maxIndexBytes:
		return fmt.Errorf("index %q is longer than 255 bytes", s)
	}
	return nil
}

// check reports why the name would be refused: a fixed name is checked
// whole, a templated one by its leading literal.
func (n *indexName) check() error {
	if s, ok := n.Static(); ok {
		return checkIndex(s)
	}
	for i, p := range n.parts {
		// Template output is cleaned when rendered; the text around it
		// is the user's and should be right.
		s := p.literal
		if s == "" {
			continue
		}
		switch {
		case s != strings.ToLower(s):
			return fmt.Errorf("index text %q must be lowercase", s)
		case strings.ContainsAny(s, `\/*?"<>|,#: `):
			return fmt.Errorf("index text %q must not contain \\ / * ? \" < > | , # : or space", s)
		case i == 0 && strings.IndexAny(p.raw, "-_+") == 0:
			return fmt.Errorf("index must not start with -, _ or +")
		}
	}
	return nil
}

// outsidePlaceholders returns s without its {{ }} placeholders.
func outsidePlaceholders(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return b.String()
		}
		s = s[i+j+2:]
	}
}
