package forward

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// benchListener reads forward messages, walks every entry (as a router must
// to split them) and acks each chunk.
func benchListener(b *testing.B, path string) *atomic.Int64 {
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	var entries atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				dec := msgpack.NewDecoder(bufio.NewReaderSize(c, 1<<20))
				inner := msgpack.NewDecoder(nil)
				var rd bytes.Reader
				for {
					if _, err := dec.DecodeArrayLen(); err != nil {
						return
					}
					dec.Skip() // tag
					packed, err := dec.DecodeBytes()
					if err != nil {
						return
					}
					opts, err := dec.DecodeMap()
					if err != nil {
						return
					}
					rd.Reset(packed)
					inner.Reset(&rd)
					n := int64(0)
					for rd.Len() > 0 {
						if err := inner.Skip(); err != nil {
							b.Error(err)
							return
						}
						n++
					}
					entries.Add(n)
					ack, _ := msgpack.Marshal(map[string]any{"ack": opts["chunk"]})
					if _, err := c.Write(ack); err != nil {
						return
					}
				}
			}()
		}
	}()
	return &entries
}

// BenchmarkForwardAck measures alerts/s delivered to a local listener with
// require_ack (each chunk waits for its ack before the next is sent).
func BenchmarkForwardAck(b *testing.B) {
	path := b.TempDir() + "/fluent.sock"
	got := benchListener(b, path)
	o, err := New(Options{Address: path, RequireAck: true, QueueSize: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	a := testAlert(1)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := o.Send(context.Background(), a); err != nil {
			b.Fatal(err)
		}
	}
	for o.Stats().Delivered < uint64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "alerts/s")
	o.Close(context.Background())
	if got.Load() < int64(b.N) {
		b.Fatalf("listener saw %d entries, want %d", got.Load(), b.N)
	}
}

// BenchmarkAppendEntry measures encoding one alert as a forward entry.
func BenchmarkAppendEntry(b *testing.B) {
	a := testAlert(1)
	var buf []byte
	b.ReportAllocs()
	for range b.N {
		var err error
		if buf, err = AppendEntry(buf[:0], a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForwardLatency sends alerts at 1,000/s and measures, per alert,
// the time from Send to the listener having decoded it (the alert leaving
// the daemon), reporting the median and 99th percentile.
func BenchmarkForwardLatency(b *testing.B) {
	path := b.TempDir() + "/fluent.sock"
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	lat := make(chan time.Duration, b.N)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		dec := msgpack.NewDecoder(bufio.NewReader(c))
		for {
			var ch chunk
			if ch, err = decodeMessage(dec); err != nil {
				return
			}
			now := time.Now()
			for _, e := range ch.entries {
				lat <- now.Sub(time.Unix(int64(e.sec), int64(e.nsec)))
			}
			ack, _ := msgpack.Marshal(map[string]any{"ack": ch.options["chunk"]})
			if _, err := c.Write(ack); err != nil {
				return
			}
		}
	}()
	o, err := New(Options{Address: path, RequireAck: true})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close(context.Background())
	a := testAlert(1)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for range b.N {
		<-tick.C
		a.Time = time.Now()
		if err := o.Send(context.Background(), a); err != nil {
			b.Fatal(err)
		}
	}
	ds := make([]time.Duration, 0, b.N)
	for range b.N {
		ds = append(ds, <-lat)
	}
	b.StopTimer()
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-µs")
}
