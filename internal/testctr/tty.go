package testctr

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ExecTTY runs args (an interactive shell) in the container with a
// terminal, as `ctr task exec --tty` does from an interactive terminal,
// types a marker command and then typed (which must end the shell, e.g.
// "exit\n"), and fails the test unless the shell answered on the terminal.
func (ct *Container) ExecTTY(t testing.TB, typed string, args ...string) {
	t.Helper()
	ptmx, pts := openPTY(t)
	execID := "tty" + NewID()[:12]
	cmd := exec.Command("ctr", append([]string{"--address", ct.c.Address, "--namespace", ct.c.Namespace,
		"task", "exec", "--tty", "--exec-id", execID, ct.ID}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, ptmx) // ends with EIO once ctr exits
		close(copied)
	}()
	if _, err := ptmx.Write([]byte("echo nightjar-tty-$((6*7))\n" + typed)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		<-copied
		ptmx.Close()
		if err != nil || !bytes.Contains(out.Bytes(), []byte("nightjar-tty-42")) {
			t.Fatalf("testctr: ctr task exec --tty: %v; terminal output:\n%s", err, out.Bytes())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		ptmx.Close()
		t.Fatalf("testctr: ctr task exec --tty did not end; terminal output:\n%s", out.Bytes())
	}
}

// openPTY returns a new pseudo-terminal's master and slave.
func openPTY(t testing.TB) (ptmx, pts *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	ptmx = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		ptmx.Close()
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		ptmx.Close()
		t.Fatalf("pty number: %v", err)
	}
	name := "/dev/pts/" + strconv.Itoa(n)
	sfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		ptmx.Close()
		t.Fatalf("open %s: %v", name, err)
	}
	return ptmx, os.NewFile(uintptr(sfd), name)
}
