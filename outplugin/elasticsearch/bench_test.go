package elasticsearch_test

import (
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/elasticsearch"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
)

// BenchmarkEncode measures the client side alone: 6,000 alerts of about
// 400 bytes into one _bulk body (action lines, @timestamp, dated index).
func BenchmarkEncode(b *testing.B) {
	d, _ := load(b, `urls = ["http://127.0.0.1:1"]`)
	recs := decode(b, recordtest.Chunk(recordtest.EventTime, 0, 6000, time.Now()))
	b.ResetTimer()
	for b.Loop() {
		elasticsearch.EncodeBulk(d, "nightjar", recs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
