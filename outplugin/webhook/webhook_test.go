package webhook_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/destination/desttest"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
	"github.com/nightjar-sec/nightjar/outplugin/webhook"
	"github.com/nightjar-sec/nightjar/outplugin/webhook/whtest"
)

func registry() *destination.Registry {
	reg := destination.NewRegistry()
	webhook.Register(reg)
	return reg
}

func lookupEnv(k string) (string, bool) {
	if k == "WEBHOOK_TOKEN" {
		return "s3cret", true
	}
	return "", false
}

func load(t *testing.T, body string, log *bytes.Buffer) (destination.Destination, *destination.Metrics) {
	t.Helper()
	src := "destination \"webhook\" \"w\" {\n" + body + "\n}\nroute \"all\" { to = [destination.webhook.w] }\n"
	opts := routes.Options{Registry: registry(), LookupEnv: lookupEnv}
	if log != nil {
		opts.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	cfg, err := routes.Parse([]byte(src), "routes.hcl", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.Close() })
	return cfg.Destinations[0].Dest, cfg.Destinations[0].Metrics
}

func newServer(t *testing.T) *whtest.Server {
	t.Helper()
	s := whtest.New()
	t.Cleanup(s.Close)
	return s
}

func send(t *testing.T, d destination.Destination, recs []*record.Record) (*destination.Batch, error) {
	t.Helper()
	b := destination.NewBatch("nightjar.alerts", recs)
	return b, d.Send(context.Background(), b)
}

func uuids(t *testing.T, recs []json.RawMessage) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range recs {
		var a struct{ UUID string }
		if err := json.Unmarshal(r, &a); err != nil {
			t.Fatal(err)
		}
		out[a.UUID]++
	}
	return out
}

func exactlyOnce(t *testing.T, counts map[string]int, want int) {
	t.Helper()
	dups := 0
	for _, n := range counts {
		dups += n - 1
	}
	if len(counts) != want || dups != 0 {
		t.Errorf("%d distinct records, %d duplicates; want %d and 0", len(counts), dups, want)
	}
}

// TestFormats sends the same alerts in every format; the server checks
// the framing, content type, method and the header taken from env().
func TestFormats(t *testing.T) {
	for _, tc := range []struct {
		format, extra string
		requests      int
	}{
		{"json", "", 50},
		{"json_array", "max_batch_records = 20", 3},
		{"ndjson", "max_batch_records = 20\ngzip = true\nmethod = \"PUT\"", 3},
		{"falco", "", 50},
	} {
		t.Run(tc.format, func(t *testing.T) {
			srv := newServer(t)
			srv.Format = tc.format
			srv.Header = map[string]string{"Authorization": "Bearer s3cret"}
			if strings.Contains(tc.extra, "PUT") {
				srv.Method = "PUT"
			}
			d, m := load(t, fmt.Sprintf(`url = %q
format = %q
headers = { Authorization = "Bearer ${env("WEBHOOK_TOKEN")}" }
%s`, srv.URL+"/alerts", tc.format, tc.extra), nil)
			recs := recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 50, time.Now()))
			b, err := send(t, d, recs)
			if err != nil || b.Pending() != 0 {
				t.Fatalf("send: %v, %d pending", err, b.Pending())
			}
			if r := srv.Rejected(); len(r) > 0 {
				t.Fatalf("server rejected %d requests, first: %s", len(r), r[0])
			}
			reqs := srv.Requests()
			if len(reqs) != tc.requests {
				t.Errorf("%d requests, want %d", len(reqs), tc.requests)
			}
			if s := m.Snapshot(); s.Sent != 50 || s.Batches != uint64(tc.requests) {
				t.Errorf("counters %+v", s)
			}
			if tc.format != "falco" {
				exactlyOnce(t, uuids(t, srv.Records()), 50)
				if ua := reqs[0].Header.Get("User-Agent"); ua != "nightjar" {
					t.Errorf("User-Agent %q", ua)
				}
				return
			}
			// Falco's http_output body: Falco's fields only, in its order.
			if ua := reqs[0].Header.Get("User-Agent"); ua != webhook.FalcoUserAgent {
				t.Errorf("User-Agent %q, want %q", ua, webhook.FalcoUserAgent)
			}
			var keys []string
			dec := json.NewDecoder(bytes.NewReader(srv.Records()[0]))
			dec.Token()
			for dec.More() {
				k, _ := dec.Token()
				keys = append(keys, k.(string))
				var skip json.RawMessage
				dec.Decode(&skip)
			}
			if want := "hostname output output_fields priority rule source tags time"; strings.Join(keys, " ") != want {
				t.Errorf("Falco body keys %q, want %q", keys, want)
			}
		})
	}
}

// TestFaults injects every transient failure: each record arrives exactly
// once, and Retry-After (seconds and HTTP date) is waited out.
func TestFaults(t *testing.T) {
	srv := newServer(t)
	srv.Format = whtest.NDJSON
	d, m := load(t, fmt.Sprintf(`url = %q
format = "ndjson"
max_batch_records = 100
timeout = "2s"
max_attempts = 8
concurrency = 1`, srv.URL), nil)
	srv.Inject(whtest.Unavailable, whtest.Throttle, whtest.BadGateway, whtest.Hang, whtest.Drop)
	start := time.Now()
	b, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 1000, time.Now())))
	if err != nil || b.Pending() != 0 {
		t.Fatalf("send: %v, %d pending", err, b.Pending())
	}
	exactlyOnce(t, uuids(t, srv.Records()), 1000)
	if s := m.Snapshot(); s.Retries != 5 || s.Failures != 5 {
		t.Errorf("counters %+v, want 5 retries and failures", s)
	}
	// Two Retry-After answers of one second each were honoured.
	if time.Since(start) < 1500*time.Millisecond {
		t.Errorf("Retry-After not honoured: done in %v", time.Since(start))
	}
}

// TestRefusals: a 401 is permanent; a body over the receiver's limit is
// halved until the record too large alone is isolated and dropped.
func TestRefusals(t *testing.T) {
	srv := newServer(t)
	srv.Format = whtest.JSONArray
	srv.MaxBodyBytes = 20_000
	d, m := load(t, fmt.Sprintf(`url = %q
format = "json_array"`, srv.URL), nil)
	now := time.Now()
	chunk := recordtest.Chunk(recordtest.EventTime, 0, 200, now)
	chunk = recordtest.AppendRecord(chunk, recordtest.EventTime, now, recordtest.AppendAlert(nil, recordtest.Alert{Seq: 200, Time: now, Output: strings.Repeat("x", 30_000)}))
	b, err := send(t, d, recordtest.Decode(t, chunk))
	if err != nil || b.Pending() != 0 {
		t.Fatalf("send: %v, %d pending", err, b.Pending())
	}
	got := uuids(t, srv.Records())
	exactlyOnce(t, got, 200)
	if s := m.Snapshot(); s.Dropped != 1 || s.Sent != 200 {
		t.Errorf("counters %+v", s)
	}
	srv.Inject(whtest.Unauthorized)
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 3, now))); !destination.IsPermanent(err) {
		t.Errorf("401: err = %v, want permanent", err)
	}
}

// TestNoCredentialsLogged uses a URL with a password and a query token:
// neither appears in errors or logs, whatever the failure.
func TestNoCredentialsLogged(t *testing.T) {
	srv := newServer(t)
	var log bytes.Buffer
	u := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1) + "/hook?token=tok-12345"
	d, _ := load(t, fmt.Sprintf("url = %q\nmax_attempts = 1", u), &log)
	srv.Inject(whtest.Unauthorized)
	_, err1 := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 1, time.Now())))
	srv.Close()
	_, err2 := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 1, 1, time.Now())))
	if err1 == nil || err2 == nil {
		t.Fatalf("errors %v, %v", err1, err2)
	}
	all := err1.Error() + err2.Error() + log.String()
	if strings.Contains(all, "hunter2") || strings.Contains(all, "tok-12345") {
		t.Errorf("credentials leaked: %s", all)
	}
	if !strings.Contains(all, "/hook?REDACTED") {
		t.Errorf("redacted URL missing from %s", all)
	}
}

// TestMutualTLS requires a client certificate.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	certs, err := desttest.WriteCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(certs.CA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	srv := whtest.NewTLS(pool)
	t.Cleanup(srv.Close)
	// The receiver's own certificate is httptest's, not the test CA's.
	os.WriteFile(filepath.Join(dir, "server-ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	tlsBlock := func(client bool) string {
		s := fmt.Sprintf("tls {\n  ca_file = %q\n  server_name = \"example.com\"\n", filepath.Join(dir, "server-ca.pem"))
		if client {
			s += fmt.Sprintf("  cert_file = %q\n  key_file = %q\n", certs.ClientCert, certs.ClientKey)
		}
		return s + "}"
	}
	d, _ := load(t, fmt.Sprintf("url = %q\nmax_attempts = 1\n%s", srv.URL, tlsBlock(false)), nil)
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 1, time.Now()))); err == nil {
		t.Error("accepted without a client certificate")
	}
	d, _ = load(t, fmt.Sprintf("url = %q\n%s", srv.URL, tlsBlock(true)), nil)
	if _, err := send(t, d, recordtest.Decode(t, recordtest.Chunk(recordtest.EventTime, 0, 2, time.Now()))); err != nil {
		t.Fatal(err)
	}
	if srv.Count() != 2 {
		t.Errorf("%d records", srv.Count())
	}
}

// TestConfigErrors loads each file of testdata/errors; its first line is
// "# want: <line>:<col> <text>".
func TestConfigErrors(t *testing.T) {
	for f, err := range desttest.ConfigErrors(t, routes.Options{Registry: registry(), LookupEnv: lookupEnv}, 8) {
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error repeats a credential: %q", f, err)
		}
	}
}

func FuzzConfig(f *testing.F) {
	desttest.FuzzConfig(f, routes.Options{Registry: registry(), LookupEnv: lookupEnv}, `destination "webhook" "w" {
  url = "https://hooks.example.com/x"
  format = "ndjson"
  headers = { X-Token = env("WEBHOOK_TOKEN") }
}
route "r" { to = [destination.webhook.w] }`)
}
