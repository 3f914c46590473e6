package main

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
)

// The two benchmarks compare the record path of this plugin with the usual
// one of Go plugins: fluent-bit-go's decoder into Go maps, then
// encoding/json. Both turn a 6,000-record chunk into JSON messages.

func BenchmarkRecordsNightjar(b *testing.B) {
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 6000, time.Now())
	var buf []byte
	cpu0 := cpuTime()
	for b.Loop() {
		d := record.NewDecoder(chunk)
		var r record.Record
		for d.Next(&r) {
			buf, _ = r.Body.AppendJSON(buf[:0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*6000), "ns/record")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*6000), "cpu-ns/record")
}

func BenchmarkRecordsFluentBitGo(b *testing.B) {
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 6000, time.Now())
	cpu0 := cpuTime()
	for b.Loop() {
		dec := output.NewDecoder(unsafe.Pointer(&chunk[0]), len(chunk))
		for {
			ret, _, rec := output.GetRecord(dec)
			if ret != 0 {
				break
			}
			if _, err := json.Marshal(stringKeys(rec)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*6000), "ns/record")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*6000), "cpu-ns/record")
}

// cpuTime is the process's user and system CPU time: the machine may be
// shared, so wall time per record overstates the cost.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stringKeys converts the decoder's map[interface{}]interface{} and []byte
// values into what encoding/json accepts, as Go plugins do.
func stringKeys(v any) any {
	switch x := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(stringKeys(k))] = stringKeys(e)
		}
		return m
	case []interface{}:
		for i := range x {
			x[i] = stringKeys(x[i])
		}
		return x
	case []byte:
		return string(x)
	}
	return v
}
