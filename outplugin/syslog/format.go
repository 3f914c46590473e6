package syslog

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nightjar-sec/nightjar/outplugin/record"
)

// Format is the content of a syslog message.
type Format int

const (
	// RFC5424 carries the JSON alert as MSG and rule, priority, tags,
	// source and uuid as structured data.
	RFC5424 Format = iota
	// CEF carries an ArcSight Common Event Format line as MSG.
	CEF
	// LEEF carries an IBM QRadar LEEF 2.0 line as MSG.
	LEEF
)

// Facility numbers of RFC 5424, section 6.2.1.
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14,
	"solaris-cron": 15, "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20,
	"local5": 21, "local6": 22, "local7": 23,
}

// alertSeverity maps a Falco priority to a syslog severity (the names are
// the same) and to a CEF severity (0-10, 10 the most severe); LEEF's sev
// (1-10) uses the CEF value, at least 1.
func alertSeverity(priority string) (syslogSev, cefSev int) {
	switch strings.ToLower(priority) {
	case "emergency":
		return 0, 10
	case "alert":
		return 1, 9
	case "critical":
		return 2, 8
	case "error":
		return 3, 7
	case "warning", "warn":
		return 4, 5
	case "notice":
		return 5, 4
	case "informational", "info":
		return 6, 3
	case "debug":
		return 7, 1
	}
	return 5, 4
}

// header holds the RFC 5424 header fields of one message, already rendered.
type header struct {
	pri      int
	ts       time.Time
	hostname string
	appName  string
	procID   string
	msgID    string
}

// appendHeader writes "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID ".
func appendHeader(b []byte, h header) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(h.pri), 10)
	b = append(b, ">1 "...)
	// TIME-SECFRAC allows six digits at most.
	b = h.ts.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, ' ')
	b = appendHeaderField(b, h.hostname, 255)
	b = append(b, ' ')
	b = appendHeaderField(b, h.appName, 48)
	b = append(b, ' ')
	b = appendHeaderField(b, h.procID, 128)
	b = append(b, ' ')
	b = appendHeaderField(b, h.msgID, 32)
	return append(b, ' ')
}

// appendHeaderField writes a header field as PRINTUSASCII (33-126) of at
// most n characters; other bytes become '_', and an empty value NILVALUE.
func appendHeaderField(b []byte, s string, n int) []byte {
	if s == "" {
		return append(b, '-')
	}
	if len(s) > n {
		s = s[:n]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// sdParam is one PARAM-NAME="value" of structured data.
type sdParam struct{ name, value string }

// appendSD writes one SD-ELEMENT. Values escape '"', '\' and ']' with a
// backslash (RFC 5424, section 6.3.3) and are made valid UTF-8.
func appendSD(b []byte, id string, params []sdParam) []byte {
	b = append(b, '[')
	b = appendSDName(b, id)
	for _, p := range params {
		b = append(b, ' ')
		b = appendSDName(b, p.name)
		b = append(b, `="`...)
		for _, r := range validUTF8(p.value) {
			switch r {
			case '"', '\\', ']':
				b = append(b, '\\', byte(r))
			default:
				b = utf8.AppendRune(b, r)
			}
		}
		b = append(b, '"')
	}
	return append(b, ']')
}

// appendSDName writes an SD-NAME: at most 32 PRINTUSASCII characters
// except '=', ' ', ']' and '"'.
func appendSDName(b []byte, s string) []byte {
	if len(s) > 32 {
		s = s[:32]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '=' || c == ']' || c == '"' {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// appendCEFHeader writes a CEF header field: '\' and '|' are escaped with a
// backslash; line breaks, which a header may not hold, become spaces.
func appendCEFHeader(b []byte, s string) []byte {
	for _, r := range validUTF8(s) {
		switch r {
		case '\\', '|':
			b = append(b, '\\', byte(r))
		case '\r', '\n':
			b = append(b, ' ')
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// appendCEFValue writes a CEF extension value: '\' and '=' are escaped
// with a backslash, line breaks are written as \n and \r.
func appendCEFValue(b []byte, s string) []byte {
	for _, r := range validUTF8(s) {
		switch r {
		case '\\', '=':
			b = append(b, '\\', byte(r))
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// appendLEEFValue writes a LEEF attribute value: the delimiter and '\'
// are escaped with a backslash, line breaks written as \n and \r.
func appendLEEFValue(b []byte, s string, delim byte) []byte {
	for _, r := range validUTF8(s) {
		switch {
		case r == '\\' || r == rune(delim):
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// fields are the parts of an alert that the formats name.
type fields struct {
	rule, priority, source, output, hostname, uuid string
	tags                                           string // comma-separated
	user, file, proc, cmdline                      string
	srcIP, dstIP, srcPort, dstPort, proto          string
	ts                                             time.Time
	custom                                         []string // values of the destination's custom fields
}

func text(r *record.Record, path string) string {
	if v, ok := r.Lookup(path); ok {
		return v.Text()
	}
	return ""
}

// alertFields extracts what the formats need from r in one pass over the
// record and one over its output_fields. The alert's own time field wins
// over the record's timestamp.
func (d *Destination) alertFields(r *record.Record) fields {
	f := fields{ts: r.Time, custom: make([]string, len(d.custom))}
	found := make([]bool, len(d.custom))
	set := func(key string, v record.Value, top bool) {
		for i, c := range d.custom {
			if !found[i] && (top && c.path == key || !top && c.outputField == key) {
				f.custom[i], found[i] = v.Text(), true
			}
		}
	}
	r.Body.Each(func(k []byte, v record.Value) bool {
		switch string(k) {
		case "rule":
			f.rule = v.Text()
		case "priority":
			f.priority = v.Text()
		case "source":
			f.source = v.Text()
		case "output":
			f.output = v.Text()
		case "hostname":
			f.hostname = v.Text()
		case "uuid":
			f.uuid = v.Text()
		case "time":
			if t, err := time.Parse(time.RFC3339Nano, v.Text()); err == nil {
				f.ts = t
			}
		case "tags":
			if v.IsArray() {
				var sb strings.Builder
				v.Elems(func(e record.Value) bool {
					if sb.Len() > 0 {
						sb.WriteByte(',')
					}
					sb.WriteString(e.Text())
					return true
				})
				f.tags = sb.String()
			}
		case "output_fields":
			v.Each(func(k []byte, v record.Value) bool {
				switch string(k) {
				case "user.name":
					f.user = v.Text()
				case "fd.name":
					f.file = v.Text()
				case "proc.name":
					f.proc = v.Text()
				case "proc.cmdline":
					f.cmdline = v.Text()
				case "fd.cip":
					f.srcIP = v.Text()
				case "fd.sip":
					f.dstIP = v.Text()
				case "fd.cport":
					f.srcPort = v.Text()
				case "fd.sport":
					f.dstPort = v.Text()
				case "fd.l4proto":
					f.proto = v.Text()
				}
				set(string(k), v, false)
				return true
			})
		}
		set(string(k), v, true)
		return true
	})
	// Paths the passes did not resolve (nested maps, dotted keys elsewhere).
	for i, c := range d.custom {
		if !found[i] {
			f.custom[i] = text(r, c.path)
		}
	}
	return f
}

// customField is a record field carried in CEF's cs1..cs6 (with its label)
// or as a LEEF attribute named by its label.
type customField struct {
	path, label string
	outputField string // the key under output_fields, when path names one
}

// appendVendorHeader writes prefix and the header fields of a CEF or LEEF line,
// each escaped and followed by '|'.
func appendVendorHeader(b []byte, prefix string, fields ...string) []byte {
	b = append(b, prefix...)
	for _, f := range fields {
		b = appendCEFHeader(b, f)
		b = append(b, '|')
	}
	return b
}

// appendCEF writes a CEF:0 line for r.
func (d *Destination) appendCEF(b []byte, r *record.Record, f fields) []byte {
	_, sev := alertSeverity(f.priority)
	// The rule is both the signature id and the name.
	b = appendVendorHeader(b, "CEF:0|", d.vendor, d.product, d.productVersion, f.rule, f.rule)
	b = strconv.AppendInt(b, int64(sev), 10)
	b = append(b, '|')
	first := true
	kv := func(k, v string) {
		if v == "" {
			return
		}
		if !first {
			b = append(b, ' ')
		}
		first = false
		b = append(b, k...)
		b = append(b, '=')
		b = appendCEFValue(b, v)
	}
	kv("rt", strconv.FormatInt(f.ts.UnixMilli(), 10))
	kv("dvchost", f.hostname)
	kv("cat", f.source)
	kv("msg", f.output)
	kv("suser", f.user)
	kv("sproc", f.proc)
	kv("fname", f.file)
	kv("src", f.srcIP)
	kv("dst", f.dstIP)
	kv("spt", f.srcPort)
	kv("dpt", f.dstPort)
	kv("proto", f.proto)
	kv("externalId", f.uuid)
	for i, c := range d.custom {
		v := f.custom[i]
		if v == "" {
			continue
		}
		n := strconv.Itoa(i + 1)
		kv("cs"+n+"Label", c.label)
		kv("cs"+n, v)
	}
	return b
}

// appendLEEF writes a LEEF:2.0 line for r.
func (d *Destination) appendLEEF(b []byte, r *record.Record, f fields) []byte {
	_, sev := alertSeverity(f.priority)
	b = appendVendorHeader(b, "LEEF:2.0|", d.vendor, d.product, d.productVersion, f.rule)
	// The delimiter field takes a character or, for a tab and other
	// unprintable ones, its hex code.
	if c := d.leefDelim; c > 32 && c < 127 && c != '|' {
		b = append(b, c)
	} else {
		b = append(b, 'x', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
	}
	b = append(b, '|')
	first := true
	kv := func(k, v string) {
		if v == "" {
			return
		}
		if !first {
			b = append(b, d.leefDelim)
		}
		first = false
		b = append(b, k...)
		b = append(b, '=')
		b = appendLEEFValue(b, v, d.leefDelim)
	}
	kv("devTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSZ")
	kv("devTime", f.ts.UTC().Format("2006-01-02T15:04:05.000-0700"))
	kv("sev", strconv.Itoa(max(sev, 1)))
	kv("cat", f.source)
	kv("identHostName", f.hostname)
	kv("usrName", f.user)
	kv("src", f.srcIP)
	kv("dst", f.dstIP)
	kv("srcPort", f.srcPort)
	kv("dstPort", f.dstPort)
	kv("proto", f.proto)
	kv("resource", f.file)
	kv("msg", f.output)
	kv("priority", f.priority)
	kv("procName", f.proc)
	kv("uuid", f.uuid)
	for i, c := range d.custom {
		kv(c.label, f.custom[i])
	}
	return b
}

// TruncationMarker ends a message cut to fit max_message_bytes.
const TruncationMarker = "...[truncated by nightjar]"

// truncate cuts b to at most n bytes at a UTF-8 boundary, ending with the
// marker.
func truncate(b []byte, n int) []byte {
	cut := n - len(TruncationMarker)
	if cut < 0 {
		return b[:n]
	}
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return append(b[:cut], TruncationMarker...)
}
