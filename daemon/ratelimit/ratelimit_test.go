package ratelimit

import (
	"fmt"
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
	// a: first, second, then its bucket of 2 is empty. b: its first alert
	// takes the last global token, the second finds none. c: a first
	// alert passes over the empty global bucket.
	want := []Verdict{Allow, Allow, RateLimited, Allow, RateLimited, Allow}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("verdicts %v, want %v", got, want)
		}
	}
	if st := l.Stats(); st.FirstPassed != 1 || st.Keys != 3 {
		t.Fatalf("stats %+v, want one first alert over the global limit, 3 keys", st)
	}
	if v := l.Check(mk("c", nil)); v != RateLimited {
		t.Fatalf("c's second alert with the global bucket empty: %v", v)
	}
	// A rule refused by the global bucket keeps its own token: after one
	// global token comes back, "b" (which had one left) passes.
	c.advance(time.Second)
	if v := l.Check(mk("b", nil)); v != Allow {
		t.Fatalf("b after global refill: %v", v)
	}
}

// proc is the output fields of one process's alert.
func proc(ctr, name, cmdline string, uid int64, extra map[string]any) map[string]any {
	f := map[string]any{"container.id": ctr, "proc.name": name, "proc.cmdline": cmdline, "user.uid": uid}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func TestNoisyProcessDoesNotBlindRule(t *testing.T) {
	c := newClock()
	l := New(Options{PerRule: Limit{Rate: 0.1, Burst: 3}, Global: Limit{Rate: 1, Burst: 10}, Now: c.now})
	const rule = "Read sensitive file untrusted"
	noisy := func(i int) *alert.Alert {
		return mk(rule, proc("host", "cat", "cat /etc/shadow", 0, map[string]any{"fd.name": "/etc/shadow", "evt.time": i}))
	}
	passed := 0
	for i := range 1000 {
		if l.Check(noisy(i)) == Allow {
			passed++
		}
	}
	// The noisy process had its burst; it also emptied the global bucket.
	if passed != 3 {
		t.Fatalf("noisy process: %d of 1000 passed, want its burst of 3", passed)
	}
	// The same rule, raised by other processes: another program, the same
	// program with another command line, the same one in a container, and
	// the same one as another user. Each one's first alert passes.
	others := []map[string]any{
		proc("host", "python3", "python3 -c open('/etc/shadow')", 0, nil),
		proc("host", "cat", "cat /etc/shadow /etc/gshadow", 0, nil),
		proc("3f2a1b4c5d6e", "cat", "cat /etc/shadow", 0, nil),
		proc("host", "cat", "cat /etc/shadow", 1000, nil),
	}
	for _, f := range others {
		if v := l.Check(mk(rule, f)); v != Allow {
			t.Errorf("%v: %v after another process flooded the rule", f, v)
		}
	}
	// The noisy process stays limited.
	if v := l.Check(noisy(1000)); v != RateLimited {
		t.Fatalf("noisy process after the others: %v", v)
	}

	s := l.Summary()
	if s == nil {
		t.Fatal("no summary")
	}
	keys, _ := s.OutputFields["nightjar.suppressed.keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("summary keys %v, want the noisy process alone", keys)
	}
	k := keys[0].(map[string]any)
	if k["rule"] != rule || k["proc.cmdline"] != "cat /etc/shadow" || k["container.id"] != "host" ||
		k["user.uid"] != int64(0) || k["suppressed"] != uint64(998) || k["rate_limited"] != uint64(998) {
		t.Fatalf("summary key %v", k)
	}
	if _, ok := k["fd.name"]; ok {
		t.Errorf("summary key carries a field that is not a key field: %v", k)
	}
	if !strings.Contains(s.Output, `from 1 sources: "Read sensitive file untrusted" container.id=host proc.name=cat proc.cmdline=cat /etc/shadow user.uid=0 998`) {
		t.Errorf("summary output %q", s.Output)
	}
}

func TestKeyTableBounded(t *testing.T) {
	c := newClock()
	l := New(Options{PerRule: Limit{Rate: 0.001, Burst: 1}, MaxKeys: 100, MaxSummaryKeys: 5, Now: c.now})
	// 1000 distinct processes: each first alert passes, the table stays
	// at 100 and the other 900 are evictions.
	for i := range 1000 {
		if v := l.Check(mk("r", proc("host", "x", fmt.Sprint("x ", i), 0, nil))); v != Allow {
			t.Fatalf("first alert of process %d: %v", i, v)
		}
	}
	if st := l.Stats(); st.Keys != 100 || st.Evictions != 900 {
		t.Fatalf("stats %+v, want 100 keys and 900 evictions", st)
	}
	// The newest 100 are in the table: their second alert is limited. The
	// oldest was evicted: it is new again and passes.
	for i := 900; i < 1000; i++ {
		if v := l.Check(mk("r", proc("host", "x", fmt.Sprint("x ", i), 0, nil))); v != RateLimited {
			t.Fatalf("second alert of process %d: %v", i, v)
		}
	}
	if v := l.Check(mk("r", proc("host", "x", "x 0", 0, nil))); v != Allow {
		t.Fatalf("evicted process: %v, want a first alert again", v)
	}
	s := l.Summary()
	if s == nil {
		t.Fatal("no summary")
	}
	keys := s.OutputFields["nightjar.suppressed.keys"].([]any)
	if len(keys) != 5 || s.OutputFields["nightjar.suppressed.keys_omitted"] != uint64(94) ||
		s.OutputFields["nightjar.suppressed.evictions"] != uint64(901) {
		t.Fatalf("summary: %d keys, omitted %v, evictions %v", len(keys),
			s.OutputFields["nightjar.suppressed.keys_omitted"], s.OutputFields["nightjar.suppressed.evictions"])
	}
	if !strings.Contains(s.Output, "and 94 more; 901 sources evicted") {
		t.Errorf("summary output %q", s.Output)
	}
	// Evictions alone are reported too.
	for i := range 200 {
		l.Check(mk("r", proc("host", "y", fmt.Sprint("y ", i), 0, nil)))
	}
	if s := l.Summary(); s == nil || s.OutputFields["nightjar.suppressed.evictions"] != uint64(200) || s.OutputFields["nightjar.suppressed"] != uint64(0) {
		t.Fatalf("summary after evictions alone: %+v", s)
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
