package image

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/internal/forwardtest"
	"github.com/nightjar-sec/nightjar/internal/testctr"
)

func TestMain(m *testing.M) { os.Exit(testctr.Main(m)) }

// TestImageRunsAndDetects builds the daemon image as a user would
// (static binary, OCI archive, no Docker engine), imports it into a real
// containerd and runs it the way the GKE DaemonSet and the ECS daemon task
// do: privileged, in the host's pid namespace, with the log router's
// socket directory shared from outside. A host process then reads
// /etc/shadow, and the alert must reach a forward listener on that socket.
func TestImageRunsAndDetects(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs a privileged container that loads eBPF programs and must run as root")
	}
	ctrd := testctr.Start(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "nightjar")
	build := exec.Command("go", "build", "-o", bin, "../cmd/nightjar")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const ref = "nightjar.test/nightjar:image-test"
	img, err := Build(Options{Binary: bin, Ref: ref, Version: "test", Config: imageConfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "nightjar-image.tar")
	if err := WriteArchive(archive, ref, img); err != nil {
		t.Fatal(err)
	}
	ctrd.Import(t, archive)

	sockDir := filepath.Join(dir, "sock")
	if err := os.Mkdir(sockDir, 0o750); err != nil {
		t.Fatal(err)
	}
	fl := forwardtest.Listen(t, filepath.Join(sockDir, "fluent.sock"))
	id := testctr.NewID()
	logFile := filepath.Join(dir, "daemon.log")
	ct := ctrd.StartWith(t, id, testctr.DockerCgroup(id), testctr.StartOptions{
		Image: ref, Privileged: true, HostPID: true, LogFile: logFile,
		Mounts: []testctr.Mount{
			{Source: sockDir, Dest: SocketDir},
			{Source: "/sys/kernel/btf", Dest: "/sys/kernel/btf", ReadOnly: true},
		},
	})
	// The daemon says when its programs are attached.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(logFile); strings.Contains(string(b), "nightjar running") {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("the daemon in the container (pid %d) did not start; its log:\n%s", ct.PID, log)
		}
	}

	// The forward connection may still be dialing when the daemon says it
	// runs; each read is a new behaviour, so reading until one is reported
	// cannot mistake an old alert for a new one.
	var pids []int
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := exec.Command("/bin/cat", "/etc/shadow")
		c.Stdout = io.Discard
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, c.Process.Pid)
		r, ok := fl.Find(func(r forwardtest.Record) bool {
			if r.Record["rule"] != "Read sensitive file untrusted" {
				return false
			}
			for _, p := range pids {
				if fmt.Sprint(r.Field("proc.pid")) == fmt.Sprint(p) {
					return true
				}
			}
			return false
		}, time.Second)
		if ok {
			if r.Field("container.id") != "host" || r.Field("fd.name") != "/etc/shadow" || r.Tag != "nightjar.alerts" {
				t.Errorf("alert from the image: tag %q fields %v", r.Tag, r.Record["output_fields"])
			}
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("no alert from the daemon image for any of %d reads of /etc/shadow; its log:\n%s", len(pids), log)
		}
	}
}
