package capture

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// buildC compiles the C program testdata/name.c with gcc into a static
// executable and returns its path.
func buildC(t testing.TB, name string, flags ...string) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatalf("gcc is needed to build testdata/%s.c: %v", name, err)
	}
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-static", "-no-pie", "-O1", "-Wall", "-o", out}, flags...)
	args = append(args, filepath.Join("testdata", name+".c"))
	if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
	return out
}

// TestCompatSyscalls: a 64-bit program that makes its calls through int
// $0x80 (the ia32 table, whose numbers mean other calls) is reported with
// the same event types and arguments as a 64-bit caller: open, openat,
// socketcall's connect and a failed and a successful execve.
func TestCompatSyscalls(t *testing.T) {
	prog := buildC(t, "int80")
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	col := sharedCol(t)
	cmd := exec.Command(prog, "/etc/shadow", "/bin/true", strconv.Itoa(port))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", prog, err, out)
	}
	pid := uint32(cmd.Process.Pid)

	open := col.waitFor(t, pid, event.Open, func(ev *event.Event) bool { return string(ev.Path) == "/etc/shadow" })
	if !open.Compat || open.Res < 0 || open.Args[0] != unix.O_RDONLY || string(open.Path2) != "/etc/shadow" {
		t.Errorf("int $0x80 open: compat %v res %d args %v path2 %q", open.Compat, open.Res, open.Args, open.Path2)
	}
	openat := col.waitFor(t, pid, event.Openat, func(ev *event.Event) bool { return ev.Compat })
	if string(openat.Path) != "/etc/shadow" || openat.Args[0] != unix.AT_FDCWD || string(openat.Path2) != "/etc/shadow" {
		t.Errorf("int $0x80 openat: args %v path %q path2 %q", openat.Args, openat.Path, openat.Path2)
	}
	conn := col.waitFor(t, pid, event.Connect, nil)
	if !conn.Compat || conn.Res != 0 || conn.Addr.Family != event.AFInet || conn.Addr.Port != uint16(port) ||
		!bytes.Equal(conn.Addr.IP[:4], []byte{127, 0, 0, 1}) || conn.Local.Port == 0 {
		t.Errorf("socketcall connect: compat %v res %d addr %+v local %+v", conn.Compat, conn.Res, conn.Addr, conn.Local)
	}
	failed := col.waitFor(t, pid, event.Execve, func(ev *event.Event) bool { return ev.Res < 0 })
	if !failed.Compat || failed.Res != -int64(unix.ENOENT) || string(failed.Path) != "/nonexistent/nightjar-int80" ||
		string(failed.Argv) != "/nonexistent/nightjar-int80" {
		t.Errorf("failed int $0x80 execve: compat %v res %d path %q argv %q", failed.Compat, failed.Res, failed.Path, failed.Argv)
	}
	// The new image is 64-bit: the kernel reports the exec's return as a
	// 64-bit execve.
	trueExe, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	exe := col.waitFor(t, pid, event.Execve, func(ev *event.Event) bool { return ev.Res == 0 && comm(*ev) == "true" })
	if exe.Compat || string(exe.Path) != "/bin/true" || string(exe.Path2) != trueExe || string(exe.Argv) != "/bin/true" {
		t.Errorf("int $0x80 execve: compat %v path %q path2 %q argv %q, want /bin/true %s", exe.Compat, exe.Path, exe.Path2, exe.Argv, trueExe)
	}
}

// TestIA32Process: a 32-bit program, executed by a 64-bit one, opens
// /etc/shadow and executes a 64-bit program; every call is reported with
// the 64-bit event types.
func TestIA32Process(t *testing.T) {
	prog := buildC(t, "ia32", "-m32", "-nostdlib", "-ffreestanding", "-fno-pic")
	col := sharedCol(t)
	cmd := exec.Command(prog)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", prog, err, out)
	}
	pid := uint32(cmd.Process.Pid)
	// The exec into the 32-bit image returns as an ia32 execve.
	start := col.waitFor(t, pid, event.Execve, func(ev *event.Event) bool { return ev.Res == 0 && string(ev.Path) == prog })
	if !start.Compat || string(start.Path2) != prog || start.Ino == 0 {
		t.Errorf("exec of the ia32 program: compat %v path2 %q inode %d", start.Compat, start.Path2, start.Ino)
	}
	open := col.waitFor(t, pid, event.Open, func(ev *event.Event) bool { return string(ev.Path) == "/etc/shadow" })
	if !open.Compat || open.Res < 0 || string(open.Path2) != "/etc/shadow" {
		t.Errorf("ia32 open: compat %v res %d path2 %q", open.Compat, open.Res, open.Path2)
	}
	openat := col.waitFor(t, pid, event.Openat, func(ev *event.Event) bool { return ev.Compat })
	if string(openat.Path) != "/etc/shadow" || openat.Args[0] != unix.AT_FDCWD || openat.Res < 0 {
		t.Errorf("ia32 openat: args %v res %d path %q", openat.Args, openat.Res, openat.Path)
	}
	exe := col.waitFor(t, pid, event.Execve, func(ev *event.Event) bool { return ev.Res == 0 && comm(*ev) == "true" })
	if exe.Compat || string(exe.Path) != "/bin/true" || string(exe.Argv) != "/bin/true" {
		t.Errorf("ia32 execve of /bin/true: compat %v path %q argv %q", exe.Compat, exe.Path, exe.Argv)
	}
}

// TestCompatSetuid16: the ia32 table's old set*id calls take 16-bit ids,
// whose -1 ("unchanged") is 0xffff; they are reported as the 32-bit calls.
func TestCompatSetuid16(t *testing.T) {
	prog := buildC(t, "int80setuid")
	col := sharedCol(t)
	cmd := exec.Command(prog)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", prog, err, out)
	}
	pid := uint32(cmd.Process.Pid)
	// setresuid16(-1, 65534, -1): the 16-bit -1 is the 32-bit one.
	ev := col.waitFor(t, pid, event.Setresuid, nil)
	if !ev.Compat || ev.Res != 0 || ev.Args[0] != 0xffffffff || ev.Args[1] != 65534 || ev.Args[2] != 0xffffffff {
		t.Errorf("setresuid16: compat %v res %d args %v", ev.Compat, ev.Res, ev.Args)
	}
}
