package destination

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{"120", 2 * time.Minute},
		{"-1", 0},
		{"1.5", 0},
		{"soon", 0},
		{"99999999999999999", time.Duration(1<<63-1) / time.Second * time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"Sun, 01 Mar 2026 12:00:05 GMT", 5 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := RetryAfter(tc.in, now); got != tc.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestWaitRetry(t *testing.T) {
	b := Backoff{Base: time.Millisecond, Max: time.Millisecond, Attempts: 3, MaxRetryAfter: time.Minute}
	ctx := context.Background()
	if err := b.WaitRetry(ctx, 1, 0); err != nil {
		t.Errorf("backoff wait: %v", err)
	}
	if err := b.WaitRetry(ctx, 1, 5*time.Millisecond); err != nil {
		t.Errorf("Retry-After within the cap: %v", err)
	}
	if err := b.WaitRetry(ctx, 1, 2*time.Minute); err == nil || !strings.Contains(err.Error(), "cap") {
		t.Errorf("Retry-After beyond the cap: %v, want an error naming the cap", err)
	}
	dctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	b.MaxRetryAfter = 0
	if err := b.WaitRetry(dctx, 1, 2*time.Hour); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("Retry-After beyond the deadline: %v, want an error naming the deadline", err)
	}
	cctx, cancel2 := context.WithCancel(ctx)
	cancel2()
	if err := b.WaitRetry(cctx, 1, time.Millisecond); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v, want context.Canceled", err)
	}
	if err := b.WaitRetry(cctx, 1, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context, backoff: %v, want context.Canceled", err)
	}
}
