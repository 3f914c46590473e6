// Package delivery assembles the daemon's alert delivery from its
// configuration: it completes each alert (uuid, hostname, the configured
// extra fields), applies noise control, hands the alert to every enabled
// output through the fan-out, and counts all of it in telemetry. The
// pipeline calls Send for each rule match.
package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/google/uuid"

	"github.com/nightjar-sec/nightjar/daemon/config"
	"github.com/nightjar-sec/nightjar/daemon/forward"
	"github.com/nightjar-sec/nightjar/daemon/output"
	"github.com/nightjar-sec/nightjar/daemon/ratelimit"
	"github.com/nightjar-sec/nightjar/daemon/spool"
	"github.com/nightjar-sec/nightjar/daemon/telemetry"
	"github.com/nightjar-sec/nightjar/internal/alert"
)

// Delivery is the alert path after the rules: noise control and outputs.
type Delivery struct {
	cfg     *config.Config
	metrics *telemetry.Metrics
	log     *slog.Logger
	limiter *ratelimit.Limiter
	fanout  *output.Fanout
	drops   *telemetry.DropAlerter

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds the outputs the configuration enables and starts delivery.
// metrics may be nil.
func New(cfg *config.Config, metrics *telemetry.Metrics, log *slog.Logger) (*Delivery, error) {
	if log == nil {
		log = slog.Default()
	}
	sinks, err := Sinks(cfg, log)
	if err != nil {
		return nil, err
	}
	d := &Delivery{cfg: cfg, metrics: metrics, log: log}
	limits := map[string]ratelimit.Limit{}
	for _, r := range cfg.RateLimit.Rules {
		limits[r.Name] = ratelimit.Limit{Rate: r.Rate, Burst: r.Burst}
	}
	window := cfg.Dedup.Window
	if !cfg.Dedup.Enabled {
		window = 0 // ratelimit's "no dedup"
	}
	d.limiter = ratelimit.New(ratelimit.Options{
		PerRule:     ratelimit.Limit{Rate: cfg.RateLimit.Rate, Burst: cfg.RateLimit.Burst},
		Rules:       limits,
		Global:      ratelimit.Limit{Rate: cfg.RateLimit.GlobalRate, Burst: cfg.RateLimit.GlobalBurst},
		DedupWindow: window,
		DedupIgnore: cfg.Dedup.IgnoreFields,
		Hostname:    cfg.Hostname,
		NewID:       uuid.NewString,
	})
	d.drops = telemetry.NewDropAlerter(telemetry.DropAlertOptions{
		Threshold: cfg.Health.DropAlertThreshold,
		Interval:  cfg.Health.DropAlertInterval,
		Hostname:  cfg.Hostname,
		NewID:     uuid.NewString,
	})
	d.fanout = output.NewFanout(output.FanoutOptions{QueueSize: cfg.OutputQueueSize, Logger: log}, sinks...)
	if metrics != nil {
		// The newest delivery is the one whose counters /metrics shows.
		metrics.SetOutputs(d.fanout.Stats)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.limiter.Run(ctx, cfg.RateLimit.SummaryInterval, d.sendInternal)
	}()
	return d, nil
}

// Sinks builds the enabled outputs, stdout first.
func Sinks(cfg *config.Config, log *slog.Logger) ([]output.Sink, error) {
	var sinks []output.Sink
	if cfg.Stdout.Enabled {
		sinks = append(sinks, output.NewStdout())
	}
	if c := cfg.File; c.Enabled {
		s, err := output.NewFile(output.FileOptions{Path: c.Path, MaxBytes: c.MaxSize, MaxBackups: c.MaxBackups})
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	if c := cfg.HTTP; c.Enabled {
		tc, err := tlsConfig(c)
		if err != nil {
			closeAll(sinks)
			return nil, err
		}
		s, err := output.NewHTTP(output.HTTPOptions{URL: c.URL, Headers: c.Headers, UserAgent: c.UserAgent, Timeout: c.Timeout, TLS: tc, Retries: c.Retries, Concurrency: c.Concurrency})
		if err != nil {
			closeAll(sinks)
			return nil, err
		}
		sinks = append(sinks, s)
	}
	if c := cfg.Forward; c.Enabled {
		mode, err := forward.ParseMode(c.Mode)
		if err != nil {
			closeAll(sinks)
			return nil, fmt.Errorf("forward_output: %w", err)
		}
		opts := forward.Options{
			Network: c.Network, Address: c.Target, Tag: c.Tag, Mode: mode, RequireAck: c.RequireAck,
			BatchSize: c.BatchSize, BatchBytes: int(c.BatchBytes), AckTimeout: c.AckTimeout,
			WriteTimeout: c.WriteTimeout, DialTimeout: c.DialTimeout,
			BackoffMin: c.BackoffMin, BackoffMax: c.BackoffMax, QueueSize: c.QueueSize, Logger: log,
		}
		if c.Spool.Enabled {
			opts.SpoolDir = c.Spool.Dir
			opts.Spool = spool.Options{MaxBytes: c.Spool.MaxSize, SegmentBytes: c.Spool.SegmentSize}
		}
		s, err := forward.New(opts)
		if err != nil {
			closeAll(sinks)
			return nil, err
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}

func closeAll(sinks []output.Sink) {
	for _, s := range sinks {
		s.Close(context.Background())
	}
}

func tlsConfig(c *config.HTTPOutput) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("http_output ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http_output ca_file %s: no PEM certificates", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("http_output client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Send completes a, applies noise control and queues it for every output.
// It does not block on the outputs.
func (d *Delivery) Send(a *alert.Alert) {
	d.complete(a)
	if d.metrics != nil {
		d.metrics.AlertRaised(a.Rule, a.Priority)
	}
	if v := d.limiter.Check(a); v != ratelimit.Allow {
		if d.metrics != nil {
			d.metrics.AlertSuppressed(a.Rule, v.String())
		}
		return
	}
	d.fanout.Send(a) // a full queue is counted as dropped by the fan-out
}

// sendInternal delivers the daemon's own alerts (suppression summaries,
// kernel drops), which noise control does not hold back.
func (d *Delivery) sendInternal(a *alert.Alert) {
	d.complete(a)
	if d.metrics != nil {
		d.metrics.AlertRaised(a.Rule, a.Priority)
	}
	d.fanout.Send(a)
}

func (d *Delivery) complete(a *alert.Alert) {
	if a.UUID == "" {
		a.UUID = uuid.NewString()
	}
	if a.Hostname == "" {
		a.Hostname = d.cfg.Hostname
	}
	if len(d.cfg.AppendOutput) > 0 {
		if a.OutputFields == nil {
			a.OutputFields = make(map[string]any, len(d.cfg.AppendOutput))
		}
		for k, v := range d.cfg.AppendOutput {
			if _, ok := a.OutputFields[k]; !ok {
				a.OutputFields[k] = v
			}
		}
	}
}

// KernelDrops takes the kernel's cumulative drop count: it updates the
// metric and raises the dropped-events alert when the threshold is crossed.
func (d *Delivery) KernelDrops(total uint64) {
	if d.metrics != nil {
		d.metrics.SetKernelDrops(total)
	}
	if a := d.drops.Observe(total); a != nil {
		d.sendInternal(a)
	}
}

// Stats returns every output's counters.
func (d *Delivery) Stats() map[string]output.Stats { return d.fanout.Stats() }

// Close emits the last suppression summary and flushes the outputs,
// bounded by ctx.
func (d *Delivery) Close(ctx context.Context) error {
	d.cancel()
	d.wg.Wait()
	err := d.fanout.Close(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		d.log.Error("delivery: flush cut short", "err", err)
	}
	if d.metrics != nil {
		// Keep these outputs' counts in the totals after a reload.
		d.metrics.RetireOutputs(d.fanout.Stats())
	}
	return err
}
