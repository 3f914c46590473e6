// Package recordtest builds Fluent Bit chunks for tests and benchmarks:
// msgpack records in both of Fluent Bit's record formats, with Falco-like
// alert bodies, and decodes them as the plugin does.
package recordtest

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/tinylib/msgp/msgp"
)

// Format selects how a record's timestamp is framed.
type Format int

const (
	// EventTime is [EventTime, body], the classic forward format.
	EventTime Format = iota
	// IntTime is [seconds, body].
	IntTime
	// Metadata is [[EventTime, {}], body], the format of Fluent Bit 2.1 and later.
	Metadata
)

// AppendEventTime appends t as Fluent Bit's EventTime extension (type 0).
func AppendEventTime(dst []byte, t time.Time) []byte {
	dst = append(dst, 0xd7, 0x00)
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
}

// AppendRecord appends one record with the given msgpack body.
func AppendRecord(dst []byte, f Format, t time.Time, body []byte) []byte {
	dst = msgp.AppendArrayHeader(dst, 2)
	switch f {
	case EventTime:
		dst = AppendEventTime(dst, t)
	case IntTime:
		dst = msgp.AppendInt64(dst, t.Unix())
	case Metadata:
		dst = msgp.AppendArrayHeader(dst, 2)
		dst = AppendEventTime(dst, t)
		dst = msgp.AppendMapHeader(dst, 0)
	}
	return append(dst, body...)
}

// Alert describes the variable parts of a Falco-like alert body.
type Alert struct {
	Seq       int
	Time      time.Time
	Rule      string
	Priority  string
	Hostname  string
	Namespace string
	Tags      []string
	Output    string // defaults to a ~200-byte Falco output line
}

// AppendAlert appends a Falco-style alert as a msgpack map (about 400 bytes
// with the default output).
func AppendAlert(dst []byte, a Alert) []byte {
	if a.Rule == "" {
		a.Rule = "Terminal shell in container"
	}
	if a.Priority == "" {
		a.Priority = "Notice"
	}
	if a.Hostname == "" {
		a.Hostname = "node-1"
	}
	if a.Namespace == "" {
		a.Namespace = "default"
	}
	if a.Tags == nil {
		a.Tags = []string{"container", "shell", "mitre_execution"}
	}
	ts := a.Time.UTC().Format(time.RFC3339Nano)
	if a.Output == "" {
		a.Output = fmt.Sprintf("%s: %s A shell was spawned in a container (user=root container=3f2a1b9c shell=bash parent=runc cmdline=bash -i seq=%d)", ts, a.Priority, a.Seq)
	}
	dst = msgp.AppendMapHeader(dst, 9)
	dst = msgp.AppendString(dst, "time")
	dst = msgp.AppendString(dst, ts)
	dst = msgp.AppendString(dst, "rule")
	dst = msgp.AppendString(dst, a.Rule)
	dst = msgp.AppendString(dst, "priority")
	dst = msgp.AppendString(dst, a.Priority)
	dst = msgp.AppendString(dst, "source")
	dst = msgp.AppendString(dst, "syscall")
	dst = msgp.AppendString(dst, "hostname")
	dst = msgp.AppendString(dst, a.Hostname)
	dst = msgp.AppendString(dst, "tags")
	dst = msgp.AppendArrayHeader(dst, uint32(len(a.Tags)))
	for _, t := range a.Tags {
		dst = msgp.AppendString(dst, t)
	}
	dst = msgp.AppendString(dst, "output")
	dst = msgp.AppendString(dst, a.Output)
	dst = msgp.AppendString(dst, "output_fields")
	dst = msgp.AppendMapHeader(dst, 5)
	dst = msgp.AppendString(dst, "evt.time")
	dst = msgp.AppendInt64(dst, a.Time.UnixNano())
	dst = msgp.AppendString(dst, "proc.name")
	dst = msgp.AppendString(dst, "bash")
	dst = msgp.AppendString(dst, "container.id")
	dst = msgp.AppendString(dst, "3f2a1b9c0d4e")
	dst = msgp.AppendString(dst, "k8s.ns.name")
	dst = msgp.AppendString(dst, a.Namespace)
	dst = msgp.AppendString(dst, "k8s.pod.name")
	dst = msgp.AppendString(dst, "web-7c9")
	dst = msgp.AppendString(dst, "uuid")
	return msgp.AppendString(dst, fmt.Sprintf("0b7c6c9e-0000-4000-8000-%012d", a.Seq))
}

// Chunk returns n alerts numbered from first, one millisecond apart from
// start, in format f.
func Chunk(f Format, first, n int, start time.Time) []byte {
	var out []byte
	for i := range n {
		t := start.Add(time.Duration(i) * time.Millisecond)
		out = AppendRecord(out, f, t, AppendAlert(nil, Alert{Seq: first + i, Time: t}))
	}
	return out
}

// Decode returns the records of chunk as the plugin decodes them. It fails
// the test when the chunk stops short of its end, which a chunk built here
// never does.
func Decode(t testing.TB, chunk []byte) []*record.Record {
	t.Helper()
	d := record.NewDecoder(chunk)
	var out []*record.Record
	for {
		r := new(record.Record)
		if !d.Next(r) {
			break
		}
		out = append(out, r)
	}
	if d.Err() != nil {
		t.Fatal(d.Err())
	}
	return out
}
