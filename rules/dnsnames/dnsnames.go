// Package dnsnames resolves the host names that rules compare the
// fd.*ip.name fields with, and answers, without blocking, whether an
// address is one of a name's addresses.
//
// As in Falco, names are looked up away from event evaluation and
// refreshed periodically: every name is first resolved when Run starts (or
// when it is added while Run is going), then again after a base period
// that doubles, up to a maximum, each time the answer does not change.
package dnsnames

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Falco's refresh periods: 10 s, doubling to 320 s while unchanged.
const (
	DefaultBase = 10 * time.Second
	DefaultMax  = 320 * time.Second
)

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Cache holds the wanted names and their last resolved addresses. Its
// methods are safe for concurrent use; Has and Lookup do not lock.
type Cache struct {
	resolver  Resolver
	base, max time.Duration

	mu    sync.Mutex
	names map[string]*entry
	wake  chan struct{}

	snap atomic.Pointer[snapshot]
}

type entry struct {
	addrs  []netip.Addr // sorted
	period time.Duration
	next   time.Time
	err    error
	done   bool // looked up at least once
}

// snapshot is an immutable view of the resolved addresses.
type snapshot struct {
	byName map[string][]netip.Addr
	byAddr map[netip.Addr]string
}

// New returns a cache that resolves with r (net.DefaultResolver when nil)
// on Falco's refresh periods.
func New(r Resolver) *Cache { return NewWithPeriods(r, DefaultBase, DefaultMax) }

// NewWithPeriods is New with other refresh periods.
func NewWithPeriods(r Resolver, base, max time.Duration) *Cache {
	if r == nil {
		r = net.DefaultResolver
	}
	if max < base {
		max = base
	}
	c := &Cache{resolver: r, base: base, max: max, names: map[string]*entry{}, wake: make(chan struct{}, 1)}
	c.snap.Store(&snapshot{})
	return c
}

// Want adds a name to resolve. A name already wanted keeps its addresses.
func (c *Cache) Want(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.names[name]; ok {
		return
	}
	c.names[name] = &entry{period: c.base}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Names returns the wanted names, sorted.
func (c *Cache) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.names))
	for n := range c.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Has reports whether ip is among the last resolved addresses of name.
func (c *Cache) Has(name string, ip netip.Addr) bool {
	_, ok := slices.BinarySearchFunc(c.snap.Load().byName[name], ip.Unmap(), netip.Addr.Compare)
	return ok
}

// Lookup returns a wanted name that ip resolved to (the first in order of
// name when several did).
func (c *Cache) Lookup(ip netip.Addr) (string, bool) {
	n, ok := c.snap.Load().byAddr[ip.Unmap()]
	return n, ok
}

// Addrs returns the last resolved addresses of name and the error of its
// last lookup.
func (c *Cache) Addrs(name string) ([]netip.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.names[name]
	if !ok {
		return nil, nil
	}
	return slices.Clone(e.addrs), e.err
}

// Refresh looks up every name now, whatever its period.
func (c *Cache) Refresh(ctx context.Context) {
	c.mu.Lock()
	for _, e := range c.names {
		e.next = time.Time{}
	}
	c.mu.Unlock()
	c.resolveDue(ctx, time.Now())
}

// Run resolves the names on their periods until ctx is done, and returns
// ctx's error.
func (c *Cache) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-c.wake:
		}
		next := c.resolveDue(ctx, time.Now())
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(time.Until(next))
	}
}

// resolveDue looks up the names due at now and returns when the next one
// is due.
func (c *Cache) resolveDue(ctx context.Context, now time.Time) time.Time {
	c.mu.Lock()
	var due []string
	for n, e := range c.names {
		if !e.next.After(now) {
			due = append(due, n)
		}
	}
	c.mu.Unlock()
	sort.Strings(due)
	for _, n := range due {
		if ctx.Err() != nil {
			break
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, err := c.resolver.LookupNetIP(lctx, "ip", n)
		cancel()
		for i, a := range addrs {
			addrs[i] = a.Unmap()
		}
		slices.SortFunc(addrs, netip.Addr.Compare)
		addrs = slices.Compact(addrs)
		c.mu.Lock()
		e := c.names[n]
		switch {
		case err != nil:
			// Keep the addresses of the last good answer; retry soon.
			e.err, e.period = err, c.base
		case e.done && slices.Equal(addrs, e.addrs):
			e.err, e.period = nil, min(2*e.period, c.max)
		default:
			e.addrs, e.err, e.period = addrs, nil, c.base
		}
		e.done = true
		e.next = time.Now().Add(e.period)
		c.mu.Unlock()
	}
	c.publish()
	c.mu.Lock()
	defer c.mu.Unlock()
	next := now.Add(c.max)
	for _, e := range c.names {
		if e.next.Before(next) {
			next = e.next
		}
	}
	return next
}

func (c *Cache) publish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &snapshot{byName: make(map[string][]netip.Addr, len(c.names)), byAddr: map[netip.Addr]string{}}
	names := make([]string, 0, len(c.names))
	for n := range c.names {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		e := c.names[n]
		s.byName[n] = e.addrs
		for _, a := range e.addrs {
			if _, taken := s.byAddr[a]; !taken {
				s.byAddr[a] = n
			}
		}
	}
	c.snap.Store(s)
}
