package jsontext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"bash -i", `"bash -i"`},
		{"user=<NA> a&b", `"user=<NA> a&b"`},
		{`say "hi" \o/`, `"say \"hi\" \\o/"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"é日本\U0001F600", `"é日本` + "\U0001F600" + `"`},
		{"a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
		{"\xe2\x80", `"\ufffd\ufffd"`},           // truncated sequence: one \ufffd a byte
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`}, // surrogate half
	} {
		if got := string(AppendString([]byte("x"), tc.in)); got != "x"+tc.want {
			t.Errorf("AppendString(%q) = %s, want %s", tc.in, got[1:], tc.want)
		}
		if got := string(AppendString(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("AppendString([]byte(%q)) = %s, want %s", tc.in, got, tc.want)
		}
		inner := tc.want[1 : len(tc.want)-1]
		if got := string(AppendEscaped(nil, tc.in)); got != inner {
			t.Errorf("AppendEscaped(%q) = %s, want %s", tc.in, got, inner)
		}
	}
	type name string
	if got := string(AppendString(nil, name("<NA>"))); got != `"<NA>"` {
		t.Errorf("named string type: %s", got)
	}
}

// encodingJSON returns what encoding/json writes for s without HTML escaping.
func encodingJSON(t testing.TB, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "<NA> & \"q\"", "\x00\x7f\t\n", "bad\xff", "\u2028", "é\xe2\x80"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got := AppendString(nil, in)
		if s := AppendString(nil, string(in)); !bytes.Equal(got, s) {
			t.Fatalf("[]byte and string forms differ: %s vs %s", got, s)
		}
		if want := encodingJSON(t, string(in)); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json writes %s", in, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s, not JSON: %v", in, got, err)
		}
		// Decoding gives the input with each invalid byte as U+FFFD.
		if want := string([]rune(string(in))); back != want {
			t.Fatalf("round trip of %q gave %q, want %q", in, back, want)
		}
		if esc := AppendEscaped(nil, in); !bytes.Equal(esc, got[1:len(got)-1]) {
			t.Fatalf("AppendEscaped(%q) = %s, AppendString %s", in, esc, got)
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	ascii := "18:00:00.123456789: Notice A shell was spawned in a container (user=root parent=<NA> cmdline=bash -i)"
	for _, bc := range []struct{ name, s string }{
		{"ascii", ascii},
		{"escapes", strings.Repeat("a \"b\"\tc\n", 12)},
		{"utf8", strings.Repeat("héllo wörld ", 8)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 512)
			bs := []byte(bc.s)
			b.SetBytes(int64(len(bc.s)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendString(buf[:0], bs)
			}
		})
	}
}
