package destination

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limiter logs each kind of message at most once per interval, so that a
// failing service does not flood Fluent Bit's log; the counters carry the
// totals.
type Limiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

// NewLimiter returns a limiter allowing one message per key per every.
func NewLimiter(every time.Duration) *Limiter {
	return &Limiter{every: every, last: map[string]time.Time{}}
}

// Allow reports whether a message of kind key may be logged now.
func (l *Limiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		return false
	}
	l.last[key] = now
	return true
}

// Log logs msg at level when key is allowed.
func (l *Limiter) Log(log *slog.Logger, level slog.Level, key, msg string, args ...any) {
	if l.Allow(key) {
		log.Log(context.Background(), level, msg, args...)
	}
}
