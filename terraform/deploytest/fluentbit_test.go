package deploytest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/daemon/config"
)

// Keys Fluent Bit 5.1 knows, from its documentation: the [SERVICE]
// section, the properties every input and output takes, and those of the
// plugins these configurations use. The nightjar output's are the
// plugin's properties (outplugin/README.md).
var (
	serviceKeys = keySet(
		"flush", "grace", "daemon", "dns.mode", "dns.prefer_ipv4", "dns.prefer_ipv6", "dns.resolver",
		"log_file", "log_level", "parsers_file", "plugins_file", "streams_file", "http_server", "http_listen",
		"http_port", "health_check", "hc_errors_count", "hc_retry_failure_count", "hc_period", "hot_reload",
		"coro_stack_size", "scheduler.cap", "scheduler.base", "json.convert_nan_to_null", "json.escape_unicode",
		"enable_chunk_trace", "storage.path", "storage.sync", "storage.checksum", "storage.max_chunks_up",
		"storage.backlog.mem_limit", "storage.backlog.flush_on_shutdown", "storage.metrics",
		"storage.delete_irrecoverable_chunks", "storage.keep.rejected", "storage.rejected.path", "storage.inherit",
	)
	inputKeys = keySet(
		"name", "tag", "alias", "log_level", "log_suppress_interval", "mem_buf_limit", "routable", "threaded",
		"storage.type", "storage.pause_on_chunks_overlimit",
	)
	outputKeys = keySet(
		"name", "match", "match_regex", "alias", "log_level", "log_suppress_interval", "retry_limit", "workers",
		"storage.total_limit_size",
	)
	pluginKeys = map[string]map[string]bool{
		"input forward": keySet(
			"listen", "port", "unix_path", "unix_perm", "buffer_max_size", "buffer_chunk_size", "tag_prefix",
			"shared_key", "empty_shared_key", "self_hostname", "security.users",
		),
		"output nightjar": keySet(
			"config", "log_level", "metrics_listen", "log_interval", "flush_timeout", "retry_state_ttl", "retry_state_max",
		),
	}
)

func keySet(keys ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// fbConf is a parsed classic-format Fluent Bit configuration with its
// includes and plugins files.
type fbConf struct {
	service map[string]string
	inputs  []map[string]string
	outputs []map[string]string
	plugins []string // Path entries of the plugins files
}

// parseFluentBit parses a classic configuration. open resolves the paths
// that @INCLUDE and Plugins_File name.
func parseFluentBit(t *testing.T, name, text string, open func(path string) (string, bool)) *fbConf {
	t.Helper()
	c := &fbConf{service: map[string]string{}}
	if err := c.parse(name, text, open); err != nil {
		t.Fatal(err)
	}
	if pf := c.service["plugins_file"]; pf != "" {
		src, ok := open(pf)
		if !ok {
			t.Fatalf("%s: Plugins_File %s not found", name, pf)
		}
		sections, err := parseSections(pf, src)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sections {
			if s.name != "plugins" {
				t.Fatalf("%s:%d: section [%s] in a plugins file", pf, s.line, s.name)
			}
			for k, v := range s.keys {
				if k != "path" {
					t.Fatalf("%s:%d: unknown key %s in [PLUGINS]", pf, s.line, k)
				}
				c.plugins = append(c.plugins, v)
			}
		}
	}
	return c
}

type section struct {
	name string
	line int
	keys map[string]string
	at   map[string]int
}

func (c *fbConf) parse(name, text string, open func(string) (string, bool)) error {
	sections, err := parseSections(name, text)
	if err != nil {
		return err
	}
	for _, s := range sections {
		if s.name == "@include" {
			p := s.keys["path"]
			src, ok := open(p)
			if !ok {
				return fmt.Errorf("%s:%d: @INCLUDE %s not found", name, s.line, p)
			}
			if err := c.parse(p, src, open); err != nil {
				return err
			}
			continue
		}
		var known map[string]bool
		var plugin map[string]bool
		switch s.name {
		case "service":
			known = serviceKeys
		case "input", "output":
			known = inputKeys
			if s.name == "output" {
				known = outputKeys
			}
			var ok bool
			if plugin, ok = pluginKeys[s.name+" "+strings.ToLower(s.keys["name"])]; !ok {
				return fmt.Errorf("%s:%d: [%s] plugin %q has no key table here", name, s.line, strings.ToUpper(s.name), s.keys["name"])
			}
		default:
			return fmt.Errorf("%s:%d: unexpected section [%s]", name, s.line, s.name)
		}
		for k := range s.keys {
			if !known[k] && !plugin[k] {
				return fmt.Errorf("%s:%d: [%s] %s: key %q is not known to Fluent Bit 5.1", name, s.at[k], strings.ToUpper(s.name), s.keys["name"], k)
			}
		}
		switch s.name {
		case "service":
			for k, v := range s.keys {
				if _, dup := c.service[k]; dup {
					return fmt.Errorf("%s:%d: [SERVICE] %s set twice", name, s.at[k], k)
				}
				c.service[k] = v
			}
		case "input":
			c.inputs = append(c.inputs, s.keys)
		case "output":
			c.outputs = append(c.outputs, s.keys)
		}
	}
	return nil
}

// parseSections reads sections of "key value" lines; keys are lower-cased.
func parseSections(name, text string) ([]*section, error) {
	var out []*section
	var cur *section
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(strings.ToUpper(line), "@INCLUDE "):
			out = append(out, &section{name: "@include", line: n, keys: map[string]string{"path": strings.TrimSpace(line[len("@INCLUDE "):])}})
			cur = nil
			continue
		case strings.HasPrefix(line, "["):
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: malformed section header %q", name, n, line)
			}
			cur = &section{name: strings.ToLower(line[1 : len(line)-1]), line: n, keys: map[string]string{}, at: map[string]int{}}
			out = append(out, cur)
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: %q outside a section", name, n, line)
		}
		k, v, ok := strings.Cut(strings.Join(strings.Fields(line), " "), " ")
		if !ok || v == "" {
			return nil, fmt.Errorf("%s:%d: key %q has no value", name, n, line)
		}
		k = strings.ToLower(k)
		if _, dup := cur.keys[k]; dup {
			return nil, fmt.Errorf("%s:%d: %s set twice in [%s]", name, n, k, cur.name)
		}
		cur.keys[k], cur.at[k] = v, n
	}
	return out, sc.Err()
}

// checkRouter checks a log router's configuration against the daemon's:
// the forward input listens where the daemon writes, the nightjar output
// takes the daemon's tag with workers, bounded filesystem storage and the
// routes file at routesPath.
func checkRouter(t *testing.T, c *fbConf, daemon *config.Config, routesPath string) {
	t.Helper()
	if len(c.inputs) != 1 || len(c.outputs) != 1 {
		t.Fatalf("want one input and one output, have %d and %d", len(c.inputs), len(c.outputs))
	}
	in, out := c.inputs[0], c.outputs[0]
	if !strings.EqualFold(in["name"], "forward") || in["unix_path"] != daemon.Forward.Target {
		t.Errorf("input %s on %q, the daemon writes to %q", in["name"], in["unix_path"], daemon.Forward.Target)
	}
	if in["storage.type"] != "filesystem" {
		t.Errorf("forward input storage.type %q, want filesystem so that alerts survive a restart", in["storage.type"])
	}
	if c.service["storage.path"] == "" {
		t.Error("[SERVICE] storage.path is not set")
	}
	tag := daemon.Forward.Tag
	if in["tag"] != "" {
		tag = in["tag"]
	}
	if ok, err := path.Match(out["match"], tag); err != nil || !ok {
		t.Errorf("output Match %q does not take tag %q", out["match"], tag)
	}
	if !strings.EqualFold(out["name"], "nightjar") {
		t.Errorf("output %q, want nightjar", out["name"])
	}
	if w, err := strconv.Atoi(out["workers"]); err != nil || w < 1 {
		t.Errorf("nightjar output workers %q: want at least 1 (with 0 the plugin flushes on the engine thread and throttles the input)", out["workers"])
	}
	limit, err := config.ParseSize(strings.TrimSuffix(out["storage.total_limit_size"], "B"))
	if err != nil || limit <= 0 || limit > 10<<30 {
		t.Errorf("storage.total_limit_size %q: want a bound of at most 10G (%v)", out["storage.total_limit_size"], err)
	}
	if r := out["retry_limit"]; r != "no_limits" && r != "no_retries" {
		if n, err := strconv.Atoi(r); err != nil || n < 10 {
			t.Errorf("Retry_Limit %q: a small limit discards alerts while a destination is down", r)
		}
	}
	if out["config"] != routesPath {
		t.Errorf("nightjar output config %q, routes.hcl is at %q", out["config"], routesPath)
	}
	found := false
	for _, p := range c.plugins {
		found = found || p == "/fluent-bit/plugins/out_nightjar.so"
	}
	if !found {
		t.Errorf("plugins files load %v, not /fluent-bit/plugins/out_nightjar.so", c.plugins)
	}
}

func portOf(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return int32(n)
}

// loadDaemonConfig loads a nightjar.hcl with the daemon's own loader.
func loadDaemonConfig(t *testing.T, src []byte, name string) *config.Config {
	t.Helper()
	t.Setenv("NODE_NAME", "node-1")
	cfg, err := config.Parse(src, name)
	if err != nil {
		t.Fatalf("the daemon refuses %s: %v", name, err)
	}
	return cfg
}

// TestECSFluentBit checks the FireLens extra configuration against the
// daemon's ECS configuration; paths under /fluent-bit/etc/nightjar/ are the
// files of ecs/fluent-bit/ baked into the log router image.
func TestECSFluentBit(t *testing.T) {
	dir := filepath.Join(harness.repo, "ecs", "fluent-bit")
	open := func(p string) (string, bool) {
		rel, ok := strings.CutPrefix(p, "/fluent-bit/etc/nightjar/")
		if !ok {
			return "", false
		}
		b, err := os.ReadFile(filepath.Join(dir, rel))
		return string(b), err == nil
	}
	src, ok := open("/fluent-bit/etc/nightjar/nightjar.conf")
	if !ok {
		t.Fatal("ecs/fluent-bit/nightjar.conf is missing")
	}
	conf := parseFluentBit(t, "ecs/fluent-bit/nightjar.conf", src, open)
	daemonSrc, err := os.ReadFile(filepath.Join(harness.repo, "ecs", "nightjar.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadDaemonConfig(t, daemonSrc, "ecs/nightjar.hcl")
	checkRouter(t, conf, cfg, "/fluent-bit/etc/nightjar/routes.hcl")
	if !strings.HasPrefix(conf.service["storage.path"], "/var/lib/nightjar/fluent-bit") {
		t.Errorf("storage.path %q is not on the fluent-bit-state host volume", conf.service["storage.path"])
	}
}

// TestFluentBitKeyCheck makes sure the checker refuses what Fluent Bit
// would not take.
func TestFluentBitKeyCheck(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	for name, src := range map[string]string{
		"unknown service key": "[SERVICE]\n    Flushh 1\n",
		"unknown output key":  "[OUTPUT]\n    Name nightjar\n    Match *\n    worker 2\n",
		"unknown input key":   "[INPUT]\n    Name forward\n    Unix_Pth /x\n",
		"no value":            "[SERVICE]\n    Flush\n",
		"missing include":     "@INCLUDE /nope.conf\n",
		"unknown plugin":      "[OUTPUT]\n    Name cloudwatch_logz\n",
	} {
		c := &fbConf{service: map[string]string{}}
		if err := c.parse("t.conf", src, none); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "t.conf:") {
			t.Errorf("%s: error %q does not name the file and line", name, err)
		}
	}
}
