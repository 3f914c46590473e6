package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/internal/forwardtest"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// These tests run the real daemon binary as root: it loads its eBPF programs
// into the running kernel, detects what the test's child processes do, and
// delivers the alerts over the Fluent Forward protocol to a listener that
// plays Fluent Bit's in_forward.

// buildDaemon builds the nightjar binary once per test binary.
var buildDaemon = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "nightjar-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nightjar")
	// Without cgo, as make build does: the daemon drops its capabilities on
	// every thread, which Go can do only in a binary without cgo.
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test loads eBPF programs and must run as root")
	}
}

// forwardRecord is one decoded forward entry.
type forwardRecord = forwardtest.Record

// newForwardListener plays Fluent Bit's in_forward on a Unix socket.
func newForwardListener(t *testing.T, path string) *forwardtest.Listener {
	return forwardtest.Listen(t, path)
}

// daemonProc is a running nightjar daemon.
type daemonProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon runs nightjar with the configuration text and waits until it
// reports that it is running.
func startDaemon(t *testing.T, cfg string) *daemonProc {
	t.Helper()
	return startDaemonWith(t, cfg, nil)
}

// startDaemonWith is startDaemon with the daemon run under the command
// wrap (e.g. setpriv with a capability set).
func startDaemonWith(t *testing.T, cfg string, wrap []string) *daemonProc {
	t.Helper()
	requireRoot(t)
	bin, err := buildDaemon()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nightjar.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{stderr: &syncBuffer{}}
	args := append(append([]string(nil), wrap...), bin, "run", "--config", path)
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Stderr = d.stderr
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		d.cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(d.stderr.String(), "nightjar running") {
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not start:\n%s", d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

// stop sends SIGTERM and returns the exit error.
func (d *daemonProc) stop(t *testing.T) error {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not exit after SIGTERM:\n%s", d.stderr.String())
		return nil
	}
}

func TestDaemonDeliversAlertOverForward(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "fluent.sock")
	fl := newForwardListener(t, sock)
	metricsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := metricsLn.Addr().String()
	metricsLn.Close()
	d := startDaemon(t, fmt.Sprintf(`
hostname = "e2e-node"
append_output = { "cluster" = "test" }
forward_output {
  enabled     = true
  address     = "unix://%s"
  require_ack = true
  spool { enabled = false }
}
metrics {
  enabled = true
  listen  = %q
}
`, sock, metricsAddr))

	// The behaviour: a program with no business there reads /etc/shadow.
	reader := exec.Command("/bin/cat", "/etc/shadow")
	reader.Stdout = io.Discard
	if err := reader.Run(); err != nil {
		t.Fatal(err)
	}
	pid := reader.Process.Pid

	r := fl.WaitFor(t, 20*time.Second, func(r forwardRecord) bool {
		f, _ := r.Record["output_fields"].(map[string]any)
		return r.Record["rule"] == "Read sensitive file untrusted" && fmt.Sprint(f["proc.pid"]) == fmt.Sprint(pid)
	})
	if r.Tag != "nightjar.alerts" {
		t.Errorf("tag = %q, want nightjar.alerts", r.Tag)
	}
	f := r.Record["output_fields"].(map[string]any)
	for k, want := range map[string]string{
		"proc.name": "cat", "fd.name": "/etc/shadow", "proc.exepath": "/usr/bin/cat",
		"container.id": "host", "cluster": "test", "user.name": "root",
	} {
		if fmt.Sprint(f[k]) != want {
			t.Errorf("output_fields[%q] = %v, want %s", k, f[k], want)
		}
	}
	if r.Record["hostname"] != "e2e-node" || r.Record["priority"] != "Warning" || r.Record["source"] != "syscall" {
		t.Errorf("record = %v", r.Record)
	}
	if u, _ := r.Record["uuid"].(string); len(u) != 36 {
		t.Errorf("uuid = %v", r.Record["uuid"])
	}
	if time.Since(r.Time) > time.Minute || time.Until(r.Time) > time.Second {
		t.Errorf("event time %v is not the time of the event", r.Time)
	}

	// The metrics count what happened. Capture counters are published once
	// a second, so scrape until the evaluations show.
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		fams = scrape(t, "http://"+metricsAddr+"/metrics")
		if fam := fams["nightjar_rule_evaluations_total"]; fam != nil && len(fam.GetMetric()) == 1 &&
			fam.GetMetric()[0].GetCounter().GetValue() > 0 || time.Now().After(deadline) {
			break
		}
	}
	var sawAlert bool
	for name, fam := range fams {
		if !strings.Contains(name, "alerts") {
			continue
		}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == "Read sensitive file untrusted" && m.GetCounter().GetValue() >= 1 {
					sawAlert = true
				}
			}
		}
	}
	if !sawAlert {
		t.Errorf("no alert counter for the rule in /metrics")
	}
	if fam := fams["nightjar_rule_evaluations_total"]; fam == nil || len(fam.GetMetric()) != 1 || fam.GetMetric()[0].GetCounter().GetValue() < 1 {
		t.Errorf("nightjar_rule_evaluations_total = %v, want > 0", fam)
	}

	if err := d.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, d.stderr.String())
	}
}

// readShadow makes one "Read sensitive file untrusted" behaviour and
// returns the pid that did it.
func readShadow(t *testing.T) int {
	t.Helper()
	c := exec.Command("/bin/cat", "/etc/shadow")
	c.Stdout = io.Discard
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return c.Process.Pid
}

func alertOf(rule string, pid int) func(forwardRecord) bool {
	return func(r forwardRecord) bool {
		f, _ := r.Record["output_fields"].(map[string]any)
		return r.Record["rule"] == rule && fmt.Sprint(f["proc.pid"]) == fmt.Sprint(pid)
	}
}

func TestDaemonSpoolsWhileRouterIsDown(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "fluent.sock")
	cfg := fmt.Sprintf(`
forward_output {
  enabled     = true
  address     = "unix://%s"
  require_ack = true
  backoff_max = "200ms"
  spool {
    enabled = true
    dir     = %q
  }
}
`, sock, filepath.Join(dir, "spool"))

	// The router is down for the whole first run of the daemon.
	d := startDaemon(t, cfg)
	var pids []int
	for range 3 {
		pids = append(pids, readShadow(t))
	}
	// Give the daemon time to see the events before it is stopped; the
	// alerts must then be on disk, not lost.
	waitForLog(t, d, 20*time.Second, func() bool { return spoolFiles(t, filepath.Join(dir, "spool")) > 0 })
	time.Sleep(500 * time.Millisecond)
	if err := d.stop(t); err != nil {
		t.Fatalf("exit: %v\n%s", err, d.stderr.String())
	}

	// The router comes back, then the daemon restarts and delivers.
	fl := newForwardListener(t, sock)
	d2 := startDaemon(t, cfg)
	for _, pid := range pids {
		fl.WaitFor(t, 20*time.Second, alertOf("Read sensitive file untrusted", pid))
	}
	if err := d2.stop(t); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// spoolFiles counts the non-empty files below dir.
func spoolFiles(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil && info.Size() > 0 {
				n++
			}
		}
		return nil
	})
	return n
}

func waitForLog(t *testing.T, d *daemonProc, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v; daemon log:\n%s", timeout, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDaemonReloadKeepsRulesOnError(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "fluent.sock")
	fl := newForwardListener(t, sock)
	rulesPath := filepath.Join(dir, "local.yaml")
	writeRule := func(name string) {
		t.Helper()
		text := fmt.Sprintf("- rule: %s\n  desc: test rule\n  condition: evt.type = openat and fd.name = /etc/hostname and proc.name = cat\n  output: hostname read (%%proc.name %%proc.pid)\n  priority: NOTICE\n  tags: [test]\n", name)
		if err := os.WriteFile(rulesPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	readHostname := func() int {
		t.Helper()
		c := exec.Command("/bin/cat", "/etc/hostname")
		c.Stdout = io.Discard
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		return c.Process.Pid
	}
	writeRule("Hostname read one")
	d := startDaemon(t, fmt.Sprintf(`
rules {
  default_rules = false
  paths         = [%q]
}
forward_output {
  enabled = true
  address = "unix://%s"
  spool { enabled = false }
}
`, rulesPath, sock))
	fl.WaitFor(t, 20*time.Second, alertOf("Hostname read one", readHostname()))

	// A broken file: the reload fails, the running rule keeps working.
	if err := os.WriteFile(rulesPath, []byte("- rule: Broken\n  desc: d\n  condition: proc.nmae = x\n  output: o\n  priority: INFO\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, d, 20*time.Second, func() bool { return strings.Contains(d.stderr.String(), "keeping the running rules") })
	if !strings.Contains(d.stderr.String(), rulesPath+":3:") {
		t.Errorf("reload error does not name the file and line:\n%s", d.stderr.String())
	}
	fl.WaitFor(t, 20*time.Second, alertOf("Hostname read one", readHostname()))

	// A good file: the new rule replaces the old one.
	writeRule("Hostname read two")
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, d, 20*time.Second, func() bool { return strings.Contains(d.stderr.String(), "msg=reloaded") })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.stderr.String())
		}
	})
	fl.WaitFor(t, 20*time.Second, alertOf("Hostname read two", readHostname()))
	if err := d.stop(t); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// scrape fetches and parses a Prometheus text exposition.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func TestDaemonWithoutRootSaysWhatIsMissing(t *testing.T) {
	requireRoot(t)
	bin, err := buildDaemon()
	if err != nil {
		t.Fatal(err)
	}
	// Test directories are private to root; nobody runs a copy from a
	// directory of its own.
	dir, err := os.MkdirTemp("", "nightjar-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	nobodyBin := filepath.Join(dir, "nightjar")
	if err := os.WriteFile(nobodyBin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"run"}, {"trace"}} {
		var stderr bytes.Buffer
		c := exec.Command(nobodyBin, args...)
		c.Dir = dir
		c.Stderr = &stderr
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		err := c.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("nightjar %s as nobody: %v, want exit status 1", args[0], err)
		}
		msg := strings.TrimSpace(stderr.String())
		if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "not running as root") {
			t.Errorf("nightjar %s as nobody printed %q, want one line saying root is missing", args[0], msg)
		}
	}
}
