package capture

import (
	"errors"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// BenchmarkSyscallOverhead measures what the capture costs the processes
// it watches. A C program (testdata/sysloop.c) makes b.N iterations of a
// system call loop: open/close pairs through the 64-bit table ("64"), the
// same through int $0x80 ("32"), or getppid, which is not reported and
// costs the programs one table lookup. Each of five rounds runs the loop
// with the programs detached, then attached (every event type on, a
// reader draining the ring buffer as the daemon does), and times it by the
// loop process's CPU time, which the programs run in and which other load
// on the machine does not inflate. The capture wakes its reader for every
// record it has caught up with, as the daemon's default max_latency = "0s"
// does, or batches wake-ups ("-batched", MaxLatency BatchLatency).
// Reported: the medians of the detached and attached CPU time per
// iteration and of the rounds' ratios; ns/op is the whole benchmark's.
func BenchmarkSyscallOverhead(b *testing.B) {
	prog := buildC(b, "sysloop")
	for _, run := range []struct {
		name, mode string
		cfg        Config
	}{
		{"64", "64", Config{}},
		{"64-batched", "64", Config{MaxLatency: BatchLatency}},
		{"32", "32", Config{}},
		{"32-batched", "32", Config{MaxLatency: BatchLatency}},
		{"getppid", "getppid", Config{}},
	} {
		mode := run.mode
		b.Run(run.name, func(b *testing.B) {
			const rounds = 5
			var det, att, ratio []float64
			for range rounds {
				d := runLoop(b, prog, mode, b.N)
				c, err := Open(run.cfg)
				if err != nil {
					b.Fatal(err)
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					var ev event.Event
					for !errors.Is(c.Read(&ev), ErrClosed) {
					}
				}()
				a := runLoop(b, prog, mode, b.N)
				c.Close()
				<-done
				if st, _ := c.Stats(); st.Drops > 0 {
					b.Logf("%d records dropped", st.Drops)
				}
				det = append(det, float64(d)/float64(b.N))
				att = append(att, float64(a)/float64(b.N))
				ratio = append(ratio, float64(a)/float64(d))
			}
			b.ReportMetric(median(det), "detached-ns/op")
			b.ReportMetric(median(att), "attached-ns/op")
			b.ReportMetric(median(ratio), "ratio")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// runLoop runs n iterations of prog's mode and returns the CPU time (user
// and system) the process used.
func runLoop(b *testing.B, prog, mode string, n int) time.Duration {
	b.Helper()
	cmd := exec.Command(prog, mode, strconv.Itoa(n))
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %s: %v: %s", prog, mode, err, out)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}
