package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nightjar-sec/nightjar/daemon/caps"
	"github.com/nightjar-sec/nightjar/daemon/capture"
	"github.com/nightjar-sec/nightjar/daemon/config"
	"github.com/nightjar-sec/nightjar/daemon/delivery"
	"github.com/nightjar-sec/nightjar/daemon/pipeline"
	"github.com/nightjar-sec/nightjar/daemon/proctable"
	"github.com/nightjar-sec/nightjar/daemon/telemetry"
	"github.com/nightjar-sec/nightjar/internal/alert"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/rules"
	"github.com/nightjar-sec/nightjar/rules/dnsnames"
)

// shutdownTimeout bounds the flush of pending alerts at exit.
const shutdownTimeout = 10 * time.Second

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (HCL); built-in defaults when empty")
	var rulePaths stringList
	fs.Var(&rulePaths, "rules", "rules file or directory, loaded after the configured ones (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	d := &daemon{cfgPath: *cfgPath, extraRules: rulePaths, log: log}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := d.run(ctx); err != nil {
		fmt.Fprintln(stderr, "nightjar:", err)
		return 1
	}
	return 0
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// daemon is one run of the detection daemon.
type daemon struct {
	cfgPath    string
	extraRules []string
	log        *slog.Logger

	metrics *telemetry.Metrics
	capture *capture.Capture
	pipe    *pipeline.Pipeline

	// Counters as of the previous report, for deltas.
	events, evals uint64

	// mu guards the fields below. It is never held across I/O: a reload
	// swaps the outputs while alerts keep being accepted into gap, so the
	// event loop never waits for an old output's flush.
	mu       sync.RWMutex
	delivery *delivery.Delivery // nil while a reload replaces the outputs
	gap      []*alert.Alert     // alerts raised while delivery is nil
	gapLimit int
	cfg      *config.Config // the running configuration
	closed   bool           // the outputs are closed for good

	dns   *dnsnames.Cache // host names the rules compare fd.*ip.name with
	pause pauseGate       // debug.pause_signals
}

// pauseGate holds the event loop while paused (debug.pause_signals).
type pauseGate struct {
	paused atomic.Bool
	mu     sync.Mutex
	resume chan struct{}
}

func (g *pauseGate) set(paused bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if paused == g.paused.Load() {
		return
	}
	if paused {
		g.resume = make(chan struct{})
	} else {
		close(g.resume)
	}
	g.paused.Store(paused)
}

// wait blocks while the gate is paused; one atomic load when it is not.
func (g *pauseGate) wait() {
	if !g.paused.Load() {
		return
	}
	g.mu.Lock()
	ch := g.resume
	g.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// healthOptions are the /healthz limits of cfg.
func healthOptions(cfg *config.Config) telemetry.Options {
	var o telemetry.Options
	if cfg.Health != nil {
		o.CaptureStall, o.OutputFailure = cfg.Health.CaptureStall, cfg.Health.OutputFailure
	}
	o.Profiling = cfg.Debug != nil && cfg.Debug.Pprof
	return o
}

// gapLimit bounds the alerts held while a reload replaces the outputs.
func gapLimit(cfg *config.Config) int { return max(cfg.OutputQueueSize, 10000) }

// loadConfig reads the configuration file, or the defaults without one.
func (d *daemon) loadConfig() (*config.Config, error) {
	if d.cfgPath == "" {
		return config.Default(), nil
	}
	return config.Load(d.cfgPath)
}

// loadRules loads the rules the configuration and the command line name.
func (d *daemon) loadRules(cfg *config.Config) (*rules.Set, error) {
	rc := cfg.Rules
	opts := rules.Options{Hostname: cfg.Hostname, DNS: d.dns, ExtraFields: cfg.AppendFields}
	paths := append([]string(nil), d.extraRules...)
	defaults := true
	if rc != nil {
		minPriority := rc.MinPriority
		opts.MinPriority = &minPriority
		opts.EnableRules, opts.DisableRules = rc.Enabled, rc.Disabled
		opts.EnableTags, opts.DisableTags = rc.EnabledTags, rc.DisabledTags
		paths = append(append([]string(nil), rc.Paths...), paths...)
		defaults = rc.DefaultRules
	}
	srcs, err := rules.ReadSources(paths...)
	if err != nil {
		return nil, err
	}
	if defaults {
		return rules.Default(opts, srcs...)
	}
	if len(srcs) == 0 {
		return nil, errors.New("no rules: default_rules is false and no rule paths are given")
	}
	return rules.Load(opts, srcs...)
}

func (d *daemon) run(ctx context.Context) error {
	if err := capture.CheckSystem(); err != nil {
		return err
	}
	cfg, err := d.loadConfig()
	if err != nil {
		return err
	}
	d.cfg = cfg
	d.dns = dnsnames.New(nil)
	go d.dns.Run(ctx)
	set, err := d.loadRules(cfg)
	if err != nil {
		return err
	}
	for _, w := range set.Warnings() {
		d.log.Warn("rules", "warning", w.Error())
	}

	d.metrics = telemetry.New(healthOptions(cfg))
	d.gapLimit = gapLimit(cfg)
	// delivery.New points the metrics at its outputs, here and on reload.
	if d.delivery, err = delivery.New(cfg, d.metrics, d.log); err != nil {
		return err
	}
	// On the error paths below; the normal exit flushes before it logs.
	defer d.closeOutputs()
	if cfg.Metrics != nil && cfg.Metrics.Enabled {
		// Listen now: a port below 1024 needs a capability dropped later.
		ln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		go func() {
			if err := d.metrics.ServeListener(ctx, ln); err != nil {
				d.log.Error("metrics listener", "err", err)
			}
		}()
	}

	resolver, closeMetadata, err := newResolver(cfg.Metadata)
	if err != nil {
		return err
	}
	defer closeMetadata()
	if err := registerResolverMetrics(d.metrics.Registry(), resolver); err != nil {
		return err
	}
	procs := proctable.New(proctable.Config{
		Containers: resolver,
		OnError:    func(err error) { d.log.Debug("proc", "err", err) },
	})
	ringSize, maxLatency := 0, time.Duration(-1) // -1: wake when caught up
	if cfg.Capture != nil {
		ringSize = int(cfg.Capture.RingBufferSize)
		if cfg.Capture.MaxLatency > 0 {
			maxLatency = cfg.Capture.MaxLatency
		}
	}
	types := pipeline.CaptureTypes(set)
	// Attached before /proc is read, so that nothing that starts during
	// the seed is missed.
	d.capture, err = pipeline.OpenCapture(ctx, capture.Config{
		RingBufferSize: ringSize,
		MaxLatency:     maxLatency,
		Types:          types,
		ExcludePIDs:    []uint32{uint32(os.Getpid())},
	}, procs)
	if err != nil {
		return err
	}
	// The programs are loaded and attached: keep only what reading /proc
	// needs before parsing anything containers control.
	if err := caps.Restrict(caps.Running...); err != nil {
		if !errors.Is(err, syscall.ENOTSUP) {
			return fmt.Errorf("drop capabilities: %w", err)
		}
		d.log.Error("running with full privileges", "err", err)
	}
	// One counter per type, looked up now rather than per event.
	var counters [event.NumTypes]prometheus.Counter
	for t := range counters {
		counters[t] = d.metrics.EventCounter(event.Type(t).String())
	}
	d.pipe = pipeline.New(pipeline.Config{
		Source:    pipeline.CaptureSource{Capture: d.capture},
		Processes: procs,
		Rules:     set,
		Emit:      d.emit,
		OnSkip:    func(error) { d.metrics.DecoderError("malformed") },
		OnEvent: func(ev *event.Event) {
			d.pause.wait()
			if ev.Type < event.NumTypes {
				counters[ev.Type].Inc()
			}
		},
	})
	d.log.Info("nightjar running", "version", version, "rules", countEnabled(set),
		"event_types", len(types), "config", d.cfgPath)

	pipeDone := make(chan error, 1)
	// The stall check counts from here, not from before the programs loaded.
	d.metrics.CaptureAlive()
	go func() { pipeDone <- d.pipe.Run(ctx) }()
	// Reloads run beside this loop, one at a time, so that the capture's
	// health keeps being reported while an old output flushes; a SIGHUP
	// during a reload asks for one more.
	reloadReq := make(chan struct{}, 1)
	reloadDone := make(chan struct{})
	go func() {
		defer close(reloadDone)
		for range reloadReq {
			d.reload()
		}
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	usr := make(chan os.Signal, 1)
	if cfg.Debug != nil && cfg.Debug.PauseSignals {
		signal.Notify(usr, syscall.SIGUSR1, syscall.SIGUSR2)
		defer signal.Stop(usr)
		d.log.Warn("debug.pause_signals is on: SIGUSR1 pauses the event loop, SIGUSR2 resumes it")
	}
	defer d.pause.set(false)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-pipeDone:
			runErr = err
			pipeDone = nil
			break loop
		case <-hup:
			select {
			case reloadReq <- struct{}{}:
			default:
			}
		case sig := <-usr:
			d.pause.set(sig == syscall.SIGUSR1)
			d.log.Warn("event loop", "paused", sig == syscall.SIGUSR1)
		case <-tick.C:
			d.report()
		}
	}
	close(reloadReq)
	<-reloadDone
	// Closing the capture unblocks the pipeline's Read.
	d.pause.set(false)
	if err := d.capture.Close(); err != nil {
		d.log.Warn("close capture", "err", err)
	}
	if pipeDone != nil {
		if err := <-pipeDone; err != nil && runErr == nil {
			runErr = err
		}
	}
	d.report()
	d.closeOutputs()
	st := d.pipe.Stats()
	// Records no Read took before the programs were detached are lost;
	// say how many, as the last word on what this run saw.
	var discarded, kernelDrops uint64
	if cs, err := d.capture.Stats(); err == nil {
		discarded, kernelDrops = cs.Discarded, cs.Drops
	}
	d.log.Info("nightjar stopped", "events", st.Events, "alerts", st.Matches, "skipped", st.Skipped,
		"kernel_drops", kernelDrops, "discarded_at_close", discarded)
	return runErr
}

// closeOutputs flushes pending alerts, bounded by shutdownTimeout, and
// closes the outputs; later calls do nothing.
func (d *daemon) closeOutputs() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	dl := d.delivery
	d.mu.Unlock()
	if dl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := dl.Close(ctx); err != nil {
		d.log.Error("flush alerts at exit", "err", err)
	}
}

// emit hands an alert to delivery; it runs on the event goroutine and
// never waits for an output. While a reload replaces the outputs the alert
// is held (up to gapLimit, beyond which it is dropped and counted) and
// handed to the new outputs.
func (d *daemon) emit(a *alert.Alert) {
	d.mu.RLock()
	if dl := d.delivery; dl != nil {
		dl.Send(a)
		d.mu.RUnlock()
		return
	}
	d.mu.RUnlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.delivery != nil:
		d.delivery.Send(a)
	case len(d.gap) < d.gapLimit:
		d.gap = append(d.gap, a)
	default:
		d.metrics.AlertsDropped("reload", 1)
	}
}

// report publishes the capture's counters.
func (d *daemon) report() {
	st, err := d.capture.Stats()
	if err != nil {
		d.log.Warn("capture stats", "err", err)
		return
	}
	ps := d.pipe.Stats()
	// The capture is alive while events move or nothing waits in the ring;
	// a stuck event loop leaves records pending and the counts still.
	if ps.Events > d.events || d.capture.Pending() == 0 {
		d.metrics.CaptureAlive()
	}
	d.events = ps.Events
	if ps.Evaluations > d.evals {
		d.metrics.RuleEvaluations(ps.Evaluations - d.evals)
		d.evals = ps.Evaluations
	}
	d.mu.RLock()
	if d.delivery != nil {
		d.delivery.KernelDrops(st.Drops)
	}
	d.mu.RUnlock()
}

// reload re-reads the configuration and the rules. A configuration or rules
// error keeps everything running as it is; once the new rules are in place,
// outputs that fail to open fall back to the previous configuration's.
func (d *daemon) reload() {
	cfg, err := d.loadConfig()
	if err != nil {
		d.log.Error("reload: keeping the running configuration", "err", err)
		return
	}
	set, err := d.loadRules(cfg)
	if err != nil {
		d.log.Error("reload: keeping the running rules", "err", err)
		return
	}
	if err := d.capture.SetTypes(pipeline.CaptureTypes(set)); err != nil {
		d.log.Error("reload: keeping the running rules", "err", err)
		return
	}
	d.pipe.Reload(set)
	// Two deliveries must not share a spool directory, so the old one is
	// closed before the new one opens. Meanwhile emit holds the alerts in
	// d.gap; nothing waits for the old outputs' flush.
	d.mu.Lock()
	old := d.delivery
	d.delivery = nil
	d.mu.Unlock()
	if old != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := old.Close(ctx); err != nil {
			d.log.Error("reload: flush alerts", "err", err)
		}
		cancel()
	}
	nd, err := delivery.New(cfg, d.metrics, d.log)
	if err != nil {
		d.log.Error("reload: outputs failed; reopening the previous ones", "err", err)
		cfg = d.cfg
		if nd, err = delivery.New(cfg, d.metrics, d.log); err != nil {
			// Keep the closed delivery: it counts what it cannot send.
			d.log.Error("reload: no outputs", "err", err)
			nd = old
		}
	}
	d.mu.Lock()
	for _, a := range d.gap {
		nd.Send(a)
	}
	held := len(d.gap)
	d.gap = nil
	d.delivery, d.cfg = nd, cfg
	d.gapLimit = gapLimit(cfg)
	d.mu.Unlock()
	h := healthOptions(cfg)
	d.metrics.SetHealth(h.CaptureStall, h.OutputFailure)
	d.log.Info("reloaded", "rules", countEnabled(set), "alerts_held", held)
}

func countEnabled(set *rules.Set) int {
	n := 0
	for _, r := range set.Rules() {
		if r.Enabled {
			n++
		}
	}
	return n
}
