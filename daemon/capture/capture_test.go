package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// shared is the capture most kernel tests read from, opened by the first
// test that needs it; tests that need their own configuration open another.
var (
	shared     *collector
	sharedOnce sync.Once
	sharedErr  error
)

func sharedCol(t *testing.T) *collector {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = newCollector(Config{}) })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		helperMain()
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "daemon/capture tests load eBPF programs into the kernel and must run as root")
		os.Exit(1)
	}
	code := m.Run()
	if shared != nil {
		shared.close()
	}
	os.Exit(code)
}

// collector keeps copies of the events of the test process and of its
// descendants, which it learns from their clone/fork events.
type collector struct {
	c    *Capture
	self uint32

	mu      sync.Mutex
	ours    map[uint32]bool
	events  []event.Event
	changed chan struct{}
	readErr error
	done    chan struct{}
}

func newCollector(cfg Config) (*collector, error) {
	c, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	col := &collector{
		c: c, self: uint32(os.Getpid()), ours: map[uint32]bool{},
		changed: make(chan struct{}), done: make(chan struct{}),
	}
	go col.run()
	return col, nil
}

func (col *collector) run() {
	defer close(col.done)
	var ev event.Event
	for {
		err := col.c.Read(&ev)
		if errors.Is(err, ErrClosed) {
			return
		}
		col.mu.Lock()
		if err != nil {
			col.readErr = err
			col.mu.Unlock()
			continue
		}
		if ev.PID == col.self || ev.PPID == col.self || col.ours[ev.PPID] || col.ours[ev.PID] {
			if ev.PID != col.self {
				col.ours[ev.PID] = true
			}
			cp := ev
			cp.Path = bytes.Clone(ev.Path)
			cp.Path2 = bytes.Clone(ev.Path2)
			cp.Argv = bytes.Clone(ev.Argv)
			cp.Addr.Path = bytes.Clone(ev.Addr.Path)
			cp.Local.Path = bytes.Clone(ev.Local.Path)
			col.events = append(col.events, cp)
			close(col.changed)
			col.changed = make(chan struct{})
		}
		col.mu.Unlock()
	}
}

func (col *collector) close() {
	col.c.Close()
	<-col.done
}

// waitFor returns the first event of process pid and type typ for which
// match (if not nil) holds; it fails the test when none arrives.
func (col *collector) waitFor(t *testing.T, pid uint32, typ event.Type, match func(*event.Event) bool) event.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		col.mu.Lock()
		for i := range col.events {
			ev := &col.events[i]
			if ev.PID == pid && ev.Type == typ && (match == nil || match(ev)) {
				col.mu.Unlock()
				return *ev
			}
		}
		changed, readErr := col.changed, col.readErr
		col.mu.Unlock()
		if readErr != nil {
			t.Fatalf("reading events: %v", readErr)
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no %s event from pid %d; its events: %s", typ, pid, col.describe(pid))
		}
	}
}

// has reports whether an event of process pid and type typ has arrived.
func (col *collector) has(pid uint32, typ event.Type, match func(*event.Event) bool) bool {
	col.mu.Lock()
	defer col.mu.Unlock()
	for i := range col.events {
		ev := &col.events[i]
		if ev.PID == pid && ev.Type == typ && (match == nil || match(ev)) {
			return true
		}
	}
	return false
}

func (col *collector) describe(pid uint32) string {
	col.mu.Lock()
	defer col.mu.Unlock()
	var b strings.Builder
	for _, ev := range col.events {
		if ev.PID == pid {
			fmt.Fprintf(&b, "\n  %s res=%d args=%v path=%q path2=%q", ev.Type, ev.Res, ev.Args, ev.Path, ev.Path2)
		}
	}
	return b.String()
}

// runHelperProcess runs this test binary as a helper making the calls of
// args and returns its pid.
func runHelperProcess(t *testing.T, wantOK bool, args ...string) uint32 {
	t.Helper()
	sharedCol(t) // attached before the helper starts
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if wantOK && err != nil {
		t.Fatalf("helper %v: %v: %s", args, err, stderr.String())
	}
	return uint32(cmd.Process.Pid)
}

// checkCommon checks the fields every event of a helper carries.
func checkCommon(t *testing.T, ev event.Event, pid uint32, since time.Time) {
	t.Helper()
	if ev.PID != pid || ev.TID == 0 || ev.PPID != uint32(os.Getpid()) {
		t.Errorf("%s: pid %d tid %d ppid %d, want pid %d ppid %d", ev.Type, ev.PID, ev.TID, ev.PPID, pid, os.Getpid())
	}
	switch ev.Type {
	case event.Setgid, event.Setregid, event.Setresgid: // the new gid
	default:
		if ev.GID != uint32(os.Getgid()) {
			t.Errorf("%s: gid %d, want %d", ev.Type, ev.GID, os.Getgid())
		}
	}
	if want := selfCgroupID(t); ev.CgroupID != want {
		t.Errorf("%s: cgroup id %d, want %d", ev.Type, ev.CgroupID, want)
	}
	if ts := time.Unix(0, ev.Time); ts.Before(since.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("%s: time %v outside [%v, now]", ev.Type, ts, since)
	}
}

// selfCgroupID returns the cgroup v2 id (the directory's inode) of the test process.
func selfCgroupID(t *testing.T) uint64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var rel string
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			rel = p
		}
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" {
				var st unix.Stat_t
				if err := unix.Stat(filepath.Join(fields[4], rel), &st); err != nil {
					t.Fatal(err)
				}
				return st.Ino
			}
		}
	}
	t.Fatal("no cgroup2 mount")
	return 0
}

func comm(ev event.Event) string { return ev.CommString() }

func TestExecve(t *testing.T) {
	since := time.Now()
	pid := runHelperProcess(t, true, "exec", "/bin/echo", "hello", "world")
	ev := sharedCol(t).waitFor(t, pid, event.Execve, func(ev *event.Event) bool { return string(ev.Path) != os.Args[0] })
	checkCommon(t, ev, pid, since)
	if ev.Res != 0 || string(ev.Path) != "/bin/echo" || string(ev.Argv) != "/bin/echo\x00hello\x00world" || comm(ev) != "echo" {
		t.Errorf("execve: res %d path %q argv %q comm %q", ev.Res, ev.Path, ev.Argv, comm(ev))
	}
	exe, err := filepath.EvalSymlinks("/bin/echo")
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Path2) != exe {
		t.Errorf("execve: executable path %q, want %q", ev.Path2, exe)
	}
	exit := sharedCol(t).waitFor(t, pid, event.ProcExit, nil)
	if exit.Args[0] != 0 || comm(exit) != "echo" {
		t.Errorf("procexit: status %d comm %q", exit.Args[0], comm(exit))
	}
}

func TestExecveExePathAcrossMount(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pid := runHelperProcess(t, true, "exec-in-mount", dir)
	ev := sharedCol(t).waitFor(t, pid, event.Execve, func(ev *event.Event) bool { return comm(*ev) == "true" })
	if want := dir + "/sub/true"; ev.Res != 0 || string(ev.Path) != want || string(ev.Path2) != want {
		t.Errorf("execve from a tmpfs: res %d filename %q exe path %q, want %q", ev.Res, ev.Path, ev.Path2, want)
	}
}

func TestExecveFailed(t *testing.T) {
	since := time.Now()
	pid := runHelperProcess(t, false, "exec", "/nonexistent/nightjar", "-x")
	ev := sharedCol(t).waitFor(t, pid, event.Execve, func(ev *event.Event) bool { return string(ev.Path) != os.Args[0] })
	checkCommon(t, ev, pid, since)
	if ev.Res != -int64(unix.ENOENT) || string(ev.Path) != "/nonexistent/nightjar" || string(ev.Argv) != "/nonexistent/nightjar\x00-x" || ev.Path2 != nil {
		t.Errorf("failed execve: res %d path %q argv %q", ev.Res, ev.Path, ev.Argv)
	}
}

func TestExecveat(t *testing.T) {
	pid := runHelperProcess(t, true, "execveat", "/bin/true")
	ev := sharedCol(t).waitFor(t, pid, event.Execveat, nil)
	if ev.Res != 0 || string(ev.Path) != "/bin/true" || string(ev.Argv) != "/bin/true\x00x" || ev.Args[0] != unix.AT_FDCWD || comm(ev) != "true" {
		t.Errorf("execveat: res %d path %q argv %q args %v comm %q", ev.Res, ev.Path, ev.Argv, ev.Args, comm(ev))
	}
}

func TestOpen(t *testing.T) {
	since := time.Now()
	path := filepath.Join(t.TempDir(), "created")
	pid := runHelperProcess(t, true, "openat", path)
	ev := sharedCol(t).waitFor(t, pid, event.Openat, func(ev *event.Event) bool { return string(ev.Path) == path })
	checkCommon(t, ev, pid, since)
	if ev.Res < 0 || ev.Args[0] != unix.AT_FDCWD || ev.Args[1] != unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC || ev.Args[2] != 0o640 {
		t.Errorf("openat: res %d args %v", ev.Res, ev.Args)
	}
	if ev.UID != 0 {
		t.Errorf("openat: uid %d, want 0", ev.UID)
	}

	pid = runHelperProcess(t, true, "open", "/nonexistent/file")
	ev = sharedCol(t).waitFor(t, pid, event.Open, func(ev *event.Event) bool { return string(ev.Path) == "/nonexistent/file" })
	if ev.Res != -int64(unix.ENOENT) || ev.Args[0] != unix.O_RDONLY {
		t.Errorf("open: res %d args %v", ev.Res, ev.Args)
	}
}

func TestConnectAccept(t *testing.T) {
	sharedCol(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lport := uint16(ln.Addr().(*net.TCPAddr).Port)
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	pid := runHelperProcess(t, true, "connect", fmt.Sprint(lport))
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	lo := [16]byte{127, 0, 0, 1}
	ev := sharedCol(t).waitFor(t, pid, event.Connect, nil)
	if ev.Res != 0 || ev.Addr.Family != event.AFInet || ev.Addr.Port != lport || ev.Addr.IP != lo ||
		ev.Local.Family != event.AFInet || ev.Local.IP != lo || ev.Local.Port == 0 || ev.Proto != unix.IPPROTO_TCP {
		t.Errorf("connect: res %d addr %+v local %+v proto %d", ev.Res, ev.Addr, ev.Local, ev.Proto)
	}
	self := uint32(os.Getpid())
	acc := sharedCol(t).waitFor(t, self, event.Accept4, func(a *event.Event) bool { return a.Addr.Port == ev.Local.Port })
	if acc.Res < 0 || acc.Local.Port != lport || acc.Addr.IP != lo || acc.Proto != unix.IPPROTO_TCP {
		t.Errorf("accept4: res %d addr %+v local %+v proto %d", acc.Res, acc.Addr, acc.Local, acc.Proto)
	}
}

func TestConnectUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pid := runHelperProcess(t, true, "connect-unix", path)
	ev := sharedCol(t).waitFor(t, pid, event.Connect, nil)
	if ev.Res != 0 || ev.Addr.Family != event.AFUnix || string(ev.Addr.Path) != path {
		t.Errorf("unix connect: res %d addr %+v (path %q)", ev.Res, ev.Addr, ev.Addr.Path)
	}
}

func TestBindSendtoListenSocket(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	uport := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	pid := runHelperProcess(t, true, "bind-sendto", fmt.Sprint(uport))
	lo := [16]byte{127, 0, 0, 1}
	bind := sharedCol(t).waitFor(t, pid, event.Bind, nil)
	// The helper binds port 0; the event has the port the kernel chose.
	if bind.Res != 0 || bind.Addr.Family != event.AFInet || bind.Addr.IP != lo || bind.Addr.Port == 0 ||
		bind.Local.Port != bind.Addr.Port || bind.Proto != unix.IPPROTO_UDP {
		t.Errorf("bind: res %d addr %+v local %+v proto %d", bind.Res, bind.Addr, bind.Local, bind.Proto)
	}
	send := sharedCol(t).waitFor(t, pid, event.Sendto, nil)
	if send.Res != 4 || send.Args[1] != 4 || send.Addr.Port != uport || send.Addr.IP != lo || send.Local.Port != bind.Local.Port {
		t.Errorf("sendto: res %d args %v addr %+v local %+v", send.Res, send.Args, send.Addr, send.Local)
	}
	sock := sharedCol(t).waitFor(t, pid, event.Socket, func(ev *event.Event) bool { return ev.Args[1]&0xf == unix.SOCK_DGRAM })
	if sock.Res < 0 || sock.Args[0] != unix.AF_INET || sock.Proto != unix.IPPROTO_UDP {
		t.Errorf("socket: res %d args %v proto %d", sock.Res, sock.Args, sock.Proto)
	}

	pid = runHelperProcess(t, true, "listen")
	lst := sharedCol(t).waitFor(t, pid, event.Listen, nil)
	if lst.Res != 0 || lst.Local.Family != event.AFInet || lst.Local.Port == 0 || lst.Proto != unix.IPPROTO_TCP {
		t.Errorf("listen: res %d local %+v proto %d", lst.Res, lst.Local, lst.Proto)
	}
}

func TestFileSyscalls(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sym, hard, moved, sub := filepath.Join(dir, "sym"), filepath.Join(dir, "hard"), filepath.Join(dir, "moved"), filepath.Join(dir, "sub")
	cases := []struct {
		args        []string
		typ         event.Type
		path, path2 string
		arg0        int64
	}{
		{[]string{"symlink", target, sym}, event.Symlink, target, sym, 0},
		{[]string{"link", target, hard}, event.Link, target, hard, 0},
		{[]string{"rename", hard, moved}, event.Rename, hard, moved, 0},
		{[]string{"unlink", moved}, event.Unlink, moved, "", 0},
		{[]string{"mkdir", sub}, event.Mkdir, sub, "", 0o750},
		{[]string{"chmod", target}, event.Chmod, target, "", 0o604},
		{[]string{"chdir", sub}, event.Chdir, sub, sub, 0}, // path2: the kernel's cwd
		{[]string{"memfd", "nightjar-memfd"}, event.MemfdCreate, "nightjar-memfd", "", unix.MFD_CLOEXEC},
	}
	for _, tc := range cases {
		since := time.Now()
		pid := runHelperProcess(t, true, tc.args...)
		ev := sharedCol(t).waitFor(t, pid, tc.typ, nil)
		checkCommon(t, ev, pid, since)
		if string(ev.Path) != tc.path || string(ev.Path2) != tc.path2 || ev.Args[0] != tc.arg0 {
			t.Errorf("%s: path %q path2 %q args %v, want %q %q arg0 %d", tc.typ, ev.Path, ev.Path2, ev.Args, tc.path, tc.path2, tc.arg0)
		}
		if tc.typ == event.MemfdCreate && ev.Res < 0 || tc.typ != event.MemfdCreate && ev.Res != 0 {
			t.Errorf("%s: res %d", tc.typ, ev.Res)
		}
	}
}

// TestCreatRmdir: creat is reported as creat with open's flags
// (O_CREAT|O_WRONLY|O_TRUNC) and the kernel's path of the created file, and
// rmdir with its path, so that rules on creat and rmdir see them.
func TestCreatRmdir(t *testing.T) {
	dir := t.TempDir()
	file, sub := filepath.Join(dir, "created"), filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	pid := runHelperProcess(t, true, "creat", file)
	ev := sharedCol(t).waitFor(t, pid, event.Creat, nil)
	checkCommon(t, ev, pid, since)
	if ev.Res < 0 || ev.Args[0] != unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC || ev.Args[1] != 0o640 ||
		string(ev.Path) != file || string(ev.Path2) != file || ev.Ino == 0 {
		t.Errorf("creat: res %d args %v path %q path2 %q ino %d", ev.Res, ev.Args, ev.Path, ev.Path2, ev.Ino)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("creat did not create %s 0640: %v", file, err)
	}
	pid = runHelperProcess(t, true, "rmdir", sub)
	ev = sharedCol(t).waitFor(t, pid, event.Rmdir, nil)
	checkCommon(t, ev, pid, since)
	if ev.Res != 0 || string(ev.Path) != sub {
		t.Errorf("rmdir: res %d path %q, want 0 %q", ev.Res, ev.Path, sub)
	}
}

// TestBpf: bpf(2) is reported with its command, which Falco's rule on
// BPF_PROG_LOAD tests, whether the kernel accepted the program or not.
func TestBpf(t *testing.T) {
	since := time.Now()
	pid := runHelperProcess(t, true, "bpf-prog-load")
	// The helper's runtime may make other bpf calls first.
	ev := sharedCol(t).waitFor(t, pid, event.Bpf, func(ev *event.Event) bool { return ev.Args[0] == unix.BPF_PROG_LOAD })
	checkCommon(t, ev, pid, since)
	if ev.Res >= 0 {
		t.Errorf("bpf: cmd %d res %d, want %d and an error", ev.Args[0], ev.Res, unix.BPF_PROG_LOAD)
	}
}

func TestProcessSyscalls(t *testing.T) {
	cases := []struct {
		action string
		typ    event.Type
		args   [2]int64
		res    int64
	}{
		{"dup2", event.Dup2, [2]int64{1, 100}, 100},
		{"ptrace", event.Ptrace, [2]int64{unix.PTRACE_TRACEME, 0}, 0},
		{"setuid", event.Setuid, [2]int64{65534, 0}, 0},
		{"unshare", event.Unshare, [2]int64{unix.CLONE_NEWUTS, 0}, 0},
	}
	for _, tc := range cases {
		since := time.Now()
		pid := runHelperProcess(t, true, tc.action)
		ev := sharedCol(t).waitFor(t, pid, tc.typ, nil)
		checkCommon(t, ev, pid, since)
		if ev.Args[0] != tc.args[0] || ev.Args[1] != tc.args[1] || ev.Res != tc.res {
			t.Errorf("%s: args %v res %d, want args %v res %d", tc.typ, ev.Args, ev.Res, tc.args, tc.res)
		}
		if tc.typ == event.Setuid && ev.UID != 65534 {
			t.Errorf("setuid: event uid %d, want the new uid 65534", ev.UID)
		}
	}
}

func TestLoginUID(t *testing.T) {
	pid := runHelperProcess(t, true, "loginuid")
	ev := sharedCol(t).waitFor(t, pid, event.Chdir, func(ev *event.Event) bool { return string(ev.Path) == "/" })
	if ev.LoginUID != 4321 {
		t.Errorf("loginuid %d, want 4321", ev.LoginUID)
	}
}

func TestForkAndExit(t *testing.T) {
	pid := runHelperProcess(t, true, "fork")
	parent := sharedCol(t).waitFor(t, pid, event.Fork, nil)
	if parent.Res <= 0 {
		t.Fatalf("fork in parent: res %d", parent.Res)
	}
	child := uint32(parent.Res)
	ev := sharedCol(t).waitFor(t, child, event.Fork, nil)
	if ev.Res != 0 || ev.PPID != pid {
		t.Errorf("fork in child: res %d ppid %d, want 0 and %d", ev.Res, ev.PPID, pid)
	}
	exit := sharedCol(t).waitFor(t, child, event.ProcExit, nil)
	if exit.Args[0] != 7<<8 || exit.PPID != pid {
		t.Errorf("child procexit: status %#x ppid %d, want %#x and %d", exit.Args[0], exit.PPID, 7<<8, pid)
	}
	sharedCol(t).waitFor(t, pid, event.ProcExit, nil)
}

func TestTypeFilter(t *testing.T) {
	col, err := newCollector(Config{Types: []event.Type{event.Openat}, RingBufferSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer col.close()
	dir := t.TempDir()
	pid := runHelperProcess(t, true, "mkdir-then-openat", filepath.Join(dir, "a"), "/etc/hostname")
	col.waitFor(t, pid, event.Openat, func(ev *event.Event) bool { return string(ev.Path) == "/etc/hostname" })
	// The mkdir came first from the same thread, so it would be in by now.
	for _, typ := range []event.Type{event.Mkdir, event.ProcExit, event.Execve} {
		if col.has(pid, typ, nil) {
			t.Errorf("%s event captured with only openat enabled", typ)
		}
	}

	if err := col.c.SetTypes([]event.Type{event.Mkdir}); err != nil {
		t.Fatal(err)
	}
	pid = runHelperProcess(t, true, "mkdir-then-openat", filepath.Join(dir, "b"), "/etc/hostname")
	col.waitFor(t, pid, event.Mkdir, nil)
	sharedCol(t).waitFor(t, pid, event.ProcExit, nil) // the openat has happened
	if col.has(pid, event.Openat, nil) {
		t.Error("openat event captured after SetTypes(mkdir)")
	}
}

// TestExecTypeFilter checks that a successful execveat, which returns from
// the kernel as an execve, follows the execveat switch only.
func TestExecTypeFilter(t *testing.T) {
	col, err := newCollector(Config{Types: []event.Type{event.Execve}, RingBufferSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer col.close()
	pid := runHelperProcess(t, true, "execveat", "/bin/true")
	sharedCol(t).waitFor(t, pid, event.ProcExit, nil)
	col.waitFor(t, pid, event.Execve, func(ev *event.Event) bool { return string(ev.Path) == os.Args[0] })
	if col.has(pid, event.Execve, func(ev *event.Event) bool { return string(ev.Path) == "/bin/true" }) || col.has(pid, event.Execveat, nil) {
		t.Error("execveat reported with only execve enabled")
	}

	if err := col.c.SetTypes([]event.Type{event.Execveat}); err != nil {
		t.Fatal(err)
	}
	pid = runHelperProcess(t, true, "execveat", "/bin/true")
	col.waitFor(t, pid, event.Execveat, func(ev *event.Event) bool { return string(ev.Path) == "/bin/true" })
	if col.has(pid, event.Execve, nil) {
		t.Error("execve reported with only execveat enabled")
	}
}

func TestExcludePIDs(t *testing.T) {
	sharedCol(t)
	self := uint32(os.Getpid())
	col, err := newCollector(Config{Types: []event.Type{event.Openat}, ExcludePIDs: []uint32{self}, RingBufferSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer col.close()
	mine := filepath.Join(t.TempDir(), "excluded")
	f, err := os.Create(mine)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	sharedCol(t).waitFor(t, self, event.Openat, func(ev *event.Event) bool { return string(ev.Path) == mine })
	pid := runHelperProcess(t, true, "openat", mine)
	col.waitFor(t, pid, event.Openat, func(ev *event.Event) bool { return string(ev.Path) == mine })
	if col.has(self, event.Openat, func(ev *event.Event) bool { return string(ev.Path) == mine }) {
		t.Error("event of an excluded pid captured")
	}
}

func TestDropsCounted(t *testing.T) {
	c, err := Open(Config{Types: []event.Type{event.Openat}, RingBufferSize: os.Getpagesize()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Nothing reads the one-page ring buffer, so most of these must be dropped.
	runHelperProcess(t, true, "openat-loop", "/etc/hostname", "2000")
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Drops < 1000 {
		t.Errorf("drops = %d after 2000 unread openat calls into a one-page ring buffer", st.Drops)
	}
}

func TestOpenRejectsBadRingBufferSize(t *testing.T) {
	if _, err := Open(Config{RingBufferSize: 3 << 20}); err == nil {
		t.Error("Open accepted a ring buffer size that is not a power of two")
	}
}

// BenchmarkCaptureOpenat measures the whole path, kernel programs included:
// a helper process calls openat in a loop and the benchmark reads and
// decodes b.N of its events.
func BenchmarkCaptureOpenat(b *testing.B) {
	c, err := Open(Config{Types: []event.Type{event.Openat}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cmd := exec.Command(os.Args[0], "openat-loop", "/etc/hostname", "-1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := uint32(cmd.Process.Pid)
	var ev event.Event
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; {
		if err := c.Read(&ev); err != nil {
			b.Fatal(err)
		}
		if ev.PID == pid {
			n++
		}
	}
	b.StopTimer()
	st, err := c.Stats()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Drops), "drops")
}

func TestMoreSyscalls(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	j := func(name string) string { return filepath.Join(dir, name) }
	cwd := strconv.Itoa(unix.AT_FDCWD)
	nr := func(n int) string { return strconv.Itoa(n) }
	ebadf := -int64(unix.EBADF)
	cases := []struct {
		args        []string
		typ         event.Type
		want        [4]int64
		res         int64
		path, path2 string
	}{
		{[]string{"raw", nr(unix.SYS_DUP3), "1", "101", nr(unix.O_CLOEXEC)}, event.Dup3, [4]int64{1, 101, unix.O_CLOEXEC}, 101, "", ""},
		{[]string{"raw", nr(unix.SYS_CLOSE), "100"}, event.Close, [4]int64{100}, ebadf, "", ""},
		{[]string{"raw", nr(unix.SYS_SYMLINKAT), "s:" + file, cwd, "s:" + j("sl")}, event.Symlinkat, [4]int64{unix.AT_FDCWD}, 0, file, j("sl")},
		{[]string{"raw", nr(unix.SYS_LINKAT), cwd, "s:" + file, cwd, "s:" + j("hl"), "0"}, event.Linkat, [4]int64{unix.AT_FDCWD, unix.AT_FDCWD, 0}, 0, file, j("hl")},
		{[]string{"raw", nr(unix.SYS_RENAMEAT), cwd, "s:" + j("hl"), cwd, "s:" + j("hl2")}, event.Renameat, [4]int64{unix.AT_FDCWD, unix.AT_FDCWD}, 0, j("hl"), j("hl2")},
		{[]string{"raw", nr(unix.SYS_RENAMEAT2), cwd, "s:" + j("hl2"), cwd, "s:" + file, nr(unix.RENAME_NOREPLACE)}, event.Renameat2, [4]int64{unix.AT_FDCWD, unix.AT_FDCWD, unix.RENAME_NOREPLACE}, -int64(unix.EEXIST), j("hl2"), file},
		{[]string{"raw", nr(unix.SYS_UNLINKAT), cwd, "s:" + j("hl2"), "0"}, event.Unlinkat, [4]int64{unix.AT_FDCWD, 0}, 0, j("hl2"), ""},
		{[]string{"raw", nr(unix.SYS_MKDIRAT), cwd, "s:" + j("d"), "448"}, event.Mkdirat, [4]int64{unix.AT_FDCWD, 0o700}, 0, j("d"), ""},
		{[]string{"raw", nr(unix.SYS_FCHMODAT), cwd, "s:" + file, "384"}, event.Fchmodat, [4]int64{unix.AT_FDCWD, 0o600}, 0, file, ""},
		{[]string{"raw", nr(unix.SYS_FCHMOD), "100", "420"}, event.Fchmod, [4]int64{100, 0o644}, ebadf, "", ""},
		{[]string{"raw", nr(unix.SYS_FCHDIR), "100"}, event.Fchdir, [4]int64{100}, ebadf, "", ""},
		{[]string{"raw", nr(unix.SYS_SETGID), "65534"}, event.Setgid, [4]int64{65534}, 0, "", ""},
		{[]string{"raw", nr(unix.SYS_SETREUID), "65534", "65534"}, event.Setreuid, [4]int64{65534, 65534}, 0, "", ""},
		{[]string{"raw", nr(unix.SYS_SETREGID), "65534", "65534"}, event.Setregid, [4]int64{65534, 65534}, 0, "", ""},
		{[]string{"raw", nr(unix.SYS_SETRESUID), "65534", "65534", "65534"}, event.Setresuid, [4]int64{65534, 65534, 65534}, 0, "", ""},
		{[]string{"raw", nr(unix.SYS_SETRESGID), "65534", "65534", "65534"}, event.Setresgid, [4]int64{65534, 65534, 65534}, 0, "", ""},
		{[]string{"raw", nr(unix.SYS_SETNS), "-1", nr(unix.CLONE_NEWNET)}, event.Setns, [4]int64{-1, unix.CLONE_NEWNET}, ebadf, "", ""},
		{[]string{"raw", nr(unix.SYS_FINIT_MODULE), "-1", "s:", "0"}, event.FinitModule, [4]int64{-1, 0}, ebadf, "", ""},
		{[]string{"mount", j("d")}, event.Mount, [4]int64{unix.MS_NOSUID}, 0, "nightjar", j("d")},
		{[]string{"openat2", file}, event.Openat2, [4]int64{unix.AT_FDCWD, unix.O_RDONLY | unix.O_CLOEXEC, 0, unix.RESOLVE_NO_SYMLINKS}, 3, file, file},
	}
	for _, tc := range cases {
		since := time.Now()
		pid := runHelperProcess(t, true, tc.args...)
		// The helper's own start-up also dups, closes and mounts nothing
		// else; match on the first argument.
		ev := sharedCol(t).waitFor(t, pid, tc.typ, func(ev *event.Event) bool {
			return ev.Args[0] == tc.want[0] && (tc.typ != event.Mount || string(ev.Path2) == tc.path2)
		})
		checkCommon(t, ev, pid, since)
		resOK := ev.Res == tc.res
		switch tc.typ {
		case event.Openat2:
			resOK = ev.Res >= 0
		case event.FinitModule:
			resOK = ev.Res < 0 // EBADF, or ENOSYS on kernels without modules
		case event.Setgid, event.Setregid, event.Setresgid:
			if ev.GID != 65534 {
				t.Errorf("%s: event gid %d, want the new gid 65534", tc.typ, ev.GID)
			}
		}
		if ev.Args != tc.want || !resOK ||
			string(ev.Path) != tc.path || string(ev.Path2) != tc.path2 {
			t.Errorf("%s: args %v res %d path %q path2 %q, want %v %d %q %q", tc.typ, ev.Args, ev.Res, ev.Path, ev.Path2, tc.want, tc.res, tc.path, tc.path2)
		}
	}

	// init_module with no image fails; only that it is seen matters.
	pid := runHelperProcess(t, true, "raw", nr(unix.SYS_INIT_MODULE), "0", "0", "s:")
	if ev := sharedCol(t).waitFor(t, pid, event.InitModule, nil); ev.Res >= 0 || ev.Args[0] != 0 {
		t.Errorf("init_module: res %d args %v", ev.Res, ev.Args)
	}

	// clone(SIGCHLD) behaves as fork; the child's return is reported too.
	pid = runHelperProcess(t, true, "clone")
	parent := sharedCol(t).waitFor(t, pid, event.Clone, func(ev *event.Event) bool { return ev.Args[0] == int64(unix.SIGCHLD) })
	if parent.Res <= 0 {
		t.Fatalf("clone: res %d", parent.Res)
	}
	if child := sharedCol(t).waitFor(t, uint32(parent.Res), event.Clone, nil); child.Res != 0 || child.Args[0] != int64(unix.SIGCHLD) {
		t.Errorf("clone child: res %d args %v", child.Res, child.Args)
	}
	// The Go runtime starts its threads with clone3.
	th := sharedCol(t).waitFor(t, pid, event.Clone3, func(ev *event.Event) bool { return ev.Res > 0 })
	if th.Args[0]&unix.CLONE_THREAD == 0 {
		t.Errorf("clone3 of a thread: flags %#x lack CLONE_THREAD", th.Args[0])
	}
}

func TestSendmsg(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	pid := runHelperProcess(t, true, "sendmsg", fmt.Sprint(port))
	ev := sharedCol(t).waitFor(t, pid, event.Sendmsg, nil)
	if ev.Res != 4 || ev.Args[1] != 4 || ev.Addr.Family != event.AFInet || ev.Addr.Port != port || ev.Proto != unix.IPPROTO_UDP || ev.Local.Port == 0 {
		t.Errorf("sendmsg: res %d args %v addr %+v local %+v proto %d", ev.Res, ev.Args, ev.Addr, ev.Local, ev.Proto)
	}
}
