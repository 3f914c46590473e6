package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/grpc/codes"

	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch/cwtest"
	"github.com/nightjar-sec/nightjar/outplugin/elasticsearch/estest"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/router"
	"github.com/nightjar-sec/nightjar/outplugin/splunkhec/hectest"
	"github.com/nightjar-sec/nightjar/outplugin/syslog/rsyslogtest"
	"github.com/nightjar-sec/nightjar/outplugin/webhook/whtest"
)

// TestEveryDestinationExactlyOnce routes one chunk of 2,000 alerts to every
// destination type at once, through the plugin's own registry, each
// failing in its own way on the first flush: CloudWatch is unavailable,
// Cloud Logging answers UNAVAILABLE, rsyslog is down, Splunk HEC is busy,
// the webhook drops its connection, Elasticsearch rejects items one by
// one and Kafka refuses every produce. Fluent Bit retries the chunk; in
// the end each destination holds each record exactly once, whatever the
// others did.
func TestEveryDestinationExactlyOnce(t *testing.T) {
	e := newEnv(t)
	rs := rsyslogtest.Start(t)
	hec := hectest.New(siemToken)
	t.Cleanup(hec.Close)
	wh := whtest.New()
	t.Cleanup(wh.Close)
	wh.Format = whtest.NDJSON
	es := siem2ES(t)
	kc := siem2Kafka(t)

	src := e.cloudwatch("cw", "max_attempts = 1") + e.cloudLogging("cl", "max_attempts = 1") +
		siem2ESBlock(es, "max_attempts = 1\n  max_body_bytes = 262144\n  concurrency = 1") + fmt.Sprintf(`
destination "syslog" "rs" {
  address      = "tcp://127.0.0.1:%d"
  format       = "rfc5424"
  max_attempts = 1
}
destination "splunk_hec" "soc" {
  url          = %q
  token        = env("SPLUNK_HEC_TOKEN")
  max_attempts = 1
  concurrency  = 1
}
destination "webhook" "hook" {
  url               = %q
  format            = "ndjson"
  max_batch_records = 250
  max_attempts      = 1
  concurrency       = 1
}
destination "kafka" "k" {
  brokers          = %s
  topic            = "alerts"
  timeout          = "1s"
  metadata_min_age = "50ms"
}
route "all" {
  to = [destination.cloudwatch.cw, destination.cloud_logging.cl, destination.syslog.rs,
        destination.splunk_hec.soc, destination.webhook.hook, destination.elasticsearch.es,
        destination.kafka.k]
}`, rs.TCP, hec.URL, wh.URL, kc.Brokers())
	r := siemRouter(t, src)
	const n = 2000
	chunk := recordtest.Chunk(recordtest.EventTime, 0, n, time.Now())

	e.cw.Inject("PutLogEvents", cwtest.Unavailable)
	e.cl.Inject(codes.Unavailable)
	rs.Stop()
	hec.Inject(0, hectest.Busy)
	wh.Inject(0, whtest.Drop)
	es.Inject(estest.None, estest.PartialReject)
	refuse := kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	var statuses []router.Status
	for i := range 10 {
		st := r.Flush(context.Background(), "nightjar.alerts", chunk)
		statuses = append(statuses, st)
		if i == 0 {
			rs.Restart()
			refuse.Remove()
		}
		if st != router.Retry {
			break
		}
	}
	t.Logf("flush results: %v", statuses)
	if len(statuses) < 2 || statuses[0] != router.Retry || statuses[len(statuses)-1] != router.OK {
		t.Fatalf("flush results %v: want a retry, then ok", statuses)
	}

	exactlyOnce(t, "cloudwatch", uuids(t, e.cw.Events("/nightjar/cw", "node-1")), n)
	cl := map[string]int{}
	for _, en := range e.cl.Entries() {
		cl[en.InsertId]++
	}
	exactlyOnce(t, "cloud_logging", cl, n)
	var sys [][]byte
	for _, m := range rs.Wait(n, 20*time.Second) {
		sys = append(sys, []byte(m.Msg))
	}
	exactlyOnce(t, "syslog", uuidCounts(t, sys), n)
	var evs [][]byte
	for _, ev := range hec.Events() {
		evs = append(evs, ev.Event)
	}
	exactlyOnce(t, "splunk_hec", uuidCounts(t, evs), n)
	var hook [][]byte
	for _, rec := range wh.Records() {
		hook = append(hook, rec)
	}
	exactlyOnce(t, "webhook", uuidCounts(t, hook), n)
	if rej := es.Rejected(); len(rej) > 0 {
		t.Errorf("elasticsearch server rejected %v", rej)
	}
	exactlyOnce(t, "elasticsearch", esUUIDs(t, es, "alerts"), n)
	recs, err := kc.ReadAll(context.Background(), n, "alerts")
	if err != nil {
		t.Fatal(err)
	}
	kafka := map[string]int{}
	for _, rec := range recs {
		var a struct{ UUID string }
		if err := json.Unmarshal(rec.Value, &a); err != nil {
			t.Fatal(err)
		}
		kafka[a.UUID]++
	}
	exactlyOnce(t, "kafka", kafka, n)
	for _, d := range r.Destinations() {
		if s := d.Metrics.Snapshot(); s.Sent != n || s.Dropped != 0 || s.Failures == 0 {
			t.Errorf("%s counters %+v: want %d sent, none dropped, a failure seen", d.ID(), s, n)
		}
	}
	if c := r.Counters(); c.TrackedChunks != 0 {
		t.Errorf("router still tracks %d chunks", c.TrackedChunks)
	}
}
