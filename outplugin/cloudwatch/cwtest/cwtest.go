// Package cwtest is a CloudWatch Logs server for tests. It speaks the AWS
// JSON 1.1 protocol the SDK uses, keeps log groups, streams and events in
// memory, rejects every PutLogEvents request that breaks the service's
// documented limits, and injects faults on demand.
package cwtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The PutLogEvents limits.
const (
	MaxBatchBytes  = 1_048_576 // sum of UTF-8 message sizes plus EventOverhead per event
	EventOverhead  = 26
	MaxBatchEvents = 10_000
	MaxEventBytes  = 1_048_576
	MaxBatchSpan   = 24 * time.Hour
	MaxAge         = 14 * 24 * time.Hour
	MaxFuture      = 2 * time.Hour
)

// Fault is a failure injected into one request.
type Fault int

const (
	// Unavailable answers 503 ServiceUnavailableException.
	Unavailable Fault = iota + 1
	// InternalError answers 500 with no error type.
	InternalError
	// Throttle answers 400 ThrottlingException.
	Throttle
	// Hang never answers; the client must time out. Nothing is stored.
	Hang
	// Drop closes the connection without an answer. Nothing is stored.
	Drop
	// AccessDenied answers 400 AccessDeniedException, a permanent error.
	AccessDenied
	// Invalid answers 400 InvalidParameterException.
	Invalid
)

// Event is a stored log event.
type Event struct {
	Timestamp int64 // milliseconds since the epoch
	Message   string
}

// Group is a stored log group.
type Group struct {
	Name      string
	KMSKeyID  string
	Class     string
	Tags      map[string]string
	Retention int
	Streams   map[string][]Event
}

// Server is the test server.
type Server struct {
	srv *http.Server
	ln  net.Listener
	// Discard makes the server validate and count events without keeping
	// them, for benchmarks.
	Discard bool
	// Now is the server's clock for the age checks; time.Now when nil.
	Now func() time.Time

	mu       sync.Mutex
	groups   map[string]*Group
	faults   map[string][]Fault
	counts   map[string]int    // requests per operation
	rejected []string          // reasons of requests refused for breaking limits
	accepted int               // events stored (or counted, with Discard)
	keys     map[string]string // access key of the last request per operation
	roles    []string          // roles assumed through STS
	quit     chan struct{}
}

// New starts a server on a loopback port.
func New() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cwtest: listen: %w", err)
	}
	s := &Server{ln: ln, groups: map[string]*Group{}, faults: map[string][]Fault{}, counts: map[string]int{}, keys: map[string]string{}, quit: make(chan struct{})}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// URL is the endpoint to give the SDK.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	close(s.quit)
	return s.srv.Close()
}

// Inject queues faults for the next requests of operation op
// ("PutLogEvents", "CreateLogStream", ...), one fault per request.
func (s *Server) Inject(op string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] = append(s.faults[op], faults...)
}

// Requests returns how many requests of op arrived, faulted ones included.
func (s *Server) Requests(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// Rejected returns the reasons of every request refused for breaking a limit.
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rejected)
}

// Accepted returns how many events were accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Events returns a copy of a stream's events.
func (s *Server) Events(group, stream string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[group]
	if g == nil {
		return nil
	}
	return slices.Clone(g.Streams[stream])
}

// Group returns a copy of a group's settings and streams.
func (s *Server) Group(name string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	if g == nil {
		return Group{}, false
	}
	c := *g
	c.Streams = map[string][]Event{}
	for k, v := range g.Streams {
		c.Streams[k] = slices.Clone(v)
	}
	return c, true
}

// apiError is an error answer in the JSON 1.1 protocol.
type apiError struct {
	status int
	typ    string
	msg    string
}

// AssumedRoleKey is the access key ID of the credentials the server's STS
// AssumeRole hands out.
const AssumedRoleKey = "ASIANIGHTJARTEST"

// AccessKey returns the access key ID that signed the last request of op.
func (s *Server) AccessKey(op string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[op]
}

// AssumedRoles returns the role ARNs requested through STS AssumeRole.
func (s *Server) AssumedRoles() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.roles)
}

// assumeRole answers STS AssumeRole (query protocol), so that role_arn can
// be tested against the same server.
func (s *Server) assumeRole(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "AssumeRole" || r.Form.Get("RoleArn") == "" {
		w.WriteHeader(400)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>only AssumeRole with a RoleArn is served</Message></Error></ErrorResponse>`)
		return
	}
	s.mu.Lock()
	s.roles = append(s.roles, r.Form.Get("RoleArn"))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>`+
		`<AccessKeyId>%s</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-token</SessionToken>`+
		`<Expiration>%s</Expiration></Credentials><AssumedRoleUser><Arn>%s/%s</Arn><AssumedRoleId>AROA:%s</AssumedRoleId></AssumedRoleUser>`+
		`</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
		AssumedRoleKey, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), r.Form.Get("RoleArn"), r.Form.Get("RoleSessionName"), r.Form.Get("RoleSessionName"))
}

// accessKey extracts the access key ID from a SigV4 Authorization header.
func accessKey(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(cred, "/")
	return key
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if target == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		s.assumeRole(w, r)
		return
	}
	op, ok := strings.CutPrefix(target, "Logs_20140328.")
	if r.Method != http.MethodPost || !ok {
		writeErr(w, apiError{400, "UnknownOperationException", "unknown target " + target})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeErr(w, apiError{400, "MissingAuthenticationTokenException", "request is not signed"})
		return
	}
	s.mu.Lock()
	s.counts[op]++
	s.keys[op] = accessKey(r.Header.Get("Authorization"))
	var fault Fault
	if q := s.faults[op]; len(q) > 0 {
		fault, s.faults[op] = q[0], q[1:]
	}
	s.mu.Unlock()

	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	switch fault {
	case Unavailable:
		writeErr(w, apiError{503, "ServiceUnavailableException", "injected outage"})
		return
	case InternalError:
		w.WriteHeader(500)
		return
	case Throttle:
		writeErr(w, apiError{400, "ThrottlingException", "Rate exceeded"})
		return
	case AccessDenied:
		writeErr(w, apiError{400, "AccessDeniedException", "User is not authorized to perform: logs:" + op})
		return
	case Invalid:
		writeErr(w, apiError{400, "InvalidParameterException", "injected invalid parameter"})
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

	var out any
	var aerr *apiError
	switch op {
	case "CreateLogGroup":
		out, aerr = s.createLogGroup(body)
	case "CreateLogStream":
		out, aerr = s.createLogStream(body)
	case "PutRetentionPolicy":
		out, aerr = s.putRetentionPolicy(body)
	case "PutLogEvents":
		out, aerr = s.putLogEvents(body)
	case "DescribeLogStreams":
		out, aerr = s.describeLogStreams(body)
	case "GetLogEvents":
		out, aerr = s.getLogEvents(body)
	default:
		aerr = &apiError{400, "UnknownOperationException", "operation " + op + " is not implemented by cwtest"}
	}
	if aerr != nil {
		writeErr(w, *aerr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func writeErr(w http.ResponseWriter, e apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.typ)
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]string{"__type": e.typ, "message": e.msg})
}

func invalid(format string, args ...any) *apiError {
	return &apiError{400, "InvalidParameterException", fmt.Sprintf(format, args...)}
}

func decode(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{400, "SerializationException", err.Error()}
	}
	return nil
}

func (s *Server) createLogGroup(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName  string            `json:"logGroupName"`
		KMSKeyID      string            `json:"kmsKeyId"`
		LogGroupClass string            `json:"logGroupClass"`
		Tags          map[string]string `json:"tags"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if e := checkGroupName(in.LogGroupName); e != nil {
		return nil, e
	}
	switch in.LogGroupClass {
	case "", "STANDARD", "INFREQUENT_ACCESS", "DELIVERY":
	default:
		return nil, invalid("invalid log group class %q", in.LogGroupClass)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups[in.LogGroupName] != nil {
		return nil, &apiError{400, "ResourceAlreadyExistsException", "The specified log group already exists"}
	}
	s.groups[in.LogGroupName] = &Group{Name: in.LogGroupName, KMSKeyID: in.KMSKeyID, Class: in.LogGroupClass, Tags: in.Tags, Streams: map[string][]Event{}}
	return struct{}{}, nil
}

func checkGroupName(n string) *apiError {
	if n == "" || len(n) > 512 {
		return invalid("log group name must be 1 to 512 characters")
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-/#", c)) {
			return invalid("log group name %q has invalid character %q", n, c)
		}
	}
	return nil
}

func (s *Server) createLogStream(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName  string `json:"logGroupName"`
		LogStreamName string `json:"logStreamName"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.LogStreamName == "" || len(in.LogStreamName) > 512 || strings.ContainsAny(in.LogStreamName, ":*") {
		return nil, invalid("invalid log stream name %q", in.LogStreamName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[in.LogGroupName]
	if g == nil {
		return nil, &apiError{400, "ResourceNotFoundException", "The specified log group does not exist."}
	}
	if _, ok := g.Streams[in.LogStreamName]; ok {
		return nil, &apiError{400, "ResourceAlreadyExistsException", "The specified log stream already exists"}
	}
	g.Streams[in.LogStreamName] = nil
	return struct{}{}, nil
}

var retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

func (s *Server) putRetentionPolicy(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName    string `json:"logGroupName"`
		RetentionInDays int    `json:"retentionInDays"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if !slices.Contains(retentionDays, in.RetentionInDays) {
		return nil, invalid("retentionInDays %d is not an allowed value", in.RetentionInDays)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[in.LogGroupName]
	if g == nil {
		return nil, &apiError{400, "ResourceNotFoundException", "The specified log group does not exist."}
	}
	g.Retention = in.RetentionInDays
	return struct{}{}, nil
}

type inputEvent struct {
	Timestamp *int64  `json:"timestamp"`
	Message   *string `json:"message"`
}

func (s *Server) putLogEvents(body []byte) (any, *apiError) {
	in, err := parsePut(body)
	if err != nil {
		return nil, &apiError{400, "SerializationException", err.Error()}
	}
	if e := s.checkBatch(in.LogEvents); e != nil {
		s.mu.Lock()
		s.rejected = append(s.rejected, e.msg)
		s.mu.Unlock()
		return nil, e
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	oldest := now.Add(-MaxAge).UnixMilli()
	newest := now.Add(MaxFuture).UnixMilli()

	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[in.LogGroupName]
	if g == nil {
		return nil, &apiError{400, "ResourceNotFoundException", "The specified log group does not exist."}
	}
	if g.Retention > 0 {
		oldest = max(oldest, now.Add(-time.Duration(g.Retention)*24*time.Hour).UnixMilli())
	}
	evs, ok := g.Streams[in.LogStreamName]
	if !ok {
		return nil, &apiError{400, "ResourceNotFoundException", "The specified log stream does not exist."}
	}
	// Events are chronological, so the too-old ones lead and the too-new
	// ones trail; both are rejected individually and the rest stored.
	tooOld, tooNew := -1, len(in.LogEvents)
	for i, e := range in.LogEvents {
		if *e.Timestamp < oldest {
			tooOld = i
		}
		if *e.Timestamp > newest && tooNew == len(in.LogEvents) {
			tooNew = i
		}
	}
	for _, e := range in.LogEvents[tooOld+1 : tooNew] {
		s.accepted++
		if !s.Discard {
			evs = append(evs, Event{Timestamp: *e.Timestamp, Message: *e.Message})
		}
	}
	g.Streams[in.LogStreamName] = evs
	out := map[string]any{}
	rej := map[string]int{}
	if tooOld >= 0 {
		rej["tooOldLogEventEndIndex"] = tooOld + 1 // exclusive, as the service reports it
	}
	if tooNew < len(in.LogEvents) {
		rej["tooNewLogEventStartIndex"] = tooNew
	}
	if len(rej) > 0 {
		out["rejectedLogEventsInfo"] = rej
	}
	return out, nil
}

// checkBatch enforces the batch limits that fail a whole request.
func (s *Server) checkBatch(evs []inputEvent) *apiError {
	if len(evs) == 0 {
		return invalid("logEvents must contain at least 1 event")
	}
	if len(evs) > MaxBatchEvents {
		return invalid("1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to %d (got %d)", MaxBatchEvents, len(evs))
	}
	size := 0
	var first, prev int64
	for i, e := range evs {
		if e.Timestamp == nil || e.Message == nil {
			return invalid("event %d lacks timestamp or message", i)
		}
		n := len(*e.Message)
		if n == 0 {
			return invalid("event %d has an empty message", i)
		}
		if !utf8.ValidString(*e.Message) {
			return invalid("event %d is not valid UTF-8", i)
		}
		if n > MaxEventBytes-EventOverhead {
			return invalid("event %d is %d bytes, over the 1 MB event limit", i, n)
		}
		size += n + EventOverhead
		ts := *e.Timestamp
		if i == 0 {
			first = ts
		} else if ts < prev {
			return invalid("Log events in a single PutLogEvents request must be in chronological order (event %d at %d after %d)", i, ts, prev)
		}
		prev = ts
	}
	if size > MaxBatchBytes {
		return invalid("Upload too large: %d bytes exceeds limit of %d", size, MaxBatchBytes)
	}
	if time.Duration(prev-first)*time.Millisecond > MaxBatchSpan {
		return invalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours (span %d ms)", prev-first)
	}
	return nil
}

func (s *Server) describeLogStreams(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName        string `json:"logGroupName"`
		LogStreamNamePrefix string `json:"logStreamNamePrefix"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[in.LogGroupName]
	if g == nil {
		return nil, &apiError{400, "ResourceNotFoundException", "The specified log group does not exist."}
	}
	type stream struct {
		LogStreamName string `json:"logStreamName"`
		StoredBytes   int    `json:"storedBytes"`
	}
	var out []stream
	for name, evs := range g.Streams {
		if strings.HasPrefix(name, in.LogStreamNamePrefix) {
			n := 0
			for _, e := range evs {
				n += len(e.Message)
			}
			out = append(out, stream{name, n})
		}
	}
	slices.SortFunc(out, func(a, b stream) int { return strings.Compare(a.LogStreamName, b.LogStreamName) })
	return map[string]any{"logStreams": out}, nil
}

func (s *Server) getLogEvents(body []byte) (any, *apiError) {
	var in struct {
		LogGroupName  string `json:"logGroupName"`
		LogStreamName string `json:"logStreamName"`
		Limit         int    `json:"limit"`
		NextToken     string `json:"nextToken"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.Limit <= 0 || in.Limit > 10000 {
		in.Limit = 10000
	}
	start := 0
	if t, ok := strings.CutPrefix(in.NextToken, "f/"); ok {
		start, _ = strconv.Atoi(t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[in.LogGroupName]
	if g == nil {
		return nil, &apiError{400, "ResourceNotFoundException", "The specified log group does not exist."}
	}
	evs, ok := g.Streams[in.LogStreamName]
	if !ok {
		return nil, &apiError{400, "ResourceNotFoundException", "The specified log stream does not exist."}
	}
	start = min(start, len(evs))
	end := min(start+in.Limit, len(evs))
	type event struct {
		Timestamp     int64  `json:"timestamp"`
		Message       string `json:"message"`
		IngestionTime int64  `json:"ingestionTime"`
	}
	out := make([]event, 0, end-start)
	for _, e := range evs[start:end] {
		out = append(out, event{e.Timestamp, e.Message, e.Timestamp})
	}
	return map[string]any{"events": out, "nextForwardToken": "f/" + strconv.Itoa(end), "nextBackwardToken": "b/" + strconv.Itoa(start)}, nil
}
