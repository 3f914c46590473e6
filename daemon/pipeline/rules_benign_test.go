package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultRulesBenign does ordinary development and shell work while the
// detector runs (build and test a small Go program, run a shell script) and
// checks that no default rule fires for any of those processes or their
// descendants.
func TestDefaultRulesBenign(t *testing.T) {
	det.need(t)
	dir := t.TempDir()
	from := det.mark()
	var roots []int

	// A small Go module, standard library only, built and tested offline.
	mod := filepath.Join(dir, "hello")
	writeFiles(t, mod, map[string]string{
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

import "testing"

func TestGreeting(t *testing.T) {
	if got := greeting(" gopher "); got != "hello, gopher" {
		t.Fatalf("greeting = %q", got)
	}
}
`,
	})
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the benign run builds a Go program: go not in PATH: %v", err)
	}
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0",
		"GOCACHE="+filepath.Join(dir, "gocache"), "GOPATH="+filepath.Join(dir, "gopath"))
	for _, args := range [][]string{
		{"build", "-o", filepath.Join(dir, "bin", "hello"), "."},
		{"vet", "."},
		{"test", "-count=1", "."},
	} {
		cmd := exec.Command(goTool, args...)
		cmd.Dir, cmd.Env = mod, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v: %s", strings.Join(args, " "), err, out)
		}
		roots = append(roots, cmd.Process.Pid)
	}
	goRun := exec.Command(goTool, "run", ".")
	goRun.Dir, goRun.Env = mod, env
	if out, err := goRun.Output(); err != nil || string(out) != "hello, world\n" {
		t.Fatalf("go run: %q, %v", out, err)
	}
	roots = append(roots, goRun.Process.Pid)

	// A shell script doing everyday things.
	script := filepath.Join(dir, "chores.sh")
	writeFiles(t, dir, map[string]string{
		"chores.sh": `set -e
cd "$1"
ls -la . > listing.txt
cat /etc/hostname /etc/os-release > /dev/null
echo "build finished at $(date)" > /tmp/nightjar-benign-$$.txt
grep -c finished /tmp/nightjar-benign-$$.txt
mkdir -p work/out
cp listing.txt work/out/
sort listing.txt | uniq | wc -l
find . -name '*.go' | head -n 5
tar -czf work.tgz work
rm -rf work work.tgz /tmp/nightjar-benign-$$.txt
ps -o pid,comm -p $$ > /dev/null
env | grep -q PATH
`,
	})
	cmd := exec.Command("sh", script, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh %s: %v: %s", script, err, out)
	}
	roots = append(roots, cmd.Process.Pid)

	// Barrier: an alert raised after all of the above is evaluated after
	// their events, since the pipeline handles events in order.
	marker := run(t, exec.Command("cat", "/etc/shadow"), 0)
	waitRule(t, from, marker, expect{rule: "Read sensitive file untrusted"})

	for _, r := range det.since(from) {
		for _, pid := range roots {
			if r.descends(pid) {
				t.Errorf("benign process %d (tree of %d) raised an alert: %s", r.pid, pid, r)
			}
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
