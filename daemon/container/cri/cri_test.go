package cri

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/internal/testctr"
)

func TestMain(m *testing.M) { os.Exit(testctr.Main(m)) }

// TestEnrichContainerd runs a pod with two containers through containerd's
// CRI plugin, finds each container as the resolver would (from its
// process's cgroup path) and checks what the provider learns.
func TestEnrichContainerd(t *testing.T) {
	c := testctr.Start(t)
	pod := c.RunPod(t, testctr.PodConfig{
		Name: "web-7c9", Namespace: "payments", Privileged: true,
		Labels: map[string]string{"app": "web", "tier": "frontend"},
	})
	began := time.Now()
	vol := t.TempDir()
	web := pod.Start(t, testctr.ContainerConfig{Name: "nginx", Args: []string{"sleep", "600"}, Mounts: []*runtimeapi.Mount{
		{ContainerPath: "/data", HostPath: vol, Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_PRIVATE},
	}})
	agent := pod.Start(t, testctr.ContainerConfig{Name: "agent", Args: []string{"sleep", "600"}, Privileged: true})

	// A bogus endpoint first: the provider must go on to the next.
	p, err := New(Config{Endpoints: []string{filepath.Join(t.TempDir(), "none.sock"), "unix://" + c.Address}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	for _, tt := range []struct {
		ct         *testctr.PodContainer
		name       string
		privileged bool
		mounts     []event.ContainerMount
	}{
		{web, "nginx", false, []event.ContainerMount{{Source: vol, Dest: "/data", Mode: "ro", Propagation: "rprivate"}}},
		{agent, "agent", true, nil},
	} {
		ctr := fromCgroup(t, tt.ct.PID)
		if ctr.FullID != tt.ct.ID || ctr.K8sPodUID != pod.UID {
			t.Fatalf("cgroup of pid %d gives %+v, want id %s pod %s", tt.ct.PID, ctr, tt.ct.ID, pod.UID)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.Enrich(ctx, ctr)
		cancel()
		if err != nil {
			t.Fatalf("Enrich %s: %v", tt.name, err)
		}
		want := event.Container{
			ID: tt.ct.ID[:12], FullID: tt.ct.ID, Runtime: container.RuntimeContainerd,
			Name: tt.name, ImageRepository: "nightjar.test/busybox", ImageTag: "latest",
			Privileged: tt.privileged, K8sNamespace: "payments", K8sPodName: "web-7c9", K8sPodUID: pod.UID,
		}
		want.Mounts = tt.mounts
		if ts := time.Unix(0, ctr.StartTS); ts.Before(began.Add(-time.Second)) || ts.After(time.Now()) {
			t.Errorf("Enrich %s: start time %v, want between %v and now", tt.name, ts, began)
		}
		got := *ctr
		got.K8sPodLabels = nil
		got.StartTS = 0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Enrich %s:\n got %+v\nwant %+v", tt.name, got, want)
		}
		if len(ctr.K8sPodLabels) != 2 || ctr.K8sPodLabels["app"] != "web" || ctr.K8sPodLabels["tier"] != "frontend" {
			t.Errorf("Enrich %s: pod labels %v, want app=web tier=frontend only", tt.name, ctr.K8sPodLabels)
		}
	}

	// A container the runtime does not know.
	unknown := &event.Container{ID: "0123456789ab", FullID: strings.Repeat("0123456789abcdef", 4), Runtime: container.RuntimeContainerd}
	err = p.Enrich(context.Background(), unknown)
	if err == nil || unknown.Name != "" || unknown.K8sNamespace != "" {
		t.Errorf("Enrich(unknown) = %v, container %+v; want an error and no fields", err, unknown)
	}
	// The missing socket is named; the live one said not found.
	if err != nil && !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("Enrich(unknown) error %q does not name the unreachable endpoint", err)
	}
	p2, err := New(Config{Endpoints: []string{c.Address}})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if err := p2.Enrich(context.Background(), unknown); !errors.Is(err, ErrNotFound) {
		t.Errorf("Enrich(unknown) with one live endpoint = %v, want ErrNotFound", err)
	}
	// Runtimes without CRI are not asked.
	podman := &event.Container{ID: "0123456789ab", FullID: unknown.FullID, Runtime: container.RuntimePodman}
	if err := p2.Enrich(context.Background(), podman); err != nil || podman.Name != "" {
		t.Errorf("Enrich(podman) = %v, %+v", err, podman)
	}
}

// fromCgroup builds the Container the resolver would for process pid.
func fromCgroup(t *testing.T, pid int) *event.Container {
	t.Helper()
	path, err := container.CgroupV2Path("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	info, ok := container.ParseCgroup(path)
	if !ok {
		t.Fatalf("pid %d: cgroup %s is not a container's", pid, path)
	}
	return &event.Container{ID: info.ID, FullID: info.FullID, Runtime: info.Runtime, K8sPodUID: info.PodUID}
}

func TestNewBadEndpoint(t *testing.T) {
	_, err := New(Config{Endpoints: []string{"run/containerd.sock"}})
	if err == nil || !strings.Contains(err.Error(), "run/containerd.sock") {
		t.Errorf("New(relative endpoint) = %v", err)
	}
}
