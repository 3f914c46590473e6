package deploytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const (
	gkeManifests = "gke/manifests/nightjar.yaml"
	gkeConfigDir = "gke/config"
)

// PodMonitoring mirrors the fields of Google Managed Prometheus's
// monitoring.googleapis.com/v1 PodMonitoring that strict decoding accepts.
type PodMonitoring struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     intstr.IntOrString `json:"port"`
			Scheme   string             `json:"scheme,omitempty"`
			Path     string             `json:"path,omitempty"`
			Interval string             `json:"interval,omitempty"`
			Timeout  string             `json:"timeout,omitempty"`
		} `json:"endpoints"`
		TargetLabels struct {
			Metadata []string `json:"metadata,omitempty"`
			FromPod  []struct {
				From string `json:"from"`
				To   string `json:"to,omitempty"`
			} `json:"fromPod,omitempty"`
		} `json:"targetLabels,omitempty"`
	} `json:"spec"`
}

// gkeObjects is the decoded manifest stream.
type gkeObjects struct {
	namespace  *corev1.Namespace
	quota      *corev1.ResourceQuota
	sa         *corev1.ServiceAccount
	configMaps map[string]*corev1.ConfigMap
	daemonSet  *appsv1.DaemonSet
	monitoring *PodMonitoring
}

// decodeStrict decodes one YAML document into a Kubernetes type chosen by
// its kind; unknown and duplicate fields are errors.
func decodeStrict(doc []byte, objs *gkeObjects) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		objs.namespace = &corev1.Namespace{}
		obj = objs.namespace
	case "v1 ResourceQuota":
		objs.quota = &corev1.ResourceQuota{}
		obj = objs.quota
	case "v1 ServiceAccount":
		objs.sa = &corev1.ServiceAccount{}
		obj = objs.sa
	case "v1 ConfigMap":
		cm := &corev1.ConfigMap{}
		obj = cm
		defer func() { objs.configMaps[cm.Name] = cm }()
	case "apps/v1 DaemonSet":
		objs.daemonSet = &appsv1.DaemonSet{}
		obj = objs.daemonSet
	case "monitoring.googleapis.com/v1 PodMonitoring":
		objs.monitoring = &PodMonitoring{}
		obj = objs.monitoring
	default:
		return fmt.Errorf("unexpected object %s %s", tm.APIVersion, tm.Kind)
	}
	return yaml.UnmarshalStrict(doc, obj)
}

func decodeStream(t *testing.T, stream []byte) *gkeObjects {
	t.Helper()
	objs := &gkeObjects{configMaps: map[string]*corev1.ConfigMap{}}
	for i, doc := range bytes.Split(stream, []byte("\n---\n")) {
		doc = bytes.TrimPrefix(doc, []byte("---\n"))
		if onlyComments(doc) {
			continue
		}
		if err := decodeStrict(doc, objs); err != nil {
			t.Fatalf("document %d: %v\n%s", i+1, err, doc)
		}
	}
	if objs.namespace == nil || objs.quota == nil || objs.sa == nil || objs.daemonSet == nil || objs.monitoring == nil || len(objs.configMaps) != 3 {
		t.Fatalf("manifests lack objects: namespace %v, quota %v, service account %v, DaemonSet %v, PodMonitoring %v, %d ConfigMaps",
			objs.namespace != nil, objs.quota != nil, objs.sa != nil, objs.daemonSet != nil, objs.monitoring != nil, len(objs.configMaps))
	}
	return objs
}

// renderGKE plans the GKE module with gke/'s placeholders once.
var renderedGKE struct {
	manifests map[string]json.RawMessage
	order     []string
	configs   map[string]string
	queries   map[string]string
	member    string
	plan      *planJSON
}

func renderGKE(t *testing.T) {
	t.Helper()
	if renderedGKE.manifests != nil {
		return
	}
	p := plan(t, "deploytest/testdata/render-gke")
	renderedGKE.plan = p
	p.output(t, "manifests", &renderedGKE.manifests)
	p.output(t, "manifest_order", &renderedGKE.order)
	p.output(t, "configs", &renderedGKE.configs)
	p.output(t, "queries", &renderedGKE.queries)
	p.output(t, "workload_identity_member", &renderedGKE.member)
}

// manifestStream encodes the module's objects as gke/ holds them.
func manifestStream(t *testing.T) []byte {
	t.Helper()
	byKind := map[string]json.RawMessage{}
	for _, m := range renderedGKE.manifests {
		var tm metav1.TypeMeta
		if err := json.Unmarshal(m, &tm); err != nil {
			t.Fatal(err)
		}
		byKind[tm.Kind+"/"+string(m)] = m
	}
	var buf bytes.Buffer
	buf.WriteString("# nightjar node agent for GKE Standard node pools, rendered by\n# terraform/modules/gke with placeholders: replace PROJECT_ID and the images.\n")
	for _, kind := range renderedGKE.order {
		keys := []string{}
		for k := range byKind {
			if strings.HasPrefix(k, kind+"/") {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			y, err := yaml.JSONToYAML(byKind[k])
			if err != nil {
				t.Fatal(err)
			}
			buf.WriteString("---\n")
			buf.Write(y)
			delete(byKind, k)
		}
	}
	if len(byKind) != 0 {
		t.Fatalf("manifest_order misses %d objects", len(byKind))
	}
	return buf.Bytes()
}

// TestRenderedGKE checks that gke/ holds what the module renders, so the
// plain files and the module never drift apart.
func TestRenderedGKE(t *testing.T) {
	renderGKE(t)
	golden(t, gkeManifests, manifestStream(t), nil)
	for name, text := range renderedGKE.configs {
		golden(t, filepath.Join(gkeConfigDir, name), []byte(text), nil)
	}
	const want = "principal://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/PROJECT_ID.svc.id.goog/subject/ns/nightjar/sa/nightjar"
	if renderedGKE.member != want {
		t.Errorf("Workload Identity member %q, want %q", renderedGKE.member, want)
	}
}

// TestGKEManifests decodes gke/'s manifests strictly and checks how their
// parts fit together.
func TestGKEManifests(t *testing.T) {
	stream, err := os.ReadFile(filepath.Join(harness.repo, gkeManifests))
	if err != nil {
		t.Fatal(err)
	}
	checkGKE(t, decodeStream(t, stream))
}

// TestModuleManifests decodes the module's own rendering strictly, and the
// DaemonSet of the privileged fallback.
func TestModuleManifests(t *testing.T) {
	renderGKE(t)
	checkGKE(t, decodeStream(t, manifestStream(t)))

	var raw json.RawMessage
	renderedGKE.plan.output(t, "privileged_daemonset", &raw)
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(raw, &ds); err != nil {
		t.Fatalf("privileged DaemonSet: %v", err)
	}
	sc := ds.Spec.Template.Spec.Containers[0].SecurityContext
	if sc == nil || sc.Privileged == nil || !*sc.Privileged || sc.Capabilities != nil {
		t.Errorf("privileged fallback security context %+v", sc)
	}
}

func checkGKE(t *testing.T, o *gkeObjects) {
	ns := o.namespace.Name
	ds := o.daemonSet
	pod := ds.Spec.Template.Spec
	for _, m := range []metav1.ObjectMeta{o.quota.ObjectMeta, o.sa.ObjectMeta, ds.ObjectMeta, o.monitoring.ObjectMeta} {
		if m.Namespace != ns {
			t.Errorf("%s is in namespace %q, want %q", m.Name, m.Namespace, ns)
		}
	}
	if !pod.HostPID {
		t.Error("hostPID is off")
	}
	if pod.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName %q", pod.PriorityClassName)
	}
	if len(pod.Tolerations) != 1 || pod.Tolerations[0].Operator != corev1.TolerationOpExists || pod.Tolerations[0].Key != "" {
		t.Errorf("tolerations %+v do not tolerate every taint", pod.Tolerations)
	}
	if pod.ServiceAccountName != o.sa.Name {
		t.Errorf("pod runs as %q, the service account is %q", pod.ServiceAccountName, o.sa.Name)
	}
	// GKE admits system-node-critical pods outside kube-system only with a
	// quota scoped to that class.
	scope := o.quota.Spec.ScopeSelector
	if scope == nil || len(scope.MatchExpressions) != 1 || scope.MatchExpressions[0].ScopeName != corev1.ResourceQuotaScopePriorityClass ||
		!slices.Contains(scope.MatchExpressions[0].Values, "system-node-critical") {
		t.Errorf("resource quota scope %+v does not admit system-node-critical", scope)
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("DaemonSet selector %v does not match its pods' labels %v", ds.Spec.Selector, ds.Spec.Template.Labels)
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	containers := map[string]corev1.Container{}
	for _, c := range pod.Containers {
		containers[c.Name] = c
		for _, m := range c.VolumeMounts {
			v, ok := volumes[m.Name]
			if !ok {
				t.Errorf("container %s mounts undeclared volume %s", c.Name, m.Name)
				continue
			}
			if v.ConfigMap != nil {
				cm, ok := o.configMaps[v.ConfigMap.Name]
				if !ok {
					t.Errorf("volume %s names ConfigMap %s, which the manifests lack", v.Name, v.ConfigMap.Name)
				} else if _, ok := cm.Data[m.SubPath]; m.SubPath != "" && !ok {
					t.Errorf("container %s mounts key %s of ConfigMap %s, which it lacks", c.Name, m.SubPath, cm.Name)
				}
				if !m.ReadOnly {
					t.Errorf("container %s mounts configuration %s writable", c.Name, m.Name)
				}
			}
			if v.HostPath != nil && v.Name != "state" && !m.ReadOnly {
				t.Errorf("container %s mounts host path %s writable", c.Name, v.HostPath.Path)
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("container %s lacks CPU and memory requests or a memory limit: %+v", c.Name, c.Resources)
		}
	}
	daemon, fb := containers["nightjar"], containers["fluent-bit"]
	if len(containers) != 2 || daemon.Name == "" || fb.Name == "" {
		t.Fatalf("want containers nightjar and fluent-bit, have %v", slices.Collect(mapsKeys(containers)))
	}
	socket := volumes["socket"]
	if socket.EmptyDir == nil {
		t.Errorf("socket volume %+v is not an emptyDir", socket)
	}
	if a, b := mountPath(daemon, "socket"), mountPath(fb, "socket"); a == "" || a != b {
		t.Errorf("socket volume mounted at %q in the daemon and %q in Fluent Bit", a, b)
	}
	for _, want := range []struct{ volume, host string }{{"btf", "/sys/kernel/btf"}, {"cgroup", "/sys/fs/cgroup"}, {"containerd", "/run/containerd/containerd.sock"}} {
		v := volumes[want.volume]
		if v.HostPath == nil || v.HostPath.Path != want.host || mountPath(daemon, want.volume) == "" {
			t.Errorf("the daemon lacks the read-only host mount of %s", want.host)
		}
	}

	sc := daemon.SecurityContext
	if sc == nil || (sc.Privileged != nil && *sc.Privileged) {
		t.Fatal("the daemon is privileged in the default manifests")
	}
	caps := []string{}
	for _, c := range sc.Capabilities.Add {
		caps = append(caps, string(c))
	}
	slices.Sort(caps)
	if want := []string{"BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_PTRACE", "SYS_RESOURCE"}; !slices.Equal(caps, want) {
		t.Errorf("daemon capabilities %v, want %v", caps, want)
	}
	if len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("daemon drops %v, want ALL", sc.Capabilities.Drop)
	}
	if sc.AppArmorProfile == nil || sc.AppArmorProfile.Type != corev1.AppArmorProfileTypeUnconfined {
		t.Errorf("daemon AppArmor profile %+v, want Unconfined", sc.AppArmorProfile)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("daemon allows privilege escalation")
	}

	// Liveness on /healthz of the port the daemon's metrics listen on.
	probe := daemon.LivenessProbe
	if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != "/healthz" {
		t.Fatalf("daemon liveness probe %+v, want GET /healthz", probe)
	}
	port := containerPort(daemon, probe.HTTPGet.Port)
	cfg := loadDaemonConfig(t, []byte(o.configMaps["nightjar-daemon"].Data["nightjar.hcl"]), "nightjar-daemon/nightjar.hcl")
	if !strings.HasSuffix(cfg.Metrics.Listen, fmt.Sprintf(":%d", port)) || strings.HasPrefix(cfg.Metrics.Listen, "127.") {
		t.Errorf("probe and scrape port %d, the daemon listens on %q", port, cfg.Metrics.Listen)
	}
	if mountPath(daemon, "config") != "/etc/nightjar/nightjar.hcl" || !slices.Equal(daemon.Args, []string{"run", "--config", "/etc/nightjar/nightjar.hcl"}) {
		t.Errorf("daemon args %v with its configuration at %s", daemon.Args, mountPath(daemon, "config"))
	}
	envNode := false
	for _, e := range daemon.Env {
		envNode = envNode || (e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName")
	}
	if !envNode {
		t.Error("NODE_NAME is not the node name from the downward API")
	}
	// The daemon writes to the socket inside the shared volume.
	if cfg.Forward == nil || !cfg.Forward.Enabled || cfg.Forward.Network != "unix" || filepath.Dir(cfg.Forward.Target) != mountPath(daemon, "socket") {
		t.Errorf("daemon forward output %+v does not write into the shared socket volume at %s", cfg.Forward, mountPath(daemon, "socket"))
	}
	if !strings.HasPrefix(cfg.Forward.Spool.Dir, mountPath(daemon, "state")) {
		t.Errorf("spool %s is not on the host path mounted at %s", cfg.Forward.Spool.Dir, mountPath(daemon, "state"))
	}

	// Fluent Bit reads the ConfigMap's fluent-bit.conf, listens where the
	// daemon writes, and loads routes.hcl where it is mounted.
	if len(fb.Args) != 2 || fb.Args[0] != "-c" {
		t.Fatalf("fluent-bit args %v", fb.Args)
	}
	fbDir := mountPath(fb, "fluent-bit-config")
	if filepath.Dir(fb.Args[1]) != fbDir {
		t.Fatalf("fluent-bit reads %s, its ConfigMap is at %s", fb.Args[1], fbDir)
	}
	fbFiles := o.configMaps["nightjar-fluent-bit"].Data
	conf := parseFluentBit(t, "nightjar-fluent-bit/fluent-bit.conf", fbFiles[filepath.Base(fb.Args[1])], func(p string) (string, bool) {
		if filepath.Dir(p) != fbDir {
			return "", false
		}
		s, ok := fbFiles[filepath.Base(p)]
		return s, ok
	})
	checkRouter(t, conf, cfg, mountPath(fb, "routes"))
	if storage := conf.service["storage.path"]; !strings.HasPrefix(storage, mountPath(fb, "state")) {
		t.Errorf("Fluent Bit storage.path %q is not on the host path mounted at %s", storage, mountPath(fb, "state"))
	}
	if fb.LivenessProbe == nil || fb.LivenessProbe.HTTPGet == nil || fb.LivenessProbe.HTTPGet.Path != "/api/v1/health" ||
		!strings.EqualFold(conf.service["health_check"], "on") || fmt.Sprint(containerPort(fb, fb.LivenessProbe.HTTPGet.Port)) != conf.service["http_port"] {
		t.Errorf("fluent-bit liveness %+v against HTTP_Port %s, Health_Check %s", fb.LivenessProbe, conf.service["http_port"], conf.service["health_check"])
	}

	// Google Managed Prometheus scrapes named ports of these pods.
	msel, err := metav1.LabelSelectorAsSelector(&o.monitoring.Spec.Selector)
	if err != nil || !msel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("PodMonitoring selector does not match the pods")
	}
	scraped := map[int32]bool{}
	for _, e := range o.monitoring.Spec.Endpoints {
		p := int32(0)
		for _, c := range pod.Containers {
			if q := containerPort(c, e.Port); q != 0 {
				p = q
			}
		}
		if p == 0 {
			t.Errorf("PodMonitoring scrapes port %s, which no container declares", e.Port.String())
		}
		scraped[p] = true
	}
	if !scraped[port] {
		t.Error("PodMonitoring does not scrape the daemon's /metrics")
	}
	out := conf.outputs[0]
	if addr := out["metrics_listen"]; addr == "" || !scraped[portOf(t, addr)] {
		t.Errorf("the plugin's metrics_listen %q is not scraped", addr)
	}
}

func onlyComments(doc []byte) bool {
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mountPath(c corev1.Container, volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	return ""
}

func containerPort(c corev1.Container, port intstr.IntOrString) int32 {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return p.ContainerPort
		}
	}
	return 0
}
