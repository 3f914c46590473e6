// Package elasticsearch is the Elasticsearch and OpenSearch destination
// (self-managed, Elastic Cloud, Amazon OpenSearch Service and Serverless):
// records become _bulk requests within a body size bound, indexed into
// date-templated indices or data streams with the alert's uuid as document
// _id and the create action, so that a document that already landed answers
// 409 and counts as delivered; items the cluster rejects for load are
// retried alone, items it refuses are dropped and counted.
//
// A plain net/http client speaks _bulk: go-elasticsearch refuses servers
// that are not Elastic's product (OpenSearch), opensearch-go's bulk call
// takes the same NDJSON body this package builds anyway, and the body must
// be built here to keep per-record settlement and the size bound; AWS
// requests are signed with aws-sdk-go-v2's SigV4 signer.
package elasticsearch

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/nightjar-sec/nightjar/internal/jsontext"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
)

// Type is the destination type name in routes.hcl.
const Type = "elasticsearch"

// DefaultMaxBodyBytes bounds one _bulk request body unless max_body_bytes
// says otherwise: the middle of the 5–15 MB Elastic recommends, and under
// the 10 MiB that Amazon OpenSearch Service accepts on small instances.
const DefaultMaxBodyBytes = 5 << 20

// Register adds the elasticsearch type to reg.
func Register(reg *destination.Registry) { reg.Register(Type, New) }

type settings struct {
	URLs         []string         `hcl:"urls"`
	Index        *string          `hcl:"index,optional"`
	DataStream   bool             `hcl:"data_stream,optional"`
	Action       string           `hcl:"action,optional"`
	ID           *string          `hcl:"id,optional"`
	TimestampKey *string          `hcl:"timestamp_key,optional"`
	Pipeline     string           `hcl:"pipeline,optional"`
	Username     string           `hcl:"username,optional"`
	Password     string           `hcl:"password,optional"`
	APIKey       string           `hcl:"api_key,optional"`
	AWS          *awsSettings     `hcl:"aws,block"`
	TLS          *destination.TLS `hcl:"tls,block"`
	// The TLS attributes of the first releases, kept working beside the
	// tls block of the other HTTP destinations.
	CAFile             string `hcl:"ca_file,optional"`
	ClientCertFile     string `hcl:"client_cert_file,optional"`
	ClientKeyFile      string `hcl:"client_key_file,optional"`
	InsecureSkipVerify bool   `hcl:"insecure_skip_verify,optional"`
	MaxBodyBytes       int    `hcl:"max_body_bytes,optional"`
	Gzip               bool   `hcl:"gzip,optional"`
	Timeout            string `hcl:"timeout,optional"`
	MaxAttempts        int    `hcl:"max_attempts,optional"`
	Concurrency        int    `hcl:"concurrency,optional"`
}

type awsSettings struct {
	Region          string `hcl:"region,optional"`
	Service         string `hcl:"service,optional"`
	RoleARN         string `hcl:"role_arn,optional"`
	ExternalID      string `hcl:"external_id,optional"`
	STSEndpoint     string `hcl:"sts_endpoint,optional"`
	AccessKeyID     string `hcl:"access_key_id,optional"`
	SecretAccessKey string `hcl:"secret_access_key,optional"`
}

// Destination sends records to an Elasticsearch or OpenSearch cluster.
type Destination struct {
	urls     []string // base URLs, without a trailing slash
	next     atomic.Uint32
	bulkPath string
	client   *http.Client

	index  *indexName
	id     *destination.Template // nil: the cluster picks ids
	action string                // "create" or "index"
	tsKey  string                // "" adds no timestamp

	username, password string
	apiKey             string
	creds              aws.CredentialsProvider // set for SigV4
	signer             *v4.Signer
	region, service    string

	maxBody     int
	gzip        bool
	timeout     time.Duration
	backoff     destination.Backoff
	concurrency int
	log         *slog.Logger
	limiter     *destination.Limiter
	metrics     *destination.Metrics
	buffers     sync.Pool // *[]byte
}

// New builds an elasticsearch destination from its block.
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
		action: "create", tsKey: "@timestamp", maxBody: DefaultMaxBodyBytes,
		timeout: 30 * time.Second, backoff: destination.DefaultBackoff(), concurrency: 2,
		log: cfg.Logger, limiter: destination.NewLimiter(time.Minute), metrics: cfg.Metrics,
		username: s.Username, password: s.Password, apiKey: s.APIKey,
	}
	if len(s.URLs) == 0 {
		return bad("urls", "Missing urls", "Set urls to the cluster's HTTP endpoints, such as [\"https://es.example.com:9200\"].")
	}
	for _, raw := range s.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return bad("urls", "Invalid urls", fmt.Sprintf("%q is not an http:// or https:// URL without a query.", raw))
		}
		d.urls = append(d.urls, strings.TrimRight(u.String(), "/"))
	}

	indexDef := "nightjar-%Y.%m.%d"
	if s.DataStream {
		indexDef = "logs-nightjar-default"
	}
	if s.Index != nil {
		indexDef = *s.Index
	}
	var err error
	if d.index, err = parseIndex(indexDef); err == nil {
		err = d.index.check()
	}
	if err != nil {
		return bad("index", "Invalid index", err.Error()+".")
	}
	switch s.Action {
	case "", "create":
	case "index":
		if s.DataStream {
			return bad("action", "Invalid action", "Data streams accept only the create action.")
		}
		d.action = "index"
	default:
		return bad("action", "Invalid action", "action must be \"create\" or \"index\".")
	}
	idDef := "{{ uuid }}"
	if s.ID != nil {
		idDef = *s.ID
	}
	if idDef != "" {
		if d.id, err = destination.ParseTemplate(idDef); err != nil {
			return bad("id", "Invalid id", err.Error()+".")
		}
		if _, static := d.id.Static(); static {
			return bad("id", "Invalid id", "id must be a template such as \"{{ uuid }}\": a fixed id would make every record the same document.")
		}
	}
	if s.TimestampKey != nil {
		d.tsKey = *s.TimestampKey
	}
	if s.DataStream && d.tsKey == "" {
		return bad("timestamp_key", "Invalid timestamp_key", "Data streams need a @timestamp field.")
	}
	// The answer needs only each item's status and error: filter_path
	// leaves out the rest, a fifth of the bytes.
	d.bulkPath = "/_bulk?filter_path=errors,items.*.status,items.*.error"
	if s.Pipeline != "" {
		d.bulkPath += "&pipeline=" + url.QueryEscape(s.Pipeline)
	}
	if s.MaxBodyBytes < 0 || (s.MaxBodyBytes > 0 && s.MaxBodyBytes < 1024) {
		return bad("max_body_bytes", "Invalid max_body_bytes", "max_body_bytes must be at least 1024.")
	}
	if s.MaxBodyBytes > 0 {
		d.maxBody = s.MaxBodyBytes
	}
	d.gzip = s.Gzip
	if d.timeout, err = destination.ParseTimeout(s.Timeout, d.timeout); err != nil {
		return bad("timeout", "Invalid timeout", err.Error()+".")
	}
	if s.MaxAttempts > 0 {
		d.backoff.Attempts = s.MaxAttempts
	}
	if s.Concurrency > 0 {
		d.concurrency = s.Concurrency
	}
	methods := 0
	for _, set := range []bool{s.Username != "" || s.Password != "", s.APIKey != "", s.AWS != nil} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		return bad("api_key", "Conflicting authentication", "Use one of username/password, api_key or an aws block.")
	}
	if (s.Username == "") != (s.Password == "") {
		return bad("username", "Incomplete credentials", "Set both username and password.")
	}

	t, err := s.tls()
	if err == nil {
		d.client, err = destination.HTTPClient(t, d.concurrency)
	}
	if err != nil {
		return bad(s.tlsSetting(err), "Invalid TLS settings", err.Error()+".")
	}

	if s.AWS != nil {
		if dg := d.setupAWS(cfg.Body, s.AWS); dg.HasErrors() {
			return nil, append(diags, dg...)
		}
	}
	return d, diags
}

// tls returns the TLS settings of s: its tls block, or the top-level
// attributes, which may not be mixed with it.
func (s *settings) tls() (*destination.TLS, error) {
	top := destination.TLS{CAFile: s.CAFile, CertFile: s.ClientCertFile, KeyFile: s.ClientKeyFile, InsecureSkipVerify: s.InsecureSkipVerify}
	if s.TLS != nil {
		if top != (destination.TLS{}) {
			return nil, errors.New("use either the tls block or the ca_file, client_cert_file, client_key_file and insecure_skip_verify attributes")
		}
		return s.TLS, nil
	}
	if (top.CertFile == "") != (top.KeyFile == "") {
		return nil, errors.New("set both client_cert_file and client_key_file, or neither")
	}
	return &top, nil
}

// tlsSetting names the setting a TLS error concerns: destination.TLS
// begins its errors about the CA with "ca_file", and the others concern
// the client certificate.
func (s *settings) tlsSetting(err error) string {
	switch {
	case s.TLS != nil:
		return "tls"
	case strings.HasPrefix(err.Error(), "ca_file"):
		return "ca_file"
	}
	return "client_cert_file"
}

func (d *Destination) setupAWS(body hcl.Body, a *awsSettings) hcl.Diagnostics {
	bad := func(summary, detail string) hcl.Diagnostics {
		return hcl.Diagnostics{destination.SettingError(body, "aws", summary, detail)}
	}
	switch a.Service {
	case "", "es":
		d.service = "es"
	case "aoss":
		d.service = "aoss"
	default:
		return bad("Invalid aws service", "service must be \"es\" (OpenSearch Service) or \"aoss\" (OpenSearch Serverless).")
	}
	if (a.AccessKeyID == "") != (a.SecretAccessKey == "") {
		return bad("Incomplete credentials", "Set both access_key_id and secret_access_key, or neither to use the default credential chain.")
	}
	opts := []func(*config.LoadOptions) error{}
	if a.Region != "" {
		opts = append(opts, config.WithRegion(a.Region))
	}
	if a.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(a.AccessKeyID, a.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return bad("AWS configuration", err.Error())
	}
	if awsCfg.Region == "" {
		return bad("Missing region", "Set region in the aws block, or AWS_REGION in the environment.")
	}
	d.region = awsCfg.Region
	d.creds = awsCfg.Credentials
	if a.RoleARN != "" {
		stsClient := sts.NewFromConfig(awsCfg, func(o *sts.Options) {
			if a.STSEndpoint != "" {
				o.BaseEndpoint = aws.String(a.STSEndpoint)
			}
		})
		p := stscreds.NewAssumeRoleProvider(stsClient, a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "nightjar-elasticsearch"
			if a.ExternalID != "" {
				o.ExternalID = aws.String(a.ExternalID)
			}
		})
		d.creds = aws.NewCredentialsCache(p)
	}
	if d.creds == nil {
		return bad("Missing credentials", "No AWS credentials found in the default chain.")
	}
	d.signer = v4.NewSigner()
	return nil
}

// Close implements destination.Destination.
func (d *Destination) Close() error {
	d.client.CloseIdleConnections()
	return nil
}

// item is one record's action and source lines: parts[part][off:end].
type item struct {
	idx         int
	part        int
	off, end    int
	retryStatus int // last status that asked for a retry
	retryReason string
}

// encoded is a batch's records as NDJSON, in one buffer per encoding
// goroutine.
type encoded struct {
	parts [][]byte
	bufs  []*[]byte
	items []item
}

func (e *encoded) line(it *item) []byte { return e.parts[it.part][it.off:it.end] }

// Send implements destination.Destination.
func (d *Destination) Send(ctx context.Context, b *destination.Batch) error {
	enc, err := d.encode(b.Tag, b.Records)
	if err != nil {
		return err
	}
	defer d.release(enc.bufs)

	// Requests are runs of consecutive items within the body bound; an
	// item over the bound goes alone, for the cluster to judge.
	var jobs [][]*item
	var cur []*item
	size := 0
	for i := range enc.items {
		it := &enc.items[i]
		n := it.end - it.off
		// A request stays within one encoding buffer, so that its body
		// is a slice of it.
		if len(cur) > 0 && (size+n > d.maxBody || it.part != cur[0].part) {
			jobs = append(jobs, cur)
			cur, size = nil, 0
		}
		cur = append(cur, it)
		size += n
	}
	if len(cur) > 0 {
		jobs = append(jobs, cur)
	}

	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, d.concurrency)
		mu    sync.Mutex
		first error
	)
	ack := func(idx int) {
		mu.Lock()
		b.Ack(idx)
		mu.Unlock()
	}
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// The router recovers panics in Send, not in the goroutines
			// Send starts.
			defer func() {
				if p := recover(); p != nil {
					mu.Lock()
					first = destination.Combine(first, destination.Permanent(fmt.Errorf("elasticsearch: panic: %v\n%s", p, debug.Stack())))
					mu.Unlock()
				}
			}()
			if err := d.bulk(ctx, enc, j, ack); err != nil {
				mu.Lock()
				first = destination.Combine(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// encode renders every record as an action line and a source line, on
// several goroutines for large batches.
func (d *Destination) encode(tag string, recs []*record.Record) (*encoded, error) {
	parts := 1
	if len(recs) >= 2048 {
		parts = min(runtime.GOMAXPROCS(0), 4)
	}
	enc := &encoded{parts: make([][]byte, parts), bufs: make([]*[]byte, parts), items: make([]item, len(recs))}
	per := (len(recs) + parts - 1) / parts
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		perr error
	)
	for p := range parts {
		lo, hi := min(p*per, len(recs)), min((p+1)*per, len(recs))
		enc.bufs[p] = d.getBuffer()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					mu.Lock()
					perr = destination.Permanent(fmt.Errorf("elasticsearch: encoding panicked: %v\n%s", p, debug.Stack()))
					mu.Unlock()
				}
			}()
			size := 0
			for _, r := range recs[lo:hi] {
				size += len(r.Body)
			}
			buf := (*enc.bufs[p])[:0]
			if cap(buf) < size*2 {
				buf = make([]byte, 0, size*2+1024)
			}
			var scratch []byte
			for i := lo; i < hi; i++ {
				start := len(buf)
				buf, scratch = d.appendItem(buf, scratch, tag, recs[i])
				enc.items[i] = item{idx: i, part: p, off: start, end: len(buf)}
			}
			*enc.bufs[p] = buf
			enc.parts[p] = buf
		}()
	}
	wg.Wait()
	return enc, perr
}

// appendItem appends r's action and source lines to dst.
func (d *Destination) appendItem(dst, scratch []byte, tag string, r *record.Record) ([]byte, []byte) {
	dst = append(dst, `{"`...)
	dst = append(dst, d.action...)
	dst = append(dst, `":{"_index":`...)
	scratch = d.index.appendName(scratch[:0], tag, r)
	dst = jsontext.AppendString(dst, scratch)
	if d.id != nil {
		if id, ok := d.id.Try(tag, r); ok {
			dst = append(dst, `,"_id":`...)
			dst = jsontext.AppendString(dst, id)
		}
	}
	dst = append(dst, "}}\n"...)

	addTS := d.tsKey != ""
	if addTS {
		if _, has := r.Body.Get(d.tsKey); has {
			addTS = false
		}
	}
	if addTS {
		dst = append(dst, '{')
		dst = jsontext.AppendString(dst, d.tsKey)
		dst = append(dst, `:"`...)
		dst = r.Time.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		dst = append(dst, '"')
	}
	objStart := len(dst)
	var err error
	if dst, err = r.Body.AppendJSON(dst); err != nil || len(dst) < objStart+2 || dst[objStart] != '{' {
		dst = append(dst[:objStart], `{"nightjar_error":"record could not be converted to JSON"}`...)
	}
	if addTS {
		// Merge the two objects: the body's "{" becomes the separator, or
		// goes away with its "}" when the body is empty.
		if dst[objStart+1] == '}' {
			dst = append(dst[:objStart], '}')
		} else {
			dst[objStart] = ','
		}
	}
	return append(dst, '\n'), scratch
}

func (d *Destination) getBuffer() *[]byte {
	if b, ok := d.buffers.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

func (d *Destination) release(bufs []*[]byte) {
	for _, b := range bufs {
		if cap(*b) <= 32<<20 {
			d.buffers.Put(b)
		}
	}
}

// bulkError is a request-level failure.
type bulkError struct {
	status int
	body   string
	err    error
}

func (e *bulkError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("HTTP %d: %s", e.status, e.body)
}

func (e *bulkError) Unwrap() error { return e.err }

// bulk sends items, retrying the request on transient failures and then
// only the items the cluster asked to be retried.
func (d *Destination) bulk(ctx context.Context, enc *encoded, items []*item, ack func(int)) error {
	pending := items
	var scratch, body []byte
	for attempt := 1; ; attempt++ {
		body, scratch = d.body(enc, pending, scratch)
		retry, err := d.attempt(ctx, body, enc, pending, ack)
		if err == nil && len(retry) == 0 {
			d.metrics.Batches.Add(1)
			return nil
		}
		d.metrics.Failures.Add(1)
		var be *bulkError
		if errors.As(err, &be) {
			switch {
			case be.status == http.StatusRequestEntityTooLarge:
				if len(pending) == 1 {
					d.metrics.Dropped.Add(1)
					ack(pending[0].idx)
					d.limiter.Log(d.log, slog.LevelWarn, "too-large", "cluster refused a document as too large; dropped", "bytes", len(body))
					return nil
				}
				h := len(pending) / 2
				return destination.Combine(d.bulk(ctx, enc, pending[:h], ack), d.bulk(ctx, enc, pending[h:], ack))
			case (be.status == http.StatusUnauthorized || be.status == http.StatusForbidden) && d.creds != nil && isExpired(be.body):
				// Cached credentials the service considers expired: fetch
				// new ones and retry.
				if c, ok := d.creds.(*aws.CredentialsCache); ok {
					c.Invalidate()
				}
			case be.status >= 400 && be.status < 500 && be.status != http.StatusTooManyRequests && be.status != http.StatusRequestTimeout:
				return destination.Permanent(fmt.Errorf("elasticsearch _bulk: %w", err))
			}
		}
		if err == nil {
			pending = retry
			err = fmt.Errorf("%d items rejected with status %d: %s", len(retry), retry[0].retryStatus, retry[0].retryReason)
		}
		if ctx.Err() != nil || attempt >= d.backoff.Attempts {
			return fmt.Errorf("elasticsearch _bulk after %d attempts: %w", attempt, err)
		}
		d.metrics.Retries.Add(1)
		if werr := d.backoff.Wait(ctx, attempt); werr != nil {
			return fmt.Errorf("elasticsearch _bulk: %w", err)
		}
	}
}

// body returns the request body for items: a slice of the encoding buffer
// when they are consecutive there, else a copy into scratch.
func (d *Destination) body(enc *encoded, items []*item, scratch []byte) (body, _ []byte) {
	first, last := items[0], items[len(items)-1]
	contiguous := first.part == last.part
	for i := 1; contiguous && i < len(items); i++ {
		contiguous = items[i].part == first.part && items[i].off == items[i-1].end
	}
	if contiguous {
		return enc.parts[first.part][first.off:last.end], scratch
	}
	scratch = scratch[:0]
	for _, it := range items {
		scratch = append(scratch, enc.line(it)...)
	}
	return scratch, scratch
}

func isExpired(body string) bool {
	b := strings.ToLower(body)
	return strings.Contains(b, "expired")
}

// attempt makes one _bulk request. It acknowledges the items that are
// settled and returns those to retry.
func (d *Destination) attempt(ctx context.Context, body []byte, enc *encoded, items []*item, ack func(int)) ([]*item, error) {
	actx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	base := d.urls[int(d.next.Add(1))%len(d.urls)]
	if d.gzip {
		// The size bound is on the uncompressed body, as the cluster's
		// http.max_content_length is.
		var zb bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&zb, gzip.BestSpeed)
		zw.Write(body)
		zw.Close()
		body = zb.Bytes()
	}
	req, err := http.NewRequestWithContext(actx, http.MethodPost, base+d.bulkPath, bytes.NewReader(body))
	if err != nil {
		return nil, destination.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if d.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	req.Header.Set("Accept", "application/json")
	switch {
	case d.username != "":
		req.SetBasicAuth(d.username, d.password)
	case d.apiKey != "":
		req.Header.Set("Authorization", "ApiKey "+d.apiKey)
	case d.signer != nil:
		if err := d.sign(actx, req, body); err != nil {
			return nil, err
		}
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, &bulkError{err: fmt.Errorf("elasticsearch %s: %w", base, err)}
	}
	defer func() {
		// Read to the end, so that the connection is reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &bulkError{status: resp.StatusCode, body: strings.TrimSpace(string(msg))}
	}
	results, err := decodeResponse(resp.Body)
	if err != nil {
		return nil, &bulkError{err: fmt.Errorf("elasticsearch %s: reading _bulk response: %w", base, err)}
	}
	if results == nil { // "errors": false
		for _, it := range items {
			ack(it.idx)
		}
		d.metrics.Sent.Add(uint64(len(items)))
		return nil, nil
	}
	if len(results) != len(items) {
		return nil, &bulkError{err: fmt.Errorf("elasticsearch %s: _bulk answered %d items for %d", base, len(results), len(items))}
	}
	var retry []*item
	sent := 0
	for i, res := range results {
		it := items[i]
		switch st := res.Status; {
		case st >= 200 && st < 300, st == http.StatusConflict && d.action == "create":
			// 409 on create: the document is there from an earlier attempt.
			sent++
			ack(it.idx)
		case st == http.StatusTooManyRequests || st >= 500:
			it.retryStatus, it.retryReason = st, res.reason()
			retry = append(retry, it)
		default:
			d.metrics.Dropped.Add(1)
			ack(it.idx)
			d.limiter.Log(d.log, slog.LevelWarn, "refused:"+res.Error.Type, "cluster refused a document; dropped", "status", st, "error", res.reason())
		}
	}
	d.metrics.Sent.Add(uint64(sent))
	return retry, nil
}

// sign adds a SigV4 signature for the es or aoss service.
func (d *Destination) sign(ctx context.Context, req *http.Request, body []byte) error {
	creds, err := d.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("elasticsearch: AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	// OpenSearch Serverless requires the payload hash header.
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := d.signer.SignHTTP(ctx, creds, req, hash, d.service, d.region, time.Now()); err != nil {
		return fmt.Errorf("elasticsearch: signing: %w", err)
	}
	return nil
}

type itemResult struct {
	Status int `json:"status"`
	Error  struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

func (r *itemResult) reason() string {
	if r.Error.Type == "" {
		return http.StatusText(r.Status)
	}
	return r.Error.Type + ": " + r.Error.Reason
}

// decodeResponse reads a _bulk response. It returns nil results when the
// response says no item failed, without decoding the items.
func decodeResponse(r io.Reader) ([]itemResult, error) {
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object (%v)", err)
	}
	var items []itemResult
	sawErrors, sawItems := false, false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch t {
		case "errors":
			var e bool
			if err := dec.Decode(&e); err != nil {
				return nil, err
			}
			if !e {
				return nil, nil
			}
			sawErrors = true
		case "items":
			var raw []map[string]itemResult
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			items = make([]itemResult, len(raw))
			for i, m := range raw {
				for _, v := range m { // one action per item
					items[i] = v
				}
			}
			sawItems = true
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, err
			}
		}
	}
	if !sawErrors || !sawItems {
		return nil, errors.New("response lacks errors or items")
	}
	return items, nil
}
