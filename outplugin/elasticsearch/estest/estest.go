// Package estest is a local Elasticsearch / OpenSearch _bulk endpoint for
// tests. It enforces the bulk protocol as the services document it and
// answers per item the way they do, and it injects faults.
//
// What it enforces, from the Elasticsearch and OpenSearch documentation:
//   - The bulk body is newline-delimited JSON: an action and metadata line
//     (index, create, update or delete) followed, except for delete, by the
//     source line; "the final line of data must end with a newline
//     character" — else 400, "The bulk request must be terminated by a
//     newline [\n]".
//   - The Content-Type must be application/x-ndjson.
//   - A body larger than http.max_content_length (100mb by default; fixed
//     at 10 MiB on smaller Amazon OpenSearch Service instance types) is
//     refused with 413 Request Entity Too Large.
//   - create "indexes the specified document if it does not already exist"
//     and fails the item with 409 version_conflict_engine_exception when a
//     document with that _id exists; index replaces it.
//   - Data streams are append-only: only create is accepted ("only write ops
//     with an op_type of create are allowed in data streams") and every
//     document needs a @timestamp field.
//   - Index names are lowercase, without \ / * ? " < > | , # : or space,
//     do not start with - _ +, are not . or .., at most 255 bytes.
//   - Dynamic mapping: the first document that carries a field fixes its
//     type in the index; a later value of another type is a
//     mapper_parsing_exception (400) for that item only.
//   - Amazon OpenSearch Service (es) and Serverless (aoss) requests carry a
//     SigV4 signature, verified here by signing the received request again
//     with the SDK's signer; aoss also needs X-Amz-Content-Sha256. Expired
//     credentials answer 403 "The security token included in the request is
//     expired".
package estest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/nightjar-sec/nightjar/internal/jsontext"
)

// MaxContentLength is Elasticsearch's default http.max_content_length.
const MaxContentLength = 100 << 20

// AWSMaxContentLength is the request payload limit of the smaller Amazon
// OpenSearch Service instance types ("Request size exceeded 10485760
// bytes").
const AWSMaxContentLength = 10 << 20

// Fault is a failure injected into one _bulk request.
type Fault int

const (
	// None lets the request through.
	None Fault = iota
	// Unavailable answers 503.
	Unavailable
	// TooManyRequests answers 429 es_rejected_execution_exception.
	TooManyRequests
	// InternalError answers 500.
	InternalError
	// Hang holds the request until the client gives up.
	Hang
	// Drop closes the connection without reading the request.
	Drop
	// DropAfterWrite indexes the request, then closes the connection
	// without answering: the client cannot know the documents landed.
	DropAfterWrite
	// PartialReject indexes one item in three; the others fail with 429
	// (rejected execution) or 503 (unavailable shards).
	PartialReject
	// ExpiredToken answers 403 as AWS does for expired credentials.
	ExpiredToken
)

// Config describes the cluster the server plays.
type Config struct {
	// MaxContentLength bounds request bodies; 0 means MaxContentLength.
	MaxContentLength int
	// DataStreams are name patterns (path.Match) of data streams, as an
	// index template with a data_stream section makes them.
	DataStreams []string
	// Pipelines are the ingest pipelines that exist.
	Pipelines []string
	// Username and Password, when set, are required as basic auth.
	Username, Password string
	// APIKey, when set, is required as "Authorization: ApiKey <APIKey>".
	APIKey string
	// SigV4, when set, requires AWS signatures.
	SigV4 *SigV4
	// TLS serves HTTPS with a self-signed certificate (see CAFile).
	TLS bool
	// ClientCAs, with TLS, makes the server demand a client certificate
	// signed by one of them, as a cluster with xpack.security.http.ssl.
	// client_authentication: required does.
	ClientCAs *x509.CertPool
}

// SigV4 is what the AWS side accepts.
type SigV4 struct {
	Region  string
	Service string            // "es" or "aoss"
	Keys    map[string]string // access key ID → secret key
}

// Doc is one stored document.
type Doc struct {
	Index, ID string
	Source    json.RawMessage
}

// Server is a running test cluster.
type Server struct {
	cfg Config
	srv *httptest.Server
	dir string
	mu  sync.Mutex
	// Discard checks requests but keeps no documents (benchmarks): every
	// create succeeds.
	Discard bool

	faults    []Fault
	docs      map[string]map[string]json.RawMessage // index → id → source
	ids       map[string]map[string]bool            // index → id, also when discarding
	mappings  map[string]map[string]string          // index → field → kind
	autoID    int
	expired   map[string]bool
	rejected  []string
	requests  int
	tooLarge  int
	items     int
	gzipped   int
	pipelined int
}

// New starts a server.
func New(cfg Config) (*Server, error) {
	if cfg.MaxContentLength == 0 {
		cfg.MaxContentLength = MaxContentLength
	}
	s := &Server{cfg: cfg, docs: map[string]map[string]json.RawMessage{}, ids: map[string]map[string]bool{},
		mappings: map[string]map[string]string{}, expired: map[string]bool{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if cfg.TLS {
		if cfg.ClientCAs != nil {
			s.srv.TLS = &tls.Config{ClientCAs: cfg.ClientCAs, ClientAuth: tls.RequireAndVerifyClientCert}
		}
		s.srv.StartTLS()
		dir, err := os.MkdirTemp("", "estest")
		if err != nil {
			s.srv.Close()
			return nil, err
		}
		s.dir = dir
		cert := s.srv.TLS.Certificates[0].Certificate[0]
		if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}), 0o600); err != nil {
			s.Close()
			return nil, err
		}
		s.srv.TLS.MinVersion = tls.VersionTLS12
	} else {
		s.srv.Start()
	}
	return s, nil
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// CAFile is the path of a PEM file with the server's certificate (TLS only).
func (s *Server) CAFile() string { return filepath.Join(s.dir, "ca.pem") }

// Close stops the server.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// Inject queues faults for the next _bulk requests, one per request.
func (s *Server) Inject(f ...Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, f...)
	s.mu.Unlock()
}

// Expire makes the credentials with this access key expired.
func (s *Server) Expire(accessKey string) {
	s.mu.Lock()
	s.expired[accessKey] = true
	s.mu.Unlock()
}

// Docs returns the documents of index.
func (s *Server) Docs(index string) []Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Doc
	for id, src := range s.docs[index] {
		out = append(out, Doc{index, id, src})
	}
	return out
}

// Indices returns the names of the indices and data streams with documents.
func (s *Server) Indices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.ids {
		out = append(out, k)
	}
	return out
}

// Count returns how many documents index holds.
func (s *Server) Count(index string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids[index])
}

// Rejected returns the requests refused as protocol violations: a correct
// client never sees one.
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rejected...)
}

// Stats are request counts.
type Stats struct {
	Requests, TooLarge, Items, Gzipped int
	Pipelined                          int // requests naming an ingest pipeline
}

// Stats returns the request counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{s.requests, s.tooLarge, s.items, s.gzipped, s.pipelined}
}

func (s *Server) reject(w http.ResponseWriter, status int, typ, reason string) {
	s.mu.Lock()
	s.rejected = append(s.rejected, fmt.Sprintf("%d %s: %s", status, typ, reason))
	s.mu.Unlock()
	writeError(w, status, typ, reason)
}

func writeError(w http.ResponseWriter, status int, typ, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"root_cause":[{"type":%q,"reason":%q}],"type":%q,"reason":%q},"status":%d}`, typ, reason, typ, reason, status)
}

func awsError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":%q}`, msg)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	pathIndex, isBulk := strings.CutSuffix(r.URL.Path, "/_bulk")
	pathIndex = strings.TrimPrefix(pathIndex, "/")
	if !isBulk || strings.Contains(pathIndex, "/") {
		s.reject(w, http.StatusBadRequest, "invalid_request", "no handler for "+r.Method+" "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		s.reject(w, http.StatusMethodNotAllowed, "method_not_allowed", "Incorrect HTTP method for uri [/_bulk] and method ["+r.Method+"], allowed: [POST, PUT]")
		return
	}
	s.mu.Lock()
	s.requests++
	f := None
	if len(s.faults) > 0 {
		f, s.faults = s.faults[0], s.faults[1:]
	}
	s.mu.Unlock()
	switch f {
	case Unavailable:
		writeError(w, http.StatusServiceUnavailable, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];")
		return
	case TooManyRequests:
		writeError(w, http.StatusTooManyRequests, "es_rejected_execution_exception", "rejected execution of coordinating operation")
		return
	case InternalError:
		writeError(w, http.StatusInternalServerError, "internal_server_error", "injected")
		return
	case Hang:
		// The server notices the client going away only once the body
		// is read.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	case Drop:
		hijackClose(w)
		return
	case ExpiredToken:
		awsError(w, http.StatusForbidden, "The security token included in the request is expired")
		return
	}

	tooLarge := func() {
		s.mu.Lock()
		s.tooLarge++
		s.mu.Unlock()
		if s.cfg.SigV4 != nil {
			awsError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request size exceeded %d bytes", s.cfg.MaxContentLength))
		} else {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		}
	}
	raw, err := readBody(r.Body, r.ContentLength, s.cfg.MaxContentLength)
	if err != nil {
		writeError(w, http.StatusBadRequest, "parse_exception", err.Error())
		return
	}
	if len(raw) > s.cfg.MaxContentLength {
		tooLarge()
		return
	}
	// The signature covers the bytes sent, compressed or not.
	if !s.authorized(w, r, raw) {
		return
	}
	body := raw
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			// The limit applies to the decoded content too.
			body, err = readBody(zr, 0, s.cfg.MaxContentLength)
		}
		if err != nil {
			s.reject(w, http.StatusBadRequest, "parse_exception", "bad gzip body: "+err.Error())
			return
		}
		if len(body) > s.cfg.MaxContentLength {
			tooLarge()
			return
		}
		s.mu.Lock()
		s.gzipped++
		s.mu.Unlock()
	default:
		s.reject(w, http.StatusBadRequest, "illegal_argument_exception", "unsupported Content-Encoding "+enc)
		return
	}
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(ct) != "application/x-ndjson" {
		s.reject(w, http.StatusNotAcceptable, "media_type_header_exception", "Content-Type header ["+r.Header.Get("Content-Type")+"] is not supported")
		return
	}
	if len(body) == 0 {
		s.reject(w, http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
		return
	}
	if body[len(body)-1] != '\n' {
		s.reject(w, http.StatusBadRequest, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
		return
	}
	ops, perr := parseBulk(body, pathIndex)
	if perr != "" {
		s.reject(w, http.StatusBadRequest, "x_content_parse_exception", perr)
		return
	}
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "pipeline", "refresh", "routing", "timeout", "wait_for_active_shards", "require_alias", "filter_path", "pretty":
		default:
			s.reject(w, http.StatusBadRequest, "illegal_argument_exception", "request [/_bulk] contains unrecognized parameter: ["+k+"]")
			return
		}
	}
	pipeline := q.Get("pipeline")
	if pipeline != "" {
		s.mu.Lock()
		s.pipelined++
		s.mu.Unlock()
	}
	resp := s.apply(ops, f == PartialReject, pipeline, parseFilter(q.Get("filter_path")))
	if f == DropAfterWrite {
		hijackClose(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Write(resp)
}

// readBody reads at most limit+1 bytes of the body.
func readBody(r io.Reader, length int64, limit int) ([]byte, error) {
	size := 512
	if length > 0 {
		size = int(min(length, int64(limit))) + 1
	}
	b := bytes.NewBuffer(make([]byte, 0, size))
	_, err := b.ReadFrom(io.LimitReader(r, int64(limit)+1))
	return b.Bytes(), err
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
		}
	}
}

type op struct {
	action, index, id string
	source            json.RawMessage
}

// parseBulk splits an NDJSON bulk body into operations; a non-empty
// string is the parse error.
func parseBulk(body []byte, pathIndex string) ([]op, string) {
	var ops []op
	line := 0
	next := func() ([]byte, bool) {
		if len(body) == 0 {
			return nil, false
		}
		i := bytes.IndexByte(body, '\n')
		l := body[:i] // the body ends with a newline
		body = body[i+1:]
		line++
		return l, true
	}
	for {
		raw, ok := next()
		if !ok {
			break
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		outer, err := topLevel(raw)
		if err != nil || len(outer) != 1 || outer[0].kind != "object" {
			return nil, fmt.Sprintf("line [%d]: malformed action/metadata line, expected an object with one action", line)
		}
		o := op{action: outer[0].name}
		meta, _ := topLevel(outer[0].raw)
		for _, f := range meta {
			var v string
			if f.kind != "keyword" || json.Unmarshal(f.raw, &v) != nil {
				continue
			}
			switch f.name {
			case "_index":
				o.index = v
			case "_id":
				o.id = v
			}
		}
		switch o.action {
		case "index", "create", "update", "delete":
		default:
			return nil, fmt.Sprintf("line [%d]: Malformed action/metadata line, expected one of [create, delete, index, update] but found [%s]", line, o.action)
		}
		if o.index == "" {
			o.index = pathIndex
		}
		if o.index == "" {
			return nil, fmt.Sprintf("line [%d]: index is missing", line)
		}
		if o.action != "delete" {
			src, ok := next()
			if !ok {
				return nil, fmt.Sprintf("line [%d]: the source line of the %s action is missing", line, o.action)
			}
			if t := bytes.TrimSpace(src); len(t) == 0 || t[0] != '{' {
				return nil, fmt.Sprintf("line [%d]: source is not a JSON object", line)
			}
			o.source = src // validated when applied
		}
		ops = append(ops, o)
	}
	return ops, ""
}

func (s *Server) isDataStream(name string) bool {
	for _, p := range s.cfg.DataStreams {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

type itemResult struct {
	Index, ID string
	Version   int
	Result    string
	Status    int
	Error     *itemErrorBody
}

type itemErrorBody struct{ Type, Reason string }

func (s *Server) apply(ops []op, partial bool, pipeline string, filter fieldFilter) []byte {
	start := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items += len(ops)
	results := make([]itemResult, len(ops))
	for i, o := range ops {
		if pipeline != "" && !slices.Contains(s.cfg.Pipelines, pipeline) {
			results[i] = fail(itemResult{Index: o.index, ID: o.id}, 400, "illegal_argument_exception", "pipeline with id ["+pipeline+"] does not exist")
		} else {
			results[i] = s.applyOne(o, partial, i)
		}
	}
	return respond(results, ops, time.Since(start), filter)
}

// fieldFilter is the response filtering of filter_path, for the paths
// bulk clients use: top-level names and items.*.<field>.
type fieldFilter struct {
	top, item map[string]bool // nil keeps everything
}

func parseFilter(fp string) fieldFilter {
	if fp == "" {
		return fieldFilter{}
	}
	f := fieldFilter{top: map[string]bool{}}
	for _, p := range strings.Split(fp, ",") {
		parts := strings.SplitN(strings.TrimSpace(p), ".", 3)
		f.top[parts[0]] = true
		if parts[0] == "items" && len(parts) == 3 && parts[1] == "*" {
			if f.item == nil {
				f.item = map[string]bool{}
			}
			name, _, _ := strings.Cut(parts[2], ".")
			f.item[name] = true
		}
	}
	return f
}

func (f fieldFilter) keepTop(k string) bool  { return f.top == nil || f.top[k] }
func (f fieldFilter) keepItem(k string) bool { return f.item == nil || f.item[k] }

// respond writes the _bulk answer, filtered as filter_path asks.
func respond(results []itemResult, ops []op, took time.Duration, f fieldFilter) []byte {
	errorsSeen := false
	for _, r := range results {
		errorsSeen = errorsSeen || r.Error != nil
	}
	out := make([]byte, 0, 64+len(results)*160)
	out = append(out, '{')
	sep := func(b []byte, first *bool) []byte {
		if !*first {
			b = append(b, ',')
		}
		*first = false
		return b
	}
	first := true
	if f.keepTop("took") {
		out = sep(out, &first)
		out = strconv.AppendInt(append(out, `"took":`...), took.Milliseconds(), 10)
	}
	if f.keepTop("errors") {
		out = sep(out, &first)
		out = strconv.AppendBool(append(out, `"errors":`...), errorsSeen)
	}
	if f.keepTop("items") {
		out = sep(out, &first)
		out = append(out, `"items":[`...)
		for i, res := range results {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"`...)
			out = append(out, ops[i].action...)
			out = append(out, `":{`...)
			fi := true
			str := func(k, v string) {
				if f.keepItem(k) {
					out = sep(out, &fi)
					out = jsontext.AppendString(append(jsontext.AppendString(out, k), ':'), v)
				}
			}
			num := func(k string, v int) {
				if f.keepItem(k) {
					out = sep(out, &fi)
					out = strconv.AppendInt(append(jsontext.AppendString(out, k), ':'), int64(v), 10)
				}
			}
			str("_index", res.Index)
			str("_id", res.ID)
			if res.Error == nil {
				num("_version", res.Version)
				str("result", res.Result)
				if f.keepItem("_shards") {
					out = sep(out, &fi)
					out = append(out, `"_shards":{"total":2,"successful":1,"failed":0}`...)
				}
			}
			num("status", res.Status)
			if res.Error != nil && f.keepItem("error") {
				out = sep(out, &fi)
				out = append(out, `"error":{"type":`...)
				out = jsontext.AppendString(out, res.Error.Type)
				out = append(out, `,"reason":`...)
				out = jsontext.AppendString(out, res.Error.Reason)
				out = append(out, '}')
			}
			out = append(out, "}}"...)
		}
		out = append(out, ']')
	}
	return append(out, '}')
}

func fail(res itemResult, status int, typ, reason string) itemResult {
	res.Status = status
	res.Error = &itemErrorBody{typ, reason}
	return res
}

func (s *Server) applyOne(o op, partial bool, i int) itemResult {
	res := itemResult{Index: o.index, ID: o.id}
	if reason := invalidIndex(o.index); reason != "" {
		return fail(res, 400, "invalid_index_name_exception", "Invalid index name ["+o.index+"], "+reason)
	}
	if partial {
		switch i % 3 {
		case 1:
			return fail(res, 429, "es_rejected_execution_exception", "rejected execution of primary operation")
		case 2:
			return fail(res, 503, "unavailable_shards_exception", "primary shard is not active")
		}
	}
	ds := s.isDataStream(o.index)
	if ds && o.action != "create" {
		return fail(res, 400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams")
	}
	if o.action == "update" || o.action == "delete" {
		return fail(res, 400, "illegal_argument_exception", "this test server implements index and create only")
	}
	fields, err := topLevel(o.source)
	if err != nil {
		return fail(res, 400, "mapper_parsing_exception", "failed to parse: "+err.Error())
	}
	if ds {
		if !slices.ContainsFunc(fields, func(f field) bool { return f.name == "@timestamp" }) {
			return fail(res, 400, "document_parsing_exception", "data stream timestamp field [@timestamp] is missing")
		}
	}
	mapping := s.mappings[o.index]
	for _, f := range fields {
		if want, ok := mapping[f.name]; ok && f.kind != "null" && f.kind != want {
			return fail(res, 400, "mapper_parsing_exception", fmt.Sprintf("failed to parse field [%s] of type [%s]", f.name, want))
		}
	}
	if mapping == nil {
		mapping = map[string]string{}
		s.mappings[o.index] = mapping
	}
	for _, f := range fields {
		if f.kind != "null" {
			if _, ok := mapping[f.name]; !ok {
				mapping[f.name] = f.kind
			}
		}
	}
	if o.id == "" {
		s.autoID++
		o.id = fmt.Sprintf("auto-%d", s.autoID)
		res.ID = o.id
	}
	ids := s.ids[o.index]
	if ids == nil {
		ids = map[string]bool{}
		s.ids[o.index] = ids
		s.docs[o.index] = map[string]json.RawMessage{}
	}
	status, result := 201, "created"
	if s.Discard {
		res.Status, res.Result, res.Version = status, result, 1
		return res
	}
	if ids[o.id] {
		if o.action == "create" {
			return fail(res, 409, "version_conflict_engine_exception", "["+o.id+"]: version conflict, document already exists (current version [1])")
		}
		status, result = 200, "updated"
	}
	ids[o.id] = true
	s.docs[o.index][o.id] = o.source
	res.Status, res.Result, res.Version = status, result, 1
	return res
}

// field is a top-level field of a document, the kind of its value and the
// value's JSON.
type field struct {
	name, kind string
	raw        []byte
}

// topLevel validates a JSON object and returns its top-level fields, the
// part of the document dynamic mapping looks at here.
func topLevel(src []byte) ([]field, error) {
	if !json.Valid(src) {
		return nil, errors.New("invalid JSON")
	}
	b := bytes.TrimSpace(src)
	if len(b) == 0 || b[0] != '{' {
		return nil, errors.New("not an object")
	}
	var out []field
	i := skipSpace(b, 1)
	for i < len(b) && b[i] != '}' {
		end := skipString(b, i)
		name := string(b[i+1 : end-1])
		if strings.IndexByte(name, '\\') >= 0 {
			json.Unmarshal(b[i:end], &name)
		}
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // the colon
		end = skipValue(b, i)
		out = append(out, field{name, kindOf(b[i]), b[i:end]})
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return out, nil
}

func kindOf(c byte) string {
	switch c {
	case '"':
		return "keyword"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "long"
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i].
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the valid JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			i = skipString(b, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
			if depth < 0 {
				return i
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

func invalidIndex(n string) string {
	switch {
	case n != strings.ToLower(n):
		return "must be lowercase"
	case strings.ContainsAny(n, `\/*?"<>|,#: `):
		return `must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?, #, :]`
	case strings.IndexAny(n, "-_+") == 0:
		return "must not start with '_', '-', or '+'"
	case n == "." || n == "..":
		return "must not be '.' or '..'"
	case len(n) > 255:
		return "index name is too long, (" + fmt.Sprint(len(n)) + " > 255)"
	}
	return ""
}

// authorized checks the configured authentication and answers the
// failure itself.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, body []byte) bool {
	switch {
	case s.cfg.Username != "":
		u, p, ok := r.BasicAuth()
		if !ok || u != s.cfg.Username || p != s.cfg.Password {
			writeError(w, http.StatusUnauthorized, "security_exception", "unable to authenticate user ["+u+"] for REST request [/_bulk]")
			s.noteRejected("basic auth refused")
			return false
		}
	case s.cfg.APIKey != "":
		if r.Header.Get("Authorization") != "ApiKey "+s.cfg.APIKey {
			writeError(w, http.StatusUnauthorized, "security_exception", "unable to authenticate with provided credentials and anonymous access is not allowed for this request")
			s.noteRejected("api key refused")
			return false
		}
	case s.cfg.SigV4 != nil:
		if status, msg := s.verifySigV4(r, body); status != 0 {
			awsError(w, status, msg)
			if !strings.Contains(msg, "expired") {
				s.noteRejected(msg)
			}
			return false
		}
	}
	return true
}

func (s *Server) noteRejected(msg string) {
	s.mu.Lock()
	s.rejected = append(s.rejected, msg)
	s.mu.Unlock()
}

// verifySigV4 signs a copy of r with the secret of the access key it
// names and compares the signatures.
func (s *Server) verifySigV4(r *http.Request, body []byte) (int, string) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return http.StatusForbidden, "Missing Authentication Token"
	}
	var cred, signedHeaders string
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signedHeaders = v
		}
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return http.StatusForbidden, "Authorization header requires 'Credential' parameter."
	}
	akid, region, service := scope[0], scope[2], scope[3]
	s.mu.Lock()
	secret, known := s.cfg.SigV4.Keys[akid]
	expired := s.expired[akid]
	s.mu.Unlock()
	if !known {
		return http.StatusForbidden, "The security token included in the request is invalid."
	}
	if expired {
		return http.StatusForbidden, "The security token included in the request is expired"
	}
	if region != s.cfg.SigV4.Region || service != s.cfg.SigV4.Service {
		return http.StatusForbidden, fmt.Sprintf("Credential should be scoped to a valid region and service: %s/%s, not %s/%s", s.cfg.SigV4.Region, s.cfg.SigV4.Service, region, service)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != hash {
		return http.StatusBadRequest, "The provided 'x-amz-content-sha256' header does not match what was computed."
	} else if h == "" && service == "aoss" {
		return http.StatusForbidden, "x-amz-content-sha256 header is required for OpenSearch Serverless"
	}
	t, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return http.StatusForbidden, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
	}
	if d := time.Since(t); d > 5*time.Minute || d < -5*time.Minute {
		return http.StatusForbidden, "Signature expired: " + r.Header.Get("X-Amz-Date") + " is now earlier or later than 5 minutes from now"
	}
	again, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	again.Host = r.Host
	for _, h := range strings.Split(signedHeaders, ";") {
		switch h {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	again.Header.Del("Authorization")
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hash, service, region, t); err != nil {
		return http.StatusInternalServerError, err.Error()
	}
	if again.Header.Get("Authorization") != auth {
		return http.StatusForbidden, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
	}
	return 0, ""
}

// CredentialsServer serves AWS container credentials (what the ECS agent
// serves a task role at AWS_CONTAINER_CREDENTIALS_FULL_URI). Each request
// gets the current key; Rotate switches to the next.
type CredentialsServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys []string
	cur  int
	hits int
}

// NewCredentialsServer serves the given access keys in turn, each with
// secret "secret-"+key.
func NewCredentialsServer(keys ...string) *CredentialsServer {
	c := &CredentialsServer{keys: keys}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		k := c.keys[c.cur]
		c.hits++
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"AccessKeyId":%q,"SecretAccessKey":%q,"Token":"token-%s","Expiration":%q,"RoleArn":"arn:aws:iam::111122223333:role/task"}`,
			k, "secret-"+k, k, time.Now().Add(6*time.Hour).UTC().Format(time.RFC3339))
	}))
	return c
}

// URL is the full URI to put in AWS_CONTAINER_CREDENTIALS_FULL_URI.
func (c *CredentialsServer) URL() string { return c.srv.URL + "/v2/credentials/task" }

// Rotate makes the next key current.
func (c *CredentialsServer) Rotate() {
	c.mu.Lock()
	c.cur = min(c.cur+1, len(c.keys)-1)
	c.mu.Unlock()
}

// Hits returns how many times credentials were fetched.
func (c *CredentialsServer) Hits() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits
}

// Close stops the server.
func (c *CredentialsServer) Close() { c.srv.Close() }

// Validate checks body as the server would before applying it: the bulk
// framing, the action lines, the sources and the index names. It returns
// the number of operations.
func Validate(body []byte) (int, error) {
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return 0, fmt.Errorf("the bulk request must be terminated by a newline")
	}
	ops, perr := parseBulk(body, "")
	if perr != "" {
		return 0, fmt.Errorf("%s", perr)
	}
	for i, o := range ops {
		if reason := invalidIndex(o.index); reason != "" {
			return 0, fmt.Errorf("operation %d: invalid index name [%s], %s", i, o.index, reason)
		}
	}
	return len(ops), nil
}
