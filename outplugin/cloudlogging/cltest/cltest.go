// Package cltest is an in-process Cloud Logging server for tests: a gRPC
// LoggingServiceV2 that stores written entries, refuses requests and
// entries that break the service's documented limits, and injects faults.
package cltest

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sync"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Limits of entries.write.
const (
	MaxEntryBytes   = 256 * 1024       // one LogEntry
	MaxRequestBytes = 10 * 1024 * 1024 // one WriteLogEntries request
	MaxLabels       = 64               // labels per entry
	MaxLabelKey     = 512              // bytes per label key
	MaxLabelValue   = 64 * 1024        // bytes per label value
)

var logNameRE = regexp.MustCompile(`^(projects|organizations|folders|billingAccounts)/[^/]+/logs/[A-Za-z0-9_.\-/%]{1,512}$`)

// requiredLabels lists the monitored resource types the server accepts and
// the labels each must carry.
var requiredLabels = map[string][]string{
	"k8s_container": {"project_id", "location", "cluster_name", "namespace_name", "pod_name", "container_name"},
	"gce_instance":  {"project_id", "instance_id", "zone"},
	"generic_node":  {"project_id", "location", "namespace", "node_id"},
	"global":        {"project_id"},
}

// Server is the test server.
type Server struct {
	loggingpb.UnimplementedLoggingServiceV2Server
	grpc *grpc.Server
	ln   net.Listener
	// Discard makes the server validate and count entries without keeping
	// them, for benchmarks.
	Discard bool

	sizes sync.Map // *WriteLogEntriesRequest → wireSize, from the codec

	mu       sync.Mutex
	entries  []*loggingpb.LogEntry
	accepted int
	faults   []codes.Code
	rejected []string
	requests int
}

// New starts a server on a loopback port.
func New() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cltest: listen: %w", err)
	}
	s := &Server{ln: ln}
	// Accept a little more than the limit so that oversized requests reach
	// the handler and get the service's own answer.
	s.grpc = grpc.NewServer(grpc.MaxRecvMsgSize(MaxRequestBytes+1<<20), grpc.ForceServerCodec(sizingCodec{s}))
	loggingpb.RegisterLoggingServiceV2Server(s.grpc, s)
	go s.grpc.Serve(ln)
	return s, nil
}

// Addr is the host:port to give the client.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() { s.grpc.Stop() }

// Inject queues status codes answered to the next WriteLogEntries calls.
func (s *Server) Inject(c ...codes.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, c...)
}

// Entries returns the stored entries.
func (s *Server) Entries() []*loggingpb.LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.entries)
}

// Accepted returns how many entries were accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Rejected returns the reasons of refused requests and entries.
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rejected)
}

// Requests returns how many WriteLogEntries calls arrived.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// WriteLogEntries implements loggingpb.LoggingServiceV2Server.
func (s *Server) WriteLogEntries(ctx context.Context, req *loggingpb.WriteLogEntriesRequest) (*loggingpb.WriteLogEntriesResponse, error) {
	s.mu.Lock()
	s.requests++
	var fault codes.Code
	if len(s.faults) > 0 {
		fault, s.faults = s.faults[0], s.faults[1:]
	}
	s.mu.Unlock()
	if fault != codes.OK {
		return nil, grpcstatus.Error(fault, "injected "+fault.String())
	}
	if len(req.Entries) == 0 {
		return nil, s.reject(grpcstatus.Error(codes.InvalidArgument, "entries must not be empty"))
	}
	ws, ok := s.sizes.LoadAndDelete(req)
	if !ok || len(ws.(wireSize).entries) != len(req.Entries) {
		return nil, grpcstatus.Error(codes.Internal, "cltest: request size unknown")
	}
	size, entrySizes := ws.(wireSize).total, ws.(wireSize).entries
	bad := map[int32]*status.Status{}
	for i, e := range req.Entries {
		if err := checkEntry(req, e, entrySizes[i]); err != nil {
			bad[int32(i)] = &status.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}
		}
	}
	if size > MaxRequestBytes {
		return nil, s.reject(grpcstatus.Errorf(codes.InvalidArgument, "Request payload size exceeds the limit: %d bytes (max %d)", size, MaxRequestBytes))
	}
	if len(bad) > 0 && !req.PartialSuccess {
		return nil, s.reject(grpcstatus.Errorf(codes.InvalidArgument, "%d entries are invalid", len(bad)))
	}
	s.mu.Lock()
	for i, e := range req.Entries {
		if bad[int32(i)] != nil {
			s.rejected = append(s.rejected, bad[int32(i)].Message)
			continue
		}
		s.accepted++
		if !s.Discard {
			s.entries = append(s.entries, fill(req, e))
		}
	}
	s.mu.Unlock()
	if len(bad) > 0 {
		st, err := grpcstatus.New(codes.InvalidArgument, fmt.Sprintf("%d entries are invalid", len(bad))).
			WithDetails(&loggingpb.WriteLogEntriesPartialErrors{LogEntryErrors: bad})
		if err != nil {
			return nil, err
		}
		return nil, st.Err()
	}
	return &loggingpb.WriteLogEntriesResponse{}, nil
}

func (s *Server) reject(err error) error {
	s.mu.Lock()
	s.rejected = append(s.rejected, err.Error())
	s.mu.Unlock()
	return err
}

// fill applies the request-level defaults to an entry.
func fill(req *loggingpb.WriteLogEntriesRequest, e *loggingpb.LogEntry) *loggingpb.LogEntry {
	e = proto.Clone(e).(*loggingpb.LogEntry)
	if e.LogName == "" {
		e.LogName = req.LogName
	}
	if e.Resource == nil {
		e.Resource = req.Resource
	}
	if len(req.Labels) > 0 {
		if e.Labels == nil {
			e.Labels = map[string]string{}
		}
		for k, v := range req.Labels {
			if _, ok := e.Labels[k]; !ok {
				e.Labels[k] = v
			}
		}
	}
	return e
}

func checkEntry(req *loggingpb.WriteLogEntriesRequest, e *loggingpb.LogEntry, n int) error {
	if n > MaxEntryBytes {
		return fmt.Errorf("log entry with size %d bytes exceeds maximum size of %d", n, MaxEntryBytes)
	}
	name := e.LogName
	if name == "" {
		name = req.LogName
	}
	if !logNameRE.MatchString(name) {
		return fmt.Errorf("invalid log name %q", name)
	}
	res := e.Resource
	if res == nil {
		res = req.Resource
	}
	if res == nil {
		return fmt.Errorf("entry has no monitored resource")
	}
	want, ok := requiredLabels[res.Type]
	if !ok {
		return fmt.Errorf("unsupported monitored resource type %q", res.Type)
	}
	for _, l := range want {
		if res.Labels[l] == "" {
			return fmt.Errorf("monitored resource %s lacks label %s", res.Type, l)
		}
	}
	labels := len(e.Labels) + len(req.Labels)
	if labels > MaxLabels {
		return fmt.Errorf("entry has %d labels, limit %d", labels, MaxLabels)
	}
	for k, v := range e.Labels {
		if len(k) > MaxLabelKey || len(v) > MaxLabelValue {
			return fmt.Errorf("label %.40q too long (%d/%d bytes)", k, len(k), len(v))
		}
	}
	if e.Timestamp == nil {
		return fmt.Errorf("entry has no timestamp")
	}
	if e.GetJsonPayload() == nil && e.GetTextPayload() == "" && e.GetProtoPayload() == nil {
		return fmt.Errorf("entry has no payload")
	}
	return nil
}

// wireSize is the encoded size of a request and of each of its entries,
// read from the bytes on the wire.
type wireSize struct {
	total   int
	entries []int
}

// sizingCodec is the proto codec, plus the sizes of every incoming
// WriteLogEntriesRequest taken from its wire bytes: the size limits are
// checked exactly without re-encoding the request.
type sizingCodec struct{ s *Server }

func (sizingCodec) Name() string { return "proto" }

func (sizingCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("cltest: cannot marshal %T", v)
	}
	return proto.Marshal(m)
}

func (c sizingCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("cltest: cannot unmarshal into %T", v)
	}
	if req, ok := v.(*loggingpb.WriteLogEntriesRequest); ok {
		ws := wireSize{total: len(data)}
		for b := data; len(b) > 0; {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			if num == 4 && typ == protowire.BytesType { // entries
				v, _ := protowire.ConsumeBytes(b)
				ws.entries = append(ws.entries, len(v))
			}
			b = b[m:]
		}
		c.s.sizes.Store(req, ws)
	}
	return proto.Unmarshal(data, m)
}
