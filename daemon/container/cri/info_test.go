package cri

import (
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// TestFillContainer covers the shapes of verbose info the two runtimes
// give: containerd's (the CRI config under "config") and cri-o's (a
// top-level "privileged"), and an image reported by id.
func TestFillContainer(t *testing.T) {
	labels := map[string]string{LabelPodNamespace: "ns", LabelPodName: "pod", LabelPodUID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", LabelContainerName: "app"}
	for _, tt := range []struct {
		name       string
		status     *runtimeapi.ContainerStatus
		info       map[string]string
		repo, tag  string
		privileged bool
		wantErr    bool
	}{
		{
			name:   "containerd",
			status: &runtimeapi.ContainerStatus{Metadata: &runtimeapi.ContainerMetadata{Name: "app"}, Image: &runtimeapi.ImageSpec{Image: "registry.local:5000/team/app:v2"}, Labels: labels},
			info:   map[string]string{"info": `{"sandboxID":"s1","pid":42,"config":{"metadata":{"name":"app"},"image":{"image":"registry.local:5000/team/app:v2"},"linux":{"security_context":{"privileged":true}}}}`},
			repo:   "registry.local:5000/team/app", tag: "v2", privileged: true,
		},
		{
			name:   "cri-o",
			status: &runtimeapi.ContainerStatus{Metadata: &runtimeapi.ContainerMetadata{Name: "app"}, Image: &runtimeapi.ImageSpec{Image: "quay.io/team/app@sha256:00aa"}, Labels: labels},
			info:   map[string]string{"info": `{"sandboxID":"s1","pid":42,"privileged":true,"runtimeSpec":{}}`},
			repo:   "quay.io/team/app", tag: "", privileged: true,
		},
		{
			name:   "image by id, user image given",
			status: &runtimeapi.ContainerStatus{Metadata: &runtimeapi.ContainerMetadata{Name: "app"}, Image: &runtimeapi.ImageSpec{Image: "sha256:00aa", UserSpecifiedImage: "app:1"}, Labels: labels},
			repo:   "app", tag: "1",
		},
		{
			name:   "image by id, config image",
			status: &runtimeapi.ContainerStatus{Metadata: &runtimeapi.ContainerMetadata{Name: "app"}, Image: &runtimeapi.ImageSpec{Image: "sha256:00aa"}, Labels: labels},
			info:   map[string]string{"info": `{"config":{"image":{"image":"docker.io/library/nginx:1.27"}}}`},
			repo:   "docker.io/library/nginx", tag: "1.27",
		},
		{
			name:   "malformed info",
			status: &runtimeapi.ContainerStatus{Image: &runtimeapi.ImageSpec{Image: "app:1"}, Labels: labels},
			info:   map[string]string{"info": `{"sandboxID":`},
			repo:   "app", tag: "1", wantErr: true,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, err := parseInfo(tt.info)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseInfo error %v, want error %v", err, tt.wantErr)
			}
			var c event.Container
			fillContainer(&c, tt.status, info)
			if c.Name != "app" || c.ImageRepository != tt.repo || c.ImageTag != tt.tag || c.Privileged != tt.privileged ||
				c.K8sNamespace != "ns" || c.K8sPodName != "pod" || c.K8sPodUID != labels[LabelPodUID] {
				t.Errorf("filled %+v", c)
			}
		})
	}
}

// TestFillPod: the sandbox's metadata wins over the labels, and kubelet's
// own labels are not the pod's.
func TestFillPod(t *testing.T) {
	c := event.Container{K8sNamespace: "from-label"}
	fillPod(&c, &runtimeapi.PodSandboxStatus{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "web-0", Namespace: "shop", Uid: "u1"},
		Labels:   map[string]string{LabelPodName: "web-0", LabelPodNamespace: "shop", LabelPodUID: "u1", "app": "web", "pod-template-hash": "7c9"},
	})
	if c.K8sNamespace != "shop" || c.K8sPodName != "web-0" || c.K8sPodUID != "u1" ||
		len(c.K8sPodLabels) != 2 || c.K8sPodLabels["app"] != "web" || c.K8sPodLabels["pod-template-hash"] != "7c9" {
		t.Errorf("filled %+v", c)
	}
	fillPod(&c, nil)
	if c.K8sNamespace != "shop" {
		t.Errorf("nil sandbox status changed %+v", c)
	}
}
