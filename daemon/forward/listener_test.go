package forward

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// entry is one decoded [EventTime, record] pair.
type entry struct {
	sec, nsec uint32
	record    map[string]any
}

// chunk is one decoded forward message.
type chunk struct {
	tag     string
	packed  bool // entries came as a bin (PackedForward)
	entries []entry
	options map[string]any
	acked   bool
}

// listener is a forward-protocol server for tests: it decodes every message
// with the msgpack library, checks its shape and answers acks.
type listener struct {
	t       *testing.T
	network string
	path    string

	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	chunks []chunk
	errs   []error
	// dropAfter, when > 0, makes the listener close (without acking) the
	// connection on which it receives its dropAfter-th chunk from now on.
	dropAfter int
	seen      int
	dropped   chan struct{}
	notify    chan struct{}
}

func newListener(t *testing.T, path string) *listener {
	return newNetListener(t, "unix", path)
}

// newNetListener listens on network ("unix" or "tcp"); for tcp, Addr gives the port chosen.
func newNetListener(t *testing.T, network, path string) *listener {
	l := &listener{t: t, network: network, path: path, notify: make(chan struct{}, 1)}
	l.start()
	t.Cleanup(l.stop)
	return l
}

func (l *listener) start() {
	ln, err := net.Listen(l.network, l.path)
	if err != nil {
		l.t.Fatalf("listen: %v", err)
	}
	l.mu.Lock()
	l.ln = ln
	l.path = ln.Addr().String()
	l.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.conns = append(l.conns, c)
			l.mu.Unlock()
			go l.serve(c)
		}
	}()
}

// stop closes the listener and every connection, as a router restart does.
func (l *listener) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

func (l *listener) fail(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *listener) serve(c net.Conn) {
	r := bufio.NewReader(c)
	dec := msgpack.NewDecoder(r)
	for {
		ch, err := decodeMessage(dec)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				l.fail(err)
			}
			return
		}
		l.mu.Lock()
		l.seen++
		drop := l.dropAfter > 0 && l.seen == l.dropAfter
		id, wantAck := ch.options["chunk"].(string)
		ch.acked = wantAck && !drop
		l.chunks = append(l.chunks, ch)
		if drop {
			l.dropAfter = 0
			ln := l.ln
			l.ln = nil
			conns := l.conns
			l.conns = nil
			l.mu.Unlock()
			// The router goes away after reading the chunk, before acking it.
			if ln != nil {
				ln.Close()
			}
			for _, c := range conns {
				c.Close()
			}
			close(l.dropped)
			return
		}
		l.mu.Unlock()
		if wantAck {
			b, _ := msgpack.Marshal(map[string]string{"ack": id})
			if _, err := c.Write(b); err != nil {
				return
			}
		}
		select {
		case l.notify <- struct{}{}:
		default:
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// decodeMessage decodes one forward message: [tag, entries, option].
func decodeMessage(dec *msgpack.Decoder) (chunk, error) {
	var ch chunk
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return ch, err
	}
	if n != 3 {
		return ch, fmt.Errorf("message is an array of %d, want 3 (tag, entries, option)", n)
	}
	if ch.tag, err = dec.DecodeString(); err != nil {
		return ch, fmt.Errorf("tag: %w", err)
	}
	code, err := dec.PeekCode()
	if err != nil {
		return ch, err
	}
	var packed []byte
	var forward []entry
	switch {
	case code == 0xc4 || code == 0xc5 || code == 0xc6:
		ch.packed = true
		if packed, err = dec.DecodeBytes(); err != nil {
			return ch, fmt.Errorf("entries: %w", err)
		}
	case code == 0xdc || code == 0xdd || (code >= 0x90 && code <= 0x9f):
		m, err := dec.DecodeArrayLen()
		if err != nil {
			return ch, err
		}
		for range m {
			e, err := decodeEntry(dec)
			if err != nil {
				return ch, err
			}
			forward = append(forward, e)
		}
	default:
		return ch, fmt.Errorf("entries have msgpack code %#x, want bin or array", code)
	}
	if ch.options, err = dec.DecodeMap(); err != nil {
		return ch, fmt.Errorf("option: %w", err)
	}
	if ch.packed {
		if ch.options["compressed"] == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(packed))
			if err != nil {
				return ch, fmt.Errorf("compressed entries: %w", err)
			}
			if packed, err = io.ReadAll(zr); err != nil {
				return ch, fmt.Errorf("compressed entries: %w", err)
			}
		}
		ed := msgpack.NewDecoder(bytes.NewReader(packed))
		for {
			e, err := decodeEntry(ed)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return ch, fmt.Errorf("packed entry %d: %w", len(ch.entries), err)
			}
			ch.entries = append(ch.entries, e)
		}
	} else {
		ch.entries = forward
	}
	if size, ok := ch.options["size"]; ok && fmt.Sprint(size) != fmt.Sprint(len(ch.entries)) {
		return ch, fmt.Errorf("option size %v but %d entries", size, len(ch.entries))
	}
	return ch, nil
}

// decodeEntry decodes [EventTime, record], insisting on the EventTime ext type.
func decodeEntry(dec *msgpack.Decoder) (entry, error) {
	var e entry
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return e, err
	}
	if n != 2 {
		return e, fmt.Errorf("entry is an array of %d, want 2", n)
	}
	raw, err := dec.DecodeRaw()
	if err != nil {
		return e, err
	}
	// fixext8 (0xd7), type 0, seconds and nanoseconds big-endian.
	if len(raw) != 10 || raw[0] != 0xd7 || raw[1] != 0x00 {
		return e, fmt.Errorf("time is % x, want EventTime (d7 00 + 8 bytes)", []byte(raw))
	}
	e.sec = uint32(raw[2])<<24 | uint32(raw[3])<<16 | uint32(raw[4])<<8 | uint32(raw[5])
	e.nsec = uint32(raw[6])<<24 | uint32(raw[7])<<16 | uint32(raw[8])<<8 | uint32(raw[9])
	if e.record, err = dec.DecodeMap(); err != nil {
		return e, fmt.Errorf("record: %w", err)
	}
	return e, nil
}

// snapshot returns the chunks so far and any protocol errors.
func (l *listener) snapshot() ([]chunk, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]chunk(nil), l.chunks...), append([]error(nil), l.errs...)
}
