package rules

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/rules/dnsnames"
	"github.com/nightjar-sec/nightjar/rules/dnsnames/dnstest"
	"github.com/nightjar-sec/nightjar/rules/fields"
)

// Falco's published rule files (falcosecurity/rules 5.1.0), read where the
// repository's shared fixtures sit beside the checkout; they are never
// copied into the repository.
const (
	stableRules     = "falco_rules.yaml"
	incubatingRules = "falco-incubating_rules.yaml"
	stableCount     = 25
	incubatingCount = 31
)

func upstream(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "falco-rules", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Falco's rule files are needed beside the checkout (../shared/falco-rules): %v", err)
	}
	return p
}

// buildNightjar builds the nightjar binary into a temporary directory.
func buildNightjar(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nightjar")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/nightjar-sec/nightjar/daemon/cmd/nightjar")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nightjar: %v\n%s", err, out)
	}
	return bin
}

// TestUpstreamValidate runs `nightjar rules validate` on Falco's stable and
// incubating rule files, alone and together (stable first, as Falco loads
// them): each loads with no error, all its rules loaded.
func TestUpstreamValidate(t *testing.T) {
	bin := buildNightjar(t)
	stable, incubating := upstream(t, stableRules), upstream(t, incubatingRules)
	for _, tc := range []struct {
		name  string
		files []string
		rules int
	}{
		{"stable", []string{stable}, stableCount},
		{"incubating", []string{incubating}, incubatingCount},
		{"stable+incubating", []string{stable, incubating}, stableCount + incubatingCount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, append([]string{"rules", "validate"}, tc.files...)...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if err != nil {
				t.Fatalf("nightjar rules validate: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
			}
			want := strings.Join(tc.files, ", ") + ": ok: "
			if !strings.Contains(stdout.String(), want+itoa(tc.rules)+" rules loaded") {
				t.Errorf("stdout does not report %d rules loaded:\n%s", tc.rules, &stdout)
			}
			if !strings.Contains(stdout.String(), "engine version "+EngineVersion+" (required: 0.57.0)") {
				t.Errorf("stdout does not report the engine versions:\n%s", &stdout)
			}
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if line != "" && !strings.HasPrefix(line, "warning: ") {
					t.Errorf("stderr line is not a warning: %s", line)
				}
			}
			// nightjar fills every field the rules use and captures every
			// event type they name.
			if strings.Contains(stderr.String(), "cannot fill yet") || strings.Contains(stderr.String(), `"BPF Program Not Profiled"`) {
				t.Errorf("a rule depends on what nightjar does not capture:\n%s", &stderr)
			}
		})
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

// loadUpstream loads Falco's stable rules, then the given documents.
func loadUpstream(t testing.TB, extra ...string) *Set {
	t.Helper()
	srcs, err := ReadSources(upstream(t, stableRules))
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range extra {
		srcs = append(srcs, src("probe"+itoa(i)+".yaml", d))
	}
	s, err := Load(Options{Hostname: "node-1"}, srcs...)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return s
}

// probe is a rule that fires exactly when cond holds, for testing
// upstream macros by name.
func probe(name, cond string) string {
	return "- rule: " + name + "\n  desc: probe\n  condition: " + cond + "\n  output: probe\n  priority: INFO\n  warn_evttypes: false\n"
}

// TestUpstreamSemantics evaluates crafted events against Falco's own
// macros, lists and rules, by name, with the results Falco documents.
func TestUpstreamSemantics(t *testing.T) {
	probes := []struct{ name, cond string }{
		{"never_true", "never_true"},
		{"open_write", "open_write"},
		{"open_read", "open_read"},
		{"sensitive_files", "open_read and sensitive_files"},
		{"proc_name_exists", "evt.type = execve and proc_name_exists"},
		{"login_binaries", "evt.type = execve and proc.name in (login_binaries)"},
		{"outbound", "outbound"},
		{"container", "evt.type = execve and container"},
		{"proc_is_new", "evt.type = execve and proc_is_new"},
		{"val_parent", "evt.type = execve and proc.name = val(proc.pname)"},
		{"val_transformed", "evt.type = execve and tolower(proc.name) = tolower(proc.pname)"},
		{"tolower", "evt.type = execve and tolower(proc.name) = bash"},
		{"toupper", "evt.type = execve and toupper(proc.name) = BASH"},
		{"b64", "evt.type = execve and b64(proc.env[PAYLOAD]) = hello"},
		{"basename", "evt.type = execve and basename(proc.exepath) = cat"},
		{"basename_empty", `evt.type = execve and basename(proc.exepath) = ""`},
		{"len_args", "evt.type = execve and len(proc.args) > 10"},
		{"len_multi", "evt.type = execve and len(proc.aname) = 2"},
		{"session_leader", "evt.type = execve and proc.sname = sshd"},
		{"vpgid_leader", "evt.type = execve and proc.is_vpgid_leader = true"},
		{"cap_permitted", "evt.type = execve and thread.cap_permitted contains CAP_SYS_ADMIN"},
	}
	var doc strings.Builder
	for _, p := range probes {
		doc.WriteString(probe("probe "+p.name, p.cond))
	}
	s := loadUpstream(t, doc.String())

	bash := func() *event.Process { return withTTY(inContainer(proc("bash"))) }
	named := func(name, parent string) *event.Process {
		p := proc(name)
		p.Parent.Name = parent
		return p
	}
	opened := func(path string, flags int64) *event.Event {
		ev := openEvent(proc("cat"), path, flags)
		ev.Num = 7
		return ev
	}
	first := func(ev *event.Event) *event.Event { ev.Num = 1; return ev }
	conn := func(ip [16]byte) *event.Event { return connectEvent(proc("curl"), ip, 443) }
	udp := func(ip [16]byte) *event.Event {
		ev := connectEvent(proc("dig"), ip, 53)
		ev.Type, ev.Proto, ev.Res = event.Sendto, 17, 40
		return ev
	}
	young := func(age int64) *event.Event {
		ev := execEvent(proc("ls"))
		ev.Proc.StartTime = ev.Time - age
		return ev
	}
	withEnv := func(p *event.Process, kv string) *event.Process { p.Env = []string{kv}; return p }
	exe := func(path string) *event.Event {
		p := proc("cat")
		p.ExePath = path
		return execEvent(p)
	}
	args := func(a ...string) *event.Event { return execEvent(proc("echo", a...)) }
	session := func() *event.Event {
		sshd := &event.Process{PID: 900, VPID: 900, SID: 900, VPGID: 900, Name: "sshd"}
		shell := &event.Process{PID: 910, VPID: 910, SID: 900, VPGID: 910, Name: "bash", Parent: sshd}
		p := &event.Process{PID: 920, VPID: 920, SID: 900, VPGID: 910, Name: "ls", Parent: shell}
		return execEvent(p)
	}
	groupLeader := func() *event.Event {
		p := proc("vim")
		p.PID, p.VPID, p.VPGID = 33, 33, 33
		return execEvent(p)
	}
	caps := func(c uint64) *event.Event {
		p := proc("sh")
		p.CapPermitted = c
		return execEvent(p)
	}

	tests := []struct {
		name string
		ev   *event.Event
		want []string // probes that fire (without the "probe " prefix); upstream rules by full name
	}{
		// evt.num counts from 1, so never_true never holds (Falco's
		// placeholder for tuning macros).
		{"never_true on the first event", first(execEvent(proc("ls"))), []string{"proc_name_exists"}},
		{"open for writing", opened("/tmp/x", oWRONLY|oCREAT), []string{"open_write"}},
		{"open read-write", opened("/tmp/x", oRDWR), []string{"open_read", "open_write"}},
		{"failed open is no fd", failed(opened("/tmp/x", oRDONLY), 2), nil},
		{"read of /etc/shadow by cat", opened("/etc/shadow", oRDONLY),
			[]string{"open_read", "sensitive_files", "Read sensitive file untrusted"}},
		{"read in /etc/pam.d", opened("/etc/pam.d/common-auth", oRDONLY),
			[]string{"open_read", "sensitive_files", "Read sensitive file untrusted"}},
		{"read of a plain file", opened("/etc/hostname", oRDONLY), []string{"open_read"}},
		{"quoted list items lose their quotes (N/A)", execEvent(proc("N/A")), []string{}},
		{"(systemd) in login_binaries", execEvent(proc("(systemd)")), []string{"proc_name_exists", "login_binaries"}},
		{"connect to a public address", conn(ip4(8, 8, 8, 8)), []string{"outbound"}},
		{"connect inside 10.0.0.0/8", conn(ip4(10, 2, 3, 4)), nil},
		{"connect inside 192.168.0.0/16", conn(ip4(192, 168, 1, 1)), nil},
		{"connect to loopback", conn(ip4(127, 0, 0, 1)), nil},
		{"udp sendto to a public address", udp(ip4(1, 1, 1, 1)), []string{"outbound"}},
		{"udp sendto inside 172.16.0.0/12", udp(ip4(172, 20, 0, 1)), nil},
		{"terminal shell in a container", execEvent(bash()),
			[]string{"proc_name_exists", "container", "tolower", "toupper", "Terminal shell in container"}},
		{"process 1 s old is new", young(1e9), []string{"proc_name_exists", "proc_is_new"}},
		{"process 6 s old is not", young(6e9), []string{"proc_name_exists"}},
		{"val(): same name as parent", execEvent(named("bash", "bash")), []string{"proc_name_exists", "val_parent", "val_transformed", "tolower", "toupper"}},
		{"transformers on both sides", execEvent(named("BASH", "bash")), []string{"proc_name_exists", "val_transformed", "tolower", "toupper"}},
		{"b64 of an environment variable", execEvent(withEnv(proc("x"), "PAYLOAD=aGVsbG8=")), []string{"proc_name_exists", "b64"}},
		{"basename of /usr/bin/cat", exe("/usr/bin/cat"), []string{"proc_name_exists", "basename"}},
		{"basename of /usr/bin/ is empty", exe("/usr/bin/"), []string{"proc_name_exists", "basename_empty"}},
		{"len of a long proc.args", args("0123456789", "x"), []string{"proc_name_exists", "len_args"}},
		{"len of a short proc.args", args("abc"), []string{"proc_name_exists"}},
		{"session leader found by sid", session(), []string{"proc_name_exists", "len_multi", "session_leader"}},
		{"process group leader", groupLeader(), []string{"proc_name_exists", "vpgid_leader"}},
		{"permitted CAP_SYS_ADMIN", caps(1 << 21), []string{"proc_name_exists", "cap_permitted"}},
		{"permitted CAP_CHOWN only", caps(1), []string{"proc_name_exists"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for _, w := range tt.want {
				if strings.Contains(w, " ") {
					want = append(want, w)
				} else {
					want = append(want, "probe "+w)
				}
			}
			if tt.ev.Num == 0 {
				tt.ev.Num = 42 // capture numbers events from 1
			}
			got := fired(s, tt.ev)
			if strings.Join(got, ",") != strings.Join(sortedCopy(want), ",") {
				t.Errorf("fired %q, want %q", got, sortedCopy(want))
			}
		})
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TestUpstreamHostNames runs Falco's "Contact K8S API Server From
// Container" rule, whose k8s_api_server macro compares fd.sip.name with
// the API server's name, against a real DNS server: the name is resolved
// by rules/dnsnames and the connection's address matched against it.
func TestUpstreamHostNames(t *testing.T) {
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	dns.Set("kubernetes.default.svc.cluster.local", netip.MustParseAddr("10.96.0.1"))
	cache := dnsnames.New(dns.Resolver())
	srcs, err := ReadSources(upstream(t, stableRules))
	if err != nil {
		t.Fatal(err)
	}
	srcs = append(srcs, src("probe.yaml", `- rule: Probe name
  desc: d
  condition: evt.type = connect and fd.sip.name in (kubernetes.default.svc.cluster.local, other.example.test)
  output: "name=%fd.sip.name"
  priority: INFO
`))
	s, err := Load(Options{DNS: cache}, srcs...)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cache.Names(), ","); got != "kubernetes.default.svc.cluster.local,other.example.test" {
		t.Fatalf("names to resolve: %q", got)
	}
	cache.Refresh(context.Background())
	api := connectEvent(inContainer(proc("curl")), ip4(10, 96, 0, 1), 443)
	api.Num = 9
	other := connectEvent(inContainer(proc("curl")), ip4(10, 96, 0, 2), 443)
	other.Num = 10
	if got := firedString(s, api); got != "Contact K8S API Server From Container,Probe name" {
		t.Errorf("connect to the API server fired %q", got)
	}
	if got := firedString(s, other); got != "" {
		t.Errorf("connect elsewhere fired %q", got)
	}
	s.Eval(api, func(m *Match) {
		if m.Rule.Name == "Probe name" {
			if out, f := m.Render(); !strings.HasSuffix(out, "name=kubernetes.default.svc.cluster.local") || f["fd.sip.name"] != "kubernetes.default.svc.cluster.local" {
				t.Errorf("output %q fields %v", out, f)
			}
		}
	})
}

// TestUpstreamFieldsKnown resolves every field name that appears in
// Falco's rule files — in conditions, outputs and the descriptions'
// advice (proc.vpgid.name, proc.ppid.duration, ...) — in the registry.
func TestUpstreamFieldsKnown(t *testing.T) {
	re := regexp.MustCompile(`\b(evt|proc|thread|fd|fs|user|group|container|k8s)\.[a-z0-9_.]*[a-z0-9_](\[[^\]]*\])?`)
	// Words of the files that look like fields but are not: image
	// registries and log file names in lists, and the field families
	// `evt.arg*`, `fs.path.*` and `fd.types[]` that comments speak of.
	notFields := map[string]bool{"k8s.io": true, "user.log": true, "evt.arg": true, "fs.path": true, "fd.types[]": true}
	reg := fields.New()
	seen := map[string]bool{}
	for _, f := range []string{stableRules, incubatingRules} {
		data, err := os.ReadFile(upstream(t, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllString(string(data), -1) {
			if seen[m] || notFields[m] {
				continue
			}
			seen[m] = true
			name, arg, has := splitFieldArg(m)
			if _, err := reg.Resolve(name, arg, has); err != nil {
				t.Errorf("%s: %s: %v", f, m, err)
			}
		}
	}
	if len(seen) < 80 {
		t.Errorf("only %d field names found", len(seen))
	}
}

// TestUpstreamRules runs events against Falco's stable and incubating
// rules loaded together, checking which rules fire by name.
func TestUpstreamRules(t *testing.T) {
	srcs, err := ReadSources(upstream(t, stableRules), upstream(t, incubatingRules))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(Options{Hostname: "node-1"}, srcs...)
	if err != nil {
		t.Fatal(err)
	}
	traversal := func(path string) *event.Event {
		p := withParent(proc("php-fpm"), "php-fpm")
		p.Cwd = "/var/www/html"
		return openEvent(p, path, oRDONLY)
	}
	upper := func(up bool) *event.Event {
		p := inContainer(proc("xmrig"))
		p.ExePath, p.ExeUpperLayer = "/tmp/xmrig", up
		return execEvent(p)
	}
	init := func(vpid uint32, caps uint64) *event.Event {
		p := inContainer(proc("myapp"))
		p.VPID, p.CapPermitted = vpid, caps
		return execEvent(p)
	}
	memfd := func() *event.Event {
		p := proc("payload")
		p.ExeFromMemfd, p.ExePath = true, "memfd:x"
		return execEvent(p)
	}
	creat := func(path string) *event.Event {
		ev := openEvent(proc("evil"), path, 0)
		ev.Type, ev.Args = event.Creat, [4]int64{oCREAT | oWRONLY | oTRUNC, 0o644}
		return ev
	}
	rmdir := func(path string) *event.Event {
		return &event.Event{Type: event.Rmdir, Time: 1764180000123456789, PID: 4242, Path: []byte(path), Proc: proc("rm")}
	}
	setuid := func(user string, uid uint32, to string, toUID int64) *event.Event {
		p := proc("daemon")
		p.User, p.UID = user, uid
		ev := &event.Event{Type: event.Setuid, Time: 1764180000123456789, PID: 4242, UID: uid, Args: [4]int64{toUID}, Proc: p}
		ev.IDNames[0] = to
		return ev
	}
	bpfCall := func(name string, cmd int64) *event.Event {
		return &event.Event{Type: event.Bpf, Time: 1764180000123456789, PID: 4242, Res: -22, Args: [4]int64{cmd}, Proc: proc(name)}
	}
	tests := []struct {
		name string
		ev   *event.Event
		want string
	}{
		{"BPF_PROG_LOAD", bpfCall("loader", 5), "BPF Program Not Profiled"},
		{"BPF_PROG_LOAD by bpftool", bpfCall("bpftool", 5), ""},
		{"BPF_MAP_CREATE", bpfCall("loader", 0), ""},
		{"nobody setuid to nobody", setuid("nobody", 65534, "nobody", 65534), ""},
		{"www-data setuid to root", setuid("www-data", 33, "root", 0), "Non sudo setuid"},
		{"creat below /dev", creat("/dev/evil"), "Create files below dev"},
		{"creat elsewhere", creat("/tmp/evil"), ""},
		{"rmdir of a shell history", rmdir("/root/.zsh_history"), "Delete or rename shell history"},
		{"directory traversal to /etc/passwd", traversal("../../../etc/passwd"), "Directory traversal monitored file read"},
		{"relative path without traversal", traversal("static/site.css"), ""},
		{"binary from the upper layer", upper(true), "Drop and execute new binary in container"},
		{"binary from the image", upper(false), ""},
		{"container init with CAP_SYS_ADMIN", init(1, 1<<21), "Launch Excessively Capable Container"},
		{"container init with CAP_CHOWN", init(1, 1), ""},
		{"non-init process with CAP_SYS_ADMIN", init(7, 1<<21), ""},
		{"exec from a memfd", memfd(), "Fileless execution via memfd_create"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.Num = 99
			if got := firedString(s, tt.ev); got != tt.want {
				t.Errorf("fired %q, want %q", got, tt.want)
			}
		})
	}
}
