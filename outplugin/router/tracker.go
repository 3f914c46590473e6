package router

import (
	"sync"
	"sync/atomic"
	"time"
)

// tracker remembers, for chunks that were only partly delivered, which
// records each destination has settled. Memory is bounded by a maximum
// number of chunks and an expiry; evictions are counted because a chunk
// retried after its state was evicted may be delivered twice.
type tracker struct {
	max     int
	ttl     time.Duration
	mu      sync.Mutex
	entries map[uint64]*delivery
	evicted atomic.Uint64
}

// delivery is one chunk's settled records: a bitset of record indexes per
// destination. Only the flush that owns the chunk touches it.
type delivery struct {
	created time.Time
	bits    [][]uint64
}

func newTracker(max int, ttl time.Duration) *tracker {
	return &tracker{max: max, ttl: ttl, entries: map[uint64]*delivery{}}
}

func (t *tracker) get(key uint64) *delivery {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.entries[key]
	if d != nil && time.Since(d.created) > t.ttl {
		delete(t.entries, key)
		t.evicted.Add(1)
		return nil
	}
	return d
}

func (t *tracker) create(key uint64, dests int) *delivery {
	d := &delivery{created: time.Now(), bits: make([][]uint64, dests)}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.entries) >= t.max {
		t.evictLocked()
	}
	t.entries[key] = d
	return d
}

// evictLocked drops expired entries, and the oldest one if none expired.
func (t *tracker) evictLocked() {
	var oldestKey uint64
	var oldest time.Time
	for k, d := range t.entries {
		if time.Since(d.created) > t.ttl {
			delete(t.entries, k)
			t.evicted.Add(1)
			continue
		}
		if oldest.IsZero() || d.created.Before(oldest) {
			oldest, oldestKey = d.created, k
		}
	}
	if len(t.entries) >= t.max {
		delete(t.entries, oldestKey)
		t.evicted.Add(1)
	}
}

func (t *tracker) remove(key uint64) {
	t.mu.Lock()
	delete(t.entries, key)
	t.mu.Unlock()
}

func (t *tracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

func (d *delivery) settled(dst, idx int) bool {
	b := d.bits[dst]
	w := idx / 64
	return w < len(b) && b[w]&(1<<(idx%64)) != 0
}

func (d *delivery) settle(dst, idx int) {
	w := idx / 64
	for len(d.bits[dst]) <= w {
		d.bits[dst] = append(d.bits[dst], 0)
	}
	d.bits[dst][w] |= 1 << (idx % 64)
}
