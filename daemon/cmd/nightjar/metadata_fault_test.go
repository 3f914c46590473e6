package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/internal/testctr"
)

// TestDaemonDetectsThroughHungMetadata runs the real daemon against the two
// things a container can do to stall enrichment: a metadata endpoint that
// accepts connections and never answers (timeout far beyond the test), and
// a FIFO as the container's /etc/passwd. Detection must go on: the
// container's alert arrives without its metadata, within the configured
// wait rather than the provider's timeout, and a host alert raised after it
// arrives too.
func TestDaemonDetectsThroughHungMetadata(t *testing.T) {
	requireRoot(t)
	ctrd := testctr.Start(t)

	// Accepts, reads nothing, answers nothing.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	// The container replaces its passwd with a FIFO before the daemon
	// starts, so that the daemon meets the FIFO when it first learns of
	// the container (seeding from /proc), then waits for a go-ahead to
	// read a sensitive file.
	id := testctr.NewID()
	ct := ctrd.Start(t, id, testctr.DockerCgroup(id), "sh", "-c",
		"echo 'root:x:0:' > /etc/shadow && rm /etc/passwd && mkfifo /etc/passwd && "+
			"while [ ! -e /tmp/go ]; do sleep 0.05; done; cat /etc/shadow; exec sleep 600")
	root := fmt.Sprintf("/proc/%d/root", ct.PID)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Lstat(root + "/etc/passwd"); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/etc/passwd in the container never became a FIFO")
		}
	}

	sock := filepath.Join(t.TempDir(), "fluent.sock")
	fl := newForwardListener(t, sock)
	metricsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := metricsLn.Addr().String()
	metricsLn.Close()
	d := startDaemon(t, fmt.Sprintf(`
forward_output {
  enabled = true
  address = "unix://%s"
  spool { enabled = false }
}
metrics {
  enabled = true
  listen  = %q
}
metadata {
  cri_endpoints      = []
  containerd_address = ""
  ecs                = true
  ecs_uri            = "http://%s/v4/task"
  timeout            = "10m"
  wait               = "200ms"
}
`, sock, metricsAddr, hung.Addr()))

	if err := os.WriteFile(root+"/tmp/go", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := fl.WaitFor(t, 30*time.Second, func(r forwardRecord) bool {
		f, _ := r.Record["output_fields"].(map[string]any)
		return r.Record["rule"] == "Read sensitive file untrusted" && f["container.id"] == id[:12]
	})
	// Not a speed measurement: with enrichment on the event loop the alert
	// would wait for the 10-minute provider timeout.
	if late := time.Since(r.Time); late > 15*time.Second {
		t.Errorf("container alert arrived %v after its event", late)
	}
	f := r.Record["output_fields"].(map[string]any)
	if f["container.name"] != nil {
		t.Errorf("container.name = %v from a metadata endpoint that never answered", f["container.name"])
	}

	pid := readShadow(t)
	fl.WaitFor(t, 30*time.Second, alertOf("Read sensitive file untrusted", pid))
	// The late metadata is counted where operators look.
	fams := scrape(t, "http://"+metricsAddr+"/metrics")
	if fam := fams["nightjar_container_metadata_late_total"]; fam == nil || fam.GetMetric()[0].GetCounter().GetValue() < 1 {
		t.Errorf("nightjar_container_metadata_late_total = %v, want >= 1", fam)
	}
	if err := d.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, d.stderr.String())
	}
}
