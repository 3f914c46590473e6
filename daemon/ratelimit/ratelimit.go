// Package ratelimit owns alert noise control: token buckets per rule and
// source, and across all rules, de-duplication of identical alerts within a
// window, and the periodic summary alert that says how many alerts of which
// rule, and from which sources, were suppressed, so that nothing is held
// back silently.
//
// A rule's bucket is kept per source: the rule and the identity of the
// process that raised the alert (its container, program, command line and
// user, as far as the alert's output fields name them; see KeyFields). One
// noisy process therefore empties only its own bucket: the same rule raised
// by any other process still passes. The first alert of every source is
// always delivered, even over the global limit, so flooding cannot hide a
// new actor. Sources live in a table of bounded size; when it is full the
// least recently seen source is evicted and counted, and an evicted source
// that comes back is new again, which errs towards delivering.
package ratelimit

import (
	"cmp"
	"container/list"
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
	// KeyFields are the output fields that identify an alert's source,
	// with the rule name. Default DefaultKeyFields.
	KeyFields []string
	// MaxKeys bounds the table of sources. Default DefaultMaxKeys.
	MaxKeys int
	// MaxSummaryKeys bounds the sources a summary lists; the rest are
	// counted. Default DefaultMaxSummaryKeys.
	MaxSummaryKeys int
}

// DefaultKeyFields identify the process behind an alert: its container,
// program, command line and user. The pipeline puts container.id in every
// alert; the others count when the rule's output has them.
var DefaultKeyFields = []string{"container.id", "proc.exepath", "proc.name", "proc.cmdline", "user.uid", "user.name"}

// Defaults of Options.
const (
	DefaultMaxKeys        = 10000
	DefaultMaxSummaryKeys = 50
)

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

// source is one entry of the table: a rule raised by one source.
type source struct {
	hash   uint64
	rule   string
	fields map[string]any // the key fields' values, for the summary
	bucket *bucket
	counts counts // suppressed since the last summary
	elem   *list.Element
}

// Stats are the Limiter's counters since it was made.
type Stats struct {
	Keys      int    // sources in the table now
	Evictions uint64 // sources evicted from the full table
	// FirstPassed counts first alerts of a source let through although
	// the global bucket was empty.
	FirstPassed uint64
}

// Limiter decides which alerts pass. It is safe for concurrent use.
type Limiter struct {
	opts   Options
	ignore map[string]bool
	seed   maphash.Seed

	mu         sync.Mutex
	global     *bucket
	sources    map[uint64]*source
	lru        *list.List           // of *source, most recently seen first
	seen       map[uint64]time.Time // dedup key → when the window ends
	suppressed map[string]*counts
	since      time.Time
	stats      Stats
	evicted    uint64 // since the last summary
}

// New returns a Limiter.
func New(opts Options) *Limiter {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DedupIgnore == nil {
		opts.DedupIgnore = DefaultDedupIgnore
	}
	if opts.KeyFields == nil {
		opts.KeyFields = DefaultKeyFields
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.MaxSummaryKeys <= 0 {
		opts.MaxSummaryKeys = DefaultMaxSummaryKeys
	}
	now := opts.Now()
	l := &Limiter{
		opts:       opts,
		ignore:     make(map[string]bool),
		seed:       maphash.MakeSeed(),
		global:     newBucket(opts.Global, now),
		sources:    make(map[uint64]*source),
		lru:        list.New(),
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
			if s := l.sources[l.sourceKey(a)]; s != nil {
				s.counts.duplicates++
			}
			return Duplicate
		}
		l.seen[k] = now.Add(l.opts.DedupWindow)
		if len(l.seen) > 1<<16 {
			l.prune(now)
		}
	}
	s, first := l.source(a, now)
	if first {
		// A source's first alert always passes; it still spends a global
		// token when there is one, so the flood it may start is counted
		// against the others' budget.
		if !l.global.take(now) {
			l.stats.FirstPassed++
		}
		s.bucket.take(now)
		return Allow
	}
	if !s.bucket.take(now) {
		l.count(a.Rule).rateLimited++
		s.counts.rateLimited++
		return RateLimited
	}
	if !l.global.take(now) {
		s.bucket.tokens++ // the source's token was not used after all
		l.count(a.Rule).rateLimited++
		s.counts.rateLimited++
		return RateLimited
	}
	return Allow
}

// Stats returns the Limiter's counters.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats
	st.Keys = len(l.sources)
	return st
}

// source returns a's entry in the table, adding it (first is true) when
// the table does not have it, evicting the least recently seen when full.
func (l *Limiter) source(a *alert.Alert, now time.Time) (s *source, first bool) {
	h := l.sourceKey(a)
	if s := l.sources[h]; s != nil {
		l.lru.MoveToFront(s.elem)
		return s, false
	}
	for len(l.sources) >= l.opts.MaxKeys {
		old := l.lru.Remove(l.lru.Back()).(*source)
		delete(l.sources, old.hash)
		l.stats.Evictions++
		l.evicted++
	}
	lim, ok := l.opts.Rules[a.Rule]
	if !ok {
		lim = l.opts.PerRule
	}
	s = &source{hash: h, rule: a.Rule, bucket: newBucket(lim, now), fields: make(map[string]any, len(l.opts.KeyFields))}
	for _, f := range l.opts.KeyFields {
		if v, ok := a.OutputFields[f]; ok {
			s.fields[f] = v
		}
	}
	s.elem = l.lru.PushFront(s)
	l.sources[h] = s
	return s, true
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

// sourceKey hashes the rule and the key fields.
func (l *Limiter) sourceKey(a *alert.Alert) uint64 {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(a.Rule)
	h.WriteByte(0)
	for _, k := range l.opts.KeyFields {
		v, ok := a.OutputFields[k]
		if !ok {
			h.WriteByte(1)
			continue
		}
		fmt.Fprintf(&h, "%T:%v", v, v)
		h.WriteByte(0)
	}
	return h.Sum64()
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
// previous Summary, by rule and by source (the most suppressed first, up
// to MaxSummaryKeys), and the sources evicted from the table, and resets
// the counts; nil when there was nothing to report. The daemon calls it
// every summary interval.
func (l *Limiter) Summary() *alert.Alert {
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	since := l.since
	l.since = now
	evicted := l.evicted
	l.evicted = 0
	if len(l.suppressed) == 0 && evicted == 0 {
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

	var srcs []*source
	for _, s := range l.sources {
		if s.counts != (counts{}) {
			srcs = append(srcs, s)
		}
	}
	slices.SortFunc(srcs, func(a, b *source) int {
		if c := cmp.Compare(b.counts.rateLimited+b.counts.duplicates, a.counts.rateLimited+a.counts.duplicates); c != 0 {
			return c
		}
		if c := strings.Compare(a.rule, b.rule); c != 0 {
			return c
		}
		return cmp.Compare(a.hash, b.hash)
	})
	keys := make([]any, 0, min(len(srcs), l.opts.MaxSummaryKeys))
	for i, s := range srcs {
		if i < l.opts.MaxSummaryKeys {
			k := make(map[string]any, len(s.fields)+4)
			for f, v := range s.fields {
				k[f] = v
			}
			k["rule"] = s.rule
			k["suppressed"] = s.counts.rateLimited + s.counts.duplicates
			k["rate_limited"] = s.counts.rateLimited
			k["duplicates"] = s.counts.duplicates
			keys = append(keys, k)
		}
		s.counts = counts{}
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: Notice %d alerts suppressed since %s:", now.UTC().Format("15:04:05.000000000"), total, since.UTC().Format(time.RFC3339))
	for i, r := range rows {
		if i > 0 {
			sb.WriteByte(';')
		}
		fmt.Fprintf(&sb, " %q %d (rate limited %d, duplicates %d)", r.rule, r.c.rateLimited+r.c.duplicates, r.c.rateLimited, r.c.duplicates)
	}
	if len(keys) > 0 {
		fmt.Fprintf(&sb, "; from %d sources:", len(srcs))
		for i, k := range keys {
			if i > 0 {
				sb.WriteByte(',')
			}
			k := k.(map[string]any)
			fmt.Fprintf(&sb, " %q", k["rule"])
			for _, f := range l.opts.KeyFields {
				if v, ok := k[f]; ok {
					fmt.Fprintf(&sb, " %s=%v", f, v)
				}
			}
			fmt.Fprintf(&sb, " %d", k["suppressed"])
		}
		if len(srcs) > len(keys) {
			fmt.Fprintf(&sb, " and %d more", len(srcs)-len(keys))
		}
	}
	if evicted > 0 {
		fmt.Fprintf(&sb, "; %d sources evicted from the rate limit table", evicted)
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
			"nightjar.suppressed.keys":         keys,
			"nightjar.suppressed.keys_omitted": uint64(len(srcs) - len(keys)),
			"nightjar.suppressed.evictions":    evicted,
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
