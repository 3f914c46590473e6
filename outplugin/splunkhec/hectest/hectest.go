// Package hectest is a Splunk HTTP Event Collector for tests. It serves
// /services/collector/event and /services/collector/ack as Splunk does:
// token authentication, concatenated JSON event objects, gzip, the
// request content limit, index permissions, per-channel indexer
// acknowledgement, and HEC's status codes, including the index of the
// first invalid event of a batch. Faults are injected on demand.
package hectest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// DefaultMaxContentLength is Splunk Cloud Platform's HEC limit on the
// content of one request: 1 MB, counted here as 1,048,576 bytes of the
// decompressed body (and of the body as sent).
const DefaultMaxContentLength = 1 << 20

// HEC status codes, as Splunk documents them ("Troubleshoot HTTP Event
// Collector": code, text, HTTP status).
const (
	codeSuccess         = 0  // 200 Success
	codeTokenDisabled   = 1  // 403 Token disabled
	codeTokenRequired   = 2  // 401 Token is required
	codeInvalidAuth     = 3  // 401 Invalid authorization
	codeInvalidToken    = 4  // 403 Invalid token
	codeNoData          = 5  // 400 No data
	codeInvalidFormat   = 6  // 400 Invalid data format
	codeIncorrectIndex  = 7  // 400 Incorrect index
	codeInternalError   = 8  // 500 Internal server error
	codeServerBusy      = 9  // 503 Server is busy
	codeChannelMissing  = 10 // 400 Data channel is missing
	codeInvalidChannel  = 11 // 400 Invalid data channel
	codeEventRequired   = 12 // 400 Event field is required
	codeEventBlank      = 13 // 400 Event field cannot be blank
	codeAckDisabled     = 14 // 400 ACK is disabled
	codeIndexedFieldErr = 15 // 400 Error in handling indexed fields
)

// Fault is a failure injected into one event request.
type Fault int

const (
	// Busy answers 503 with code 9, "Server is busy".
	Busy Fault = iota + 1
	// Throttle answers 429 Too Many Requests with Retry-After: 1, as a
	// load balancer in front of Splunk Cloud does.
	Throttle
	// InternalError answers 500 with code 8.
	InternalError
	// Hang never answers; the client must time out. Nothing is indexed.
	Hang
	// Drop closes the connection without an answer. Nothing is indexed.
	Drop
	// ExpireToken revokes the token before the request: it and every later
	// request get 403 code 4, "Invalid token".
	ExpireToken
	// LoseAck accepts the request and returns an ackId that never becomes
	// true: the events are lost before indexing, as in an indexer crash.
	LoseAck
)

// Event is one indexed event.
type Event struct {
	Time       float64
	Host       string
	Source     string
	Sourcetype string
	Index      string
	Event      json.RawMessage
	Fields     map[string]any
	Channel    string
}

// Server is the test collector.
type Server struct {
	*httptest.Server
	// Token is the valid HEC token.
	Token string
	// Indexes the token may write to; "main" is the default index.
	Indexes []string
	// Ack enables indexer acknowledgement on the token; every request then
	// needs a channel.
	Ack bool
	// AckPolls is how many ack queries report an ackId as false before it
	// turns true.
	AckPolls int
	// MaxContentLength bounds a request's content; DefaultMaxContentLength
	// when 0.
	MaxContentLength int
	// Discard validates and counts events without keeping them.
	Discard bool

	mu       sync.Mutex
	expired  bool
	faults   []Fault
	events   []Event
	pending  map[string]map[int64]*pendingAck // channel → ackId
	nextAck  map[string]int64
	requests int
	gzipped  int
	rejected []string
	accepted int
	quit     chan struct{}

	closeOnce sync.Once
}

type pendingAck struct {
	polls int
	lost  bool
}

// New starts a collector over plain HTTP on a loopback port.
func New(token string) *Server { return start(token, false) }

// NewTLS starts a collector over HTTPS; Certificate() is its certificate.
func NewTLS(token string) *Server { return start(token, true) }

func start(token string, tls bool) *Server {
	s := &Server{Token: token, Indexes: []string{"main"}, AckPolls: 1, pending: map[string]map[int64]*pendingAck{}, nextAck: map[string]int64{}, quit: make(chan struct{})}
	s.Server = httptest.NewUnstartedServer(s)
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	return s
}

// Close stops the server.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.Server.Close()
	})
}

// Inject queues faults for the next event requests, one per request.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// Events returns the indexed events.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Accepted returns how many events were indexed (kept or discarded).
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Requests returns how many event requests arrived and how many of them
// were gzip-compressed.
func (s *Server) Requests() (all, gzipped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.gzipped
}

// Rejected returns why requests were refused for breaking the protocol or
// a limit (not for injected faults or bad tokens).
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rejected)
}

type reply struct {
	Text         string `json:"text"`
	Code         int    `json:"code"`
	InvalidEvent *int   `json:"invalid-event-number,omitempty"`
	AckID        *int64 `json:"ackId,omitempty"`
}

func write(w http.ResponseWriter, status int, r reply) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(r)
}

// reject answers a protocol or limit violation and remembers it.
func (s *Server) reject(w http.ResponseWriter, status int, r reply) {
	s.mu.Lock()
	s.rejected = append(s.rejected, fmt.Sprintf("%d %d %s", status, r.Code, r.Text))
	s.mu.Unlock()
	write(w, status, r)
}

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/services/collector/event", "/services/collector/event/1.0", "/services/collector":
	case "/services/collector/ack":
		s.serveAck(w, r)
		return
	case "/services/collector/health":
		write(w, 200, reply{Text: "HEC is healthy", Code: 17})
		return
	default:
		s.reject(w, 404, reply{Text: "The requested URL was not found on this server.", Code: 404})
		return
	}
	if r.Method != http.MethodPost {
		s.reject(w, 405, reply{Text: "Method not allowed", Code: 405})
		return
	}
	s.mu.Lock()
	s.requests++
	var fault Fault
	if len(s.faults) > 0 {
		fault, s.faults = s.faults[0], s.faults[1:]
	}
	if fault == ExpireToken {
		s.expired = true
	}
	s.mu.Unlock()

	if !s.authorised(w, r) {
		return
	}
	switch fault {
	case Busy:
		write(w, 503, reply{Text: "Server is busy", Code: codeServerBusy})
		return
	case Throttle:
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(429)
		io.WriteString(w, "Too Many Requests")
		return
	case InternalError:
		write(w, 500, reply{Text: "Internal server error", Code: codeInternalError})
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

	channel := r.Header.Get("X-Splunk-Request-Channel")
	if channel == "" {
		channel = r.URL.Query().Get("channel")
	}
	if s.Ack || channel != "" {
		if channel == "" {
			s.reject(w, 400, reply{Text: "Data channel is missing", Code: codeChannelMissing})
			return
		}
		if !guid.MatchString(channel) {
			s.reject(w, 400, reply{Text: "Invalid data channel", Code: codeInvalidChannel})
			return
		}
	}
	limit := s.MaxContentLength
	if limit == 0 {
		limit = DefaultMaxContentLength
	}
	if r.ContentLength > int64(limit) {
		s.reject(w, 413, reply{Text: "Content-Length of " + strconv.FormatInt(r.ContentLength, 10) + " too large (maximum is " + strconv.Itoa(limit) + ")", Code: 413})
		return
	}
	var body io.Reader = io.LimitReader(r.Body, int64(limit)+1)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			s.reject(w, 400, reply{Text: "Invalid data format", Code: codeInvalidFormat})
			return
		}
		body = zr
		s.mu.Lock()
		s.gzipped++
		s.mu.Unlock()
	}
	data, err := io.ReadAll(io.LimitReader(body, int64(limit)+1))
	if err != nil {
		s.reject(w, 400, reply{Text: "Invalid data format", Code: codeInvalidFormat})
		return
	}
	if len(data) > limit {
		s.reject(w, 413, reply{Text: "Content too large (maximum is " + strconv.Itoa(limit) + ")", Code: 413})
		return
	}
	events, bad, code := s.parse(data, channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Events before an invalid one are indexed, as Splunk does; the rest
	// of the request is not.
	if fault == LoseAck {
		events = nil
	} else {
		s.keep(events)
	}
	if code != codeSuccess {
		text := map[int]string{codeNoData: "No data", codeInvalidFormat: "Invalid data format", codeIncorrectIndex: "Incorrect index",
			codeEventRequired: "Event field is required", codeEventBlank: "Event field cannot be blank", codeIndexedFieldErr: "Error in handling indexed fields"}[code]
		rep := reply{Text: text, Code: code}
		if code != codeNoData {
			rep.InvalidEvent = &bad
		}
		write(w, 400, rep)
		return
	}
	rep := reply{Text: "Success", Code: codeSuccess}
	if s.Ack {
		id := s.nextAck[channel]
		s.nextAck[channel]++
		if s.pending[channel] == nil {
			s.pending[channel] = map[int64]*pendingAck{}
		}
		s.pending[channel][id] = &pendingAck{lost: fault == LoseAck}
		rep.AckID = &id
	}
	write(w, 200, rep)
}

func (s *Server) keep(events []Event) {
	s.accepted += len(events)
	if !s.Discard {
		s.events = append(s.events, events...)
	}
}

// authorised checks "Authorization: Splunk <token>" and answers when it
// fails.
func (s *Server) authorised(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if h == "" {
		write(w, 401, reply{Text: "Token is required", Code: codeTokenRequired})
		return false
	}
	tok, ok := strings.CutPrefix(h, "Splunk ")
	if !ok {
		write(w, 401, reply{Text: "Invalid authorization", Code: codeInvalidAuth})
		return false
	}
	s.mu.Lock()
	expired := s.expired
	s.mu.Unlock()
	if tok != s.Token || expired {
		write(w, 403, reply{Text: "Invalid token", Code: codeInvalidToken})
		return false
	}
	return true
}

// wireEvent is one event object as sent; unknown keys are refused.
type wireEvent struct {
	Time       json.RawMessage `json:"time"`
	Host       string          `json:"host"`
	Source     string          `json:"source"`
	Sourcetype string          `json:"sourcetype"`
	Index      string          `json:"index"`
	Event      json.RawMessage `json:"event"`
	Fields     map[string]any  `json:"fields"`
}

// parse decodes concatenated event objects. It returns the valid events
// before the first invalid one, that one's index and the code.
func (s *Server) parse(data []byte, channel string) ([]Event, int, int) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var out []Event
	for i := 0; ; i++ {
		var w wireEvent
		err := dec.Decode(&w)
		if errors.Is(err, io.EOF) {
			if i == 0 {
				return nil, 0, codeNoData
			}
			return out, 0, codeSuccess
		}
		if err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && (te.Field == "fields" || strings.HasPrefix(te.Field, "fields.")) {
				return out, i, codeIndexedFieldErr
			}
			return out, i, codeInvalidFormat
		}
		ev, code := s.event(w)
		if code != codeSuccess {
			return out, i, code
		}
		ev.Channel = channel
		out = append(out, ev)
	}
}

func (s *Server) event(w wireEvent) (Event, int) {
	ev := Event{Host: w.Host, Source: w.Source, Sourcetype: w.Sourcetype, Index: w.Index, Fields: w.Fields}
	if w.Event == nil {
		return ev, codeEventRequired
	}
	if t := bytes.TrimSpace(w.Event); len(t) == 0 || string(t) == `""` || string(t) == "null" {
		return ev, codeEventBlank
	}
	ev.Event = w.Event
	if w.Time != nil {
		// Epoch seconds, a number or a numeric string.
		var n json.Number
		if err := json.Unmarshal(w.Time, &n); err != nil {
			var str string
			if json.Unmarshal(w.Time, &str) != nil {
				return ev, codeInvalidFormat
			}
			n = json.Number(str)
		}
		f, err := n.Float64()
		if err != nil {
			return ev, codeInvalidFormat
		}
		ev.Time = f
	}
	if ev.Index == "" {
		ev.Index = "main"
	}
	if !slices.Contains(s.Indexes, ev.Index) {
		return ev, codeIncorrectIndex
	}
	// Indexed fields: a flat object of strings or arrays of strings.
	for _, v := range ev.Fields {
		switch v := v.(type) {
		case string:
		case []any:
			for _, e := range v {
				if _, ok := e.(string); !ok {
					return ev, codeIndexedFieldErr
				}
			}
		default:
			return ev, codeIndexedFieldErr
		}
	}
	return ev, codeSuccess
}

// serveAck answers {"acks":[ids]} with {"acks":{"id":bool}}. An ackId
// turns true after AckPolls queries, and its events are indexed then.
func (s *Server) serveAck(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.reject(w, 405, reply{Text: "Method not allowed", Code: 405})
		return
	}
	if !s.authorised(w, r) {
		return
	}
	if !s.Ack {
		write(w, 400, reply{Text: "ACK is disabled", Code: codeAckDisabled})
		return
	}
	channel := r.Header.Get("X-Splunk-Request-Channel")
	if channel == "" {
		channel = r.URL.Query().Get("channel")
	}
	if channel == "" {
		s.reject(w, 400, reply{Text: "Data channel is missing", Code: codeChannelMissing})
		return
	}
	var q struct {
		Acks []int64 `json:"acks"`
	}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil || q.Acks == nil {
		s.reject(w, 400, reply{Text: "Invalid data format", Code: codeInvalidFormat})
		return
	}
	s.mu.Lock()
	out := map[string]bool{}
	for _, id := range q.Acks {
		p := s.pending[channel][id]
		done := false
		if p != nil && !p.lost {
			p.polls++
			done = p.polls > s.AckPolls
		}
		out[strconv.FormatInt(id, 10)] = done
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(map[string]any{"acks": out})
}
