package ecs

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// agentTasks is a GET /v1/tasks answer in the shape the ECS documentation
// shows: two tasks of different services on one instance, one of them
// stopped, and the agent's own container is not listed.
const agentTasks = `{
  "Tasks": [
    {
      "Arn": "arn:aws:ecs:eu-west-1:210987654321:task/payments-prod/0a1b2c3d4e5f60718293a4b5c6d7e8f9",
      "DesiredStatus": "RUNNING",
      "KnownStatus": "RUNNING",
      "Family": "payments-api",
      "Version": "42",
      "Containers": [
        {"DockerId": "` + webID + `", "DockerName": "ecs-payments-api-42-api-e4b2a0", "Name": "api"},
        {"DockerId": "` + routerID + `", "DockerName": "ecs-payments-api-42-log-router-c8d6", "Name": "log_router"}
      ]
    },
    {
      "Arn": "arn:aws:ecs:eu-west-1:210987654321:task/payments-prod/ffeeddccbbaa99887766554433221100",
      "DesiredStatus": "STOPPED",
      "KnownStatus": "STOPPED",
      "Family": "nightly-report",
      "Version": "7",
      "Containers": [
        {"DockerId": "` + lateID + `", "DockerName": "ecs-nightly-report-7-report-a1b2", "Name": "report"}
      ]
    }
  ]
}`

const agentMetadata = `{"Cluster": "payments-prod", "ContainerInstanceArn": "arn:aws:ecs:eu-west-1:210987654321:container-instance/payments-prod/1f2e3d4c", "Version": "Amazon ECS Agent - v1.89.0 (ab12cd34)"}`

func agentServer(t *testing.T, tasks *atomic.Value, fetches *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/metadata":
			w.Write([]byte(agentMetadata))
		case "/v1/tasks":
			fetches.Add(1)
			w.Write([]byte(tasks.Load().(string)))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAgentEnrichesContainersOfEveryTask(t *testing.T) {
	var tasks atomic.Value
	tasks.Store(agentTasks)
	var fetches atomic.Int64
	srv := agentServer(t, &tasks, &fetches)
	now := time.Unix(1_800_000_000, 0)
	a, err := NewAgent(AgentConfig{URI: srv.URL, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		id, name, family, task string
	}{
		{webID, "api", "payments-api", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"},
		{routerID, "log_router", "payments-api", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"},
		{lateID, "report", "nightly-report", "ffeeddccbbaa99887766554433221100"},
	} {
		ctr := &event.Container{ID: c.id[:12], FullID: c.id, Runtime: container.RuntimeDocker}
		if err := a.Enrich(ctx, ctr); err != nil {
			t.Fatalf("Enrich(%s): %v", c.name, err)
		}
		if ctr.Name != c.name || ctr.ECSFamily != c.family || ctr.ECSCluster != "payments-prod" ||
			!strings.HasSuffix(ctr.ECSTaskARN, "/"+c.task) {
			t.Errorf("%s: %+v", c.name, ctr)
		}
	}
	if got := fetches.Load(); got != 1 {
		t.Errorf("task list fetched %d times for three containers, want 1", got)
	}

	// A container not listed yet: refetched only after MinRefresh.
	newID := strings.Repeat("4d", 32)
	unknown := &event.Container{ID: newID[:12], FullID: newID, Runtime: container.RuntimeDocker}
	if err := a.Enrich(ctx, unknown); !errors.Is(err, container.ErrNotFound) {
		t.Errorf("unlisted container: %v, want ErrNotFound", err)
	}
	tasks.Store(strings.Replace(agentTasks, lateID, newID, 1))
	if err := a.Enrich(ctx, unknown); !errors.Is(err, container.ErrNotFound) || fetches.Load() != 1 {
		t.Errorf("within MinRefresh: %v after %d fetches", err, fetches.Load())
	}
	now = now.Add(6 * time.Second)
	if err := a.Enrich(ctx, unknown); err != nil || unknown.Name != "report" || fetches.Load() != 2 {
		t.Errorf("after MinRefresh: %v, %+v, %d fetches", err, unknown, fetches.Load())
	}

	// Another runtime's container is not asked about; one the task
	// metadata endpoint already described keeps its fields.
	k8s := &event.Container{ID: webID[:12], FullID: webID, Runtime: container.RuntimeContainerd}
	if err := a.Enrich(ctx, k8s); err != nil || k8s.Name != "" {
		t.Errorf("containerd container: %v, %+v", err, k8s)
	}
	known := &event.Container{ID: webID[:12], FullID: webID, Runtime: container.RuntimeECS, ECSTaskARN: "arn:x", Name: "kept"}
	if err := a.Enrich(ctx, known); err != nil || known.Name != "kept" || known.ECSTaskARN != "arn:x" {
		t.Errorf("already described: %v, %+v", err, known)
	}
	if s := a.Stats(); s.Enriched != 4 || s.NotFound != 2 || s.RateLimited != 2 || s.FetchErrors != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestAgentReportsBadAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"not json":      `<html>`,
		"wrong type":    `{"Tasks": {"Arn": 1}}`,
		"task arn gone": `{"Tasks": [{"Family": "x", "Containers": [{"DockerId": "` + webID + `"}]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			var tasks atomic.Value
			tasks.Store(body)
			var fetches atomic.Int64
			srv := agentServer(t, &tasks, &fetches)
			a, err := NewAgent(AgentConfig{URI: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			c := &event.Container{ID: webID[:12], FullID: webID, Runtime: container.RuntimeDocker}
			err = a.Enrich(context.Background(), c)
			if err == nil || errors.Is(err, container.ErrNotFound) || !strings.Contains(err.Error(), "/v1/tasks") {
				t.Errorf("Enrich = %v, want an error naming the request", err)
			}
			if a.Stats().FetchErrors != 1 {
				t.Errorf("stats %+v", a.Stats())
			}
		})
	}
	if _, err := NewAgent(AgentConfig{URI: "127.0.0.1:51678"}); err == nil {
		t.Error("NewAgent accepted a URI without scheme")
	}
}
