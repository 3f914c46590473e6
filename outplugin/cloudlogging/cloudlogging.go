// Package cloudlogging is the Google Cloud Logging destination: each record
// becomes a LogEntry whose jsonPayload is the record, with severity mapped
// from the Falco priority, labels and monitored resource taken from the
// record, written in batches within the service's size limits.
package cloudlogging

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/compute/metadata"
	logging "cloud.google.com/go/logging/apiv2"
	"cloud.google.com/go/logging/apiv2/loggingpb"
	"github.com/googleapis/gax-go/v2"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/nightjar-sec/nightjar/internal/alert"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	ltype "google.golang.org/genproto/googleapis/logging/type"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Type is the destination type name in routes.hcl.
const Type = "cloud_logging"

// Service limits of entries.write, with room for the request envelope.
const (
	maxEntryBytes   = 256 * 1024
	maxRequestBytes = 10*1024*1024 - 64*1024
	maxLabelValue   = 64 * 1024
)

// TruncationMarker ends a payload cut to fit the entry size limit.
const TruncationMarker = "...[truncated by nightjar]"

// Register adds the cloud_logging type to reg.
func Register(reg *destination.Registry) { reg.Register(Type, New) }

type settings struct {
	Project        string         `hcl:"project,optional"`
	LogName        hcl.Expression `hcl:"log_name,optional"`
	Labels         hcl.Expression `hcl:"labels,optional"`
	ResourceType   string         `hcl:"resource_type,optional"`
	ResourceLabels hcl.Expression `hcl:"resource_labels,optional"`
	ClusterName    string         `hcl:"cluster_name,optional"`
	Location       string         `hcl:"location,optional"`
	Endpoint       string         `hcl:"endpoint,optional"`
	Insecure       bool           `hcl:"insecure,optional"`
	Timeout        string         `hcl:"timeout,optional"`
	MaxAttempts    int            `hcl:"max_attempts,optional"`
	MaxEntries     int            `hcl:"max_entries,optional"`
	Concurrency    int            `hcl:"concurrency,optional"`
}

// Destination writes records to Cloud Logging.
type Destination struct {
	client       *logging.Client
	project      string
	logName      *destination.Template
	labels       map[string]*destination.Template
	resourceType string
	resLabels    map[string]*destination.Template
	clusterName  string
	location     string
	timeout      time.Duration
	backoff      destination.Backoff
	maxEntries   int
	concurrency  int
	log          *slog.Logger
	limiter      *destination.Limiter
	metrics      *destination.Metrics

	meta     *metadata.Client
	detectMu sync.Mutex
	detected bool              // set once detection succeeded; the fields below are fixed from then on
	gce      map[string]string // instance_id, zone, cluster-name, location from the metadata server
}

var defaultLabels = map[string]string{
	"rule":      "{{ rule }}",
	"priority":  "{{ priority }}",
	"namespace": "{{ output_fields.k8s.ns.name }}",
	"pod":       "{{ output_fields.k8s.pod.name }}",
}

// New builds a Cloud Logging destination from its routes.hcl block.
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
		project: s.Project, resourceType: s.ResourceType, clusterName: s.ClusterName, location: s.Location,
		timeout: 10 * time.Second, backoff: destination.DefaultBackoff(), maxEntries: 1000, concurrency: 2,
		log: cfg.Logger, limiter: destination.NewLimiter(time.Minute), metrics: cfg.Metrics, labels: map[string]*destination.Template{}, resLabels: map[string]*destination.Template{},
	}
	var dg hcl.Diagnostics
	if d.logName, dg = destination.TemplateAttr(s.LogName, cfg.Eval, "nightjar"); dg.HasErrors() {
		return nil, append(diags, dg...)
	}
	if isNull(s.Labels) {
		for k, v := range defaultLabels {
			d.labels[k], _ = destination.ParseTemplate(v)
		}
	} else if dg = templateMap(s.Labels, cfg.Eval, d.labels); dg.HasErrors() {
		return nil, append(diags, dg...)
	}
	if len(d.labels) > 64 {
		return bad("Too many labels", "Cloud Logging allows at most 64 labels per entry.")
	}
	if !isNull(s.ResourceLabels) {
		if dg = templateMap(s.ResourceLabels, cfg.Eval, d.resLabels); dg.HasErrors() {
			return nil, append(diags, dg...)
		}
	}
	switch d.resourceType {
	case "":
		d.resourceType = "auto"
	case "auto", "k8s_container", "gce_instance", "generic_node", "global":
	default:
		return bad("Invalid resource_type", "resource_type must be auto, k8s_container, gce_instance, generic_node or global.")
	}
	var err error
	if d.timeout, err = destination.ParseTimeout(s.Timeout, d.timeout); err != nil {
		return bad("Invalid timeout", err.Error()+".")
	}
	if s.MaxAttempts > 0 {
		d.backoff.Attempts = s.MaxAttempts
	}
	if s.MaxEntries > 0 {
		d.maxEntries = s.MaxEntries
	}
	if s.Concurrency > 0 {
		d.concurrency = s.Concurrency
	}
	var opts []option.ClientOption
	if s.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(s.Endpoint))
	}
	if s.Insecure {
		// For emulators and tests: plaintext and no credentials.
		opts = append(opts, option.WithoutAuthentication(), option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	client, err := logging.NewClient(context.Background(), opts...)
	if err != nil {
		return bad("Cloud Logging client", err.Error())
	}
	d.client = client
	// A client of our own: the package-level OnGCE memoizes its first
	// answer for the life of the process.
	d.meta = metadata.NewWithOptions(&metadata.Options{})
	return d, diags
}

func isNull(e hcl.Expression) bool {
	if e == nil {
		return true
	}
	v, diags := e.Value(nil)
	return !diags.HasErrors() && v.IsNull()
}

// templateMap parses an object expression of string templates into out.
func templateMap(e hcl.Expression, ectx *hcl.EvalContext, out map[string]*destination.Template) hcl.Diagnostics {
	pairs, diags := hcl.ExprMap(e)
	if diags.HasErrors() {
		return diags
	}
	for _, p := range pairs {
		k, d := p.Key.Value(ectx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if k.Type() != cty.String || k.IsNull() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid label name", Detail: "Label names must be strings.", Subject: p.Key.Range().Ptr()})
			continue
		}
		t, d := destination.TemplateAttr(p.Value, ectx, "")
		diags = append(diags, d...)
		out[k.AsString()] = t
	}
	return diags
}

// Close implements destination.Destination.
func (d *Destination) Close() error { return d.client.Close() }

// detect fills what was not configured from the environment: the project
// from GOOGLE_CLOUD_PROJECT or the metadata server, and GCE facts for the
// monitored resource. Its result is kept only when every lookup got an
// answer: a metadata server that fails (starting up, restarting) makes this
// Send fail transiently, and the next Send asks again.
func (d *Destination) detect(ctx context.Context) error {
	d.detectMu.Lock()
	defer d.detectMu.Unlock()
	if d.detected {
		return nil
	}
	project, cluster, location := d.project, d.clusterName, d.location
	if project == "" {
		project = os.Getenv("GOOGLE_CLOUD_PROJECT")
	}
	gce := map[string]string{}
	needGCE := project == "" || d.resourceType == "gce_instance" ||
		((d.resourceType == "auto" || d.resourceType == "k8s_container") && (cluster == "" || location == ""))
	if needGCE && d.meta.OnGCEWithContext(ctx) {
		for _, q := range [...]struct{ key, path string }{
			{"project", "project/project-id"},
			{"instance_id", "instance/id"},
			{"zone", "instance/zone"},
			{"cluster_name", "instance/attributes/cluster-name"},
			{"location", "instance/attributes/cluster-location"},
		} {
			v, err := d.meta.GetWithContext(ctx, q.path)
			var undefined metadata.NotDefinedError
			switch {
			case err == nil:
				gce[q.key] = strings.TrimSpace(v)
			case errors.As(err, &undefined):
				// An answer: this machine has no such attribute.
			default:
				err = fmt.Errorf("cloud_logging: metadata server: %s: %w", q.path, err)
				d.limiter.Log(d.log, slog.LevelWarn, "metadata", "metadata server lookup failed; chunk will be retried", "error", err)
				return err
			}
		}
		if z := gce["zone"]; z != "" {
			gce["zone"] = z[strings.LastIndexByte(z, '/')+1:]
		}
		if project == "" {
			project = gce["project"]
		}
	}
	if project == "" {
		// Not cached either: the probe runs again at the next Send.
		return destination.Permanent(errors.New("cloud_logging: project not set and not detectable (set project, GOOGLE_CLOUD_PROJECT, or run on Google Cloud)"))
	}
	if cluster == "" {
		cluster = gce["cluster_name"]
	}
	if location == "" {
		location = gce["location"]
	}
	if location == "" {
		location = gce["zone"]
	}
	d.project, d.clusterName, d.location, d.gce = project, cluster, location, gce
	d.detected = true
	return nil
}

var severities = [...]ltype.LogSeverity{
	alert.PriorityEmergency:     ltype.LogSeverity_EMERGENCY,
	alert.PriorityAlert:         ltype.LogSeverity_ALERT,
	alert.PriorityCritical:      ltype.LogSeverity_CRITICAL,
	alert.PriorityError:         ltype.LogSeverity_ERROR,
	alert.PriorityWarning:       ltype.LogSeverity_WARNING,
	alert.PriorityNotice:        ltype.LogSeverity_NOTICE,
	alert.PriorityInformational: ltype.LogSeverity_INFO,
	alert.PriorityDebug:         ltype.LogSeverity_DEBUG,
}

// Severity maps a Falco priority name to a Cloud Logging severity.
func Severity(priority string) ltype.LogSeverity {
	p, err := alert.ParsePriority(priority)
	if err != nil {
		return ltype.LogSeverity_DEFAULT
	}
	return severities[p]
}

func text(r *record.Record, path string) string {
	if v, ok := r.Lookup(path); ok {
		return v.Text()
	}
	return ""
}

// resource returns the monitored resource of a record.
func (d *Destination) resource(tag string, r *record.Record) *monitoredres.MonitoredResource {
	typ := d.resourceType
	ns, pod := text(r, "output_fields.k8s.ns.name"), text(r, "output_fields.k8s.pod.name")
	if typ == "auto" {
		switch {
		case ns != "" && pod != "":
			typ = "k8s_container"
		case d.gce["instance_id"] != "":
			typ = "gce_instance"
		default:
			typ = "generic_node"
		}
	}
	l := map[string]string{"project_id": d.project}
	switch typ {
	case "k8s_container":
		l["location"] = d.location
		l["cluster_name"] = d.clusterName
		l["namespace_name"] = ns
		l["pod_name"] = pod
		l["container_name"] = text(r, "output_fields.container.name")
		if l["container_name"] == "" {
			l["container_name"] = text(r, "output_fields.k8s.container.name")
		}
	case "gce_instance":
		l["instance_id"] = d.gce["instance_id"]
		l["zone"] = d.gce["zone"]
	case "generic_node":
		l["location"] = d.location
		l["namespace"] = "nightjar"
		l["node_id"] = text(r, "hostname")
	}
	for k, t := range d.resLabels {
		if v, ok := t.Try(tag, r); ok {
			l[k] = v
		}
	}
	for k, v := range l {
		if v == "" && k != "project_id" {
			l[k] = destination.Missing
		}
	}
	return &monitoredres.MonitoredResource{Type: typ, Labels: l}
}

// entry builds the LogEntry of one record and returns its encoded size.
func (d *Destination) entry(tag string, r *record.Record) (*loggingpb.LogEntry, int, error) {
	payload, err := toStruct(r.Body)
	if err != nil {
		return nil, 0, err
	}
	e := &loggingpb.LogEntry{
		LogName:   "projects/" + d.project + "/logs/" + url.PathEscape(d.logName.Render(tag, r)),
		Resource:  d.resource(tag, r),
		Timestamp: timestamppb.New(r.Time),
		Severity:  Severity(text(r, "priority")),
		Payload:   &loggingpb.LogEntry_JsonPayload{JsonPayload: payload},
		InsertId:  text(r, "uuid"),
	}
	if len(d.labels) > 0 {
		e.Labels = make(map[string]string, len(d.labels))
		for k, t := range d.labels {
			if v, ok := t.Try(tag, r); ok {
				if len(v) > maxLabelValue {
					v = truncate(v, maxLabelValue)
				}
				e.Labels[k] = v
			}
		}
	}
	// Sizing a Struct is costly; a cheap upper bound usually shows the
	// entry is far below the limit.
	size := sizeBound(e, r)
	if size > maxEntryBytes/2 {
		size = proto.Size(e)
	}
	if size > maxEntryBytes {
		d.shrink(e, r)
		d.metrics.Truncated.Add(1)
		size = proto.Size(e)
	}
	return e, size, nil
}

// sizeBound returns an upper bound of the entry's encoded size. Each
// msgpack byte grows to at most 16 bytes as a Struct (the worst case, a
// one-byte integer, becomes a tagged double inside a Value of a list or
// map entry), and the other fields are bounded directly.
func sizeBound(e *loggingpb.LogEntry, r *record.Record) int {
	n := 16*len(r.Body) + 256 + len(e.LogName) + len(e.InsertId)
	for k, v := range e.Labels {
		n += len(k) + len(v) + 16
	}
	for k, v := range e.Resource.GetLabels() {
		n += len(k) + len(v) + 16
	}
	return n + len(e.Resource.GetType())
}

// shrink replaces an oversized payload by its short top-level fields and
// the record's JSON cut to fit, marked as truncated.
func (d *Destination) shrink(e *loggingpb.LogEntry, r *record.Record) {
	js, _ := r.Body.AppendJSON(nil)
	small := map[string]*structpb.Value{"nightjar_truncated": structpb.NewBoolValue(true)}
	for _, k := range []string{"time", "rule", "priority", "source", "hostname", "uuid"} {
		if v, ok := r.Lookup(k); ok {
			if s := v.Text(); len(s) < 1024 {
				small[k] = structpb.NewStringValue(s)
			}
		}
	}
	e.Payload = &loggingpb.LogEntry_JsonPayload{JsonPayload: &structpb.Struct{Fields: small}}
	room := maxEntryBytes - proto.Size(e) - 64
	small["record"] = structpb.NewStringValue(truncate(string(js), max(room, 0)))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len(TruncationMarker)
	if cut < 0 {
		return ""
	}
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + TruncationMarker
}

// toStruct converts a record's map straight from msgpack into a Struct,
// with the same value mapping as the JSON form: binary as base64, EventTime
// as RFC 3339, other extensions and non-finite floats as null, invalid
// UTF-8 replaced.
func toStruct(v record.Value) (*structpb.Struct, error) {
	if v.Kind() != record.Map {
		return nil, errors.New("record body is not a map")
	}
	return toFields(v), nil
}

func toFields(v record.Value) *structpb.Struct {
	s := &structpb.Struct{Fields: make(map[string]*structpb.Value, v.Len())}
	v.Pairs(func(k, val record.Value) bool {
		key := k.Text()
		if b, ok := k.Str(); ok && utf8.Valid(b) {
			key = string(b)
		}
		s.Fields[strings.ToValidUTF8(key, "\uFFFD")] = toValue(val)
		return true
	})
	return s
}

func toValue(v record.Value) *structpb.Value {
	switch v.Kind() {
	case record.Bool:
		b, _ := v.Bool()
		return structpb.NewBoolValue(b)
	case record.Int, record.Float:
		f, _ := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return structpb.NewNullValue()
		}
		return structpb.NewNumberValue(f)
	case record.String:
		b, _ := v.Str()
		if utf8.Valid(b) {
			return structpb.NewStringValue(string(b))
		}
		return structpb.NewStringValue(strings.ToValidUTF8(string(b), "\uFFFD"))
	case record.Binary:
		return structpb.NewStringValue(base64.StdEncoding.EncodeToString([]byte(v.Text())))
	case record.Ext:
		if t, ok := v.Time(); ok {
			return structpb.NewStringValue(t.UTC().Format(time.RFC3339Nano))
		}
	case record.Array:
		l := &structpb.ListValue{Values: make([]*structpb.Value, 0, v.Len())}
		v.Elems(func(e record.Value) bool {
			l.Values = append(l.Values, toValue(e))
			return true
		})
		return structpb.NewListValue(l)
	case record.Map:
		return structpb.NewStructValue(toFields(v))
	}
	return structpb.NewNullValue()
}

// Send implements destination.Destination.
func (d *Destination) Send(ctx context.Context, b *destination.Batch) error {
	if err := d.detect(ctx); err != nil {
		return err
	}
	type item struct {
		e   *loggingpb.LogEntry
		idx int
	}
	var (
		batch    []item
		size     int
		wg       sync.WaitGroup
		sem      = make(chan struct{}, d.concurrency)
		errMu    sync.Mutex
		firstErr error
	)
	// Each full request is written while the next one is being built.
	flush := func() {
		if len(batch) == 0 {
			return
		}
		entries := make([]*loggingpb.LogEntry, len(batch))
		idx := make([]int, len(batch))
		for i, it := range batch {
			entries[i], idx[i] = it.e, it.idx
		}
		batch, size = batch[:0], 0
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := d.write(ctx, entries, idx, b)
			errMu.Lock()
			firstErr = destination.Combine(firstErr, err)
			errMu.Unlock()
		}()
	}
	for i, r := range b.Records {
		e, n, err := d.entry(b.Tag, r)
		if err != nil {
			d.metrics.Dropped.Add(1)
			d.limiter.Log(d.log, slog.LevelWarn, "entry", "record cannot become a log entry; dropped", "error", err)
			b.Ack(i)
			continue
		}
		n += 8 // field tag and length prefix
		if len(batch) > 0 && (len(batch) >= d.maxEntries || size+n > maxRequestBytes) {
			flush()
		}
		batch = append(batch, item{e, i})
		size += n
	}
	flush()
	wg.Wait()
	return firstErr
}

// write sends one request with retries. With partial success the service
// writes the valid entries and names the invalid ones, which are dropped.
func (d *Destination) write(ctx context.Context, entries []*loggingpb.LogEntry, idx []int, b *destination.Batch) error {
	req := &loggingpb.WriteLogEntriesRequest{Entries: entries, PartialSuccess: true}
	noRetry := gax.WithRetry(func() gax.Retryer { return nil })
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, d.timeout)
		_, err := d.client.WriteLogEntries(actx, req, noRetry)
		cancel()
		if err == nil {
			for _, i := range idx {
				b.Ack(i)
			}
			d.metrics.Sent.Add(uint64(len(idx)))
			d.metrics.Batches.Add(1)
			return nil
		}
		d.metrics.Failures.Add(1)
		st, _ := status.FromError(err)
		switch st.Code() {
		case codes.InvalidArgument:
			for _, det := range st.Details() {
				if pe, ok := det.(*loggingpb.WriteLogEntriesPartialErrors); ok {
					for j, i := range idx {
						if _, bad := pe.LogEntryErrors[int32(j)]; bad {
							d.metrics.Dropped.Add(1)
						} else {
							d.metrics.Sent.Add(1)
						}
						b.Ack(i)
					}
					d.limiter.Log(d.log, slog.LevelWarn, "partial", "Cloud Logging refused entries; dropped", "count", len(pe.LogEntryErrors), "error", err)
					d.metrics.Batches.Add(1)
					return nil
				}
			}
			if len(entries) == 1 {
				d.metrics.Dropped.Add(1)
				b.Ack(idx[0])
				d.limiter.Log(d.log, slog.LevelWarn, "refused", "Cloud Logging refused an entry; dropped", "error", err)
				return nil
			}
			h := len(entries) / 2
			return destination.Combine(d.write(ctx, entries[:h], idx[:h], b), d.write(ctx, entries[h:], idx[h:], b))
		case codes.PermissionDenied, codes.Unauthenticated, codes.NotFound, codes.FailedPrecondition, codes.Unimplemented:
			return destination.Permanent(fmt.Errorf("cloud logging WriteLogEntries: %w", err))
		}
		if ctx.Err() != nil || attempt >= d.backoff.Attempts {
			return fmt.Errorf("cloud logging WriteLogEntries after %d attempts: %w", attempt, err)
		}
		d.metrics.Retries.Add(1)
		if werr := d.backoff.Wait(ctx, attempt); werr != nil {
			return fmt.Errorf("cloud logging WriteLogEntries: %w", err)
		}
	}
}
