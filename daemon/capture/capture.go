// Package capture owns the kernel side of nightjar at run time: it loads and
// attaches the eBPF programs of package bpf, tells them which system calls
// to report and which processes to ignore, and decodes the records of their
// ring buffer into event.Event values without allocating.
package capture

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// DefaultRingBufferSize is the ring buffer size used when Config leaves it 0.
const DefaultRingBufferSize = 16 << 20

// BatchLatency is a MaxLatency that keeps the reader's wake-ups cheap at
// high event rates while events still arrive well within a second.
const BatchLatency = 10 * time.Millisecond

// DefaultDrainTimeout is the DrainTimeout used when Config leaves it 0.
const DefaultDrainTimeout = 2 * time.Second

// The kernel's syscall_types map holds the 64-bit numbers, the ia32
// numbers from compatBase and socketcall's calls from socketcallBase.
const (
	maxSyscalls    = 512
	compatBase     = maxSyscalls
	socketcallBase = 2 * maxSyscalls
	maxSocketcall  = 32
)

// ErrClosed is returned by Read once the Capture is closed.
var ErrClosed = errors.New("capture closed")

// Config says what to capture.
type Config struct {
	// RingBufferSize is the size in bytes of the ring buffer between the
	// kernel and Read: a power of two and a multiple of the page size.
	// 0 means DefaultRingBufferSize.
	RingBufferSize int
	// Types are the event types to report; none (nil or empty) means all.
	Types []event.Type
	// ExcludePIDs are processes (thread group ids) whose events are not reported,
	// typically the daemon itself.
	ExcludePIDs []uint32
	// MaxLatency bounds how long a record waits in the ring buffer before
	// Read returns it. 0 (or less) has the kernel wake the reader whenever
	// it has caught up, for the lowest latency. Waking the reader for
	// every record costs more than decoding it, so with a positive
	// MaxLatency (BatchLatency, say) the kernel wakes it only once 1/16 of
	// the buffer is filled and Read polls at this interval for the rest.
	MaxLatency time.Duration
	// DrainTimeout bounds how long Close waits for a concurrent Read to
	// take the records left in the ring buffer once the programs are
	// detached; what is left then is counted in Stats.Discarded. 0 means
	// DefaultDrainTimeout.
	DrainTimeout time.Duration
}

// Stats are the capture's counters since Open.
type Stats struct {
	// Records is the number of records read from the ring buffer.
	Records uint64
	// Drops is the number of records the kernel could not write because the
	// ring buffer was full, summed over CPUs.
	Drops uint64
	// DecodeErrors is the number of records that failed to decode.
	DecodeErrors uint64
	// Discarded is the number of records still in the ring buffer at Close
	// that no Read took within DrainTimeout.
	Discarded uint64
}

// Capture is a loaded and attached set of capture programs. Read must be
// called from one goroutine at a time; Stats, SetTypes and Close may be
// called concurrently with it.
type Capture struct {
	objs  bpf.CaptureObjects
	links []link.Link
	rd    *ringbuf.Reader
	rec   ringbuf.Record
	// rdMu keeps Close from unmapping the ring while Pending reads it.
	rdMu   sync.RWMutex
	closed bool
	// bootOffset is CLOCK_REALTIME - CLOCK_BOOTTIME, refreshed by the
	// flush loop so that wall-clock steps show up in event times.
	bootOffset atomic.Int64

	stopFlush chan struct{}
	flushDone chan struct{}

	drainTimeout time.Duration
	// draining is set by Close once the programs are detached: Read then
	// returns ErrClosed when the ring buffer is empty. readers counts
	// the Reads in progress.
	draining atomic.Bool
	readers  atomic.Int32
	num      uint64 // sequence number of the last event Read returned

	records      atomic.Uint64
	decodeErrors atomic.Uint64
	discarded    atomic.Uint64
	// finalDrops holds the drop count read at Close, after which the
	// kernel's counters are gone.
	finalDrops atomic.Pointer[uint64]
}

// Open checks that the machine can run the capture, loads the programs into
// the kernel and attaches them.
func Open(cfg Config) (*Capture, error) {
	spec, err := bpf.LoadCapture()
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	if err := checkSystem(spec); err != nil {
		return nil, err
	}
	size := cfg.RingBufferSize
	if size == 0 {
		size = DefaultRingBufferSize
	}
	if size < os.Getpagesize() || size&(size-1) != 0 {
		return nil, fmt.Errorf("capture: ring buffer size %d is not a power of two of at least one page (%d bytes)", size, os.Getpagesize())
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("capture: lift memlock limit: %w", err)
	}

	spec.Maps[bpf.CaptureMapEvents].MaxEntries = uint32(size)
	latency := cfg.MaxLatency
	var wakeup uint64
	if latency > 0 {
		wakeup = uint64(size / 16)
	}
	if err := spec.Variables[bpf.CaptureVarWakeupBytes].Set(wakeup); err != nil {
		return nil, fmt.Errorf("capture: set wake-up threshold: %w", err)
	}

	c := &Capture{drainTimeout: cfg.DrainTimeout}
	if c.drainTimeout == 0 {
		c.drainTimeout = DefaultDrainTimeout
	}
	if err := spec.LoadAndAssign(&c.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("capture: the kernel rejected the eBPF programs: %+v", ve)
		}
		return nil, fmt.Errorf("capture: load eBPF programs: %w", err)
	}
	if err := c.SetTypes(cfg.Types); err != nil {
		c.Close()
		return nil, err
	}
	for _, pid := range cfg.ExcludePIDs {
		if err := c.objs.ExcludePids.Put(pid, uint8(1)); err != nil {
			c.Close()
			return nil, fmt.Errorf("capture: exclude pid %d: %w", pid, err)
		}
	}
	off, err := bootToWallOffset()
	if err != nil {
		c.Close()
		return nil, err
	}
	c.bootOffset.Store(off)
	// The reader exists before the programs are attached so that nothing
	// they write is missed.
	c.rd, err = ringbuf.NewReader(c.objs.Events)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("capture: open ring buffer: %w", err)
	}
	for _, p := range []*ebpf.Program{c.objs.SysEnter, c.objs.SysExit, c.objs.SchedProcessExit} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("capture: attach %s: %w", p, err)
		}
		c.links = append(c.links, l)
	}
	if latency > 0 {
		c.stopFlush = make(chan struct{})
		c.flushDone = make(chan struct{})
		go c.flushEvery(latency)
	}
	return c, nil
}

// flushEvery makes a waiting Read return the records that did not reach
// the kernel's wake-up threshold.
func (c *Capture) flushEvery(d time.Duration) {
	defer close(c.flushDone)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-c.stopFlush:
			return
		case <-t.C:
			if c.rd.AvailableBytes() > 0 {
				c.rd.Flush()
			}
			if off, err := bootToWallOffset(); err == nil {
				c.bootOffset.Store(off)
			}
		}
	}
}

// SetTypes changes the event types the kernel reports; none means all.
func (c *Capture) SetTypes(types []event.Type) error {
	var want [event.NumTypes]bool
	if len(types) == 0 {
		for t := range want {
			want[t] = true
		}
	}
	for _, t := range types {
		if t == event.TypeUnknown || t >= event.NumTypes {
			return fmt.Errorf("capture: cannot capture event type %d", t)
		}
		want[t] = true
	}
	keys := make([]uint32, 0, socketcallBase+maxSocketcall)
	vals := make([]uint16, 0, socketcallBase+maxSocketcall)
	for _, table := range []struct {
		types map[uint32]event.Type
		base  uint32
		n     uint32
	}{
		{syscallTypes, 0, maxSyscalls},
		{compatSyscallTypes, compatBase, maxSyscalls},
		{socketcallTypes, socketcallBase, maxSocketcall},
	} {
		for nr := uint32(0); nr < table.n; nr++ {
			var v uint16
			if t, ok := table.types[nr]; ok && want[t] {
				v = uint16(t)
			}
			keys = append(keys, table.base+nr)
			vals = append(vals, v)
		}
	}
	if _, err := c.objs.SyscallTypes.BatchUpdate(keys, vals, nil); err != nil {
		return fmt.Errorf("capture: set syscall types: %w", err)
	}
	for t := event.Type(0); t < event.NumTypes; t++ {
		var on uint8
		if want[t] && t != event.TypeUnknown {
			on = 1
		}
		if err := c.objs.TypeEnabled.Put(uint32(t), on); err != nil {
			return fmt.Errorf("capture: set type %s: %w", t, err)
		}
	}
	return nil
}

// Read waits for the next record and decodes it into ev, whose byte slices
// stay valid until the next call to Read. A record that fails to decode is
// counted in Stats and its error, wrapping ErrMalformed, returned; the
// caller may keep reading. Once Close has detached the programs, Read
// returns what is left in the ring buffer, then ErrClosed.
func (c *Capture) Read(ev *event.Event) error {
	c.readers.Add(1)
	defer c.readers.Add(-1)
	for {
		err := c.rd.ReadInto(&c.rec)
		if err == nil {
			break
		}
		if errors.Is(err, ringbuf.ErrFlushed) {
			if c.draining.Load() && c.rd.AvailableBytes() == 0 {
				return ErrClosed
			}
			continue
		}
		if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("capture: read ring buffer: %w", err)
	}
	c.records.Add(1)
	if err := Decode(c.rec.RawSample, ev); err != nil {
		c.decodeErrors.Add(1)
		return err
	}
	c.num++
	ev.Num = c.num
	ev.Time += c.bootOffset.Load()
	return nil
}

// Stats returns the capture's counters.
func (c *Capture) Stats() (Stats, error) {
	s := Stats{Records: c.records.Load(), DecodeErrors: c.decodeErrors.Load(), Discarded: c.discarded.Load()}
	if d := c.finalDrops.Load(); d != nil {
		s.Drops = *d
		return s, nil
	}
	var perCPU []uint64
	if err := c.objs.Drops.Lookup(uint32(0), &perCPU); err != nil {
		return s, fmt.Errorf("capture: read drop counters: %w", err)
	}
	for _, n := range perCPU {
		s.Drops += n
	}
	return s, nil
}

// Pending returns the number of bytes waiting in the ring buffer, so that a
// consumer can flush its output when it has caught up.
func (c *Capture) Pending() int {
	c.rdMu.RLock()
	defer c.rdMu.RUnlock()
	if c.closed {
		return 0
	}
	return c.rd.AvailableBytes()
}

// Close detaches the programs, lets a concurrent Read take the records
// still in the ring buffer (up to DrainTimeout), counts the rest in
// Stats.Discarded and releases the ring buffer; Read then returns
// ErrClosed. Stats keeps working after Close.
func (c *Capture) Close() error {
	var errs []error
	if c.stopFlush != nil {
		close(c.stopFlush)
		<-c.flushDone
		c.stopFlush = nil
	}
	for _, l := range c.links {
		errs = append(errs, l.Close())
	}
	c.links = nil
	if c.objs.Drops != nil && c.finalDrops.Load() == nil {
		if s, err := c.Stats(); err == nil {
			c.finalDrops.Store(&s.Drops)
		}
	}
	if c.rd != nil {
		c.rdMu.Lock()
		if !c.closed {
			c.drain()
			c.closed = true
			errs = append(errs, c.rd.Close())
		}
		c.rdMu.Unlock()
	}
	errs = append(errs, c.objs.Close())
	return errors.Join(errs...)
}

// drain waits for Read to empty the ring buffer, then counts and skips
// what is left.
func (c *Capture) drain() {
	c.draining.Store(true)
	// A consumer between two Reads is still draining; one that has not
	// read for idleReader is not.
	const idleReader = 50 * time.Millisecond
	deadline := time.Now().Add(c.drainTimeout)
	last, lastAt := c.records.Load(), time.Now()
	for c.rd.AvailableBytes() > 0 && time.Now().Before(deadline) {
		if n := c.records.Load(); n != last {
			last, lastAt = n, time.Now()
		} else if c.readers.Load() == 0 && time.Since(lastAt) > idleReader {
			break
		}
		c.rd.Flush() // wakes a Read waiting for the wake-up threshold
		time.Sleep(time.Millisecond)
	}
	// A Read still running sees ErrFlushed on an empty ring and returns.
	c.rd.Flush()
	if c.rd.AvailableBytes() == 0 {
		return
	}
	// Nobody reads: take the rest here, without decoding, to count it.
	// ReadInto waits for a Read in progress, which holds the reader.
	c.rd.SetDeadline(time.Now())
	var rec ringbuf.Record
	for c.rd.AvailableBytes() > 0 {
		if err := c.rd.ReadInto(&rec); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, ringbuf.ErrFlushed) {
			break
		} else if err == nil {
			c.discarded.Add(1)
		}
	}
}
