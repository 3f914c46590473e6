package kafka_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/destination/desttest"
	"github.com/nightjar-sec/nightjar/outplugin/kafka"
	"github.com/nightjar-sec/nightjar/outplugin/kafka/kafkatest"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func newCluster(t *testing.T, opts ...kfake.Opt) *kafkatest.Cluster {
	t.Helper()
	c, err := kafkatest.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func registry() *destination.Registry {
	reg := destination.NewRegistry()
	kafka.Register(reg)
	return reg
}

func load(t *testing.T, body string) (destination.Destination, *destination.Metrics) {
	t.Helper()
	src := fmt.Sprintf("destination \"kafka\" \"k\" {\n%s\n}\nroute \"all\" { to = [destination.kafka.k] }\n", body)
	cfg, err := routes.Parse([]byte(src), "routes.hcl", routes.Options{Registry: registry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.Close() })
	return cfg.Destinations[0].Dest, cfg.Destinations[0].Metrics
}

func send(t *testing.T, d destination.Destination, recs []*record.Record) (*destination.Batch, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := destination.NewBatch("nightjar", recs)
	return b, d.Send(ctx, b)
}

func readAll(t *testing.T, c *kafkatest.Cluster, n int, topics ...string) []*kgo.Record {
	t.Helper()
	recs, err := c.ReadAll(context.Background(), n, topics...)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// uuids counts records per alert uuid.
func uuids(t *testing.T, recs []*kgo.Record) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range recs {
		var a struct{ UUID string }
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatalf("record value is not JSON: %v", err)
		}
		out[a.UUID]++
	}
	return out
}

func exactlyOnce(t *testing.T, recs []*kgo.Record, want int) {
	t.Helper()
	counts := uuids(t, recs)
	dups := 0
	for _, n := range counts {
		dups += n - 1
	}
	if len(counts) != want || dups != 0 {
		t.Errorf("%d distinct records, %d duplicates; want %d and 0", len(counts), dups, want)
	}
}

// TestProduce routes records to per-namespace topics with every
// compression codec, then reads them back: topics, keys, headers, values
// and timestamps as sent; every batch idempotent, acks=all, compressed.
func TestProduce(t *testing.T) {
	codecs := map[string]int{"none": kafkatest.CodecNone, "gzip": kafkatest.CodecGzip, "snappy": kafkatest.CodecSnappy,
		"lz4": kafkatest.CodecLz4, "zstd": kafkatest.CodecZstd}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(3, "alerts-prod", "alerts-dev"))
			d, m := load(t, fmt.Sprintf(`brokers = %s
topic = "alerts-{{ output_fields.k8s.ns.name }}"
compression = %q
headers = { rule = "{{ rule }}", missing = "{{ nope }}" }`, c.Brokers(), name))
			start := time.Now().Truncate(time.Millisecond)
			var chunk []byte
			for i := range 1000 {
				ns, host := "prod", "node-a"
				if i%4 == 0 {
					ns, host = "dev", "node-b"
				}
				ts := start.Add(time.Duration(i) * time.Millisecond)
				chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, ts, recordtest.AppendAlert(nil, recordtest.Alert{Seq: i, Time: ts, Namespace: ns, Hostname: host}))
			}
			b, err := send(t, d, recordtest.Decode(t, chunk))
			if err != nil || b.Pending() != 0 {
				t.Fatalf("err %v, pending %d", err, b.Pending())
			}
			recs := readAll(t, c, 1000, "alerts-prod", "alerts-dev")
			exactlyOnce(t, recs, 1000)
			for _, r := range recs {
				var a struct {
					Hostname     string
					OutputFields map[string]any `json:"output_fields"`
				}
				json.Unmarshal(r.Value, &a)
				if r.Topic != "alerts-"+a.OutputFields["k8s.ns.name"].(string) || string(r.Key) != a.Hostname {
					t.Fatalf("record on %s with key %q: %s", r.Topic, r.Key, r.Value)
				}
				if len(r.Headers) != 1 || r.Headers[0].Key != "rule" || string(r.Headers[0].Value) != "Terminal shell in container" {
					t.Fatalf("headers %v", r.Headers)
				}
				if r.Timestamp.Before(start) || r.Timestamp.After(start.Add(time.Second)) {
					t.Fatalf("timestamp %v, sent from %v", r.Timestamp, start)
				}
			}
			batches := c.Batches()
			if len(batches) == 0 {
				t.Fatal("no produce request observed")
			}
			for _, bt := range batches {
				if bt.Acks != -1 || bt.ProducerID < 0 || bt.Codec != codec {
					t.Fatalf("batch %+v: want acks -1, an idempotent producer id, codec %d", bt, codec)
				}
			}
			if s := m.Snapshot(); s.Sent != 1000 || s.Batches != 1 {
				t.Errorf("counters %+v", s)
			}
		})
	}
}

// TestProduceFailures injects produce errors, dropped connections and
// timeouts after the write: the producer retries and every record is in
// the topic exactly once.
func TestProduceFailures(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(3, "alerts"))
	d, _ := load(t, fmt.Sprintf(`brokers = %s
topic = "alerts"
metadata_min_age = "50ms"`, c.Brokers()))
	recs := recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 3000, time.Now()))
	if _, err := send(t, d, recs[:10]); err != nil { // connections and metadata
		t.Fatal(err)
	}
	c.FailProduce(3, kerr.NotLeaderForPartition)
	c.DropProduce(2)
	c.TimeoutAfterWrite(3)
	c.FailProduce(2, kerr.NotEnoughReplicas)
	b, err := send(t, d, recs[10:])
	if err != nil || b.Pending() != 0 {
		t.Fatalf("err %v, pending %d", err, b.Pending())
	}
	exactlyOnce(t, readAll(t, c, 3000, "alerts"), 3000)
}

// TestUnacknowledged keeps the brokers refusing writes past the delivery
// timeout: Send returns a transient error with the records pending; once
// the brokers recover, sending the pending ones lands each exactly once.
func TestUnacknowledged(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(2, "alerts"))
	d, m := load(t, fmt.Sprintf(`brokers = %s
topic = "alerts"
timeout = "2s"
metadata_min_age = "50ms"`, c.Brokers()))
	recs := recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 500, time.Now()))
	if _, err := send(t, d, recs[:100]); err != nil {
		t.Fatal(err)
	}
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	b, err := send(t, d, recs[100:])
	h.Remove()
	if err == nil || destination.IsPermanent(err) || b.Pending() != 400 {
		t.Fatalf("err %v, pending %d: want a transient error with 400 pending", err, b.Pending())
	}
	var rest []*record.Record
	for i, r := range recs[100:] {
		if !b.Acked(i) {
			rest = append(rest, r)
		}
	}
	t0 := time.Now()
	if _, err := send(t, d, rest); err != nil {
		t.Fatal(err, time.Since(t0), h.Hits())
	}
	exactlyOnce(t, readAll(t, c, 500, "alerts"), 500)
	if s := m.Snapshot(); s.Sent != 500 || s.Failures != 1 {
		t.Errorf("counters %+v", s)
	}
}

// TestNotAuthorized refuses the topic to the producer: the error is
// permanent and nothing is written.
func TestNotAuthorized(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "alerts"))
	d, _ := load(t, fmt.Sprintf(`brokers = %s
topic = "alerts"`, c.Brokers()))
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.TopicAuthorizationFailed, Count: -1})
	defer h.Remove()
	b, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 20, time.Now())))
	if !destination.IsPermanent(err) || b.Pending() != 20 {
		t.Fatalf("err %v, pending %d: want a permanent error, all pending", err, b.Pending())
	}
}

// TestTooLarge drops and counts a record over max_message_bytes without
// holding back the others.
func TestTooLarge(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "alerts"))
	d, m := load(t, fmt.Sprintf(`brokers = %s
topic = "alerts"
max_message_bytes = 65536`, c.Brokers()))
	now := time.Now()
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 20, now)
	chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: 99, Time: now, Output: strings.Repeat("x", 100_000)}))
	b, err := send(t, d, recordtest.Decode(t, chunk))
	if err != nil || b.Pending() != 0 {
		t.Fatalf("err %v, pending %d", err, b.Pending())
	}
	exactlyOnce(t, readAll(t, c, 20, "alerts"), 20)
	if s := m.Snapshot(); s.Sent != 20 || s.Dropped != 1 {
		t.Errorf("counters %+v", s)
	}
}

// TestSASL authenticates with PLAIN and both SCRAM variants over mutual
// TLS with the CA from ca_file and the certificate from client_cert_file.
// kfake closes the connection on a wrong password (a real broker answers
// SASL_AUTHENTICATION_FAILED, a permanent error, as TestMSKIAM shows): the
// records stay pending and nothing is written; so do they without the
// client certificate the brokers demand.
func TestSASL(t *testing.T) {
	certs, err := desttest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca := certs.CA
	serverCert, err := tls.LoadX509KeyPair(certs.ServerCert, certs.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{serverCert},
		ClientCAs: roots, ClientAuth: tls.RequireAndVerifyClientCert}
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c := newCluster(t, kfake.SeedTopics(1, "alerts"), kfake.EnableSASL(), kfake.Superuser(mech, "nightjar", "pw"), kfake.TLS(tlsCfg))
			d, _ := load(t, fmt.Sprintf(`brokers = %s
topic = "alerts"
tls = true
ca_file = %q
client_cert_file = %q
client_key_file = %q
sasl {
  mechanism = %q
  username  = "nightjar"
  password  = "pw"
}`, c.Brokers(), ca, certs.ClientCert, certs.ClientKey, mech))
			if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 50, time.Now()))); err != nil {
				t.Fatal(err)
			}
			clientTLS := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}}
			c.ClientOpts = []kgo.Opt{kgo.DialTLSConfig(clientTLS), kgo.SASL(map[string]sasl.Mechanism{
				"PLAIN":         plain.Auth{User: "nightjar", Pass: "pw"}.AsMechanism(),
				"SCRAM-SHA-256": scram.Auth{User: "nightjar", Pass: "pw"}.AsSha256Mechanism(),
				"SCRAM-SHA-512": scram.Auth{User: "nightjar", Pass: "pw"}.AsSha512Mechanism(),
			}[mech])}
			exactlyOnce(t, readAll(t, c, 50, "alerts"), 50)

			wrong, _ := load(t, fmt.Sprintf(`brokers = %s
topic = "alerts"
tls = true
ca_file = %q
client_cert_file = %q
client_key_file = %q
timeout = "1s"
sasl {
  mechanism = %q
  username  = "nightjar"
  password  = "wrong"
}`, c.Brokers(), ca, certs.ClientCert, certs.ClientKey, mech))
			b, err := send(t, wrong, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 1000, 1, time.Now())))
			if err == nil || b.Pending() != 1 {
				t.Errorf("wrong password: err = %v, pending %d; want an error and the record pending", err, b.Pending())
			}
			if mech == "PLAIN" {
				anonymous, _ := load(t, fmt.Sprintf(`brokers = %s
topic = "alerts"
ca_file = %q
timeout = "1s"
sasl {
  mechanism = "PLAIN"
  username  = "nightjar"
  password  = "pw"
}`, c.Brokers(), ca))
				b, err := send(t, anonymous, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 2000, 1, time.Now())))
				if err == nil || b.Pending() != 1 {
					t.Errorf("without a client certificate: err = %v, pending %d; want an error and the record pending", err, b.Pending())
				}
			}
			exactlyOnce(t, readAll(t, c, 50, "alerts"), 50)
		})
	}
}

// TestMSKIAM authenticates with AWS_MSK_IAM using credentials from the
// default chain; the broker verifies the SigV4 signature.
func TestMSKIAM(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDMSK", "AWS_SECRET_ACCESS_KEY": "msk-secret", "AWS_SESSION_TOKEN": "session",
		"AWS_REGION": "eu-central-1", "AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(dir, "c"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "s"), "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	c := newCluster(t, kfake.SeedTopics(1, "alerts"))
	c.MSKIAM("eu-central-1", map[string]string{"AKIDMSK": "msk-secret"})
	d, _ := load(t, fmt.Sprintf(`brokers = %s
topic = "alerts"
sasl { mechanism = "AWS_MSK_IAM" }`, c.Brokers()))
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 30, time.Now()))); err != nil {
		t.Fatal(err)
	}
	ok, failed := c.Authentications()
	if len(ok) == 0 || len(failed) > 0 || ok[0] != "AKIDMSK" {
		t.Fatalf("authentications %v, failures %v", ok, failed)
	}
	exactlyOnce(t, readAll(t, c, 30, "alerts"), 30)

	os.Setenv("AWS_SECRET_ACCESS_KEY", "other")
	wrong, _ := load(t, fmt.Sprintf(`brokers = %s
topic = "alerts"
timeout = "1s"
sasl { mechanism = "AWS_MSK_IAM" }`, c.Brokers()))
	if _, err := send(t, wrong, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 1, time.Now()))); !destination.IsPermanent(err) {
		t.Errorf("wrong secret: err = %v, want permanent", err)
	}
	if _, failed := c.Authentications(); len(failed) == 0 || !strings.Contains(failed[0], "signature") {
		t.Errorf("failures %v, want a signature mismatch", failed)
	}
}

// TestConfigErrors loads each file of testdata/errors; its first line is
// "# want: <line>:<col> <text>".
func TestConfigErrors(t *testing.T) {
	desttest.ConfigErrors(t, routes.Options{Registry: registry()}, 8)
}
