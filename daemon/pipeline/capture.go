package pipeline

import (
	"errors"

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
