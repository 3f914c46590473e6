package router

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/destination"
)

// tracker remembers, for chunks that were only partly delivered, which
// records each destination has settled. Memory is bounded by a maximum
// number of chunks and an expiry; evictions are counted because a chunk
// retried after its state was evicted may be delivered twice. With a
// store, the state also survives a restart.
//
// A flush holds its chunk's key from before it reads the state until after
// it wrote it back: concurrent flushes of identical chunks take turns, so
// the second sends only what the first left owed.
type tracker struct {
	max   int
	ttl   time.Duration
	store *store // nil keeps the state in memory only
	log   *slog.Logger

	mu      sync.Mutex
	entries map[uint64]*delivery
	busy    map[uint64]chan struct{} // keys held by a flush; closed on release

	evicted     atomic.Uint64
	storeErrors atomic.Uint64 // state files that could not be written
	storeBad    atomic.Uint64 // state files rejected at load (torn or corrupt)
}

// delivery is one chunk's settled records: a bitset of record indexes per
// destination. Only the flush holding the chunk's key touches it.
type delivery struct {
	created time.Time
	size    int // the chunk's length, a guard against key collisions
	bits    [][]uint64
}

func newTracker(max int, ttl time.Duration, st *store, log *slog.Logger) *tracker {
	return &tracker{max: max, ttl: ttl, store: st, log: log, entries: map[uint64]*delivery{}, busy: map[uint64]chan struct{}{}}
}

// restore loads the stored states, dropping expired ones and, beyond max,
// the oldest.
func (t *tracker) restore() error {
	states, bad, err := t.store.load()
	if err != nil {
		return err
	}
	t.storeBad.Add(uint64(bad))
	if bad > 0 {
		t.log.Warn("ignored unreadable delivery state files", "dir", t.store.dir, "count", bad)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range states {
		if time.Since(s.d.created) > t.ttl {
			t.store.remove(s.key)
			t.evicted.Add(1)
			continue
		}
		if len(t.entries) >= t.max {
			t.evictLocked()
		}
		t.entries[s.key] = s.d
	}
	return nil
}

// acquire waits until no other flush holds key and takes it. It fails
// only when ctx ends first.
func (t *tracker) acquire(ctx context.Context, key uint64) (release func(), err error) {
	for {
		t.mu.Lock()
		ch, held := t.busy[key]
		if !held {
			ch = make(chan struct{})
			t.busy[key] = ch
			t.mu.Unlock()
			return func() {
				t.mu.Lock()
				delete(t.busy, key)
				t.mu.Unlock()
				close(ch)
			}, nil
		}
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// get returns the state of the chunk with key and length size, or nil.
func (t *tracker) get(key uint64, size int) *delivery {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.entries[key]
	if d == nil {
		return nil
	}
	if time.Since(d.created) > t.ttl || d.size != size {
		t.dropLocked(key)
		return nil
	}
	return d
}

// newDelivery returns an empty state for a chunk of size bytes.
func (t *tracker) newDelivery(size, dests int) *delivery {
	return &delivery{created: time.Now(), size: size, bits: make([][]uint64, dests)}
}

// put keeps d as the state of key, durably when there is a store.
func (t *tracker) put(key uint64, d *delivery) {
	t.mu.Lock()
	if _, ok := t.entries[key]; !ok && len(t.entries) >= t.max {
		t.evictLocked()
	}
	t.entries[key] = d
	t.mu.Unlock()
	if t.store == nil {
		return
	}
	if err := t.store.save(key, d); err != nil {
		// The state still holds in memory; only a restart loses it.
		t.storeErrors.Add(1)
		t.log.Error("delivery state not saved; a restart would send this chunk's delivered records again", "error", err)
	}
}

// evictLocked drops expired entries, and the oldest one if none expired.
func (t *tracker) evictLocked() {
	var oldestKey uint64
	var oldest time.Time
	for k, d := range t.entries {
		if time.Since(d.created) > t.ttl {
			t.dropLocked(k)
			continue
		}
		if oldest.IsZero() || d.created.Before(oldest) {
			oldest, oldestKey = d.created, k
		}
	}
	if len(t.entries) >= t.max {
		t.dropLocked(oldestKey)
	}
}

func (t *tracker) dropLocked(key uint64) {
	delete(t.entries, key)
	t.evicted.Add(1)
	if t.store != nil {
		t.store.remove(key)
	}
}

// remove forgets a chunk that needs no more attempts. The file goes even
// when the memory state does not hold the key: an eviction racing with a
// save can leave a file behind.
func (t *tracker) remove(key uint64) {
	t.mu.Lock()
	delete(t.entries, key)
	t.mu.Unlock()
	if t.store != nil {
		t.store.remove(key)
	}
}

func (t *tracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// settleResult records what one destination's outcome settled: all its
// records when it succeeded or failed permanently (dropped and counted),
// else those it acknowledged.
func (d *delivery) settleResult(res result) {
	all := res.err == nil || destination.IsPermanent(res.err)
	for i, rec := range res.batch.Records {
		if all || res.batch.Acked(i) {
			d.settle(res.dst, rec.Index)
		}
	}
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
