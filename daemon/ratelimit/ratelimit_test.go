package ratelimit

import (
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/internal/alert"
)

// clock is a manual clock for the tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func mk(rule string, fields map[string]any) *alert.Alert {
	return &alert.Alert{Rule: rule, OutputFields: fields}
}

func TestPerRuleTokenBucket(t *testing.T) {
	c := newClock()
	l := New(Options{PerRule: Limit{Rate: 2, Burst: 5}, Rules: map[string]Limit{"quiet": {Rate: 0.5, Burst: 1}}, Now: c.now})
	pass := func(rule string, n int) int {
		ok := 0
		for i := range n {
			if l.Check(mk(rule, map[string]any{"i": i})) == Allow {
				ok++
			}
		}
		return ok
	}
	if got := pass("noisy", 10); got != 5 {
		t.Fatalf("burst: %d of 10 passed, want 5", got)
	}
	// Each rule has its own bucket.
	if got := pass("other", 3); got != 3 {
		t.Fatalf("another rule: %d of 3 passed, want 3", got)
	}
	c.advance(time.Second) // 2 tokens back
	if got := pass("noisy", 10); got != 2 {
		t.Fatalf("after 1s at 2/s: %d passed, want 2", got)
	}
	c.advance(time.Hour) // refill is capped at the burst
	if got := pass("noisy", 10); got != 5 {
		t.Fatalf("after 1h: %d passed, want burst 5", got)
	}
	// Override: 1 token, one every 2 s.
	if got := pass("quiet", 3); got != 1 {
		t.Fatalf("override: %d passed, want 1", got)
	}
	c.advance(1500 * time.Millisecond)
	if got := pass("quiet", 1); got != 0 {
		t.Fatalf("override after 1.5s: %d passed, want 0", got)
	}
	c.advance(500 * time.Millisecond)
	if got := pass("quiet", 1); got != 1 {
		t.Fatalf("override after 2s: %d passed, want 1", got)
	}

	s := l.Summary()
	if s == nil {
		t.Fatal("no summary after suppressions")
	}
	byRule := s.OutputFields["nightjar.suppressed.rules"].(map[string]any)
	if byRule["noisy"] != uint64(18) || byRule["quiet"] != uint64(3) || byRule["other"] != nil {
		t.Fatalf("summary by rule %v, want noisy 18, quiet 3", byRule)
	}
	if s.OutputFields["nightjar.suppressed"] != uint64(21) || s.Rule != SummaryRule {
		t.Fatalf("summary %+v", s)
	}
	if !strings.Contains(s.Output, `"noisy" 18 (rate limited 18, duplicates 0)`) {
		t.Fatalf("summary output %q", s.Output)
	}
	if l.Summary() != nil {
		t.Fatal("a second summary with nothing new suppressed")
	}
}

func TestGlobalLimit(t *testing.T) {
	c := newClock()
	l := New(Options{Global: Limit{Rate: 1, Burst: 3}, PerRule: Limit{Rate: 10, Burst: 2}, Now: c.now})
	var got []Verdict
	for _, r := range []string{"a", "a", "a", "b", "b", "c"} {
		got = append(got, l.Check(mk(r, nil)))
	}
	want := []Verdict{Allow, Allow, RateLimited, Allow, RateLimited, RateLimited}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("verdicts %v, want %v", got, want)
		}
	}
	// A rule refused by the global bucket keeps its own token: after one
	// global token comes back, "b" (which had one left) passes.
	c.advance(time.Second)
	if v := l.Check(mk("b", nil)); v != Allow {
		t.Fatalf("b after global refill: %v", v)
	}
}

func TestDedup(t *testing.T) {
	c := newClock()
	l := New(Options{DedupWindow: 10 * time.Second, Now: c.now})
	f := func(cmd string, ts uint64) map[string]any {
		return map[string]any{"proc.cmdline": cmd, "evt.time": ts, "container.id": "abc"}
	}
	if v := l.Check(mk("r", f("sh -i", 1))); v != Allow {
		t.Fatalf("first: %v", v)
	}
	// Same rule and fields, different event time: a duplicate.
	if v := l.Check(mk("r", f("sh -i", 2))); v != Duplicate {
		t.Fatalf("identical: %v", v)
	}
	// Different field value or different rule: not a duplicate.
	if v := l.Check(mk("r", f("sh -c id", 3))); v != Allow {
		t.Fatalf("other cmdline: %v", v)
	}
	if v := l.Check(mk("r2", f("sh -i", 4))); v != Allow {
		t.Fatalf("other rule: %v", v)
	}
	// An int and a string that print alike are different values.
	if v := l.Check(mk("t", map[string]any{"x": 1})); v != Allow {
		t.Fatal(v)
	}
	if v := l.Check(mk("t", map[string]any{"x": "1"})); v != Allow {
		t.Fatalf("typed values conflated: %v", v)
	}
	c.advance(9 * time.Second)
	if v := l.Check(mk("r", f("sh -i", 5))); v != Duplicate {
		t.Fatalf("within window: %v", v)
	}
	c.advance(time.Second)
	if v := l.Check(mk("r", f("sh -i", 6))); v != Allow {
		t.Fatalf("after window: %v", v)
	}
	s := l.Summary()
	if s == nil || s.OutputFields["nightjar.suppressed.duplicates"] != uint64(2) || s.OutputFields["nightjar.suppressed.rate_limited"] != uint64(0) {
		t.Fatalf("summary %+v", s)
	}
}

func TestUnlimitedByDefault(t *testing.T) {
	l := New(Options{})
	for i := range 10000 {
		if v := l.Check(mk("r", map[string]any{"i": i})); v != Allow {
			t.Fatalf("alert %d: %v with no limits configured", i, v)
		}
	}
	if l.Summary() != nil {
		t.Fatal("summary without suppressions")
	}
}
