// Package ecs is the Amazon ECS metadata provider: it reads the task
// metadata endpoint v4 (${ECS_CONTAINER_METADATA_URI_V4}/task) and fills a
// container's name, image, task ARN, cluster and task definition family.
//
// The endpoint describes the task the daemon itself runs in, so the
// provider knows the containers of that task: every container of a Fargate
// task when the daemon runs as one of them. Containers of other tasks are
// reported as not found; on an EC2 container instance the Agent provider
// (the container agent's introspection API) describes them.
package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/daemon/container/imageref"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// EnvURI is the environment variable in which the ECS agent gives each
// container the endpoint's base URI.
const EnvURI = "ECS_CONTAINER_METADATA_URI_V4"

// maxDocument bounds the task document read; a task has at most ten
// containers, whose metadata is a few KiB each.
const maxDocument = 4 << 20

// ErrNotFound is returned, wrapped, for a container the task document
// does not list.
var ErrNotFound = fmt.Errorf("container not in the ECS task: %w", container.ErrNotFound)

// URIFromEnv returns the endpoint's base URI from the environment, and
// whether it is set.
func URIFromEnv() (string, bool) {
	u := os.Getenv(EnvURI)
	return u, u != ""
}

// Config configures a Provider.
type Config struct {
	// URI is the endpoint's base URI, as in ECS_CONTAINER_METADATA_URI_V4;
	// the task document is at URI + "/task".
	URI string
	// Client makes the requests; http.DefaultClient when nil. Each
	// request is bounded by the context Enrich is given.
	Client *http.Client
	// MinRefresh is the shortest time between two fetches of the task
	// document: a container the cached document does not list makes the
	// provider fetch it again, at most this often. 10s when zero.
	MinRefresh time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Provider is a container.MetadataProvider backed by the ECS task metadata
// endpoint. It is safe for concurrent use.
type Provider struct {
	taskURL    string
	client     *http.Client
	minRefresh time.Duration
	now        func() time.Time

	mu        sync.Mutex
	task      *Task     // last document fetched, or nil
	fetchedAt time.Time // time of the last fetch attempt
	fetchErr  error     // error of the last fetch attempt
	stats     Stats
}

// Stats counts what the Provider did.
type Stats struct {
	Fetches     uint64 // task document requests made
	FetchErrors uint64 // requests that failed
	RateLimited uint64 // unknown containers not refetched because of MinRefresh
	NotFound    uint64 // containers the task document does not list
	Enriched    uint64 // containers filled
}

var _ container.MetadataProvider = (*Provider)(nil)

// New returns a Provider for the endpoint of cfg. It fetches nothing until
// the first container is enriched.
func New(cfg Config) (*Provider, error) {
	if err := checkURI("ecs metadata uri", cfg.URI); err != nil {
		return nil, err
	}
	p := &Provider{
		taskURL:    strings.TrimSuffix(cfg.URI, "/") + "/task",
		client:     cfg.Client,
		minRefresh: cfg.MinRefresh,
		now:        cfg.Now,
	}
	if p.client == nil {
		p.client = http.DefaultClient
	}
	if p.minRefresh == 0 {
		p.minRefresh = 10 * time.Second
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// Stats returns the Provider's counters.
func (p *Provider) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Enrich fills c from the task document when it lists c.FullID as a
// container's DockerId. Containers of runtimes ECS does not use (containerd
// and cri-o under Kubernetes, podman) are left alone.
func (p *Provider) Enrich(ctx context.Context, c *event.Container) error {
	if c.FullID == "" || (c.Runtime != container.RuntimeECS && c.Runtime != container.RuntimeDocker) {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.task != nil {
		if tc := p.task.container(c.FullID); tc != nil {
			p.fill(c, tc)
			return nil
		}
	}
	// Unknown: the task may have gained a container since the last
	// fetch, but a stream of containers from other tasks must not
	// become a stream of requests.
	if !p.fetchedAt.IsZero() && p.now().Sub(p.fetchedAt) < p.minRefresh {
		p.stats.RateLimited++
		if p.fetchErr != nil {
			return fmt.Errorf("ecs: container %s: last task metadata fetch failed: %w", c.ID, p.fetchErr)
		}
		p.stats.NotFound++
		return fmt.Errorf("ecs: container %s: %w", c.ID, ErrNotFound)
	}
	p.fetchedAt = p.now()
	task, err := p.fetch(ctx)
	p.fetchErr = err
	if err != nil {
		p.stats.FetchErrors++
		return fmt.Errorf("ecs: container %s: %w", c.ID, err)
	}
	p.task = task
	if tc := task.container(c.FullID); tc != nil {
		p.fill(c, tc)
		return nil
	}
	p.stats.NotFound++
	return fmt.Errorf("ecs: container %s: %w", c.ID, ErrNotFound)
}

func (p *Provider) fill(c *event.Container, tc *TaskContainer) {
	c.Name = tc.Name
	c.ImageRepository, c.ImageTag = imageref.Split(tc.Image)
	c.ECSTaskARN = p.task.TaskARN
	c.ECSCluster = p.task.Cluster
	c.ECSFamily = p.task.Family
	p.stats.Enriched++
}

// fetch reads and decodes the task document.
func (p *Provider) fetch(ctx context.Context) (*Task, error) {
	p.stats.Fetches++
	body, err := getDocument(ctx, p.client, p.taskURL)
	if err != nil {
		return nil, fmt.Errorf("task metadata: %w", err)
	}
	task, err := ParseTask(body)
	if err != nil {
		return nil, fmt.Errorf("task metadata: GET %s: %w", p.taskURL, err)
	}
	return task, nil
}

// getDocument GETs a JSON document of at most maxDocument bytes.
func getDocument(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %q", u, resp.Status, body)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(body) > maxDocument {
		return nil, fmt.Errorf("GET %s: document larger than %d bytes", u, maxDocument)
	}
	return body, nil
}

// checkURI accepts only absolute http(s) URIs.
func checkURI(what, uri string) error {
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, uri, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%s %q: want an http:// URL", what, uri)
	}
	return nil
}

// Task is the part of the task metadata v4 document the provider reads.
type Task struct {
	// Cluster is the cluster's ARN or short name, as the endpoint gives it.
	Cluster    string
	TaskARN    string
	Family     string
	Revision   string
	Containers []TaskContainer
}

// TaskContainer is one entry of the task document's Containers.
type TaskContainer struct {
	// DockerId is the container id: 64 hex digits on EC2, a 32-hex task
	// id, a dash and a number on Fargate.
	DockerId string
	// Name is the container's name in the task definition.
	Name  string
	Image string
}

func (t *Task) container(id string) *TaskContainer {
	for i := range t.Containers {
		if t.Containers[i].DockerId == id {
			return &t.Containers[i]
		}
	}
	return nil
}

// ParseTask decodes a task metadata v4 document. A document that is not a
// JSON object, or that lacks TaskARN, is an error naming the field.
func ParseTask(b []byte) (*Task, error) {
	var t Task
	if err := json.Unmarshal(b, &t); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("decode task document: field %s: %w", te.Field, err)
		}
		return nil, fmt.Errorf("decode task document: %w", err)
	}
	if t.TaskARN == "" {
		return nil, errors.New("decode task document: field TaskARN: missing")
	}
	for i, c := range t.Containers {
		if c.DockerId == "" {
			return nil, fmt.Errorf("decode task document: field Containers[%d].DockerId: missing", i)
		}
	}
	return &t, nil
}
