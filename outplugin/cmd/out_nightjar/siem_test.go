package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/splunkhec/hectest"
	"github.com/nightjar-sec/nightjar/outplugin/syslog/rsyslogtest"
	"github.com/nightjar-sec/nightjar/outplugin/webhook/whtest"
)

// alertUUID finds the uuid of a recordtest alert in whatever a
// destination made of it.
var alertUUID = regexp.MustCompile(`0b7c6c9e-0000-4000-8000-[0-9]{12}`)

// TestSIEMRestartExactlyOnce routes chunks of 5,000 alerts through the
// real plugin host to syslog over TCP into a real rsyslogd, a webhook
// receiver and the HEC collector, and restarts the plugin between a
// failed attempt and its retry. First the host is killed with SIGKILL:
// rsyslogd is down, so syslog is owed the whole chunk, and the first
// webhook and HEC requests fail, so those are owed part of it. Then the
// instance is exited and initialised again in the same process (hot
// reload) after a flush that syslog took whole and the others took in
// part. Every receiver ends up holding every alert exactly once.
func TestSIEMRestartExactlyOnce(t *testing.T) {
	build(t)
	rs := rsyslogtest.Start(t)
	wh := whtest.New()
	defer wh.Close()
	wh.Format = whtest.NDJSON
	hec := hectest.New("00000000-0000-4000-8000-00000000000a")
	defer hec.Close()

	dir := t.TempDir()
	routesFile := writeFile(t, dir, "routes.hcl", []byte(siemRoutes(rs, wh, hec)))
	inst := routesFile + "|info||" + filepath.Join(dir, "state")
	now := time.Now()
	killed := writeFile(t, dir, "killed.msgpack", recordtest.Chunk(recordtest.EventTime, 0, 5000, now))
	reloaded := writeFile(t, dir, "reloaded.msgpack", recordtest.Chunk(recordtest.Metadata, 5000, 5000, now))

	// The webhook takes 500 records a request and the collector a few
	// hundred (max_request_bytes); the first request of each fails.
	faults := func() {
		wh.Inject(whtest.BadGateway)
		hec.Inject(hectest.InternalError)
	}

	rs.Stop()
	faults()
	lines := runHostKilled(t, []string{inst}, []string{"0:killed:" + killed + ":0", "kill"})
	hasLines(t, lines, "init 0 ret=1", "flush 0 inst=0 attempt=0 ret=2", "kill")
	if n := len(rs.Messages()); n != 0 {
		t.Fatalf("rsyslog was down, yet holds %d messages", n)
	}
	partWH, partHEC := wh.Count(), hec.Accepted()
	t.Logf("before the kill: webhook %d, HEC %d of 5000", partWH, partHEC)
	if partWH == 0 || partWH == 5000 || partHEC == 0 || partHEC == 5000 {
		t.Fatalf("before the kill the webhook held %d and HEC %d of 5000; want part of them", partWH, partHEC)
	}
	rs.Restart()
	lines, _ = runHost(t, []string{inst}, []string{"0:killed:" + killed + ":3"})
	hasLines(t, lines, "flush 0 inst=0 attempt=0 ret=1", "exit_ctx 0 ret=1")

	faults()
	lines, _ = runHost(t, []string{inst}, []string{"0:reloaded:" + reloaded + ":0", "restart:0", "0:reloaded:" + reloaded + ":3"})
	hasLines(t, lines, "flush 0 inst=0 attempt=0 ret=2", "exit_ctx 0 ret=1", "init 0 ret=1", "flush 1 inst=0 attempt=0 ret=1")

	// rsyslog writes what it received asynchronously.
	var syslogIDs, webhookIDs, hecIDs []string
	for _, m := range rs.Wait(10000, 30*time.Second) {
		if m.Input != "tcp" || m.AppName != "nightjar" {
			t.Fatalf("message on input %q from %q, want tcp and nightjar: %+v", m.Input, m.AppName, m)
		}
		syslogIDs = append(syslogIDs, uuidIn(t, "syslog", m.Msg))
	}
	for _, r := range wh.Records() {
		webhookIDs = append(webhookIDs, uuidIn(t, "webhook", string(r)))
	}
	for _, e := range hec.Events() {
		hecIDs = append(hecIDs, uuidIn(t, "splunk_hec", string(e.Event)))
	}
	for _, tc := range []struct {
		what string
		ids  []string
	}{{"syslog", syslogIDs}, {"webhook", webhookIDs}, {"splunk_hec", hecIDs}} {
		// The killed chunk holds alerts 0-4999, the reloaded one 5000-9999.
		killedSeen, reloadedSeen := map[string]int{}, map[string]int{}
		for _, id := range tc.ids {
			if id < "0b7c6c9e-0000-4000-8000-000000005000" {
				killedSeen[id]++
			} else {
				reloadedSeen[id]++
			}
		}
		checkOnce(t, tc.what+" killed", killedSeen, 0)
		checkOnce(t, tc.what+" reloaded", reloadedSeen, 5000)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "state", "*.state")); len(left) != 0 {
		t.Errorf("state files left after delivery: %v", left)
	}
}

func uuidIn(t *testing.T, what, s string) string {
	t.Helper()
	id := alertUUID.FindString(s)
	if id == "" {
		t.Fatalf("%s: no alert uuid in %q", what, s)
	}
	return id
}

// siemRoutes sends every record to the three receivers, one request at
// a time and one attempt per flush, so that an injected fault leaves the
// records it concerns owed to the retry.
func siemRoutes(rs *rsyslogtest.Server, wh *whtest.Server, hec *hectest.Server) string {
	return fmt.Sprintf(`destination "syslog" "siem" {
  address      = "tcp://127.0.0.1:%d"
  app_name     = "nightjar"
  max_attempts = 1
  timeout      = "60s"
}
destination "webhook" "hook" {
  url               = %q
  format            = "ndjson"
  max_batch_records = 500
  max_attempts      = 1
  concurrency       = 1
  timeout           = "60s"
}
destination "splunk_hec" "soc" {
  url               = %q
  token             = %q
  max_request_bytes = 262144
  max_attempts      = 1
  concurrency       = 1
  timeout           = "60s"
}
route "all" { to = [destination.syslog.siem, destination.webhook.hook, destination.splunk_hec.soc] }
`, rs.TCP, wh.URL, hec.URL, hec.Token)
}
