package spool

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The crash test re-executes the test binary as a child that runs a fixed
// workload against a spool and kills itself with SIGKILL at its N-th file
// changing step (every write, rotation, cursor update, prepend stage and
// segment removal). The child journals each operation before and after it;
// the parent then reopens the spool and checks it holds exactly what the
// journal says was accepted and not consumed, allowing only the operation
// cut short to have happened or not (a commit cut short re-reads its chunk).

const (
	crashDirEnv  = "NIGHTJAR_SPOOL_CRASH_DIR"
	crashStepEnv = "NIGHTJAR_SPOOL_CRASH_STEP"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		step, _ := strconv.Atoi(os.Getenv(crashStepEnv))
		if err := crashChild(dir, step); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func crashOpts() Options { return Options{MaxBytes: 1 << 20, SegmentBytes: 128} }

func crashRec(id int) []byte { return fmt.Appendf(nil, "r%06d", id) }

// crashChild runs the workload, dying at step (0: never).
func crashChild(dir string, step int) error {
	j, err := os.OpenFile(filepath.Join(dir, "journal"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	journal := func(format string, args ...any) {
		// One write per line: it reaches the kernel before the next step.
		fmt.Fprintf(j, format+"\n", args...)
	}
	steps := 0
	opts := crashOpts()
	opts.crash = func(string) {
		steps++
		if steps == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	s, err := Open(filepath.Join(dir, "spool"), opts)
	if err != nil {
		return err
	}
	ids := func(from, n int) (recs [][]byte, list string) {
		var b strings.Builder
		for i := range n {
			recs = append(recs, crashRec(from+i))
			fmt.Fprintf(&b, " %d", from+i)
		}
		return recs, b.String()
	}
	next, prep := 0, 100000
	appendN := func(n int) error {
		recs, list := ids(next, n)
		next += n
		journal("A%s", list)
		taken, err := s.Append(recs...)
		if err != nil {
			return err
		}
		journal("a %d", taken)
		return nil
	}
	consume := func(n int) error {
		recs, pos, err := s.Peek(n)
		if err != nil {
			return err
		}
		var b strings.Builder
		for _, r := range recs {
			id, _ := strconv.Atoi(strings.TrimPrefix(string(r), "r"))
			fmt.Fprintf(&b, " %d", id)
		}
		journal("C%s", b.String())
		if err := s.Commit(pos); err != nil {
			return err
		}
		journal("c")
		return nil
	}
	prepend := func(n int) error {
		recs, list := ids(prep, n)
		prep += n
		journal("P%s", list)
		if err := s.Prepend(recs); err != nil {
			return err
		}
		journal("p")
		return nil
	}
	for range 4 {
		for _, op := range []func() error{
			func() error { return appendN(12) },
			func() error { return appendN(1) },
			func() error { return appendN(1) },
			func() error { return consume(5) },
			func() error { return prepend(3) },
			func() error { return consume(4) },
			func() error { return appendN(9) },
			func() error { return consume(12) },
			func() error { return prepend(2) },
		} {
			if err := op(); err != nil {
				return err
			}
		}
	}
	return s.Close()
}

// outcomes replays the journal and returns every spool content the crash
// may have left: the model before the interrupted operation and after each
// way it could have ended.
func outcomes(t *testing.T, path string) [][]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var model []int
	var op byte
	var arg []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch kind := fields[0][0]; kind {
		case 'A', 'P', 'C':
			op, arg = kind, nil
			for _, s := range fields[1:] {
				n, _ := strconv.Atoi(s)
				arg = append(arg, n)
			}
			if kind == 'C' && !slices.Equal(model[:min(len(arg), len(model))], arg) {
				t.Fatalf("peek returned %v, model head is %v", arg, model[:min(len(arg), len(model))])
			}
		case 'a':
			n, _ := strconv.Atoi(fields[1])
			model, op = append(model, arg[:n]...), 0
		case 'p':
			model, op = append(slices.Clone(arg), model...), 0
		case 'c':
			model, op = model[len(arg):], 0
		}
	}
	switch op {
	case 0:
		return [][]int{model}
	case 'A':
		var out [][]int
		for k := range len(arg) + 1 {
			out = append(out, append(slices.Clone(model), arg[:k]...))
		}
		return out
	case 'P':
		return [][]int{model, append(slices.Clone(arg), model...)}
	default: // 'C'
		return [][]int{model, model[len(arg):]}
	}
}

func TestCrashAtEveryStep(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for step := 1; ; step++ {
		dir := t.TempDir()
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashStepEnv+"="+strconv.Itoa(step))
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err == nil {
			// The workload ran to its end: every step has been a crash point.
			t.Logf("%d crash points, each recovered", killed)
			if killed < 50 {
				t.Fatalf("only %d crash points in the workload", killed)
			}
			break
		}
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("step %d: child failed: %v\n%s", step, err, out)
		}
		killed++

		want := outcomes(t, filepath.Join(dir, "journal"))
		s, err := Open(filepath.Join(dir, "spool"), crashOpts())
		if err != nil {
			t.Fatalf("step %d: reopen after SIGKILL: %v", step, err)
		}
		var got []int
		for {
			recs, pos, err := s.Peek(7)
			if err != nil {
				t.Fatalf("step %d: peek: %v", step, err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				id, err := strconv.Atoi(strings.TrimPrefix(string(r), "r"))
				if err != nil {
					t.Fatalf("step %d: record %q is not one the child wrote", step, r)
				}
				got = append(got, id)
			}
			if err := s.Commit(pos); err != nil {
				t.Fatal(err)
			}
		}
		if s.Len() != 0 || s.Dropped() != 0 {
			t.Errorf("step %d: after draining Len = %d, Dropped = %d", step, s.Len(), s.Dropped())
		}
		s.Close()
		if !slices.ContainsFunc(want, func(w []int) bool { return slices.Equal(w, got) }) {
			t.Fatalf("step %d: spool holds %v\nwant one of %v", step, got, want)
		}
	}
}
