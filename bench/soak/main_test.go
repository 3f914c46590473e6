package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestWaitCapturing runs the real daemon with the soak's rules and checks
// that once waitCapturing returns, every open of the target raises an
// alert, the first one included. The metrics endpoint, which the soak
// used to wait for (and then slept 2 s), answers before the daemon has
// loaded and attached its programs.
func TestWaitCapturing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the daemon loads eBPF programs: run this test as root")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "nightjar")
	if out, err := exec.Command("go", "build", "-o", bin, "../../daemon/cmd/nightjar").CombinedOutput(); err != nil {
		t.Fatalf("go build nightjar: %v\n%s", err, out)
	}
	target, ready := filepath.Join(dir, "flood-target"), filepath.Join(dir, "capture-ready")
	for _, f := range []string{target, ready} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rules := filepath.Join(dir, "soak.yaml")
	if err := writeRules(rules, target, ready); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(dir, "nightjar.hcl")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `
rules {
  default_rules = false
  paths         = [%q]
}
rate_limit {
  rate = 0
}
metrics {
  enabled = true
  listen  = %q
}
`, rules, addr), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	d := exec.Command(bin, "run", "--config", cfg)
	d.Stdout, d.Stderr = &lockedWriter{w: &log}, &lockedWriter{w: &log}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Process.Signal(syscall.SIGTERM)
		d.Wait()
	})

	ctx := context.Background()
	if err := waitCapturing(ctx, addr, ready, time.Minute); err != nil {
		t.Fatalf("waitCapturing: %v\n%s", err, log.String())
	}
	const opens = 200
	for range opens {
		fd, err := syscall.Open(target, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Close(fd)
	}
	var raised float64
	err = waitUntil(ctx, 30*time.Second, func() bool {
		m, err := scrape(addr)
		if err == nil {
			raised = m.raised
		}
		return raised >= opens
	})
	if err != nil || raised != opens {
		t.Fatalf("%d opens after waitCapturing raised %.0f alerts\n%s", opens, raised, log.String())
	}
}
