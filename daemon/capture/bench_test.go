package capture

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// BenchmarkSyscallOverhead times a loop of system calls made by a C
// program (testdata/sysloop.c) with the capture programs detached and
// attached (every event type on, a reader draining the ring buffer as the
// daemon does): open/close pairs through the 64-bit table ("64"), the same
// through int $0x80 ("32"), and getppid, which is not reported and costs
// the programs one table lookup. ns/op is per loop iteration; the ratio of
// attached to detached is the capture's overhead.
func BenchmarkSyscallOverhead(b *testing.B) {
	prog := buildC(b, "sysloop")
	for _, mode := range []string{"64", "32", "getppid"} {
		b.Run(mode+"/detached", func(b *testing.B) {
			b.ReportMetric(float64(runLoop(b, prog, mode, b.N))/float64(b.N), "ns/op")
		})
		b.Run(mode+"/attached", func(b *testing.B) {
			c, err := Open(Config{})
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
			d := runLoop(b, prog, mode, b.N)
			c.Close()
			<-done
			st, _ := c.Stats()
			b.ReportMetric(float64(d)/float64(b.N), "ns/op")
			b.ReportMetric(float64(st.Drops), "drops")
		})
	}
}

// runLoop runs n iterations of prog's mode and returns the time they took
// as the program measured it (its own start-up is left out).
func runLoop(b *testing.B, prog, mode string, n int) time.Duration {
	b.Helper()
	out, err := exec.Command(prog, mode, strconv.Itoa(n)).Output()
	if err != nil {
		b.Fatalf("%s %s: %v", prog, mode, err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		b.Fatalf("%s %s: output %q: %v", prog, mode, out, err)
	}
	return time.Duration(ns)
}
