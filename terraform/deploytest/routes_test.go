package deploytest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/nightjar-sec/nightjar/outplugin/instance"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
)

// fakeCredentials points Application Default Credentials at a service
// account key made up for the test: the Cloud Logging client needs
// credentials to be built and never fetches a token here.
func fakeCredentials(t *testing.T) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "PROJECT_ID",
		"private_key_id": "0",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "deploytest@PROJECT_ID.iam.gserviceaccount.com",
		"client_id":      "0",
		"token_uri":      "http://127.0.0.1:1/token",
	})
	p := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(p, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", p)
	t.Setenv("AWS_REGION", "us-east-1")
}

// TestRoutesFiles loads every shipped routes.hcl with the plugin's own
// loader and every destination type the plugin registers.
func TestRoutesFiles(t *testing.T) {
	fakeCredentials(t)
	env := map[string]string{"NIGHTJAR_LOG_GROUP": "/nightjar/alerts"}
	for _, tc := range []struct {
		path  string
		dests []string
	}{
		{"gke/config/routes.hcl", []string{"cloud_logging.alerts"}},
		{"ecs/routes.hcl", []string{"cloudwatch.alerts"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			cfg, err := routes.Load(filepath.Join(harness.repo, tc.path), routes.Options{
				Registry: instance.Registry(),
				LookupEnv: func(k string) (string, bool) {
					v, ok := env[k]
					return v, ok
				},
			})
			if err != nil {
				t.Fatalf("the plugin refuses %s: %v", tc.path, err)
			}
			defer cfg.Close()
			var got []string
			for _, d := range cfg.Destinations {
				got = append(got, d.ID())
			}
			if len(got) != len(tc.dests) || got[0] != tc.dests[0] {
				t.Errorf("destinations %v, want %v", got, tc.dests)
			}
			if len(cfg.Routes) == 0 || cfg.Routes[0].Match != nil {
				t.Errorf("want a first route taking every alert, have %d routes", len(cfg.Routes))
			}
		})
	}
	// The module's extra_routes are appended to its routes.hcl: a SIEM
	// destination there must load too.
	renderGKE(t)
	src := renderedGKE.configs["routes.hcl"] + `
route "critical-copy" {
  match = priority >= "Critical"
  to    = [destination.cloud_logging.alerts]
}
`
	cfg, err := routes.Parse([]byte(src), "routes.hcl", routes.Options{Registry: instance.Registry()})
	if err != nil {
		t.Fatalf("routes.hcl with extra routes: %v", err)
	}
	cfg.Close()
}

// TestECSRoutesNeedLogGroup: the router refuses to start without the log
// group the task definition passes, rather than writing elsewhere.
func TestECSRoutesNeedLogGroup(t *testing.T) {
	_, err := routes.Load(filepath.Join(harness.repo, "ecs", "routes.hcl"), routes.Options{
		Registry:  instance.Registry(),
		LookupEnv: func(string) (string, bool) { return "", false },
	})
	if err == nil {
		t.Fatal("ecs/routes.hcl loaded without NIGHTJAR_LOG_GROUP")
	}
}

// TestDaemonConfigs loads the daemon configurations with the daemon's
// loader.
func TestDaemonConfigs(t *testing.T) {
	for _, p := range []string{"gke/config/nightjar.hcl", "ecs/nightjar.hcl"} {
		src, err := os.ReadFile(filepath.Join(harness.repo, p))
		if err != nil {
			t.Fatal(err)
		}
		cfg := loadDaemonConfig(t, src, p)
		if cfg.Forward == nil || !cfg.Forward.Enabled || !cfg.Forward.RequireAck || cfg.Forward.Target != "/var/run/nightjar/fluent.sock" {
			t.Errorf("%s: forward output %+v, want acknowledged delivery to /var/run/nightjar/fluent.sock", p, cfg.Forward)
		}
		if cfg.Forward.Spool == nil || !cfg.Forward.Spool.Enabled {
			t.Errorf("%s: the spool is off", p)
		}
	}
}
