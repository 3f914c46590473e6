package ecs

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/event"
)

const (
	webID     = "5c2d0e3f4a1b6c7d8e9f00112233445566778899aabbccddeeff001122334455"
	routerID  = "9e8d7c6b5a4f3e2d1c0b9a8877665544332211ffeeddccbbaa99887766554433"
	fargateID = "7d1f2a3b4c5d6e7f8091a2b3c4d5e6f7-3582601234"
	lateID    = "0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223242526272829"
	taskARN   = "arn:aws:ecs:eu-west-1:210987654321:task/payments-prod/7d1f2a3b4c5d6e7f8091a2b3c4d5e6f7"
)

// taskDocument is a task metadata v4 document in the documented shape: a
// task of an EC2 service with an application container and a FireLens log
// router, plus a container with a Fargate-style id.
const taskDocument = `{
  "Cluster": "arn:aws:ecs:eu-west-1:210987654321:cluster/payments-prod",
  "TaskARN": "` + taskARN + `",
  "Family": "payments-api",
  "Revision": "42",
  "ServiceName": "payments-api",
  "DesiredStatus": "RUNNING",
  "KnownStatus": "RUNNING",
  "Limits": {"CPU": 0.5, "Memory": 1024},
  "PullStartedAt": "2026-11-26T17:58:01.123456789Z",
  "PullStoppedAt": "2026-11-26T17:58:09.987654321Z",
  "AvailabilityZone": "eu-west-1b",
  "LaunchType": "EC2",
  "Containers": [
    {
      "DockerId": "` + webID + `",
      "Name": "api",
      "DockerName": "ecs-payments-api-42-api-b2c8e6d1f0a9c7e5d301",
      "Image": "210987654321.dkr.ecr.eu-west-1.amazonaws.com/payments/api:2026.11.3",
      "ImageID": "sha256:4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
      "Labels": {
        "com.amazonaws.ecs.cluster": "arn:aws:ecs:eu-west-1:210987654321:cluster/payments-prod",
        "com.amazonaws.ecs.container-name": "api",
        "com.amazonaws.ecs.task-arn": "` + taskARN + `",
        "com.amazonaws.ecs.task-definition-family": "payments-api",
        "com.amazonaws.ecs.task-definition-version": "42"
      },
      "DesiredStatus": "RUNNING",
      "KnownStatus": "RUNNING",
      "Limits": {"CPU": 256, "Memory": 512},
      "CreatedAt": "2026-11-26T17:58:10.5Z",
      "StartedAt": "2026-11-26T17:58:11.25Z",
      "Type": "NORMAL",
      "LogDriver": "awsfirelens",
      "ContainerARN": "arn:aws:ecs:eu-west-1:210987654321:container/payments-prod/7d1f2a3b4c5d6e7f8091a2b3c4d5e6f7/0b1f6d1e-2c3a-4b5c-9d8e-7f6a5b4c3d2e",
      "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.4.17.33"]}]
    },
    {
      "DockerId": "` + routerID + `",
      "Name": "log_router",
      "DockerName": "ecs-payments-api-42-logrouter-e4d2c0a8b6f4e2d0c801",
      "Image": "registry.internal:5000/nightjar/fluent-bit@sha256:9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b",
      "DesiredStatus": "RUNNING",
      "KnownStatus": "RUNNING",
      "Type": "NORMAL"
    },
    {
      "DockerId": "` + fargateID + `",
      "Name": "nightjar",
      "Image": "nightjar",
      "DesiredStatus": "RUNNING",
      "KnownStatus": "RUNNING",
      "Type": "NORMAL"
    }
  ]
}`

// metadataServer serves doc at /v4/<id>/task, as the ECS agent does, and
// counts requests. Other paths are 404, as the agent answers them.
type metadataServer struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	doc      string
	status   int
}

func newMetadataServer(t testing.TB, doc string) *metadataServer {
	s := &metadataServer{doc: doc, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if r.Method != http.MethodGet || r.URL.Path != "/v4/a1b2c3/task" {
			http.NotFound(w, r)
			return
		}
		s.mu.Lock()
		doc, status := s.doc, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(doc))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *metadataServer) set(doc string, status int) {
	s.mu.Lock()
	s.doc, s.status = doc, status
	s.mu.Unlock()
}

// clock is a settable Config.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestEnrich(t *testing.T) {
	srv := newMetadataServer(t, taskDocument)
	clk := &clock{t: time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)}
	p, err := New(Config{URI: srv.URL + "/v4/a1b2c3", Now: clk.now, MinRefresh: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cluster := "arn:aws:ecs:eu-west-1:210987654321:cluster/payments-prod"
	for _, tt := range []struct {
		in   event.Container
		want event.Container
	}{
		{
			event.Container{ID: webID[:12], FullID: webID, Runtime: container.RuntimeECS},
			event.Container{ID: webID[:12], FullID: webID, Runtime: container.RuntimeECS, Name: "api",
				ImageRepository: "210987654321.dkr.ecr.eu-west-1.amazonaws.com/payments/api", ImageTag: "2026.11.3",
				ECSTaskARN: taskARN, ECSCluster: cluster, ECSFamily: "payments-api"},
		},
		{
			// Docker's systemd driver names no ECS in the cgroup path.
			event.Container{ID: routerID[:12], FullID: routerID, Runtime: container.RuntimeDocker},
			event.Container{ID: routerID[:12], FullID: routerID, Runtime: container.RuntimeDocker, Name: "log_router",
				ImageRepository: "registry.internal:5000/nightjar/fluent-bit", ImageTag: "",
				ECSTaskARN: taskARN, ECSCluster: cluster, ECSFamily: "payments-api"},
		},
		{
			event.Container{ID: fargateID, FullID: fargateID, Runtime: container.RuntimeECS},
			event.Container{ID: fargateID, FullID: fargateID, Runtime: container.RuntimeECS, Name: "nightjar",
				ImageRepository: "nightjar", ImageTag: "latest",
				ECSTaskARN: taskARN, ECSCluster: cluster, ECSFamily: "payments-api"},
		},
	} {
		got := tt.in
		if err := p.Enrich(context.Background(), &got); err != nil {
			t.Fatalf("Enrich(%s): %v", tt.in.ID, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Enrich(%s):\n got %+v\nwant %+v", tt.in.ID, got, tt.want)
		}
	}
	// One fetch served all three: the document is cached.
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("%d requests for three containers of one task, want 1", n)
	}

	// A container started later is unknown to the cached document; the
	// first lookup refetches.
	late := event.Container{ID: lateID[:12], FullID: lateID, Runtime: container.RuntimeECS}
	clk.t = clk.t.Add(time.Minute)
	if err := p.Enrich(context.Background(), &late); !errors.Is(err, ErrNotFound) || late.Name != "" {
		t.Fatalf("Enrich(late) = %v, %+v; want ErrNotFound", err, late)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d requests after an unknown container, want 2", n)
	}
	// It appears in the task; within MinRefresh of the last fetch it is
	// still not fetched again.
	srv.set(strings.Replace(taskDocument, `"DockerId": "`+fargateID+`"`, `"DockerId": "`+lateID+`"`, 1), http.StatusOK)
	clk.t = clk.t.Add(29 * time.Second)
	if err := p.Enrich(context.Background(), &late); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Enrich(late) within MinRefresh = %v, want ErrNotFound", err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d requests within MinRefresh, want 2", n)
	}
	clk.t = clk.t.Add(time.Second)
	if err := p.Enrich(context.Background(), &late); err != nil || late.Name != "nightjar" || late.ECSTaskARN != taskARN {
		t.Fatalf("Enrich(late) after MinRefresh = %v, %+v", err, late)
	}
	st := p.Stats()
	if st.Fetches != 3 || st.RateLimited != 1 || st.NotFound != 2 || st.Enriched != 4 || st.FetchErrors != 0 {
		t.Errorf("Stats = %+v", st)
	}

	// Containers of runtimes ECS does not use are not looked up.
	k8s := event.Container{ID: webID[:12], FullID: webID, Runtime: container.RuntimeContainerd}
	if err := p.Enrich(context.Background(), &k8s); err != nil || k8s.Name != "" {
		t.Errorf("Enrich(containerd) = %v, %+v", err, k8s)
	}
}

func TestEnrichErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		doc    string
		status int
		path   string
		want   string
	}{
		{"404", "", http.StatusOK, "/v4/other", "404 Not Found"},
		{"500", `{"error":"agent restarting"}`, http.StatusInternalServerError, "/v4/a1b2c3", "500 Internal Server Error"},
		{"malformed", `{"TaskARN": "` + taskARN + `", "Containers": [{"DockerId": "x"`, http.StatusOK, "/v4/a1b2c3", "decode task document"},
		{"wrong type", `{"TaskARN": "` + taskARN + `", "Containers": {"DockerId": "x"}}`, http.StatusOK, "/v4/a1b2c3", "field Containers"},
		{"no task arn", `{"Cluster": "default", "Containers": []}`, http.StatusOK, "/v4/a1b2c3", "field TaskARN: missing"},
		{"no docker id", `{"TaskARN": "` + taskARN + `", "Containers": [{"Name": "api"}]}`, http.StatusOK, "/v4/a1b2c3", "Containers[0].DockerId"},
		{"not json", `<html>gateway</html>`, http.StatusOK, "/v4/a1b2c3", "decode task document"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMetadataServer(t, tt.doc)
			srv.set(tt.doc, tt.status)
			p, err := New(Config{URI: srv.URL + tt.path})
			if err != nil {
				t.Fatal(err)
			}
			c := event.Container{ID: webID[:12], FullID: webID, Runtime: container.RuntimeECS}
			err = p.Enrich(context.Background(), &c)
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrNotFound) {
				t.Errorf("Enrich = %v, want an error containing %q", err, tt.want)
			}
			if !reflect.DeepEqual(c, event.Container{ID: webID[:12], FullID: webID, Runtime: container.RuntimeECS}) {
				t.Errorf("fields set after a failed fetch: %+v", c)
			}
			// Within MinRefresh the failure is reported again, without
			// a request.
			err2 := p.Enrich(context.Background(), &c)
			if err2 == nil || !strings.Contains(err2.Error(), tt.want) || srv.requests.Load() != 1 {
				t.Errorf("second Enrich = %v after %d requests; want the same error, 1 request", err2, srv.requests.Load())
			}
			if st := p.Stats(); st.FetchErrors != 1 || st.Enriched != 0 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

// TestEnrichTimeout: an endpoint that does not answer fails the lookup
// when the caller's context ends.
func TestEnrichTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	p, err := New(Config{URI: srv.URL + "/v4/a1b2c3"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c := event.Container{ID: webID[:12], FullID: webID, Runtime: container.RuntimeECS}
	err = p.Enrich(ctx, &c)
	if !errors.Is(err, context.DeadlineExceeded) || c.Name != "" || c.ECSTaskARN != "" {
		t.Errorf("Enrich = %v, %+v; want a deadline error and no fields", err, c)
	}
}

func TestNew(t *testing.T) {
	for _, uri := range []string{"", "169.254.170.2/v4/x", "unix:///run/x", "http://"} {
		if _, err := New(Config{URI: uri}); err == nil {
			t.Errorf("New(%q) succeeded", uri)
		}
	}
	t.Setenv(EnvURI, "http://169.254.170.2/v4/a1b2c3")
	if u, ok := URIFromEnv(); !ok || u != "http://169.254.170.2/v4/a1b2c3" {
		t.Errorf("URIFromEnv = %q, %v", u, ok)
	}
	t.Setenv(EnvURI, "")
	if _, ok := URIFromEnv(); ok {
		t.Error("URIFromEnv with the variable empty: ok")
	}
}

func FuzzParseTask(f *testing.F) {
	f.Add([]byte(taskDocument))
	f.Fuzz(func(t *testing.T, b []byte) {
		task, err := ParseTask(b)
		if err == nil && task.TaskARN == "" {
			t.Fatal("task without ARN accepted")
		}
	})
}
