// Package config owns the detection daemon's configuration: the HCL file
// (nightjar.hcl) that selects rules, sizes the capture, enables outputs and
// sets noise control, telemetry and health thresholds. Every setting has a
// default, so Default works with no file; Load reports every problem with
// the file, line and column where it is. The reference is README.md beside
// this file; example.hcl is a complete example.
package config

import (
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/nightjar-sec/nightjar/internal/alert"
	"github.com/nightjar-sec/nightjar/internal/hcldiag"
	"github.com/nightjar-sec/nightjar/internal/hclfunc"
)

// DefaultPath is where the daemon looks for its configuration.
const DefaultPath = "/etc/nightjar/nightjar.hcl"

// Config is the daemon's configuration. Fields named Raw… hold the text of
// the file; the typed field beside each one is filled by Load and Default.
type Config struct {
	// Hostname overrides the host name put in every alert.
	Hostname string `hcl:"hostname,optional"`
	// AppendOutput adds these fields to every alert's output_fields.
	AppendOutput map[string]string `hcl:"append_output,optional"`
	// AppendFields are rule fields (container.name, k8s.pod.name, ...)
	// added to every alert's output_fields when they have a value.
	AppendFields []string `hcl:"append_fields,optional"`
	// OutputQueueSize bounds each output's queue in the fan-out.
	OutputQueueSize int `hcl:"output_queue_size,optional"`

	Rules     *Rules         `hcl:"rules,block"`
	Capture   *Capture       `hcl:"capture,block"`
	RateLimit *RateLimit     `hcl:"rate_limit,block"`
	Dedup     *Dedup         `hcl:"dedup,block"`
	Stdout    *StdoutOutput  `hcl:"stdout_output,block"`
	File      *FileOutput    `hcl:"file_output,block"`
	HTTP      *HTTPOutput    `hcl:"http_output,block"`
	Forward   *ForwardOutput `hcl:"forward_output,block"`
	Metrics   *Metrics       `hcl:"metrics,block"`
	Health    *Health        `hcl:"health,block"`
	Metadata  *Metadata      `hcl:"metadata,block"`
	Debug     *Debug         `hcl:"debug,block"`

	// Path is the file the configuration was loaded from; empty for Default.
	Path string
}

// Rules selects the rules to load.
type Rules struct {
	// DefaultRules loads the rule set built into the daemon.
	DefaultRules bool `hcl:"default_rules,optional"`
	// Paths are rule files and directories (every *.yaml, *.yml, *.hcl in
	// them, in lexical order), loaded after the default rules.
	Paths        []string `hcl:"paths,optional"`
	Enabled      []string `hcl:"enabled,optional"`
	Disabled     []string `hcl:"disabled,optional"`
	EnabledTags  []string `hcl:"enabled_tags,optional"`
	DisabledTags []string `hcl:"disabled_tags,optional"`

	RawMinPriority string `hcl:"min_priority,optional"`
	MinPriority    alert.Priority
}

// Capture sizes the kernel side.
type Capture struct {
	RawRingBufferSize string `hcl:"ring_buffer_size,optional"`
	RingBufferSize    int64
	// RawMaxLatency bounds how long an event may wait in the ring buffer;
	// "0s" has the kernel wake the daemon as soon as it has caught up.
	RawMaxLatency string `hcl:"max_latency,optional"`
	MaxLatency    time.Duration
}

// RateLimit configures the token buckets.
type RateLimit struct {
	Rate        float64     `hcl:"rate,optional"`
	Burst       int         `hcl:"burst,optional"`
	GlobalRate  float64     `hcl:"global_rate,optional"`
	GlobalBurst int         `hcl:"global_burst,optional"`
	Rules       []RuleLimit `hcl:"rule,block"`

	RawSummaryInterval string `hcl:"summary_interval,optional"`
	SummaryInterval    time.Duration
}

// RuleLimit overrides the rate limit for one rule.
type RuleLimit struct {
	Name  string  `hcl:"name,label"`
	Rate  float64 `hcl:"rate"`
	Burst int     `hcl:"burst"`
}

// Dedup configures de-duplication of identical alerts.
type Dedup struct {
	Enabled      bool     `hcl:"enabled,optional"`
	IgnoreFields []string `hcl:"ignore_fields,optional"`

	RawWindow string `hcl:"window,optional"`
	Window    time.Duration
}

// StdoutOutput writes JSON lines to standard output.
type StdoutOutput struct {
	// RawEnabled is nil when the file does not say; then stdout is enabled
	// exactly when no other output is.
	RawEnabled *bool `hcl:"enabled,optional"`
	Enabled    bool
}

// FileOutput writes JSON lines to a file with size-based rotation.
type FileOutput struct {
	Enabled    bool   `hcl:"enabled,optional"`
	Path       string `hcl:"path,optional"`
	MaxBackups int    `hcl:"max_backups,optional"`

	RawMaxSize string `hcl:"max_size,optional"`
	MaxSize    int64
}

// HTTPOutput posts each alert as JSON, as Falco's http_output does.
type HTTPOutput struct {
	Enabled            bool              `hcl:"enabled,optional"`
	URL                string            `hcl:"url,optional"`
	Headers            map[string]string `hcl:"headers,optional"`
	UserAgent          string            `hcl:"user_agent,optional"`
	Retries            int               `hcl:"retries,optional"`
	Concurrency        int               `hcl:"concurrency,optional"`
	InsecureSkipVerify bool              `hcl:"insecure_skip_verify,optional"`
	CAFile             string            `hcl:"ca_file,optional"`
	ClientCert         string            `hcl:"client_cert,optional"`
	ClientKey          string            `hcl:"client_key,optional"`

	RawTimeout string `hcl:"timeout,optional"`
	Timeout    time.Duration
}

// ForwardOutput sends alerts to a log router with the Fluent Forward protocol.
type ForwardOutput struct {
	Enabled bool `hcl:"enabled,optional"`
	// Address is unix:///path, tcp://host:port, or a socket path.
	Address    string `hcl:"address,optional"`
	Tag        string `hcl:"tag,optional"`
	Mode       string `hcl:"mode,optional"`
	RequireAck bool   `hcl:"require_ack,optional"`
	BatchSize  int    `hcl:"batch_size,optional"`
	QueueSize  int    `hcl:"queue_size,optional"`
	Spool      *Spool `hcl:"spool,block"`

	RawBatchBytes   string `hcl:"batch_bytes,optional"`
	RawAckTimeout   string `hcl:"ack_timeout,optional"`
	RawWriteTimeout string `hcl:"write_timeout,optional"`
	RawDialTimeout  string `hcl:"dial_timeout,optional"`
	RawBackoffMin   string `hcl:"backoff_min,optional"`
	RawBackoffMax   string `hcl:"backoff_max,optional"`

	Network      string // "unix" or "tcp", from Address
	Target       string // socket path or host:port, from Address
	BatchBytes   int64
	AckTimeout   time.Duration
	WriteTimeout time.Duration
	DialTimeout  time.Duration
	BackoffMin   time.Duration
	BackoffMax   time.Duration
}

// Spool is the forward output's on-disk queue.
type Spool struct {
	Enabled bool   `hcl:"enabled,optional"`
	Dir     string `hcl:"dir,optional"`

	RawMaxSize     string `hcl:"max_size,optional"`
	RawSegmentSize string `hcl:"segment_size,optional"`
	MaxSize        int64
	SegmentSize    int64
}

// Metrics is the Prometheus and health listener.
type Metrics struct {
	Enabled bool   `hcl:"enabled,optional"`
	Listen  string `hcl:"listen,optional"`
}

// Debug holds diagnostic switches, all off by default and not for production.
type Debug struct {
	// PauseSignals makes SIGUSR1 pause the event loop and SIGUSR2 resume
	// it, so that the capture_stall health check can be exercised on a
	// running daemon. While paused, events wait in the ring buffer (and are
	// dropped, counted, once it is full).
	PauseSignals bool `hcl:"pause_signals,optional"`
	// Pprof serves Go's runtime profiles under /debug/pprof/ on the
	// metrics listener.
	Pprof bool `hcl:"pprof,optional"`
}

// Health sets when /healthz reports unhealthy and when kernel drops raise an alert.
type Health struct {
	RawCaptureStall  string `hcl:"capture_stall,optional"`
	RawOutputFailure string `hcl:"output_failure,optional"`
	// DropAlertThreshold is how many kernel drops within DropAlertInterval
	// raise a "dropped events" alert; at most one such alert per interval.
	// Zero disables the alert.
	DropAlertThreshold   uint64 `hcl:"drop_alert_threshold,optional"`
	RawDropAlertInterval string `hcl:"drop_alert_interval,optional"`

	CaptureStall      time.Duration
	OutputFailure     time.Duration
	DropAlertInterval time.Duration
}

// Metadata selects the container metadata providers: the CRI API of
// containerd and cri-o (Kubernetes pods) and the ECS task metadata endpoint.
type Metadata struct {
	// CRIEndpoints are the CRI sockets asked about each new container, in
	// order; an empty list turns the Kubernetes provider off.
	CRIEndpoints []string `hcl:"cri_endpoints,optional"`
	// ContainerdAddress is containerd's socket, asked about containers
	// it runs outside Kubernetes (nerdctl, ctr); "" turns that off.
	ContainerdAddress string `hcl:"containerd_address,optional"`
	// RawECS is nil when the file does not say; then the ECS provider is
	// on exactly when ecs_uri or ECS_CONTAINER_METADATA_URI_V4 is set.
	RawECS *bool `hcl:"ecs,optional"`
	ECS    bool
	// ECSURI is the task metadata endpoint; ECS_CONTAINER_METADATA_URI_V4
	// when empty.
	ECSURI string `hcl:"ecs_uri,optional"`
	// ECSAgentURI is the ECS container agent's introspection API
	// (http://127.0.0.1:51678 on an EC2 container instance), which lists
	// the containers of every task on the instance; "" turns it off.
	ECSAgentURI string `hcl:"ecs_agent_uri,optional"`
	// RawTimeout bounds each provider's answer about one container.
	RawTimeout string `hcl:"timeout,optional"`
	Timeout    time.Duration
	// RawWait bounds how long the events of a new container wait for its
	// metadata before they are matched without it ("0s": never wait).
	RawWait string `hcl:"wait,optional"`
	Wait    time.Duration
}

// DefaultAppendFields are the fields every alert carries by default: what
// the consoles' queries group container alerts by.
func DefaultAppendFields() []string {
	return []string{
		"container.name", "container.image.repository", "container.image.tag",
		"k8s.ns.name", "k8s.pod.name",
		"ecs.cluster", "ecs.task.arn", "ecs.task.family",
	}
}

// Default returns the configuration used when there is no file.
func Default() *Config {
	host, _ := os.Hostname()
	c := &Config{
		Hostname:        host,
		OutputQueueSize: 10000,
		AppendFields:    DefaultAppendFields(),
		Rules:           &Rules{DefaultRules: true, RawMinPriority: "Debug"},
		Capture:         &Capture{RawRingBufferSize: "16MiB", RawMaxLatency: "0s"},
		RateLimit:       &RateLimit{Rate: 10, Burst: 100, RawSummaryInterval: "60s"},
		Dedup:           &Dedup{RawWindow: "30s"},
		Stdout:          &StdoutOutput{},
		File:            &FileOutput{Path: "/var/log/nightjar/alerts.json", MaxBackups: 5, RawMaxSize: "100MiB"},
		HTTP:            &HTTPOutput{UserAgent: "nightjar", Retries: 2, Concurrency: 16, RawTimeout: "5s"},
		Forward: &ForwardOutput{
			Address: "unix:///var/run/fluent.sock", Tag: "nightjar.alerts", Mode: "packed_forward",
			RequireAck: true, BatchSize: 1000, QueueSize: 100000,
			RawBatchBytes: "1MiB", RawAckTimeout: "30s", RawWriteTimeout: "10s", RawDialTimeout: "5s",
			RawBackoffMin: "100ms", RawBackoffMax: "10s",
			Spool: &Spool{Enabled: true, Dir: "/var/lib/nightjar/spool", RawMaxSize: "256MiB", RawSegmentSize: "16MiB"},
		},
		Metrics: &Metrics{Enabled: true, Listen: "127.0.0.1:9376"},
		Health: &Health{RawCaptureStall: "30s", RawOutputFailure: "5m",
			DropAlertThreshold: 1, RawDropAlertInterval: "60s"},
		Debug: &Debug{},
		Metadata: &Metadata{
			CRIEndpoints:      []string{"/run/containerd/containerd.sock", "/run/crio/crio.sock"},
			ContainerdAddress: "/run/containerd/containerd.sock",
			RawTimeout:        "2s",
			RawWait:           "100ms",
		},
	}
	if diags := c.resolve(nil); diags.HasErrors() {
		panic("config: invalid defaults: " + diags.Error())
	}
	return c
}

// Error is a configuration that failed to load: each diagnostic names the
// file, line and column.
type Error struct {
	Diagnostics hcl.Diagnostics
}

func (e *Error) Error() string { return hcldiag.Format(e.Diagnostics, "\n") }

// Load reads the configuration at path over the defaults.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(src, path)
}

// Parse reads configuration text; filename is used in error positions.
func Parse(src []byte, filename string) (*Config, error) {
	f, diags := hclsyntax.ParseConfig(src, filename, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return nil, &Error{Diagnostics: diags}
	}
	c := Default()
	c.Path = filename
	// gohcl decodes into the non-nil blocks in place, so settings the file
	// leaves out keep their defaults.
	diags = gohcl.DecodeBody(f.Body, evalContext(), c)
	if diags.HasErrors() {
		return nil, &Error{Diagnostics: diags}
	}
	if diags := c.resolve(f.Body.(*hclsyntax.Body)); diags.HasErrors() {
		return nil, &Error{Diagnostics: diags}
	}
	return c, nil
}

func evalContext() *hcl.EvalContext {
	return &hcl.EvalContext{Functions: hclfunc.Functions(os.LookupEnv)}
}
