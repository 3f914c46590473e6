package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/internal/alert"
)

func TestDefault(t *testing.T) {
	c := Default()
	host, _ := os.Hostname()
	if c.Hostname != host || !c.Stdout.Enabled || c.File.Enabled || c.HTTP.Enabled || c.Forward.Enabled {
		t.Fatalf("defaults: hostname %q stdout %v file %v http %v forward %v", c.Hostname, c.Stdout.Enabled, c.File.Enabled, c.HTTP.Enabled, c.Forward.Enabled)
	}
	if c.Rules.MinPriority != alert.PriorityDebug || c.Capture.RingBufferSize != 16<<20 || c.Forward.Tag != "nightjar.alerts" ||
		c.Forward.Network != "unix" || c.Forward.Target != "/var/run/fluent.sock" || !c.Forward.RequireAck ||
		c.Forward.Spool.MaxSize != 256<<20 || c.RateLimit.SummaryInterval != time.Minute || c.Health.OutputFailure != 5*time.Minute {
		t.Fatalf("defaults not resolved: %+v %+v %+v", c.Rules, c.Capture, c.Forward)
	}
	// An empty file is the defaults.
	e, err := Parse(nil, "empty.hcl")
	if err != nil {
		t.Fatal(err)
	}
	e.Path = ""
	if !reflect.DeepEqual(e, c) {
		t.Fatalf("empty file differs from Default")
	}
}

func TestExampleLoads(t *testing.T) {
	t.Setenv("NODE_NAME", "node-from-env")
	t.Setenv("ALERT_WEBHOOK_TOKEN", "tok3n")
	c, err := Load("example.hcl")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"hostname from env()", c.Hostname, "node-from-env"},
		{"append_output", c.AppendOutput["cluster"], "prod-eu-1"},
		{"min_priority", c.Rules.MinPriority, alert.PriorityNotice},
		{"paths", len(c.Rules.Paths), 2},
		{"disabled_tags", c.Rules.DisabledTags, []string{"network"}},
		{"global_rate", c.RateLimit.GlobalRate, 1000.0},
		{"rule override", c.RateLimit.Rules, []RuleLimit{{Name: "Terminal shell in container", Rate: 1, Burst: 5}}},
		{"dedup", c.Dedup.Enabled && c.Dedup.Window == 30*time.Second, true},
		{"stdout off", c.Stdout.Enabled, false},
		{"file", c.File.Enabled && c.File.MaxSize == 100<<20, true},
		{"http header with env", c.HTTP.Headers["Authorization"], "Bearer tok3n"},
		{"http timeout", c.HTTP.Timeout, 5 * time.Second},
		{"forward", c.Forward.Enabled && c.Forward.Network == "unix" && c.Forward.Target == "/var/run/fluent.sock", true},
		{"forward backoff", c.Forward.BackoffMin, 100 * time.Millisecond},
		{"batch bytes", c.Forward.BatchBytes, int64(1 << 20)},
		{"spool", c.Forward.Spool.SegmentSize, int64(16 << 20)},
		{"metrics", c.Metrics.Listen, "127.0.0.1:9376"},
		{"drop alert", c.Health.DropAlertInterval, time.Minute},
		{"cri endpoints", c.Metadata.CRIEndpoints, []string{"/run/containerd/containerd.sock", "/run/crio/crio.sock"}},
		{"containerd address", c.Metadata.ContainerdAddress, "/run/containerd/containerd.sock"},
		{"ecs", c.Metadata.ECS, true},
		{"ecs uri", c.Metadata.ECSURI, "http://169.254.170.2/v4/9c1e5b7a0d3f4e2a8b6c1d0e9f8a7b6c-3582601234"},
		{"metadata timeout", c.Metadata.Timeout, 2 * time.Second},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestPartialBlockKeepsDefaults(t *testing.T) {
	c, err := Parse([]byte("forward_output {\n  enabled = true\n  address = \"tcp://127.0.0.1:24224\"\n}\n"), "p.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if c.Forward.Network != "tcp" || c.Forward.Target != "127.0.0.1:24224" || c.Forward.Tag != "nightjar.alerts" || c.Forward.BatchSize != 1000 || !c.Forward.Spool.Enabled {
		t.Fatalf("forward %+v", c.Forward)
	}
	if c.Stdout.Enabled {
		t.Fatal("stdout stays on although another output is enabled")
	}
}

// TestErrorPositions is the error corpus: each bad file must fail with the
// file, line and column of the problem.
func TestErrorPositions(t *testing.T) {
	os.Unsetenv("NIGHTJAR_TEST_UNSET")
	t.Setenv("ECS_CONTAINER_METADATA_URI_V4", "")
	cases := []struct {
		name, src, pos, msg string
	}{
		{"syntax", "rules {\n  paths = [\n}\n", "bad.hcl:3:1", ""},
		{"unknown attribute", "hostname = \"a\"\nhostnme = \"b\"\n", "bad.hcl:2:1", "Unsupported argument"},
		{"unknown block", "outputs {\n}\n", "bad.hcl:1:1", "Unsupported block type"},
		{"append field", "hostname = \"a\"\nappend_fields = [\"k8s.pod.nme\"]\n", "bad.hcl:2:17", "k8s.pod.nme"},
		{"wrong type", "rate_limit {\n  rate = \"fast\"\n}\n", "bad.hcl:2:11", "number is required"},
		{"bad priority", "rules {\n  min_priority = \"Loud\"\n}\n", "bad.hcl:2:18", "unknown priority"},
		{"bad duration", "dedup {\n  window = \"30 seconds\"\n}\n", "bad.hcl:2:12", "Invalid duration"},
		{"negative duration", "health {\n  capture_stall = \"-1s\"\n}\n", "bad.hcl:2:19", "greater than zero"},
		{"bad size", "capture {\n  ring_buffer_size = \"16 furlongs\"\n}\n", "bad.hcl:2:22", "unknown unit"},
		{"ring not power of two", "capture {\n  ring_buffer_size = \"3MiB\"\n}\n", "bad.hcl:2:22", "power of two"},
		{"forward address", "forward_output {\n  enabled = true\n  address = \"fluent.sock\"\n}\n", "bad.hcl:3:13", "Invalid address"},
		{"forward mode", "forward_output {\n  mode = \"turbo\"\n}\n", "bad.hcl:2:10", "Invalid mode"},
		{"spool size", "forward_output {\n  spool {\n    max_size = \"1MiB\"\n    segment_size = \"2MiB\"\n  }\n}\n", "bad.hcl:4:20", "larger than max_size"},
		{"http url", "http_output {\n  enabled = true\n  url = \"ftp://x\"\n}\n", "bad.hcl:3:9", "Invalid URL"},
		{"env unset", "hostname = env(\"NIGHTJAR_TEST_UNSET\")\n", "bad.hcl:1:12", "NIGHTJAR_TEST_UNSET is not set"},
		{"duplicate block", "metrics {\n}\nmetrics {\n}\n", "bad.hcl:3:1", "Duplicate metrics block"},
		{"rule limit burst", "rate_limit {\n  rule \"X\" {\n    rate = 1\n    burst = 0\n  }\n}\n", "bad.hcl:4:13", "burst = 0 must be greater than zero"},
		{"rule limit missing", "rate_limit {\n  rule \"X\" {\n    rate = 1\n  }\n}\n", "bad.hcl:2:12", "burst"},
		{"metrics listen", "metrics {\n  listen = \"9376\"\n}\n", "bad.hcl:2:12", "Invalid listen address"},
		{"batch size", "forward_output {\n  batch_size = 0\n}\n", "bad.hcl:2:16", "batch_size = 0"},
		{"cri endpoint", "metadata {\n  cri_endpoints = [\"run/crio.sock\"]\n}\n", "bad.hcl:2:19", "Invalid CRI endpoint"},
		{"ecs without uri", "metadata {\n  ecs = true\n}\n", "bad.hcl:2:9", "ECS_CONTAINER_METADATA_URI_V4 is not set"},
		{"ecs uri", "metadata {\n  ecs_uri = \"169.254.170.2/v4\"\n  ecs = true\n}\n", "bad.hcl:2:13", "Invalid URL"},
		{"containerd address", "metadata {\n  containerd_address = \"containerd.sock\"\n}\n", "bad.hcl:2:24", "Invalid containerd address"},
		{"ecs agent uri", "metadata {\n  ecs_agent_uri = \"127.0.0.1:51678\"\n}\n", "bad.hcl:2:19", "Invalid URL"},
		{"metadata timeout", "metadata {\n  timeout = \"0s\"\n}\n", "bad.hcl:2:13", "greater than zero"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src), "bad.hcl")
			if err == nil {
				t.Fatal("no error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *config.Error: %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.pos+":") {
				t.Fatalf("error %q does not start at %s", err, tc.pos)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

// TestMetadataECSDefault: the ECS provider is on exactly when the ECS agent
// set the endpoint variable, unless the file says otherwise.
func TestMetadataECSDefault(t *testing.T) {
	t.Setenv("ECS_CONTAINER_METADATA_URI_V4", "")
	c, err := Parse(nil, "a.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if c.Metadata.ECS || len(c.Metadata.CRIEndpoints) != 2 || c.Metadata.Timeout != 2*time.Second {
		t.Errorf("defaults without ECS: %+v", c.Metadata)
	}
	t.Setenv("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/abc")
	if c, err = Parse(nil, "b.hcl"); err != nil {
		t.Fatal(err)
	}
	if !c.Metadata.ECS || c.Metadata.ECSURI != "http://169.254.170.2/v4/abc" {
		t.Errorf("defaults in an ECS task: %+v", c.Metadata)
	}
	if c, err = Parse([]byte("metadata {\n  ecs = false\n  cri_endpoints = []\n}\n"), "c.hcl"); err != nil {
		t.Fatal(err)
	}
	if c.Metadata.ECS || len(c.Metadata.CRIEndpoints) != 0 {
		t.Errorf("ecs = false, cri_endpoints = []: %+v", c.Metadata)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.hcl"))
	if err == nil || !strings.Contains(err.Error(), "nope.hcl") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "4KiB": 4096, "16MiB": 16 << 20, "1G": 1 << 30, "5MB": 5e6, "7 B": 7} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "1TiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

func TestEmptyHostnameMeansTheMachines(t *testing.T) {
	want, err := os.Hostname()
	if err != nil || want == "" {
		t.Fatalf("os.Hostname: %q, %v", want, err)
	}
	c, err := Parse([]byte("hostname = \"\"\n"), "empty.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != want {
		t.Errorf("hostname = %q, want the machine's %q", c.Hostname, want)
	}
}
