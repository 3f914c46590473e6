package output

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/internal/alert"
)

func testAlert(i int) *alert.Alert {
	return &alert.Alert{
		Time: time.Date(2026, 11, 26, 18, 0, 0, 123456789, time.UTC), Rule: "Write below etc",
		Priority: alert.PriorityError, Source: "syscall", Hostname: "node-1",
		Tags: []string{"filesystem"}, Output: fmt.Sprintf("write %d", i),
		OutputFields: map[string]any{"fd.name": "/etc/passwd", "seq": float64(i)}, UUID: fmt.Sprintf("u-%d", i),
	}
}

func decodeLines(t *testing.T, r io.Reader) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var a alert.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, a)
	}
	return out
}

func TestWriterJSONLines(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter("stdout", &buf)
	for i := range 3 {
		if err := w.Send(context.Background(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	got := decodeLines(t, &buf)
	if len(got) != 3 || got[2].Output != "write 2" || got[1].Priority != alert.PriorityError || got[0].OutputFields["fd.name"] != "/etc/passwd" {
		t.Fatalf("decoded %+v", got)
	}
}

func TestFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.json")
	line, _ := testAlert(0).AppendJSON(nil)
	per := int64(len(line) + 1)
	f, err := NewFile(FileOptions{Path: path, MaxBytes: 3 * per, MaxBackups: 2})
	if err != nil {
		t.Fatal(err)
	}
	// 10 alerts, 3 per file: alerts.json.2 (3..5), .1 (6..8), current (9); 0..2 rotated away.
	for i := range 10 {
		if err := f.Send(context.Background(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{path + ".2": {"write 3", "write 4", "write 5"}, path + ".1": {"write 6", "write 7", "write 8"}, path: {"write 9"}}
	for p, outs := range want {
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got := decodeLines(t, fh)
		fh.Close()
		if len(got) != len(outs) {
			t.Fatalf("%s: %d alerts, want %d", p, len(got), len(outs))
		}
		for i := range outs {
			if got[i].Output != outs[i] {
				t.Fatalf("%s line %d = %q, want %q", p, i, got[i].Output, outs[i])
			}
		}
		if fi, _ := os.Stat(p); fi.Size() > 3*per {
			t.Fatalf("%s is %d bytes, over the %d limit", p, fi.Size(), 3*per)
		}
	}
	if _, err := os.Stat(path + ".3"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("more backups than MaxBackups: %v", err)
	}
}

// TestHTTPFalcoForm checks the request Falco's http_output makes: a POST of
// the alert object with Content-Type application/json, over TLS with a
// private CA and with custom headers.
func TestHTTPFalcoForm(t *testing.T) {
	var mu sync.Mutex
	var got []alert.Alert
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "bad request form", http.StatusBadRequest)
			return
		}
		var a alert.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-CA case below logs a handshake error
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	h, err := NewHTTP(HTTPOptions{URL: srv.URL + "/falco", Headers: map[string]string{"Authorization": "Bearer s3cret"}, TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := h.Send(context.Background(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 5 || got[4].UUID != "u-4" || got[0].Rule != "Write below etc" {
		t.Fatalf("server received %+v", got)
	}

	// Without the CA the TLS handshake fails and Send reports it.
	bad, _ := NewHTTP(HTTPOptions{URL: srv.URL, Retries: -1})
	if err := bad.Send(context.Background(), testAlert(0)); err == nil {
		t.Fatal("send to an untrusted server succeeded")
	}
}

func TestHTTPRetriesThenFails(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	h, _ := NewHTTP(HTTPOptions{URL: srv.URL, Retries: 2})
	if err := h.Send(context.Background(), testAlert(0)); err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want success on the third", err, calls)
	}
	calls = -100
	if err := h.Send(context.Background(), testAlert(0)); err == nil {
		t.Fatal("a 503 after all retries was not an error")
	}
}

type failingSink struct{ name string }

func (f failingSink) Name() string                             { return f.name }
func (f failingSink) Send(context.Context, *alert.Alert) error { return errors.New("refused") }
func (f failingSink) Close(context.Context) error              { return nil }

type blockingSink struct{ started, release chan struct{} }

func (b blockingSink) Name() string { return "slow" }
func (b blockingSink) Send(context.Context, *alert.Alert) error {
	select {
	case b.started <- struct{}{}:
	default:
	}
	<-b.release
	return nil
}
func (b blockingSink) Close(context.Context) error { return nil }

func TestFanoutCounters(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	slow := blockingSink{started: make(chan struct{}, 1), release: make(chan struct{})}
	f := NewFanout(FanoutOptions{QueueSize: 4, Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		NewWriter("stdout", &buf), failingSink{"broken"}, slow)
	var fullErrs int
	if err := f.Send(testAlert(0)); err != nil {
		t.Fatal(err)
	}
	<-slow.started
	for i := 1; i < 10; i++ {
		if err := f.Send(testAlert(i)); err != nil {
			fullErrs++
		}
	}
	// The slow sink holds one alert in Send and 4 in its queue; 5 were dropped.
	// (The other sinks' queues may overflow too, so at least 5.)
	if fullErrs < 5 {
		t.Fatalf("%d sends reported a full queue, want ≥ 5", fullErrs)
	}
	close(slow.release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := f.Stats()
	if s := st["stdout"]; s.Delivered+s.Dropped != 10 || s.Pending != 0 {
		t.Errorf("stdout %+v: want delivered + dropped = 10", s)
	}
	if got := len(decodeLines(t, &buf)); uint64(got) != st["stdout"].Delivered {
		t.Errorf("stdout wrote %d lines, counted %d delivered", got, st["stdout"].Delivered)
	}
	if s := st["broken"]; s.Delivered != 0 || s.Dropped != 10 || !s.FailingSince.Equal(now) {
		t.Errorf("broken %+v: want 10 dropped, failing since %v", s, now)
	}
	if s := st["slow"]; s.Delivered != 5 || s.Dropped != 5 {
		t.Errorf("slow %+v: want 5 delivered, 5 dropped", s)
	}
	if err := f.Send(testAlert(99)); err == nil {
		t.Error("send after close succeeded")
	}
	if f.Stats()["stdout"].Dropped != st["stdout"].Dropped+1 {
		t.Error("send after close not counted as dropped")
	}
}

func TestFanoutCloseDeadlineCountsLeftovers(t *testing.T) {
	slow := blockingSink{started: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(slow.release)
	f := NewFanout(FanoutOptions{QueueSize: 10, CloseGrace: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, slow)
	for i := range 6 {
		if err := f.Send(testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	<-slow.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the flush deadline has already passed
	if err := f.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want the context error", err)
	}
	// One alert is stuck in Send; the 5 queued ones are counted as dropped.
	if st := f.Stats()["slow"]; st.Dropped != 5 || st.Pending != 0 {
		t.Fatalf("stats %+v, want 5 dropped", st)
	}
}

// ctxSink blocks in Send until its context ends, and records whether Close
// was called while a Send was running.
type ctxSink struct {
	mu            sync.Mutex
	inSend        bool
	closedInSend  bool
	closed, sends int
	started       chan struct{}
}

func (c *ctxSink) Name() string { return "ctx" }
func (c *ctxSink) Send(ctx context.Context, _ *alert.Alert) error {
	c.mu.Lock()
	c.inSend = true
	c.sends++
	c.mu.Unlock()
	select {
	case c.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	time.Sleep(20 * time.Millisecond) // the sink takes a moment to give up
	c.mu.Lock()
	c.inSend = false
	c.mu.Unlock()
	return ctx.Err()
}
func (c *ctxSink) Close(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed++
	if c.inSend {
		c.closedInSend = true
	}
	return nil
}

// A sink still in Send when the flush deadline passes is not closed under
// it, and no goroutine outlives Close: reloads do not leak.
func TestFanoutCloseWaitsForSendAndLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 20 {
		sink := &ctxSink{started: make(chan struct{}, 1)}
		f := NewFanout(FanoutOptions{QueueSize: 10, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, sink)
		for i := range 3 {
			f.Send(testAlert(i))
		}
		<-sink.started
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		err := f.Close(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want the deadline", err)
		}
		sink.mu.Lock()
		closedInSend, closed, sends := sink.closedInSend, sink.closed, sink.sends
		sink.mu.Unlock()
		if closedInSend || closed != 1 {
			t.Fatalf("sink closed %d times, during Send: %v", closed, closedInSend)
		}
		st := f.Stats()["ctx"]
		if sends != 1 || st.Dropped != 3 || st.Delivered != 0 {
			t.Fatalf("sends %d, stats %+v: want the one cut short and the 2 queued dropped", sends, st)
		}
	}
	// Goroutines wind down asynchronously; give them a moment.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("%d goroutines after 20 fan-outs were closed, %d before", n, before)
	}
}

// Errors (which the fan-out logs) name the URL without the credentials or
// query it carries.
func TestHTTPErrorsHideCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for _, base := range []string{srv.URL, closedURL} {
		u := strings.Replace(base, "http://", "http://alice:hunter2@", 1) + "/hook?token=tok3n"
		h, err := NewHTTP(HTTPOptions{URL: u, Retries: -1, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = h.Send(context.Background(), testAlert(0))
		if err == nil {
			t.Fatalf("POST to %s succeeded", base)
		}
		if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "tok3n") || strings.Contains(msg, "alice") {
			t.Errorf("error shows credentials: %s", msg)
		} else if !strings.Contains(msg, strings.TrimPrefix(base, "http://")+"/hook") {
			t.Errorf("error does not name the destination: %s", msg)
		}
	}
}

func TestFileRefusesUntrustedPlaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: the checks are about root writing where others can")
	}
	base := t.TempDir()
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777)
	if _, err := NewFile(FileOptions{Path: filepath.Join(open, "alerts.json")}); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("file in a world-writable directory: %v", err)
	}
	// A symlink planted where the file goes is not followed.
	target := filepath.Join(base, "target")
	os.WriteFile(target, []byte("keep"), 0o600)
	link := filepath.Join(base, "alerts.json")
	os.Symlink(target, link)
	if _, err := NewFile(FileOptions{Path: link}); err == nil {
		t.Error("file output followed a planted symlink")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("symlink target written: %q", b)
	}
	// A file someone else owns is refused.
	theirs := filepath.Join(base, "theirs.json")
	os.WriteFile(theirs, nil, 0o666)
	os.Chown(theirs, 65534, 65534)
	if _, err := NewFile(FileOptions{Path: theirs}); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("file owned by nobody: %v", err)
	}
	// /tmp-like: world-writable but sticky and root's is accepted.
	sticky := filepath.Join(base, "sticky")
	os.Mkdir(sticky, 0o700)
	os.Chmod(sticky, 0o777|os.ModeSticky)
	f, err := NewFile(FileOptions{Path: filepath.Join(sticky, "alerts.json")})
	if err != nil {
		t.Fatalf("file in a sticky root-owned directory: %v", err)
	}
	f.Close(context.Background())
}

// refusingReporter refuses every alert and counts each refusal itself, as
// the forward output does for an alert it cannot take.
type refusingReporter struct {
	mu      sync.Mutex
	dropped uint64
}

func (r *refusingReporter) Name() string { return "reporter" }
func (r *refusingReporter) Send(context.Context, *alert.Alert) error {
	r.mu.Lock()
	r.dropped++
	r.mu.Unlock()
	return errors.New("refused (dropped)")
}
func (r *refusingReporter) Close(context.Context) error { return nil }
func (r *refusingReporter) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Dropped: r.dropped}
}

// A drop the sink counts is not counted again by the fan-out.
func TestFanoutCountsReporterDropsOnce(t *testing.T) {
	r := &refusingReporter{}
	f := NewFanout(FanoutOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, r)
	for i := range 7 {
		f.Send(testAlert(i))
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := f.Stats()["reporter"]; st.Dropped != 7 {
		t.Fatalf("dropped = %d for 7 refused alerts, want 7", st.Dropped)
	}
}

// A rotation that cannot rename the file (here Path.1 is a directory that
// is not empty) must not close the output: alerts go on to the current
// file, the failures are counted, and rotation works again once the
// obstacle is gone.
func TestFileRotationFailureKeepsWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.json")
	line, _ := testAlert(0).AppendJSON(nil)
	per := int64(len(line) + 1)
	if err := os.MkdirAll(filepath.Join(path+".1", "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := NewFile(FileOptions{Path: path, MaxBytes: 2 * per, MaxBackups: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := f.Send(context.Background(), testAlert(i)); err != nil {
			t.Fatalf("send %d while rotation fails: %v", i, err)
		}
	}
	if got := f.RotationFailures(); got != 3 {
		t.Errorf("RotationFailures = %d, want 3 (alerts 2, 3 and 4 each tried)", got)
	}
	if err := os.RemoveAll(path + ".1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Send(context.Background(), testAlert(5)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, p := range []string{path + ".1", path} {
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range decodeLines(t, fh) {
			outs = append(outs, a.Output)
		}
		fh.Close()
	}
	want := []string{"write 0", "write 1", "write 2", "write 3", "write 4", "write 5"}
	if strings.Join(outs, ",") != strings.Join(want, ",") {
		t.Errorf("alerts in %s.1 then %s: %v, want %v", path, path, outs, want)
	}
}
