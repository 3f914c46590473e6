package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// DefaultAgentURI is where the ECS container agent serves its
// introspection API on an EC2 container instance (host network).
const DefaultAgentURI = "http://127.0.0.1:51678"

// AgentConfig configures an Agent.
type AgentConfig struct {
	// URI is the introspection API's base URI; the task list is at
	// URI + "/v1/tasks" and the instance's cluster at URI + "/v1/metadata".
	URI string
	// Client makes the requests; http.DefaultClient when nil.
	Client *http.Client
	// MinRefresh is the shortest time between two fetches of the task
	// list: a container the cached list does not name makes the provider
	// fetch it again, at most this often. 5s when zero.
	MinRefresh time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Agent is a container.MetadataProvider backed by the ECS container
// agent's introspection API, which lists every task on the container
// instance: unlike the task metadata endpoint (Provider), it describes the
// containers of all tasks, not only the daemon's own. It gives task ARN,
// family and container name; the cluster comes from the instance's
// metadata. It is safe for concurrent use.
type Agent struct {
	tasksURL, metaURL string
	client            *http.Client
	minRefresh        time.Duration
	now               func() time.Time

	mu        sync.Mutex
	byID      map[string]agentEntry // DockerId → entry, from the last list
	cluster   string
	fetchedAt time.Time
	fetchErr  error
	stats     Stats
}

type agentEntry struct {
	task *AgentTask
	name string
}

var _ container.MetadataProvider = (*Agent)(nil)

// NewAgent returns an Agent for cfg. It fetches nothing until the first
// container is enriched.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	if err := checkURI("ecs agent uri", cfg.URI); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(cfg.URI, "/")
	a := &Agent{
		tasksURL: base + "/v1/tasks", metaURL: base + "/v1/metadata",
		client: cfg.Client, minRefresh: cfg.MinRefresh, now: cfg.Now,
	}
	if a.client == nil {
		a.client = http.DefaultClient
	}
	if a.minRefresh == 0 {
		a.minRefresh = 5 * time.Second
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// Stats returns the Agent's counters.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Enrich fills c when the agent's task list names c.FullID. Fields an
// earlier provider filled (the task metadata endpoint gives the image too)
// are kept.
func (a *Agent) Enrich(ctx context.Context, c *event.Container) error {
	if c.FullID == "" || (c.Runtime != container.RuntimeECS && c.Runtime != container.RuntimeDocker) {
		return nil
	}
	if c.ECSTaskARN != "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.byID[c.FullID]; ok {
		a.fill(c, e)
		return nil
	}
	if !a.fetchedAt.IsZero() && a.now().Sub(a.fetchedAt) < a.minRefresh {
		a.stats.RateLimited++
		if a.fetchErr != nil {
			return fmt.Errorf("ecs agent: container %s: last task list fetch failed: %w", c.ID, a.fetchErr)
		}
		a.stats.NotFound++
		return fmt.Errorf("ecs agent: container %s: %w", c.ID, ErrNotFound)
	}
	a.fetchedAt = a.now()
	a.fetchErr = a.refresh(ctx)
	if a.fetchErr != nil {
		a.stats.FetchErrors++
		return fmt.Errorf("ecs agent: container %s: %w", c.ID, a.fetchErr)
	}
	if e, ok := a.byID[c.FullID]; ok {
		a.fill(c, e)
		return nil
	}
	a.stats.NotFound++
	return fmt.Errorf("ecs agent: container %s: %w", c.ID, ErrNotFound)
}

func (a *Agent) fill(c *event.Container, e agentEntry) {
	if c.Name == "" {
		c.Name = e.name
	}
	c.ECSTaskARN = e.task.Arn
	c.ECSFamily = e.task.Family
	if c.ECSCluster == "" {
		c.ECSCluster = a.cluster
	}
	a.stats.Enriched++
}

// refresh fetches the task list, and the cluster once.
func (a *Agent) refresh(ctx context.Context) error {
	if a.cluster == "" {
		var m struct{ Cluster string }
		if err := a.get(ctx, a.metaURL, &m); err != nil {
			return err
		}
		a.cluster = m.Cluster
	}
	var list AgentTasks
	if err := a.get(ctx, a.tasksURL, &list); err != nil {
		return err
	}
	byID := make(map[string]agentEntry)
	for i := range list.Tasks {
		t := &list.Tasks[i]
		if t.Arn == "" {
			return fmt.Errorf("GET %s: field Tasks[%d].Arn: missing", a.tasksURL, i)
		}
		for _, c := range t.Containers {
			if c.DockerId != "" {
				byID[c.DockerId] = agentEntry{task: t, name: c.Name}
			}
		}
	}
	a.byID = byID
	return nil
}

func (a *Agent) get(ctx context.Context, u string, v any) error {
	a.stats.Fetches++
	body, err := getDocument(ctx, a.client, u)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("GET %s: field %s: %w", u, te.Field, err)
		}
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// AgentTasks is the introspection API's task list (GET /v1/tasks).
type AgentTasks struct {
	Tasks []AgentTask
}

// AgentTask is one task of the list.
type AgentTask struct {
	Arn                        string
	DesiredStatus, KnownStatus string
	Family, Version            string
	Containers                 []AgentContainer
}

// AgentContainer is one container of a listed task.
type AgentContainer struct {
	DockerId   string
	DockerName string
	Name       string
}
