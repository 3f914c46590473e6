package destination

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Backoff is a capped exponential backoff with full jitter.
type Backoff struct {
	Base     time.Duration // first delay ceiling
	Max      time.Duration // delay ceiling cap
	Attempts int           // total attempts, including the first
	// MaxRetryAfter is the longest server-requested delay WaitRetry
	// sleeps; zero leaves only the context's deadline as the bound.
	MaxRetryAfter time.Duration
}

// DefaultBackoff suits a call made inside a Fluent Bit flush: a few quick
// retries, then FLB_RETRY hands the chunk back to Fluent Bit's scheduler.
// A server asking for more than 30s is left to that scheduler too, rather
// than holding a flush worker.
func DefaultBackoff() Backoff {
	return Backoff{Base: 100 * time.Millisecond, Max: 2 * time.Second, Attempts: 4, MaxRetryAfter: 30 * time.Second}
}

// Wait sleeps before retry number attempt (1 for the first retry). It
// returns ctx's error if ctx ends first.
func (b Backoff) Wait(ctx context.Context, attempt int) error {
	ceil := b.Base << min(attempt-1, 20)
	if ceil > b.Max || ceil <= 0 {
		ceil = b.Max
	}
	return sleep(ctx, time.Duration(rand.Int64N(int64(ceil)+1)))
}

// WaitRetry sleeps before retry number attempt for retryAfter, the delay
// the server asked for, or for the backoff when it asked for none. A
// delay beyond MaxRetryAfter or ctx's deadline returns an error at once,
// leaving the retry to Fluent Bit.
func (b Backoff) WaitRetry(ctx context.Context, attempt int, retryAfter time.Duration) error {
	if retryAfter <= 0 {
		return b.Wait(ctx, attempt)
	}
	if b.MaxRetryAfter > 0 && retryAfter > b.MaxRetryAfter {
		return fmt.Errorf("Retry-After %v exceeds the %v cap", retryAfter, b.MaxRetryAfter)
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < retryAfter {
		return fmt.Errorf("Retry-After %v exceeds the flush deadline", retryAfter)
	}
	return sleep(ctx, retryAfter)
}

func sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RetryAfter returns the delay a Retry-After header value asks for at now:
// delay-seconds or an HTTP-date (RFC 9110, section 10.2.3). An empty,
// malformed or past value gives 0.
func RetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(min(n, math.MaxInt64/int64(time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
