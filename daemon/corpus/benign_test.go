package corpus

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/internal/testctr"
)

// workload is everyday work that must raise no alert.
type workload struct {
	name string
	// run does the work, each process tree in a session of its own (see
	// session), and returns the sessions and the short ids of the
	// containers it used.
	run func(t *testing.T, e *env) (sessions []int, containers []string)
}

// session runs cmd in a session of its own, failing t if it fails, and
// returns the session id. The session leader is a shell started through a
// link named after a fresh marker, which stays a second after cmd ends, so
// that the daemon reads its session while it runs (the process table
// learns sessions from /proc at exec) and its children inherit it.
func session(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	leader := filepath.Join(t.TempDir(), newMarker(t, 99))
	if err := os.Symlink("/bin/sh", leader); err != nil {
		t.Fatal(err)
	}
	args := append([]string{leader, "-c", `"$@"; s=$?; sleep 1; exit $s`, "sh"}, cmd.Args...)
	cmd.Path, cmd.Args = leader, args
	cmd.Err = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return cmd.Process.Pid
}

// goEnv is the Go toolchain's environment for offline builds; the
// machine's build cache is used, as any build here would.
func goEnv() []string {
	return append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off", "GOTOOLCHAIN=local", "GOWORK=off")
}

// writeModule writes a small standard-library Go module with a test.
func writeModule(t *testing.T, dir string) {
	t.Helper()
	files := map[string]string{
		"go.mod": "module example.com/hello\n\ngo 1.22\n",
		"hello.go": `package main

import (
	"fmt"
	"os"
	"strings"
)

func greeting(name string) string { return "hello, " + strings.TrimSpace(name) }

func main() { fmt.Fprintln(os.Stdout, greeting("world")) }
`,
		"hello_test.go": `package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestGreeting(t *testing.T) {
	if got := greeting(" gopher "); got != "hello, gopher" {
		t.Fatalf("greeting = %q", got)
	}
}

func TestTempFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}
`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func benignWorkloads() []workload {
	return []workload{
		{
			// Build, vet and test; build a test binary into /tmp and run
			// it there; go run (which runs its build from /tmp too).
			name: "go build and test on the host",
			run: func(t *testing.T, e *env) ([]int, []string) {
				dir := t.TempDir()
				writeModule(t, dir)
				var sids []int
				for _, args := range [][]string{
					{"go", "build", "-o", filepath.Join(dir, "bin", "hello"), "."},
					{"go", "vet", "."},
					{"go", "test", "-count=1", "."},
					{"go", "test", "-c", "-o", filepath.Join(dir, "hello.test"), "."},
					{filepath.Join(dir, "hello.test"), "-test.count=1"},
					{"go", "run", "."},
				} {
					cmd := exec.Command(args[0], args[1:]...)
					cmd.Dir, cmd.Env = dir, goEnv()
					sids = append(sids, session(t, cmd))
				}
				return sids, nil
			},
		},
		{
			name: "shell chores on the host",
			run: func(t *testing.T, e *env) ([]int, []string) {
				dir := t.TempDir()
				script := `set -e
cd "$1"
ls -la . > listing.txt
cat /etc/hostname /etc/os-release /etc/passwd > /dev/null
echo "build finished at $(date)" > notes.txt
grep -c finished notes.txt
mkdir -p work/out && cp listing.txt work/out/
sort listing.txt | uniq | wc -l
find . -name '*.txt' | head -n 5
tar -czf work.tgz work && rm -rf work work.tgz
ps -o pid,comm -p $$ > /dev/null
env | grep -q PATH
id -un >/dev/null
`
				return []int{session(t, exec.Command("sh", "-c", script, "sh", dir))}, nil
			},
		},
		{
			name: "apt-get install and purge a local package",
			run:  aptInstall,
		},
		{
			// Containers that start, do ordinary things and stop.
			name: "containers start and stop",
			run: func(t *testing.T, e *env) ([]int, []string) {
				var ids []string
				for _, args := range [][]string{
					{"sh", "-c", "echo hello; ls / >/dev/null; cat /etc/passwd >/dev/null"},
					{"sh", "-c", "mkdir -p /tmp/work && echo data > /tmp/work/f && cat /tmp/work/f && rm -r /tmp/work"},
					{"true"},
				} {
					id := testctr.NewID()
					if res := e.c.Run(t, id, ctrCgroup(e.c, id), args...); res.ExitCode != 0 {
						t.Fatalf("container %v: %+v", args, res)
					}
					ids = append(ids, id[:12])
				}
				return nil, ids
			},
		},
		{
			name: "go test in a container",
			run:  goTestInContainer,
		},
	}
}

// benign runs w and fails t for every alert about its processes or
// containers.
func (e *env) benign(t *testing.T, w workload) {
	from := e.defaults.mark()
	sids, containers := w.run(t, e)
	// Barrier: the pipeline handles events in order, so once an alert
	// raised after the workload arrives, the workload's events have been
	// evaluated.
	barrier := strconv.Itoa(session(t, exec.Command("cat", "/etc/shadow")))
	if e.defaults.wait(from, alertWait, func(r *record) bool { return r.field("proc.sid") == barrier }) == nil {
		t.Fatalf("no alert for the barrier (cat /etc/shadow in session %s); daemon log:\n%s", barrier, tail(e.defaults.stderr.String(), 3000))
	}
	mine := map[string]bool{}
	for _, s := range sids {
		mine["sid "+strconv.Itoa(s)] = true
	}
	for _, c := range containers {
		mine["ctr "+c] = true
	}
	for _, r := range e.defaults.since(from) {
		if mine["sid "+r.field("proc.sid")] || mine["ctr "+r.field("container.id")] {
			t.Errorf("benign work raised an alert: %s", r)
		}
	}
}

// aptInstall builds a package with dpkg-deb (a program in /usr/bin, a
// file in /usr/share, a maintainer script that runs a command), installs
// it with apt-get from the file, offline, and purges it.
func aptInstall(t *testing.T, e *env) ([]int, []string) {
	const pkg = "nightjar-corpus-fixture"
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	files := map[string]string{
		"DEBIAN/control": "Package: " + pkg + "\nVersion: 1.0\nArchitecture: all\nMaintainer: nightjar <nightjar@example.com>\n" +
			"Description: nightjar benign corpus fixture\n Installed and purged by nightjar's tests.\n",
		"DEBIAN/postinst":                  "#!/bin/sh\nset -e\nmkdir -p /var/lib/" + pkg + "\necho installed > /var/lib/" + pkg + "/state\n",
		"DEBIAN/postrm":                    "#!/bin/sh\nset -e\nrm -rf /var/lib/" + pkg + "\n",
		"usr/bin/" + pkg:                   "#!/bin/sh\necho hello\n",
		"usr/share/doc/" + pkg + "/README": "fixture\n",
		"etc/" + pkg + "/" + pkg + ".conf": "# configuration\n",
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "DEBIAN/post") || strings.HasPrefix(name, "usr/bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(dir, pkg+".deb")
	t.Cleanup(func() {
		// Whatever happened, the machine keeps no trace of the package.
		exec.Command("dpkg", "--purge", pkg).Run()
	})
	lock := "-oDPkg::Lock::Timeout=120"
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var sids []int
	for _, args := range [][]string{
		{"dpkg-deb", "--root-owner-group", "--build", root, deb},
		{"apt-get", "install", "-y", "-q", lock, deb},
		{"sh", "-c", pkg + " >/dev/null"},
		{"apt-get", "purge", "-y", "-q", lock, pkg},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = env
		sids = append(sids, session(t, cmd))
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).CombinedOutput(); err == nil && strings.Contains(string(out), "installed") {
		t.Fatalf("%s still installed after the purge: %s", pkg, out)
	}
	return sids, nil
}

// goTestInContainer runs `go test` on a module in a container, as a CI
// job does: the Go toolchain and the build cache are bind-mounted from
// the host, the test binary is built in the container's /tmp and run
// from there.
func goTestInContainer(t *testing.T, e *env) ([]int, []string) {
	mod := t.TempDir()
	writeModule(t, mod)
	goroot := strings.TrimSpace(output(t, exec.Command("go", "env", "GOROOT")))
	cache := strings.TrimSpace(output(t, exec.Command("go", "env", "GOCACHE")))
	id := testctr.NewID()
	cgroup := ctrCgroup(e.c, id)
	t.Cleanup(func() { removeCgroup(t, cgroup) })
	args := []string{"--address", e.c.Address, "--namespace", e.c.Namespace, "run", "--rm",
		"--runc-root", filepath.Join(e.c.Dir, "runc"), "--cgroup", cgroup,
		"--mount", "type=bind,src=" + goroot + ",dst=/usr/local/go,options=rbind:ro",
		"--mount", "type=bind,src=" + cache + ",dst=/gocache,options=rbind:rw",
		"--mount", "type=bind,src=" + mod + ",dst=/src,options=rbind:rw",
		"--cwd", "/src",
		"--env", "PATH=/usr/local/go/bin:/usr/bin:/bin", "--env", "HOME=/tmp", "--env", "GOCACHE=/gocache",
		"--env", "GOFLAGS=-mod=mod -buildvcs=false", "--env", "GOPROXY=off", "--env", "GOTOOLCHAIN=local",
		"--env", "CGO_ENABLED=0",
		testctr.ImageRef, id, "go", "test", "-count=1", "-v", "./...",
	}
	cmd := exec.Command("ctr", args...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestGreeting") {
		t.Fatalf("go test in a container: %v\n%s", err, out)
	}
	return nil, []string{id[:12]}
}

func output(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return string(out)
}

// removeCgroup removes what runc may leave of cgroup path below each
// mounted cgroup hierarchy.
func removeCgroup(t *testing.T, path string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && (fields[i+1] == "cgroup" || fields[i+1] == "cgroup2") {
				dir := filepath.Join(fields[4], path)
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					err := os.Remove(dir)
					if err == nil || os.IsNotExist(err) {
						break
					}
					if time.Now().After(deadline) {
						t.Error(fmt.Errorf("remove cgroup %s: %w", dir, err))
						break
					}
				}
			}
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
