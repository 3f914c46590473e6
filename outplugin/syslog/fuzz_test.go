package syslog_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nightjar-sec/nightjar/outplugin/destination/desttest"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"github.com/nightjar-sec/nightjar/outplugin/syslog"
)

func fuzzDest(t *testing.T, body string) *syslog.Destination {
	t.Helper()
	cfg, err := routes.Parse([]byte("destination \"syslog\" \"s\" {\n"+body+"\n}\nroute \"r\" { to = [destination.syslog.s] }"), "f.hcl", routes.Options{Registry: registry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.Close() })
	return cfg.Destinations[0].Dest.(*syslog.Destination)
}

// FuzzEncode feeds arbitrary alert values to every format and framing and
// checks that a consumer gets the values back: octet counts match,
// LF-framed messages hold one line, and CEF and LEEF values round-trip.
func FuzzEncode(f *testing.F) {
	f.Add("Terminal shell", "a shell", "root", "node-1")
	f.Add(hostile, hostile, hostile, hostile)
	f.Add("=|\\", "\\n\\r", "", "\xff\xfe")
	f.Add("", strings.Repeat("x", 9000), "=", "h")
	f.Fuzz(func(t *testing.T, rule, output, user, host string) {
		a := plain(7)
		a.Rule, a.Output, a.User, a.Hostname = rule, output, user, host
		recs := records(t, a)
		valid := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
		for _, body := range []string{
			`address = "tcp://127.0.0.1:514"`,
			`address = "tcp://127.0.0.1:514"
framing = "lf"
format = "cef"`,
			`address = "udp://127.0.0.1:514"
format = "cef"`,
			`address = "tcp://127.0.0.1:514"
format = "leef"
leef_delimiter = "\t"`,
		} {
			d := fuzzDest(t, body)
			msg, truncated := syslog.Encode(d, "tag", recs[0])
			switch {
			case strings.HasPrefix(body, `address = "udp`):
			case strings.Contains(body, "lf"):
				if bytes.IndexByte(msg, '\n') != len(msg)-1 {
					t.Fatalf("LF frame holds a line break inside: %q", msg)
				}
				msg = msg[:len(msg)-1]
			default:
				n, rest, ok := bytes.Cut(msg, []byte(" "))
				if l, err := strconv.Atoi(string(n)); !ok || err != nil || l != len(rest) {
					t.Fatalf("octet count %q for %d bytes", n, len(rest))
				}
				msg = rest
			}
			if !utf8.Valid(msg) && !truncated {
				t.Fatalf("message is not UTF-8: %q", msg)
			}
			if truncated {
				continue
			}
			// Skip "<PRI>1 TS HOST APP PROCID MSGID SD ".
			parts := strings.SplitN(string(msg), " ", 8)
			if len(parts) != 8 {
				t.Fatalf("header of %q", msg)
			}
			switch {
			case strings.Contains(body, "cef"):
				_, ext := parseCEF(t, parts[7])
				if output != "" && ext["msg"] != valid(output) || user != "" && ext["suser"] != valid(user) {
					t.Fatalf("CEF msg %q suser %q from %q %q", ext["msg"], ext["suser"], output, user)
				}
			case strings.Contains(body, "leef"):
				_, attrs := parseLEEF(t, parts[7])
				if output != "" && attrs["msg"] != valid(output) || user != "" && attrs["usrName"] != valid(user) {
					t.Fatalf("LEEF msg %q usrName %q from %q %q", attrs["msg"], attrs["usrName"], output, user)
				}
			}
		}
	})
}

// FuzzConfig parses mutated syslog blocks: no panic, and every error
// carries a position.
func FuzzConfig(f *testing.F) {
	desttest.FuzzConfig(f, routes.Options{Registry: registry()}, `destination "syslog" "s" {
  address = "tls://127.0.0.1:6514"
  format = "leef"
  facility = "12"
  msgid = "{{ rule }}"
  custom_fields = ["tags"]
}
route "r" { to = [destination.syslog.s] }`)
}

// TestTruncationBoundary encodes messages from just under to just over
// max_message_bytes: none exceeds it, and exactly the longer ones carry
// the marker.
func TestTruncationBoundary(t *testing.T) {
	d := fuzzDest(t, `address = "tcp://127.0.0.1:514"
max_message_bytes = 1000`)
	sawShort, sawLong := false, false
	for n := 0; n < 600; n++ {
		a := plain(1)
		a.Output = strings.Repeat("é", n/2) + strings.Repeat("x", n%2)
		msg, truncated := syslog.Encode(d, "t", records(t, a)[0])
		_, body, _ := bytes.Cut(msg, []byte(" "))
		if len(body) > 1000 || truncated != bytes.HasSuffix(body, []byte(syslog.TruncationMarker)) || !utf8.Valid(body) {
			t.Fatalf("output of %d bytes: message of %d bytes, truncated %v", n, len(body), truncated)
		}
		sawShort = sawShort || !truncated
		sawLong = sawLong || truncated
	}
	if !sawShort || !sawLong {
		t.Errorf("range did not cross the limit: short %v long %v", sawShort, sawLong)
	}
}
