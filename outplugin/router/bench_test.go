package router_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/router"
)

// benchChunks is how many distinct chunks the benchmarks cycle through, so
// that every flush is a new chunk to the delivery tracker.
const (
	benchChunks      = 8
	benchChunkRecord = 6000
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func peakRSSMiB() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}

// benchFlush measures Router.Flush, the entry point FLBPluginFlushCtx
// calls, with chunks of 6,000 Falco-like alerts of about 400 bytes. The
// test server runs in the same process, so CPU and RSS include it.
func benchFlush(b *testing.B, r *router.Router) {
	chunks := make([][]byte, benchChunks)
	start := time.Now()
	for i := range chunks {
		chunks[i] = recordtest.Chunk(recordtest.EventTime, i*benchChunkRecord, benchChunkRecord, start)
	}
	b.SetBytes(int64(len(chunks[0])))
	b.ResetTimer()
	cpu0 := cpuTime()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if st := r.Flush(context.Background(), "nightjar.alerts", chunks[i%len(chunks)]); st != router.OK {
			b.Fatalf("flush: %v", st)
		}
	}
	elapsed := time.Since(t0)
	cpu := cpuTime() - cpu0
	recs := float64(b.N * benchChunkRecord)
	b.ReportMetric(recs/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/recs, "cpu-ns/record")
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
}

func BenchmarkFlushCloudWatch(b *testing.B) {
	e := newEnv(b)
	e.cw.Discard = true
	r := newRouter(b, e.cloudwatch("cw", "")+`route "all" { to = [destination.cloudwatch.cw] }`, router.Options{})
	benchFlush(b, r)
	if len(e.cw.Rejected()) > 0 {
		b.Fatalf("server rejected requests: %v", e.cw.Rejected()[0])
	}
}

func BenchmarkFlushCloudLogging(b *testing.B) {
	e := newEnv(b)
	e.cl.Discard = true
	r := newRouter(b, e.cloudLogging("cl", "")+`route "all" { to = [destination.cloud_logging.cl] }`, router.Options{})
	benchFlush(b, r)
	if len(e.cl.Rejected()) > 0 {
		b.Fatalf("server rejected requests: %v", e.cl.Rejected()[0])
	}
}
