package elasticsearch_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch/cwtest"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/destination/desttest"
	"github.com/nightjar-sec/nightjar/outplugin/elasticsearch"
	"github.com/nightjar-sec/nightjar/outplugin/elasticsearch/estest"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
)

func newServer(t *testing.T, cfg estest.Config) *estest.Server {
	t.Helper()
	srv, err := estest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func registry() *destination.Registry {
	reg := destination.NewRegistry()
	elasticsearch.Register(reg)
	return reg
}

// load builds an elasticsearch destination from a block body through routes.
func load(t testing.TB, body string) (destination.Destination, *destination.Metrics) {
	t.Helper()
	src := fmt.Sprintf("destination \"elasticsearch\" \"es\" {\n%s\n}\nroute \"all\" { to = [destination.elasticsearch.es] }\n", body)
	cfg, err := routes.Parse([]byte(src), "routes.hcl", routes.Options{Registry: registry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.Close() })
	return cfg.Destinations[0].Dest, cfg.Destinations[0].Metrics
}

func send(t *testing.T, d destination.Destination, recs []*record.Record) (*destination.Batch, error) {
	t.Helper()
	b := destination.NewBatch("nightjar", recs)
	return b, d.Send(context.Background(), b)
}

// checkDocs verifies that index holds exactly the alerts first..first+n-1,
// each under its uuid, each with @timestamp.
func checkDocs(t *testing.T, srv *estest.Server, index string, first, n int) {
	t.Helper()
	docs := srv.Docs(index)
	if len(docs) != n {
		t.Fatalf("%s holds %d documents, want %d", index, len(docs), n)
	}
	for _, d := range docs {
		var a struct {
			UUID string `json:"uuid"`
			TS   string `json:"@timestamp"`
		}
		if err := json.Unmarshal(d.Source, &a); err != nil {
			t.Fatal(err)
		}
		if a.UUID != d.ID {
			t.Fatalf("document %s has uuid %s", d.ID, a.UUID)
		}
		if _, err := time.Parse(time.RFC3339, a.TS); err != nil {
			t.Fatalf("@timestamp %q: %v", a.TS, err)
		}
		var seq int
		fmt.Sscanf(a.UUID[len(a.UUID)-12:], "%d", &seq)
		if seq < first || seq >= first+n {
			t.Fatalf("unexpected alert %s", a.UUID)
		}
	}
}

func noRejects(t *testing.T, srv *estest.Server) {
	t.Helper()
	if r := srv.Rejected(); len(r) > 0 {
		t.Fatalf("server rejected %d requests, first: %s", len(r), r[0])
	}
}

// TestBulkIndices sends 6,000 alerts spread over three days to a dated
// index in small bodies: every request is well-formed, every alert lands
// once in the index of its day with @timestamp and _id = uuid.
func TestBulkIndices(t *testing.T) {
	srv := newServer(t, estest.Config{})
	d, m := load(t, fmt.Sprintf(`urls = [%q]
max_body_bytes = 65536`, srv.URL()))
	day := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	var chunk []byte
	for i := range 6000 {
		ts := day.Add(time.Duration(i%3) * 24 * time.Hour)
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, ts, recordtest.AppendAlert(nil, recordtest.Alert{Seq: i, Time: ts}))
	}
	b, err := send(t, d, recordtest.Decode(t, chunk))
	if err != nil || b.Pending() != 0 {
		t.Fatalf("err %v, pending %d", err, b.Pending())
	}
	noRejects(t, srv)
	for _, idx := range []string{"nightjar-2026.11.30", "nightjar-2026.12.01", "nightjar-2026.12.02"} {
		if n := srv.Count(idx); n != 2000 {
			t.Errorf("%s holds %d documents, want 2000 (indices %v)", idx, n, srv.Indices())
		}
	}
	s := m.Snapshot()
	if s.Sent != 6000 || s.Dropped != 0 || s.Batches < 6000*500/65536 {
		t.Errorf("counters %+v", s)
	}
	if st := srv.Stats(); st.Requests != int(s.Batches) {
		t.Errorf("server saw %d requests, destination counted %d batches", st.Requests, s.Batches)
	}
}

// TestTemplatedIndexAndTimestamp routes by namespace, keeps a record's own
// @timestamp and cleans index names the cluster would refuse.
func TestTemplatedIndexAndTimestamp(t *testing.T) {
	srv := newServer(t, estest.Config{})
	d, _ := load(t, fmt.Sprintf(`urls = [%q]
index = "sec-{{ output_fields.k8s.ns.name }}-%%Y.%%m"`, srv.URL()))
	ts := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	var chunk []byte
	for i, ns := range []string{"prod", "Dev Team", "prod"} {
		chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, ts, recordtest.AppendAlert(nil, recordtest.Alert{Seq: i, Time: ts, Namespace: ns}))
	}
	if _, err := send(t, d, recordtest.Decode(t, chunk)); err != nil {
		t.Fatal(err)
	}
	noRejects(t, srv)
	if srv.Count("sec-prod-2026.03") != 2 || srv.Count("sec-dev_team-2026.03") != 1 {
		t.Errorf("indices %v", srv.Indices())
	}
	var doc map[string]any
	json.Unmarshal(srv.Docs("sec-dev_team-2026.03")[0].Source, &doc)
	if doc["@timestamp"] != "2026-03-04T05:06:07.000Z" || doc["rule"] != "Terminal shell in container" {
		t.Errorf("document %v", doc)
	}
}

// TestPipeline names an ingest pipeline on every request; a pipeline the
// cluster does not have fails every item, dropped and counted.
func TestPipeline(t *testing.T) {
	srv := newServer(t, estest.Config{Pipelines: []string{"nightjar-enrich"}})
	d, _ := load(t, fmt.Sprintf(`urls = [%q]
index = "p"
pipeline = "nightjar-enrich"`, srv.URL()))
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 10, time.Now()))); err != nil {
		t.Fatal(err)
	}
	noRejects(t, srv)
	checkDocs(t, srv, "p", 0, 10)
	if st := srv.Stats(); st.Pipelined != st.Requests {
		t.Errorf("stats %+v: every request should name the pipeline", st)
	}
	missing, m := load(t, fmt.Sprintf(`urls = [%q]
index = "p"
pipeline = "other"`, srv.URL()))
	if _, err := send(t, missing, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 100, 5, time.Now()))); err != nil {
		t.Fatal(err)
	}
	if s := m.Snapshot(); s.Dropped != 5 || srv.Count("p") != 10 {
		t.Errorf("unknown pipeline: counters %+v, %d documents", s, srv.Count("p"))
	}
}

// TestDataStream writes to a data stream with create and @timestamp; a
// destination misconfigured to use index actions on it has every item
// refused, dropped and counted.
func TestDataStream(t *testing.T) {
	srv := newServer(t, estest.Config{DataStreams: []string{"logs-*-*"}})
	d, m := load(t, fmt.Sprintf(`urls = [%q]
data_stream = true`, srv.URL()))
	recs := recordtest.Decode(t, recordtest.Chunk(recordtest.Metadata, 0, 500, time.Now()))
	if _, err := send(t, d, recs); err != nil {
		t.Fatal(err)
	}
	noRejects(t, srv)
	checkDocs(t, srv, "logs-nightjar-default", 0, 500)
	if s := m.Snapshot(); s.Sent != 500 {
		t.Errorf("counters %+v", s)
	}

	bad, bm := load(t, fmt.Sprintf(`urls = [%q]
index = "logs-nightjar-default"
action = "index"`, srv.URL()))
	b, err := send(t, bad, recordtest.Decode(t, recordtest.Chunk(recordtest.Metadata, 1000, 10, time.Now())))
	if err != nil || b.Pending() != 0 {
		t.Fatalf("err %v, pending %d", err, b.Pending())
	}
	if s := bm.Snapshot(); s.Dropped != 10 || s.Sent != 0 {
		t.Errorf("index actions on a data stream: counters %+v, want 10 dropped", s)
	}
	if n := srv.Count("logs-nightjar-default"); n != 500 {
		t.Errorf("data stream holds %d documents, want 500", n)
	}
}

// TestFaults injects every request and item failure; the destination
// retries within one Send and stores each record exactly once, including
// the requests whose answer was lost after they were indexed.
func TestFaults(t *testing.T) {
	srv := newServer(t, estest.Config{})
	d, m := load(t, fmt.Sprintf(`urls = [%q]
timeout = "1s"
max_attempts = 12
concurrency = 1
max_body_bytes = 262144`, srv.URL()))
	srv.Inject(estest.Unavailable, estest.TooManyRequests, estest.None, estest.InternalError, estest.Hang,
		estest.Drop, estest.DropAfterWrite, estest.PartialReject, estest.PartialReject, estest.DropAfterWrite)
	recs := recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 3000, time.Now()))
	b, err := send(t, d, recs)
	if err != nil || b.Pending() != 0 {
		t.Fatalf("err %v, pending %d", err, b.Pending())
	}
	noRejects(t, srv)
	idx := srv.Indices()
	if len(idx) != 1 {
		t.Fatalf("indices %v", idx)
	}
	checkDocs(t, srv, idx[0], 0, 3000)
	if s := m.Snapshot(); s.Retries < 9 || s.Failures < 9 || s.Sent != 3000 || s.Dropped != 0 {
		t.Errorf("counters %+v, want at least 9 retries and failures, 3000 sent", s)
	}
}

// TestFailover lists a node that refuses connections first: requests
// rotate to the live node and every record lands once.
func TestFailover(t *testing.T) {
	srv := newServer(t, estest.Config{})
	d, m := load(t, fmt.Sprintf(`urls = ["http://127.0.0.1:1", %q]
index = "fo"
max_body_bytes = 65536
concurrency = 1`, srv.URL()))
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 1000, time.Now()))); err != nil {
		t.Fatal(err)
	}
	checkDocs(t, srv, "fo", 0, 1000)
	if s := m.Snapshot(); s.Failures == 0 || s.Sent != 1000 {
		t.Errorf("counters %+v: want failures against the dead node, 1000 sent", s)
	}
}

// TestRetriesExhausted leaves the failed request's records pending while
// the others stay acknowledged, and the error is transient.
func TestRetriesExhausted(t *testing.T) {
	srv := newServer(t, estest.Config{})
	d, _ := load(t, fmt.Sprintf(`urls = [%q]
max_attempts = 2
concurrency = 1
max_body_bytes = 65536`, srv.URL()))
	srv.Inject(estest.None, estest.Unavailable, estest.Unavailable)
	recs := recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 1000, time.Now()))
	b, err := send(t, d, recs)
	if err == nil || destination.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	stored := srv.Count(srv.Indices()[0])
	if stored == 0 || b.Pending() != len(recs)-stored {
		t.Errorf("stored %d, pending %d of %d", stored, b.Pending(), len(recs))
	}
}

// TestRestart is exactly-once across restarts: a new destination sending
// records that already landed gets 409s, counted as delivered.
func TestRestart(t *testing.T) {
	srv := newServer(t, estest.Config{})
	cfg := fmt.Sprintf(`urls = [%q]
index = "alerts"`, srv.URL())
	recs := recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 2000, time.Now()))
	first, _ := load(t, cfg)
	if _, err := send(t, first, recs[:1500]); err != nil {
		t.Fatal(err)
	}
	first.Close()
	second, m := load(t, cfg)
	b, err := send(t, second, recs)
	if err != nil || b.Pending() != 0 {
		t.Fatalf("err %v, pending %d", err, b.Pending())
	}
	noRejects(t, srv)
	checkDocs(t, srv, "alerts", 0, 2000)
	if s := m.Snapshot(); s.Sent != 2000 || s.Dropped != 0 {
		t.Errorf("counters %+v, want 2000 sent (1500 of them as 409)", s)
	}
}

// TestMappingErrors drops and counts documents the mapping refuses,
// without holding back the others.
func TestMappingErrors(t *testing.T) {
	srv := newServer(t, estest.Config{})
	d, m := load(t, fmt.Sprintf(`urls = [%q]
index = "m"`, srv.URL()))
	now := time.Now()
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 10, now)
	// "rule" is a keyword by then; an object there is a mapping error.
	body := []byte{0x83}
	body = append(body, 0xa4, 'r', 'u', 'l', 'e', 0x81, 0xa1, 'x', 0x01)
	body = append(body, 0xa4, 'u', 'u', 'i', 'd', 0xa3, 'b', 'a', 'd')
	body = append(body, 0xa8, 'p', 'r', 'i', 'o', 'r', 'i', 't', 'y', 0xa5, 'E', 'r', 'r', 'o', 'r')
	chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, body)
	b, err := send(t, d, recordtest.Decode(t, chunk))
	if err != nil || b.Pending() != 0 {
		t.Fatalf("err %v, pending %d", err, b.Pending())
	}
	if s := m.Snapshot(); s.Sent != 10 || s.Dropped != 1 {
		t.Errorf("counters %+v, want 10 sent and 1 dropped", s)
	}
}

// TestBodyLimit sends to a cluster whose body limit is below the
// destination's bound: 413s make the destination halve its requests, and a
// document over the limit by itself is dropped and counted.
func TestBodyLimit(t *testing.T) {
	srv := newServer(t, estest.Config{MaxContentLength: 100_000})
	d, m := load(t, fmt.Sprintf(`urls = [%q]
index = "big"
max_body_bytes = 1048576`, srv.URL()))
	now := time.Now()
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 2000, now)
	chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: 5000, Time: now, Output: strings.Repeat("z", 200_000)}))
	b, err := send(t, d, recordtest.Decode(t, chunk))
	if err != nil || b.Pending() != 0 {
		t.Fatalf("err %v, pending %d", err, b.Pending())
	}
	noRejects(t, srv)
	checkDocs(t, srv, "big", 0, 2000)
	if st := srv.Stats(); st.TooLarge == 0 {
		t.Error("no request was over the server's limit")
	}
	if s := m.Snapshot(); s.Sent != 2000 || s.Dropped != 1 {
		t.Errorf("counters %+v, want 2000 sent, 1 dropped", s)
	}
}

// TestBasicAuthTLS uses HTTPS with the CA from ca_file, or from a tls
// block, and basic auth; wrong credentials are a permanent error.
func TestBasicAuthTLS(t *testing.T) {
	srv := newServer(t, estest.Config{TLS: true, Username: "nightjar", Password: "pw"})
	d, _ := load(t, fmt.Sprintf(`urls = [%q]
ca_file = %q
username = "nightjar"
password = "pw"
index = "tls"`, srv.URL(), srv.CAFile()))
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 20, time.Now()))); err != nil {
		t.Fatal(err)
	}
	checkDocs(t, srv, "tls", 0, 20)

	// The tls block of the other HTTP destinations works as well.
	block, _ := load(t, fmt.Sprintf(`urls = [%q]
tls { ca_file = %q }
username = "nightjar"
password = "pw"
index = "tls-block"`, srv.URL(), srv.CAFile()))
	if _, err := send(t, block, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 20, time.Now()))); err != nil {
		t.Fatal(err)
	}
	checkDocs(t, srv, "tls-block", 0, 20)

	wrong, _ := load(t, fmt.Sprintf(`urls = [%q]
ca_file = %q
username = "nightjar"
password = "nope"`, srv.URL(), srv.CAFile()))
	if _, err := send(t, wrong, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 1, time.Now()))); !destination.IsPermanent(err) {
		t.Errorf("wrong password: err = %v, want permanent", err)
	}
	untrusted, _ := load(t, fmt.Sprintf(`urls = [%q]
username = "nightjar"
password = "pw"`, srv.URL()))
	if _, err := send(t, untrusted, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 1, time.Now()))); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without ca_file: err = %v, want a certificate error", err)
	}
}

// TestMutualTLS presents a client certificate to a cluster that demands
// one, set with the top-level attributes or with a tls block; without it
// the handshake fails and nothing is indexed.
func TestMutualTLS(t *testing.T) {
	certs, err := desttest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AppendCertsFromPEM(caPEM)
	srv := newServer(t, estest.Config{TLS: true, ClientCAs: clientCAs})
	for index, settings := range map[string]string{
		"attributes": fmt.Sprintf("ca_file = %q\nclient_cert_file = %q\nclient_key_file = %q", srv.CAFile(), certs.ClientCert, certs.ClientKey),
		"block":      fmt.Sprintf("tls {\n  ca_file = %q\n  cert_file = %q\n  key_file = %q\n}", srv.CAFile(), certs.ClientCert, certs.ClientKey),
	} {
		d, _ := load(t, fmt.Sprintf("urls = [%q]\nindex = %q\n%s", srv.URL(), index, settings))
		if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 5, time.Now()))); err != nil {
			t.Fatalf("%s: %v", index, err)
		}
		checkDocs(t, srv, index, 0, 5)
	}
	anonymous, _ := load(t, fmt.Sprintf("urls = [%q]\nindex = \"anonymous\"\nmax_attempts = 1\nca_file = %q", srv.URL(), srv.CAFile()))
	if _, err := send(t, anonymous, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 1, time.Now()))); err == nil {
		t.Error("sent without the client certificate the cluster demands")
	}
	if docs := srv.Docs("anonymous"); len(docs) != 0 {
		t.Errorf("%d documents indexed without a client certificate", len(docs))
	}
}

func TestAPIKey(t *testing.T) {
	srv := newServer(t, estest.Config{APIKey: "aWQ6a2V5"})
	d, _ := load(t, fmt.Sprintf(`urls = [%q]
api_key = "aWQ6a2V5"
index = "k"`, srv.URL()))
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 5, time.Now()))); err != nil {
		t.Fatal(err)
	}
	noRejects(t, srv)
	checkDocs(t, srv, "k", 0, 5)
}

// TestSigV4Static signs for Amazon OpenSearch Service with static keys; the
// server re-signs every request with the SDK's signer.
func TestSigV4Static(t *testing.T) {
	srv := newServer(t, estest.Config{MaxContentLength: estest.AWSMaxContentLength,
		SigV4: &estest.SigV4{Region: "eu-west-1", Service: "es", Keys: map[string]string{"AKIDSTATIC": "s3cret"}}})
	d, m := load(t, fmt.Sprintf(`urls = [%q]
index = "aws"
aws {
  region            = "eu-west-1"
  access_key_id     = "AKIDSTATIC"
  secret_access_key = "s3cret"
}`, srv.URL()))
	srv.Inject(estest.ExpiredToken) // answered as expired once: refreshed and retried
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 3000, time.Now()))); err != nil {
		t.Fatal(err)
	}
	noRejects(t, srv)
	checkDocs(t, srv, "aws", 0, 3000)
	if s := m.Snapshot(); s.Retries != 1 {
		t.Errorf("counters %+v, want the expired answer retried once", s)
	}

	wrong, _ := load(t, fmt.Sprintf(`urls = [%q]
aws {
  region            = "eu-west-1"
  access_key_id     = "AKIDSTATIC"
  secret_access_key = "other"
}`, srv.URL()))
	if _, err := send(t, wrong, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 1, time.Now()))); !destination.IsPermanent(err) || !strings.Contains(err.Error(), "signature") {
		t.Errorf("wrong secret: err = %v, want a permanent signature error", err)
	}
}

// TestGzipSigV4 compresses the bodies; the signature covers the
// compressed bytes and the body bound the decoded ones.
func TestGzipSigV4(t *testing.T) {
	srv := newServer(t, estest.Config{MaxContentLength: 300_000,
		SigV4: &estest.SigV4{Region: "eu-west-1", Service: "es", Keys: map[string]string{"AKIDZ": "z"}}})
	d, _ := load(t, fmt.Sprintf(`urls = [%q]
index = "gz"
gzip = true
max_body_bytes = 262144
aws {
  region            = "eu-west-1"
  access_key_id     = "AKIDZ"
  secret_access_key = "z"
}`, srv.URL()))
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 2000, time.Now()))); err != nil {
		t.Fatal(err)
	}
	noRejects(t, srv)
	checkDocs(t, srv, "gz", 0, 2000)
	if st := srv.Stats(); st.Gzipped != st.Requests || st.Requests < 4 || st.TooLarge != 0 {
		t.Errorf("server stats %+v: want every request gzipped and none too large", st)
	}
}

// TestSigV4AssumeRole signs with the credentials of a role assumed through
// STS (the CloudWatch test server's STS) on top of static keys; the
// cluster accepts only the role's key.
func TestSigV4AssumeRole(t *testing.T) {
	sts, err := cwtest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sts.Close() })
	srv := newServer(t, estest.Config{SigV4: &estest.SigV4{Region: "us-west-2", Service: "es",
		Keys: map[string]string{cwtest.AssumedRoleKey: "assumed-secret"}}})
	d, _ := load(t, fmt.Sprintf(`urls = [%q]
index = "role"
aws {
  region            = "us-west-2"
  access_key_id     = "AKIDBASE"
  secret_access_key = "base-secret"
  role_arn          = "arn:aws:iam::111122223333:role/opensearch-writer"
  external_id       = "nightjar"
  sts_endpoint      = %q
}`, srv.URL(), sts.URL()))
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 10, time.Now()))); err != nil {
		t.Fatal(err)
	}
	noRejects(t, srv)
	checkDocs(t, srv, "role", 0, 10)
	if r := sts.AssumedRoles(); len(r) != 1 || r[0] != "arn:aws:iam::111122223333:role/opensearch-writer" {
		t.Errorf("assumed roles %v", r)
	}
}

// TestSigV4TaskRoleExpiry signs for OpenSearch Serverless with credentials
// from the default chain's container provider (an ECS task role); when the
// service says they expired, the destination fetches new ones and goes on.
func TestSigV4TaskRoleExpiry(t *testing.T) {
	creds := estest.NewCredentialsServer("ASIAFIRST", "ASIASECOND")
	t.Cleanup(creds.Close)
	srv := newServer(t, estest.Config{SigV4: &estest.SigV4{Region: "us-east-1", Service: "aoss",
		Keys: map[string]string{"ASIAFIRST": "secret-ASIAFIRST", "ASIASECOND": "secret-ASIASECOND"}}})
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": creds.URL(), "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
	} {
		t.Setenv(k, v)
	}
	d, m := load(t, fmt.Sprintf(`urls = [%q]
index = "serverless"
aws { service = "aoss" }`, srv.URL()))
	recs := recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 400, time.Now()))
	if _, err := send(t, d, recs[:200]); err != nil {
		t.Fatal(err)
	}
	srv.Expire("ASIAFIRST")
	creds.Rotate()
	if _, err := send(t, d, recs[200:]); err != nil {
		t.Fatal(err)
	}
	noRejects(t, srv)
	checkDocs(t, srv, "serverless", 0, 400)
	if creds.Hits() < 2 {
		t.Errorf("credentials fetched %d times, want a refresh", creds.Hits())
	}
	if s := m.Snapshot(); s.Retries == 0 {
		t.Errorf("counters %+v: the expired request was not retried", s)
	}
}

// TestConfigErrors loads each file of testdata/errors; its first line is
// "# want: <line>:<col> <text>".
func TestConfigErrors(t *testing.T) {
	desttest.ConfigErrors(t, routes.Options{Registry: registry()}, 8)
}
