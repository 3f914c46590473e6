package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/nightjar-sec/nightjar/internal/alert"
	"github.com/nightjar-sec/nightjar/rules/fields"
)

// resolver checks settings and fills the typed fields, reporting each
// problem at the attribute it comes from.
type resolver struct {
	body  *hclsyntax.Body // nil for the defaults
	diags hcl.Diagnostics
}

// at returns the value range of the attribute at path: block types (with
// "type:label" for a labeled block) and last the attribute name.
func (r *resolver) at(path ...string) *hcl.Range {
	if r.body == nil {
		return nil
	}
	body := r.body
	for _, p := range path[:len(path)-1] {
		typ, label, labeled := strings.Cut(p, ":")
		var next *hclsyntax.Body
		for _, b := range body.Blocks {
			if b.Type == typ && (!labeled || (len(b.Labels) > 0 && b.Labels[0] == label)) {
				next = b.Body
				break
			}
		}
		if next == nil {
			return nil
		}
		body = next
	}
	if a, ok := body.Attributes[path[len(path)-1]]; ok {
		rng := a.Expr.Range()
		return &rng
	}
	return nil
}

func (r *resolver) errorf(path []string, summary, format string, args ...any) {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: r.at(path...)}
	if d.Subject == nil && r.body != nil {
		rng := r.body.SrcRange
		d.Subject = &rng
	}
	r.diags = append(r.diags, d)
}

func (r *resolver) duration(dst *time.Duration, raw string, positive bool, path ...string) {
	d, err := time.ParseDuration(raw)
	if err != nil {
		r.errorf(path, "Invalid duration", "%s = %q: want a duration such as \"30s\", \"5m\" or \"250ms\"", path[len(path)-1], raw)
		return
	}
	if d < 0 || (positive && d == 0) {
		r.errorf(path, "Invalid duration", "%s = %q must be greater than zero", path[len(path)-1], raw)
		return
	}
	*dst = d
}

func (r *resolver) size(dst *int64, raw string, path ...string) {
	n, err := ParseSize(raw)
	if err != nil {
		r.errorf(path, "Invalid size", "%s: %v", path[len(path)-1], err)
		return
	}
	if n <= 0 {
		r.errorf(path, "Invalid size", "%s = %q must be greater than zero", path[len(path)-1], raw)
		return
	}
	*dst = n
}

func (r *resolver) positive(v int, path ...string) {
	if v <= 0 {
		r.errorf(path, "Invalid value", "%s = %d must be greater than zero", path[len(path)-1], v)
	}
}

// ParseSize parses a byte size: a number with an optional unit. KiB, MiB,
// GiB (and K, M, G) are powers of 1024; KB, MB, GB are powers of 1000; B or
// no unit is bytes.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	mult := int64(1)
	switch strings.ToLower(unit) {
	case "", "b":
	case "k", "kib":
		mult = 1 << 10
	case "m", "mib":
		mult = 1 << 20
	case "g", "gib":
		mult = 1 << 30
	case "kb":
		mult = 1000
	case "mb":
		mult = 1000 * 1000
	case "gb":
		mult = 1000 * 1000 * 1000
	default:
		return 0, fmt.Errorf("%q: unknown unit %q (want B, KiB, MiB, GiB, KB, MB or GB)", s, unit)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size such as \"16MiB\"", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// resolve validates the configuration and fills the typed fields.
func (c *Config) resolve(body *hclsyntax.Body) hcl.Diagnostics {
	r := &resolver{body: body}
	r.positive(c.OutputQueueSize, "output_queue_size")
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname() // `hostname = ""` means the machine's name too
	}

	reg := fields.New()
	for _, f := range c.AppendFields {
		name, arg, hasArg := strings.Cut(f, "[")
		arg, _ = strings.CutSuffix(arg, "]")
		if _, err := reg.Resolve(name, arg, hasArg); err != nil {
			r.errorf([]string{"append_fields"}, "Unknown field", "append_fields: %q: %v", f, err)
		}
	}

	p, err := alert.ParsePriority(c.Rules.RawMinPriority)
	if err != nil {
		r.errorf([]string{"rules", "min_priority"}, "Invalid priority", "%v", err)
	}
	c.Rules.MinPriority = p

	r.size(&c.Capture.RingBufferSize, c.Capture.RawRingBufferSize, "capture", "ring_buffer_size")
	if n := c.Capture.RingBufferSize; n > 0 && (n < 4096 || n&(n-1) != 0) {
		r.errorf([]string{"capture", "ring_buffer_size"}, "Invalid ring buffer size",
			"ring_buffer_size = %q: the kernel needs a power of two of at least 4KiB", c.Capture.RawRingBufferSize)
	}

	r.duration(&c.Capture.MaxLatency, c.Capture.RawMaxLatency, false, "capture", "max_latency")

	rl := c.RateLimit
	if rl.Rate < 0 || rl.GlobalRate < 0 {
		r.errorf([]string{"rate_limit", "rate"}, "Invalid rate", "rates must be zero (unlimited) or positive")
	}
	if rl.Rate > 0 {
		r.positive(rl.Burst, "rate_limit", "burst")
	}
	if rl.GlobalRate > 0 {
		r.positive(rl.GlobalBurst, "rate_limit", "global_burst")
	}
	seen := map[string]bool{}
	for _, rule := range rl.Rules {
		path := []string{"rate_limit", "rule:" + rule.Name}
		if seen[rule.Name] {
			r.errorf(append(path, "rate"), "Duplicate rule rate limit", "rule %q has more than one rate limit", rule.Name)
		}
		seen[rule.Name] = true
		if rule.Rate < 0 {
			r.errorf(append(path, "rate"), "Invalid rate", "rule %q: rate must be zero (unlimited) or positive", rule.Name)
		}
		if rule.Rate > 0 {
			r.positive(rule.Burst, append(path, "burst")...)
		}
	}
	r.duration(&rl.SummaryInterval, rl.RawSummaryInterval, true, "rate_limit", "summary_interval")

	r.duration(&c.Dedup.Window, c.Dedup.RawWindow, true, "dedup", "window")

	f := c.File
	r.size(&f.MaxSize, f.RawMaxSize, "file_output", "max_size")
	if f.Enabled && f.Path == "" {
		r.errorf([]string{"file_output", "path"}, "Missing file path", "file_output is enabled but path is empty")
	}
	if f.MaxBackups < 0 {
		r.errorf([]string{"file_output", "max_backups"}, "Invalid value", "max_backups must not be negative")
	}

	h := c.HTTP
	r.duration(&h.Timeout, h.RawTimeout, true, "http_output", "timeout")
	if h.Enabled {
		u, err := url.Parse(h.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.errorf([]string{"http_output", "url"}, "Invalid URL", "http_output url %q: want an http:// or https:// URL", h.URL)
		}
	}
	if (h.ClientCert == "") != (h.ClientKey == "") {
		r.errorf([]string{"http_output", "client_cert"}, "Incomplete client certificate", "client_cert and client_key go together")
	}
	if h.Retries < 0 {
		r.errorf([]string{"http_output", "retries"}, "Invalid value", "retries must not be negative")
	}
	r.positive(h.Concurrency, "http_output", "concurrency")

	fw := c.Forward
	c.resolveForward(r, fw)

	if c.Metrics.Enabled {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			r.errorf([]string{"metrics", "listen"}, "Invalid listen address", "listen = %q: want host:port, e.g. \"127.0.0.1:9376\"", c.Metrics.Listen)
		}
	}

	hl := c.Health
	r.duration(&hl.CaptureStall, hl.RawCaptureStall, true, "health", "capture_stall")
	r.duration(&hl.OutputFailure, hl.RawOutputFailure, true, "health", "output_failure")
	r.duration(&hl.DropAlertInterval, hl.RawDropAlertInterval, true, "health", "drop_alert_interval")

	c.resolveMetadata(r, c.Metadata)

	// stdout is the default output: on unless the file says otherwise or
	// another output is enabled.
	if c.Stdout.RawEnabled != nil {
		c.Stdout.Enabled = *c.Stdout.RawEnabled
	} else {
		c.Stdout.Enabled = !(c.File.Enabled || c.HTTP.Enabled || c.Forward.Enabled)
	}
	return r.diags
}

// ecsURIEnv is where the ECS agent gives each container the task metadata
// endpoint v4.
const ecsURIEnv = "ECS_CONTAINER_METADATA_URI_V4"

func (c *Config) resolveMetadata(r *resolver, m *Metadata) {
	const blk = "metadata"
	r.duration(&m.Timeout, m.RawTimeout, true, blk, "timeout")
	r.duration(&m.Wait, m.RawWait, false, blk, "wait")
	if m.Wait == 0 {
		m.Wait = -1 // "0s" in the file: the resolver's "never wait"
	}
	for _, e := range m.CRIEndpoints {
		path := strings.TrimPrefix(e, "unix://")
		if !strings.HasPrefix(path, "/") {
			r.errorf([]string{blk, "cri_endpoints"}, "Invalid CRI endpoint", "cri_endpoints: %q: want an absolute socket path or unix:///path", e)
		}
	}
	if a := strings.TrimPrefix(m.ContainerdAddress, "unix://"); m.ContainerdAddress != "" && !strings.HasPrefix(a, "/") {
		r.errorf([]string{blk, "containerd_address"}, "Invalid containerd address", "containerd_address = %q: want an absolute socket path or unix:///path", m.ContainerdAddress)
	}
	if m.ECSAgentURI != "" {
		if u, err := url.Parse(m.ECSAgentURI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.errorf([]string{blk, "ecs_agent_uri"}, "Invalid URL", "ECS agent introspection endpoint %q: want an http:// URL such as http://127.0.0.1:51678", m.ECSAgentURI)
		}
	}
	uri := m.ECSURI
	if uri == "" {
		uri = os.Getenv(ecsURIEnv)
	}
	if m.RawECS != nil {
		m.ECS = *m.RawECS
	} else {
		m.ECS = uri != ""
	}
	if !m.ECS {
		return
	}
	if uri == "" {
		r.errorf([]string{blk, "ecs"}, "Missing ECS metadata endpoint", "ecs = true but ecs_uri is empty and %s is not set", ecsURIEnv)
		return
	}
	if u, err := url.Parse(uri); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.errorf([]string{blk, "ecs_uri"}, "Invalid URL", "ECS task metadata endpoint %q: want an http:// URL", uri)
		return
	}
	m.ECSURI = uri
}

func (c *Config) resolveForward(r *resolver, fw *ForwardOutput) {
	const blk = "forward_output"
	switch {
	case strings.HasPrefix(fw.Address, "unix://"):
		fw.Network, fw.Target = "unix", strings.TrimPrefix(fw.Address, "unix://")
	case strings.HasPrefix(fw.Address, "tcp://"):
		fw.Network, fw.Target = "tcp", strings.TrimPrefix(fw.Address, "tcp://")
		if _, _, err := net.SplitHostPort(fw.Target); err != nil {
			r.errorf([]string{blk, "address"}, "Invalid address", "address %q: want tcp://host:port", fw.Address)
		}
	case strings.HasPrefix(fw.Address, "/"):
		fw.Network, fw.Target = "unix", fw.Address
	default:
		r.errorf([]string{blk, "address"}, "Invalid address", "address %q: want unix:///path/to/socket, tcp://host:port or an absolute socket path", fw.Address)
	}
	if fw.Network == "unix" && fw.Target == "" {
		r.errorf([]string{blk, "address"}, "Invalid address", "address %q has no socket path", fw.Address)
	}
	if fw.Tag == "" {
		r.errorf([]string{blk, "tag"}, "Invalid tag", "tag must not be empty")
	}
	switch fw.Mode {
	case "packed_forward", "forward", "compressed_packed_forward":
	default:
		r.errorf([]string{blk, "mode"}, "Invalid mode", "mode = %q: want packed_forward, forward or compressed_packed_forward", fw.Mode)
	}
	r.positive(fw.BatchSize, blk, "batch_size")
	r.positive(fw.QueueSize, blk, "queue_size")
	r.size(&fw.BatchBytes, fw.RawBatchBytes, blk, "batch_bytes")
	r.duration(&fw.AckTimeout, fw.RawAckTimeout, true, blk, "ack_timeout")
	r.duration(&fw.WriteTimeout, fw.RawWriteTimeout, true, blk, "write_timeout")
	r.duration(&fw.DialTimeout, fw.RawDialTimeout, true, blk, "dial_timeout")
	r.duration(&fw.BackoffMin, fw.RawBackoffMin, true, blk, "backoff_min")
	r.duration(&fw.BackoffMax, fw.RawBackoffMax, true, blk, "backoff_max")
	if fw.BackoffMax > 0 && fw.BackoffMin > fw.BackoffMax {
		r.errorf([]string{blk, "backoff_max"}, "Invalid backoff", "backoff_max (%s) is less than backoff_min (%s)", fw.BackoffMax, fw.BackoffMin)
	}
	sp := fw.Spool
	r.size(&sp.MaxSize, sp.RawMaxSize, blk, "spool", "max_size")
	r.size(&sp.SegmentSize, sp.RawSegmentSize, blk, "spool", "segment_size")
	if sp.SegmentSize > sp.MaxSize && sp.MaxSize > 0 {
		r.errorf([]string{blk, "spool", "segment_size"}, "Invalid spool size", "segment_size (%s) is larger than max_size (%s)", sp.RawSegmentSize, sp.RawMaxSize)
	}
	if sp.Enabled && fw.Enabled && sp.Dir == "" {
		r.errorf([]string{blk, "spool", "dir"}, "Missing spool directory", "spool is enabled but dir is empty")
	}
}
