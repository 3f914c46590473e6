package main

import (
	"errors"
	"fmt"

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
