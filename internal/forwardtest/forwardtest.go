// Package forwardtest is a Fluent Forward protocol server for tests: it
// plays Fluent Bit's in_forward on a Unix socket, decodes every message
// with an independent msgpack library, checks its shape and answers acks.
package forwardtest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Record is one decoded forward entry.
type Record struct {
	Tag    string
	Time   time.Time
	Record map[string]any
}

// Field returns output_fields[name] of an alert record, or nil.
func (r Record) Field(name string) any {
	f, _ := r.Record["output_fields"].(map[string]any)
	return f[name]
}

// Listener accepts forward connections on a Unix socket.
type Listener struct {
	ln     net.Listener
	mu     sync.Mutex
	recs   []Record
	errs   []error
	notify chan struct{}
}

// Listen starts a listener on the socket path; the test's clean-up stops it.
func Listen(t testing.TB, path string) *Listener {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l := &Listener{ln: ln, notify: make(chan struct{}, 1)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go l.serve(c)
		}
	}()
	return l
}

func (l *Listener) fail(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *Listener) serve(c net.Conn) {
	defer c.Close()
	dec := msgpack.NewDecoder(bufio.NewReader(c))
	for {
		var msg []msgpack.RawMessage
		if err := dec.Decode(&msg); err != nil {
			if !errors.Is(err, io.EOF) {
				l.fail(fmt.Errorf("decode message: %w", err))
			}
			return
		}
		recs, chunk, err := decodeMessage(msg)
		if err != nil {
			l.fail(err)
			return
		}
		if chunk != "" {
			ack, _ := msgpack.Marshal(map[string]string{"ack": chunk})
			if _, err := c.Write(ack); err != nil {
				return
			}
		}
		l.mu.Lock()
		l.recs = append(l.recs, recs...)
		l.mu.Unlock()
		select {
		case l.notify <- struct{}{}:
		default:
		}
	}
}

// decodeMessage decodes a PackedForward or Forward message.
func decodeMessage(msg []msgpack.RawMessage) ([]Record, string, error) {
	if len(msg) < 2 {
		return nil, "", fmt.Errorf("message of %d elements", len(msg))
	}
	var tag string
	if err := msgpack.Unmarshal(msg[0], &tag); err != nil {
		return nil, "", fmt.Errorf("tag: %w", err)
	}
	var entries [][]msgpack.RawMessage
	var packed []byte
	if err := msgpack.Unmarshal(msg[1], &packed); err == nil {
		edec := msgpack.NewDecoder(bytes.NewReader(packed))
		for {
			var e []msgpack.RawMessage
			if err := edec.Decode(&e); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, "", fmt.Errorf("packed entry: %w", err)
			}
			entries = append(entries, e)
		}
	} else if err := msgpack.Unmarshal(msg[1], &entries); err != nil {
		return nil, "", fmt.Errorf("entries: neither PackedForward nor Forward: %w", err)
	}
	var out []Record
	for _, e := range entries {
		if len(e) != 2 {
			return nil, "", fmt.Errorf("entry of %d elements", len(e))
		}
		var et EventTime
		if err := msgpack.Unmarshal(e[0], &et); err != nil {
			return nil, "", fmt.Errorf("entry time is not EventTime: %w", err)
		}
		var rec map[string]any
		if err := msgpack.Unmarshal(e[1], &rec); err != nil {
			return nil, "", fmt.Errorf("record: %w", err)
		}
		out = append(out, Record{Tag: tag, Time: et.Time, Record: rec})
	}
	var chunk string
	if len(msg) > 2 {
		var opts map[string]any
		if err := msgpack.Unmarshal(msg[2], &opts); err != nil {
			return nil, "", fmt.Errorf("options: %w", err)
		}
		chunk, _ = opts["chunk"].(string)
	}
	return out, chunk, nil
}

// Find returns the first record for which match is true, waiting up to
// timeout for it.
func (l *Listener) Find(match func(Record) bool, timeout time.Duration) (Record, bool) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for _, r := range l.recs {
			if match(r) {
				l.mu.Unlock()
				return r, true
			}
		}
		l.mu.Unlock()
		select {
		case <-l.notify:
		case <-deadline:
			return Record{}, false
		}
	}
}

// Errors returns the protocol errors seen so far.
func (l *Listener) Errors() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// WaitFor returns the first record for which match is true, failing the
// test after timeout or on a protocol error.
func (l *Listener) WaitFor(t testing.TB, timeout time.Duration, match func(Record) bool) Record {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		errs := l.errs
		l.errs = nil
		for _, r := range l.recs {
			if match(r) {
				l.mu.Unlock()
				return r
			}
		}
		n := len(l.recs)
		l.mu.Unlock()
		for _, err := range errs {
			t.Errorf("forward listener: %v", err)
		}
		select {
		case <-l.notify:
		case <-deadline:
			t.Fatalf("no matching record after %v (%d records received)", timeout, n)
		}
	}
}

// EventTime decodes the forward protocol's EventTime extension (type 0),
// for tests that read forward messages themselves. Importing this package
// registers it with the msgpack library.
type EventTime struct{ time.Time }

func init() { msgpack.RegisterExt(0, (*EventTime)(nil)) }

// MarshalMsgpack implements msgpack.Marshaler.
func (et *EventTime) MarshalMsgpack() ([]byte, error) {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, uint32(et.Unix()))
	binary.BigEndian.PutUint32(b[4:], uint32(et.Nanosecond()))
	return b, nil
}

// UnmarshalMsgpack implements msgpack.Unmarshaler.
func (et *EventTime) UnmarshalMsgpack(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("EventTime of %d bytes", len(b))
	}
	et.Time = time.Unix(int64(binary.BigEndian.Uint32(b)), int64(binary.BigEndian.Uint32(b[4:]))).UTC()
	return nil
}
