package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch/cwtest"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/tinylib/msgp/msgp"
)

// The plugin and the host are built once for all tests.
var (
	buildOnce          sync.Once
	buildDir           string
	pluginSO, hostProg string
	buildErr           error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "out_nightjar_abi")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles the plugin with -buildmode=c-shared and the C host against
// the headers fluent-bit-go ships.
func build(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		pluginSO = filepath.Join(buildDir, "out_nightjar.so")
		out, err := exec.Command("go", "build", "-buildmode=c-shared", "-o", pluginSO, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build plugin: %v\n%s", err, out)
			return
		}
		hdr, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/fluent/fluent-bit-go").Output()
		if err != nil {
			buildErr = fmt.Errorf("locate fluent-bit-go: %v", err)
			return
		}
		inc := filepath.Join(strings.TrimSpace(string(hdr)), "output")
		hostProg = filepath.Join(buildDir, "host")
		out, err = exec.Command("gcc", "-Wall", "-Werror", "-I", inc, "-o", hostProg, "testdata/host.c", "-ldl", "-lpthread").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build host: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// runHost runs the host program and returns its stdout lines and stderr.
func runHost(t *testing.T, instances, flushes []string) ([]string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(hostProg, pluginSO, strings.Join(instances, ";"), strings.Join(flushes, ";"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("host: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return strings.Split(strings.TrimSpace(stdout.String()), "\n"), stderr.String()
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPluginABI(t *testing.T) {
	build(t)
	srv, err := cwtest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	cw := func(group, extra string) string {
		return fmt.Sprintf(`destination "cloudwatch" "alerts" {
  region            = "us-east-1"
  endpoint          = %q
  access_key_id     = "AKIDTEST"
  secret_access_key = "secret"
  log_group         = %q
  log_stream        = "{{ hostname }}"
  max_attempts      = 1
  %s
}
route "all" {
  to = [destination.cloudwatch.alerts]
}
`, srv.URL(), group, extra)
	}
	good := writeFile(t, dir, "routes.hcl", []byte(cw("/abi/{{ output_fields.k8s.ns.name }}", "")))
	missing := writeFile(t, dir, "missing.hcl", []byte(cw("/abi/missing", "create_log_group = false\n  create_log_stream = false")))

	now := time.Now()
	c1 := writeFile(t, dir, "eventtime.msgpack", recordtest.Chunk(recordtest.EventTime, 0, 2000, now))
	c2 := writeFile(t, dir, "int.msgpack", recordtest.Chunk(recordtest.IntTime, 2000, 2000, now))
	c3 := writeFile(t, dir, "metadata.msgpack", recordtest.Chunk(recordtest.Metadata, 4000, 6000, now))
	// A chunk with a record whose body is not a map and a plain log record.
	mixed := recordtest.AppendRecord(nil, recordtest.EventTime, now, msgp.AppendString(nil, "not a map"))
	mixed = recordtest.AppendRecord(mixed, recordtest.Metadata, now, msgp.AppendMapStrStr(nil, map[string]string{"log": "plain line", "hostname": "node-1"}))
	c4 := writeFile(t, dir, "mixed.msgpack", mixed)

	// The first PutLogEvents fails once: with max_attempts = 1 the flush
	// returns FLB_RETRY and the host flushes the chunk again.
	srv.Inject("PutLogEvents", cwtest.Unavailable)
	lines, stderr := runHost(t,
		[]string{good + "|debug|", missing + "|info|"},
		[]string{
			"0:nightjar.alerts:" + c1 + ":3",
			"0:nightjar.alerts:" + c2 + ":3",
			"&0:nightjar.alerts:" + c3 + ":3", // concurrent with the previous flush
			"0:app.logs:" + c4 + ":3",
			"1:nightjar.alerts:" + c1 + ":3",
		})
	t.Logf("host output:\n%s", strings.Join(lines, "\n"))

	want := []string{
		"register ret=0 type=2 proxy=11 name=nightjar",
		"init 0 ret=1",
		"init 1 ret=1",
		"flush 0 inst=0 attempt=0 ret=2",
		"flush 0 inst=0 attempt=1 ret=1",
		"flush 1 inst=0 attempt=0 ret=1",
		"flush 2 inst=0 attempt=0 ret=1",
		"flush 3 inst=0 attempt=0 ret=1",
		"flush 4 inst=1 attempt=0 ret=0",
		"exit_ctx 0 ret=1",
		"exit_ctx 1 ret=1",
		"exit ret=1",
	}
	got := map[string]bool{}
	for _, l := range lines {
		got[l] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing host line %q", w)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("host printed %d lines, want %d", len(lines), len(want))
	}

	evs := srv.Events("/abi/default", "node-1")
	seen := map[string]int{}
	for _, e := range evs {
		var a struct{ UUID string }
		if err := json.Unmarshal([]byte(e.Message), &a); err != nil {
			t.Fatalf("bad message %q: %v", e.Message, err)
		}
		seen[a.UUID]++
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if len(seen) != 10000 || dups != 0 {
		t.Errorf("server holds %d distinct alerts with %d duplicates; want 10000 and 0", len(seen), dups)
	}
	// The plain log record has no namespace: its group name falls back.
	if evs := srv.Events("/abi/unknown", "node-1"); len(evs) != 1 || !strings.Contains(evs[0].Message, "plain line") {
		t.Errorf("plain log record: %+v", evs)
	}
	if !strings.Contains(stderr, "skipped malformed records") {
		t.Errorf("skipped record not logged; stderr:\n%s", stderr)
	}
	if !strings.Contains(stderr, "destination failed permanently") {
		t.Errorf("permanent failure not logged; stderr:\n%s", stderr)
	}
}

func TestPluginConfigError(t *testing.T) {
	build(t)
	dir := t.TempDir()
	bad := writeFile(t, dir, "routes.hcl", []byte(`destination "cloudwatch" "a" {
  region    = "us-east-1"
  log_group = "{{ hostname"
}
route "r" { to = [destination.cloudwatch.a] }
`))
	lines, stderr := runHost(t, []string{bad + "|info|", filepath.Join(dir, "absent.hcl") + "|info|"}, nil)
	for _, w := range []string{"init 0 ret=0", "init 1 ret=0"} {
		if !strings.Contains(strings.Join(lines, "\n"), w) {
			t.Errorf("missing %q in %q", w, lines)
		}
	}
	if !regexp.MustCompile(regexp.QuoteMeta(bad) + `:3:15: Invalid template`).MatchString(stderr) {
		t.Errorf("stderr lacks file:line:col of the error:\n%s", stderr)
	}
	if !strings.Contains(stderr, "absent.hcl: no such file") {
		t.Errorf("stderr lacks the missing file:\n%s", stderr)
	}
}
