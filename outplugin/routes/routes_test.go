package routes_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/destination/desttest"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"github.com/tinylib/msgp/msgp"
)

// probe is a destination type for routing tests: it records its decoded
// settings and never sends anywhere.
type probe struct {
	Stream *destination.Template
	Token  string
}

func (p *probe) Send(context.Context, *destination.Batch) error { return nil }
func (p *probe) Close() error                                   { return nil }

func testRegistry() *destination.Registry {
	reg := destination.NewRegistry()
	reg.Register("probe", func(cfg destination.Config) (destination.Destination, hcl.Diagnostics) {
		var c struct {
			Stream hcl.Expression `hcl:"stream,optional"`
			Token  string         `hcl:"token,optional"`
		}
		if d := gohcl.DecodeBody(cfg.Body, cfg.Eval, &c); d.HasErrors() {
			return nil, d
		}
		t, d := destination.TemplateAttr(c.Stream, cfg.Eval, "default")
		if d.HasErrors() {
			return nil, d
		}
		return &probe{Stream: t, Token: c.Token}, nil
	})
	return reg
}

func opts() routes.Options {
	return routes.Options{Registry: testRegistry(), LookupEnv: func(k string) (string, bool) {
		if k == "SECRET" {
			return "s3cret", true
		}
		return "", false
	}}
}

func alertRecord(t *testing.T, a recordtest.Alert) *record.Record {
	t.Helper()
	a.Time = time.Unix(1700000000, 0)
	return recordtest.Decode(t, recordtest.AppendRecord(nil, recordtest.EventTime, a.Time, recordtest.AppendAlert(nil, a)))[0]
}

func compile(t *testing.T, match string) routes.Matcher {
	t.Helper()
	src := `destination "probe" "p" {}
route "r" {
  match = ` + match + `
  to    = [destination.probe.p]
}`
	cfg, err := routes.Parse([]byte(src), "t.hcl", opts())
	if err != nil {
		t.Fatalf("%s: %v", match, err)
	}
	return cfg.Routes[0].Match
}

func TestMatch(t *testing.T) {
	errRec := alertRecord(t, recordtest.Alert{Priority: "Error", Rule: "Write below etc", Namespace: "prod", Tags: []string{"filesystem", "mitre_persistence"}})
	noticeRec := alertRecord(t, recordtest.Alert{Priority: "Notice", Namespace: "default"})
	infoRec := alertRecord(t, recordtest.Alert{Priority: "info"})
	chunk := recordtest.AppendRecord(nil, recordtest.EventTime, time.Unix(1, 0), msgp.AppendMapStrStr(nil, map[string]string{"log": "GET /healthz 200", "status": "200"}))
	logRec := recordtest.Decode(t, chunk)[0]

	for _, tc := range []struct {
		match string
		rec   *record.Record
		tag   string
		want  bool
	}{
		{`priority >= "Error"`, errRec, "", true},
		{`priority >= "Error"`, noticeRec, "", false},
		{`priority >= "Critical"`, errRec, "", false},
		{`priority < "Warning"`, noticeRec, "", true},
		{`priority <= "Notice"`, infoRec, "", true},
		{`"Error" <= priority`, errRec, "", true},
		{`priority == "error"`, errRec, "", true},
		{`priority != "Error"`, noticeRec, "", true},
		{`priority >= "Debug"`, logRec, "", false},
		{`rule == "Write below etc"`, errRec, "", true},
		{`rule != "Write below etc"`, noticeRec, "", true},
		{`contains(tags, "mitre_persistence")`, errRec, "", true},
		{`contains(tags, "mitre")`, errRec, "", false},
		{`output_fields["k8s.ns.name"] == "prod"`, errRec, "", true},
		{`output_fields["k8s.ns.name"] == "prod"`, noticeRec, "", false},
		{`output_fields.proc.name == "bash"`, noticeRec, "", true},
		{`regex(rule, "^Write .* etc$")`, errRec, "", true},
		{`regex(output, "shell=(bash|sh)")`, noticeRec, "", true},
		{`startswith(rule, "Terminal")`, noticeRec, "", true},
		{`endswith(rule, "etc")`, errRec, "", true},
		{`exists(output_fields["k8s.pod.name"])`, errRec, "", true},
		{`exists(rule)`, logRec, "", false},
		{`contains(log, "healthz")`, logRec, "", true},
		{`status == 200`, logRec, "", true},
		{`status > 199 && status < 300`, logRec, "", true},
		{`record["log"] == "GET /healthz 200"`, logRec, "", true},
		{`tag == "kube.var.log"`, logRec, "kube.var.log", true},
		{`startswith(tag, "nightjar")`, errRec, "nightjar.alerts", true},
		{`!(priority >= "Error") || rule == "Write below etc"`, errRec, "", true},
		{`!(priority >= "Error")`, errRec, "", false},
		{`priority >= "Warning" && contains(tags, "filesystem")`, errRec, "", true},
		{`true`, logRec, "", true},
		{`source == rule`, errRec, "", false},
	} {
		m := compile(t, tc.match)
		if got := m(tc.tag, tc.rec); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.match, got, tc.want)
		}
	}
}

func TestLoad(t *testing.T) {
	src := `
destination "probe" "a" {
  stream = "{{ hostname }}/{{ output_fields.k8s.ns.name }}"
  token  = env("SECRET")
}
destination "probe" "b" {}
route "urgent" {
  match    = priority >= "Error"
  to       = [destination.probe.a, destination.probe.b]
  continue = true
}
route "default" {
  to = [destination.probe.b]
}
`
	cfg, err := routes.Parse([]byte(src), "routes.hcl", opts())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Destinations) != 2 || len(cfg.Routes) != 2 {
		t.Fatalf("got %d destinations, %d routes", len(cfg.Destinations), len(cfg.Routes))
	}
	a := cfg.Destinations[0].Dest.(*probe)
	if a.Token != "s3cret" {
		t.Errorf("token = %q", a.Token)
	}
	rec := alertRecord(t, recordtest.Alert{Hostname: "node-7", Namespace: "prod"})
	if got := a.Stream.Render("t", rec); got != "node-7/prod" {
		t.Errorf("stream = %q", got)
	}
	r := cfg.Routes[0]
	if !r.Continue || len(r.To) != 2 || r.To[0] != 0 || r.To[1] != 1 {
		t.Errorf("route urgent = %+v", r)
	}
	if cfg.Routes[1].Match != nil || cfg.Routes[1].To[0] != 1 {
		t.Errorf("default route = %+v", cfg.Routes[1])
	}
}

// TestConfigErrors loads each file of testdata/errors; its first line is a
// comment "# want: <line>:<col> <text>" giving the position and text the
// error must contain.
func TestConfigErrors(t *testing.T) {
	desttest.ConfigErrors(t, opts(), 10)
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/errors/*.hcl")
	good, _ := filepath.Glob("testdata/*.hcl")
	for _, p := range append(files, good...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	rec := recordtest.Decode(f, recordtest.Chunk(recordtest.EventTime, 0, 1, time.Unix(1, 0)))[0]
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := routes.Parse(src, "fuzz.hcl", opts())
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.hcl:") && !strings.Contains(err.Error(), ":") {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		for _, r := range cfg.Routes {
			if r.Match != nil {
				r.Match("tag", rec)
			}
		}
	})
}
