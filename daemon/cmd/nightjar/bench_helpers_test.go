package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/daemon/capture"
	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/daemon/delivery"
	"github.com/nightjar-sec/nightjar/daemon/pipeline"
	"github.com/nightjar-sec/nightjar/daemon/proctable"
	"github.com/nightjar-sec/nightjar/internal/forwardtest"
)

// The latency benchmarks start this test binary again with generatorEnv set
// to "RATE,SECONDS,PATH"; it then opens PATH read-only RATE times a second
// for SECONDS seconds, prints how many opens succeeded and exits. It is a
// child process so that its events carry a pid of their own, and it is not
// a program the default rules allow near credentials, so every open of
// /etc/shadow is an alert.
const generatorEnv = "NIGHTJAR_LATENCY_GENERATOR"

func init() {
	spec := os.Getenv(generatorEnv)
	if spec == "" {
		return
	}
	n, err := runGenerator(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "generator:", err)
		os.Exit(1)
	}
	fmt.Println(n)
	os.Exit(0)
}

// runGenerator performs the opens of spec on an absolute schedule: a late
// open does not shift the ones after it, so the rate holds on average even
// when the process is descheduled for a while.
func runGenerator(spec string) (int, error) {
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		return 0, fmt.Errorf("spec %q: want RATE,SECONDS,PATH", spec)
	}
	rate, err := strconv.Atoi(parts[0])
	if err != nil || rate <= 0 {
		return 0, fmt.Errorf("spec %q: bad rate", spec)
	}
	secs, err := strconv.ParseFloat(parts[1], 64)
	if err != nil || secs <= 0 {
		return 0, fmt.Errorf("spec %q: bad duration", spec)
	}
	path := parts[2]
	total := int(float64(rate) * secs)
	period := time.Second / time.Duration(rate)
	start := time.Now()
	done := 0
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * period)); d > 0 {
			time.Sleep(d)
		}
		fd, err := unix.Openat(unix.AT_FDCWD, path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return done, fmt.Errorf("open %s: %w", path, err)
		}
		unix.Close(fd)
		done++
	}
	return done, nil
}

// generator is a running generator child.
type generator struct {
	cmd *exec.Cmd
	out bytes.Buffer
	err bytes.Buffer
}

// startGenerator starts the generator child: rate opens of path a second
// for dur.
func startGenerator(b *testing.B, rate int, dur time.Duration, path string) *generator {
	b.Helper()
	g := &generator{}
	g.cmd = exec.Command(os.Args[0], "-test.run=^$")
	g.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%g,%s", generatorEnv, rate, dur.Seconds(), path))
	g.cmd.Stdout = &g.out
	g.cmd.Stderr = &g.err
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if g.cmd.ProcessState == nil {
			g.cmd.Process.Kill()
			g.cmd.Wait()
		}
	})
	return g
}

// pid is the generator's process id, which its events carry.
func (g *generator) pid() int { return g.cmd.Process.Pid }

// wait waits for the generator and returns how many opens it made.
func (g *generator) wait(b *testing.B) int {
	b.Helper()
	if err := g.cmd.Wait(); err != nil {
		b.Fatalf("generator: %v\n%s", err, g.err.String())
	}
	n, err := strconv.Atoi(strings.TrimSpace(g.out.String()))
	if err != nil {
		b.Fatalf("generator printed %q: %v", g.out.String(), err)
	}
	return n
}

// arrival is one alert as the latency listener saw it.
type arrival struct {
	Event    time.Time // the entry's EventTime: when the kernel saw the call
	Received time.Time // when the chunk holding it had been read off the socket
	Rule     string
	PID      string
	UUID     string
}

// latencyListener plays Fluent Bit's in_forward on a Unix socket, like
// forwardListener, but stamps every chunk with the time it was read, right
// after its last byte and before anything else is done with it.
type latencyListener struct {
	ln        net.Listener
	connected chan struct{}
	once      sync.Once

	mu       sync.Mutex
	arrivals []arrival
	errs     []error
	notify   chan struct{}
}

func newLatencyListener(b *testing.B, path string) *latencyListener {
	b.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	l := &latencyListener{ln: ln, connected: make(chan struct{}), notify: make(chan struct{}, 1)}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.once.Do(func() { close(l.connected) })
			go l.serve(c)
		}
	}()
	return l
}

func (l *latencyListener) fail(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *latencyListener) serve(c net.Conn) {
	defer c.Close()
	dec := msgpack.NewDecoder(bufio.NewReaderSize(c, 1<<20))
	for {
		var msg []msgpack.RawMessage
		if err := dec.Decode(&msg); err != nil {
			if err != io.EOF && !errors.Is(err, net.ErrClosed) {
				l.fail(fmt.Errorf("decode message: %w", err))
			}
			return
		}
		received := time.Now()
		if len(msg) != 3 {
			l.fail(fmt.Errorf("message of %d elements, want [tag, entries, options]", len(msg)))
			return
		}
		// Ack first, as in_forward does once the chunk is buffered, so the
		// decoding below does not hold up the daemon's next chunk.
		var opts map[string]any
		if err := msgpack.Unmarshal(msg[2], &opts); err != nil {
			l.fail(fmt.Errorf("options: %w", err))
			return
		}
		chunk, ok := opts["chunk"].(string)
		if !ok {
			l.fail(fmt.Errorf("chunk without a chunk option (require_ack is on): %v", opts))
			return
		}
		ack, _ := msgpack.Marshal(map[string]string{"ack": chunk})
		if _, err := c.Write(ack); err != nil {
			return
		}
		var entries []byte
		if err := msgpack.Unmarshal(msg[1], &entries); err != nil {
			l.fail(fmt.Errorf("entries are not PackedForward: %w", err))
			return
		}
		edec := msgpack.NewDecoder(bytes.NewReader(entries))
		var got []arrival
		for {
			var entry []msgpack.RawMessage
			if err := edec.Decode(&entry); err == io.EOF {
				break
			} else if err != nil || len(entry) != 2 {
				l.fail(fmt.Errorf("entry: %v (%d elements)", err, len(entry)))
				return
			}
			var et forwardtest.EventTime
			if err := msgpack.Unmarshal(entry[0], &et); err != nil {
				l.fail(fmt.Errorf("entry time is not EventTime: %w", err))
				return
			}
			var rec struct {
				Rule         string         `msgpack:"rule"`
				UUID         string         `msgpack:"uuid"`
				OutputFields map[string]any `msgpack:"output_fields"`
			}
			if err := msgpack.Unmarshal(entry[1], &rec); err != nil {
				l.fail(fmt.Errorf("record: %w", err))
				return
			}
			got = append(got, arrival{
				Event: et.Time, Received: received, Rule: rec.Rule,
				PID: fmt.Sprint(rec.OutputFields["proc.pid"]), UUID: rec.UUID,
			})
		}
		l.mu.Lock()
		l.arrivals = append(l.arrivals, got...)
		l.mu.Unlock()
		select {
		case l.notify <- struct{}{}:
		default:
		}
	}
}

// collect waits until want arrivals match, or until timeout passes with no
// new match, and returns the matching ones.
func (l *latencyListener) collect(b *testing.B, want int, timeout time.Duration, match func(arrival) bool) []arrival {
	b.Helper()
	var got []arrival
	seen := 0
	idle := time.NewTimer(timeout)
	defer idle.Stop()
	for {
		l.mu.Lock()
		for _, err := range l.errs {
			b.Errorf("forward listener: %v", err)
		}
		l.errs = nil
		for _, a := range l.arrivals[seen:] {
			if match(a) {
				got = append(got, a)
				idle.Reset(timeout)
			}
		}
		seen = len(l.arrivals)
		l.mu.Unlock()
		if len(got) >= want {
			return got
		}
		select {
		case <-l.notify:
		case <-idle.C:
			return got
		}
	}
}

// startBenchDaemon runs the nightjar binary with the configuration text, as
// startDaemon does for tests, and waits until it reports that it is running.
func startBenchDaemon(b *testing.B, cfg string) *daemonProc {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Fatal("this benchmark loads eBPF programs and must run as root")
	}
	bin, err := buildDaemon()
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "nightjar.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	d := &daemonProc{stderr: &syncBuffer{}}
	d.cmd = exec.Command(bin, "run", "--config", path)
	d.cmd.Stderr = d.stderr
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		d.cmd.Process.Kill()
		d.cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(d.stderr.String(), "nightjar running") {
		if time.Now().After(deadline) || d.cmd.ProcessState != nil {
			b.Fatalf("daemon did not start:\n%s", d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

// latencyStats summarises a set of latencies.
type latencyStats struct {
	N                  int
	Min, P50, P99, Max time.Duration
}

func summarize(lat []time.Duration) latencyStats {
	s := slices.Clone(lat)
	slices.Sort(s)
	if len(s) == 0 {
		return latencyStats{}
	}
	// Nearest-rank percentiles: the smallest value with at least p% of the
	// samples at or below it.
	rank := func(p float64) time.Duration {
		i := int(float64(len(s))*p+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return latencyStats{N: len(s), Min: s[0], P50: rank(0.50), P99: rank(0.99), Max: s[len(s)-1]}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuTime is the CPU time (user + system) this process has used so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuStall is the kernel's total time (PSI, /proc/pressure/cpu "some") in
// which at least one runnable task waited for a CPU. Over a run it says how
// contended the machine was, which the latency tails follow closely.
func cpuStall() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "some ") {
			continue
		}
		for f := range strings.FieldsSeq(line) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				us, err := strconv.ParseInt(v, 10, 64)
				return time.Duration(us) * time.Microsecond, err == nil
			}
		}
	}
	return 0, false
}

// stallMeter reports the share of a run's wall time with CPU pressure.
type stallMeter struct {
	start time.Time
	stall time.Duration
	ok    bool
}

func startStallMeter() stallMeter {
	s, ok := cpuStall()
	return stallMeter{start: time.Now(), stall: s, ok: ok}
}

// report adds the cpu-pressure-% metric when the kernel has PSI.
func (m stallMeter) report(b *testing.B) {
	s, ok := cpuStall()
	if !m.ok || !ok {
		return
	}
	b.ReportMetric(100*float64(s-m.stall)/float64(time.Since(m.start)), "cpu-pressure-%")
}

// startInProcess assembles the daemon's parts in this process the way
// daemon.run does, but with the capture's MaxLatency set, and runs them until
// the benchmark ends.
func startInProcess(b *testing.B, cfgText string, maxLatency time.Duration) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Fatal("this benchmark loads eBPF programs and must run as root")
	}
	path := filepath.Join(b.TempDir(), "nightjar.hcl")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		b.Fatal(err)
	}
	d := &daemon{cfgPath: path, log: slog.New(slog.DiscardHandler)}
	cfg, err := d.loadConfig()
	if err != nil {
		b.Fatal(err)
	}
	d.cfg = cfg
	set, err := d.loadRules(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if d.delivery, err = delivery.New(cfg, nil, d.log); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	resolver, err := container.NewResolver(container.Config{})
	if err != nil {
		b.Fatal(err)
	}
	procs := proctable.New(proctable.Config{Containers: resolver})
	if err := procs.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	if d.capture, err = capture.Open(capture.Config{
		Types:       pipeline.CaptureTypes(set),
		ExcludePIDs: []uint32{uint32(os.Getpid())},
		MaxLatency:  maxLatency,
	}); err != nil {
		b.Fatal(err)
	}
	d.pipe = pipeline.New(pipeline.Config{
		Source:    pipeline.CaptureSource{Capture: d.capture},
		Processes: procs,
		Rules:     set,
		Emit:      d.emit,
	})
	done := make(chan error, 1)
	go func() { done <- d.pipe.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		d.capture.Close()
		if err := <-done; err != nil {
			b.Errorf("pipeline: %v", err)
		}
		flush, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		if err := d.delivery.Close(flush); err != nil {
			b.Errorf("close delivery: %v", err)
		}
	})
}
