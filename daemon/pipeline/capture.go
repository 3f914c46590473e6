package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/nightjar-sec/nightjar/daemon/capture"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// CaptureSource adapts a kernel capture to Source.
type CaptureSource struct{ *capture.Capture }

// Read implements Source: a closed capture ends the events, and a malformed
// record (counted in the capture's Stats) is skipped.
func (s CaptureSource) Read(ev *event.Event) error {
	err := s.Capture.Read(ev)
	switch {
	case errors.Is(err, capture.ErrClosed):
		return ErrEnd
	case errors.Is(err, capture.ErrMalformed):
		return errors.Join(ErrSkip, err)
	}
	return err
}

// Seeder fills a process table from /proc; *proctable.Table implements it.
type Seeder interface {
	Seed(ctx context.Context) error
}

// OpenCapture opens the kernel capture and then seeds the process table,
// in that order: a process that starts or execs while /proc is being read
// is in the ring buffer, and its events, handled after the seed in the
// order they happened, bring the table up to date. (Seeding first would
// lose whatever happened between the read of /proc and the attach.) Run
// the pipeline only after OpenCapture returns; the ring buffer holds the
// events meanwhile.
func OpenCapture(ctx context.Context, cfg capture.Config, procs Seeder) (*capture.Capture, error) {
	c, err := capture.Open(cfg)
	if err != nil {
		return nil, err
	}
	if err := procs.Seed(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("seed process table: %w", err)
	}
	return c, nil
}
