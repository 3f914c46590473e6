package capture

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/daemon/proctable"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// tableOf feeds the collected events of pid, in order, to a new process
// table and returns the process's entry after the last event matching
// last.
func tableOf(t *testing.T, col *collector, pid uint32, last func(*event.Event) bool) *event.Process {
	t.Helper()
	tab := proctable.New(proctable.Config{})
	col.mu.Lock()
	evs := append([]event.Event(nil), col.events...)
	col.mu.Unlock()
	var p *event.Process
	for i := range evs {
		ev := &evs[i]
		if ev.PID != pid {
			continue
		}
		tab.Handle(ev)
		if last(ev) {
			p = ev.Proc
			break
		}
	}
	if p == nil {
		t.Fatalf("no matching event of pid %d", pid)
	}
	cp := *p
	return &cp
}

func isMark(ev *event.Event) bool { return ev.Type == event.Chdir && string(ev.Path) == "/" }

// TestCapabilities: the capability sets of every event are the thread's
// current ones, so a capset shows on the next event and in the process
// table.
func TestCapabilities(t *testing.T) {
	pid := runHelperProcess(t, true, "capset")
	col := sharedCol(t)
	ev := col.waitFor(t, pid, event.Chdir, isMark)
	const eff = 1<<unix.CAP_CHOWN | 1<<unix.CAP_KILL
	const prm = eff | 1<<unix.CAP_NET_RAW
	const inh = 1 << unix.CAP_KILL
	if ev.CapEffective != eff || ev.CapPermitted != prm || ev.CapInheritable != inh {
		t.Errorf("after capset: effective %#x permitted %#x inheritable %#x, want %#x %#x %#x",
			ev.CapEffective, ev.CapPermitted, ev.CapInheritable, eff, prm, inh)
	}
	var root unix.CapUserData
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{}
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatal(err)
	}
	root = data[0]
	start := col.waitFor(t, pid, event.Execve, nil)
	if uint32(start.CapEffective) != root.Effective {
		t.Errorf("before capset: effective %#x, want the test's %#x", start.CapEffective, root.Effective)
	}
	p := tableOf(t, col, pid, isMark)
	if p.CapEffective != eff || p.CapPermitted != prm || p.CapInheritable != inh {
		t.Errorf("process table: effective %#x permitted %#x inheritable %#x", p.CapEffective, p.CapPermitted, p.CapInheritable)
	}
}

// TestNamespacePIDs: a process in a new pid namespace is pid 1 there; the
// events carry that id and the host's.
func TestNamespacePIDs(t *testing.T) {
	col := sharedCol(t)
	cmd := exec.Command(os.Args[0], "chdir", "/")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.SysProcAttr = &unix.SysProcAttr{Cloneflags: unix.CLONE_NEWPID, Setsid: true}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper in a new pid namespace: %v: %s", err, out)
	}
	pid := uint32(cmd.Process.Pid)
	ev := col.waitFor(t, pid, event.Chdir, isMark)
	if ev.PID != pid || ev.VPID != 1 || ev.VPGID != 1 || ev.VSID != 1 {
		t.Errorf("in a new pid namespace: pid %d vpid %d vpgid %d vsid %d, want %d 1 1 1", ev.PID, ev.VPID, ev.VPGID, ev.VSID, pid)
	}
	if p := tableOf(t, col, pid, isMark); p.VPID != 1 || p.VPGID != 1 || p.SID != 1 || p.PID != pid {
		t.Errorf("process table: pid %d vpid %d vpgid %d sid %d", p.PID, p.VPID, p.VPGID, p.SID)
	}
	// In the host's namespace the ids are the same.
	self := runHelperProcess(t, true, "chdir", "/")
	if ev := col.waitFor(t, self, event.Chdir, isMark); ev.VPID != self {
		t.Errorf("on the host: pid %d vpid %d", self, ev.VPID)
	}
}

// TestExecInode: an exec reports the new image's inode number and its
// change and modification times.
func TestExecInode(t *testing.T) {
	bin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "true")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC)
	if err := os.Chtimes(exe, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(exe, &st); err != nil {
		t.Fatal(err)
	}
	pid := runHelperProcess(t, true, "exec", exe)
	col := sharedCol(t)
	ev := col.waitFor(t, pid, event.Execve, func(ev *event.Event) bool { return string(ev.Path) == exe })
	if ev.Ino != st.Ino || ev.InoMtime != mtime.UnixNano() || ev.InoCtime != st.Ctim.Nano() {
		t.Errorf("exec inode %d mtime %d ctime %d, want %d %d %d", ev.Ino, ev.InoMtime, ev.InoCtime, st.Ino, mtime.UnixNano(), st.Ctim.Nano())
	}
	p := tableOf(t, col, pid, func(e *event.Event) bool { return e.Type == event.Execve && string(e.Path) == exe })
	if p.ExeIno != st.Ino || p.ExeInoMtime != mtime.UnixNano() || p.ExeInoCtime != st.Ctim.Nano() || p.ExePath != exe || p.ExePathTruncated {
		t.Errorf("process table: exe %q truncated %v inode %d mtime %d ctime %d", p.ExePath, p.ExePathTruncated, p.ExeIno, p.ExeInoMtime, p.ExeInoCtime)
	}
}

// TestExePathTruncated: an executable whose path is longer than the
// kernel side's buffer is reported with the end of its path, flagged.
func TestExePathTruncated(t *testing.T) {
	dir := t.TempDir()
	pid := runHelperProcess(t, true, "deep-exec", dir)
	col := sharedCol(t)
	ev := col.waitFor(t, pid, event.Execve, func(ev *event.Event) bool { return string(ev.Path) == "./true" })
	if !ev.Path2Truncated || !strings.HasSuffix(string(ev.Path2), strings.Repeat("d", 200)+"/true") || len(ev.Path2) >= 4096 {
		t.Errorf("deep exec: path2 truncated %v, %d bytes ending %q", ev.Path2Truncated, len(ev.Path2), ev.Path2[max(0, len(ev.Path2)-40):])
	}
	p := tableOf(t, col, pid, func(e *event.Event) bool { return e.Type == event.Execve && string(e.Path) == "./true" })
	if !p.ExePathTruncated || p.ExePath != string(ev.Path2) {
		t.Errorf("process table: exe path truncated %v, %d bytes", p.ExePathTruncated, len(p.ExePath))
	}
	// A path that fits is not flagged.
	pid = runHelperProcess(t, true, "exec", "/bin/true")
	if ev := col.waitFor(t, pid, event.Execve, func(ev *event.Event) bool { return ev.Res == 0 && comm(*ev) == "true" }); ev.Path2Truncated || ev.Truncated {
		t.Errorf("/bin/true: path2 %q flagged truncated", ev.Path2)
	}
}

// TestConnectedFD: a connect that succeeded is reported with the peer the
// kernel's socket is connected to, and the process table marks the
// descriptor connected; a refused one is not.
func TestConnectedFD(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	pid := runHelperProcess(t, true, "connect", strconv.Itoa(port))
	ln.Close()
	refused := runHelperProcess(t, false, "connect", strconv.Itoa(port))
	col := sharedCol(t)
	for _, tc := range []struct {
		pid       uint32
		connected bool
	}{{pid, true}, {refused, false}} {
		col.waitFor(t, tc.pid, event.Connect, nil)
		var fd *event.FD
		tableOf(t, col, tc.pid, func(ev *event.Event) bool {
			if ev.Type != event.Connect {
				return false
			}
			if ev.FD != nil {
				cp := *ev.FD
				fd = &cp
			}
			return true
		})
		switch {
		case tc.connected && (fd == nil || !fd.Connected || fd.Remote.Port != uint16(port) || fd.Local.Port == 0):
			t.Errorf("connect to a listener: fd %+v, want connected to port %d", fd, port)
		case !tc.connected && fd != nil && fd.Connected:
			t.Errorf("refused connect: fd %+v marked connected", fd)
		}
	}
}

// TestFchdirUnknownDescriptor: fchdir to a descriptor the process table
// never saw opened (inherited) still gives the process its real working
// directory, which the kernel reports.
func TestFchdirUnknownDescriptor(t *testing.T) {
	dir := t.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	col := sharedCol(t)
	cmd := exec.Command(os.Args[0], "fchdir3")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.ExtraFiles = []*os.File{d}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fchdir3: %v: %s", err, out)
	}
	pid := uint32(cmd.Process.Pid)
	ev := col.waitFor(t, pid, event.Fchdir, nil)
	if ev.Res != 0 || string(ev.Path2) != dir {
		t.Errorf("fchdir: res %d path2 %q, want 0 %q", ev.Res, ev.Path2, dir)
	}
	p := tableOf(t, col, pid, func(e *event.Event) bool { return e.Type == event.Fchdir })
	if p.Cwd != dir {
		t.Errorf("process table cwd after fchdir %q, want %q", p.Cwd, dir)
	}
}

// TestOpenPipeThroughProc: a pipe opened again through /proc/self/fd has
// no path to walk (d_path names it with a callback); the event has none,
// rather than a wrong one, and the process table keeps the name the
// caller gave.
func TestOpenPipeThroughProc(t *testing.T) {
	col := sharedCol(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := exec.Command(os.Args[0], "open", "/proc/self/fd/0")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stdin = r
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("open: %v: %s", err, out)
	}
	r.Close()
	pid := uint32(cmd.Process.Pid)
	ev := col.waitFor(t, pid, event.Open, nil)
	if ev.Res < 0 || len(ev.Path2) != 0 || ev.Ino == 0 {
		t.Errorf("open of a pipe: res %d path2 %q inode %d, want no path2 and the pipe's inode", ev.Res, ev.Path2, ev.Ino)
	}
	var fd *event.FD
	tableOf(t, col, pid, func(e *event.Event) bool {
		if e.Type == event.Open && e.FD != nil {
			cp := *e.FD
			fd = &cp
		}
		return e.Type == event.Open
	})
	if fd == nil || string(fd.Name) != "/proc/self/fd/0" {
		t.Errorf("process table fd %+v, want fd.name /proc/self/fd/0", fd)
	}
}

// TestExecDeletedFile: an executable removed before it is run (fexecve of
// an open descriptor) is named as the kernel names it, with " (deleted)".
func TestExecDeletedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payload")
	pid := runHelperProcess(t, true, "exec-deleted", path)
	col := sharedCol(t)
	ev := col.waitFor(t, pid, event.Execveat, func(ev *event.Event) bool { return ev.Res == 0 })
	if want := path + " (deleted)"; string(ev.Path2) != want || ev.Ino == 0 {
		t.Errorf("fexecve of a removed file: path2 %q inode %d, want %q", ev.Path2, ev.Ino, want)
	}
	// A file that is still there is not marked.
	pid = runHelperProcess(t, true, "exec", "/bin/true")
	if ev := col.waitFor(t, pid, event.Execve, func(ev *event.Event) bool { return ev.Res == 0 && comm(*ev) == "true" }); strings.Contains(string(ev.Path2), "deleted") {
		t.Errorf("/bin/true: path2 %q", ev.Path2)
	}
}
