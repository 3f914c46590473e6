package cri

import (
	"context"
	"testing"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/internal/testctr"
)

// BenchmarkEnrich measures one container's lookup against containerd's
// CRI plugin: a verbose container status and a pod sandbox status, the
// cost a new container's first event pays.
func BenchmarkEnrich(b *testing.B) {
	c := testctr.Start(b)
	pod := c.RunPod(b, testctr.PodConfig{Name: "bench", Namespace: "bench", Labels: map[string]string{"app": "bench"}})
	ct := pod.Start(b, testctr.ContainerConfig{Name: "main", Args: []string{"sleep", "600"}})
	p, err := New(Config{Endpoints: []string{c.Address}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		ctr := event.Container{ID: ct.ID[:12], FullID: ct.ID, Runtime: container.RuntimeContainerd}
		if err := p.Enrich(ctx, &ctr); err != nil || ctr.K8sPodName != "bench" {
			b.Fatalf("Enrich = %v, %+v", err, ctr)
		}
	}
}
