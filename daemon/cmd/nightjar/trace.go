package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/capture"
	"github.com/nightjar-sec/nightjar/daemon/config"
	"github.com/nightjar-sec/nightjar/daemon/pipeline"
	"github.com/nightjar-sec/nightjar/daemon/proctable"
	"github.com/nightjar-sec/nightjar/internal/event"
)

type traceOptions struct {
	json      bool
	pid       uint
	types     []event.Type
	countOnly bool
	ringMiB   int
}

func parseTraceFlags(args []string, stderr io.Writer) (traceOptions, error) {
	var o traceOptions
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.json, "json", false, "print JSON lines")
	fs.UintVar(&o.pid, "pid", 0, "print only the events of this process (thread group id)")
	typeList := fs.String("type", "", "comma-separated event types to capture (execve,openat,...); all when empty")
	fs.BoolVar(&o.countOnly, "count-only", false, "count events without printing them")
	fs.IntVar(&o.ringMiB, "ringbuf-mib", capture.DefaultRingBufferSize>>20, "ring buffer size in MiB (a power of two)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("trace: unexpected argument %q", fs.Arg(0))
	}
	if *typeList != "" {
		for _, name := range strings.Split(*typeList, ",") {
			t, ok := event.ParseType(strings.TrimSpace(name))
			if !ok {
				return o, fmt.Errorf("trace: --type: unknown event type %q", name)
			}
			o.types = append(o.types, t)
		}
	}
	return o, nil
}

func traceCmd(args []string, stdout, stderr io.Writer) int {
	o, err := parseTraceFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := trace(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "nightjar:", err)
		return 1
	}
	return 0
}

// trace prints events until ctx is done, then a summary on stderr.
func trace(ctx context.Context, o traceOptions, stdout, stderr io.Writer) error {
	// The process table adds what the kernel event lacks (exe path, cwd,
	// user name, parent, container); counting needs none of it.
	var procs *proctable.Table
	if !o.countOnly {
		resolver, closeMetadata, err := newResolver(config.Default().Metadata)
		if err != nil {
			return err
		}
		defer closeMetadata()
		procs = proctable.New(proctable.Config{Containers: resolver})
	}
	cc := capture.Config{
		RingBufferSize: o.ringMiB << 20,
		MaxLatency:     capture.BatchLatency,
		Types:          captureTypes(o),
		ExcludePIDs:    []uint32{uint32(os.Getpid())},
	}
	var c *capture.Capture
	var err error
	if procs != nil {
		c, err = pipeline.OpenCapture(ctx, cc, procs) // attach, then seed: nothing missed
	} else {
		c, err = capture.Open(cc)
	}
	if err != nil {
		return err
	}
	// Loading parsed the kernel's BTF; hand that memory back now rather
	// than when the scavenger gets to it.
	debug.FreeOSMemory()
	fmt.Fprintln(stderr, "nightjar trace: capturing")
	start := time.Now()
	go func() {
		<-ctx.Done()
		c.Close()
	}()

	var show [event.NumTypes]bool
	for _, t := range o.types {
		show[t] = true
	}
	out := bufio.NewWriterSize(stdout, 256<<10)
	var (
		ev      event.Event
		line    []byte
		printed uint64
	)
	for {
		ev.Proc, ev.FD = nil, nil
		err := c.Read(&ev)
		if errors.Is(err, capture.ErrClosed) {
			break
		}
		if errors.Is(err, capture.ErrMalformed) {
			continue // counted in Stats
		}
		if err != nil {
			return err
		}
		if o.countOnly {
			continue
		}
		procs.Handle(&ev)
		if (o.pid == 0 || ev.PID == uint32(o.pid)) && (o.types == nil || ev.Type < event.NumTypes && show[ev.Type]) {
			if o.json {
				line = appendJSON(line[:0], &ev)
			} else {
				line = appendText(line[:0], &ev)
			}
			line = append(line, '\n')
			if _, err := out.Write(line); err != nil {
				return fmt.Errorf("write event: %w", err)
			}
			printed++
		}
		// Flush when caught up, so that a terminal sees events promptly
		// while a busy stream is written in large blocks. This runs after
		// events that are not printed too: a printed line followed only by
		// filtered events must not wait for the next printed one.
		if out.Buffered() > 0 && c.Pending() == 0 {
			if err := out.Flush(); err != nil {
				return fmt.Errorf("write event: %w", err)
			}
		}
	}
	c.Close()
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	st, err := c.Stats()
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stderr, "nightjar trace: %d events received, %d dropped, %d malformed, %d printed in %.2fs (%.0f events/s)\n",
		st.Records, st.Drops, st.DecodeErrors, printed, secs, float64(st.Records)/secs)
	return nil
}

// captureTypes are the types trace asks the kernel for: those to print and,
// unless only counting, those that keep the process table current.
func captureTypes(o traceOptions) []event.Type {
	if o.types == nil || o.countOnly {
		return o.types
	}
	return append(append([]event.Type(nil), o.types...), pipeline.StateTypes()...)
}
