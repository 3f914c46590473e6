// Package webhook is the HTTP destination: it posts alerts to a URL one
// per request, as a JSON array or as NDJSON per batch, or exactly as
// Falco's http_output does, so that tools built for Falco receive them
// unchanged. Headers may come from env(); 429 and 5xx answers are retried
// honouring Retry-After. URLs are never logged with credentials.
package webhook

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
)

// Type is the destination type name in routes.hcl.
const Type = "webhook"

// Register adds the webhook type to reg.
func Register(reg *destination.Registry) { reg.Register(Type, New) }

// Format is how records become request bodies.
type Format int

const (
	// JSON posts each record as one JSON object.
	JSON Format = iota
	// JSONArray posts a batch as one JSON array.
	JSONArray
	// NDJSON posts a batch as newline-delimited JSON objects.
	NDJSON
	// Falco posts each alert as Falco's http_output does: its JSON alert
	// object (the fields Falco writes), application/json, Falco's
	// user agent.
	Falco
)

// falcoKeys are the fields of Falco's JSON output, in the order Falco
// writes them.
var falcoKeys = []string{"hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time"}

// FalcoUserAgent is the User-Agent of Falco's http_output.
const FalcoUserAgent = "falcosecurity/falco"

type settings struct {
	URL             string            `hcl:"url"`
	Method          string            `hcl:"method,optional"`
	Format          string            `hcl:"format,optional"`
	Headers         map[string]string `hcl:"headers,optional"`
	UserAgent       string            `hcl:"user_agent,optional"`
	MaxBatchRecords int               `hcl:"max_batch_records,optional"`
	MaxRequestBytes int               `hcl:"max_request_bytes,optional"`
	Gzip            bool              `hcl:"gzip,optional"`
	Timeout         string            `hcl:"timeout,optional"`
	MaxAttempts     int               `hcl:"max_attempts,optional"`
	Concurrency     int               `hcl:"concurrency,optional"`
	TLS             *destination.TLS  `hcl:"tls,block"`
}

// Destination posts records to an HTTP endpoint.
type Destination struct {
	url         string // with credentials, for requests only
	safeURL     string // for logs and errors
	method      string
	format      Format
	header      http.Header
	maxRecords  int
	maxBytes    int
	gzip        bool
	timeout     time.Duration
	backoff     destination.Backoff
	concurrency int
	client      *http.Client
	log         *slog.Logger
	limiter     *destination.Limiter
	metrics     *destination.Metrics
}

// redact returns u without user information, query or fragment, which may
// hold credentials.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		c.RawQuery = "REDACTED"
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// New builds a webhook destination from its routes.hcl block.
func New(cfg destination.Config) (destination.Destination, hcl.Diagnostics) {
	var s settings
	diags := gohcl.DecodeBody(cfg.Body, cfg.Eval, &s)
	if diags.HasErrors() {
		return nil, diags
	}
	bad := func(name, summary, detail string) (destination.Destination, hcl.Diagnostics) {
		return nil, append(diags, destination.SettingError(cfg.Body, name, summary, detail))
	}
	d := &Destination{
		method: http.MethodPost, header: http.Header{}, maxRecords: 500, maxBytes: 5 << 20,
		gzip: s.Gzip, timeout: 10 * time.Second, backoff: destination.DefaultBackoff(), concurrency: 4,
		log: cfg.Logger, limiter: destination.NewLimiter(time.Minute), metrics: cfg.Metrics,
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The text may hold credentials: do not repeat it.
		return bad("url", "Invalid url", "url must be an absolute http:// or https:// URL.")
	}
	d.url, d.safeURL = u.String(), redact(u)
	switch strings.ToUpper(s.Method) {
	case "", "POST":
	case "PUT", "PATCH":
		d.method = strings.ToUpper(s.Method)
	default:
		return bad("method", "Invalid method", fmt.Sprintf("method %q: want POST, PUT or PATCH.", s.Method))
	}
	userAgent := "nightjar"
	switch s.Format {
	case "", "json":
		d.format = JSON
	case "json_array":
		d.format = JSONArray
	case "ndjson":
		d.format = NDJSON
	case "falco":
		d.format, userAgent = Falco, FalcoUserAgent
	default:
		return bad("format", "Invalid format", fmt.Sprintf("format %q: want json, json_array, ndjson or falco.", s.Format))
	}
	if s.UserAgent != "" {
		userAgent = s.UserAgent
	}
	d.header.Set("User-Agent", userAgent)
	switch d.format {
	case NDJSON:
		d.header.Set("Content-Type", "application/x-ndjson")
	default:
		d.header.Set("Content-Type", "application/json")
	}
	for k, v := range s.Headers {
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n") {
			return bad("headers", "Invalid header", fmt.Sprintf("header %q is not a valid HTTP header name and value.", k))
		}
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Content-Encoding", "Transfer-Encoding", "Host", "Connection":
			return bad("headers", "Invalid header", fmt.Sprintf("header %q is set by the HTTP client.", k))
		}
		d.header.Set(k, v)
	}
	if s.MaxBatchRecords < 0 {
		return bad("max_batch_records", "Invalid max_batch_records", "max_batch_records must be positive.")
	}
	if s.MaxBatchRecords > 0 {
		d.maxRecords = s.MaxBatchRecords
	}
	if d.format == JSON || d.format == Falco {
		d.maxRecords = 1
	}
	if s.MaxRequestBytes != 0 {
		if s.MaxRequestBytes < 1024 {
			return bad("max_request_bytes", "Invalid max_request_bytes", "max_request_bytes must be at least 1024.")
		}
		d.maxBytes = s.MaxRequestBytes
	}
	if d.timeout, err = destination.ParseTimeout(s.Timeout, d.timeout); err != nil {
		return bad("timeout", "Invalid timeout", err.Error()+".")
	}
	if s.MaxAttempts > 0 {
		d.backoff.Attempts = s.MaxAttempts
	}
	if s.Concurrency < 0 || s.Concurrency > 256 {
		return bad("concurrency", "Invalid concurrency", "concurrency must be between 1 and 256.")
	}
	if s.Concurrency > 0 {
		d.concurrency = s.Concurrency
	}
	if d.client, err = destination.HTTPClient(s.TLS, d.concurrency); err != nil {
		return bad("tls", "Invalid tls block", err.Error())
	}
	return d, diags
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c > 126 || c <= 32 || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", c) {
			return false
		}
	}
	return true
}

// Close implements destination.Destination.
func (d *Destination) Close() error {
	d.client.CloseIdleConnections()
	return nil
}

// appendRecord appends the JSON of r in d's format.
func (d *Destination) appendRecord(b []byte, r *record.Record) []byte {
	start := len(b)
	var err error
	if d.format != Falco {
		if b, err = r.Body.AppendJSON(b); err != nil {
			b = append(b[:start], `{"nightjar_error":"record could not be converted to JSON"}`...)
		}
		return b
	}
	b = append(b, '{')
	n := 0
	for _, k := range falcoKeys {
		v, ok := r.Body.Get(k)
		if !ok {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
		mark := len(b)
		if b, err = v.AppendJSON(b); err != nil {
			b = append(b[:mark], "null"...)
		}
	}
	return append(b, '}')
}

type span struct{ lo, hi int }

// Send implements destination.Destination.
func (d *Destination) Send(ctx context.Context, b *destination.Batch) error {
	buf := make([]byte, 0, len(b.Records)*500)
	ends := make([]int, len(b.Records))
	for i, r := range b.Records {
		buf = d.appendRecord(buf, r)
		ends[i] = len(buf)
	}
	body := bodies{d: d, buf: buf, ends: ends}
	var spans []span
	lo := 0
	for i := range ends {
		if i > lo && (i-lo >= d.maxRecords || body.size(span{lo, i + 1}) > d.maxBytes) {
			spans = append(spans, span{lo, i})
			lo = i
		}
	}
	if lo < len(ends) {
		spans = append(spans, span{lo, len(ends)})
	}
	var (
		wg      sync.WaitGroup
		sem     = make(chan struct{}, d.concurrency)
		mu      sync.Mutex
		firstEr error
	)
	settle := func(sp span, sent bool) {
		mu.Lock()
		defer mu.Unlock()
		for i := sp.lo; i < sp.hi; i++ {
			b.Ack(i)
		}
		if sent {
			d.metrics.Sent.Add(uint64(sp.hi - sp.lo))
		} else {
			d.metrics.Dropped.Add(uint64(sp.hi - sp.lo))
		}
	}
	for _, sp := range spans {
		if ctx.Err() != nil {
			firstEr = destination.Combine(firstEr, ctx.Err())
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := d.post(ctx, body, sp, settle); err != nil {
				mu.Lock()
				firstEr = destination.Combine(firstEr, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstEr
}

// bodies frames runs of encoded records as request bodies.
type bodies struct {
	d    *Destination
	buf  []byte
	ends []int
}

func (e bodies) start(i int) int {
	if i == 0 {
		return 0
	}
	return e.ends[i-1]
}

// size is the body length of sp: records plus separators and brackets.
func (e bodies) size(sp span) int {
	n := e.ends[sp.hi-1] - e.start(sp.lo)
	switch e.d.format {
	case JSONArray:
		n += 2 + sp.hi - sp.lo - 1
	case NDJSON:
		n += sp.hi - sp.lo
	}
	return n
}

func (e bodies) body(sp span) []byte {
	switch e.d.format {
	case JSONArray:
		out := make([]byte, 0, e.size(sp))
		out = append(out, '[')
		for i := sp.lo; i < sp.hi; i++ {
			if i > sp.lo {
				out = append(out, ',')
			}
			out = append(out, e.buf[e.start(i):e.ends[i]]...)
		}
		return append(out, ']')
	case NDJSON:
		out := make([]byte, 0, e.size(sp))
		for i := sp.lo; i < sp.hi; i++ {
			out = append(out, e.buf[e.start(i):e.ends[i]]...)
			out = append(out, '\n')
		}
		return out
	}
	return e.buf[e.start(sp.lo):e.ends[sp.hi-1]]
}

// post sends the records of sp, retrying transient failures; a body the
// endpoint refuses as too large or invalid is halved until the refused
// record is isolated and dropped.
func (d *Destination) post(ctx context.Context, body bodies, sp span, settle func(span, bool)) error {
	payload := body.body(sp)
	for attempt := 1; ; attempt++ {
		status, text, wait, err := d.do(ctx, payload)
		if err == nil && status >= 200 && status < 300 {
			d.metrics.Batches.Add(1)
			settle(sp, true)
			return nil
		}
		d.metrics.Failures.Add(1)
		if err == nil {
			switch {
			case status == 429 || status == 408 || status >= 500:
				err = fmt.Errorf("HTTP %d: %s", status, text)
			case status == 413 || status == 400 || status == 422:
				if sp.hi-sp.lo > 1 {
					mid := (sp.lo + sp.hi) / 2
					return destination.Combine(d.post(ctx, body, span{sp.lo, mid}, settle), d.post(ctx, body, span{mid, sp.hi}, settle))
				}
				settle(sp, false)
				d.limiter.Log(d.log, slog.LevelWarn, "refused", "webhook refused a record; dropped", "url", d.safeURL, "status", status, "answer", text)
				return nil
			default:
				d.limiter.Log(d.log, slog.LevelError, "permanent", "webhook refused the request", "url", d.safeURL, "status", status, "answer", text)
				return destination.Permanent(fmt.Errorf("webhook %s: HTTP %d: %s", d.safeURL, status, text))
			}
		}
		if ctx.Err() != nil || attempt >= d.backoff.Attempts {
			return fmt.Errorf("webhook %s after %d attempts: %w", d.safeURL, attempt, err)
		}
		d.metrics.Retries.Add(1)
		if werr := d.backoff.WaitRetry(ctx, attempt, wait); werr != nil {
			return fmt.Errorf("webhook %s: %w (%v)", d.safeURL, err, werr)
		}
	}
}

// do makes one request. Transport errors are rewritten so that they
// name the redacted URL only.
func (d *Destination) do(ctx context.Context, body []byte) (int, string, time.Duration, error) {
	var enc string
	if d.gzip {
		var zb bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&zb, gzip.BestSpeed)
		zw.Write(body)
		zw.Close()
		body, enc = zb.Bytes(), "gzip"
	}
	actx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, d.method, d.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", 0, errors.New("webhook: cannot build the request")
	}
	req.Header = d.header.Clone()
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s %s: %w", ue.Op, d.safeURL, ue.Err)
		}
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, strings.TrimSpace(string(msg)), destination.RetryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
}
