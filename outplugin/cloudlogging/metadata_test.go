package cloudlogging_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outplugin/cloudlogging"
	"github.com/nightjar-sec/nightjar/outplugin/cloudlogging/cltest"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record/recordtest"
	"github.com/nightjar-sec/nightjar/outplugin/routes"
)

// metadataServer is a GCE metadata server whose first drop requests lose
// their connection without an answer, as while the GKE metadata server
// restarts. Like the real one it refuses requests without the
// Metadata-Flavor header and answers 404 for attributes it lacks.
type metadataServer struct {
	*httptest.Server
	mu       sync.Mutex
	drop     int
	requests int
}

func newMetadataServer(t *testing.T, drop int) *metadataServer {
	m := &metadataServer{drop: drop}
	values := map[string]string{
		"project/project-id":                   "meta-proj",
		"instance/id":                          "4520031799277581759",
		"instance/zone":                        "projects/123456/zones/europe-west1-b",
		"instance/attributes/cluster-name":     "gke-prod",
		"instance/attributes/cluster-location": "europe-west1",
	}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.requests++
		dropNow := m.drop > 0
		if dropNow {
			m.drop--
		}
		m.mu.Unlock()
		if dropNow {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
			return
		}
		v, ok := values[strings.TrimPrefix(r.URL.Path, "/computeMetadata/v1/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Metadata-Flavor", "Google")
		fmt.Fprint(w, v)
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *metadataServer) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests
}

// TestMetadataFailsOnce: the project, cluster and location come from the
// metadata server, whose first request fails. That Send fails transiently
// with nothing dropped; the next one asks again and delivers.
func TestMetadataFailsOnce(t *testing.T) {
	meta := newMetadataServer(t, 1)
	t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(meta.URL, "http://"))
	t.Setenv("GOOGLE_CLOUD_PROJECT", "")
	srv, err := cltest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	reg := destination.NewRegistry()
	cloudlogging.Register(reg)
	cfg, err := routes.Parse([]byte(fmt.Sprintf(`destination "cloud_logging" "cl" {
  endpoint = %q
  insecure = true
}
route "all" { to = [destination.cloud_logging.cl] }
`, srv.Addr())), "routes.hcl", routes.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.Close() })
	d, m := cfg.Destinations[0].Dest, cfg.Destinations[0].Metrics

	recs := decode(t, recordtest.Chunk(recordtest.EventTime, 0, 20, time.Now()))
	b, err := send(t, d, recs)
	if err == nil || destination.IsPermanent(err) || b.Pending() != 20 {
		t.Fatalf("first send: err %v, pending %d; want a transient error and 20 pending", err, b.Pending())
	}
	if s := m.Snapshot(); s.Dropped != 0 || srv.Requests() != 0 {
		t.Fatalf("first send dropped %d and made %d requests; want 0 and 0", s.Dropped, srv.Requests())
	}
	if b, err := send(t, d, recs); err != nil || b.Pending() != 0 {
		t.Fatalf("second send: err %v, pending %d", err, b.Pending())
	}
	entries := srv.Entries()
	if len(entries) != 20 {
		t.Fatalf("server holds %d entries, want 20", len(entries))
	}
	res := entries[0].Resource
	if entries[0].LogName != "projects/meta-proj/logs/nightjar" || res.Type != "k8s_container" ||
		res.Labels["cluster_name"] != "gke-prod" || res.Labels["location"] != "europe-west1" {
		t.Errorf("entry log name %q, resource %v", entries[0].LogName, res)
	}
	// The answers are kept: no more lookups.
	n := meta.count()
	if _, err := send(t, d, recs[:1]); err != nil {
		t.Fatal(err)
	}
	if meta.count() != n {
		t.Errorf("metadata server asked %d more times after detection succeeded", meta.count()-n)
	}
}
