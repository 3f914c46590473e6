package proctable

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/internal/testctr"
)

// A container controls its own /etc/passwd. Made a FIFO, an open without
// O_NONBLOCK would wait for a writer forever, on the goroutine every event
// of the host passes through. The user database must come back at once,
// empty, and the process still resolve.
func TestContainerPasswdFIFODoesNotBlock(t *testing.T) {
	ctrd := testctr.Start(t)
	id := testctr.NewID()
	ct := ctrd.Start(t, id, testctr.DockerCgroup(id), "sh", "-c", "rm /etc/passwd && mkfifo /etc/passwd && exec sleep 600")
	// The container's command must have replaced the file before the test
	// looks: poll until /etc/passwd is the FIFO. (From the host: runc's exec
	// itself would block reading it.)
	fifo := fmt.Sprintf("/proc/%d/root/etc/passwd", ct.PID)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Lstat(fifo); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/etc/passwd in the container never became a FIFO")
		}
	}

	done := make(chan *userDB, 1)
	go func() { done <- containerUserDB("/proc", uint32(ct.PID), "etc/passwd") }()
	select {
	case db := <-done:
		if len(db.names) != 0 {
			t.Errorf("user database from a FIFO: %v, want empty", db.names)
		}
	case <-time.After(20 * time.Second):
		// Not a timing assertion: the blocking open never returns.
		t.Fatal("reading a FIFO /etc/passwd blocked")
	}

	res, err := container.NewResolver(container.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tab := newTable(t, Config{Containers: res})
	if err := tab.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := tab.Lookup(uint32(ct.PID))
	if p == nil || container.ID(p.Container) != id[:12] {
		t.Fatalf("container process: %+v", p)
	}
	if p.User != "" {
		t.Errorf("user name %q from a FIFO passwd", p.User)
	}
}

// When the last process of a container exits, the per-container caches of
// the table and of the resolver let go of it.
func TestContainerCachesFollowExits(t *testing.T) {
	ctrd := testctr.Start(t)
	id := testctr.NewID()
	ct := ctrd.Start(t, id, testctr.DockerCgroup(id), "sleep", "600")
	res, err := container.NewResolver(container.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tab := newTable(t, Config{Containers: res})
	if err := tab.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := tab.Lookup(uint32(ct.PID))
	if p == nil || p.Container == nil {
		t.Fatalf("container process not seeded: %+v", p)
	}
	if _, ok := tab.ctrUsers[id]; !ok {
		t.Fatalf("no user database cached for the container")
	}
	// The container's process exits, then enough other container
	// processes (fake pids in the same container) come and go to trigger a
	// sweep.
	tab.Handle(exitEv(uint32(ct.PID)))
	for i := range sweepEvery {
		pid := uint32(fakePID + i)
		e := ev(event.Openat, pid, 1, -2)
		tab.Handle(e)
		tab.procs[pid].proc.Container = p.Container
		tab.Handle(exitEv(pid))
	}
	if _, ok := tab.ctrUsers[id]; ok {
		t.Errorf("user database of the exited container still cached")
	}
	if s := tab.Stats(); s.ContainersForgotten == 0 {
		t.Errorf("stats %+v: nothing forgotten", s)
	}
	if s := res.Stats(); s.Forgotten == 0 {
		t.Errorf("resolver stats %+v: nothing forgotten", s)
	}
}

func exitEv(pid uint32) *event.Event {
	e := ev(event.ProcExit, pid, 1, 0)
	e.TID = pid
	return e
}
