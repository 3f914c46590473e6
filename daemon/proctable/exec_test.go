package proctable

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/internal/testctr"
)

// startSleep starts a real sleep in a new session (no controlling
// terminal) and returns its pid.
func startSleep(t *testing.T) uint32 {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return uint32(cmd.Process.Pid)
}

// TestExecRefreshesTerminal: a runtime's exec --tty gives the child its
// session and terminal between fork and exec, which no event reports; the
// exec reads them again.
func TestExecRefreshesTerminal(t *testing.T) {
	tab := newTable(t, Config{})
	self := uint32(os.Getpid())
	child := startSleep(t)
	tab.Handle(ev(event.Fork, self, uint32(os.Getppid()), int64(child)))
	p := tab.Lookup(child)
	if p == nil {
		t.Fatal("no entry after fork")
	}
	p.TTY, p.SID = 34816, 1 // as inherited from a parent on a terminal
	tab.Handle(execEv(child, self, "sleep", "/usr/bin/sleep", "sleep", "300"))
	if p.TTY != 0 || p.SID != child || p.VPGID != child {
		t.Errorf("after exec: tty %d sid %d pgid %d, want 0 %d %d", p.TTY, p.SID, p.VPGID, child, child)
	}
}

// TestFexecveStaleDescriptor: when the executed descriptor's table entry
// is stale (its close and the memfd_create that reused the number were
// not captured), the kernel's link to the new image wins.
func TestFexecveStaleDescriptor(t *testing.T) {
	for _, c := range []struct {
		name string
		path string
		args [4]int64
	}{
		{"execveat AT_EMPTY_PATH", "", [4]int64{7, unix.AT_EMPTY_PATH}},
		{"path the kernel reports", "/dev/fd/7", [4]int64{7, unix.AT_EMPTY_PATH}},
		{"execve of /proc/self/fd", "/proc/self/fd/7", [4]int64{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tab := newTable(t, Config{})
			if err := tab.Seed(context.Background()); err != nil {
				t.Fatal(err)
			}
			child := startSleep(t)
			exe, err := os.Readlink("/proc/" + strconv.Itoa(int(child)) + "/exe")
			if err != nil {
				t.Fatal(err)
			}
			open := ev(event.Openat, child, uint32(os.Getpid()), 7)
			open.Args[0] = unix.AT_FDCWD
			open.Path = []byte("/stale/file")
			tab.Handle(open)
			x := execEv(child, uint32(os.Getpid()), "7", c.path, "payload")
			if c.args != [4]int64{} {
				x.Type = event.Execveat
				x.Args = c.args
			}
			tab.Handle(x)
			if p := tab.Lookup(child); p.ExePath != exe {
				t.Errorf("exepath %q, want the kernel's %q", p.ExePath, exe)
			}
		})
	}
}

// TestExecKernelPath: the kernel's path of the new image, when the capture
// reports it, is proc.exepath.
func TestExecKernelPath(t *testing.T) {
	tab := newTable(t, Config{})
	x := execEv(fakePID, 1, "memfd:payload", "/dev/fd/3", "payload")
	x.Type = event.Execveat
	x.Args = [4]int64{3, unix.AT_EMPTY_PATH}
	x.Path2 = []byte("/memfd:payload (deleted)")
	tab.Handle(x)
	p := tab.Lookup(fakePID)
	if p == nil || p.ExePath != "/memfd:payload (deleted)" || !p.ExeFromMemfd {
		t.Fatalf("exec from memfd: %+v", p)
	}
}

// TestUpperLayerIgnoresRuntimeInit: runc init joins the container's cgroup
// and execs before it moves into the container's root; what it sees then
// must not decide the upper layer of the container's later execs.
func TestUpperLayerIgnoresRuntimeInit(t *testing.T) {
	ctrd := testctr.Start(t)
	id := testctr.NewID()
	ct := ctrd.Start(t, id, testctr.DockerCgroup(id), "sleep", "600")
	if r := ct.Exec(t, "cp", "/bin/busybox", "/tmp/bb"); r.ExitCode != 0 {
		t.Fatalf("cp in container: %+v", r)
	}
	res, err := container.NewResolver(container.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Not seeded: the table first meets the container through init.
	tab := newTable(t, Config{Containers: res})
	cgid, err := container.CgroupID(res.CgroupV2Root(), testctr.DockerCgroup(id))
	if err != nil {
		t.Fatal(err)
	}
	// A process still in the host's root, moved into the container's
	// cgroup, as runc init is.
	init := startSleep(t)
	procs := filepath.Join(res.CgroupV2Root(), testctr.DockerCgroup(id), "cgroup.procs")
	if err := os.WriteFile(procs, []byte(strconv.Itoa(int(init))), 0); err != nil {
		t.Fatal(err)
	}
	e := execEv(init, uint32(os.Getpid()), "sleep", "/usr/bin/sleep", "sleep", "300")
	e.CgroupID = cgid
	tab.Handle(e)
	if p := tab.Lookup(init); container.ID(p.Container) != id[:12] || p.ExeUpperLayer {
		t.Fatalf("runtime init: container %+v upper %v", p.Container, p.ExeUpperLayer)
	}
	e = execEv(uint32(ct.PID), 1, "bb", "/tmp/bb", "bb", "sleep", "600")
	e.CgroupID = cgid
	tab.Handle(e)
	if p := tab.Lookup(uint32(ct.PID)); !p.ExeUpperLayer {
		t.Errorf("exec of /tmp/bb written in the container: exepath %q upper %v", p.ExePath, p.ExeUpperLayer)
	}
}
