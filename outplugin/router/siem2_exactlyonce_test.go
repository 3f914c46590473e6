package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/elasticsearch"
	"github.com/nightjar-sec/nightjar/outplugin/elasticsearch/estest"
	"github.com/nightjar-sec/nightjar/outplugin/instance"
	"github.com/nightjar-sec/nightjar/outplugin/kafka"
	"github.com/nightjar-sec/nightjar/outplugin/kafka/kafkatest"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/router"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// siem2Router builds a router over src with the Elasticsearch and Kafka
// destinations registered.
func siem2Router(t testing.TB, src string) *router.Router {
	t.Helper()
	reg := destination.NewRegistry()
	elasticsearch.Register(reg)
	kafka.Register(reg)
	cfg, err := routes.Parse([]byte(src), "routes.hcl", routes.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	r := router.New(cfg, router.Options{LogInterval: -1})
	t.Cleanup(func() { r.Close() })
	return r
}

func siem2ES(t testing.TB) *estest.Server {
	t.Helper()
	srv, err := estest.New(estest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func siem2Kafka(t testing.TB) *kafkatest.Cluster {
	t.Helper()
	c, err := kafkatest.New(kfake.NumBrokers(3), kfake.SeedTopics(3, "alerts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func siem2ESBlock(srv *estest.Server, extra string) string {
	return fmt.Sprintf(`destination "elasticsearch" "es" {
  urls           = [%q]
  index          = "alerts"
  %s
}
`, srv.URL(), extra)
}

// esUUIDs counts documents per alert uuid, checking that each is stored
// under its uuid.
func esUUIDs(t *testing.T, srv *estest.Server, index string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, d := range srv.Docs(index) {
		var a struct{ UUID string }
		if err := json.Unmarshal(d.Source, &a); err != nil {
			t.Fatal(err)
		}
		if a.UUID != d.ID {
			t.Fatalf("document %s holds alert %s", d.ID, a.UUID)
		}
		out[a.UUID]++
	}
	return out
}

// TestSIEMRetryExactlyOnce routes one chunk of 5,000 alerts to
// Elasticsearch and Kafka. Elasticsearch rejects part of one bulk request
// item by item, loses the answer to another after indexing it and is
// unavailable for a third; Kafka refuses every write for the first flush
// and answers timeouts after writing. Fluent Bit retries the chunk; in the
// end each destination holds each record exactly once.
func TestSIEMRetryExactlyOnce(t *testing.T) {
	es := siem2ES(t)
	kc := siem2Kafka(t)
	src := siem2ESBlock(es, "max_attempts = 1\n  max_body_bytes = 262144\n  concurrency = 1") + fmt.Sprintf(`
destination "kafka" "k" {
  brokers          = %s
  topic            = "alerts"
  timeout          = "1s"
  metadata_min_age = "50ms"
}
route "all" {
  to = [destination.elasticsearch.es, destination.kafka.k]
}`, kc.Brokers())
	r := siem2Router(t, src)
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 5000, time.Now())

	es.Inject(estest.None, estest.PartialReject, estest.None, estest.DropAfterWrite, estest.Unavailable)
	refuse := kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	var statuses []router.Status
	for i := range 10 {
		st := r.Flush(context.Background(), "nightjar.alerts", chunk)
		statuses = append(statuses, st)
		if i == 0 {
			refuse.Remove()
			kc.TimeoutAfterWrite(2)
		}
		if st != router.Retry {
			break
		}
	}
	t.Logf("flush results: %v", statuses)
	if len(statuses) < 2 || statuses[len(statuses)-1] != router.OK {
		t.Fatalf("flush results %v: want retries then ok", statuses)
	}
	if rej := es.Rejected(); len(rej) > 0 {
		t.Fatalf("elasticsearch server rejected %v", rej)
	}
	exactlyOnce(t, "elasticsearch", esUUIDs(t, es, "alerts"), 5000)
	recs, err := kc.ReadAll(context.Background(), 5000, "alerts")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, rec := range recs {
		var a struct{ UUID string }
		if err := json.Unmarshal(rec.Value, &a); err != nil {
			t.Fatal(err)
		}
		counts[a.UUID]++
	}
	exactlyOnce(t, "kafka", counts, 5000)
	for _, d := range r.Destinations() {
		if s := d.Metrics.Snapshot(); s.Sent != 5000 || s.Dropped != 0 || s.Failures == 0 {
			t.Errorf("%s counters %+v: want 5000 sent, none dropped, failures seen", d.ID(), s)
		}
	}
	if c := r.Counters(); c.TrackedChunks != 0 || c.ChunksRetry != uint64(len(statuses)-1) {
		t.Errorf("router counters %+v", c)
	}
}

// TestSIEMRestartExactlyOnce is a Fluent Bit restart in the middle of a
// chunk's retries: the router that delivered part of the chunk to
// Elasticsearch is gone with its delivery state, and a new one sends the
// whole chunk again. The documents already there answer 409 and count as
// delivered; none is stored twice.
func TestSIEMRestartExactlyOnce(t *testing.T) {
	es := siem2ES(t)
	src := siem2ESBlock(es, "max_attempts = 1\n  max_body_bytes = 262144\n  concurrency = 1") + `route "all" { to = [destination.elasticsearch.es] }`
	chunk := recordtest.Chunk(recordtest.Metadata, 0, 5000, time.Now())

	before := siem2Router(t, src)
	es.Inject(estest.None, estest.None, estest.DropAfterWrite, estest.Unavailable, estest.None, estest.Unavailable)
	if st := before.Flush(context.Background(), "nightjar.alerts", chunk); st != router.Retry {
		t.Fatalf("first flush: %v, want retry", st)
	}
	landed := es.Count("alerts")
	if landed == 0 || landed == 5000 {
		t.Fatalf("%d documents after the failed flush; want some", landed)
	}
	before.Close()

	after := siem2Router(t, src)
	if st := after.Flush(context.Background(), "nightjar.alerts", chunk); st != router.OK {
		t.Fatalf("flush after restart: %v", st)
	}
	exactlyOnce(t, "elasticsearch", esUUIDs(t, es, "alerts"), 5000)
	if s := after.Destinations()[0].Metrics.Snapshot(); s.Sent != 5000 || s.Dropped != 0 {
		t.Errorf("counters after restart %+v: want all 5000 counted as delivered (%d of them as 409)", s, landed)
	}
}

// TestSIEMThroughInstance loads a routes file naming both destinations the
// way the plugin does at init (every registered type, Fluent Bit
// properties) and flushes a chunk through it: alerts of priority Error and
// above go to Elasticsearch, every alert to Kafka with the namespace as key.
func TestSIEMThroughInstance(t *testing.T) {
	es := siem2ES(t)
	kc := siem2Kafka(t)
	path := filepath.Join(t.TempDir(), "routes.hcl")
	src := fmt.Sprintf(`destination "elasticsearch" "siem" {
  urls = [%q]
}
destination "kafka" "bus" {
  brokers = %s
  topic   = "alerts"
  key     = "{{ output_fields.k8s.ns.name }}"
}
route "urgent" {
  match    = priority >= "Error"
  to       = [destination.elasticsearch.siem]
  continue = true
}
route "all" { to = [destination.kafka.bus] }
`, es.URL(), kc.Brokers())
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	props := map[string]string{"config": path, "log_level": "warn", "log_interval": "-1s"}
	inst, err := instance.Open(1, func(k string) string { return props[k] })
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	now := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	var chunk []byte
	for i := range 300 {
		prio := "Notice"
		if i%3 == 0 {
			prio = "Critical"
		}
		chunk = recordtest.AppendRecord(chunk, recordtest.Metadata, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: i, Time: now, Priority: prio, Namespace: "prod"}))
	}
	if st := inst.Flush("nightjar.alerts", chunk); st != router.OK {
		t.Fatalf("flush: %v", st)
	}
	exactlyOnce(t, "elasticsearch", esUUIDs(t, es, "nightjar-2026.12.02"), 100)
	recs, err := kc.ReadAll(context.Background(), 300, "alerts")
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if string(rec.Key) != "prod" {
			t.Fatalf("key %q, want the namespace", rec.Key)
		}
	}
	if len(recs) != 300 {
		t.Errorf("kafka holds %d records, want 300", len(recs))
	}
}

func BenchmarkFlushElasticsearch(b *testing.B) {
	es := siem2ES(b)
	es.Discard = true
	r := siem2Router(b, siem2ESBlock(es, "")+`route "all" { to = [destination.elasticsearch.es] }`)
	benchFlush(b, r)
	if rej := es.Rejected(); len(rej) > 0 {
		b.Fatalf("server rejected requests: %v", rej[0])
	}
}

func BenchmarkFlushKafka(b *testing.B) {
	kc := siem2Kafka(b)
	r := siem2Router(b, fmt.Sprintf(`destination "kafka" "k" {
  brokers = %s
  topic   = "alerts"
}
route "all" { to = [destination.kafka.k] }`, kc.Brokers()))
	benchFlush(b, r)
}

// TestSIEMReadmeExamples loads every HCL example of the README's
// Elasticsearch / OpenSearch and Kafka section, so the documentation stays
// valid. File paths point at a real CA file; env() is served.
func TestElasticsearchKafkaReadmeExamples(t *testing.T) {
	doc, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(doc)
	start := strings.Index(section, "### Elasticsearch / OpenSearch and Kafka")
	if start < 0 {
		t.Fatal("README has no Elasticsearch / OpenSearch and Kafka section")
	}
	section = section[start:]
	if end := strings.Index(section[4:], "\n### "); end >= 0 {
		section = section[:end+4]
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	tlsES, err := estest.New(estest.Config{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tlsES.Close()
	pem, err := os.ReadFile(tlsES.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(ca, pem, 0o600)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDDOC")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "doc")
	reg := destination.NewRegistry()
	elasticsearch.Register(reg)
	kafka.Register(reg)
	refs := regexp.MustCompile(`(?m)^destination "(\w+)" "(\w+)"`)
	examples := 0
	for _, block := range strings.Split(section, "```hcl\n")[1:] {
		src, _, _ := strings.Cut(block, "```")
		src = regexp.MustCompile(`"/etc/nightjar/[^"]+\.pem"`).ReplaceAllString(src, fmt.Sprintf("%q", ca))
		var to []string
		for _, m := range refs.FindAllStringSubmatch(src, -1) {
			to = append(to, "destination."+m[1]+"."+m[2])
		}
		src += fmt.Sprintf("route \"all\" { to = [%s] }\n", strings.Join(to, ", "))
		cfg, err := routes.Parse([]byte(src), "README.md", routes.Options{Registry: reg,
			LookupEnv: func(string) (string, bool) { return "from-env", true }})
		if err != nil {
			t.Errorf("README example does not load: %v\n%s", err, src)
			continue
		}
		examples += len(cfg.Destinations)
		cfg.Close()
	}
	if examples < 6 {
		t.Errorf("loaded %d example destinations, want at least 6", examples)
	}
}
