package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/nightjar-sec/nightjar/daemon/config"
	"github.com/nightjar-sec/nightjar/internal/testctr"
)

func TestMain(m *testing.M) { os.Exit(testctr.Main(m)) }

// TestNewResolverFromConfig configures the metadata block as a file
// would, then resolves real containers through the resolver newResolver
// builds: a Kubernetes pod (CRI), a plain containerd container, and a
// container in an ECS task's cgroup, whose task document a local server
// serves as the ECS agent would.
func TestNewResolverFromConfig(t *testing.T) {
	c := testctr.Start(t)
	pod := c.RunPod(t, testctr.PodConfig{Name: "api-0", Namespace: "shop", Labels: map[string]string{"app": "api"}})
	podCtr := pod.Start(t, testctr.ContainerConfig{Name: "api", Args: []string{"sleep", "600"}})
	plainID := testctr.NewID()
	plain := c.StartWith(t, plainID, "/"+c.Namespace+"/"+plainID,
		testctr.StartOptions{Labels: map[string]string{"nerdctl/name": "cache"}}, "sleep", "600")
	const task = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	ecsID := testctr.NewID()
	ecsCtr := c.Start(t, ecsID, "/ecs/"+task+"/"+ecsID, "sleep", "600")

	// A container of another task on the same instance: only the ECS
	// agent's introspection API knows it.
	const otherTask = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	otherID := testctr.NewID()
	otherCtr := c.Start(t, otherID, "/ecs/"+otherTask+"/"+otherID, "sleep", "600")

	taskARN := "arn:aws:ecs:us-east-1:123456789012:task/shop/" + task
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v4/abc/task":
			fmt.Fprintf(w, `{"Cluster":"shop","TaskARN":%q,"Family":"checkout","Revision":"3","Containers":[{"DockerId":%q,"Name":"checkout","Image":"checkout:1.4"}]}`, taskARN, ecsID)
		case "/v1/metadata":
			fmt.Fprint(w, `{"Cluster":"shop","ContainerInstanceArn":"arn:aws:ecs:us-east-1:123456789012:container-instance/shop/9f8e","Version":"Amazon ECS Agent - v1.89.0"}`)
		case "/v1/tasks":
			fmt.Fprintf(w, `{"Tasks":[{"Arn":%q,"DesiredStatus":"RUNNING","KnownStatus":"RUNNING","Family":"checkout","Version":"3","Containers":[{"DockerId":%q,"DockerName":"ecs-checkout-3","Name":"checkout"}]},`+
				`{"Arn":"arn:aws:ecs:us-east-1:123456789012:task/shop/%s","DesiredStatus":"RUNNING","KnownStatus":"RUNNING","Family":"mailer","Version":"8","Containers":[{"DockerId":%q,"DockerName":"ecs-mailer-8","Name":"smtp"}]}]}`,
				taskARN, ecsID, otherTask, otherID)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	src := fmt.Sprintf("metadata {\n  cri_endpoints = [%q]\n  containerd_address = %q\n  ecs_uri = %q\n  ecs_agent_uri = %q\n  timeout = \"5s\"\n  wait = \"1m\"\n}\n",
		"unix://"+c.Address, c.Address, srv.URL+"/v4/abc", srv.URL)
	t.Setenv("ECS_CONTAINER_METADATA_URI_V4", "")
	cfg, err := config.Parse([]byte(src), "nightjar.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Metadata.ECS {
		t.Fatal("ecs_uri set but the ECS provider is off")
	}
	res, closeMetadata, err := newResolver(cfg.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := closeMetadata(); err != nil {
			t.Error(err)
		}
	}()

	k8s, _, err := res.Lookup(uint32(podCtr.PID), 0)
	if err != nil || k8s == nil || k8s.K8sNamespace != "shop" || k8s.K8sPodName != "api-0" || k8s.Name != "api" || k8s.K8sPodLabels["app"] != "api" {
		t.Errorf("pod container: %+v, %v", k8s, err)
	}
	ctrd, _, err := res.Lookup(uint32(plain.PID), 0)
	if err != nil || ctrd == nil || ctrd.Name != "cache" || ctrd.ImageRepository != "nightjar.test/busybox" || ctrd.K8sNamespace != "" {
		t.Errorf("containerd container: %+v, %v", ctrd, err)
	}
	e, _, err := res.Lookup(uint32(ecsCtr.PID), 0)
	if err != nil || e == nil || e.Name != "checkout" || e.ImageRepository != "checkout" || e.ImageTag != "1.4" ||
		e.ECSTaskARN != taskARN || e.ECSCluster != "shop" || e.ECSFamily != "checkout" {
		t.Errorf("ECS container: %+v, %v", e, err)
	}
	o, _, err := res.Lookup(uint32(otherCtr.PID), 0)
	if err != nil || o == nil || o.Name != "smtp" || o.ECSFamily != "mailer" || o.ECSCluster != "shop" ||
		o.ECSTaskARN != "arn:aws:ecs:us-east-1:123456789012:task/shop/"+otherTask {
		t.Errorf("container of another ECS task: %+v, %v", o, err)
	}
}
