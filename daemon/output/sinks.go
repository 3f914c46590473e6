package output

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/trustdir"
	"github.com/nightjar-sec/nightjar/internal/alert"
)

// Writer writes alerts as JSON lines to an io.Writer (stdout by default).
type Writer struct {
	name string
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
}

// NewWriter returns a sink named name writing JSON lines to w.
func NewWriter(name string, w io.Writer) *Writer { return &Writer{name: name, w: w} }

// NewStdout returns the stdout sink.
func NewStdout() *Writer { return NewWriter("stdout", os.Stdout) }

// Name implements Sink.
func (w *Writer) Name() string { return w.name }

// Send writes one JSON line.
func (w *Writer) Send(_ context.Context, a *alert.Alert) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	w.buf, err = a.AppendJSON(w.buf[:0])
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	w.buf = append(w.buf, '\n')
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("%s: %w", w.name, err)
	}
	return nil
}

// Close implements Sink; it does not close the underlying writer.
func (w *Writer) Close(context.Context) error { return nil }

// FileOptions configures the file sink.
type FileOptions struct {
	Path string
	// MaxBytes rotates the file before a line would make it larger.
	// 0 disables rotation.
	MaxBytes int64
	// MaxBackups is how many rotated files (Path.1 … Path.N, .1 newest) are
	// kept. Default 5.
	MaxBackups int
}

// File writes alerts as JSON lines to a file with size-based rotation.
type File struct {
	opts FileOptions
	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte

	rotateFailures uint64
}

// NewFile opens (appending to) the file. Its directory must be owned by
// root and writable by no one else (or be sticky, as /tmp is); the file is
// opened without following a symbolic link and must be a regular file
// owned by root, so no other user can point the daemon's writes elsewhere.
func NewFile(opts FileOptions) (*File, error) {
	if opts.Path == "" {
		return nil, errors.New("file output: path is empty")
	}
	if err := trustdir.Check(filepath.Dir(opts.Path), true); err != nil {
		return nil, fmt.Errorf("file output: refusing directory: %w", err)
	}
	if opts.MaxBackups <= 0 {
		opts.MaxBackups = 5
	}
	s := &File{opts: opts}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *File) open() error {
	f, err := os.OpenFile(s.opts.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o640)
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("file output: %w", err)
	}
	if err := trustdir.OwnedRegular(s.opts.Path, fi); err != nil {
		f.Close()
		return fmt.Errorf("file output: %w", err)
	}
	s.f, s.size = f, fi.Size()
	return nil
}

// rotate moves the file to Path.1 (and older backups one further) and
// opens a new one. The current file stays open until the new one is: if
// any step fails, writes go on to the file as it is, over MaxBytes but
// with nothing lost, and the next write tries again.
func (s *File) rotate() error {
	p := s.opts.Path
	os.Remove(fmt.Sprintf("%s.%d", p, s.opts.MaxBackups))
	for i := s.opts.MaxBackups - 1; i >= 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", p, i), fmt.Sprintf("%s.%d", p, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("file output: rotate: %w", err)
		}
	}
	if err := os.Rename(p, p+".1"); err != nil {
		return fmt.Errorf("file output: rotate: %w", err)
	}
	old := s.f
	if err := s.open(); err != nil {
		// The file was renamed away: keep writing to it under its new
		// name rather than nowhere.
		return err
	}
	old.Close()
	return nil
}

// RotationFailures returns how many rotations failed; the alerts went to
// the current file instead.
func (s *File) RotationFailures() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rotateFailures
}

// Name implements Sink.
func (s *File) Name() string { return "file" }

// Send appends one JSON line, rotating first when the line would push the
// file past MaxBytes.
func (s *File) Send(_ context.Context, a *alert.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("file output: closed")
	}
	var err error
	s.buf, err = a.AppendJSON(s.buf[:0])
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	s.buf = append(s.buf, '\n')
	if s.opts.MaxBytes > 0 && s.size > 0 && s.size+int64(len(s.buf)) > s.opts.MaxBytes {
		if err := s.rotate(); err != nil {
			s.rotateFailures++ // the alert still goes to the current file
		}
	}
	n, err := s.f.Write(s.buf)
	s.size += int64(n)
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	return nil
}

// Close syncs and closes the file.
func (s *File) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Sync()
	if e := s.f.Close(); err == nil {
		err = e
	}
	s.f = nil
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	return nil
}

// HTTPOptions configures the HTTP sink.
type HTTPOptions struct {
	URL       string
	Headers   map[string]string
	UserAgent string // default "nightjar"
	Timeout   time.Duration
	// TLS is used for https URLs; nil means the system roots.
	TLS *tls.Config
	// Retries is how many times a failed POST is retried before the alert
	// counts as dropped: the first retry at once, then with a pause of 100 ms
	// more each time. Default 2.
	Retries int
	// Concurrency is how many POSTs may be in flight at once. Default 16.
	Concurrency int
}

// HTTP posts each alert as one JSON document, the way Falco's http_output
// does (Content-Type application/json, the alert object as the body). Send
// is safe for concurrent use; the fan-out runs Concurrency senders, so one
// slow or failing request does not hold up the others (alerts may then
// arrive out of order).
type HTTP struct {
	opts   HTTPOptions
	client *http.Client
	// where names the destination in errors and logs without the
	// credentials or query a URL may carry.
	where string
	bufs  sync.Pool
}

// NewHTTP returns the HTTP sink.
func NewHTTP(opts HTTPOptions) (*HTTP, error) {
	if opts.URL == "" {
		return nil, errors.New("http output: url is empty")
	}
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, errors.New("http output: url does not parse")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "nightjar"
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	} else if opts.Retries == 0 {
		opts.Retries = 2
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = opts.TLS
	tr.MaxIdleConnsPerHost = opts.Concurrency
	where := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	return &HTTP{opts: opts, client: &http.Client{Timeout: opts.Timeout, Transport: tr}, where: where}, nil
}

// Name implements Sink.
func (h *HTTP) Name() string { return "http" }

// Concurrency implements Concurrent.
func (h *HTTP) Concurrency() int { return h.opts.Concurrency }

// Send posts the alert; a non-2xx answer is an error.
func (h *HTTP) Send(ctx context.Context, a *alert.Alert) error {
	bp, _ := h.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer h.bufs.Put(bp)
	body, err := a.AppendJSON((*bp)[:0])
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	*bp = body
	var last error
	for attempt := 0; attempt <= h.opts.Retries; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(time.Duration(attempt-1) * 100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("http output: %w (last error: %v)", ctx.Err(), last)
			case <-t.C:
			}
		}
		if last = h.post(ctx, body); last == nil {
			return nil
		}
	}
	return last
}

func (h *HTTP) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.opts.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("http output: POST %s: %w", h.where, unwrapURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", h.opts.UserAgent)
	for k, v := range h.opts.Headers {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("http output: POST %s: %w", h.where, unwrapURL(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("http output: POST %s: %s", h.where, resp.Status)
	}
	return nil
}

// unwrapURL drops the *url.Error around err, whose message repeats the
// full URL, credentials included.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Close releases idle connections.
func (h *HTTP) Close(context.Context) error {
	h.client.CloseIdleConnections()
	return nil
}
