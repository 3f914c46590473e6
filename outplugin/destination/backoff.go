package destination

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is a capped exponential backoff with full jitter.
type Backoff struct {
	Base     time.Duration // first delay ceiling
	Max      time.Duration // delay ceiling cap
	Attempts int           // total attempts, including the first
}

// DefaultBackoff suits a call made inside a Fluent Bit flush: a few quick
// retries, then FLB_RETRY hands the chunk back to Fluent Bit's scheduler.
func DefaultBackoff() Backoff {
	return Backoff{Base: 100 * time.Millisecond, Max: 2 * time.Second, Attempts: 4}
}

// Wait sleeps before retry number attempt (1 for the first retry). It
// returns ctx's error if ctx ends first.
func (b Backoff) Wait(ctx context.Context, attempt int) error {
	ceil := b.Base << min(attempt-1, 20)
	if ceil > b.Max || ceil <= 0 {
		ceil = b.Max
	}
	d := time.Duration(rand.Int64N(int64(ceil) + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
