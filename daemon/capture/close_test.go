package capture

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// TestCloseDrains: records still in the ring buffer when Close is called
// reach a Read that is running, before it returns ErrClosed; none is
// discarded.
func TestCloseDrains(t *testing.T) {
	const opens = 300
	c, err := Open(Config{Types: []event.Type{event.Openat}, DrainTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "drain")
	// Nothing reads while the helper runs: its records wait in the ring.
	pid := runHelperProcess(t, false, "openat-loop", path, strconv.Itoa(opens))
	got := make(chan int, 1)
	reading := make(chan struct{})
	var badNum error
	go func() {
		n := 0
		var prev uint64
		var ev event.Event
		for i := 0; ; i++ {
			err := c.Read(&ev)
			if errors.Is(err, ErrClosed) {
				got <- n
				return
			}
			if i == 0 {
				close(reading)
			}
			if err == nil {
				// evt.num counts the events Read returned, from 1.
				if ev.Num != prev+1 && badNum == nil {
					badNum = fmt.Errorf("event %d after event %d", ev.Num, prev)
				}
				prev = ev.Num
			}
			if err == nil && string(ev.Path) == path {
				n++
			}
		}
	}()
	<-reading
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	n := <-got
	if badNum != nil {
		t.Errorf("sequence numbers: %v", badNum)
	}
	st, _ := c.Stats()
	if n != opens || st.Discarded != 0 {
		t.Errorf("read %d of the %d openat events of pid %d before ErrClosed; %d records discarded, %d dropped", n, opens, pid, st.Discarded, st.Drops)
	}
	var ev event.Event
	if err := c.Read(&ev); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close = %v, want ErrClosed", err)
	}
}

// TestCloseCountsDiscarded: with no reader, the records left in the ring
// buffer at Close are counted, not silently dropped.
func TestCloseCountsDiscarded(t *testing.T) {
	c, err := Open(Config{Types: []event.Type{event.Openat}, DrainTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runHelperProcess(t, false, "openat-loop", "/etc/hostname", "200")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 0 || st.Discarded < 200 {
		t.Errorf("after Close with no reader: %d records read, %d discarded, want 0 and at least the helper's 200", st.Records, st.Discarded)
	}
}
