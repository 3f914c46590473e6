package pipeline

import (
	"os/exec"
	"strconv"
	"testing"

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
		ct.ExecTTY(t, "exit\n", "sh", "-i")
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
