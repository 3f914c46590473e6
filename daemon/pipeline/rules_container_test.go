package pipeline

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/internal/testctr"
)

// TestDefaultRulesInContainer performs, inside a real container (containerd
// and runc, placed in a docker-style cgroup), the behaviours of the default
// rules about containers, and waits for their alerts.
func TestDefaultRulesInContainer(t *testing.T) {
	det.need(t)
	c := testctr.Start(t)
	id := testctr.NewID()
	ct := c.Start(t, id, testctr.DockerCgroup(id), "sleep", "600")
	short := id[:12]

	t.Run("interactive shell with a terminal", func(t *testing.T) {
		// As `docker exec -it ctr sh` or `kubectl exec -it`: ctr task exec
		// --tty, itself run on a pseudo-terminal, starts an interactive
		// shell whose standard streams are the container's console.
		from := det.mark()
		execTTY(t, c, ct, "sh", "-i")
		waitContainerRule(t, from, short, expect{rule: "Terminal shell in container", fields: map[string]string{
			"proc.name": "sh", "container.id": short}})
	})

	t.Run("execute a binary written in the container", func(t *testing.T) {
		from := det.mark()
		res := ct.Exec(t, "sh", "-c", "mkdir -p /opt/drop && cp /bin/busybox /opt/drop/true && /opt/drop/true")
		if res.ExitCode != 0 {
			t.Fatalf("drop and execute: %+v", res)
		}
		waitContainerRule(t, from, short, expect{rule: "Drop and execute new binary in container", fields: map[string]string{
			"proc.exepath": "/opt/drop/true"}})
	})

	t.Run("image binaries are not reported as dropped", func(t *testing.T) {
		// The counterpart of the previous case: a binary of the image
		// (lower layer) is run; then a dropped one again, as a barrier
		// that proves the first exec was evaluated.
		from := det.mark()
		if res := ct.Exec(t, "sh", "-c", "/bin/true && /opt/drop/true"); res.ExitCode != 0 {
			t.Fatalf("exec: %+v", res)
		}
		waitContainerRule(t, from, short, expect{rule: "Drop and execute new binary in container", fields: map[string]string{
			"proc.exepath": "/opt/drop/true"}})
		for _, r := range det.since(from) {
			if r.alert.Rule == "Drop and execute new binary in container" && r.alert.OutputFields["proc.exepath"] != "/opt/drop/true" {
				t.Errorf("image binary reported as dropped: %s", r)
			}
		}
	})

	t.Run("AF_PACKET socket", func(t *testing.T) {
		// busybox arping opens its AF_PACKET socket first; lo cannot do
		// ARP, so it fails after that. (The image's busybox shell runs
		// its applets through /proc/self/exe: their proc.name is "exe",
		// as Falco would report it too.)
		from := det.mark()
		ct.Exec(t, "arping", "-c", "1", "-w", "1", "-I", "lo", "127.0.0.1")
		waitContainerRule(t, from, short, expect{rule: "Packet socket created in container", fields: map[string]string{
			"evt.arg.domain": "AF_PACKET", "proc.cmdline": "exe -c 1 -w 1 -I lo 127.0.0.1"}})
		for _, r := range det.since(from) {
			if r.alert.Rule == "Packet socket created on host" && r.container == short {
				t.Errorf("container packet socket reported as a host one: %s", r)
			}
		}
	})

	t.Run("connect to the Kubernetes API server", func(t *testing.T) {
		// The container's network namespace gets kubeadm's API service
		// address (10.96.0.1) on its loopback, with a listener on 443 in
		// the container, so that the connection succeeds as it would
		// through the service's NAT in a cluster.
		for _, args := range [][]string{
			{"ip", "link", "set", "lo", "up"},
			{"ip", "addr", "add", "10.96.0.1/32", "dev", "lo"},
		} {
			cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(ct.PID), "-n"}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", cmd, err, out)
			}
		}
		from := det.mark()
		res := ct.Exec(t, "sh", "-c",
			"nc -l -p 443 >/dev/null </dev/null & l=$!; sleep 0.3; echo GET | nc -w 2 10.96.0.1 443; r=$?; kill $l; exit $r")
		if res.ExitCode != 0 {
			t.Fatalf("connect: %+v", res)
		}
		waitContainerRule(t, from, short, expect{rule: "Contact K8S API Server From Container", fields: map[string]string{
			"fd.sip": "10.96.0.1", "fd.sport": "443", "proc.cmdline": "exe -w 2 10.96.0.1 443"}})
	})
}

// execTTY runs args in container ct with a terminal, as `ctr task exec
// --tty` does when run from an interactive terminal, and ends them by
// typing exit.
func execTTY(t *testing.T, c *testctr.Containerd, ct *testctr.Container, args ...string) {
	t.Helper()
	ptmx, pts := openPTY(t)
	execID := "tty" + testctr.NewID()[:12]
	cmd := exec.Command("ctr", append([]string{"--address", c.Address, "--namespace", c.Namespace,
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
	if _, err := ptmx.Write([]byte("echo nightjar-tty-$((6*7))\nexit\n")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		<-copied
		ptmx.Close()
		if err != nil || !bytes.Contains(out.Bytes(), []byte("nightjar-tty-42")) {
			t.Fatalf("ctr task exec --tty: %v; terminal output:\n%s", err, out.Bytes())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		ptmx.Close()
		t.Fatalf("ctr task exec --tty did not end; terminal output:\n%s", out.Bytes())
	}
}

// openPTY returns a new pseudo-terminal's master and slave.
func openPTY(t *testing.T) (ptmx, pts *os.File) {
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
