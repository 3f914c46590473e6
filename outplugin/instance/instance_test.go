package instance_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/cloudwatch/cwtest"
	"github.com/nightjar-sec/nightjar/outplugin/instance"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/router"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestOpenFlushMetrics(t *testing.T) {
	srv, err := cwtest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "routes.hcl")
	os.WriteFile(cfg, []byte(`
destination "cloudwatch" "a" {
  region            = "us-east-1"
  endpoint          = "`+srv.URL()+`"
  access_key_id     = "AKID"
  secret_access_key = "s"
  log_group         = "/i"
}
destination "cloud_logging" "b" {
  project  = "p"
  endpoint = "127.0.0.1:1"
  insecure = true
}
route "urgent" {
  match = priority >= "Critical"
  to    = [destination.cloud_logging.b]
}
route "rest" { to = [destination.cloudwatch.a] }
`), 0o644)
	addr := freeAddr(t)
	props := map[string]string{"config": cfg, "log_level": "warn", "metrics_listen": addr, "log_interval": "1h", "state_dir": t.TempDir()}
	inst, err := instance.Open(1, func(k string) string { return props[k] })
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if st := inst.Flush("t", recordtest.Chunk(recordtest.EventTime, 0, 20, time.Now())); st != router.OK {
		t.Fatalf("flush: %v", st)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`nightjar_output_records_sent_total{destination="cloudwatch.a"} 20`,
		`nightjar_output_records_sent_total{destination="cloud_logging.b"} 0`,
		`nightjar_output_chunks_total{status="ok"} 1`,
		`nightjar_output_state_corrupt_total 0`,
		`nightjar_output_panics_total 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "r.hcl")
	os.WriteFile(good, []byte(`destination "cloudwatch" "a" {
  region    = "us-east-1"
  log_group = "/g"
}
route "r" { to = [destination.cloudwatch.a] }`), 0o644)
	for _, tc := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{}, "config"},
		{map[string]string{"config": good, "log_level": "loud"}, "log_level"},
		{map[string]string{"config": good, "log_interval": "soon"}, "log_interval"},
		{map[string]string{"config": good, "metrics_listen": "256.0.0.1:x"}, "metrics_listen"},
		{map[string]string{"config": good, "retry_state_ttl": "-1h"}, "retry_state_ttl"},
		{map[string]string{"config": good, "retry_state_max": "many"}, "retry_state_max"},
		{map[string]string{"config": good, "flush_timeout": "0s"}, "flush_timeout"},
		{map[string]string{"config": filepath.Join(dir, "none.hcl")}, "none.hcl"},
		{map[string]string{"config": good, "state_dir": good}, "state_dir"},
	} {
		_, err := instance.Open(1, func(k string) string { return tc.props[k] })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("props %v: err %v, want mention of %q", tc.props, err, tc.want)
		}
	}
}

// TestExampleRoutes loads the documented example, which shows a block of
// every destination type the plugin registers.
func TestExampleRoutes(t *testing.T) {
	t.Setenv("NIGHTJAR_EXTERNAL_ID", "ext-1")
	t.Setenv("SPLUNK_HEC_TOKEN", "0f6a3b3e-2c4d-4b8a-9f1e-5d6c7b8a9e00")
	t.Setenv("WEBHOOK_TOKEN", "hook-token")
	t.Setenv("ES_API_KEY", "es-key")
	t.Setenv("KAFKA_PASSWORD", "kafka-password")
	// Application Default Credentials are resolved when the destination is
	// built; a user credential file needs no network to load.
	adc := filepath.Join(t.TempDir(), "adc.json")
	os.WriteFile(adc, []byte(`{"type":"authorized_user","client_id":"id","client_secret":"secret","refresh_token":"token"}`), 0o600)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", adc)
	cfg, err := routes.Load("testdata/routes.example.hcl", routes.Options{Registry: instance.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	if len(cfg.Destinations) != 8 || len(cfg.Routes) != 4 || cfg.Default == nil {
		t.Errorf("%d destinations, %d routes, default %v", len(cfg.Destinations), len(cfg.Routes), cfg.Default)
	}
	shown := map[string]bool{}
	for _, d := range cfg.Destinations {
		if d.Dest == nil {
			t.Errorf("%s was not built", d.ID())
		}
		shown[d.Type] = true
	}
	for _, typ := range instance.Registry().Types() {
		if !shown[typ] {
			t.Errorf("the example has no %q destination", typ)
		}
	}
}
