// Package forward owns the forward output: alerts sent to a log router
// (Fluent Bit's in_forward, Fluentd) with the Fluent Forward protocol v1 over
// a Unix socket or TCP.
//
// Alerts are batched into chunks in PackedForward mode (or Forward, or
// CompressedPackedForward), each entry [EventTime, record]. With RequireAck
// every chunk carries a "chunk" option and stays in memory (or the spool)
// until the router answers {"ack": chunk}. When the router is away, alerts go
// to a bounded on-disk spool and are delivered in order once it is back; a
// chunk whose ack was lost is sent again, so delivery is at least once.
package forward

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/nightjar-sec/nightjar/daemon/output"
	"github.com/nightjar-sec/nightjar/daemon/spool"
	"github.com/nightjar-sec/nightjar/internal/alert"
)

// Mode is the forward protocol's event mode.
type Mode int

// Event modes of the forward protocol.
const (
	PackedForward           Mode = iota // [tag, bin(entry…), option]
	Forward                             // [tag, [entry…], option]
	CompressedPackedForward             // [tag, bin(gzip(entry…)), {compressed: "gzip"}]
)

// String returns the mode's name in the protocol specification.
func (m Mode) String() string {
	switch m {
	case PackedForward:
		return "PackedForward"
	case Forward:
		return "Forward"
	case CompressedPackedForward:
		return "CompressedPackedForward"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "packed_forward", "forward" or "compressed_packed_forward".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "packed_forward", "":
		return PackedForward, nil
	case "forward":
		return Forward, nil
	case "compressed_packed_forward":
		return CompressedPackedForward, nil
	}
	return 0, fmt.Errorf("unknown forward mode %q (want packed_forward, forward or compressed_packed_forward)", s)
}

// DefaultTag is the tag alerts carry unless configured otherwise.
const DefaultTag = "nightjar.alerts"

// Options configure the forward output.
type Options struct {
	Network string // "unix" (default) or "tcp"
	Address string // socket path or host:port
	Tag     string // default DefaultTag
	Mode    Mode
	// RequireAck adds a chunk id to every chunk and keeps the chunk until
	// the router acknowledges it.
	RequireAck bool
	// BatchSize and BatchBytes bound a chunk. Defaults 1000 and 1 MiB (in
	// Fluent Bit's default Buffer_Chunk_Size).
	BatchSize  int
	BatchBytes int
	// AckTimeout bounds the wait for an ack; default 30s.
	AckTimeout time.Duration
	// WriteTimeout bounds one chunk write; DialTimeout one connection
	// attempt. Defaults 10s and 5s.
	WriteTimeout time.Duration
	DialTimeout  time.Duration
	// BackoffMin and BackoffMax bound the reconnect backoff, which doubles
	// after each failed attempt. Defaults 100ms and 10s.
	BackoffMin, BackoffMax time.Duration
	// QueueSize bounds the alerts held in memory. With a spool the excess
	// goes to disk; without one the oldest are dropped and counted. Default 100000.
	QueueSize int
	// SpoolDir enables the on-disk spool; empty disables it.
	SpoolDir string
	Spool    spool.Options
	Logger   *slog.Logger
}

type batch struct {
	entries   [][]byte
	fromSpool bool
	pos       spool.Pos
}

// Output is the forward sink. It implements output.Sink and output.Reporter.
type Output struct {
	opts  Options
	spool *spool.Spool
	log   *slog.Logger

	mu       sync.Mutex
	mem      [][]byte // encoded entries, oldest first
	inflight *batch   // sent or about to be sent, not yet acknowledged
	down     bool     // the last connection attempt or connection failed
	closing  bool
	failing  time.Time
	memDrops uint64

	spoolFailing  bool      // the last spool write failed
	spoolRetryAt  time.Time // no spool write before this, after a failure
	memDropLogged time.Time

	notify chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	delivered  atomic.Uint64
	reconnects atomic.Uint64
	encPool    sync.Pool
}

// New starts the forward output. It connects in the background; alerts sent
// before the router is reachable are queued (and spooled) meanwhile.
func New(opts Options) (*Output, error) {
	if opts.Network == "" {
		opts.Network = "unix"
	}
	if opts.Network != "unix" && opts.Network != "tcp" {
		return nil, fmt.Errorf("forward: network %q is not unix or tcp", opts.Network)
	}
	if opts.Address == "" {
		return nil, errors.New("forward: address is empty")
	}
	if opts.Tag == "" {
		opts.Tag = DefaultTag
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 1 << 20
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 30 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 100 * time.Millisecond
	}
	if opts.BackoffMax < opts.BackoffMin {
		opts.BackoffMax = max(10*time.Second, opts.BackoffMin)
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 100000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	o := &Output{opts: opts, log: opts.Logger, notify: make(chan struct{}, 1), done: make(chan struct{})}
	if opts.SpoolDir != "" {
		sp, err := spool.Open(opts.SpoolDir, opts.Spool)
		if err != nil {
			return nil, fmt.Errorf("forward: %w", err)
		}
		o.spool = sp
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	go o.run(ctx)
	return o, nil
}

// Name implements output.Sink.
func (o *Output) Name() string { return "forward" }

// Send encodes a and queues it. It does not wait for the router.
func (o *Output) Send(_ context.Context, a *alert.Alert) error {
	bp, _ := o.encPool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	enc, err := AppendEntry((*bp)[:0], a)
	if err != nil {
		o.encPool.Put(bp)
		o.mu.Lock()
		o.memDrops++
		o.mu.Unlock()
		return fmt.Errorf("forward: encode alert (dropped): %w", err)
	}
	entry := bytes.Clone(enc)
	*bp = enc
	o.encPool.Put(bp)
	return o.enqueue(entry)
}

func (o *Output) enqueue(entry []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closing && o.isDone() {
		o.memDrops++
		return errors.New("forward: closed; alert dropped")
	}
	o.mem = append(o.mem, entry)
	// Everything after the first spooled alert goes to the spool too, so
	// that the order is kept. When the spool cannot take it (a full disk)
	// the alert waits in memory, and the spool is tried again later.
	if o.spool != nil && (o.down || o.spool.Len() > 0 || len(o.mem) > o.opts.QueueSize) {
		o.spillLocked(time.Now())
	}
	if len(o.mem) > o.opts.QueueSize {
		o.mem[0] = nil
		o.mem = o.mem[1:]
		o.memDrops++
		o.noteMemDropLocked()
	}
	select {
	case o.notify <- struct{}{}:
	default:
	}
	return nil
}

// noteMemDropLocked logs the first alert dropped from a full memory queue
// and then at most one line a minute; every drop is counted in Stats.
func (o *Output) noteMemDropLocked() {
	now := time.Now()
	if now.Sub(o.memDropLogged) < time.Minute {
		return
	}
	o.memDropLogged = now
	o.log.Error("forward: memory queue full; oldest alerts dropped", "queue_size", o.opts.QueueSize, "dropped_total", o.memDrops, "spool", o.spool != nil)
}

func (o *Output) isDone() bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

// spoolRetry is how long the spool rests after a failed write (a full
// disk) before it is tried again; alerts wait in memory meanwhile.
const spoolRetry = 500 * time.Millisecond

// spillLocked moves the in-memory queue to the tail of the spool, keeping
// order. What the spool cannot take stays in memory.
func (o *Output) spillLocked(now time.Time) {
	if len(o.mem) == 0 || now.Before(o.spoolRetryAt) {
		return
	}
	n, err := o.spool.Append(o.mem...)
	clear(o.mem[:n])
	o.mem = o.mem[n:]
	if err != nil {
		o.spoolRetryAt = now.Add(spoolRetry)
		if !o.spoolFailing {
			o.spoolFailing = true
			o.log.Error("forward: spool write failed; alerts wait in memory", "err", err, "queue_size", o.opts.QueueSize)
		}
		return
	}
	if o.spoolFailing {
		o.spoolFailing = false
		o.log.Info("forward: spool writable again")
	}
}

// failLocked records a failed connection: an unacknowledged batch taken
// from memory goes to the head of the spool, the memory queue to its tail.
func (o *Output) failLocked(now time.Time) {
	o.down = true
	if o.failing.IsZero() {
		o.failing = now
	}
	o.spillAllLocked()
}

// spillAllLocked moves everything not yet acknowledged to the spool, in order.
func (o *Output) spillAllLocked() {
	if o.spool == nil {
		return
	}
	if b := o.inflight; b != nil {
		if !b.fromSpool {
			if err := o.spool.Prepend(b.entries); err != nil {
				// It stays in flight and is sent first on the next connection.
				if !o.spoolFailing {
					o.spoolFailing = true
					o.log.Error("forward: cannot spool unacknowledged chunk; keeping it in memory", "err", err)
				}
				return
			}
		}
		o.inflight = nil
	}
	o.spillLocked(time.Now())
}

// next returns the batch to send: the unacknowledged one first, then the
// spool, then memory. It returns nil when there is nothing to send.
func (o *Output) next() (*batch, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.inflight != nil {
		return o.inflight, nil
	}
	if o.spool != nil && o.spool.Len() > 0 {
		recs, pos, err := o.spool.Peek(o.opts.BatchSize)
		if err != nil {
			return nil, err
		}
		if t := o.trim(recs); len(t) < len(recs) {
			// Cut to fit BatchBytes: commit only what is sent.
			if recs, pos, err = o.spool.Peek(len(t)); err != nil {
				return nil, err
			}
		}
		o.inflight = &batch{entries: recs, fromSpool: true, pos: pos}
		return o.inflight, nil
	}
	if len(o.mem) == 0 {
		return nil, nil
	}
	n := len(o.trim(o.mem[:min(len(o.mem), o.opts.BatchSize)]))
	b := &batch{entries: make([][]byte, n)}
	copy(b.entries, o.mem[:n])
	clear(o.mem[:n])
	o.mem = o.mem[n:]
	o.inflight = b
	return b, nil
}

// trim shortens recs to fit BatchBytes (always keeping at least one).
func (o *Output) trim(recs [][]byte) [][]byte {
	size := 0
	for i, r := range recs {
		size += len(r)
		if size > o.opts.BatchBytes && i > 0 {
			return recs[:i]
		}
	}
	return recs
}

func (o *Output) run(ctx context.Context) {
	defer close(o.done)
	backoff := o.opts.BackoffMin
	connected := false
	for {
		if o.finished(ctx) {
			return
		}
		conn, err := o.dial(ctx)
		if err != nil {
			o.mu.Lock()
			o.failLocked(time.Now())
			closing := o.closing
			o.mu.Unlock()
			if closing || ctx.Err() != nil {
				return
			}
			o.log.Warn("forward: router unreachable", "address", o.opts.Address, "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, o.opts.BackoffMax)
			continue
		}
		if connected {
			o.reconnects.Add(1)
		}
		connected = true
		o.mu.Lock()
		o.down = false
		o.mu.Unlock()
		sent, err := o.serve(ctx, conn)
		conn.Close()
		if err == nil {
			return // closing with nothing left
		}
		o.mu.Lock()
		o.failLocked(time.Now())
		o.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		o.log.Warn("forward: connection lost", "address", o.opts.Address, "err", err)
		if sent {
			backoff = o.opts.BackoffMin
		}
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, o.opts.BackoffMax)
	}
}

// finished reports whether the output is closing and has nothing left it could send.
func (o *Output) finished(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closing && o.down
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (o *Output) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: o.opts.DialTimeout}
	return d.DialContext(ctx, o.opts.Network, o.opts.Address)
}

// serve sends batches on conn until it fails or the output is closed with
// nothing left. It reports whether any chunk went through.
func (o *Output) serve(ctx context.Context, conn net.Conn) (bool, error) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	w := bufio.NewWriterSize(conn, 64<<10)
	r := bufio.NewReader(conn)
	dec := msgpack.NewDecoder(r)
	var frame []byte
	sent := false
	for {
		b, err := o.next()
		if err != nil {
			return sent, err
		}
		if b == nil {
			o.mu.Lock()
			closing := o.closing
			// Connected with everything delivered: not failing, even if
			// no alert has come since the router was back.
			o.failing = time.Time{}
			o.mu.Unlock()
			if closing {
				return sent, nil
			}
			select {
			case <-ctx.Done():
				return sent, ctx.Err()
			case <-o.notify:
			}
			continue
		}
		var id string
		if o.opts.RequireAck {
			id = chunkID()
		}
		frame, err = o.appendFrame(frame[:0], b.entries, id)
		if err != nil {
			return sent, err
		}
		conn.SetWriteDeadline(time.Now().Add(o.opts.WriteTimeout))
		if _, err := w.Write(frame); err != nil {
			return sent, fmt.Errorf("write chunk: %w", err)
		}
		if err := w.Flush(); err != nil {
			return sent, fmt.Errorf("write chunk: %w", err)
		}
		if o.opts.RequireAck {
			conn.SetReadDeadline(time.Now().Add(o.opts.AckTimeout))
			if err := readAck(dec, id); err != nil {
				return sent, err
			}
		}
		sent = true
		if err := o.delivered1(b); err != nil {
			return sent, err
		}
	}
}

func (o *Output) delivered1(b *batch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if b.fromSpool {
		if err := o.spool.Commit(b.pos); err != nil {
			return err
		}
	}
	o.inflight = nil
	o.failing = time.Time{}
	o.delivered.Add(uint64(len(b.entries)))
	return nil
}

func readAck(dec *msgpack.Decoder, id string) error {
	m, err := dec.DecodeMap()
	if err != nil {
		return fmt.Errorf("read ack: %w", err)
	}
	got, ok := m["ack"].(string)
	if !ok {
		return fmt.Errorf("read ack: response %v has no ack", m)
	}
	if got != id {
		return fmt.Errorf("read ack: got ack %q for chunk %q", got, id)
	}
	return nil
}

// appendFrame appends one forward-protocol message carrying entries.
func (o *Output) appendFrame(b []byte, entries [][]byte, chunk string) ([]byte, error) {
	b = append(b, 0x93)
	b = appendStr(b, o.opts.Tag)
	n := 0
	for _, e := range entries {
		n += len(e)
	}
	switch o.opts.Mode {
	case Forward:
		b = appendArrayHeader(b, len(entries))
		for _, e := range entries {
			b = append(b, e...)
		}
	case CompressedPackedForward:
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		for _, e := range entries {
			zw.Write(e)
		}
		if err := zw.Close(); err != nil {
			return b, fmt.Errorf("compress chunk: %w", err)
		}
		b = appendBinHeader(b, zb.Len())
		b = append(b, zb.Bytes()...)
	default:
		b = appendBinHeader(b, n)
		for _, e := range entries {
			b = append(b, e...)
		}
	}
	fields := 1
	if chunk != "" {
		fields++
	}
	if o.opts.Mode == CompressedPackedForward {
		fields++
	}
	b = appendMapHeader(b, fields)
	b = appendStr(b, "size")
	b = appendUint(b, uint64(len(entries)))
	if chunk != "" {
		b = appendStr(b, "chunk")
		b = appendStr(b, chunk)
	}
	if o.opts.Mode == CompressedPackedForward {
		b = appendStr(b, "compressed")
		b = appendStr(b, "gzip")
	}
	return b, nil
}

// chunkID returns a unique chunk id: 128 random bits, base64, as Fluentd does.
func chunkID() string {
	var id [16]byte
	rand.Read(id[:])
	return base64.StdEncoding.EncodeToString(id[:])
}

// Stats implements output.Reporter.
func (o *Output) Stats() output.Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := output.Stats{
		Delivered:    o.delivered.Load(),
		Pending:      uint64(len(o.mem)),
		Dropped:      o.memDrops,
		Reconnects:   o.reconnects.Load(),
		FailingSince: o.failing,
	}
	if b := o.inflight; b != nil && !b.fromSpool {
		st.Pending += uint64(len(b.entries))
	}
	if o.spool != nil {
		st.Spooled = uint64(o.spool.Len())
		st.Dropped += o.spool.Dropped()
	}
	return st
}

// Close delivers what is queued while the router is reachable, bounded by
// ctx; what is left then goes to the spool (or, without one, is counted as
// dropped). The spool is closed.
func (o *Output) Close(ctx context.Context) error {
	o.mu.Lock()
	if o.closing {
		o.mu.Unlock()
		<-o.done
		return nil
	}
	o.closing = true
	o.mu.Unlock()
	select {
	case o.notify <- struct{}{}:
	default:
	}
	var err error
	select {
	case <-o.done:
	case <-ctx.Done():
		o.cancel()
		<-o.done
		err = fmt.Errorf("forward: flush: %w", ctx.Err())
	}
	o.cancel()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.spool != nil {
		o.spoolRetryAt = time.Time{}
		o.spillAllLocked()
		if e := o.spool.Close(); err == nil {
			err = e
		}
	}
	// Without a spool, or with one that could not take them, what is left
	// in memory is lost now: counted and logged.
	lost := uint64(len(o.mem))
	if b := o.inflight; b != nil && !b.fromSpool {
		lost += uint64(len(b.entries))
	}
	o.inflight = nil
	o.mem = nil
	if lost > 0 {
		o.memDrops += lost
		o.log.Error("forward: closed with undelivered alerts that could not be spooled", "dropped", lost, "spool", o.spool != nil)
	}
	return err
}
