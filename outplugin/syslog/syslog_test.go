package syslog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/destination/desttest"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"github.com/nightjar-sec/nightjar/outplugin/syslog"
	"github.com/nightjar-sec/nightjar/outplugin/syslog/rsyslogtest"
	"github.com/tinylib/msgp/msgp"
)

func registry() *destination.Registry {
	reg := destination.NewRegistry()
	syslog.Register(reg)
	return reg
}

// load builds a syslog destination from an HCL body through routes.
func load(t *testing.T, body string) (destination.Destination, *destination.Metrics) {
	t.Helper()
	src := fmt.Sprintf("destination \"syslog\" \"s\" {\n%s\n}\nroute \"all\" { to = [destination.syslog.s] }\n", body)
	cfg, err := routes.Parse([]byte(src), "routes.hcl", routes.Options{Registry: registry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.Close() })
	return cfg.Destinations[0].Dest, cfg.Destinations[0].Metrics
}

// alert is an alert with the fields the formats map, any of them hostile.
type alert struct {
	Time                      time.Time
	Rule, Priority, Output    string
	Hostname, UUID            string
	Tags                      []string
	User, File, Proc, Cmdline string
	CIP, SIP                  string
	CPort, SPort              int
	Namespace                 string
}

func (a alert) msgpack() []byte {
	b := msgp.AppendMapHeader(nil, 9)
	str := func(k, v string) { b = msgp.AppendString(msgp.AppendString(b, k), v) }
	str("time", a.Time.UTC().Format(time.RFC3339Nano))
	str("rule", a.Rule)
	str("priority", a.Priority)
	str("source", "syscall")
	str("hostname", a.Hostname)
	b = msgp.AppendArrayHeader(msgp.AppendString(b, "tags"), uint32(len(a.Tags)))
	for _, t := range a.Tags {
		b = msgp.AppendString(b, t)
	}
	str("output", a.Output)
	b = msgp.AppendMapHeader(msgp.AppendString(b, "output_fields"), 11)
	b = msgp.AppendInt64(msgp.AppendString(b, "evt.time"), a.Time.UnixNano())
	str("user.name", a.User)
	str("fd.name", a.File)
	str("proc.name", a.Proc)
	str("proc.cmdline", a.Cmdline)
	str("fd.cip", a.CIP)
	str("fd.sip", a.SIP)
	b = msgp.AppendInt(msgp.AppendString(b, "fd.cport"), a.CPort)
	b = msgp.AppendInt(msgp.AppendString(b, "fd.sport"), a.SPort)
	str("container.id", "3f2a1b9c0d4e")
	str("k8s.ns.name", a.Namespace)
	str("uuid", a.UUID)
	return b
}

func records(t testing.TB, as ...alert) []*record.Record {
	t.Helper()
	var chunk []byte
	for _, a := range as {
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, a.Time, a.msgpack())
	}
	return recordtest.Decode(t, chunk)
}

var when = time.Date(2026, 11, 26, 18, 0, 0, 123456789, time.UTC)

// hostile holds every character the formats must escape, and non-ASCII.
const hostile = `a|b=c\d` + "\nline2\r\tend é中🦉 ]\"x"

func plain(seq int) alert {
	return alert{
		Time: when, Rule: "Terminal shell in container", Priority: "Critical",
		Output: fmt.Sprintf("18:00:00: Critical A shell was spawned (seq=%d)", seq), Hostname: "node-1",
		UUID: fmt.Sprintf("0b7c6c9e-0000-4000-8000-%012d", seq), Tags: []string{"container", "shell"},
		User: "root", File: "/etc/shadow", Proc: "bash", Cmdline: "bash -i", CIP: "10.0.0.1", SIP: "10.0.0.2",
		CPort: 40000, SPort: 443, Namespace: "prod",
	}
}

func evil(seq int) alert {
	a := plain(seq)
	a.Rule, a.Output, a.User, a.File, a.Cmdline, a.Namespace = "Rule "+hostile, "out "+hostile, "u"+hostile, "/tmp/"+hostile, "sh -c '"+hostile+"'", hostile
	a.Tags = []string{"t" + hostile, "x"}
	a.Hostname = "bad host\n名"
	return a
}

// printable replaces what an RFC 5424 header field may not hold.
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	return string(b)
}

func send(t *testing.T, d destination.Destination, recs []*record.Record) (*destination.Batch, error) {
	t.Helper()
	b := destination.NewBatch("nightjar.alerts", recs)
	return b, d.Send(context.Background(), b)
}

// recordJSON is the JSON a record converts to, for comparison with MSG.
func recordJSON(t *testing.T, r *record.Record) any {
	t.Helper()
	b, err := r.Body.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRFC5424Transports sends plain and hostile alerts over every
// transport and checks each field as rsyslog parsed it.
func TestRFC5424Transports(t *testing.T) {
	rs := rsyslogtest.Start(t)
	for _, tc := range []struct {
		name, input, body string
	}{
		{"udp", "udp", fmt.Sprintf(`address = "udp://127.0.0.1:%d"`, rs.UDP)},
		{"tcp-octets", "tcp", fmt.Sprintf(`address = "tcp://127.0.0.1:%d"`, rs.TCP)},
		{"tcp-lf", "tcp", fmt.Sprintf(`address = "tcp://127.0.0.1:%d"
framing = "lf"`, rs.TCP)},
		{"tls", "tls", fmt.Sprintf(`address = "tls://127.0.0.1:%d"
tls { ca_file = %q }`, rs.TLS, rs.CAFile)},
		{"mtls", "mtls", fmt.Sprintf(`address = "tls://127.0.0.1:%d"
tls {
  ca_file     = %q
  cert_file   = %q
  key_file    = %q
  server_name = "localhost"
}`, rs.MTLS, rs.CAFile, rs.ClientCert, rs.ClientKey)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rs.Messages())
			d, m := load(t, tc.body+`
format   = "rfc5424"
facility = "auth"
app_name = "nj-{{ output_fields.k8s.ns.name }}"
msgid    = "{{ priority }}"`)
			recs := records(t, plain(1), evil(2), plain(3))
			b, err := send(t, d, recs)
			if err != nil || b.Pending() != 0 {
				t.Fatalf("send: %v, %d pending", err, b.Pending())
			}
			got := rs.Wait(before+3, 10*time.Second)[before:]
			if s := m.Snapshot(); s.Sent != 3 || s.Truncated != 0 {
				t.Errorf("counters %+v", s)
			}
			for i, msg := range got {
				if msg.Input != tc.input || msg.Facility != "auth" || msg.Severity != "crit" || msg.MsgID != "Critical" || msg.ProcID != "-" {
					t.Errorf("message %d: %+v", i, msg)
				}
				if msg.Timestamp != "2026-11-26T18:00:00.123456+00:00" && msg.Timestamp != "2026-11-26T18:00:00.123456Z" {
					t.Errorf("timestamp %q", msg.Timestamp)
				}
				var v any
				if err := json.Unmarshal([]byte(msg.Msg), &v); err != nil {
					t.Fatalf("MSG is not JSON: %v: %q", err, msg.Msg)
				}
				if want := recordJSON(t, recs[i]); !reflect.DeepEqual(v, want) {
					t.Errorf("MSG %v\nwant %v", v, want)
				}
			}
			if got[0].Hostname != "node-1" || got[0].AppName != "nj-prod" {
				t.Errorf("header %+v", got[0])
			}
			wantSD := `[nightjar@32473 rule="Terminal shell in container" priority="Critical" tags="container,shell" source="syscall" uuid="0b7c6c9e-0000-4000-8000-000000000001"]`
			if got[0].StructuredData != wantSD {
				t.Errorf("SD %s\nwant %s", got[0].StructuredData, wantSD)
			}
			// The hostile alert: header fields made PRINTUSASCII and cut to
			// their RFC 5424 lengths, SD values escaped.
			if want := "nj-" + printable(hostile); got[1].Hostname != "bad_host____" || got[1].AppName != want {
				t.Errorf("hostile header fields %q %q, want %q %q", got[1].Hostname, got[1].AppName, "bad_host____", want)
			}
			sd := got[1].StructuredData
			rule := "Rule " + hostile
			if tc.name == "tcp-lf" {
				rule = strings.ReplaceAll(rule, "\n", " ")
			}
			esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(rule)
			if !strings.Contains(sd, `rule="`+esc+`"`) {
				t.Errorf("SD %q does not hold the escaped rule %q", sd, esc)
			}
		})
	}
}

// TestTLSUntrusted: a receiver whose certificate does not verify is a
// permanent error (retrying cannot fix it), and nothing is sent.
func TestTLSUntrusted(t *testing.T) {
	rs := rsyslogtest.Start(t)
	d, _ := load(t, fmt.Sprintf(`address = "tls://127.0.0.1:%d"`, rs.TLS))
	b, err := send(t, d, records(t, plain(1)))
	if !destination.IsPermanent(err) || b.Pending() != 1 {
		t.Fatalf("err = %v, %d pending; want a permanent error, 1 pending", err, b.Pending())
	}
	if n := len(rs.Messages()); n != 0 {
		t.Errorf("rsyslog received %d messages", n)
	}
}

// splitHeader cuts prefix and n '|'-terminated header fields off s,
// undoing backslash escapes, and returns the fields and what follows.
func splitHeader(t *testing.T, s, prefix string, n int) ([]string, string) {
	t.Helper()
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		t.Fatalf("not %q: %q", prefix, s)
	}
	var hdr []string
	var cur strings.Builder
	i := 0
	for ; i < len(rest) && len(hdr) < n; i++ {
		switch c := rest[i]; {
		case c == '\\' && i+1 < len(rest):
			i++
			cur.WriteByte(rest[i])
		case c == '|':
			hdr = append(hdr, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return hdr, rest[i:]
}

// parseCEF splits a CEF line into its seven header fields and extension
// pairs, undoing the escaping as a CEF consumer does.
func parseCEF(t *testing.T, s string) ([]string, map[string]string) {
	t.Helper()
	hdr, ext := splitHeader(t, s, "CEF:0|", 6)
	// Keys are the words directly before an unescaped '='.
	type kv struct{ k, v string }
	var pairs []kv
	var val strings.Builder
	key := ""
	for j := 0; j < len(ext); j++ {
		c := ext[j]
		if c == '\\' && j+1 < len(ext) {
			j++
			switch ext[j] {
			case 'n':
				val.WriteByte('\n')
			case 'r':
				val.WriteByte('\r')
			default:
				val.WriteByte(ext[j])
			}
			continue
		}
		if c == '=' {
			// The last space-separated word of val is the next key.
			v := val.String()
			k := v
			if sp := strings.LastIndexByte(v, ' '); sp >= 0 {
				k, v = v[sp+1:], v[:sp]
			} else {
				v = ""
			}
			if key != "" {
				pairs = append(pairs, kv{key, v})
			}
			key = k
			val.Reset()
			continue
		}
		val.WriteByte(c)
	}
	if key != "" {
		pairs = append(pairs, kv{key, val.String()})
	}
	m := map[string]string{}
	for _, p := range pairs {
		m[p.k] = p.v
	}
	return hdr, m
}

// TestCEF checks the CEF line rsyslog received: header, severity, the
// standard keys and the escaping of hostile values.
func TestCEF(t *testing.T) {
	rs := rsyslogtest.Start(t)
	d, _ := load(t, fmt.Sprintf(`address = "tcp://127.0.0.1:%d"
format = "cef"
vendor = "Acme|Sec"
product_version = "2.1"`, rs.TCP))
	recs := records(t, plain(1), evil(2))
	if _, err := send(t, d, recs); err != nil {
		t.Fatal(err)
	}
	got := rs.Wait(2, 10*time.Second)
	hdr, ext := parseCEF(t, got[0].Msg)
	if want := []string{"Acme|Sec", "nightjar", "2.1", "Terminal shell in container", "Terminal shell in container", "8"}; !reflect.DeepEqual(hdr, want) {
		t.Errorf("header %q, want %q", hdr, want)
	}
	want := map[string]string{
		"rt": fmt.Sprint(when.UnixMilli()), "dvchost": "node-1", "cat": "syscall", "msg": "18:00:00: Critical A shell was spawned (seq=1)",
		"suser": "root", "sproc": "bash", "fname": "/etc/shadow", "src": "10.0.0.1", "dst": "10.0.0.2", "spt": "40000", "dpt": "443",
		"externalId": "0b7c6c9e-0000-4000-8000-000000000001",
		"cs1Label":   "container.id", "cs1": "3f2a1b9c0d4e", "cs2Label": "k8s.ns.name", "cs2": "prod",
		"cs4Label": "proc.cmdline", "cs4": "bash -i", "cs5Label": "tags", "cs5": `["container","shell"]`,
		"cs6Label": "priority", "cs6": "Critical",
	}
	if !reflect.DeepEqual(ext, want) {
		t.Errorf("extension %v\nwant %v", ext, want)
	}
	if got[0].AppName != "nightjar" || got[0].StructuredData != "-" || got[0].Severity != "crit" {
		t.Errorf("header %+v", got[0])
	}
	// Hostile values: the header keeps '|' and '\' escaped and turns line
	// breaks to spaces; extension values come back exactly.
	hdr, ext = parseCEF(t, got[1].Msg)
	if want := "Rule " + strings.NewReplacer("\n", " ", "\r", " ").Replace(hostile); hdr[3] != want {
		t.Errorf("signature %q, want %q", hdr[3], want)
	}
	for k, v := range map[string]string{"msg": "out " + hostile, "suser": "u" + hostile, "fname": "/tmp/" + hostile, "cs2": hostile, "cs4": "sh -c '" + hostile + "'"} {
		if ext[k] != v {
			t.Errorf("%s = %q, want %q", k, ext[k], v)
		}
	}
	if strings.ContainsAny(got[1].Msg, "\n\r") {
		t.Errorf("CEF line holds a raw line break: %q", got[1].Msg)
	}
}

// parseLEEF splits a LEEF 2.0 line into header fields, the delimiter and
// attributes, undoing the escaping.
func parseLEEF(t *testing.T, s string) ([]string, map[string]string) {
	t.Helper()
	hdr, rest := splitHeader(t, s, "LEEF:2.0|", 5)
	delim := hdr[4]
	if strings.HasPrefix(delim, "x") && len(delim) == 3 {
		var c byte
		fmt.Sscanf(delim[1:], "%02X", &c)
		delim = string(c)
	}
	attrs := map[string]string{}
	var val strings.Builder
	flush := func() {
		k, v, _ := strings.Cut(val.String(), "=")
		attrs[k] = v
		val.Reset()
	}
	for j := 0; j < len(rest); j++ {
		c := rest[j]
		switch {
		case c == '\\' && j+1 < len(rest):
			j++
			switch rest[j] {
			case 'n':
				val.WriteByte('\n')
			case 'r':
				val.WriteByte('\r')
			default:
				val.WriteByte(rest[j])
			}
		case string(c) == delim:
			flush()
		default:
			val.WriteByte(c)
		}
	}
	flush()
	return hdr, attrs
}

func TestLEEF(t *testing.T) {
	rs := rsyslogtest.Start(t)
	for _, delim := range []string{"", "\t"} {
		before := len(rs.Messages())
		body := fmt.Sprintf(`address = "tls://127.0.0.1:%d"
format = "leef"
custom_fields = ["output_fields.k8s.ns.name", "output_fields.proc.cmdline"]
tls { ca_file = %q }`, rs.TLS, rs.CAFile)
		if delim != "" {
			body += fmt.Sprintf("\nleef_delimiter = %q", delim)
		}
		d, _ := load(t, body)
		if _, err := send(t, d, records(t, plain(1), evil(2))); err != nil {
			t.Fatal(err)
		}
		got := rs.Wait(before+2, 10*time.Second)[before:]
		hdr, attrs := parseLEEF(t, got[0].Msg)
		wantDelim := "^"
		if delim == "\t" {
			wantDelim = "x09"
		}
		if want := []string{"nightjar", "nightjar", "1", "Terminal shell in container", wantDelim}; !reflect.DeepEqual(hdr, want) {
			t.Errorf("header %q, want %q", hdr, want)
		}
		want := map[string]string{
			"devTimeFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSZ", "devTime": "2026-11-26T18:00:00.123+0000", "sev": "8", "cat": "syscall",
			"identHostName": "node-1", "usrName": "root", "src": "10.0.0.1", "dst": "10.0.0.2", "srcPort": "40000", "dstPort": "443",
			"resource": "/etc/shadow", "msg": "18:00:00: Critical A shell was spawned (seq=1)", "priority": "Critical", "procName": "bash",
			"uuid": "0b7c6c9e-0000-4000-8000-000000000001", "k8s.ns.name": "prod", "proc.cmdline": "bash -i",
		}
		if !reflect.DeepEqual(attrs, want) {
			t.Errorf("attributes %v\nwant %v", attrs, want)
		}
		_, attrs = parseLEEF(t, got[1].Msg)
		for k, v := range map[string]string{"msg": "out " + hostile, "usrName": "u" + hostile, "resource": "/tmp/" + hostile, "k8s.ns.name": hostile} {
			if attrs[k] != v {
				t.Errorf("delimiter %q: %s = %q, want %q", delim, k, attrs[k], v)
			}
		}
	}
}

// TestUDPTruncation sends alerts larger than a datagram may be; they
// arrive cut to max_message_bytes, marked and counted.
func TestUDPTruncation(t *testing.T) {
	rs := rsyslogtest.Start(t)
	d, m := load(t, fmt.Sprintf(`address = "udp://127.0.0.1:%d"`, rs.UDP))
	big := plain(1)
	big.Output = strings.Repeat("é", 3000)
	recs := records(t, big, plain(2))
	if _, err := send(t, d, recs); err != nil {
		t.Fatal(err)
	}
	got := rs.Wait(2, 10*time.Second)
	if s := m.Snapshot(); s.Truncated != 1 || s.Sent != 2 {
		t.Errorf("counters %+v, want 1 truncated of 2 sent", s)
	}
	for _, msg := range got {
		if len(msg.Raw) > 2048 {
			t.Errorf("datagram of %d bytes exceeds 2048", len(msg.Raw))
		}
	}
	if !strings.HasSuffix(got[0].Msg, syslog.TruncationMarker) || len(got[0].Raw) < 2000 {
		t.Errorf("first message (%d bytes) is not the truncated one: %q", len(got[0].Raw), got[0].Msg[len(got[0].Msg)-40:])
	}
}

// TestReconnect stops rsyslog under an open connection and while
// sending: nothing is acknowledged while it is down, and after it is back
// every alert arrives exactly once.
func TestReconnect(t *testing.T) {
	rs := rsyslogtest.Start(t)
	d, m := load(t, fmt.Sprintf(`address = "tcp://127.0.0.1:%d"
max_attempts = 2
timeout = "2s"`, rs.TCP))
	if _, err := send(t, d, records(t, plain(0))); err != nil {
		t.Fatal(err)
	}
	rs.Wait(1, 10*time.Second)
	rs.Stop()
	recs := records(t, plain(1), plain(2), plain(3))
	b, err := send(t, d, recs)
	if err == nil || destination.IsPermanent(err) || b.Pending() != 3 {
		t.Fatalf("send to a stopped rsyslog: err %v, %d pending; want a transient error and 3 pending", err, b.Pending())
	}
	rs.Restart()
	b, err = send(t, d, recs)
	if err != nil || b.Pending() != 0 {
		t.Fatalf("after restart: %v, %d pending", err, b.Pending())
	}
	rs.Wait(4, 10*time.Second)
	// Restart again with the connection open: the stale connection is
	// noticed before writing, so nothing goes into a dead socket.
	rs.Stop()
	rs.Restart()
	if _, err := send(t, d, records(t, plain(4))); err != nil {
		t.Fatal(err)
	}
	got := rs.Wait(5, 10*time.Second)
	seen := map[string]int{}
	for _, msg := range got {
		var a struct{ UUID string }
		json.Unmarshal([]byte(msg.Msg), &a)
		seen[a.UUID]++
	}
	for i := range 5 {
		if n := seen[fmt.Sprintf("0b7c6c9e-0000-4000-8000-%012d", i)]; n != 1 {
			t.Errorf("alert %d arrived %d times", i, n)
		}
	}
	if s := m.Snapshot(); s.Failures == 0 || s.Sent != 5 {
		t.Errorf("counters %+v", s)
	}
}

// TestConfigErrors loads each file of testdata/errors; its first line is
// "# want: <line>:<col> <text>".
func TestConfigErrors(t *testing.T) {
	desttest.ConfigErrors(t, routes.Options{Registry: registry()}, 8)
}
