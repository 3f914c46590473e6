// Package cloudwatch is the CloudWatch Logs destination: it turns records
// into PutLogEvents batches that respect every service limit, with log group
// and stream names templated per record, creates groups and streams on
// demand, and retries throttling and server errors with jittered backoff.
package cloudwatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
)

// Type is the destination type name in routes.hcl.
const Type = "cloudwatch"

// Service limits of PutLogEvents.
const (
	maxBatchBytes  = 1_048_576
	eventOverhead  = 26
	maxBatchEvents = 10_000
	maxEventBytes  = maxBatchBytes - eventOverhead
	maxBatchSpan   = 24 * time.Hour
	maxAge         = 14 * 24 * time.Hour
	maxFuture      = 2 * time.Hour
)

// TruncationMarker ends a message cut to fit the event size limit.
const TruncationMarker = "...[truncated by nightjar]"

// Register adds the cloudwatch type to reg.
func Register(reg *destination.Registry) { reg.Register(Type, New) }

type settings struct {
	Region          string            `hcl:"region,optional"`
	LogGroup        hcl.Expression    `hcl:"log_group"`
	LogStream       hcl.Expression    `hcl:"log_stream,optional"`
	CreateLogGroup  *bool             `hcl:"create_log_group,optional"`
	CreateLogStream *bool             `hcl:"create_log_stream,optional"`
	RetentionDays   int               `hcl:"retention_days,optional"`
	KMSKeyID        string            `hcl:"kms_key_id,optional"`
	Tags            map[string]string `hcl:"tags,optional"`
	LogGroupClass   string            `hcl:"log_group_class,optional"`
	RoleARN         string            `hcl:"role_arn,optional"`
	ExternalID      string            `hcl:"external_id,optional"`
	STSEndpoint     string            `hcl:"sts_endpoint,optional"`
	Endpoint        string            `hcl:"endpoint,optional"`
	AccessKeyID     string            `hcl:"access_key_id,optional"`
	SecretAccessKey string            `hcl:"secret_access_key,optional"`
	Timeout         string            `hcl:"timeout,optional"`
	MaxAttempts     int               `hcl:"max_attempts,optional"`
	Concurrency     int               `hcl:"concurrency,optional"`
}

// Destination sends records to CloudWatch Logs.
type Destination struct {
	client        *cloudwatchlogs.Client
	group, stream *destination.Template
	createGroup   bool
	createStream  bool
	retention     int32
	kmsKeyID      string
	tags          map[string]string
	class         types.LogGroupClass
	timeout       time.Duration
	backoff       destination.Backoff
	concurrency   int
	log           *slog.Logger
	limiter       *destination.Limiter
	metrics       *destination.Metrics
	now           func() time.Time
	buffers       sync.Pool // *[]byte, message buffers reused across flushes
	groups        *groupCache
}

// maxKnownGroups bounds the log groups remembered as existing.
const maxKnownGroups = 1024

var validRetention = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// New builds a CloudWatch destination from its routes.hcl block.
func New(cfg destination.Config) (destination.Destination, hcl.Diagnostics) {
	var s settings
	diags := gohcl.DecodeBody(cfg.Body, cfg.Eval, &s)
	if diags.HasErrors() {
		return nil, diags
	}
	rng := cfg.Body.MissingItemRange()
	bad := func(summary, detail string) (destination.Destination, hcl.Diagnostics) {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &rng})
	}
	d := &Destination{
		createGroup: s.CreateLogGroup == nil || *s.CreateLogGroup, createStream: s.CreateLogStream == nil || *s.CreateLogStream,
		retention: int32(s.RetentionDays), kmsKeyID: s.KMSKeyID, tags: s.Tags, class: types.LogGroupClass(s.LogGroupClass),
		timeout: 10 * time.Second, backoff: destination.DefaultBackoff(), concurrency: 4,
		log: cfg.Logger, limiter: destination.NewLimiter(time.Minute), metrics: cfg.Metrics, now: time.Now,
		groups: newGroupCache(maxKnownGroups, &cfg.Metrics.CacheEvictions),
	}
	var dg hcl.Diagnostics
	if d.group, dg = destination.TemplateAttr(s.LogGroup, cfg.Eval, ""); dg.HasErrors() {
		return nil, append(diags, dg...)
	}
	if t, static := d.group.Static(); static && t == "" {
		return bad("Invalid log_group", "log_group must not be empty.")
	}
	if d.stream, dg = destination.TemplateAttr(s.LogStream, cfg.Eval, "{{ hostname }}"); dg.HasErrors() {
		return nil, append(diags, dg...)
	}
	if s.RetentionDays != 0 && !slices.Contains(validRetention, s.RetentionDays) {
		return bad("Invalid retention_days", fmt.Sprintf("retention_days %d is not one CloudWatch accepts (%v).", s.RetentionDays, validRetention))
	}
	switch d.class {
	case "", types.LogGroupClassStandard, types.LogGroupClassInfrequentAccess, types.LogGroupClassDelivery:
	default:
		return bad("Invalid log_group_class", "log_group_class must be STANDARD, INFREQUENT_ACCESS or DELIVERY.")
	}
	var err error
	if d.timeout, err = destination.ParseTimeout(s.Timeout, d.timeout); err != nil {
		return bad("Invalid timeout", err.Error()+".")
	}
	if s.MaxAttempts > 0 {
		d.backoff.Attempts = s.MaxAttempts
	}
	if s.Concurrency > 0 {
		d.concurrency = s.Concurrency
	}
	if (s.AccessKeyID == "") != (s.SecretAccessKey == "") {
		return bad("Incomplete credentials", "Set both access_key_id and secret_access_key, or neither to use the default credential chain.")
	}

	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 2 * d.concurrency
	})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		// Retries are ours: they know which events a partial failure left.
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if s.Region != "" {
		opts = append(opts, config.WithRegion(s.Region))
	}
	if s.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(s.AccessKeyID, s.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return bad("AWS configuration", err.Error())
	}
	if awsCfg.Region == "" {
		return bad("Missing region", "Set region, or AWS_REGION in the environment.")
	}
	if s.RoleARN != "" {
		stsClient := sts.NewFromConfig(awsCfg, func(o *sts.Options) {
			if s.STSEndpoint != "" {
				o.BaseEndpoint = aws.String(s.STSEndpoint)
			}
		})
		p := stscreds.NewAssumeRoleProvider(stsClient, s.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "nightjar-" + hostname()
			if s.ExternalID != "" {
				o.ExternalID = aws.String(s.ExternalID)
			}
		})
		awsCfg.Credentials = aws.NewCredentialsCache(p)
	}
	d.client = cloudwatchlogs.NewFromConfig(awsCfg, func(o *cloudwatchlogs.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
	})
	return d, diags
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// Close implements destination.Destination.
func (d *Destination) Close() error { return nil }

// event is one log event with the batch index of its record.
type event struct {
	ts  int64 // milliseconds
	msg string
	idx int
}

type streamKey struct{ group, stream string }

// Send implements destination.Destination.
func (d *Destination) Send(ctx context.Context, b *destination.Batch) error {
	now := d.now()
	oldest, newest := now.Add(-maxAge).UnixMilli(), now.Add(maxFuture).UnixMilli()

	msgs, bufs := d.buildMessages(b.Records)
	// The messages point into pooled buffers; every request that uses them
	// has returned when Send does.
	defer d.releaseBuffers(bufs)
	streams := map[streamKey][]event{}
	var order []streamKey
	staticGroup, gStatic := d.group.Static()
	staticStream, sStatic := d.stream.Static()
	for i, r := range b.Records {
		msg := msgs[i]
		if len(msg) > maxEventBytes {
			msg = truncate(msg, maxEventBytes)
			d.metrics.Truncated.Add(1)
		}
		ts := r.Time.UnixMilli()
		if ts < oldest || ts > newest {
			// CloudWatch rejects these; sending them only costs a request.
			d.metrics.Dropped.Add(1)
			b.Ack(i)
			continue
		}
		k := streamKey{staticGroup, staticStream}
		if !gStatic {
			k.group = sanitizeGroup(d.group.Render(b.Tag, r))
		}
		if !sStatic {
			k.stream = sanitizeStream(d.stream.Render(b.Tag, r))
		}
		if _, ok := streams[k]; !ok {
			order = append(order, k)
		}
		streams[k] = append(streams[k], event{ts: ts, msg: msg, idx: i})
	}

	d.retryRetention(ctx, order)

	type job struct {
		key streamKey
		evs []event
	}
	var jobs []job
	for _, k := range order {
		evs := streams[k]
		slices.SortStableFunc(evs, func(a, b event) int { return cmp.Compare(a.ts, b.ts) })
		for _, batch := range split(evs) {
			jobs = append(jobs, job{k, batch})
		}
	}

	var (
		wg      sync.WaitGroup
		sem     = make(chan struct{}, d.concurrency)
		errMu   sync.Mutex
		firstEr error
		ackMu   sync.Mutex
	)
	ack := func(idx int) {
		ackMu.Lock()
		b.Ack(idx)
		ackMu.Unlock()
	}
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := d.put(ctx, j.key, j.evs, ack); err != nil {
				errMu.Lock()
				firstEr = destination.Combine(firstEr, err)
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstEr
}

// buildMessages converts every record to JSON, on several goroutines for
// large batches. The messages are strings over the returned buffers, which
// must not be reused before the messages are dead.
func (d *Destination) buildMessages(recs []*record.Record) ([]string, []*[]byte) {
	parts := 1
	if len(recs) >= 2048 {
		parts = min(runtime.GOMAXPROCS(0), 4)
	}
	msgs := make([]string, len(recs))
	bufs := make([]*[]byte, parts)
	per := (len(recs) + parts - 1) / parts
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := min(p*per, len(recs)), min((p+1)*per, len(recs))
		bufs[p] = d.getBuffer()
		wg.Add(1)
		go func(buf *[]byte) {
			defer wg.Done()
			size := 0
			for _, r := range recs[lo:hi] {
				size += len(r.Body)
			}
			// Reserve enough up front: strings must not move with growth.
			b := slices.Grow((*buf)[:0], size+size/2+64)
			ends := make([]int, 0, hi-lo)
			for _, r := range recs[lo:hi] {
				start := len(b)
				var err error
				if b, err = r.Body.AppendJSON(b); err != nil {
					b = append(b[:start], `{"nightjar_error":"record could not be converted to JSON"}`...)
				}
				ends = append(ends, len(b))
			}
			*buf = b
			// Cut the strings only now: appends above may have moved b.
			start := 0
			for i, end := range ends {
				msgs[lo+i] = unsafe.String(&b[start], end-start)
				start = end
			}
		}(bufs[p])
	}
	wg.Wait()
	return msgs, bufs
}

func (d *Destination) getBuffer() *[]byte {
	if b, ok := d.buffers.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

func (d *Destination) releaseBuffers(bufs []*[]byte) {
	for _, b := range bufs {
		if cap(*b) <= 16<<20 { // do not keep outsized buffers
			d.buffers.Put(b)
		}
	}
}

// split cuts chronologically sorted events into batches within the count,
// size and time-span limits.
func split(evs []event) [][]event {
	var out [][]event
	start, size := 0, 0
	for i, e := range evs {
		n := len(e.msg) + eventOverhead
		if i > start && (i-start >= maxBatchEvents || size+n > maxBatchBytes ||
			time.Duration(e.ts-evs[start].ts)*time.Millisecond > maxBatchSpan) {
			out = append(out, evs[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(evs) {
		out = append(out, evs[start:])
	}
	return out
}

// truncate cuts s to at most n bytes at a UTF-8 boundary, ending with the marker.
func truncate(s string, n int) string {
	cut := n - len(TruncationMarker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + TruncationMarker
}

// sanitizeGroup replaces characters CloudWatch does not allow in group names.
func sanitizeGroup(s string) string {
	return sanitize(s, func(c rune) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-/#", c)
	})
}

// sanitizeStream replaces the characters stream names may not contain.
func sanitizeStream(s string) string {
	return sanitize(s, func(c rune) bool { return c != ':' && c != '*' })
}

func sanitize(s string, ok func(rune) bool) string {
	clean := true
	for _, c := range s {
		if !ok(c) {
			clean = false
			break
		}
	}
	if !clean {
		s = strings.Map(func(c rune) rune {
			if ok(c) {
				return c
			}
			return '_'
		}, s)
	}
	if len(s) > 512 {
		s = s[:512]
	}
	return s
}

// put sends one batch, retrying transient failures, creating the group and
// stream when missing, and splitting the batch to isolate events the
// service refuses.
func (d *Destination) put(ctx context.Context, k streamKey, evs []event, ack func(int)) error {
	in := &cloudwatchlogs.PutLogEventsInput{
		LogGroupName:  aws.String(k.group),
		LogStreamName: aws.String(k.stream),
		LogEvents:     make([]types.InputLogEvent, len(evs)),
	}
	for i := range evs {
		in.LogEvents[i] = types.InputLogEvent{Timestamp: &evs[i].ts, Message: &evs[i].msg}
	}
	created := false
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, d.timeout)
		out, err := d.client.PutLogEvents(actx, in)
		cancel()
		if err == nil {
			rejected := rejectedSet(out.RejectedLogEventsInfo, len(evs))
			for i, e := range evs {
				if rejected != nil && rejected[i] {
					d.metrics.Dropped.Add(1)
				} else {
					d.metrics.Sent.Add(1)
				}
				ack(e.idx)
			}
			if rejected != nil {
				d.limiter.Log(d.log, slog.LevelWarn, "rejected", "CloudWatch rejected events outside its time window; dropped", "log_group", k.group, "log_stream", k.stream)
			}
			d.metrics.Batches.Add(1)
			return nil
		}
		code := errorCode(err)
		if code == "ResourceNotFoundException" && !created && (d.createGroup || d.createStream) {
			// The normal first write to a new stream: not a failure.
			if cerr := d.create(ctx, k); cerr != nil {
				d.metrics.Failures.Add(1)
				return cerr
			}
			created = true
			continue
		}
		d.metrics.Failures.Add(1)
		switch {
		case code == "ResourceNotFoundException" && created:
			// Just created; the service may not show it yet. Retry below.
		case code == "InvalidParameterException":
			if len(evs) == 1 {
				d.metrics.Dropped.Add(1)
				ack(evs[0].idx)
				d.limiter.Log(d.log, slog.LevelWarn, "refused", "CloudWatch refused an event; dropped", "log_group", k.group, "log_stream", k.stream, "error", err)
				return nil
			}
			// Isolate the offending events by halving.
			h := len(evs) / 2
			e1 := d.put(ctx, k, evs[:h], ack)
			e2 := d.put(ctx, k, evs[h:], ack)
			return destination.Combine(e1, e2)
		case isPermanent(code):
			return destination.Permanent(fmt.Errorf("cloudwatch PutLogEvents %s/%s: %w", k.group, k.stream, err))
		}
		if ctx.Err() != nil || attempt >= d.backoff.Attempts {
			return fmt.Errorf("cloudwatch PutLogEvents %s/%s after %d attempts: %w", k.group, k.stream, attempt, err)
		}
		d.metrics.Retries.Add(1)
		if werr := d.backoff.Wait(ctx, attempt); werr != nil {
			return fmt.Errorf("cloudwatch PutLogEvents %s/%s: %w", k.group, k.stream, err)
		}
	}
}

func rejectedSet(info *types.RejectedLogEventsInfo, n int) []bool {
	if info == nil {
		return nil
	}
	r := make([]bool, n)
	mark := func(from, to int32) {
		for i := max(from, 0); i < min(to, int32(n)); i++ {
			r[i] = true
		}
	}
	if info.TooOldLogEventEndIndex != nil {
		mark(0, *info.TooOldLogEventEndIndex)
	}
	if info.ExpiredLogEventEndIndex != nil {
		mark(0, *info.ExpiredLogEventEndIndex)
	}
	if info.TooNewLogEventStartIndex != nil {
		mark(*info.TooNewLogEventStartIndex, int32(n))
	}
	return r
}

// create makes the group (when allowed and missing) and the stream.
func (d *Destination) create(ctx context.Context, k streamKey) error {
	if d.createGroup && !d.groups.known(k.group) {
		if err := d.createLogGroup(ctx, k.group); err != nil {
			return err
		}
	}
	if !d.createStream {
		return destination.Permanent(fmt.Errorf("cloudwatch: log stream %s/%s does not exist and create_log_stream is false", k.group, k.stream))
	}
	actx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	_, err := d.client.CreateLogStream(actx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &k.group, LogStreamName: &k.stream})
	if err != nil && errorCode(err) != "ResourceAlreadyExistsException" {
		return classify(fmt.Errorf("cloudwatch CreateLogStream %s/%s: %w", k.group, k.stream, err))
	}
	return nil
}

// createLogGroup creates a group the cache does not know. A group that
// exists already is only remembered. The retention policy of a group this
// call created is owed until PutRetentionPolicy succeeds: a failure there
// does not hold back the records, and a later Send tries again.
func (d *Destination) createLogGroup(ctx context.Context, group string) error {
	actx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	in := &cloudwatchlogs.CreateLogGroupInput{LogGroupName: &group, LogGroupClass: d.class}
	if d.kmsKeyID != "" {
		in.KmsKeyId = &d.kmsKeyID
	}
	if len(d.tags) > 0 {
		in.Tags = d.tags
	}
	_, err := d.client.CreateLogGroup(actx, in)
	switch {
	case err == nil:
		d.groups.add(group, d.retention > 0, d.now())
		d.retryRetention(ctx, []streamKey{{group: group}})
	case errorCode(err) == "ResourceAlreadyExistsException":
		d.groups.add(group, false, d.now())
	default:
		return classify(fmt.Errorf("cloudwatch CreateLogGroup %s: %w", group, err))
	}
	return nil
}

// retryRetention sets the retention policy of the groups among keys whose
// policy is owed and due.
func (d *Destination) retryRetention(ctx context.Context, keys []streamKey) {
	if d.retention <= 0 {
		return
	}
	tried := map[string]bool{}
	for _, k := range keys {
		if tried[k.group] || !d.groups.retentionDue(k.group, d.now()) {
			continue
		}
		tried[k.group] = true
		actx, cancel := context.WithTimeout(ctx, d.timeout)
		_, err := d.client.PutRetentionPolicy(actx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(k.group), RetentionInDays: &d.retention})
		cancel()
		d.groups.retentionResult(k.group, err == nil, d.now())
		if err != nil {
			d.metrics.Failures.Add(1)
			d.limiter.Log(d.log, slog.LevelWarn, "retention", "cloudwatch PutRetentionPolicy failed; records are delivered and the policy is retried later", "log_group", k.group, "retention_days", d.retention, "error", err)
		}
	}
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isPermanent reports error codes that retrying with the same credentials
// and request cannot fix.
func isPermanent(code string) bool {
	switch code {
	case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
		"IncompleteSignature", "MissingAuthenticationTokenException", "InvalidClientTokenId",
		"ValidationException", "UnknownOperationException", "SerializationException",
		"ResourceNotFoundException", "InvalidParameterException", "LimitExceededException":
		return true
	}
	return false
}

// classify marks err permanent when its code says so; everything else,
// network errors included, is transient.
func classify(err error) error {
	if isPermanent(errorCode(err)) {
		return destination.Permanent(err)
	}
	return err
}
