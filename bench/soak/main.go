// Command soak runs the real daemon (nightjar run) under an alert flood for
// a while and reports what became of every alert. A child process opens a
// file in a paced loop; a rule matches each open. The alerts go through the
// forward output (with acks and a disk spool) to a forward-protocol server
// here that disappears twice for a while, and through the HTTP output to a
// server here that fails 10% of requests. It prints, every sample interval,
// the daemon's RSS and counters, and at the end the totals: raised,
// delivered, spooled, dropped, duplicates, the unaccounted rest (which must
// be 0) and the syscall-to-router latency.
//
//	go build -o build/soak ./bench/soak && build/soak -nightjar build/nightjar -duration 10m
//
// Needs root (the daemon loads eBPF programs).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/vmihailenco/msgpack/v5"
)

const (
	ruleName  = "Soak flood open"
	readyRule = "Soak capture ready"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "gen" {
		os.Exit(generate(os.Args[2:]))
	}
	nightjar := flag.String("nightjar", "build/nightjar", "the daemon binary")
	duration := flag.Duration("duration", envDuration("SOAK_DURATION", 10*time.Minute), "how long the flood lasts (SOAK_DURATION)")
	outage := flag.Duration("outage", envDuration("SOAK_OUTAGE", 60*time.Second), "how long the forward listener is gone, each of two times (SOAK_OUTAGE)")
	rate := flag.Int("rate", envInt("SOAK_RATE", 6000), "opens (alerts) per second (SOAK_RATE)")
	sample := flag.Duration("sample", 10*time.Second, "interval between samples")
	httpFail := flag.Float64("http-fail", 0.10, "fraction of HTTP requests answered 500")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "soak: the daemon loads eBPF programs; run as root")
		os.Exit(1)
	}
	if 2**outage >= *duration {
		fmt.Fprintf(os.Stderr, "soak: two outages of %s do not fit in %s\n", *outage, *duration)
		os.Exit(2)
	}
	if err := run(*nightjar, *duration, *outage, *rate, *sample, *httpFail); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "soak: %s=%q: %v\n", name, v, err)
			os.Exit(2)
		}
		return d
	}
	return def
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "soak: %s=%q: %v\n", name, v, err)
			os.Exit(2)
		}
		return n
	}
	return def
}

// generate opens path rate times a second for the duration and prints the
// number of opens.
func generate(args []string) int {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	rate := fs.Int("rate", 6000, "")
	dur := fs.Duration("duration", time.Minute, "")
	path := fs.String("path", "", "")
	fs.Parse(args)
	start := time.Now()
	n := 0
	for {
		el := time.Since(start)
		if el >= *dur {
			break
		}
		due := int(el.Seconds() * float64(*rate))
		if n >= due {
			time.Sleep(time.Millisecond)
			continue
		}
		for ; n < due; n++ {
			fd, err := syscall.Open(*path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				fmt.Fprintln(os.Stderr, "gen:", err)
				return 1
			}
			syscall.Close(fd)
		}
	}
	fmt.Println(n)
	return 0
}

// received is what a sink saw.
type received struct {
	mu        sync.Mutex
	count     map[string]int // uuid → arrivals
	latencies []time.Duration
	upLat     []time.Duration // of alerts raised while the forward listener was up
	chunks    int
	failed    int       // HTTP requests answered 500
	first     time.Time // the earliest event time among the alerts
}

func newReceived() *received { return &received{count: map[string]int{}} }

func (r *received) add(uuid string, eventTime time.Time, up func(time.Time) bool) {
	lat := time.Since(eventTime)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count[uuid]++
	if r.first.IsZero() || eventTime.Before(r.first) {
		r.first = eventTime
	}
	if r.count[uuid] == 1 {
		r.latencies = append(r.latencies, lat)
		if up != nil && up(eventTime) {
			r.upLat = append(r.upLat, lat)
		}
	}
}

func (r *received) totals() (unique, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.count {
		unique++
		total += c
	}
	return unique, total
}

// forwardSink is a Fluent Forward server on a Unix socket that acks every
// chunk and can be taken down and brought back.
type forwardSink struct {
	path string
	rec  *received

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]bool
	outages [][2]time.Time
}

func (s *forwardSink) up() error {
	os.Remove(s.path)
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	return nil
}

// down closes the listener and every connection and removes the socket:
// the daemon's dials fail until up.
func (s *forwardSink) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	clear(s.conns)
	os.Remove(s.path)
}

// wasUp reports whether the listener was up at t.
func (s *forwardSink) wasUp(t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.outages {
		if !t.Before(o[0]) && (o[1].IsZero() || t.Before(o[1])) {
			return false
		}
	}
	return true
}

type soakRecord struct {
	UUID string `msgpack:"uuid"`
	Time string `msgpack:"time"`
	Rule string `msgpack:"rule"`
}

func (s *forwardSink) serve(c net.Conn) {
	defer c.Close()
	dec := msgpack.NewDecoder(bufio.NewReaderSize(c, 1<<20))
	for {
		n, err := dec.DecodeArrayLen()
		if err != nil || n < 2 {
			return
		}
		if _, err := dec.DecodeString(); err != nil {
			return
		}
		entries, err := dec.DecodeBytes()
		if err != nil {
			return
		}
		var opts map[string]any
		if n > 2 {
			if err := dec.Decode(&opts); err != nil {
				return
			}
		}
		edec := msgpack.NewDecoder(bytes.NewReader(entries))
		for {
			if _, err := edec.DecodeArrayLen(); err != nil {
				break
			}
			if err := edec.Skip(); err != nil { // EventTime
				return
			}
			var r soakRecord
			if err := edec.Decode(&r); err != nil {
				return
			}
			if r.Rule != ruleName {
				continue // the daemon's own alerts
			}
			t, _ := time.Parse(time.RFC3339Nano, r.Time)
			s.rec.add(r.UUID, t, s.wasUp)
		}
		s.rec.mu.Lock()
		s.rec.chunks++
		s.rec.mu.Unlock()
		if id, ok := opts["chunk"].(string); ok {
			ack, _ := msgpack.Marshal(map[string]string{"ack": id})
			if _, err := c.Write(ack); err != nil {
				return
			}
		}
	}
}

// httpSink answers a fraction of requests with 500 and records the rest.
func httpSink(rec *received, fail float64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if rand.Float64() < fail {
			rec.mu.Lock()
			rec.failed++
			rec.mu.Unlock()
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		var a struct {
			UUID string `json:"uuid"`
			Time string `json:"time"`
			Rule string `json:"rule"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if a.Rule == ruleName {
			t, _ := time.Parse(time.RFC3339Nano, a.Time)
			rec.add(a.UUID, t, nil)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func run(nightjar string, duration, outage time.Duration, rate int, sample time.Duration, httpFail float64) error {
	work, err := os.MkdirTemp("", "nightjar-soak")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	target := filepath.Join(work, "flood-target")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		return err
	}
	ready := filepath.Join(work, "capture-ready")
	if err := os.WriteFile(ready, nil, 0o600); err != nil {
		return err
	}
	rules := filepath.Join(work, "soak.yaml")
	if err := writeRules(rules, target, ready); err != nil {
		return err
	}

	fwd := &forwardSink{path: filepath.Join(work, "fluent.sock"), rec: newReceived(), conns: map[net.Conn]bool{}}
	if err := fwd.up(); err != nil {
		return err
	}
	httpRec := newReceived()
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(hln, httpSink(httpRec, httpFail))
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	metricsAddr := mln.Addr().String()
	mln.Close()

	cfgPath := filepath.Join(work, "nightjar.hcl")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, `
hostname          = "soak"
output_queue_size = 100000
rules {
  default_rules = false
  paths         = [%q]
}
rate_limit {
  rate = 0
}
forward_output {
  enabled     = true
  address     = "unix://%s"
  require_ack = true
  queue_size  = 100000
  backoff_max = "1s"
  spool {
    enabled  = true
    dir      = %q
    max_size = "2GiB"
  }
}
http_output {
  enabled = true
  url     = "http://%s/alerts"
  retries = 2
  timeout = "2s"
}
metrics {
  enabled = true
  listen  = %q
}
debug {
  pprof = true
}
`, rules, fwd.path, filepath.Join(work, "spool"), hln.Addr().String(), metricsAddr), 0o600); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var dlog bytes.Buffer
	daemon := exec.Command(nightjar, "run", "--config", cfgPath)
	daemon.Stderr = &lockedWriter{w: &dlog}
	daemon.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := daemon.Start(); err != nil {
		return err
	}
	defer daemon.Process.Kill()
	if err := waitCapturing(ctx, metricsAddr, ready, 60*time.Second); err != nil {
		return fmt.Errorf("daemon did not start capturing: %w\n%s", err, dlog.String())
	}

	fmt.Printf("soak: %s flood at %d alerts/s; forward listener gone twice for %s; HTTP fails %.0f%% of requests\n",
		duration, rate, outage, httpFail*100)
	self, _ := os.Executable()
	// The generator's comm is "soak" (this executable), which the rule matches.
	gen := exec.Command(self, "gen", "-rate", strconv.Itoa(rate), "-duration", duration.String(), "-path", target)
	var genOut bytes.Buffer
	gen.Stdout = &genOut
	gen.Stderr = os.Stderr
	start := time.Now()
	if err := gen.Start(); err != nil {
		return err
	}
	genDone := make(chan error, 1)
	go func() { genDone <- gen.Wait() }()

	// Outages at a quarter and at three fifths of the flood.
	go func() {
		for _, at := range []time.Duration{duration / 4, duration * 3 / 5} {
			if !sleepUntil(ctx, start.Add(at)) {
				return
			}
			fwd.mu.Lock()
			fwd.outages = append(fwd.outages, [2]time.Time{time.Now(), {}})
			fwd.mu.Unlock()
			fwd.down()
			fmt.Printf("%6.0fs  forward listener down\n", time.Since(start).Seconds())
			if !sleepUntil(ctx, time.Now().Add(outage)) {
				return
			}
			fwd.mu.Lock()
			fwd.outages[len(fwd.outages)-1][1] = time.Now()
			fwd.mu.Unlock()
			if err := fwd.up(); err != nil {
				fmt.Fprintln(os.Stderr, "soak: listener back:", err)
			}
			fmt.Printf("%6.0fs  forward listener up\n", time.Since(start).Seconds())
		}
	}()

	var rss []float64
	tick := time.NewTicker(sample)
	defer tick.Stop()
	fmt.Println("  time  rss_MiB  heap_MiB  raised  fwd_delivered  fwd_spooled  fwd_pending  fwd_dropped  http_delivered  http_dropped  kernel_drops")
	printSample := func() {
		m, err := scrape(metricsAddr)
		if err != nil {
			fmt.Println("scrape:", err)
			return
		}
		r := rssMiB(daemon.Process.Pid)
		rss = append(rss, r)
		fmt.Printf("%6.0f  %7.1f  %8.1f  %6.0f  %13.0f  %11.0f  %11.0f  %11.0f  %14.0f  %12.0f  %12.0f\n",
			time.Since(start).Seconds(), r, m.heapInuse/(1<<20), m.raised,
			m.out["forward"].delivered, m.out["forward"].spooled, m.out["forward"].pending, m.out["forward"].dropped,
			m.out["http"].delivered, m.out["http"].dropped, m.kernelDrops)
	}
flood:
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-genDone:
			if err != nil {
				return fmt.Errorf("generator: %w", err)
			}
			break flood
		case <-tick.C:
			printSample()
		}
	}
	opens, _ := strconv.Atoi(strings.TrimSpace(genOut.String()))
	fmt.Printf("%6.0fs  flood over: %d opens\n", time.Since(start).Seconds(), opens)

	// Let the backlog drain: every open matched (the count of raised
	// alerts stops moving), the spool and the queues empty.
	var lastRaised float64
	var still int
	drained := waitUntil(ctx, 5*time.Minute, func() bool {
		m, err := scrape(metricsAddr)
		if err != nil {
			return false
		}
		if m.raised != lastRaised {
			lastRaised, still = m.raised, 0
			return false
		}
		still++
		need := 4 // polls 0.5 s apart
		if m.raised < float64(opens) {
			need = 20 // give stragglers 10 s
		}
		f, h := m.out["forward"], m.out["http"]
		return still >= need && f.spooled == 0 && f.pending == 0 && h.pending == 0 &&
			f.delivered+f.dropped >= m.raised && h.delivered+h.dropped >= m.raised
	})
	printSample()
	final, err := scrape(metricsAddr)
	if err != nil {
		return err
	}
	if p := os.Getenv("SOAK_HEAP_PROFILE"); p != "" {
		if err := saveProfile("http://"+metricsAddr+"/debug/pprof/heap", p); err != nil {
			fmt.Fprintln(os.Stderr, "soak: heap profile:", err)
		}
	}
	daemon.Process.Signal(syscall.SIGTERM)
	daemon.Wait()

	fu, ft := fwd.rec.totals()
	hu, ht := httpRec.totals()
	f, h := final.out["forward"], final.out["http"]
	fmt.Println()
	fmt.Printf("flood: %s at %d/s (%.0f alerts/s achieved), outages 2 x %s\n", duration, rate, float64(opens)/duration.Seconds(), outage)
	fmt.Printf("opens %d, alerts raised %.0f (opens without an alert: %.0f), kernel drops %.0f, undecodable records %.0f\n",
		opens, final.raised, float64(opens)-final.raised, final.kernelDrops, final.decodeErrors)
	fmt.Printf("forward: delivered %d distinct (%d arrivals, %d duplicates), spooled at end %.0f, dropped %.0f, unaccounted %.0f, reconnects %.0f\n",
		fu, ft, ft-fu, f.spooled, f.dropped, final.raised-float64(fu)-f.dropped-f.spooled, f.reconnects)
	fmt.Printf("http:    delivered %d distinct (%d arrivals, %d duplicates), %d requests failed by the server, dropped %.0f, unaccounted %.0f\n",
		hu, ht, ht-hu, httpRec.failed, h.dropped, final.raised-float64(hu)-h.dropped-h.pending)
	if !fwd.rec.first.IsZero() {
		// Opens lost at the start show as a late first alert.
		fmt.Printf("first alert's event %s after the generator started\n", fwd.rec.first.Sub(start).Round(time.Millisecond))
	}
	fmt.Printf("forward latency (event → router): %s\n", latencies(fwd.rec.latencies))
	fmt.Printf("forward latency, alerts raised while the listener was up: %s\n", latencies(fwd.rec.upLat))
	fmt.Printf("http latency: %s\n", latencies(httpRec.latencies))
	if len(rss) > 0 {
		fmt.Printf("daemon RSS MiB: first %.1f, min %.1f, max %.1f, last %.1f (%d samples every %s)\n",
			rss[0], slices.Min(rss), slices.Max(rss), rss[len(rss)-1], len(rss), sample)
	}
	if drained != nil {
		fmt.Println("backlog did not drain within 5 minutes")
	}
	if os.Getenv("SOAK_LOG") != "" {
		fmt.Println(dlog.String())
	}
	return nil
}

func latencies(l []time.Duration) string {
	if len(l) == 0 {
		return "none"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("p50 %s, p99 %s, max %s (%d alerts)", q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond), s[len(s)-1].Round(time.Millisecond), len(s))
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// writeRules writes the soak's rules to path: one for the opens of target,
// one for the readiness probe's opens of ready, both by a process named as
// this executable (the generator is this executable too).
func writeRules(path, target, ready string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	name := filepath.Base(self)
	if len(name) > 15 {
		name = name[:15] // the kernel's task name
	}
	return os.WriteFile(path, fmt.Appendf(nil, `- rule: %s
  desc: every open of the soak benchmark's target file
  condition: evt.type in (open, openat) and fd.name = %s and proc.name = %s
  output: soak open (pid=%%proc.pid file=%%fd.name)
  priority: NOTICE
  tags: [soak]
- rule: %s
  desc: the soak's probe that the daemon captures and matches events
  condition: evt.type in (open, openat) and fd.name = %s and proc.name = %s
  output: soak ready (pid=%%proc.pid)
  priority: NOTICE
  tags: [soak]
`, ruleName, target, name, readyRule, ready, name), 0o600)
}

// waitCapturing returns once the daemon at metricsAddr raises an alert for
// an open of ready by this process: its programs are attached and its
// event loop matches rules. The metrics endpoint alone says neither: the
// daemon serves it before it loads and attaches the programs (0.3 to 1 s
// later on a loaded 2-core machine), and opens made before the attach are
// never seen, nor counted as drops.
func waitCapturing(ctx context.Context, metricsAddr, ready string, timeout time.Duration) error {
	return waitUntil(ctx, timeout, func() bool {
		if fd, err := syscall.Open(ready, syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err == nil {
			syscall.Close(fd)
		}
		m, err := scrape(metricsAddr)
		return err == nil && m.ready > 0
	})
}

func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if f := strings.Fields(ln); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

type outStats struct{ delivered, spooled, pending, dropped, reconnects float64 }

type metrics struct {
	raised, kernelDrops float64
	ready               float64 // alerts of readyRule
	heapInuse           float64
	decodeErrors        float64
	out                 map[string]outStats
}

func scrape(addr string) (*metrics, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	m := &metrics{out: map[string]outStats{}}
	label := func(x *dto.Metric, name string) string {
		for _, l := range x.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	value := func(x *dto.Metric) float64 {
		if c := x.GetCounter(); c != nil {
			return c.GetValue()
		}
		return x.GetGauge().GetValue()
	}
	for _, x := range fams["nightjar_alerts_total"].GetMetric() {
		switch label(x, "rule") {
		case ruleName:
			m.raised += value(x)
		case readyRule:
			m.ready += value(x)
		}
	}
	for _, x := range fams["nightjar_kernel_drops_total"].GetMetric() {
		m.kernelDrops += value(x)
	}
	for _, x := range fams["nightjar_decoder_errors_total"].GetMetric() {
		m.decodeErrors += value(x)
	}
	for _, x := range fams["go_memstats_heap_inuse_bytes"].GetMetric() {
		m.heapInuse = value(x)
	}
	for name, set := range map[string]func(*outStats, float64){
		"nightjar_output_alerts_delivered_total": func(o *outStats, v float64) { o.delivered = v },
		"nightjar_output_alerts_spooled":         func(o *outStats, v float64) { o.spooled = v },
		"nightjar_output_alerts_pending":         func(o *outStats, v float64) { o.pending = v },
		"nightjar_output_alerts_dropped_total":   func(o *outStats, v float64) { o.dropped = v },
		"nightjar_output_reconnects_total":       func(o *outStats, v float64) { o.reconnects = v },
	} {
		for _, x := range fams[name].GetMetric() {
			o := m.out[label(x, "output")]
			set(&o, value(x))
			m.out[label(x, "output")] = o
		}
	}
	return m, nil
}

func saveProfile(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
