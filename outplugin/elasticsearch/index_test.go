package elasticsearch

import (
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
)

func TestAppendInt(t *testing.T) {
	for _, c := range []struct {
		v, w int
		want string
	}{{5, 2, "05"}, {12, 2, "12"}, {2026, 4, "2026"}, {7, 3, "007"}, {123456789, 4, "123456789"}, {-5, 4, "0000"}, {0, 2, "00"}, {99, 3, "099"}} {
		if got := string(appendInt(nil, c.v, c.w)); got != c.want {
			t.Errorf("appendInt(%d, %d) = %q, want %q", c.v, c.w, got, c.want)
		}
	}
}

func TestIndexName(t *testing.T) {
	ts := time.Date(2026, 1, 4, 7, 0, 0, 0, time.UTC)
	chunk := recordtest.AppendRecord(nil, recordtest.EventTime, ts, recordtest.AppendAlert(nil, recordtest.Alert{Time: ts, Namespace: "Team A/B"}))
	r := recordtest.Decode(t, chunk)[0]
	for _, c := range []struct{ tmpl, want string }{
		{"nightjar-%Y.%m.%d", "nightjar-2026.01.04"},
		{"n-%H-%j-%V-100%%", "n-07-004-01-100%"},
		{"x-{{ output_fields.k8s.ns.name }}-%Y", "x-team_a_b-2026"},
		{"{{ nope }}", "unknown"},
		{"static", "static"},
	} {
		n, err := parseIndex(c.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(n.appendName(nil, "t", r)); got != c.want {
			t.Errorf("%s = %q, want %q", c.tmpl, got, c.want)
		}
	}
	for _, bad := range []string{"", "x%", "x%q", "{{ a"} {
		if _, err := parseIndex(bad); err == nil {
			t.Errorf("parseIndex(%q) succeeded", bad)
		}
	}
}
