package proctable

import (
	"context"
	"os"
	"testing"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/internal/testctr"
)

func TestMain(m *testing.M) { os.Exit(testctr.Main(m)) }

// TestContainerProcess seeds the table while a real container runs, then
// drives an exec inside it with a synthetic event carrying the real pid
// and cgroup id.
func TestContainerProcess(t *testing.T) {
	ctrd := testctr.Start(t)
	id := testctr.NewID()
	ct := ctrd.Start(t, id, testctr.DockerCgroup(id), "sleep", "600")
	// A file written after the container started lives in the overlay's
	// upper layer.
	if r := ct.Exec(t, "cp", "/bin/busybox", "/tmp/bb"); r.ExitCode != 0 {
		t.Fatalf("cp in container: %+v", r)
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
	if p == nil {
		t.Fatalf("container process %d not seeded", ct.PID)
	}
	if container.ID(p.Container) != id[:12] || p.Container.Runtime != "docker" {
		t.Errorf("container of %d: %+v", ct.PID, p.Container)
	}
	if p.Name != "sleep" || p.User != "root" || p.ExeUpperLayer {
		t.Errorf("seeded container process: name %q user %q upper %v", p.Name, p.User, p.ExeUpperLayer)
	}
	if self := tab.Lookup(uint32(os.Getpid())); self == nil || container.ID(self.Container) != container.HostID {
		t.Errorf("test process container: %+v", self)
	}

	cgid, err := container.CgroupID(res.CgroupV2Root(), testctr.DockerCgroup(id))
	if err != nil {
		t.Fatal(err)
	}
	if p.CgroupID != cgid {
		t.Errorf("seeded cgroup id %d, want %d", p.CgroupID, cgid)
	}
	e := execEv(uint32(ct.PID), p.PPID, "bb", "/tmp/bb", "bb", "sleep", "600")
	e.CgroupID = cgid
	tab.Handle(e)
	if !p.ExeUpperLayer || p.ExePath != "/tmp/bb" || container.ID(p.Container) != id[:12] {
		t.Errorf("exec of /tmp/bb: exepath %q upper %v container %+v", p.ExePath, p.ExeUpperLayer, p.Container)
	}
	e = execEv(uint32(ct.PID), p.PPID, "sleep", "/bin/sleep", "sleep", "600")
	e.CgroupID = cgid
	tab.Handle(e)
	if p.ExeUpperLayer || p.ExePath != "/bin/sleep" {
		t.Errorf("exec of /bin/sleep: exepath %q upper %v", p.ExePath, p.ExeUpperLayer)
	}
	// An unknown process of the container seen first through an event.
	child := uint32(fakePID)
	ce := ev(event.Openat, child, uint32(ct.PID), -2)
	ce.CgroupID = cgid
	ce.GID = 65534
	tab.Handle(ce)
	// Names come from the container's own /etc/passwd and /etc/group
	// (testctr's image), not the host's.
	if ce.Proc == nil || container.ID(ce.Proc.Container) != id[:12] || ce.Proc.User != "root" || ce.Proc.Group != "nogroup" {
		t.Errorf("event-only container process: %+v", ce.Proc)
	}
}
