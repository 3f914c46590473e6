package router

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the router's and its destinations' counters to
// Prometheus. Register it on a registry of your own.
func (r *Router) Collector() prometheus.Collector { return collector{r} }

type collector struct{ r *Router }

var (
	descDest = map[string]*prometheus.Desc{
		"sent":      prometheus.NewDesc("nightjar_output_records_sent_total", "Records accepted by the destination.", []string{"destination"}, nil),
		"batches":   prometheus.NewDesc("nightjar_output_batches_total", "Requests accepted by the destination.", []string{"destination"}, nil),
		"retries":   prometheus.NewDesc("nightjar_output_retries_total", "Requests retried after a transient error.", []string{"destination"}, nil),
		"failures":  prometheus.NewDesc("nightjar_output_failures_total", "Requests that failed.", []string{"destination"}, nil),
		"dropped":   prometheus.NewDesc("nightjar_output_records_dropped_total", "Records given up: refused by the service or failed permanently.", []string{"destination"}, nil),
		"truncated": prometheus.NewDesc("nightjar_output_records_truncated_total", "Records shortened to fit the service's size limit.", []string{"destination"}, nil),
		"evictions": prometheus.NewDesc("nightjar_output_cache_evictions_total", "Entries dropped from the destination's bounded caches.", []string{"destination"}, nil),
	}
	descSkipped   = prometheus.NewDesc("nightjar_output_records_skipped_total", "Malformed records and records that are not maps.", nil, nil)
	descUnrouted  = prometheus.NewDesc("nightjar_output_records_unrouted_total", "Records that matched no route.", nil, nil)
	descChunks    = prometheus.NewDesc("nightjar_output_chunks_total", "Flushed chunks by outcome.", []string{"status"}, nil)
	descTracked   = prometheus.NewDesc("nightjar_output_tracked_chunks", "Partly delivered chunks whose delivery state is kept for retries.", nil, nil)
	descEvicted   = prometheus.NewDesc("nightjar_output_tracker_evicted_total", "Delivery states dropped by expiry or the size bound.", nil, nil)
	descPanics    = prometheus.NewDesc("nightjar_output_panics_total", "Flushes and destination calls that panicked.", nil, nil)
	descPanicDrop = prometheus.NewDesc("nightjar_output_records_panic_dropped_total", "Records of chunks dropped because the flush panicked.", nil, nil)
	descStateErr  = prometheus.NewDesc("nightjar_output_state_write_errors_total", "Delivery states that could not be saved to state_dir.", nil, nil)
	descStateBad  = prometheus.NewDesc("nightjar_output_state_corrupt_total", "State files ignored at start-up because they were torn or corrupt.", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descDest {
		ch <- d
	}
	ch <- descSkipped
	ch <- descUnrouted
	ch <- descChunks
	ch <- descTracked
	ch <- descEvicted
	ch <- descPanics
	ch <- descPanicDrop
	ch <- descStateErr
	ch <- descStateBad
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, d := range c.r.cfg.Destinations {
		s := d.Metrics.Snapshot()
		id := d.ID()
		counter(descDest["sent"], s.Sent, id)
		counter(descDest["batches"], s.Batches, id)
		counter(descDest["retries"], s.Retries, id)
		counter(descDest["failures"], s.Failures, id)
		counter(descDest["dropped"], s.Dropped, id)
		counter(descDest["truncated"], s.Truncated, id)
		counter(descDest["evictions"], s.CacheEvictions, id)
	}
	k := c.r.Counters()
	counter(descSkipped, k.Skipped)
	counter(descUnrouted, k.Unrouted)
	counter(descChunks, k.ChunksOK, "ok")
	counter(descChunks, k.ChunksRetry, "retry")
	counter(descChunks, k.ChunksError, "error")
	ch <- prometheus.MustNewConstMetric(descTracked, prometheus.GaugeValue, float64(k.TrackedChunks))
	counter(descEvicted, k.TrackerEvicted)
	counter(descPanics, k.Panics)
	counter(descPanicDrop, k.PanicDropped)
	counter(descStateErr, k.StateWriteErrors)
	counter(descStateBad, k.StateCorrupt)
}
