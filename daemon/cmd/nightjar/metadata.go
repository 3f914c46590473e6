package main

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nightjar-sec/nightjar/daemon/config"
	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/daemon/container/containerd"
	"github.com/nightjar-sec/nightjar/daemon/container/cri"
	"github.com/nightjar-sec/nightjar/daemon/container/ecs"
)

// newResolver returns the container resolver with the metadata providers
// the configuration enables, and a function that closes them.
func newResolver(m *config.Metadata) (*container.Resolver, func() error, error) {
	var (
		providers []container.MetadataProvider
		closers   []func() error
	)
	closeAll := func() error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c())
		}
		return errors.Join(errs...)
	}
	rc := container.Config{}
	if m != nil {
		if len(m.CRIEndpoints) > 0 {
			p, err := cri.New(cri.Config{Endpoints: m.CRIEndpoints})
			if err != nil {
				return nil, nil, fmt.Errorf("metadata: %w", err)
			}
			providers = append(providers, p)
			closers = append(closers, p.Close)
		}
		if m.ContainerdAddress != "" {
			p, err := containerd.New(containerd.Config{Address: m.ContainerdAddress})
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("metadata: %w", err)
			}
			providers = append(providers, p)
			closers = append(closers, p.Close)
		}
		if m.ECS {
			p, err := ecs.New(ecs.Config{URI: m.ECSURI})
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("metadata: %w", err)
			}
			providers = append(providers, p)
		}
		// After the task endpoint, which also knows images: the agent
		// fills the containers of the instance's other tasks.
		if m.ECSAgentURI != "" {
			p, err := ecs.NewAgent(ecs.AgentConfig{URI: m.ECSAgentURI})
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("metadata: %w", err)
			}
			providers = append(providers, p)
		}
		rc.Metadata, rc.MetadataTimeout, rc.MetadataWait = providers, m.Timeout, m.Wait
	}
	r, err := container.NewResolver(rc)
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("container resolver: %w", err)
	}
	// The workers stop before the providers they call are closed.
	closers = append([]func() error{r.Close}, closers...)
	return r, closeAll, nil
}

// registerResolverMetrics exports the container resolver's counters: what
// metadata was late, failed or skipped, and what its bounded caches let go.
func registerResolverMetrics(reg prometheus.Registerer, r *container.Resolver) error {
	for _, m := range []struct {
		name, help string
		get        func(container.Stats) uint64
	}{
		{"nightjar_container_metadata_errors_total", "Container metadata provider calls that failed.", func(s container.Stats) uint64 { return s.MetadataErrors }},
		{"nightjar_container_metadata_late_total", "New containers whose first events were matched before their metadata arrived.", func(s container.Stats) uint64 { return s.MetadataLate }},
		{"nightjar_container_metadata_skipped_total", "New containers never enriched because too many lookups were outstanding.", func(s container.Stats) uint64 { return s.MetadataSkipped }},
		{"nightjar_container_cache_evictions_total", "Cached containers and cgroup ids evicted because the cache was full.", func(s container.Stats) uint64 { return s.Evicted }},
		{"nightjar_container_cache_forgotten_total", "Cached containers and cgroup ids dropped after their last process exited.", func(s container.Stats) uint64 { return s.Forgotten }},
		{"nightjar_container_lookup_errors_total", "Processes whose container could not be told (/proc and the cgroup id both failed).", func(s container.Stats) uint64 { return s.ReadErrors }},
	} {
		get := m.get
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help}, func() float64 { return float64(get(r.Stats())) })
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}
