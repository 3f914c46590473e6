package main

import (
	"bufio"
	"encoding/json"
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
)

// These tests run the real daemon with a configuration file and watch its
// /healthz while a fault is really there: the router's socket is gone, the
// event loop is held, a reload waits on a router that never acknowledges.

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// healthz returns /healthz's status code and body.
func healthz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitHealth polls /healthz until its status is want and the body contains
// substr, failing after timeout.
func waitHealth(t *testing.T, d *daemonProc, addr string, want int, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var code int
	var body string
	for time.Now().Before(deadline) {
		code, body = healthz(t, addr)
		if code == want && strings.Contains(body, substr) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("/healthz = %d %q after %v, want %d with %q\ndaemon log:\n%s", code, body, timeout, want, substr, d.stderr.String())
}

func TestDaemonHealthzWhileRouterIsDown(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "fluent.sock")
	addr := freeAddr(t)
	d := startDaemon(t, fmt.Sprintf(`
forward_output {
  enabled     = true
  address     = "unix://%s"
  backoff_max = "200ms"
  spool {
    dir = %q
  }
}
metrics {
  enabled = true
  listen  = %q
}
health {
  output_failure = "2s"
}
`, sock, filepath.Join(dir, "spool"), addr))
	// No listener: the router is down from the start.
	waitHealth(t, d, addr, http.StatusServiceUnavailable, "output forward: failing for", 20*time.Second)

	// The router comes up: healthy again once the output is connected.
	newForwardListener(t, sock)
	waitHealth(t, d, addr, http.StatusOK, "ok", 20*time.Second)
	if err := d.stop(t); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// eventLoad keeps making events (short-lived processes reading a file)
// until stop is called.
func eventLoad(t *testing.T) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			c := exec.Command("/bin/cat", "/etc/hostname")
			c.Stdout = io.Discard
			c.Run()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

func TestDaemonHealthzWhenCaptureStalls(t *testing.T) {
	addr := freeAddr(t)
	d := startDaemon(t, fmt.Sprintf(`
stdout_output { enabled = true }
metrics {
  enabled = true
  listen  = %q
}
health {
  capture_stall = "2s"
}
debug {
  pause_signals = true
}
`, addr))
	stopLoad := eventLoad(t)
	defer stopLoad()
	waitHealth(t, d, addr, http.StatusOK, "ok", 10*time.Second)
	// Hold the event loop: events pile up in the ring buffer unread.
	d.cmd.Process.Signal(syscall.SIGUSR1)
	waitHealth(t, d, addr, http.StatusServiceUnavailable, "capture: no progress for", 20*time.Second)
	d.cmd.Process.Signal(syscall.SIGUSR2)
	waitHealth(t, d, addr, http.StatusOK, "ok", 20*time.Second)
	stopLoad()
	if err := d.stop(t); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// blackHole accepts forward connections and reads them without ever
// acknowledging a chunk.
func blackHole(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
}

// fileAlerts returns the pids of the alerts of rule in the JSON-lines file.
func fileAlerts(t *testing.T, path, rule string) map[string]bool {
	t.Helper()
	pids := map[string]bool{}
	f, err := os.Open(path)
	if err != nil {
		return pids
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var a struct {
			Rule   string         `json:"rule"`
			Fields map[string]any `json:"output_fields"`
		}
		if json.Unmarshal(sc.Bytes(), &a) == nil && a.Rule == rule {
			pids[fmt.Sprint(a.Fields["proc.pid"])] = true
		}
	}
	return pids
}

// A reload whose old forward output cannot flush (the router never acks)
// takes the whole flush timeout; detection goes on meanwhile, the alerts of
// that time reach the new outputs, and the old output's drops stay counted.
func TestDaemonReloadDoesNotStallDetection(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "fluent.sock")
	alerts := filepath.Join(dir, "alerts.json")
	blackHole(t, sock)
	addr := freeAddr(t)
	d := startDaemon(t, fmt.Sprintf(`
forward_output {
  enabled     = true
  address     = "unix://%s"
  require_ack = true
  ack_timeout = "60s"
  spool { enabled = false }
}
file_output {
  enabled = true
  path    = %q
}
metrics {
  enabled = true
  listen  = %q
}
health {
  capture_stall = "3s"
}
# Other jobs on the machine raise alerts of the same rule; the alerts held
# during the reload must not be rate limited away.
rate_limit {
  rate = 0
}
`, sock, alerts, addr))
	const rule = "Read sensitive file untrusted"
	before := readShadow(t)
	waitForLog(t, d, 20*time.Second, func() bool { return fileAlerts(t, alerts, rule)[fmt.Sprint(before)] })

	d.cmd.Process.Signal(syscall.SIGHUP)
	// The old forward output waits out its 10 s flush. Meanwhile events are
	// read and matched, and the capture stays healthy.
	var during []int
	for range 12 {
		time.Sleep(500 * time.Millisecond)
		if strings.Contains(d.stderr.String(), "msg=reloaded") {
			break
		}
		during = append(during, readShadow(t))
		if code, body := healthz(t, addr); code != http.StatusOK {
			t.Fatalf("/healthz during reload = %d %q\n%s", code, body, d.stderr.String())
		}
	}
	if len(during) < 8 {
		t.Fatalf("reload finished after %d probes; the old output's flush was expected to take 10 s\n%s", len(during), d.stderr.String())
	}
	waitForLog(t, d, 20*time.Second, func() bool { return strings.Contains(d.stderr.String(), "msg=reloaded") })
	// The alerts raised during the reload reach the new outputs.
	waitForLog(t, d, 20*time.Second, func() bool {
		got := fileAlerts(t, alerts, rule)
		for _, pid := range during {
			if !got[fmt.Sprint(pid)] {
				return false
			}
		}
		return true
	})
	// The old forward output dropped what it never got acknowledged (no
	// spool); its count survives the reload.
	fams := scrape(t, "http://"+addr+"/metrics")
	var dropped float64
	for _, m := range fams["nightjar_output_alerts_dropped_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "output" && l.GetValue() == "forward" {
				dropped = m.GetCounter().GetValue()
			}
		}
	}
	if dropped < 1 {
		t.Errorf("nightjar_output_alerts_dropped_total{output=\"forward\"} = %v after the reload, want the old output's drops\n%s", dropped, d.stderr.String())
	}
	// No stop: its flush to a router that never acks would take the full
	// timeout again. The cleanup kills the daemon.
}

// procStatus returns the fields of /proc/<pid>/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, ln := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(ln, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// Once running, the daemon holds only CAP_SYS_PTRACE and
// CAP_DAC_READ_SEARCH, on every thread, cannot regain the rest, and still
// detects, enriches from /proc and reloads its rules (map updates).
func TestDaemonRunsWithReducedCapabilities(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "fluent.sock")
	fl := newForwardListener(t, sock)
	d := startDaemon(t, fmt.Sprintf(`
forward_output {
  enabled = true
  address = "unix://%s"
  spool { enabled = false }
}
`, sock))
	const want = "0000000000080004" // CAP_DAC_READ_SEARCH (2) | CAP_SYS_PTRACE (19)
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		var tid int
		fmt.Sscan(task.Name(), &tid)
		st := procStatus(t, tid)
		if st["CapEff"] != want || st["CapPrm"] != want || st["CapInh"] != "0000000000000000" || st["CapAmb"] != "0000000000000000" {
			t.Errorf("thread %d: CapEff %s CapPrm %s CapInh %s CapAmb %s, want %s", tid, st["CapEff"], st["CapPrm"], st["CapInh"], st["CapAmb"], want)
		}
		if st["CapBnd"] != want || st["NoNewPrivs"] != "1" {
			t.Errorf("thread %d: CapBnd %s NoNewPrivs %s, want %s and 1", tid, st["CapBnd"], st["NoNewPrivs"], want)
		}
	}
	r := fl.WaitFor(t, 20*time.Second, alertOf("Read sensitive file untrusted", readShadow(t)))
	if f := r.Record["output_fields"].(map[string]any); f["proc.exepath"] != "/usr/bin/cat" {
		t.Errorf("proc.exepath = %v after dropping capabilities", f["proc.exepath"])
	}
	// A reload rewrites the kernel's syscall filter maps.
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, d, 20*time.Second, func() bool { return strings.Contains(d.stderr.String(), "msg=reloaded") })
	if strings.Contains(d.stderr.String(), "keeping the running rules") {
		t.Fatalf("reload failed without capabilities:\n%s", d.stderr.String())
	}
	fl.WaitFor(t, 20*time.Second, alertOf("Read sensitive file untrusted", readShadow(t)))
	if err := d.stop(t); err != nil {
		t.Errorf("exit: %v\n%s", err, d.stderr.String())
	}
}

// The daemon starts and detects with no more than the capabilities the
// README lists for running without privileged: CAP_BPF and CAP_PERFMON to
// load and attach, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH to read /proc.
func TestDaemonStartsWithoutFullPrivileges(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv (util-linux) is needed to start the daemon with a reduced capability set")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "fluent.sock")
	fl := newForwardListener(t, sock)
	d := startDaemonWith(t, fmt.Sprintf(`
forward_output {
  enabled = true
  address = "unix://%s"
  spool { enabled = false }
}
`, sock), []string{setpriv, "--bounding-set=-all,+bpf,+perfmon,+sys_ptrace,+dac_read_search", "--inh-caps=-all", "--ambient-caps=-all"})
	fl.WaitFor(t, 20*time.Second, alertOf("Read sensitive file untrusted", readShadow(t)))
	if err := d.stop(t); err != nil {
		t.Errorf("exit: %v\n%s", err, d.stderr.String())
	}
}
