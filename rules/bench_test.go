package rules

import (
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// eventMix is an openat-heavy stream like a busy host produces: mostly
// reads of libraries, configuration and data files, some writes, execs,
// connects and process lifecycle events. None of them matches a default rule.
func eventMix() []*event.Event {
	web := withParent(proc("nginx", "-g", "daemon off;"), "containerd-shim")
	web.Container = &event.Container{ID: "3f2a1b4c5d6e", Name: "web", ImageRepository: "nginx"}
	app := withParent(proc("java", "-jar", "/srv/app.jar"), "bash")
	shell := withParent(proc("bash", "-c", "make"), "sshd")
	var evs []*event.Event
	paths := []string{
		"/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache", "/srv/app/config.yaml",
		"/usr/share/zoneinfo/UTC", "/proc/self/status", "/sys/fs/cgroup/cpu.max",
		"/var/www/html/index.html", "/etc/nginx/nginx.conf", "/home/alice/project/main.go",
		"/etc/hosts", "/etc/resolv.conf", "/etc/passwd", "/usr/lib/jvm/lib/modules",
	}
	for i, p := range paths {
		pr := []*event.Process{web, app, shell}[i%3]
		evs = append(evs, openEvent(pr, p, oRDONLY|0o2000000))
		rel := openEvent(pr, "data/file"+fmt.Sprint(i), oRDONLY)
		evs = append(evs, rel)
	}
	evs = append(evs,
		openEvent(app, "/var/lib/app/cache.db", oRDWR|oCREAT),
		openEvent(app, "/tmp/upload-123", oWRONLY|oCREAT|oTRUNC),
		openEvent(web, "/var/log/nginx/access.log", oWRONLY|0o2000),
		failed(openEvent(shell, "/nonexistent", oRDONLY), 2),
		execEvent(withParent(proc("make", "all"), "bash")),
		execEvent(withParent(proc("cc", "-c", "x.c"), "make")),
		connectEvent(app, ip4(10, 1, 2, 3), 5432),
		connectEvent(web, ip4(10, 1, 2, 4), 8080),
		syscallEvent(event.Clone, shell, 0x3d0f00),
		syscallEvent(event.Close, app, 5),
		syscallEvent(event.ProcExit, shell, 0),
		syscallEvent(event.Socket, app, 2, 1, 6),
	)
	return evs
}

func TestEvalNoAllocNonMatching(t *testing.T) {
	s, err := Default(Options{Hostname: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	e := s.NewEvaluator()
	evs := eventMix()
	noop := func(*Match) { t.Fatal("unexpected match") }
	for _, ev := range evs {
		e.Eval(ev, noop) // warm the scratch memory
	}
	allocs := testing.AllocsPerRun(50, func() {
		for _, ev := range evs {
			e.Eval(ev, noop)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per pass over %d non-matching events, want 0", allocs, len(evs))
	}
}

func BenchmarkEvalDefault(b *testing.B) {
	s, err := Default(Options{Hostname: "node-1"})
	if err != nil {
		b.Fatal(err)
	}
	e := s.NewEvaluator()
	evs := eventMix()
	opens := 0
	for _, ev := range evs {
		if ev.Type == event.Openat {
			opens++
		}
	}
	matches := 0
	fn := func(*Match) { matches++ }
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Eval(evs[i%len(evs)], fn)
	}
	b.StopTimer()
	cpu := threadCPU(b) - cpu0
	if matches != 0 {
		b.Fatalf("%d matches in a benign mix", matches)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// On a shared machine wall time includes waiting for a CPU; the
	// thread's CPU time is the cost per event on one core.
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/event")
	b.ReportMetric(float64(opens)/float64(len(evs))*100, "%openat")
}

func BenchmarkEvalMatching(b *testing.B) {
	s, err := Default(Options{Hostname: "node-1"})
	if err != nil {
		b.Fatal(err)
	}
	e := s.NewEvaluator()
	ev := openEvent(proc("cat"), "/etc/shadow", oRDONLY)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e.Eval(ev, func(m *Match) { _ = m.Alert() })
	}
}

func BenchmarkLoadDefault(b *testing.B) {
	srcs := DefaultSources()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Load(Options{}, srcs...); err != nil {
			b.Fatal(err)
		}
	}
}

// generatedRules returns a file of n rules over shared lists and macros,
// shaped like real rule files.
func generatedRules(n int) string {
	var b strings.Builder
	for i := 0; i < n/10; i++ {
		fmt.Fprintf(&b, "- list: names_%d\n  items: [a%d, b%d, c%d, d%d, e%d]\n", i, i, i, i, i, i)
		fmt.Fprintf(&b, "- macro: macro_%d\n  condition: (proc.name in (names_%d) or proc.pname in (names_%d)) and fd.name startswith /d%d\n", i, i, i, i)
	}
	types := []string{"open, openat, openat2", "execve, execveat", "connect", "unlinkat, renameat2"}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `- rule: Generated rule %d
  desc: generated rule number %d
  condition: >
    evt.type in (%s) and evt.failed = false and macro_%d
    and not proc.cmdline contains "skip %d" and not user.uid in (1, 2, 3)
    and (fd.directory pmatch (/etc, /usr/bin) or proc.aname[2] glob "x*%d")
  output: rule %d fired (proc=%%proc.name cmdline=%%proc.cmdline file=%%fd.name user=%%user.name)
  priority: WARNING
  tags: [generated, T1000]
  exceptions:
    - name: known
      fields: [proc.name, fd.directory]
      values:
        - [ok%d, /tmp]
`, i, i, types[i%len(types)], i%(n/10), i, i, i, i)
	}
	return b.String()
}

func TestGeneratedRules(t *testing.T) {
	s := mustLoad(t, src("gen.yaml", generatedRules(500)))
	if len(s.Rules()) != 500 {
		t.Fatalf("%d rules", len(s.Rules()))
	}
	p := proc("a4")
	p.Parent.Parent = &event.Process{Name: "x14"}
	ev := openEvent(p, "/etc/x", oRDONLY)
	// macro_4 needs fd.name under /d4, which /etc/x is not.
	if got := fired(s, ev); len(got) != 0 {
		t.Errorf("fired %v", got)
	}
	// Rules 4, 104, 204, ... use macro_4 on open events; of their
	// aname[2] globs only "x*4" matches x14.
	ev.Path = []byte("/d4/etc/x")
	if got := strings.Join(fired(s, ev), ","); got != "Generated rule 4" {
		t.Errorf("fired %q", got)
	}
}

func BenchmarkLoad500Rules(b *testing.B) {
	data := []byte(generatedRules(500))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Load(Options{}, Source{Name: "gen.yaml", Data: data}); err != nil {
			b.Fatal(err)
		}
	}
}

// threadCPU returns the CPU time of the calling OS thread in nanoseconds;
// the caller locks itself to the thread.
func threadCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// execMix is an exec-heavy stream (a build or CI host): mostly process
// starts, with the opens and exits around them.
func execMix() []*event.Event {
	var evs []*event.Event
	tools := []struct {
		name, parent string
		args         []string
	}{
		{"make", "bash", []string{"-j4"}}, {"cc", "make", []string{"-c", "x.c"}}, {"ld", "cc", []string{"-o", "x"}},
		{"git", "bash", []string{"status"}}, {"go", "bash", []string{"build", "./..."}}, {"sed", "sh", []string{"-i", "s/a/b/", "f"}},
		{"python3", "bash", []string{"setup.py"}}, {"node", "npm", []string{"index.js"}}, {"ls", "bash", []string{"-l"}},
		{"grep", "sh", []string{"-r", "TODO", "."}},
	}
	for i, tl := range tools {
		p := withParent(proc(tl.name, tl.args...), tl.parent)
		if i%3 == 0 {
			p.Container = &event.Container{ID: "3f2a1b4c5d6e", Name: "ci", ImageRepository: "golang"}
		}
		ev := execEvent(p)
		ev.Path = []byte(p.ExePath)
		evs = append(evs, ev, ev, openEvent(p, "/etc/ld.so.cache", oRDONLY|0o2000000))
	}
	evs = append(evs, syscallEvent(event.Clone, proc("bash"), 0x1200011), syscallEvent(event.ProcExit, proc("ls"), 0))
	return evs
}

// BenchmarkEval measures evaluation per event with nightjar's default
// rules and with Falco's stable and incubating rule files, on an
// openat-heavy and an exec-heavy mix.
func BenchmarkEval(b *testing.B) {
	sets := map[string]func() (*Set, error){
		"default": func() (*Set, error) { return Default(Options{Hostname: "node-1"}) },
		"falco": func() (*Set, error) {
			srcs, err := ReadSources(upstream(b, stableRules), upstream(b, incubatingRules))
			if err != nil {
				return nil, err
			}
			return Load(Options{Hostname: "node-1"}, srcs...)
		},
	}
	mixes := map[string]func() []*event.Event{"openat": eventMix, "exec": execMix}
	for _, sn := range []string{"default", "falco"} {
		s, err := sets[sn]()
		if err != nil {
			b.Fatal(err)
		}
		for _, mn := range []string{"openat", "exec"} {
			evs := mixes[mn]()
			for i, ev := range evs {
				ev.Num = uint64(i + 1)
			}
			b.Run(sn+"/"+mn, func(b *testing.B) {
				e := s.NewEvaluator()
				matches := 0
				fn := func(*Match) { matches++ }
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					e.Eval(evs[i%len(evs)], fn)
				}
				b.StopTimer()
				b.ReportMetric(float64(matches)/float64(b.N), "matches/event")
			})
		}
	}
}
