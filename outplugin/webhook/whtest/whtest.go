// Package whtest is a webhook receiver for tests. It checks every request
// against what it was told to expect (method, content type, body framing,
// required headers, size limit), keeps the records it accepted, and
// injects faults. In Falco mode it checks bodies the way falcosidekick's
// input does: one alert object per request with Falco's typed fields.
package whtest

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is a failure injected into one request.
type Fault int

const (
	// Unavailable answers 503 with Retry-After: 1.
	Unavailable Fault = iota + 1
	// Throttle answers 429 with Retry-After as an HTTP date one second ahead.
	Throttle
	// BadGateway answers 502.
	BadGateway
	// Hang never answers; the client must time out. Nothing is kept.
	Hang
	// Drop closes the connection without an answer. Nothing is kept.
	Drop
	// Unauthorized answers 401, a permanent refusal.
	Unauthorized
)

// Body framings the server expects.
const (
	JSON      = "json"       // one object per request
	JSONArray = "json_array" // an array of objects
	NDJSON    = "ndjson"     // objects, one per line
	Falco     = "falco"      // one Falco alert per request
)

// falcoPayload is the alert as Falco's consumers decode it: time must be
// an RFC 3339 time, output_fields an object, tags a list of strings.
type falcoPayload struct {
	UUID         string         `json:"uuid,omitempty"`
	Output       string         `json:"output"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Time         time.Time      `json:"time"`
	OutputFields map[string]any `json:"output_fields"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags,omitempty"`
	Hostname     string         `json:"hostname,omitempty"`
}

var falcoPriorities = []string{"emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"}

// Request is what one accepted request carried.
type Request struct {
	Header  http.Header
	Records []json.RawMessage
}

// Server is the test receiver.
type Server struct {
	*httptest.Server
	Method string            // expected method; POST when empty
	Format string            // expected body framing; JSON when empty
	Header map[string]string // headers every request must carry
	// MaxBodyBytes bounds a request body (decompressed); 413 above it.
	MaxBodyBytes int
	// Discard counts records without keeping them.
	Discard bool

	mu       sync.Mutex
	faults   []Fault
	requests []Request
	records  int
	rejected []string
	quit     chan struct{}

	closeOnce sync.Once
}

// New starts a receiver over HTTP.
func New() *Server { return start(nil) }

// NewTLS starts a receiver over HTTPS with its test certificate
// (Certificate()); clientCAs, when not nil, makes a client certificate
// signed by one of them mandatory.
func NewTLS(clientCAs *x509.CertPool) *Server {
	c := &tls.Config{}
	if clientCAs != nil {
		c.ClientCAs, c.ClientAuth = clientCAs, tls.RequireAndVerifyClientCert
	}
	return start(c)
}

func start(tc *tls.Config) *Server {
	s := &Server{MaxBodyBytes: 10 << 20, quit: make(chan struct{})}
	s.Server = httptest.NewUnstartedServer(s)
	// Refused handshakes are part of the tests; keep them out of the log.
	s.Server.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tc != nil {
		s.Server.TLS = tc
		s.StartTLS()
	} else {
		s.Start()
	}
	return s
}

// Close stops the receiver.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.Server.Close()
	})
}

// Inject queues faults for the next requests, one per request.
func (s *Server) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Requests returns the accepted requests.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Records returns every accepted record, in arrival order.
func (s *Server) Records() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []json.RawMessage
	for _, r := range s.requests {
		out = append(out, r.Records...)
	}
	return out
}

// Count returns how many records were accepted.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records
}

// Rejected returns why requests were refused.
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rejected)
}

func (s *Server) reject(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.rejected = append(s.rejected, strconv.Itoa(status)+" "+msg)
	s.mu.Unlock()
	http.Error(w, msg, status)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var fault Fault
	if len(s.faults) > 0 {
		fault, s.faults = s.faults[0], s.faults[1:]
	}
	s.mu.Unlock()
	switch fault {
	case Unavailable:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	case Throttle:
		w.Header().Set("Retry-After", time.Now().Add(time.Second).UTC().Format(http.TimeFormat))
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	case BadGateway:
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	case Unauthorized:
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
		return
	case Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
		return
	}
	method := s.Method
	if method == "" {
		method = http.MethodPost
	}
	if r.Method != method {
		s.reject(w, 405, "method %s, want %s", r.Method, method)
		return
	}
	for k, v := range s.Header {
		if r.Header.Get(k) != v {
			s.reject(w, 401, "header %s missing or wrong", k)
			return
		}
	}
	format := s.Format
	if format == "" {
		format = JSON
	}
	wantType := "application/json"
	if format == NDJSON {
		wantType = "application/x-ndjson"
	}
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); ct != wantType {
		s.reject(w, 415, "content type %q, want %s", ct, wantType)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			s.reject(w, 400, "bad gzip: %v", err)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(io.LimitReader(body, int64(s.MaxBodyBytes)+1))
	if err != nil {
		s.reject(w, 400, "read body: %v", err)
		return
	}
	if len(data) > s.MaxBodyBytes {
		s.reject(w, 413, "body over %d bytes", s.MaxBodyBytes)
		return
	}
	recs, err := parse(format, data)
	if err != nil {
		s.reject(w, 400, "%s body: %v", format, err)
		return
	}
	s.mu.Lock()
	s.records += len(recs)
	if !s.Discard {
		s.requests = append(s.requests, Request{Header: r.Header.Clone(), Records: recs})
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func parse(format string, data []byte) ([]json.RawMessage, error) {
	object := func(b []byte) (json.RawMessage, error) {
		t := bytes.TrimLeft(b, " \t\r\n")
		if len(t) == 0 || t[0] != '{' || !json.Valid(b) {
			return nil, errors.New("not a JSON object")
		}
		return json.RawMessage(bytes.Clone(b)), nil
	}
	switch format {
	case JSON:
		o, err := object(data)
		return []json.RawMessage{o}, err
	case Falco:
		var p falcoPayload
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("not a Falco payload: %w", err)
		}
		if p.Rule == "" || p.Output == "" || p.Time.IsZero() || !slices.Contains(falcoPriorities, strings.ToLower(p.Priority)) {
			return nil, errors.New("the Falco payload lacks rule, output, time or a valid priority")
		}
		return []json.RawMessage{bytes.Clone(data)}, nil
	case JSONArray:
		var arr []json.RawMessage
		if err := json.Unmarshal(data, &arr); err != nil {
			return nil, err
		}
		if len(arr) == 0 {
			return nil, errors.New("empty array")
		}
		for i, a := range arr {
			if _, err := object(a); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
		}
		return arr, nil
	case NDJSON:
		if len(data) == 0 || data[len(data)-1] != '\n' {
			return nil, errors.New("NDJSON must end with a newline")
		}
		var out []json.RawMessage
		for i, line := range bytes.Split(data[:len(data)-1], []byte("\n")) {
			o, err := object(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			out = append(out, o)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown format %q", format)
}
