// Package telemetry owns the daemon's self-observation: Prometheus metrics
// on the daemon's own registry (events, kernel drops, decoder errors, rule
// evaluations, alerts, suppressions, per-output delivery), the /healthz
// verdict (capture stalled, an output failing too long), and the alert
// raised when the kernel drops events.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nightjar-sec/nightjar/daemon/output"
	"github.com/nightjar-sec/nightjar/internal/alert"
)

// Options configure Metrics.
type Options struct {
	// CaptureStall: /healthz fails when the capture loop has not reported
	// progress (CaptureAlive) for this long. Zero disables the check.
	CaptureStall time.Duration
	// OutputFailure: /healthz fails when an output has been failing for this
	// long. Zero disables the check.
	OutputFailure time.Duration
	// Outputs returns the outputs' counters (output.Fanout.Stats); read at
	// every scrape and health check. May be nil.
	Outputs func() map[string]output.Stats
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Profiling serves Go's profiles under /debug/pprof/ (debug.pprof).
	Profiling bool
}

// Metrics is the daemon's metric set and health state. Its methods are safe
// for concurrent use and cheap enough to call per event.
type Metrics struct {
	opts Options
	reg  *prometheus.Registry

	events        *prometheus.CounterVec
	decoderErrors *prometheus.CounterVec
	ruleEvals     prometheus.Counter
	alerts        *prometheus.CounterVec
	suppressed    *prometheus.CounterVec
	kernelDrops   atomic.Uint64

	started     time.Time
	lastCapture atomic.Int64 // unix nanoseconds

	mu      sync.Mutex
	outputs func() map[string]output.Stats
	// retired sums the final counters of the outputs replaced by reloads,
	// so that the exported totals never go backwards.
	retired map[string]output.Stats
	health  healthLimits

	droppedBeforeOutputs *prometheus.CounterVec
}

type healthLimits struct{ captureStall, outputFailure time.Duration }

// New returns Metrics registered on a new registry, with the Go runtime and
// process collectors.
func New(opts Options) *Metrics {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Metrics{
		opts:    opts,
		reg:     prometheus.NewRegistry(),
		started: opts.Now(),
		outputs: opts.Outputs,
		retired: map[string]output.Stats{},
		health:  healthLimits{opts.CaptureStall, opts.OutputFailure},
		droppedBeforeOutputs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_alerts_dropped_total", Help: "Alerts dropped before reaching any output, by reason (reload: the outputs were being replaced and the hand-over buffer was full).",
		}, []string{"reason"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_events_captured_total", Help: "Events read from the kernel ring buffer, by event type.",
		}, []string{"type"}),
		decoderErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_decoder_errors_total", Help: "Ring buffer records that could not be decoded, by reason.",
		}, []string{"reason"}),
		ruleEvals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nightjar_rule_evaluations_total", Help: "Rule conditions evaluated against events.",
		}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_alerts_total", Help: "Alerts raised, by rule and priority (before rate limiting).",
		}, []string{"rule", "priority"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_alerts_suppressed_total", Help: "Alerts held back by noise control, by rule and reason (rate_limited, duplicate).",
		}, []string{"rule", "reason"}),
	}
	m.reg.MustRegister(m.events, m.decoderErrors, m.ruleEvals, m.alerts, m.suppressed, m.droppedBeforeOutputs,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "nightjar_kernel_drops_total", Help: "Events the kernel side dropped (ring buffer full), summed over CPUs.",
		}, func() float64 { return float64(m.kernelDrops.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "nightjar_healthy", Help: "1 when /healthz reports healthy, else 0.",
		}, func() float64 {
			if ok, _ := m.Health(); ok {
				return 1
			}
			return 0
		}),
		outputCollector{m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry, for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetOutputs sets the source of the outputs' counters (after a reload, the
// new fan-out's Stats).
func (m *Metrics) SetOutputs(f func() map[string]output.Stats) {
	m.mu.Lock()
	m.outputs = f
	m.mu.Unlock()
}

// RetireOutputs takes the final counters of outputs that a reload closed:
// their delivered, dropped and reconnect counts are carried into the
// totals, and they stop being the source of the outputs' counters until
// SetOutputs names the new ones.
func (m *Metrics) RetireOutputs(final map[string]output.Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, st := range final {
		r := m.retired[name]
		r.Delivered += st.Delivered
		r.Dropped += st.Dropped + st.Pending // left in memory at close: lost
		r.Reconnects += st.Reconnects
		m.retired[name] = r
	}
	m.outputs = nil
}

// SetHealth changes the /healthz limits (after a reload); zero disables a check.
func (m *Metrics) SetHealth(captureStall, outputFailure time.Duration) {
	m.mu.Lock()
	m.health = healthLimits{captureStall, outputFailure}
	m.mu.Unlock()
}

// AlertsDropped counts alerts lost before any output saw them.
func (m *Metrics) AlertsDropped(reason string, n uint64) {
	m.droppedBeforeOutputs.WithLabelValues(reason).Add(float64(n))
}

func (m *Metrics) outputStats() map[string]output.Stats {
	m.mu.Lock()
	f := m.outputs
	retired := make(map[string]output.Stats, len(m.retired))
	for k, v := range m.retired {
		retired[k] = v
	}
	m.mu.Unlock()
	var cur map[string]output.Stats
	if f != nil {
		cur = f()
	}
	if len(retired) == 0 {
		return cur
	}
	out := make(map[string]output.Stats, len(cur)+len(retired))
	for k, v := range cur {
		out[k] = v
	}
	for k, r := range retired {
		st := out[k]
		st.Delivered += r.Delivered
		st.Dropped += r.Dropped
		st.Reconnects += r.Reconnects
		out[k] = st
	}
	return out
}

// EventsCaptured adds n events of the given type (e.g. "execve").
func (m *Metrics) EventsCaptured(eventType string, n uint64) {
	m.events.WithLabelValues(eventType).Add(float64(n))
}

// EventCounter returns the counter for one event type, so that the capture
// loop can skip the label lookup per event.
func (m *Metrics) EventCounter(eventType string) prometheus.Counter {
	return m.events.WithLabelValues(eventType)
}

// SetKernelDrops records the kernel's cumulative drop count.
func (m *Metrics) SetKernelDrops(total uint64) { m.kernelDrops.Store(total) }

// DecoderError counts a record that could not be decoded.
func (m *Metrics) DecoderError(reason string) { m.decoderErrors.WithLabelValues(reason).Inc() }

// RuleEvaluations adds n rule evaluations.
func (m *Metrics) RuleEvaluations(n uint64) { m.ruleEvals.Add(float64(n)) }

// AlertRaised counts an alert.
func (m *Metrics) AlertRaised(rule string, p alert.Priority) {
	m.alerts.WithLabelValues(rule, p.String()).Inc()
}

// AlertSuppressed counts an alert held back; reason is "rate_limited" or "duplicate".
func (m *Metrics) AlertSuppressed(rule, reason string) {
	m.suppressed.WithLabelValues(rule, reason).Inc()
}

// CaptureAlive records that the capture loop made progress: it read events
// or its poll of the ring buffer returned. Call it at least once per poll.
func (m *Metrics) CaptureAlive() { m.lastCapture.Store(m.opts.Now().UnixNano()) }

// Health reports whether the daemon is healthy, and if not, why.
func (m *Metrics) Health() (bool, []string) {
	now := m.opts.Now()
	m.mu.Lock()
	limits := m.health
	m.mu.Unlock()
	var problems []string
	if limits.captureStall > 0 {
		last := m.started
		if ns := m.lastCapture.Load(); ns != 0 {
			last = time.Unix(0, ns)
		}
		if d := now.Sub(last); d > limits.captureStall {
			problems = append(problems, fmt.Sprintf("capture: no progress for %s (limit %s)", d.Round(time.Millisecond), limits.captureStall))
		}
	}
	if limits.outputFailure > 0 {
		stats := m.outputStats()
		names := make([]string, 0, len(stats))
		for n := range stats {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			since := stats[n].FailingSince
			if !since.IsZero() && now.Sub(since) > limits.outputFailure {
				problems = append(problems, fmt.Sprintf("output %s: failing for %s (limit %s)", n, now.Sub(since).Round(time.Millisecond), limits.outputFailure))
			}
		}
	}
	return len(problems) == 0, problems
}

// Handler serves /metrics and /healthz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, problems := m.Health()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, strings.Join(problems, "\n"))
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if m.opts.Profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	return mux
}

// Serve serves Handler on addr until ctx ends.
func (m *Metrics) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return m.ServeListener(ctx, ln)
}

// ServeListener serves Handler on ln until ctx ends.
func (m *Metrics) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// outputCollector exports the outputs' counters at scrape time.
type outputCollector struct{ m *Metrics }

var (
	descDelivered  = prometheus.NewDesc("nightjar_output_alerts_delivered_total", "Alerts the output's destination accepted.", []string{"output"}, nil)
	descPending    = prometheus.NewDesc("nightjar_output_alerts_pending", "Alerts held in memory for the output.", []string{"output"}, nil)
	descSpooled    = prometheus.NewDesc("nightjar_output_alerts_spooled", "Alerts held in the output's disk spool.", []string{"output"}, nil)
	descDropped    = prometheus.NewDesc("nightjar_output_alerts_dropped_total", "Alerts the output gave up on.", []string{"output"}, nil)
	descReconnects = prometheus.NewDesc("nightjar_output_reconnects_total", "Connections re-established after a failure (forward output).", []string{"output"}, nil)
	descFailing    = prometheus.NewDesc("nightjar_output_failing_seconds", "How long the output has been failing; 0 when it is not.", []string{"output"}, nil)
)

func (c outputCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDelivered, descPending, descSpooled, descDropped, descReconnects, descFailing} {
		ch <- d
	}
}

func (c outputCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.m.opts.Now()
	for name, st := range c.m.outputStats() {
		ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(st.Delivered), name)
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending), name)
		ch <- prometheus.MustNewConstMetric(descSpooled, prometheus.GaugeValue, float64(st.Spooled), name)
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.Dropped), name)
		ch <- prometheus.MustNewConstMetric(descReconnects, prometheus.CounterValue, float64(st.Reconnects), name)
		failing := 0.0
		if !st.FailingSince.IsZero() {
			failing = now.Sub(st.FailingSince).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(descFailing, prometheus.GaugeValue, failing, name)
	}
}
