package cloudwatch

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
)

// groupCache remembers the log groups known to exist, so that a missing
// stream in a known group costs no CreateLogGroup, and the groups whose
// retention policy could not be set yet. Templated group names are
// unbounded, so the cache keeps the most recently used max groups and
// counts what it evicts.
type groupCache struct {
	max     int
	evicted *atomic.Uint64

	mu    sync.Mutex
	order *list.List // of *groupState, most recently used first
	items map[string]*list.Element
}

// groupState is what is known of one group.
type groupState struct {
	name string
	// retentionDue is when to try PutRetentionPolicy again; zero when the
	// policy is set or not wanted.
	retentionDue time.Time
	retentionTry int // failed PutRetentionPolicy attempts
}

func newGroupCache(max int, evicted *atomic.Uint64) *groupCache {
	return &groupCache{max: max, evicted: evicted, order: list.New(), items: map[string]*list.Element{}}
}

// known reports whether group is known to exist.
func (c *groupCache) known(group string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[group]
	if ok {
		c.order.MoveToFront(e)
	}
	return ok
}

// add records that group exists. A group whose retention is still owed
// keeps that debt.
func (c *groupCache) add(group string, retentionOwed bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[group]; ok {
		c.order.MoveToFront(e)
		if retentionOwed {
			e.Value.(*groupState).retentionDue = now
		}
		return
	}
	g := &groupState{name: group}
	if retentionOwed {
		g.retentionDue = now
	}
	c.items[group] = c.order.PushFront(g)
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*groupState).name)
		c.evicted.Add(1)
	}
}

// retentionDue reports whether group's retention policy is owed and due.
func (c *groupCache) retentionDue(group string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[group]
	if !ok {
		return false
	}
	due := e.Value.(*groupState).retentionDue
	return !due.IsZero() && !now.Before(due)
}

// retentionResult records the outcome of a PutRetentionPolicy attempt. The
// first retry waits for the next Send; later ones back off up to 30
// minutes, so a policy the role may not set costs few requests.
func (c *groupCache) retentionResult(group string, ok bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.items[group]
	if !found {
		return
	}
	g := e.Value.(*groupState)
	if ok {
		g.retentionDue, g.retentionTry = time.Time{}, 0
		return
	}
	g.retentionTry++
	wait := time.Duration(0)
	if g.retentionTry > 1 {
		wait = min(time.Minute<<min(g.retentionTry-2, 5), 30*time.Minute)
	}
	g.retentionDue = now.Add(wait)
}

func (c *groupCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
