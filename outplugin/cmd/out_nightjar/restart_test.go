package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/cloudlogging/cltest"
	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch/cwtest"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"google.golang.org/grpc/codes"
)

// runHostKilled runs the host, which must end killed by SIGKILL, and
// returns its stdout lines.
func runHostKilled(t *testing.T, instances, flushes []string) []string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(hostProg, pluginSO, strings.Join(instances, ";"), strings.Join(flushes, ";"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("host: %v, want killed by SIGKILL\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return strings.Split(strings.TrimSpace(stdout.String()), "\n")
}

func hasLines(t *testing.T, lines []string, want ...string) {
	t.Helper()
	got := strings.Join(lines, "\n")
	for _, w := range want {
		if !strings.Contains(got+"\n", w+"\n") {
			t.Errorf("host output lacks %q:\n%s", w, got)
		}
	}
}

// TestRestartExactlyOnce is the restart guarantee under the real plugin
// host. A chunk of 5,000 alerts goes to CloudWatch and Cloud Logging; both
// take part of it and fail the rest, so the flush returns FLB_RETRY. Then
// Fluent Bit "restarts" before the retry: once the host is killed with
// SIGKILL and started again, once the instance is exited and initialised
// again in the same process (Fluent Bit's hot reload). The retry after the
// restart finds the delivery state in state_dir: each test server holds
// each record exactly once.
func TestRestartExactlyOnce(t *testing.T) {
	build(t)
	cw, cl := cloudServers(t)
	dir := t.TempDir()
	routesFile := writeFile(t, dir, "routes.hcl", []byte(restartRoutes(cw, cl)))
	inst := routesFile + "|info||" + filepath.Join(dir, "state")
	now := time.Now()
	killed := writeFile(t, dir, "killed.msgpack", recordtest.Chunk(recordtest.EventTime, 0, 5000, now))
	reloaded := writeFile(t, dir, "reloaded.msgpack", recordtest.Chunk(recordtest.Metadata, 5000, 5000, now))

	// 5,000 alerts are three PutLogEvents batches (the first one to a new
	// stream answered ResourceNotFoundException, then created) and five
	// WriteLogEntries requests. The third PutLogEvents and the second
	// WriteLogEntries fail.
	faults := func() {
		cw.Inject("PutLogEvents", 0, 0, cwtest.Unavailable)
		cl.Inject(codes.OK, codes.Unavailable)
	}

	faults()
	lines := runHostKilled(t, []string{inst}, []string{"0:killed:" + killed + ":0", "kill"})
	hasLines(t, lines, "init 0 ret=1", "flush 0 inst=0 attempt=0 ret=2", "kill")
	partCW, partCL := len(cw.Events("/restart/killed", "node-1")), cl.Accepted()
	if partCW == 0 || partCW == 5000 || partCL == 0 || partCL == 5000 {
		t.Fatalf("before the kill CloudWatch held %d and Cloud Logging %d of 5000; want part of them", partCW, partCL)
	}
	lines, _ = runHost(t, []string{inst}, []string{"0:killed:" + killed + ":3"})
	hasLines(t, lines, "flush 0 inst=0 attempt=0 ret=1", "exit_ctx 0 ret=1")

	faults()
	lines, _ = runHost(t, []string{inst}, []string{"0:reloaded:" + reloaded + ":0", "restart:0", "0:reloaded:" + reloaded + ":3"})
	hasLines(t, lines, "flush 0 inst=0 attempt=0 ret=2", "exit_ctx 0 ret=1", "init 0 ret=1", "flush 1 inst=0 attempt=0 ret=1")

	for _, tc := range []struct {
		tag   string
		first int
	}{{"killed", 0}, {"reloaded", 5000}} {
		seen := map[string]int{}
		for _, e := range cw.Events("/restart/"+tc.tag, "node-1") {
			seen[uuidOf(t, e.Message)]++
		}
		checkOnce(t, "cloudwatch "+tc.tag, seen, tc.first)
		seen = map[string]int{}
		for _, e := range cl.Entries() {
			if strings.HasSuffix(e.LogName, "/logs/"+tc.tag) {
				seen[e.InsertId]++
			}
		}
		checkOnce(t, "cloud logging "+tc.tag, seen, tc.first)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "state", "*.state")); len(left) != 0 {
		t.Errorf("state files left after delivery: %v", left)
	}
}

// cloudServers starts the CloudWatch and Cloud Logging test servers.
func cloudServers(t *testing.T) (*cwtest.Server, *cltest.Server) {
	t.Helper()
	cw, err := cwtest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cw.Close() })
	cl, err := cltest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cw, cl
}

// checkOnce checks that seen holds the 5,000 alerts from first on, once each.
func checkOnce(t *testing.T, what string, seen map[string]int, first int) {
	t.Helper()
	dups, missing := 0, 0
	for _, n := range seen {
		dups += n - 1
	}
	for i := first; i < first+5000; i++ {
		if seen[fmt.Sprintf("0b7c6c9e-0000-4000-8000-%012d", i)] == 0 {
			missing++
		}
	}
	if len(seen) != 5000 || dups != 0 || missing != 0 {
		t.Errorf("%s: %d distinct records, %d duplicates, %d missing; want 5000, 0, 0", what, len(seen), dups, missing)
	}
}

func uuidOf(t *testing.T, msg string) string {
	t.Helper()
	var a struct{ UUID string }
	if err := json.Unmarshal([]byte(msg), &a); err != nil {
		t.Fatalf("bad message %q: %v", msg, err)
	}
	return a.UUID
}

// restartRoutes sends every record to both test servers. The timeouts are long: a request that times
// out after the server stored it is sent again, which is not what these
// tests are about.
func restartRoutes(cw *cwtest.Server, cl *cltest.Server) string {
	return fmt.Sprintf(`destination "cloudwatch" "cw" {
  region            = "us-east-1"
  endpoint          = %q
  access_key_id     = "AKIDTEST"
  secret_access_key = "secret"
  log_group         = "/restart/{{ tag }}"
  log_stream        = "{{ hostname }}"
  max_attempts      = 1
  concurrency       = 1
  timeout           = "60s"
}
destination "cloud_logging" "cl" {
  project      = "p"
  endpoint     = %q
  insecure     = true
  cluster_name = "c"
  location     = "l"
  log_name     = "{{ tag }}"
  max_attempts = 1
  concurrency  = 1
  timeout      = "60s"
}
route "all" { to = [destination.cloudwatch.cw, destination.cloud_logging.cl] }
`, cw.URL(), cl.Addr())
}

// TestKilledDuringRetry: the host is killed in the middle of the retry
// flush itself. The first attempt leaves part of the chunk owed at both
// destinations; on the retry Cloud Logging takes the rest while CloudWatch
// hangs, and the host is killed then. Cloud Logging's progress was saved
// when it finished, so after the restart only CloudWatch receives
// anything, and each server holds each record once.
func TestKilledDuringRetry(t *testing.T) {
	build(t)
	cw, cl := cloudServers(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	inst := writeFile(t, dir, "routes.hcl", []byte(restartRoutes(cw, cl))) + "|info||" + state
	chunk := writeFile(t, dir, "chunk.msgpack", recordtest.Chunk(recordtest.EventTime, 0, 5000, time.Now()))

	// First attempt: the third PutLogEvents and the second WriteLogEntries
	// fail. Retry: the owed PutLogEvents batch hangs.
	cw.Inject("PutLogEvents", 0, 0, cwtest.Unavailable, 0, cwtest.Hang)
	cl.Inject(codes.OK, codes.Unavailable)
	cmd := exec.Command(hostProg, pluginSO, inst, "0:midretry:"+chunk+":1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for l := range lines {
		if l == "flush 0 inst=0 attempt=0 ret=2" {
			break
		}
	}
	files, _ := filepath.Glob(filepath.Join(state, "*.state"))
	if len(files) != 1 {
		t.Fatalf("%d state files after the first attempt, want 1\nstderr:\n%s", len(files), stderr.String())
	}
	first, _ := os.ReadFile(files[0])
	// The retry is running: wait for Cloud Logging's progress to reach
	// the disk, CloudWatch still hanging, then kill.
	deadline := time.Now().Add(30 * time.Second)
	for {
		now, _ := os.ReadFile(files[0])
		if len(now) > 0 && !bytes.Equal(now, first) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress saved during the retry; Cloud Logging holds %d\nstderr:\n%s", cl.Accepted(), stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(cw.Events("/restart/midretry", "node-1")); n == 5000 {
		t.Fatal("CloudWatch holds the whole chunk before the kill; the hang did not happen")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	out, _ := runHost(t, []string{inst}, []string{"0:midretry:" + chunk + ":3"})
	hasLines(t, out, "flush 0 inst=0 attempt=0 ret=1")
	seen := map[string]int{}
	for _, e := range cw.Events("/restart/midretry", "node-1") {
		seen[uuidOf(t, e.Message)]++
	}
	checkOnce(t, "cloudwatch", seen, 0)
	seen = map[string]int{}
	for _, e := range cl.Entries() {
		seen[e.InsertId]++
	}
	checkOnce(t, "cloud logging", seen, 0)
}
