package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nightjar-sec/nightjar/daemon/output"
	"github.com/nightjar-sec/nightjar/internal/alert"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the family's sample whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("metric %s missing", name)
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("metric %s%v missing", name, want)
	return 0
}

func TestMetricsAfterWorkload(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	stats := map[string]output.Stats{
		"forward": {Delivered: 950, Pending: 10, Spooled: 40, Dropped: 3, Reconnects: 2},
		"stdout":  {Delivered: 1000},
	}
	m := New(Options{Now: c.now, Outputs: func() map[string]output.Stats { return stats }})
	// A known workload.
	for range 700 {
		m.EventCounter("execve").Inc()
	}
	m.EventsCaptured("openat", 300)
	m.SetKernelDrops(12)
	m.DecoderError("short_record")
	m.DecoderError("short_record")
	m.RuleEvaluations(5000)
	for range 3 {
		m.AlertRaised("Terminal shell in container", alert.PriorityNotice)
	}
	m.AlertRaised("Write below etc", alert.PriorityError)
	m.AlertSuppressed("Terminal shell in container", "rate_limited")
	m.AlertSuppressed("Terminal shell in container", "duplicate")
	m.AlertSuppressed("Terminal shell in container", "duplicate")

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	fams := scrape(t, srv.URL)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"nightjar_events_captured_total", map[string]string{"type": "execve"}, 700},
		{"nightjar_events_captured_total", map[string]string{"type": "openat"}, 300},
		{"nightjar_kernel_drops_total", nil, 12},
		{"nightjar_decoder_errors_total", map[string]string{"reason": "short_record"}, 2},
		{"nightjar_rule_evaluations_total", nil, 5000},
		{"nightjar_alerts_total", map[string]string{"rule": "Terminal shell in container", "priority": "Notice"}, 3},
		{"nightjar_alerts_total", map[string]string{"rule": "Write below etc", "priority": "Error"}, 1},
		{"nightjar_alerts_suppressed_total", map[string]string{"rule": "Terminal shell in container", "reason": "duplicate"}, 2},
		{"nightjar_alerts_suppressed_total", map[string]string{"rule": "Terminal shell in container", "reason": "rate_limited"}, 1},
		{"nightjar_output_alerts_delivered_total", map[string]string{"output": "forward"}, 950},
		{"nightjar_output_alerts_pending", map[string]string{"output": "forward"}, 10},
		{"nightjar_output_alerts_spooled", map[string]string{"output": "forward"}, 40},
		{"nightjar_output_alerts_dropped_total", map[string]string{"output": "forward"}, 3},
		{"nightjar_output_reconnects_total", map[string]string{"output": "forward"}, 2},
		{"nightjar_output_alerts_delivered_total", map[string]string{"output": "stdout"}, 1000},
		{"nightjar_healthy", nil, 1},
	}
	for _, ck := range checks {
		if got := value(t, fams, ck.name, ck.labels); got != ck.want {
			t.Errorf("%s%v = %v, want %v", ck.name, ck.labels, got, ck.want)
		}
	}
	if fams["go_goroutines"] == nil {
		t.Error("runtime metrics missing")
	}
}

func TestHealthz(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	failing := time.Time{}
	m := New(Options{Now: c.now, CaptureStall: 30 * time.Second, OutputFailure: time.Minute,
		Outputs: func() map[string]output.Stats { return map[string]output.Stats{"forward": {FailingSince: failing}} }})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	get := func() (int, string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(); code != 200 {
		t.Fatalf("fresh daemon unhealthy: %d", code)
	}
	c.advance(31 * time.Second) // no capture progress since start
	if code, body := get(); code != 503 || !strings.Contains(body, "capture") {
		t.Fatalf("stalled capture: %d %q", code, body)
	}
	m.CaptureAlive()
	if code, _ := get(); code != 200 {
		t.Fatalf("capture alive again: %d", code)
	}
	failing = c.t
	c.advance(59 * time.Second)
	m.CaptureAlive()
	if code, _ := get(); code != 200 {
		t.Fatalf("output failing for less than the threshold: %d", code)
	}
	c.advance(2 * time.Second)
	m.CaptureAlive()
	if code, body := get(); code != 503 || !strings.Contains(body, "output forward") {
		t.Fatalf("output failing too long: %d %q", code, body)
	}
	fams := scrape(t, srv.URL)
	if v := value(t, fams, "nightjar_healthy", nil); v != 0 {
		t.Fatalf("nightjar_healthy = %v while unhealthy", v)
	}
	if v := value(t, fams, "nightjar_output_failing_seconds", map[string]string{"output": "forward"}); v != 61 {
		t.Fatalf("failing seconds = %v, want 61", v)
	}
	failing = time.Time{}
	if code, _ := get(); code != 200 {
		t.Fatalf("output recovered: %d", code)
	}
}

func TestDropAlerter(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	d := NewDropAlerter(DropAlertOptions{Threshold: 100, Interval: time.Minute, Hostname: "n1", Now: c.now, NewID: func() string { return "id" }})
	if a := d.Observe(5000); a != nil {
		t.Fatal("alert for drops before watching started")
	}
	c.advance(time.Second)
	if a := d.Observe(5099); a != nil {
		t.Fatal("alert below threshold")
	}
	c.advance(time.Second)
	a := d.Observe(5150)
	if a == nil || a.Rule != DropRule || a.OutputFields["nightjar.drops"] != uint64(150) || a.Hostname != "n1" || a.UUID != "id" {
		t.Fatalf("alert %+v", a)
	}
	// Within the interval: no alert, but the drops are carried over.
	c.advance(30 * time.Second)
	if a := d.Observe(5400); a != nil {
		t.Fatal("second alert within the interval")
	}
	c.advance(30 * time.Second)
	a = d.Observe(5400)
	if a == nil || a.OutputFields["nightjar.drops"] != uint64(250) {
		t.Fatalf("carried-over alert %+v", a)
	}
	if d.Observe(5400) != nil {
		t.Fatal("alert without new drops")
	}
}

func TestRetiredOutputsStayInTotals(t *testing.T) {
	m := New(Options{})
	m.SetOutputs(func() map[string]output.Stats {
		return map[string]output.Stats{"forward": {Delivered: 10, Dropped: 3, Pending: 2, Reconnects: 1}}
	})
	// A reload closes the outputs with 2 alerts still in memory.
	m.RetireOutputs(map[string]output.Stats{"forward": {Delivered: 10, Dropped: 3, Pending: 2, Reconnects: 1}})
	m.SetOutputs(func() map[string]output.Stats {
		return map[string]output.Stats{"forward": {Delivered: 4, Spooled: 7}}
	})
	st := m.outputStats()["forward"]
	if st.Delivered != 14 || st.Dropped != 5 || st.Reconnects != 1 || st.Spooled != 7 || st.Pending != 0 {
		t.Fatalf("after reload %+v; want delivered 14, dropped 5 (3 + 2 left in memory), spooled 7", st)
	}
}
