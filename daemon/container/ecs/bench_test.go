package ecs

import (
	"context"
	"testing"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// BenchmarkEnrichCached measures a lookup served by the cached task
// document (every container of the task after the first).
func BenchmarkEnrichCached(b *testing.B) {
	srv := newMetadataServer(b, taskDocument)
	p, err := New(Config{URI: srv.URL + "/v4/a1b2c3"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		c := event.Container{ID: webID[:12], FullID: webID, Runtime: container.RuntimeECS}
		if err := p.Enrich(ctx, &c); err != nil || c.Name != "api" {
			b.Fatalf("Enrich = %v, %+v", err, c)
		}
	}
	if n := srv.requests.Load(); n != 1 {
		b.Fatalf("%d requests, want 1", n)
	}
}

// BenchmarkEnrichFetch measures a lookup that fetches and decodes the task
// document from a local server (the first container of the task).
func BenchmarkEnrichFetch(b *testing.B) {
	srv := newMetadataServer(b, taskDocument)
	ctx := context.Background()
	for b.Loop() {
		p, err := New(Config{URI: srv.URL + "/v4/a1b2c3"})
		if err != nil {
			b.Fatal(err)
		}
		c := event.Container{ID: webID[:12], FullID: webID, Runtime: container.RuntimeECS}
		if err := p.Enrich(ctx, &c); err != nil || c.Name != "api" {
			b.Fatalf("Enrich = %v, %+v", err, c)
		}
	}
}
