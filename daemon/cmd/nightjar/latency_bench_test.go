package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/capture"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// The alert latency benchmarks drive the real kernel: a generator child
// opens /etc/shadow at a paced rate, and every open is an alert of the
// default rule "Read sensitive file untrusted". Each run ignores b.N: one
// run is one paced workload, and the figures are reported as metrics.
// Compare runs with -count (the figures vary with the machine's load).

const (
	latencyRate     = 1000 // alerts per second, the rate of issue 4's target
	latencyDuration = 3 * time.Second
	sensitiveFile   = "/etc/shadow"
	latencyRule     = "Read sensitive file untrusted"
)

// BenchmarkAlertLatency measures the latency from the system call to the
// alert leaving the daemon: the real nightjar binary, started with a forward
// output (require_ack) to a listener in this process, against a generator
// making latencyRate detected calls a second.
//
// Latency is the listener's receive time of the chunk minus the entry's
// EventTime, which is the kernel's timestamp of the call's return
// (bpf_ktime_get_boot_ns at sys_exit, shifted to wall-clock time by the
// capture). Both clocks are this machine's CLOCK_REALTIME. It includes the
// kernel program and ring buffer, the reader's wake-up (the capture wakes
// its reader only when 1/16 of the ring is filled and otherwise polls every
// capture.BatchLatency, 10 ms: at 1,000 alerts/s this wait dominates),
// decoding, process-table enrichment, rule evaluation, alert building,
// rate limiter and fan-out queue, forward encoding and the chunk write on
// the Unix socket. The forward output has no linger: a chunk leaves as soon
// as alerts are queued and the previous chunk is acknowledged, so its only
// batching delay is waiting for one ack round trip.
func BenchmarkAlertLatency(b *testing.B) {
	alertLatency(b, func(b *testing.B, cfg string) { startBenchDaemon(b, cfg) })
}

// BenchmarkAlertLatencyInProcess is BenchmarkAlertLatency with the daemon's
// parts assembled in this process as run.go assembles them (configuration,
// rules, delivery, process table, capture, pipeline), so that the capture's
// reader wake-up policy, which the configuration does not expose, can be
// varied: the default, and waking the reader as soon as a record finds it
// caught up (capture.Config.MaxLatency < 0). It differs from the daemon in
// sharing its process with the listener, and in having no metrics.
func BenchmarkAlertLatencyInProcess(b *testing.B) {
	for _, tc := range []struct {
		name       string
		maxLatency time.Duration
	}{
		{"default-10ms", 0},
		{"wake-when-caught-up", -1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			alertLatency(b, func(b *testing.B, cfg string) { startInProcess(b, cfg, tc.maxLatency) })
		})
	}
}

// alertLatency runs the paced workload against a daemon that start starts
// with the given configuration, and reports the latencies of its alerts.
func alertLatency(b *testing.B, start func(b *testing.B, cfg string)) {
	dir := b.TempDir()
	sock := filepath.Join(dir, "fluent.sock")
	l := newLatencyListener(b, sock)
	// Per-rule rate limiting defaults to 10 alerts/s with a burst of 100,
	// which would suppress nearly all of the workload: rate 0 is unlimited.
	// Dedup is off (its default, stated so it stays off).
	start(b, fmt.Sprintf(`
hostname = "latency-bench"
forward_output {
  enabled     = true
  address     = "unix://%s"
  require_ack = true
  spool {
    dir = %q
  }
}
rate_limit {
  rate        = 0
  global_rate = 0
}
dedup {
  enabled = false
}
metrics {
  enabled = false
}
`, sock, filepath.Join(dir, "spool")))
	select {
	case <-l.connected:
	case <-time.After(10 * time.Second):
		b.Fatal("the daemon did not connect to the forward listener")
	}

	b.ResetTimer()
	began := time.Now()
	pressure := startStallMeter()
	g := startGenerator(b, latencyRate, latencyDuration, sensitiveFile)
	sent := g.wait(b)
	genSecs := time.Since(began).Seconds()
	pid := strconv.Itoa(g.pid())
	got := l.collect(b, sent, 10*time.Second, func(a arrival) bool {
		return a.Rule == latencyRule && a.PID == pid
	})
	b.StopTimer()
	pressure.report(b)

	seen := make(map[string]bool, len(got))
	lat := make([]time.Duration, 0, len(got))
	var first, last time.Time
	for _, a := range got {
		if seen[a.UUID] {
			continue // at least once: a resent chunk is not a second alert
		}
		seen[a.UUID] = true
		lat = append(lat, a.Received.Sub(a.Event))
		if first.IsZero() || a.Event.Before(first) {
			first = a.Event
		}
		if a.Received.After(last) {
			last = a.Received
		}
	}
	if len(seen) != sent {
		b.Fatalf("%d calls made, %d distinct alerts received (%d lost)", sent, len(seen), sent-len(seen))
	}
	st := summarize(lat)
	if st.Min < 0 {
		early := 0
		for _, d := range lat {
			if d < 0 {
				early++
			}
		}
		b.Errorf("%d alerts arrived before their event time, the earliest by %v: the event time is not the kernel's wall-clock time", early, -st.Min)
	}
	b.ReportMetric(0, "ns/op") // one paced run, not a per-op cost
	b.ReportMetric(ms(st.P50), "p50-ms")
	b.ReportMetric(ms(st.P99), "p99-ms")
	b.ReportMetric(ms(st.Max), "max-ms")
	b.ReportMetric(float64(len(seen))/last.Sub(first).Seconds(), "alerts/s")
	b.ReportMetric(float64(sent), "sent")
	b.ReportMetric(float64(sent-len(seen)), "lost")
	b.Logf("%d calls in %.2fs, %d alerts received (%d duplicate deliveries); latency min %v p50 %v p99 %v max %v",
		sent, genSecs, len(seen), len(got)-len(seen), st.Min, st.P50, st.P99, st.Max)
}

// BenchmarkCaptureLatency measures the first stage of the alert latency
// alone, with the capture settings that decide it: from the kernel's event
// time to capture.Read returning the event, in this process, for the same
// paced workload. It shows how much of BenchmarkAlertLatency is the
// reader's wake-up policy, and what the alternatives would give:
//
//   - default: wake-up at 1/16 of the ring, otherwise polled every 10 ms;
//   - max-latency=1ms: the same, polled every millisecond;
//   - wake-when-caught-up: MaxLatency < 0, no wake-up threshold; the kernel
//     then wakes the reader for a record only when the reader has consumed
//     everything before it, so an idle reader wakes at once and a busy one
//     is not woken at all.
//
// cpu-ms/s is the CPU time of this process (the reading goroutine and the
// poll ticker) per second of workload; records/s counts every openat record
// read, the other processes' on this machine included, since they share the
// ring buffer and its wake-ups.
func BenchmarkCaptureLatency(b *testing.B) {
	for _, tc := range []struct {
		name       string
		rate       int
		dur        time.Duration
		maxLatency time.Duration
	}{
		// Shorter than the daemon run: the settings share the time budget.
		{"rate=1000/default-10ms", latencyRate, 2 * time.Second, 0},
		{"rate=1000/max-latency=1ms", latencyRate, 2 * time.Second, time.Millisecond},
		{"rate=1000/wake-when-caught-up", latencyRate, 2 * time.Second, -1},
		// What waking when caught up costs where batching pays: a busier
		// workload, where the reader is often idle between records.
		{"rate=20000/default-10ms", 20000, time.Second, 0},
		{"rate=20000/wake-when-caught-up", 20000, time.Second, -1},
	} {
		b.Run(tc.name, func(b *testing.B) { captureLatency(b, tc.rate, tc.dur, tc.maxLatency) })
	}
}

// captureSample is one generator event as the reader saw it.
type captureSample struct {
	pid     uint32
	latency time.Duration
}

func captureLatency(b *testing.B, rate int, dur time.Duration, maxLatency time.Duration) {
	if os.Geteuid() != 0 {
		b.Fatal("this benchmark loads eBPF programs and must run as root")
	}
	c, err := capture.Open(capture.Config{
		Types:       []event.Type{event.Openat},
		ExcludePIDs: []uint32{uint32(os.Getpid())},
		MaxLatency:  maxLatency,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// Room for every event, so that the reader never waits for the collector.
	samples := make(chan captureSample, int(float64(rate)*dur.Seconds())+4096)
	readErr := make(chan error, 1)
	go func() {
		var ev event.Event
		for {
			err := c.Read(&ev)
			now := time.Now()
			switch {
			case errors.Is(err, capture.ErrClosed):
				readErr <- nil
				return
			case errors.Is(err, capture.ErrMalformed):
				continue
			case err != nil:
				readErr <- err
				return
			}
			if ev.Type == event.Openat && ev.Res >= 0 && string(ev.Path) == sensitiveFile {
				samples <- captureSample{pid: ev.PID, latency: now.Sub(time.Unix(0, ev.Time))}
			}
		}
	}()

	b.ResetTimer()
	cpu0 := cpuTime()
	pressure := startStallMeter()
	st0, err := c.Stats()
	if err != nil {
		b.Fatal(err)
	}
	records0 := st0.Records
	start := time.Now()
	g := startGenerator(b, rate, dur, sensitiveFile)
	sent := g.wait(b)
	pid := uint32(g.pid())
	// Events seen before the pid was known are in the channel already.
	var lat []time.Duration
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
collect:
	for len(lat) < sent {
		select {
		case s := <-samples:
			if s.pid == pid {
				lat = append(lat, s.latency)
			}
		case err := <-readErr:
			b.Fatalf("capture stopped: %v", err)
		case <-timeout.C:
			break collect
		}
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	pressure.report(b)
	stats, err := c.Stats()
	if err != nil {
		b.Fatal(err)
	}
	if len(lat) != sent {
		b.Fatalf("%d calls made, %d events read (%d lost; kernel drops %d)", sent, len(lat), sent-len(lat), stats.Drops)
	}
	st := summarize(lat)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(st.P50), "p50-ms")
	b.ReportMetric(ms(st.P99), "p99-ms")
	b.ReportMetric(ms(st.Max), "max-ms")
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/elapsed.Seconds(), "cpu-ms/s")
	b.ReportMetric(float64(stats.Records-records0)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(stats.Drops), "drops")
	b.Logf("%d events; latency min %v p50 %v p99 %v max %v; %d records read in all", sent, st.Min, st.P50, st.P99, st.Max, stats.Records)
}
