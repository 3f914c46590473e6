package fields

import (
	"unsafe"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// Ctx is the state of one evaluation: the event and scratch memory for
// field values that have to be assembled (proc.cmdline, a resolved fd.name,
// a rendered evt.arg.flags). A Ctx is reused from event to event so that
// extraction does not allocate once the scratch memory has grown; it is not
// safe for concurrent use.
//
// Strings returned by extractors may point into the event or into the
// scratch memory: they are valid until the next Reset. Keep a copy
// (strings.Clone) to retain one; Extractor.Value does.
type Ctx struct {
	Ev       *event.Event
	Hostname string

	arena []byte
	gen   uint64
	cache [numCached]cached
	memos []memoBool
}

type memoBool struct {
	gen uint64
	val bool
}

// Cached, assembled values.
const (
	cacheCmdline = iota
	cachePcmdline
	cacheArgs
	cacheFDName
	cacheCaps
	cacheCapsPermitted
	cacheCapsInheritable
	cacheArgsAll
	numCached
)

type cached struct {
	gen uint64
	s   string
	ok  bool
}

// NewCtx returns a context for events seen on a host named hostname.
func NewCtx(hostname string) *Ctx {
	return &Ctx{Hostname: hostname, arena: make([]byte, 0, 4096)}
}

// SetMemoSlots sizes the per-event memory of MemoBool.
func (c *Ctx) SetMemoSlots(n int) {
	if n > len(c.memos) {
		c.memos = append(c.memos, make([]memoBool, n-len(c.memos))...)
	}
}

// MemoBool returns fn(c), computing it once per event for each slot; the
// rule compiler uses it for macros that several rules share.
func (c *Ctx) MemoBool(slot int, fn func(*Ctx) bool) bool {
	m := &c.memos[slot]
	if m.gen == c.gen {
		return m.val
	}
	v := fn(c)
	c.memos[slot] = memoBool{gen: c.gen, val: v}
	return v
}

// Reset starts the evaluation of ev, invalidating strings handed out for the
// previous event.
func (c *Ctx) Reset(ev *event.Event) {
	c.Ev = ev
	c.gen++
	c.arena = c.arena[:0]
}

// view returns b as a string without copying. Callers ensure b is not
// modified while the string is in use: event memory is fixed for the
// evaluation, and the arena only grows until the next Reset.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// build assembles a value in the arena with fn and returns it as a string.
func (c *Ctx) build(fn func(dst []byte) []byte) string {
	start := len(c.arena)
	c.arena = fn(c.arena)
	return view(c.arena[start:len(c.arena):len(c.arena)])
}

// memo returns the cached value of slot for the current event, computing it
// with fn on first use.
func (c *Ctx) memo(slot int, fn func(c *Ctx) (string, bool)) (string, bool) {
	e := &c.cache[slot]
	if e.gen != c.gen {
		e.s, e.ok = fn(c)
		e.gen = c.gen
	}
	return e.s, e.ok
}
