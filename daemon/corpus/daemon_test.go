package corpus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// alertWait bounds the wait for one behaviour's alert.
const alertWait = 20 * time.Second

// buildNightjar builds the nightjar binary into dir.
func buildNightjar(dir string) (string, error) {
	bin := filepath.Join(dir, "nightjar")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/nightjar").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build nightjar: %v\n%s", err, out)
	}
	return bin, nil
}

// record is one alert as the daemon printed it.
type record struct {
	Rule         string         `json:"rule"`
	Priority     string         `json:"priority"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
}

func (r *record) field(name string) string {
	v, ok := r.OutputFields[name]
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func (r *record) String() string { return r.Rule + ": " + r.Output }

// daemon is a running `nightjar run` whose alerts are collected from its
// standard output.
type daemon struct {
	name   string
	cmd    *exec.Cmd
	stderr *syncBuffer

	mu      sync.Mutex
	records []*record
	bad     []string // lines that are not alerts
	changed chan struct{}
	exited  chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// startDaemon runs the nightjar binary bin with the configuration text
// and the extra command-line arguments, and returns once it reports that
// it runs.
func startDaemon(bin, name, cfg string, args ...string) (*daemon, error) {
	f, err := os.CreateTemp("", "nightjar-corpus-*.hcl")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(cfg); err != nil {
		return nil, err
	}
	f.Close()
	d := &daemon{name: name, stderr: &syncBuffer{}, changed: make(chan struct{}), exited: make(chan struct{})}
	d.cmd = exec.Command(bin, append([]string{"run", "--config", f.Name()}, args...)...)
	d.cmd.Stderr = d.stderr
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go d.read(stdout)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(d.stderr.String(), "nightjar running") {
		select {
		case <-d.exited:
			d.cmd.Wait()
			return nil, fmt.Errorf("nightjar (%s) exited at start-up:\n%s", name, d.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			d.cmd.Process.Kill()
			d.cmd.Wait()
			return nil, fmt.Errorf("nightjar (%s) did not start within 60s:\n%s", name, d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d, nil
}

func (d *daemon) read(r io.Reader) {
	defer close(d.exited)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var rec record
		err := json.Unmarshal(sc.Bytes(), &rec)
		d.mu.Lock()
		if err != nil || rec.Rule == "" {
			d.bad = append(d.bad, sc.Text())
		} else {
			d.records = append(d.records, &rec)
		}
		close(d.changed)
		d.changed = make(chan struct{})
		d.mu.Unlock()
	}
}

// stop ends the daemon with SIGTERM and reports a failed exit or output
// lines that were not alerts.
func (d *daemon) stop() error {
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { <-d.exited; done <- d.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		err = fmt.Errorf("no exit within 30s of SIGTERM")
		<-done
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if path := os.Getenv("NIGHTJAR_CORPUS_DUMP"); path != "" {
		// Every alert the daemon printed, for looking into a failure.
		var b strings.Builder
		for _, r := range d.records {
			b.WriteString(r.String() + "\n")
		}
		os.WriteFile(path+"."+strings.ReplaceAll(d.name, " ", "-"), []byte(b.String()), 0o644)
	}
	if err != nil {
		return fmt.Errorf("nightjar (%s): %v\n%s", d.name, err, d.stderr.String())
	}
	if len(d.bad) > 0 {
		return fmt.Errorf("nightjar (%s) printed lines that are not alerts: %q", d.name, d.bad)
	}
	return nil
}

// mark is the position from which a later wait or look starts.
func (d *daemon) mark() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.records)
}

// since returns the alerts from position from on.
func (d *daemon) since(from int) []*record {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*record(nil), d.records[from:]...)
}

// wait returns the first alert from position from on that match accepts,
// or nil after timeout.
func (d *daemon) wait(from int, timeout time.Duration, match func(*record) bool) *record {
	deadline := time.After(timeout)
	for {
		d.mu.Lock()
		for _, r := range d.records[from:] {
			if match(r) {
				d.mu.Unlock()
				return r
			}
		}
		changed := d.changed
		d.mu.Unlock()
		select {
		case <-changed:
		case <-d.exited:
			return nil
		case <-deadline:
			return nil
		}
	}
}
