package elasticsearch_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/elasticsearch"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
)

// BenchmarkEncode measures the client side alone: 6,000 alerts of about
// 400 bytes into one _bulk body (action lines, @timestamp, dated index).
func BenchmarkEncode(b *testing.B) {
	d, _ := load(b, `urls = ["http://127.0.0.1:1"]`)
	recs := recordtest.Decode(b, recordtest.Chunk(recordtest.EventTime, 0, 6000, time.Now()))
	cpu0 := cpuTime()
	for b.Loop() {
		elasticsearch.Encode(d, "nightjar", recs)
	}
	n := float64(b.N * len(recs))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/record")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/n, "cpu-ns/record")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
