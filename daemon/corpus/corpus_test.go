package corpus

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/internal/testctr"
	"github.com/nightjar-sec/nightjar/rules"
)

// env is what every behaviour of one corpus run shares.
type env struct {
	c        *testctr.Containerd
	base     string  // scratch directory of the host behaviours
	self     string  // this test binary, for the helper behaviours
	revshell string  // testdata/revshell, built static
	defaults *daemon // nightjar with its default rules
	upstream *daemon // nightjar with Falco's stable and incubating rules, loaded unchanged

	mu       sync.Mutex
	detected map[string]bool // default rules some behaviour raised as expected
	n        int
}

// instance is one behaviour being performed.
type instance struct {
	// marker names the host behaviour's session leader (a shell started
	// through a link of that name) and its scratch directory, so that it
	// appears in the alerts' parent and path fields.
	marker string
	dir    string
	sid    int                // host: the session id of every process of the behaviour
	ct     *testctr.Container // container behaviours
}

// behaviour is one attack technique, performed for real.
type behaviour struct {
	name string
	// inContainer runs it in a container of its own (privileged when
	// privileged is set); otherwise it runs on the host in a session of
	// its own.
	inContainer, privileged bool
	// rules are the default rules that must raise an alert about it;
	// fields are output fields, as text, that the first rule's alert must
	// carry.
	rules  []string
	fields map[string]string
	// upstream is the rule of Falco's stable set that detects the same
	// behaviour, or "" when none does.
	upstream string
	// upstreamNeeds, when set, says why Falco's rule is not checked (what
	// this machine lacks for it to fire, or where it differs on purpose);
	// the behaviour then has no upstream subtest.
	upstreamNeeds string
	// script is run by `sh -c` (host: by the marker shell), after {D},
	// {M} and {SELF} are replaced by the scratch directory, the marker
	// and this test binary.
	script string
	// setup runs before the script (for what the host must prepare).
	setup func(t *testing.T, e *env, in *instance)
	// tty runs the script as an interactive shell on a terminal instead.
	tty bool
}

func newMarker(t testing.TB, n int) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	// Task names hold 15 characters.
	return fmt.Sprintf("njc%02d%s", n, hex.EncodeToString(b[:]))
}

// TestCorpus runs the whole corpus in one nightjar daemon with the default
// rules and a second one with Falco's stable and incubating rule files:
// every behaviour and every benign workload in parallel.
func TestCorpus(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the behaviour corpus loads eBPF programs and runs containers: run it as root")
	}
	start := time.Now()
	c := testctr.Start(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{c: c, base: t.TempDir(), self: self, detected: map[string]bool{}}
	e.revshell = filepath.Join(e.base, "revshell")
	build := exec.Command("go", "build", "-o", e.revshell, "./testdata/revshell")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build testdata/revshell: %v\n%s", err, out)
	}
	// One rule, raised by the rate limit case alone, gets a small bucket;
	// summaries come every second.
	cfg := fmt.Sprintf(`
hostname = "nightjar-corpus"
stdout_output { enabled = true }
metrics { enabled = false }
rate_limit {
  summary_interval = "1s"
  rule %q {
    rate  = 0.001
    burst = 2
  }
}
metadata {
  cri_endpoints      = []
  containerd_address = %q
  ecs                = false
}
`, noisyRule, c.Address)
	bin, err := buildNightjar(e.base)
	if err != nil {
		t.Fatal(err)
	}
	if e.defaults, err = startDaemon(bin, "default rules", cfg); err != nil {
		t.Fatal(err)
	}
	if e.upstream, err = startDaemon(bin, "Falco rules", cfg+"rules {\n  default_rules = false\n}\n", "--rules", upstreamRulesFile, "--rules", incubatingRulesFile); err != nil {
		e.defaults.stop()
		t.Fatal(err)
	}

	t.Logf("containerd, nightjar and the test programs ready after %v", time.Since(start).Round(time.Millisecond))
	t.Run("group", func(t *testing.T) {
		for _, b := range behaviours() {
			withIncubating(&b)
			t.Run(where(b)+"/"+b.name, func(t *testing.T) {
				t.Parallel()
				e.perform(t, b)
			})
		}
		t.Run("ratelimit/noisy process does not blind the rule", func(t *testing.T) {
			t.Parallel()
			e.noisy(t)
		})
		for _, w := range benignWorkloads() {
			t.Run("benign/"+w.name, func(t *testing.T) {
				t.Parallel()
				e.benign(t, w)
			})
		}
	})

	t.Logf("corpus done after %v", time.Since(start).Round(time.Millisecond))
	for _, d := range []*daemon{e.defaults, e.upstream} {
		if d != nil {
			if err := d.stop(); err != nil {
				t.Error(err)
			}
		}
	}
	if !t.Failed() {
		e.checkCoverage(t)
	}
}

func where(b behaviour) string {
	if b.inContainer {
		return "container"
	}
	return "host"
}

// perform does b and waits for its alerts.
func (e *env) perform(t *testing.T, b behaviour) {
	e.mu.Lock()
	e.n++
	in := &instance{marker: newMarker(t, e.n)}
	e.mu.Unlock()
	in.dir = filepath.Join(e.base, in.marker)
	t.Cleanup(func() {
		// What a host script creates outside its directory is named after
		// its marker; remove it even when the script stopped half-way.
		for _, dir := range []string{"/etc", "/etc/cron.d", "/usr/local/bin", "/usr/local/lib", "/"} {
			os.Remove(filepath.Join(dir, "nightjar-corpus-"+in.marker))
		}
		os.Remove("/dev/shm/" + in.marker + ".sh")
	})
	if err := os.MkdirAll(filepath.Join(in.dir, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	repl := strings.NewReplacer("{D}", in.dir, "{M}", in.marker, "{SELF}", e.self, "{REVSHELL}", e.revshell)
	script := repl.Replace(b.script)
	fields := make(map[string]string, len(b.fields))
	for k, v := range b.fields {
		fields[k] = repl.Replace(v)
	}
	fromDefault := e.defaults.mark()
	fromUpstream := e.upstream.mark()
	var mine func(*record) bool
	if b.inContainer {
		id := testctr.NewID()
		in.ct = e.c.StartWith(t, id, ctrCgroup(e.c, id), testctr.StartOptions{Privileged: b.privileged}, "sleep", "600")
		short := id[:12]
		mine = func(r *record) bool { return r.field("container.id") == short }
		if b.setup != nil {
			b.setup(t, e, in)
		}
		if b.tty {
			in.ct.ExecTTY(t, "sleep 1; exit\n", "sh", "-i")
		} else {
			// The shell outlives the script by a second, as on the host:
			// the process table reads a new process's container from
			// /proc when it handles its exec, and children inherit it.
			res := in.ct.Exec(t, "sh", "-c", script+"\nsleep 1")
			t.Logf("in container %s: exit %d: %s", short, res.ExitCode, res.Output)
		}
	} else {
		if b.setup != nil {
			b.setup(t, e, in)
		}
		// The session leader is a shell started through a link named
		// after the marker; every process of the behaviour is in its
		// session.
		leader := filepath.Join(in.dir, in.marker)
		if err := os.Symlink("/bin/sh", leader); err != nil {
			t.Fatal(err)
		}
		// The leader outlives the script by a second: see session.
		cmd := exec.Command(leader, "-c", script+"\nsleep 1")
		cmd.Dir = in.dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		out, err := cmd.CombinedOutput()
		in.sid = cmd.Process.Pid
		t.Logf("on the host (session %d): %v: %s", in.sid, err, out)
		// The session is the process table's view and may lag for
		// processes that exit at once; the marker is in the parent's name
		// or in a path of every process the behaviour starts.
		sid := strconv.Itoa(in.sid)
		mine = func(r *record) bool { return r.field("proc.sid") == sid || strings.Contains(r.Output, in.marker) }
	}

	for i, rule := range b.rules {
		r := e.defaults.wait(fromDefault, alertWait, func(r *record) bool {
			return r.Rule == rule && mine(r) && (i > 0 || hasFields(r, fields))
		})
		if r == nil {
			t.Errorf("default rules: no %q alert (fields %v); alerts of this behaviour:%s", rule, fields, list(e.defaults.since(fromDefault), mine))
			continue
		}
		e.mu.Lock()
		e.detected[rule] = true
		e.mu.Unlock()
	}
	if b.upstream != "" && b.upstreamNeeds != "" {
		t.Logf("Falco's %q is not checked: %s", b.upstream, b.upstreamNeeds)
	}
	if b.upstream != "" && b.upstreamNeeds == "" {
		t.Run("upstream", func(t *testing.T) {
			match := mine
			if !b.inContainer {
				// Falco's outputs have no session id: the marker is in
				// the parent's name or in a path or command line.
				match = func(r *record) bool { return strings.Contains(r.Output, in.marker) }
			}
			if r := e.upstream.wait(fromUpstream, alertWait, func(r *record) bool { return r.Rule == b.upstream && match(r) }); r == nil {
				t.Errorf("Falco rules: no %q alert; alerts of this behaviour:%s", b.upstream, list(e.upstream.since(fromUpstream), match))
			}
		})
	}
}

func hasFields(r *record, fields map[string]string) bool {
	for k, want := range fields {
		if r.field(k) != want {
			return false
		}
	}
	return true
}

func list(rs []*record, keep func(*record) bool) string {
	var b strings.Builder
	for _, r := range rs {
		if keep(r) {
			b.WriteString("\n\t" + r.String())
		}
	}
	if b.Len() == 0 {
		return " none"
	}
	return b.String()
}

// checkCoverage fails when an enabled default rule has no behaviour that
// raised it.
func (e *env) checkCoverage(t *testing.T) {
	set, err := rules.Default(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, r := range set.Rules() {
		if r.Enabled && !e.detected[r.Name] {
			missing = append(missing, r.Name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("default rules no behaviour of the corpus raised: %q", missing)
	}
}

// ctrCgroup is the cgroup path ctr itself gives a container,
// /<namespace>/<id>: nightjar sees a containerd container and asks
// containerd about it (image, privileged).
func ctrCgroup(c *testctr.Containerd, id string) string { return "/" + c.Namespace + "/" + id }
