// Package ratelimit owns alert noise control: token buckets per rule and
// across all rules, de-duplication of identical alerts within a window, and
// the periodic summary alert that says how many alerts of which rule were
// suppressed, so that nothing is held back silently.
package ratelimit

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nightjar-sec/nightjar/internal/alert"
)

// Limit is a token bucket: Rate alerts per second on average, up to Burst at
// once. A Rate of zero or less means no limit.
type Limit struct {
	Rate  float64
	Burst int
}

func (l Limit) unlimited() bool { return l.Rate <= 0 }

// Options configure a Limiter.
type Options struct {
	PerRule Limit            // each rule's bucket unless Rules names it
	Rules   map[string]Limit // per-rule overrides, by rule name
	Global  Limit            // one bucket shared by all rules
	// DedupWindow suppresses an alert identical to one passed less than
	// DedupWindow ago: same rule and same output fields, ignoring the
	// fields that change with every event (DedupIgnore). Zero disables.
	DedupWindow time.Duration
	// DedupIgnore lists output fields left out of the comparison. Default
	// DefaultDedupIgnore.
	DedupIgnore []string
	// Hostname and NewID fill the summary alert's hostname and uuid.
	Hostname string
	NewID    func() string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultDedupIgnore are the time and sequence fields, which differ between
// otherwise identical alerts.
var DefaultDedupIgnore = []string{"evt.time", "evt.rawtime", "evt.datetime", "evt.time.s", "evt.time.iso8601", "evt.datetime.s", "evt.num"}

// Verdict is the outcome of Check.
type Verdict int

// Verdicts.
const (
	Allow       Verdict = iota
	RateLimited         // over the rule's or the global rate
	Duplicate           // identical to a recent alert
)

func (v Verdict) String() string {
	switch v {
	case Allow:
		return "allow"
	case RateLimited:
		return "rate_limited"
	case Duplicate:
		return "duplicate"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

type bucket struct {
	limit  Limit
	tokens float64
	last   time.Time
}

// take refills the bucket to now and takes a token if there is one.
func (b *bucket) take(now time.Time) bool {
	if b.limit.unlimited() {
		return true
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(float64(max(b.limit.Burst, 1)), b.tokens+el*b.limit.Rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

func newBucket(l Limit, now time.Time) *bucket {
	return &bucket{limit: l, tokens: float64(max(l.Burst, 1)), last: now}
}

type counts struct{ rateLimited, duplicates uint64 }

// Limiter decides which alerts pass. It is safe for concurrent use.
type Limiter struct {
	opts   Options
	ignore map[string]bool
	seed   maphash.Seed

	mu         sync.Mutex
	global     *bucket
	rules      map[string]*bucket
	seen       map[uint64]time.Time // dedup key → when the window ends
	suppressed map[string]*counts
	since      time.Time
}

// New returns a Limiter.
func New(opts Options) *Limiter {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DedupIgnore == nil {
		opts.DedupIgnore = DefaultDedupIgnore
	}
	now := opts.Now()
	l := &Limiter{
		opts:       opts,
		ignore:     make(map[string]bool),
		seed:       maphash.MakeSeed(),
		global:     newBucket(opts.Global, now),
		rules:      make(map[string]*bucket),
		seen:       make(map[uint64]time.Time),
		suppressed: make(map[string]*counts),
		since:      now,
	}
	for _, f := range opts.DedupIgnore {
		l.ignore[f] = true
	}
	return l
}

// Check decides whether a passes, and counts it for the summary if not.
// Duplicates are decided first, so they take no tokens.
func (l *Limiter) Check(a *alert.Alert) Verdict {
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opts.DedupWindow > 0 {
		k := l.key(a)
		if until, ok := l.seen[k]; ok && now.Before(until) {
			l.count(a.Rule).duplicates++
			return Duplicate
		}
		l.seen[k] = now.Add(l.opts.DedupWindow)
		if len(l.seen) > 1<<16 {
			l.prune(now)
		}
	}
	rb := l.rules[a.Rule]
	if rb == nil {
		lim, ok := l.opts.Rules[a.Rule]
		if !ok {
			lim = l.opts.PerRule
		}
		rb = newBucket(lim, now)
		l.rules[a.Rule] = rb
	}
	if !rb.take(now) {
		l.count(a.Rule).rateLimited++
		return RateLimited
	}
	if !l.global.take(now) {
		rb.tokens++ // the rule's token was not used after all
		l.count(a.Rule).rateLimited++
		return RateLimited
	}
	return Allow
}

func (l *Limiter) count(rule string) *counts {
	c := l.suppressed[rule]
	if c == nil {
		c = &counts{}
		l.suppressed[rule] = c
	}
	return c
}

func (l *Limiter) prune(now time.Time) {
	for k, until := range l.seen {
		if !now.Before(until) {
			delete(l.seen, k)
		}
	}
}

// key hashes the rule and the output fields (sorted, minus ignored ones).
func (l *Limiter) key(a *alert.Alert) uint64 {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(a.Rule)
	h.WriteByte(0)
	keys := make([]string, 0, len(a.OutputFields))
	for k := range a.OutputFields {
		if !l.ignore[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		h.WriteString(k)
		h.WriteByte(0)
		fmt.Fprintf(&h, "%T:%v", a.OutputFields[k], a.OutputFields[k])
		h.WriteByte(0)
	}
	return h.Sum64()
}

// SummaryRule is the rule name of the summary alert.
const SummaryRule = "Nightjar internal: alerts suppressed"

// Summary returns an alert that reports the alerts suppressed since the
// previous Summary, by rule, and resets the counts; nil when none were.
// The daemon calls it every summary interval.
func (l *Limiter) Summary() *alert.Alert {
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	since := l.since
	l.since = now
	if len(l.suppressed) == 0 {
		return nil
	}
	type row struct {
		rule string
		c    counts
	}
	rows := make([]row, 0, len(l.suppressed))
	var total, rl, dup uint64
	byRule := make(map[string]any, len(l.suppressed))
	for r, c := range l.suppressed {
		rows = append(rows, row{r, *c})
		rl += c.rateLimited
		dup += c.duplicates
		byRule[r] = c.rateLimited + c.duplicates
	}
	total = rl + dup
	clear(l.suppressed)
	slices.SortFunc(rows, func(a, b row) int {
		if c := cmp.Compare(b.c.rateLimited+b.c.duplicates, a.c.rateLimited+a.c.duplicates); c != 0 {
			return c
		}
		return strings.Compare(a.rule, b.rule)
	})
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: Notice %d alerts suppressed since %s:", now.UTC().Format("15:04:05.000000000"), total, since.UTC().Format(time.RFC3339))
	for i, r := range rows {
		if i > 0 {
			sb.WriteByte(';')
		}
		fmt.Fprintf(&sb, " %q %d (rate limited %d, duplicates %d)", r.rule, r.c.rateLimited+r.c.duplicates, r.c.rateLimited, r.c.duplicates)
	}
	a := &alert.Alert{
		Time:     now,
		Rule:     SummaryRule,
		Priority: alert.PriorityNotice,
		Source:   "internal",
		Hostname: l.opts.Hostname,
		Tags:     []string{"nightjar", "rate_limit"},
		Output:   sb.String(),
		OutputFields: map[string]any{
			"nightjar.suppressed":              total,
			"nightjar.suppressed.rate_limited": rl,
			"nightjar.suppressed.duplicates":   dup,
			"nightjar.suppressed.rules":        byRule,
			"nightjar.suppressed.since":        since.UTC().Format(time.RFC3339Nano),
		},
	}
	if l.opts.NewID != nil {
		a.UUID = l.opts.NewID()
	}
	return a
}

// Run calls emit with a summary alert every interval while there were
// suppressions, until ctx ends; then it emits a last summary.
func (l *Limiter) Run(ctx context.Context, interval time.Duration, emit func(*alert.Alert)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if a := l.Summary(); a != nil {
				emit(a)
			}
			return
		case <-t.C:
			if a := l.Summary(); a != nil {
				emit(a)
			}
		}
	}
}
