package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/daemon/capture"
	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/daemon/proctable"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// handleUntil feeds every event of c to tab until match holds for one,
// and returns what match saw then; it fails t after 10 seconds.
func handleUntil(t *testing.T, c *capture.Capture, tab *proctable.Table, match func(*event.Event) bool) {
	t.Helper()
	timer := time.AfterFunc(10*time.Second, func() { c.Close() })
	defer timer.Stop()
	var ev event.Event
	for {
		err := c.Read(&ev)
		if errors.Is(err, capture.ErrClosed) {
			t.Fatal("the awaited event did not come within 10s")
		}
		if err != nil {
			continue
		}
		tab.Handle(&ev)
		if match(&ev) {
			return
		}
	}
}

// seedAfter runs before, then seeds the table, as a Seeder.
type seedAfter struct {
	before func()
	tab    *proctable.Table
}

func (s seedAfter) Seed(ctx context.Context) error {
	s.before()
	return s.tab.Seed(ctx)
}

// TestOpenCaptureSeesExecDuringSeed: a process that execs while the table
// is being seeded reaches the table through its events.
func TestOpenCaptureSeesExecDuringSeed(t *testing.T) {
	tab := proctable.New(proctable.Config{})
	var pid uint32
	run := func() {
		cmd := exec.Command("/bin/sh", "-c", "exec /bin/true seeded")
		if err := cmd.Run(); err != nil {
			t.Errorf("sh: %v", err)
		}
		pid = uint32(cmd.Process.Pid)
	}
	c, err := OpenCapture(context.Background(), capture.Config{
		Types:       []event.Type{event.Execve, event.ProcExit},
		ExcludePIDs: []uint32{uint32(os.Getpid())},
	}, seedAfter{before: run, tab: tab})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	var exe, args string
	handleUntil(t, c, tab, func(ev *event.Event) bool {
		if ev.PID != pid || ev.Type != event.Execve || ev.Res != 0 || ev.CommString() != "true" {
			return false
		}
		exe, args = ev.Proc.ExePath, strings.Join(ev.Proc.Args, " ")
		return true
	})
	if exe != want || args != "seeded" {
		t.Errorf("exec during the seed: process table has exe %q args %q, want %s seeded", exe, args, want)
	}
}

// TestFakeContainerCgroup: an unprivileged user who may manage a
// delegated cgroup subtree names a cgroup there like a docker container
// and moves a process into it; the process is still on the host.
func TestFakeContainerCgroup(t *testing.T) {
	resolver, err := container.NewResolver(container.Config{})
	if err != nil {
		t.Fatal(err)
	}
	root := resolver.CgroupV2Root()
	if root == "" {
		t.Fatal("no cgroup v2 hierarchy on this machine")
	}
	// The delegated subtree, as systemd gives user@.service: a directory
	// and its process list owned by the user.
	deleg := filepath.Join(root, fmt.Sprintf("nightjar-delegated-%d", os.Getpid()))
	if err := os.Mkdir(deleg, 0o755); err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(deleg, "docker-"+strings.Repeat("0f", 32)+".scope")
	t.Cleanup(func() {
		// After the process is gone (deferred below, run first).
		for range 100 {
			if err := os.Remove(fake); err == nil || os.IsNotExist(err) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		os.Remove(deleg)
	})
	const nobody = 65534
	for _, p := range []string{deleg, filepath.Join(deleg, "cgroup.procs"), filepath.Join(deleg, "cgroup.subtree_control")} {
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}

	tab := proctable.New(proctable.Config{Containers: resolver})
	c, err := OpenCapture(context.Background(), capture.Config{
		Types:       []event.Type{event.Execve, event.ProcExit},
		ExcludePIDs: []uint32{uint32(os.Getpid())},
	}, tab)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The user's shell waits to be placed in the subtree, creates the
	// container-like cgroup, moves itself there and runs a program, which
	// stays until the test has seen it (the container resolver reads the
	// cgroup of live processes).
	cmd := exec.Command("/bin/sh", "-c", `read go && mkdir "$1" && echo $$ > "$1/cgroup.procs" && exec /bin/sleep 60`, "sh", fake)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	pid := uint32(cmd.Process.Pid)
	if err := os.WriteFile(filepath.Join(deleg, "cgroup.procs"), []byte(strconv.Itoa(int(pid))), 0); err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte("go\n"))
	stdin.Close()

	var cgroupID uint64
	var ctr *event.Container
	var cgroupFile []byte
	handleUntil(t, c, tab, func(ev *event.Event) bool {
		if ev.PID != pid || ev.Type != event.Execve || ev.Res != 0 || ev.CommString() != "sleep" {
			return false
		}
		cgroupID, ctr = ev.CgroupID, ev.Proc.Container
		cgroupFile, _ = os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		return true
	})
	if !strings.Contains(string(cgroupFile), "0::"+strings.TrimPrefix(fake, root)+"\n") {
		t.Fatalf("the process does not run in %s: /proc/%d/cgroup is %q", fake, pid, cgroupFile)
	}
	var st unix.Stat_t
	if err := unix.Stat(fake, &st); err != nil {
		t.Fatal(err)
	}
	if cgroupID != st.Ino {
		t.Errorf("exec's cgroup id %d, want the fake cgroup's %d", cgroupID, st.Ino)
	}
	if id := container.ID(ctr); id != container.HostID {
		t.Errorf("a process in the user-made cgroup %s has container.id %q (%+v), want %q", fake, id, ctr, container.HostID)
	}
}
