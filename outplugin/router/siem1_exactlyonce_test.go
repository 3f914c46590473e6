package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/destination/desttest"
	"github.com/nightjar-sec/nightjar/outplugin/instance"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/router"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"github.com/nightjar-sec/nightjar/outplugin/splunkhec/hectest"
	"github.com/nightjar-sec/nightjar/outplugin/syslog/rsyslogtest"
	"github.com/nightjar-sec/nightjar/outplugin/webhook/whtest"
)

const siemToken = "0f6a3b3e-2c4d-4b8a-9f1e-5d6c7b8a9e0f"

func siemRouter(t testing.TB, src string) *router.Router {
	t.Helper()
	// The plugin's own registry, so that the destinations are tested as
	// Fluent Bit loads them.
	cfg, err := routes.Parse([]byte(src), "routes.hcl", routes.Options{Registry: instance.Registry(), LookupEnv: func(k string) (string, bool) {
		return siemToken, k == "SPLUNK_HEC_TOKEN"
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := router.New(cfg, router.Options{LogInterval: -1})
	t.Cleanup(func() { r.Close() })
	return r
}

func uuidCounts(t *testing.T, bodies [][]byte) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, b := range bodies {
		var a struct{ UUID string }
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("not a JSON alert: %v: %.100q", err, b)
		}
		out[a.UUID]++
	}
	return out
}

// TestSIEMExactlyOnce routes one chunk of 3,000 alerts through the real
// router to syslog (a real rsyslog), Splunk HEC with indexer
// acknowledgement, and a webhook. Each fails in its own way: rsyslog is
// down for the first flush; HEC is busy for part of the chunk, then loses
// an acknowledgement; the webhook drops a connection, then hangs. Fluent
// Bit retries the chunk on FLB_RETRY; in the end each destination holds
// each record exactly once.
func TestSIEMExactlyOnce(t *testing.T) {
	rs := rsyslogtest.Start(t)
	hec := hectest.New(siemToken)
	t.Cleanup(hec.Close)
	hec.Ack = true
	wh := whtest.New()
	t.Cleanup(wh.Close)
	wh.Format = whtest.NDJSON

	src := fmt.Sprintf(`
destination "syslog" "rs" {
  address      = "tcp://127.0.0.1:%d"
  format       = "rfc5424"
  max_attempts = 1
}
destination "splunk_hec" "soc" {
  url               = %q
  token             = env("SPLUNK_HEC_TOKEN")
  ack               = true
  ack_interval      = "20ms"
  ack_timeout       = "2s"
  max_request_bytes = 131072
  max_attempts      = 2
  concurrency       = 1
}
destination "webhook" "hook" {
  url               = %q
  format            = "ndjson"
  max_batch_records = 250
  timeout           = "2s"
  max_attempts      = 1
  concurrency       = 1
}
route "all" {
  to = [destination.syslog.rs, destination.splunk_hec.soc, destination.webhook.hook]
}`, rs.TCP, hec.URL, wh.URL)
	r := siemRouter(t, src)
	const n = 3000
	chunk := recordtest.Chunk(recordtest.EventTime, 0, n, time.Now())

	rs.Stop()
	hec.Inject(0, hectest.Busy, hectest.Busy) // flush 1: one request in, one refused twice
	wh.Inject(0, 0, whtest.Drop)              // flush 1: two requests in, then a dropped connection
	var statuses []router.Status
	for i := range 10 {
		if i == 1 {
			rs.Restart()
			hec.Inject(hectest.LoseAck) // flush 2: an acknowledgement never comes
			wh.Inject(whtest.Hang)      // flush 2: the receiver hangs
		}
		st := r.Flush(context.Background(), "nightjar.alerts", chunk)
		statuses = append(statuses, st)
		if st != router.Retry {
			break
		}
	}
	t.Logf("flush results: %v", statuses)
	if len(statuses) < 3 || statuses[len(statuses)-1] != router.OK {
		t.Fatalf("flush results %v: want retries then ok", statuses)
	}

	var sys [][]byte
	for _, m := range rs.Wait(n, 20*time.Second) {
		sys = append(sys, []byte(m.Msg))
	}
	exactlyOnce(t, "syslog", uuidCounts(t, sys), n)
	var evs [][]byte
	for _, e := range hec.Events() {
		evs = append(evs, e.Event)
	}
	exactlyOnce(t, "splunk_hec", uuidCounts(t, evs), n)
	var hook [][]byte
	for _, rec := range wh.Records() {
		hook = append(hook, rec)
	}
	exactlyOnce(t, "webhook", uuidCounts(t, hook), n)
	if c := r.Counters(); c.TrackedChunks != 0 {
		t.Errorf("router still tracks %d chunks", c.TrackedChunks)
	}
	for _, d := range r.Destinations() {
		if s := d.Metrics.Snapshot(); s.Sent != n || s.Dropped != 0 || s.Failures == 0 {
			t.Errorf("%s counters %+v: want %d sent, none dropped, failures counted", d.ID(), s, n)
		}
	}
}

// TestSIEMReadmeExamples loads the HCL examples of outplugin/README.md's
// SIEM section, every option of every SIEM destination, through the
// plugin's registry; the certificate paths point at files made here.
func TestSIEMReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### SIEM destinations")
	if !ok {
		t.Fatal("README has no SIEM destinations section")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	var src strings.Builder
	for _, part := range strings.Split(section, "```hcl\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		src.WriteString(block)
	}
	certs, err := desttest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`/etc/nightjar/[a-z-]*ca\.pem`).ReplaceAllString(src.String(), certs.CA)
	text = strings.NewReplacer("/etc/nightjar/client.pem", certs.ClientCert, "/etc/nightjar/client.key", certs.ClientKey).Replace(text)
	ids := regexp.MustCompile(`(?m)^destination "([a-z_]+)" "([a-z]+)"`).FindAllStringSubmatch(text, -1)
	if len(ids) != 4 {
		t.Fatalf("found %d destination examples, want 4", len(ids))
	}
	var to []string
	for _, m := range ids {
		to = append(to, "destination."+m[1]+"."+m[2])
	}
	text += "\nroute \"all\" { to = [" + strings.Join(to, ", ") + "] }\n"
	cfg, err := routes.Parse([]byte(text), "README.md", routes.Options{Registry: instance.Registry(), LookupEnv: func(k string) (string, bool) {
		return "value-of-" + k, k == "SPLUNK_HEC_TOKEN" || k == "WEBHOOK_TOKEN"
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	if len(cfg.Destinations) != 4 {
		t.Errorf("%d destinations loaded", len(cfg.Destinations))
	}
}
