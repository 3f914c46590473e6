// Package splunkhec is the Splunk HTTP Event Collector destination: it
// posts alerts to /services/collector/event as concatenated JSON event
// objects within the request content limit, gzip-compressed, with index,
// source, sourcetype and host templated per record and chosen
// output_fields as indexed fields. With indexer acknowledgement a record
// is settled only once Splunk reports its request indexed.
package splunkhec

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
)

// Type is the destination type name in routes.hcl.
const Type = "splunk_hec"

// Register adds the splunk_hec type to reg.
func Register(reg *destination.Registry) { reg.Register(Type, New) }

// defaultMaxRequest is Splunk Cloud Platform's HEC content limit (1 MB).
const defaultMaxRequest = 1 << 20

// TruncationMarker ends an event cut to fit max_request_bytes; the event
// is then the record's JSON text as a string.
const TruncationMarker = "...[truncated by nightjar]"

type settings struct {
	URL             string           `hcl:"url"`
	Token           string           `hcl:"token"`
	Index           hcl.Expression   `hcl:"index,optional"`
	Source          hcl.Expression   `hcl:"source,optional"`
	Sourcetype      hcl.Expression   `hcl:"sourcetype,optional"`
	Host            hcl.Expression   `hcl:"host,optional"`
	Fields          []string         `hcl:"fields,optional"`
	MaxRequestBytes int              `hcl:"max_request_bytes,optional"`
	Gzip            *bool            `hcl:"gzip,optional"`
	Ack             bool             `hcl:"ack,optional"`
	AckTimeout      string           `hcl:"ack_timeout,optional"`
	AckInterval     string           `hcl:"ack_interval,optional"`
	Channel         string           `hcl:"channel,optional"`
	Timeout         string           `hcl:"timeout,optional"`
	MaxAttempts     int              `hcl:"max_attempts,optional"`
	Concurrency     int              `hcl:"concurrency,optional"`
	TLS             *destination.TLS `hcl:"tls,block"`
}

// Destination sends records to a Splunk HTTP Event Collector.
type Destination struct {
	eventURL, ackURL string
	auth             string
	channel          string
	index, source    *destination.Template
	sourcetype, host *destination.Template
	fields           []string
	maxRequest       int
	gzip             bool
	ack              bool
	ackTimeout       time.Duration
	ackInterval      time.Duration
	timeout          time.Duration
	backoff          destination.Backoff
	concurrency      int
	client           *http.Client
	log              *slog.Logger
	limiter          *destination.Limiter
	metrics          *destination.Metrics
	zippers          sync.Pool // *gzip.Writer

	onceMu sync.Mutex
	logged map[string]bool // permanent problems already logged
}

// guid returns a random (version 4) GUID for the request channel.
func guid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// New builds a Splunk HEC destination from its routes.hcl block.
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
		maxRequest: defaultMaxRequest, gzip: s.Gzip == nil || *s.Gzip, ack: s.Ack,
		ackTimeout: 30 * time.Second, ackInterval: 500 * time.Millisecond,
		timeout: 10 * time.Second, backoff: destination.DefaultBackoff(), concurrency: 2,
		log: cfg.Logger, limiter: destination.NewLimiter(time.Minute), metrics: cfg.Metrics, logged: map[string]bool{},
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return bad("url", "Invalid url", "url must be http(s)://host:port of the HTTP Event Collector, such as \"https://splunk.example.com:8088\", without credentials.")
	}
	switch p := strings.TrimSuffix(u.Path, "/"); p {
	case "", "/services/collector", "/services/collector/event", "/services/collector/event/1.0":
		base := *u
		base.Path, base.RawQuery = "", ""
		d.ackURL = base.String() + "/services/collector/ack"
		if p == "" || p == "/services/collector" {
			p = "/services/collector/event"
		}
		u.Path = p
		d.eventURL = u.String()
	default:
		return bad("url", "Invalid url", fmt.Sprintf("url path %q: give the collector's base URL or /services/collector/event.", u.Path))
	}
	if s.Token == "" || strings.ContainsAny(s.Token, " \r\n\t") {
		return bad("token", "Invalid token", "token must be a HEC token, such as env(\"SPLUNK_HEC_TOKEN\").")
	}
	d.auth = "Splunk " + s.Token
	var dg hcl.Diagnostics
	for _, t := range []struct {
		dst  **destination.Template
		expr hcl.Expression
		def  string
	}{{&d.index, s.Index, ""}, {&d.source, s.Source, ""}, {&d.sourcetype, s.Sourcetype, "falco"}, {&d.host, s.Host, "{{ hostname }}"}} {
		if *t.dst, dg = destination.TemplateAttr(t.expr, cfg.Eval, t.def); dg.HasErrors() {
			return nil, append(diags, dg...)
		}
	}
	for _, f := range s.Fields {
		if f == "" {
			return bad("fields", "Invalid fields", "fields lists output_fields keys, such as \"proc.name\".")
		}
	}
	d.fields = s.Fields
	if s.MaxRequestBytes != 0 {
		if s.MaxRequestBytes < 4096 {
			return bad("max_request_bytes", "Invalid max_request_bytes", "max_request_bytes must be at least 4096.")
		}
		d.maxRequest = s.MaxRequestBytes
	}
	for _, t := range []struct {
		attr, val string
		dst       *time.Duration
	}{{"ack_timeout", s.AckTimeout, &d.ackTimeout}, {"ack_interval", s.AckInterval, &d.ackInterval}, {"timeout", s.Timeout, &d.timeout}} {
		if *t.dst, err = destination.ParseTimeout(t.val, *t.dst); err != nil {
			return bad(t.attr, "Invalid "+t.attr, strings.Replace(err.Error(), "timeout", t.attr, 1)+".")
		}
	}
	d.channel = s.Channel
	if d.channel != "" && !isGUID(d.channel) {
		return bad("channel", "Invalid channel", "channel must be a GUID such as \"0f6a3b3e-2c4d-4b8a-9f1e-5d6c7b8a9e0f\".")
	}
	if d.channel == "" && d.ack {
		d.channel = guid()
	}
	if s.MaxAttempts > 0 {
		d.backoff.Attempts = s.MaxAttempts
	}
	if s.Concurrency < 0 || s.Concurrency > 64 {
		return bad("concurrency", "Invalid concurrency", "concurrency must be between 1 and 64.")
	}
	if s.Concurrency > 0 {
		d.concurrency = s.Concurrency
	}
	if d.client, err = destination.HTTPClient(s.TLS, d.concurrency); err != nil {
		return bad("tls", "Invalid tls block", err.Error())
	}
	return d, diags
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

// Close implements destination.Destination.
func (d *Destination) Close() error {
	d.client.CloseIdleConnections()
	return nil
}

// appendString appends s as a JSON string, invalid UTF-8 replaced.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// appendEvent appends the HEC event object for r and reports whether its
// event had to be truncated to fit max.
func (d *Destination) appendEvent(b []byte, tag string, r *record.Record, max int) ([]byte, bool) {
	start := len(b)
	ts := r.Time
	if v, ok := r.Lookup("time"); ok {
		if t, err := time.Parse(time.RFC3339Nano, v.Text()); err == nil {
			ts = t
		}
	}
	ms := ts.UnixMilli()
	b = append(b, `{"time":`...)
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.', byte('0'+ms%1000/100), byte('0'+ms%100/10), byte('0'+ms%10))
	for _, kv := range []struct {
		key string
		t   *destination.Template
	}{{"host", d.host}, {"source", d.source}, {"sourcetype", d.sourcetype}, {"index", d.index}} {
		if v, ok := kv.t.Try(tag, r); ok && v != "" {
			b = append(b, ',', '"')
			b = append(b, kv.key...)
			b = append(b, '"', ':')
			b = appendString(b, v)
		}
	}
	if len(d.fields) > 0 {
		n := 0
		for _, f := range d.fields {
			v, ok := r.Lookup("output_fields." + f)
			if !ok {
				continue
			}
			s := v.Text()
			if s == "" {
				continue
			}
			if n == 0 {
				b = append(b, `,"fields":{`...)
			} else {
				b = append(b, ',')
			}
			n++
			b = appendString(b, f)
			b = append(b, ':')
			b = appendString(b, s)
		}
		if n > 0 {
			b = append(b, '}')
		}
	}
	b = append(b, `,"event":`...)
	evStart := len(b)
	var err error
	if b, err = r.Body.AppendJSON(b); err != nil {
		b = append(b[:evStart], `{"nightjar_error":"record could not be converted to JSON"}`...)
	}
	b = append(b, '}')
	if len(b)-start <= max {
		return b, false
	}
	// Too large for a request: send the record's JSON text, cut, as a
	// string event.
	text := string(b[evStart : len(b)-1])
	b = b[:evStart]
	room := max - (evStart - start) - 2 - len(TruncationMarker) - 2
	var cut []byte
	for _, c := range text {
		esc := appendString(nil, string(c))
		if len(cut)+len(esc)-2 > room {
			break
		}
		cut = append(cut, esc[1:len(esc)-1]...)
	}
	b = append(b, '"')
	b = append(b, cut...)
	b = append(b, TruncationMarker...)
	b = append(b, '"', '}')
	return b, true
}

// span is a run of records [lo, hi) sent in one request.
type span struct{ lo, hi int }

// pendingAck is an accepted request awaiting indexer acknowledgement.
type pendingAck struct {
	id int64
	span
}

// Send implements destination.Destination.
func (d *Destination) Send(ctx context.Context, b *destination.Batch) error {
	buf := make([]byte, 0, len(b.Records)*700)
	ends := make([]int, len(b.Records))
	for i, r := range b.Records {
		var trunc bool
		buf, trunc = d.appendEvent(buf, b.Tag, r, d.maxRequest)
		if trunc {
			d.metrics.Truncated.Add(1)
		}
		ends[i] = len(buf)
	}
	ev := events{buf: buf, ends: ends}
	var spans []span
	lo := 0
	for i := range ends {
		if i > lo && ev.size(span{lo, i + 1}) > d.maxRequest {
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
		acks    []pendingAck
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
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pend, err := d.post(ctx, ev, sp, settle)
			mu.Lock()
			acks = append(acks, pend...)
			if err != nil {
				firstEr = destination.Combine(firstEr, err)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(acks) > 0 {
		firstEr = destination.Combine(firstEr, d.awaitAcks(ctx, acks, settle))
	}
	return firstEr
}

// events are the encoded event objects of a batch.
type events struct {
	buf  []byte
	ends []int
}

func (e events) start(i int) int {
	if i == 0 {
		return 0
	}
	return e.ends[i-1]
}

func (e events) size(sp span) int { return e.ends[sp.hi-1] - e.start(sp.lo) }

func (e events) bytes(sp span) []byte { return e.buf[e.start(sp.lo):e.ends[sp.hi-1]] }

// hecReply is the collector's answer.
type hecReply struct {
	Text         string `json:"text"`
	Code         *int   `json:"code"`
	InvalidEvent *int   `json:"invalid-event-number"`
	AckID        *int64 `json:"ackId"`
}

// post sends the records of sp, retrying transient failures and isolating
// events the collector refuses. Accepted requests awaiting acknowledgement
// are returned.
func (d *Destination) post(ctx context.Context, ev events, sp span, settle func(span, bool)) ([]pendingAck, error) {
	var pend []pendingAck
	for attempt := 1; sp.lo < sp.hi; attempt++ {
		status, rep, retryAfter, err := d.do(ctx, d.eventURL, ev.bytes(sp), d.gzip)
		if err == nil && status == 200 {
			d.metrics.Batches.Add(1)
			if d.ack && rep.AckID != nil {
				pend = append(pend, pendingAck{*rep.AckID, sp})
			} else {
				if d.ack {
					d.once("noack", "the collector returned no ackId: indexer acknowledgement is off for this token; records count as delivered when accepted")
				}
				settle(sp, true)
			}
			return pend, nil
		}
		if err == nil {
			d.metrics.Failures.Add(1)
			code := -1
			if rep.Code != nil {
				code = *rep.Code
			}
			switch {
			case status == 400 && rep.InvalidEvent != nil && *rep.InvalidEvent >= 0 && sp.lo+*rep.InvalidEvent < sp.hi:
				// Splunk indexed the events before the invalid one and
				// dropped the rest of the request: count the invalid one
				// and send what follows it.
				n := sp.lo + *rep.InvalidEvent
				if n > sp.lo {
					settle(span{sp.lo, n}, true)
				}
				settle(span{n, n + 1}, false)
				d.limiter.Log(d.log, slog.LevelWarn, "invalid", "Splunk refused an event; dropped", "code", code, "text", rep.Text)
				sp.lo, attempt = n+1, 0
				continue
			case status == 401 || status == 403 || code == 7 || code == 14 || code == 10 || code == 11:
				d.once(fmt.Sprint(status, code), "Splunk refused the request; records dropped until the configuration is fixed", "status", status, "code", code, "text", rep.Text)
				return pend, destination.Permanent(fmt.Errorf("splunk_hec: HTTP %d code %d: %s", status, code, rep.Text))
			case status == 413:
				if sp.hi-sp.lo == 1 {
					settle(sp, false)
					d.limiter.Log(d.log, slog.LevelWarn, "toolarge", "Splunk refused an event as too large; dropped")
					return pend, nil
				}
				// The collector's limit is below max_request_bytes: halve.
				mid := (sp.lo + sp.hi) / 2
				p1, e1 := d.post(ctx, ev, span{sp.lo, mid}, settle)
				p2, e2 := d.post(ctx, ev, span{mid, sp.hi}, settle)
				return append(append(pend, p1...), p2...), destination.Combine(e1, e2)
			case status == 429 || status == 408 || status >= 500:
				err = fmt.Errorf("HTTP %d code %d: %s", status, code, rep.Text)
			default:
				return pend, destination.Permanent(fmt.Errorf("splunk_hec: HTTP %d code %d: %s", status, code, rep.Text))
			}
		} else {
			d.metrics.Failures.Add(1)
		}
		if ctx.Err() != nil || attempt >= d.backoff.Attempts {
			return pend, fmt.Errorf("splunk_hec %s after %d attempts: %w", d.eventURL, attempt, err)
		}
		d.metrics.Retries.Add(1)
		if werr := d.backoff.WaitRetry(ctx, attempt, retryAfter); werr != nil {
			return pend, fmt.Errorf("splunk_hec %s: %w", d.eventURL, err)
		}
	}
	return pend, nil
}

func (d *Destination) once(key, msg string, args ...any) {
	d.onceMu.Lock()
	seen := d.logged[key]
	d.logged[key] = true
	d.onceMu.Unlock()
	if !seen {
		d.log.Error(msg, args...)
	}
}

// do makes one request and decodes the collector's JSON answer.
func (d *Destination) do(ctx context.Context, u string, body []byte, compress bool) (int, hecReply, time.Duration, error) {
	var rep hecReply
	payload := body
	if compress {
		var zb bytes.Buffer
		zb.Grow(len(body) / 4)
		zw, _ := d.zippers.Get().(*gzip.Writer)
		if zw == nil {
			zw, _ = gzip.NewWriterLevel(&zb, gzip.BestSpeed)
		} else {
			zw.Reset(&zb)
		}
		zw.Write(body)
		zw.Close()
		d.zippers.Put(zw)
		payload = zb.Bytes()
	}
	actx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return 0, rep, 0, err
	}
	req.Header.Set("Authorization", d.auth)
	req.Header.Set("Content-Type", "application/json")
	if compress {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if d.channel != "" {
		req.Header.Set("X-Splunk-Request-Channel", d.channel)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, rep, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, rep, 0, fmt.Errorf("read answer: %w", err)
	}
	json.Unmarshal(data, &rep)
	if rep.Text == "" {
		rep.Text = strings.TrimSpace(string(data))
	}
	return resp.StatusCode, rep, destination.RetryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
}

// awaitAcks polls /services/collector/ack until every request is
// reported indexed or ack_timeout passes; unacknowledged records stay
// unsettled, so the chunk is retried and they are sent again.
func (d *Destination) awaitAcks(ctx context.Context, acks []pendingAck, settle func(span, bool)) error {
	deadline := time.Now().Add(d.ackTimeout)
	var lastErr error
	for len(acks) > 0 {
		ids := make([]int64, len(acks))
		for i, a := range acks {
			ids[i] = a.id
		}
		body, _ := json.Marshal(map[string][]int64{"acks": ids})
		status, got, err := d.queryAcks(ctx, body)
		switch {
		case err != nil:
			lastErr = err
		case status == 400 || status == 401 || status == 403:
			return destination.Permanent(fmt.Errorf("splunk_hec ack query: HTTP %d", status))
		case status != 200:
			lastErr = fmt.Errorf("ack query: HTTP %d", status)
		default:
			rest := acks[:0]
			for _, a := range acks {
				if got[strconv.FormatInt(a.id, 10)] {
					settle(a.span, true)
				} else {
					rest = append(rest, a)
				}
			}
			acks = rest
		}
		if len(acks) == 0 {
			return nil
		}
		if time.Now().Add(d.ackInterval).After(deadline) {
			n := 0
			for _, a := range acks {
				n += a.hi - a.lo
			}
			d.metrics.Failures.Add(uint64(len(acks)))
			if lastErr != nil {
				return fmt.Errorf("splunk_hec: %d records not acknowledged within %v: %w", n, d.ackTimeout, lastErr)
			}
			return fmt.Errorf("splunk_hec: %d records not acknowledged within %v", n, d.ackTimeout)
		}
		t := time.NewTimer(d.ackInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (d *Destination) queryAcks(ctx context.Context, body []byte) (int, map[string]bool, error) {
	actx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, d.ackURL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", d.auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Splunk-Request-Channel", d.channel)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Acks map[string]bool `json:"acks"`
	}
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
			return 0, nil, fmt.Errorf("decode ack answer: %w", err)
		}
	}
	return resp.StatusCode, out.Acks, nil
}
