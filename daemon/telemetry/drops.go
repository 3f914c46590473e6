package telemetry

import (
	"fmt"
	"sync"
	"time"

	"github.com/nightjar-sec/nightjar/internal/alert"
)

// DropRule is the rule name of the kernel drop alert.
const DropRule = "Nightjar internal: kernel event drop"

// DropAlertOptions configure a DropAlerter.
type DropAlertOptions struct {
	// Threshold is how many drops since the last alert raise a new one.
	// Zero disables the alert.
	Threshold uint64
	// Interval is the least time between two alerts; drops in between are
	// carried into the next alert, not lost.
	Interval time.Duration
	Hostname string
	NewID    func() string
	Now      func() time.Time
}

// DropAlerter turns the kernel's cumulative drop counter into a rate-limited
// alert, as Falco's syscall event drop alert does: visibility was lost, and
// that is itself worth an alert.
type DropAlerter struct {
	opts DropAlertOptions

	mu        sync.Mutex
	base      uint64 // cumulative count at the last alert (or the first observation)
	primed    bool
	lastAlert time.Time
	since     time.Time
}

// NewDropAlerter returns a DropAlerter.
func NewDropAlerter(opts DropAlertOptions) *DropAlerter {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &DropAlerter{opts: opts}
}

// Observe takes the kernel's cumulative drop count and returns an alert
// when the drops since the last alert reach the threshold and the last
// alert is at least Interval old; otherwise nil.
func (d *DropAlerter) Observe(total uint64) *alert.Alert {
	now := d.opts.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.primed {
		// Drops before the daemon (re)started watching are not news.
		d.primed, d.base, d.since = true, total, now
		return nil
	}
	if total < d.base { // counter reset (programs reloaded)
		d.base = 0
	}
	n := total - d.base
	if d.opts.Threshold == 0 || n < d.opts.Threshold {
		return nil
	}
	if !d.lastAlert.IsZero() && now.Sub(d.lastAlert) < d.opts.Interval {
		return nil
	}
	since := d.since
	d.base, d.lastAlert, d.since = total, now, now
	a := &alert.Alert{
		Time:     now,
		Rule:     DropRule,
		Priority: alert.PriorityCritical,
		Source:   "internal",
		Hostname: d.opts.Hostname,
		Tags:     []string{"nightjar", "visibility"},
		Output: fmt.Sprintf("%s: Critical kernel event drop: %d events dropped since %s (%d in total); detections may have been missed",
			now.UTC().Format("15:04:05.000000000"), n, since.UTC().Format(time.RFC3339), total),
		OutputFields: map[string]any{
			"nightjar.drops":       n,
			"nightjar.drops.total": total,
			"nightjar.drops.since": since.UTC().Format(time.RFC3339Nano),
		},
	}
	if d.opts.NewID != nil {
		a.UUID = d.opts.NewID()
	}
	return a
}
