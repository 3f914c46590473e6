package proctable

import (
	"context"
	"os"
	"os/exec"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// Pids above the kernel's pid_max limit (2^22) never exist, so /proc has
// nothing for them and synthetic processes cannot collide with real ones.
const fakePID = 1<<22 + 1000

func newTable(t *testing.T, cfg Config) *Table {
	t.Helper()
	cfg.OnError = func(err error) { t.Errorf("proc error: %v", err) }
	return New(cfg)
}

func ev(typ event.Type, pid, ppid uint32, res int64) *event.Event {
	e := &event.Event{Type: typ, PID: pid, TID: pid, PPID: ppid, Res: res, LoginUID: ^uint32(0)}
	copy(e.Comm[:], "test")
	return e
}

func execEv(pid, ppid uint32, comm, path string, argv ...string) *event.Event {
	e := ev(event.Execve, pid, ppid, 0)
	e.Comm = [16]byte{}
	copy(e.Comm[:], comm)
	e.Path = []byte(path)
	e.Argv = []byte(strings.Join(argv, "\x00") + "\x00")
	return e
}

// waitChild returns the pid of the first child of pid, waiting for it to
// appear.
func waitChild(t *testing.T, pid int, comm string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
		for _, f := range strings.Fields(string(b)) {
			c, _ := strconv.Atoi(f)
			name, _ := os.ReadFile("/proc/" + f + "/comm")
			if strings.TrimSpace(string(name)) == comm {
				return c
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d has no child named %q", pid, comm)
	return 0
}

// startChain starts sh -c 'sh -c "sleep 300; :"; :' (the trailing ":"
// keeps each shell from exec'ing its last command) and returns the pids of
// the outer shell, the inner shell and sleep.
func startChain(t *testing.T) (outer, inner, sleep int) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `/bin/sh -c "sleep 300; :"; :`)
	cmd.Dir = "/tmp"
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		cmd.Process.Kill()
		cmd.Wait()
	})
	outer = cmd.Process.Pid
	inner = waitChild(t, outer, "sh")
	sleep = waitChild(t, inner, "sleep")
	return outer, inner, sleep
}

func TestSeedAncestry(t *testing.T) {
	before := time.Now()
	outer, inner, sleep := startChain(t)

	tab := newTable(t, Config{})
	if err := tab.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := tab.Lookup(uint32(sleep))
	if p == nil {
		t.Fatalf("Seed did not add sleep (pid %d); %d entries", sleep, tab.Len())
	}
	if p.Name != "sleep" || p.Exe != "sleep" || !slices.Equal(p.Args, []string{"300"}) {
		t.Errorf("sleep entry: name %q exe %q args %q", p.Name, p.Exe, p.Args)
	}
	if want, _ := os.Readlink("/proc/" + strconv.Itoa(sleep) + "/exe"); p.ExePath != want || want == "" {
		t.Errorf("ExePath = %q, want %q", p.ExePath, want)
	}
	if p.Cwd != "/tmp" || p.UID != 0 || p.User != "root" || p.GID != 0 || p.Group != "root" {
		t.Errorf("cwd %q uid %d user %q gid %d group %q", p.Cwd, p.UID, p.User, p.GID, p.Group)
	}
	// The next event after a setgid carries the new gid.
	e := ev(event.Openat, uint32(sleep), p.PPID, -2)
	e.GID = 65534
	tab.Handle(e)
	if p.GID != 65534 || p.Group != "nogroup" {
		t.Errorf("after setgid(65534): gid %d group %q, want nogroup (Debian's /etc/group)", p.GID, p.Group)
	}
	// /proc's start time has a resolution of 1/USER_HZ and btime of 1 s.
	if st := time.Unix(0, p.StartTime); st.Before(before.Add(-2*time.Second)) || st.After(time.Now().Add(2*time.Second)) {
		t.Errorf("StartTime %v, test started at %v", st, before)
	}
	var chain []uint32
	var names []string
	for a := p; a != nil && len(chain) < 6; a = a.Parent {
		chain = append(chain, a.PID)
		names = append(names, a.Name)
	}
	want := []uint32{uint32(sleep), uint32(inner), uint32(outer), uint32(os.Getpid())}
	if len(chain) < 5 || !slices.Equal(chain[:4], want) {
		t.Fatalf("ancestry %v (%v), want prefix %v and at least 5 levels", chain, names, want)
	}
	if names[1] != "sh" || names[2] != "sh" || chain[4] != uint32(os.Getppid()) {
		t.Errorf("ancestry names %v, pids %v (test's parent %d)", names, chain, os.Getppid())
	}
	if got := tab.Stats().Seeded; got < 4 || int(got) != tab.Len() {
		t.Errorf("Stats.Seeded = %d, Len = %d", got, tab.Len())
	}
}

// TestLazyAncestry: processes the table has not seen are read from /proc
// on their first event, with their unknown ancestors.
func TestLazyAncestry(t *testing.T) {
	outer, inner, sleep := startChain(t)
	tab := newTable(t, Config{})
	e := ev(event.Openat, uint32(sleep), uint32(inner), -2)
	tab.Handle(e)
	if e.Proc == nil || e.Proc.Name != "sleep" || e.Proc.Parent == nil || e.Proc.Parent.Parent == nil {
		t.Fatalf("lazy entry %+v", e.Proc)
	}
	if e.Proc.Parent.PID != uint32(inner) || e.Proc.Parent.Parent.PID != uint32(outer) {
		t.Errorf("lazy ancestry %d <- %d, want %d <- %d", e.Proc.Parent.PID, e.Proc.Parent.Parent.PID, inner, outer)
	}
	if tab.Stats().FromEvent != 0 {
		t.Errorf("FromEvent = %d for live processes", tab.Stats().FromEvent)
	}
}

// TestForkExecChain drives a 3-deep chain with synthetic events below the
// real test process and reclaims it at exit.
func TestForkExecChain(t *testing.T) {
	tab := newTable(t, Config{})
	if err := tab.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := tab.Len()
	self := uint32(os.Getpid())
	selfCwd, _ := os.Getwd()

	a, b, c := uint32(fakePID), uint32(fakePID+1), uint32(fakePID+2)
	tab.Handle(ev(event.Fork, self, uint32(os.Getppid()), int64(a)))
	tab.Handle(execEv(a, self, "bash", "/bin/bash", "bash", "-i"))
	cd := ev(event.Chdir, a, self, 0)
	cd.Path = []byte("../srv/./app/")
	tab.Handle(cd)
	clone := ev(event.Clone, a, self, int64(b))
	clone.Args[0] = 0x11 // SIGCHLD, no CLONE_THREAD
	tab.Handle(clone)
	tab.Handle(execEv(b, a, "python3", "bin/python3", "python3", "x.py"))
	// The grandchild's own clone return comes before its parent's.
	tab.Handle(ev(event.Clone, c, b, 0))
	tab.Handle(ev(event.Clone, b, a, int64(c)))
	tab.Handle(execEv(c, b, "nc", "/usr/bin/nc", "nc", "-l", "4444"))
	thread := ev(event.Clone, c, b, fakePID+50)
	thread.Args[0] = cloneThread
	tab.Handle(thread)

	if tab.Len() != base+3 {
		t.Errorf("Len = %d, want %d", tab.Len(), base+3)
	}
	pc := tab.Lookup(c)
	if pc == nil || pc.Parent == nil || pc.Parent.Parent == nil || pc.Parent.Parent.Parent == nil {
		t.Fatalf("chain of %d broken: %+v", c, pc)
	}
	wantCwd := path.Join(path.Dir(selfCwd), "srv/app")
	pb, pa := pc.Parent, pc.Parent.Parent
	switch {
	case pc.Name != "nc" || pc.Exe != "nc" || !slices.Equal(pc.Args, []string{"-l", "4444"}) || pc.ExePath != "/usr/bin/nc":
		t.Errorf("c: %+v", pc)
	case pb.PID != b || pb.Name != "python3" || pb.ExePath != wantCwd+"/bin/python3":
		t.Errorf("b: pid %d name %q exepath %q, want cwd %q", pb.PID, pb.Name, pb.ExePath, wantCwd)
	case pa.PID != a || pa.Name != "bash" || pa.Cwd != wantCwd || pa.ExePath != "/bin/bash":
		t.Errorf("a: pid %d name %q cwd %q", pa.PID, pa.Name, pa.Cwd)
	case pa.Parent.PID != self || pa.Parent.Parent == nil || pa.Parent.Parent.PID != uint32(os.Getppid()):
		t.Errorf("a's parent %+v", pa.Parent)
	case pc.Cwd != wantCwd || pc.User != "root" || pc.StartTime != 0 && pc.StartTime == pa.StartTime:
		t.Errorf("c inherits: cwd %q user %q", pc.Cwd, pc.User)
	}
	if tab.Lookup(fakePID+50) != nil {
		t.Error("a CLONE_THREAD clone created a process entry")
	}

	// Exits: b first (c is reparented to the test process), then c, then a.
	tab.Handle(ev(event.ProcExit, b, a, 0))
	if tab.Lookup(b) != nil {
		t.Fatal("b still live after procexit")
	}
	if pc.Parent != pb || pb.Parent != pa {
		t.Error("exited parent's entry no longer reachable from its child")
	}
	tab.Handle(ev(event.Openat, c, self, -2)) // reparented
	if pc.Parent == nil || pc.Parent.PID != self {
		t.Errorf("after reparenting, c's parent is %+v", pc.Parent)
	}
	tab.Handle(ev(event.ProcExit, c, self, 0))
	tab.Handle(ev(event.ProcExit, a, self, 0))
	if tab.Len() != base {
		t.Errorf("Len after exits = %d, want baseline %d", tab.Len(), base)
	}
	if s := tab.Stats(); s.Exited != 3 || s.Created != 3 {
		t.Errorf("stats %+v", s)
	}
}

// TestReclaim: many short-lived processes, real ones and synthetic ones,
// leave the table at its baseline size.
func TestReclaim(t *testing.T) {
	tab := newTable(t, Config{MaxProcesses: 1 << 16})
	if err := tab.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	self := uint32(os.Getpid())
	base := tab.Len()
	for i := 0; i < 5000; i++ {
		pid := uint32(fakePID + i)
		tab.Handle(ev(event.Fork, self, uint32(os.Getppid()), int64(pid)))
		s := ev(event.Socket, pid, self, 3)
		s.Args = [4]int64{event.AFInet, sockStream, 0}
		tab.Handle(s)
		tab.Handle(execEv(pid, self, "true", "/bin/true", "true"))
		tab.Handle(ev(event.ProcExit, pid, self, 0))
	}
	// A real process seen through its events, exited for real.
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	real := uint32(cmd.Process.Pid)
	tab.Handle(ev(event.Openat, real, self, -2))
	tab.Handle(ev(event.ProcExit, real, self, 0))
	if tab.Len() != base {
		t.Errorf("Len = %d after 5001 exits, want baseline %d", tab.Len(), base)
	}
	if s := tab.Stats(); s.Exited != 5001 || s.FromEvent != 1 {
		t.Errorf("Exited = %d FromEvent = %d", s.Exited, s.FromEvent)
	}
	// A daemonising chain (fork, parent exits, repeat) keeps a bounded
	// number of exited ancestors reachable.
	parent := self
	for i := 0; i < 100; i++ {
		pid := uint32(fakePID + 10000 + i)
		tab.Handle(ev(event.Fork, parent, 1, int64(pid)))
		if parent != self {
			tab.Handle(ev(event.ProcExit, parent, 1, 0))
		}
		parent = pid
	}
	n := 0
	for p := tab.Lookup(parent); p != nil; p = p.Parent {
		n++
	}
	if n > maxExitedChain+1 {
		t.Errorf("live process keeps %d ancestors reachable, want at most %d", n, maxExitedChain+1)
	}
}

func TestMaxProcesses(t *testing.T) {
	tab := newTable(t, Config{MaxProcesses: 64})
	for i := 0; i < 1000; i++ {
		tab.Handle(ev(event.Openat, uint32(fakePID+i), 1, -2))
	}
	s := tab.Stats()
	if tab.Len() > 64 || s.Vanished+s.Evicted != 1000-uint64(tab.Len()) {
		t.Errorf("Len %d, stats %+v", tab.Len(), s)
	}
}

func sockEv(typ event.Type, pid uint32, fd, res int64) *event.Event {
	e := ev(typ, pid, 1, res)
	e.Args[0] = fd
	return e
}

func ip4(a, b, c, d byte, port uint16) event.SockAddr {
	s := event.SockAddr{Family: event.AFInet, Port: port}
	copy(s.IP[:], []byte{a, b, c, d})
	return s
}

func TestFDTable(t *testing.T) {
	tab := newTable(t, Config{})
	pid := uint32(fakePID)
	tab.Handle(execEv(pid, 1, "sh", "/bin/sh", "sh"))
	cd := ev(event.Chdir, pid, 1, 0)
	cd.Path = []byte("/var/lib")
	tab.Handle(cd)

	// A connected socket duplicated onto stdout.
	s := ev(event.Socket, pid, 1, 5)
	s.Args = [4]int64{event.AFInet, sockStream | unix.SOCK_CLOEXEC, 0}
	tab.Handle(s)
	c := sockEv(event.Connect, pid, 5, -int64(unix.EINPROGRESS))
	c.Addr, c.Local = ip4(10, 0, 0, 2, 80), ip4(10, 0, 0, 1, 4242)
	tab.Handle(c)
	const tuple = "10.0.0.1:4242->10.0.0.2:80"
	if c.FD == nil || string(c.FD.Name) != tuple || c.FD.Proto != ipprotoTCP || c.FD.Type != event.FDIPv4 {
		t.Fatalf("connect FD %+v", c.FD)
	}
	d := sockEv(event.Dup2, pid, 5, 1)
	d.Args[1] = 1
	tab.Handle(d)
	tab.Handle(sockEv(event.Close, pid, 5, 0))
	f := tab.LookupFD(pid, 1)
	if f == nil || string(f.Name) != tuple || f.Num != 1 || f.Remote.Port != 80 || f.Local.Port != 4242 || f.Type != event.FDIPv4 {
		t.Fatalf("fd 1 after dup2 and close of 5: %+v", f)
	}
	if tab.LookupFD(pid, 5) != nil {
		t.Error("fd 5 still stored after close")
	}
	w := sockEv(event.Sendto, pid, 1, 10)
	tab.Handle(w)
	if w.FD == nil || string(w.FD.Name) != tuple {
		t.Errorf("sendto on fd 1: %+v", w.FD)
	}

	// Accepted connections put the peer first; IPv6 formatting.
	l := ev(event.Socket, pid, 1, 6)
	l.Args = [4]int64{event.AFInet6, sockStream, 0}
	tab.Handle(l)
	b := sockEv(event.Bind, pid, 6, 0)
	b.Addr = event.SockAddr{Family: event.AFInet6, Port: 8080}
	tab.Handle(b)
	if string(b.FD.Name) != ":::8080" {
		t.Errorf("bind name %q", b.FD.Name)
	}
	a := sockEv(event.Accept4, pid, 6, 7)
	a.Addr = event.SockAddr{Family: event.AFInet6, Port: 5555, IP: [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}}
	tab.Handle(a)
	if a.FD == nil || string(a.FD.Name) != "2001:db8::1:5555->:::8080" || a.FD.Proto != ipprotoTCP {
		t.Errorf("accept FD %+v", a.FD)
	}

	// UDP sendto on an unconnected socket reports the destination.
	u := ev(event.Socket, pid, 1, 8)
	u.Args = [4]int64{event.AFInet, sockDgram, 0}
	tab.Handle(u)
	st := sockEv(event.Sendto, pid, 8, 3)
	st.Addr = ip4(8, 8, 8, 8, 53)
	tab.Handle(st)
	if string(st.FD.Name) != "0.0.0.0:0->8.8.8.8:53" || st.FD.Proto != ipprotoUDP {
		t.Errorf("sendto FD %q proto %d", st.FD.Name, st.FD.Proto)
	}

	// Unix socket: the path.
	us := ev(event.Socket, pid, 1, 9)
	us.Args = [4]int64{event.AFUnix, sockStream, 0}
	tab.Handle(us)
	uc := sockEv(event.Connect, pid, 9, 0)
	uc.Addr = event.SockAddr{Family: event.AFUnix, Path: []byte("/run/docker.sock")}
	tab.Handle(uc)
	uc.Addr.Path[0] = 'X' // the record's bytes are reused after the event
	if f := tab.LookupFD(pid, 9); f == nil || string(f.Name) != "/run/docker.sock" || string(f.Remote.Path) != "/run/docker.sock" || f.Type != event.FDUnix {
		t.Errorf("unix socket %+v", f)
	}

	// Files: relative opens against a directory fd and the cwd; fchdir.
	o := sockEv(event.Openat, pid, unix.AT_FDCWD, 10)
	o.Args[1] = unix.O_DIRECTORY
	o.Path = []byte("dpkg/../apt")
	tab.Handle(o)
	if string(o.FD.Name) != "/var/lib/apt" || o.FD.Type != event.FDDirectory {
		t.Errorf("openat dir: %q type %d", o.FD.Name, o.FD.Type)
	}
	o2 := sockEv(event.Openat, pid, 10, 11)
	o2.Path = []byte("lists/lock")
	tab.Handle(o2)
	if string(o2.FD.Name) != "/var/lib/apt/lists/lock" || o2.FD.Type != event.FDFile || o2.FD.Num != 11 {
		t.Errorf("openat relative to dirfd: %+v", o2.FD)
	}
	fail := sockEv(event.Openat, pid, unix.AT_FDCWD, -int64(unix.ENOENT))
	fail.Path = []byte("./missing")
	tab.Handle(fail)
	if string(fail.FD.Name) != "/var/lib/missing" || fail.FD.Num != -1 {
		t.Errorf("failed open FD %+v", fail.FD)
	}
	tab.Handle(sockEv(event.Fchdir, pid, 10, 0))
	if p := tab.Lookup(pid); p.Cwd != "/var/lib/apt" {
		t.Errorf("cwd after fchdir = %q", p.Cwd)
	}
	dd := sockEv(event.Dup, pid, 11, 12)
	tab.Handle(dd)
	if f := tab.LookupFD(pid, 12); f == nil || string(f.Name) != "/var/lib/apt/lists/lock" {
		t.Errorf("dup of a file: %+v", f)
	}

	// A fork copies the table; exec drops close-on-exec descriptors (fd 5
	// was CLOEXEC but closed; dup2 cleared it for fd 1).
	tab.Handle(ev(event.Fork, pid, 1, fakePID+1))
	mf := ev(event.MemfdCreate, pid, 1, 13)
	mf.Path = []byte("payload")
	mf.Args[0] = 1 // MFD_CLOEXEC
	tab.Handle(mf)
	x := execEv(fakePID+1, pid, "x", "")
	x.Type = event.Execveat
	x.Args = [4]int64{12, unix.AT_EMPTY_PATH}
	tab.Handle(x)
	if f := tab.LookupFD(fakePID+1, 1); f == nil || string(f.Name) != tuple {
		t.Errorf("child's fd 1 = %+v", f)
	}
	if p := tab.Lookup(fakePID + 1); p.ExePath != "/var/lib/apt/lists/lock" || p.ExeFromMemfd {
		t.Errorf("fexecve exepath %q memfd %v", p.ExePath, p.ExeFromMemfd)
	}
	me := execEv(pid, 1, "x", "")
	me.Type = event.Execveat
	me.Args = [4]int64{13, unix.AT_EMPTY_PATH}
	tab.Handle(me)
	if p := tab.Lookup(pid); p.ExePath != "memfd:payload" || !p.ExeFromMemfd {
		t.Errorf("memfd exec: exepath %q memfd %v", p.ExePath, p.ExeFromMemfd)
	}
	if tab.LookupFD(pid, 13) != nil {
		t.Error("close-on-exec memfd kept after exec")
	}
	if tab.LookupFD(pid, 1) == nil || tab.LookupFD(pid, 11) == nil {
		t.Error("descriptors without close-on-exec dropped at exec")
	}
}

func TestFileQuota(t *testing.T) {
	tab := newTable(t, Config{MaxFileFDs: 4, MaxFDs: 8})
	pid := uint32(fakePID)
	for fd := int64(3); fd < 13; fd++ {
		o := sockEv(event.Openat, pid, unix.AT_FDCWD, fd)
		o.Path = []byte("/etc/hosts")
		tab.Handle(o)
		if o.FD == nil || string(o.FD.Name) != "/etc/hosts" || o.FD.Num != int32(fd) {
			t.Fatalf("open %d: FD %+v", fd, o.FD)
		}
	}
	for fd := int64(20); fd < 30; fd++ {
		s := ev(event.Socket, pid, 1, fd)
		s.Args[0] = event.AFInet
		tab.Handle(s)
	}
	s := tab.Stats()
	if s.FilesNotStored != 6 || s.FDsDropped != 6 {
		t.Errorf("FilesNotStored %d FDsDropped %d, want 6 and 6", s.FilesNotStored, s.FDsDropped)
	}
}

func TestCleanPath(t *testing.T) {
	for _, p := range []string{"/", "//", "/a/b/../c", "/../..", "/a/./b/", "/a//b", "/a/b/c/../../..", "/.../..a/b..", "/a/..b/.", "/."} {
		if got := string(cleanPath([]byte(p))); got != path.Clean(p) {
			t.Errorf("cleanPath(%q) = %q, want %q", p, got, path.Clean(p))
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	f.Add("/a/../b/./c//")
	f.Fuzz(func(t *testing.T, p string) {
		p = "/" + p
		if got := string(cleanPath([]byte(p))); got != path.Clean(p) {
			t.Fatalf("cleanPath(%q) = %q, want %q", p, got, path.Clean(p))
		}
	})
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"12 (sh) S x 1 1 0", "/proc/12/stat: line 1: 5 fields"},
		{"12 (a) b) S 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 notanumber", "/proc/12/stat: line 1: starttime: invalid value \"notanumber\""},
		{"12 sh S", "/proc/12/stat: line 1: comm"},
	} {
		_, err := parseStat("/proc/12/stat", []byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseStat(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
	st, err := parseStat("s", []byte("12 (a) b) S 7 8 9 34816 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 4242 0"))
	if err != nil || st.comm != "a) b" || st.ppid != 7 || st.pgrp != 8 || st.session != 9 || st.tty != 34816 || st.startTicks != 4242 {
		t.Errorf("parseStat = %+v, %v", st, err)
	}
	var p event.Process
	err = parseStatus("/proc/9/status", []byte("Name:\tsh\nUid:\t0\t0\t0\t0\nGid:\t0\tx\t0\t0\n"), &p)
	if err == nil || !strings.Contains(err.Error(), "/proc/9/status: line 3: Gid: invalid value") {
		t.Errorf("parseStatus error = %v", err)
	}
}
