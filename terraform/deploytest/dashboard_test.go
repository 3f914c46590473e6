package deploytest

import (
	"encoding/json"

	"cloud.google.com/go/monitoring/dashboard/apiv1/dashboardpb"
	"google.golang.org/protobuf/encoding/protojson"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var metricName = regexp.MustCompile(`\bnightjar_[a-z_]+\b`)

// exportedMetrics returns the metric names the daemon's telemetry and the
// output plugin register, read from their source.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, dir := range []string{"daemon/telemetry", "outplugin/router", "outplugin/destination", "outplugin/instance"} {
		files, err := filepath.Glob(filepath.Join(harness.repo, dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range regexp.MustCompile(`"(nightjar_[a-z_]+)"`).FindAllStringSubmatch(string(b), -1) {
				names[m[1]] = true
			}
		}
	}
	return names
}

// TestGrafanaDashboard checks that the dashboard parses and that every
// metric it queries is one the daemon or the plugin exports.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(harness.repo, "gke", "dashboards", "nightjar-grafana.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	known := exportedMetrics(t)
	if !known["nightjar_kernel_drops_total"] || !known["nightjar_output_records_sent_total"] {
		t.Fatalf("metric names not found in the daemon's and plugin's source: %v", known)
	}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			for _, m := range metricName.FindAllString(q.Expr, -1) {
				used[m] = true
				if !known[m] {
					t.Errorf("panel %q queries %s, which neither the daemon nor the plugin exports", p.Title, m)
				}
			}
		}
	}
	for _, want := range []string{"nightjar_alerts_total", "nightjar_kernel_drops_total", "nightjar_output_alerts_dropped_total", "nightjar_output_records_dropped_total", "nightjar_healthy"} {
		if !used[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
	// The Cloud Monitoring dashboard of the module queries the same names.
	tf, err := os.ReadFile(filepath.Join(harness.repo, "terraform", "modules", "gke", "dashboard.tf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metricName.FindAllString(string(tf), -1) {
		if !known[m] {
			t.Errorf("modules/gke/dashboard.tf queries %s, which neither the daemon nor the plugin exports", m)
		}
	}
}

// TestCloudMonitoringDashboard decodes the module's dashboard_json strictly
// into the Cloud Monitoring Dashboard message, as the API reads it.
func TestCloudMonitoringDashboard(t *testing.T) {
	renderGKE(t)
	var res struct {
		DashboardJSON string `json:"dashboard_json"`
	}
	renderedGKE.plan.resource(t, "module.nightjar.google_monitoring_dashboard.this[0]", &res)
	var d dashboardpb.Dashboard
	if err := (protojson.UnmarshalOptions{}).Unmarshal([]byte(res.DashboardJSON), &d); err != nil {
		t.Fatalf("dashboard_json is not a Dashboard: %v\n%s", err, res.DashboardJSON)
	}
	tiles := d.GetMosaicLayout().GetTiles()
	if len(tiles) != 6 {
		t.Fatalf("%d tiles, want 6", len(tiles))
	}
	titles := map[string]bool{}
	for _, tile := range tiles {
		titles[tile.GetWidget().GetTitle()] = true
		if tile.GetXPos()+tile.GetWidth() > d.GetMosaicLayout().GetColumns() {
			t.Errorf("tile %q overflows the %d columns", tile.GetWidget().GetTitle(), d.GetMosaicLayout().GetColumns())
		}
	}
	for _, want := range []string{"Alerts by priority", "Alerts by rule", "Top pods and containers by alerts", "Kernel event drops per node (events/s)"} {
		if !titles[want] {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal([]byte(`{"displayName":"x","mosaicLayout":{"tiles":[{"widget":{"xyChartt":{}}}]}}`), &d); err == nil {
		t.Error("strict decoding accepted an unknown widget field")
	}
}
