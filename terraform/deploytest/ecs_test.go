package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

const ecsTaskDefinition = "ecs/task-definition.json"

// taskDefinitionFile is ecs/task-definition.json: the input of
// `aws ecs register-task-definition --cli-input-json`.
type taskDefinitionFile struct {
	Family                  string            `json:"family"`
	TaskRoleArn             string            `json:"taskRoleArn"`
	ExecutionRoleArn        string            `json:"executionRoleArn"`
	NetworkMode             string            `json:"networkMode"`
	PidMode                 string            `json:"pidMode"`
	RequiresCompatibilities []string          `json:"requiresCompatibilities"`
	Volumes                 []json.RawMessage `json:"volumes"`
	ContainerDefinitions    []json.RawMessage `json:"containerDefinitions"`
}

// renderECS plans the ECS module and builds the task definition file from
// the planned aws_ecs_task_definition.
func renderECS(t *testing.T) ([]byte, map[string]string) {
	t.Helper()
	p := plan(t, "deploytest/testdata/render-ecs")
	var td struct {
		Family                  string   `json:"family"`
		NetworkMode             string   `json:"network_mode"`
		PidMode                 string   `json:"pid_mode"`
		RequiresCompatibilities []string `json:"requires_compatibilities"`
		ContainerDefinitions    string   `json:"container_definitions"`
		Volume                  []struct {
			Name     string `json:"name"`
			HostPath string `json:"host_path"`
		} `json:"volume"`
	}
	p.resource(t, "module.nightjar.aws_ecs_task_definition.this", &td)
	var queries map[string]string
	p.output(t, "queries", &queries)

	f := taskDefinitionFile{
		Family:                  td.Family,
		TaskRoleArn:             "arn:aws:iam::ACCOUNT_ID:role/nightjar-task",
		ExecutionRoleArn:        "arn:aws:iam::ACCOUNT_ID:role/nightjar-execution",
		NetworkMode:             td.NetworkMode,
		PidMode:                 td.PidMode,
		RequiresCompatibilities: td.RequiresCompatibilities,
	}
	slices.SortFunc(td.Volume, func(a, b struct {
		Name     string `json:"name"`
		HostPath string `json:"host_path"`
	}) int {
		return strings.Compare(a.Name, b.Name)
	})
	for _, v := range td.Volume {
		vol := map[string]any{"name": v.Name}
		if v.HostPath != "" {
			vol["host"] = map[string]string{"sourcePath": v.HostPath}
		}
		b, _ := json.Marshal(vol)
		f.Volumes = append(f.Volumes, b)
	}
	if err := json.Unmarshal([]byte(td.ContainerDefinitions), &f.ContainerDefinitions); err != nil {
		t.Fatalf("container_definitions: %v", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		t.Fatal(err)
	}
	// Reindent the raw messages too.
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, buf.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	return pretty.Bytes(), queries
}

var renderedECS struct {
	file    []byte
	queries map[string]string
}

func renderECSOnce(t *testing.T) {
	t.Helper()
	if renderedECS.file == nil {
		renderedECS.file, renderedECS.queries = renderECS(t)
	}
}

func TestRenderedECS(t *testing.T) {
	renderECSOnce(t)
	golden(t, ecsTaskDefinition, renderedECS.file, nil)
}

// TestECSTaskDefinition decodes ecs/task-definition.json (which the module
// registers too: TestRenderedECS) strictly into the SDK's input type, has
// the SDK validate the request, and checks what the daemon needs.
func TestECSTaskDefinition(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(harness.repo, ecsTaskDefinition))
	if err != nil {
		t.Fatal(err)
	}
	checkTaskDefinition(t, raw)
}

func TestModuleTaskDefinition(t *testing.T) {
	renderECSOnce(t)
	checkTaskDefinition(t, renderedECS.file)
}

func checkTaskDefinition(t *testing.T, raw []byte) {
	var in ecs.RegisterTaskDefinitionInput
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("decode into ecs.RegisterTaskDefinitionInput: %v", err)
	}
	sent := register(t, &in)
	if !bytes.Contains(sent, []byte(`"pidMode":"host"`)) {
		t.Errorf("the request the SDK sent lacks pidMode host: %s", sent)
	}

	if in.PidMode != types.PidModeHost {
		t.Errorf("pidMode %q, want host", in.PidMode)
	}
	for _, c := range in.RequiresCompatibilities {
		if c == types.CompatibilityFargate {
			t.Error("Fargate tasks cannot load eBPF programs")
		}
	}
	volumes := map[string]types.Volume{}
	for _, v := range in.Volumes {
		volumes[aws.ToString(v.Name)] = v
	}
	if v, ok := volumes["socket"]; !ok || v.Host != nil {
		t.Errorf("socket volume %+v: want a task volume", v)
	}
	byName := map[string]types.ContainerDefinition{}
	for _, c := range in.ContainerDefinitions {
		byName[aws.ToString(c.Name)] = c
		for _, m := range c.MountPoints {
			if _, ok := volumes[aws.ToString(m.SourceVolume)]; !ok {
				t.Errorf("container %s mounts undeclared volume %s", aws.ToString(c.Name), aws.ToString(m.SourceVolume))
			}
		}
	}
	router, daemon := byName["log_router"], byName["nightjar"]
	if router.FirelensConfiguration == nil || router.FirelensConfiguration.Type != types.FirelensConfigurationTypeFluentbit {
		t.Fatalf("log_router FireLens configuration %+v", router.FirelensConfiguration)
	}
	opts := router.FirelensConfiguration.Options
	if opts["config-file-type"] != "file" || opts["config-file-value"] != "/fluent-bit/etc/nightjar/nightjar.conf" {
		t.Errorf("FireLens options %v: want the nightjar.conf file in the image", opts)
	}
	if a, b := ecsMount(router, "socket"), ecsMount(daemon, "socket"); a == "" || a != b {
		t.Errorf("socket volume mounted at %q in the router and %q in the daemon", a, b)
	}
	if ecsMount(router, "socket") != "/var/run/nightjar" {
		t.Errorf("the socket volume is at %s; ecs/fluent-bit/nightjar.conf and ecs/nightjar.hcl use /var/run/nightjar", ecsMount(router, "socket"))
	}
	if ecsMount(daemon, "spool") != "/var/lib/nightjar/spool" || ecsMount(router, "fluent-bit-state") != "/var/lib/nightjar/fluent-bit" {
		t.Error("the spool and Fluent Bit's storage must be on host volumes")
	}
	for _, v := range []string{"btf", "cgroup", "containerd"} {
		if volumes[v].Host == nil || ecsMount(daemon, v) == "" {
			t.Errorf("the daemon lacks host volume %s", v)
		}
		for _, m := range daemon.MountPoints {
			if aws.ToString(m.SourceVolume) == v && !aws.ToBool(m.ReadOnly) {
				t.Errorf("host volume %s is writable", v)
			}
		}
	}
	if aws.ToBool(daemon.Privileged) {
		t.Error("the daemon is privileged in the default task definition")
	}
	if daemon.LinuxParameters == nil || daemon.LinuxParameters.Capabilities == nil {
		t.Fatal("the daemon has no added capabilities")
	}
	caps := slices.Clone(daemon.LinuxParameters.Capabilities.Add)
	slices.Sort(caps)
	if want := []string{"DAC_READ_SEARCH", "SYS_ADMIN", "SYS_PTRACE", "SYS_RESOURCE"}; !slices.Equal(caps, want) {
		t.Errorf("daemon capabilities %v, want %v", caps, want)
	}
	env := map[string]string{}
	for _, e := range router.Environment {
		env[aws.ToString(e.Name)] = aws.ToString(e.Value)
	}
	if env["NIGHTJAR_LOG_GROUP"] == "" || env["AWS_REGION"] == "" {
		t.Errorf("the router's environment %v lacks NIGHTJAR_LOG_GROUP or AWS_REGION, which ecs/routes.hcl reads", env)
	}
	for _, c := range in.ContainerDefinitions {
		if c.LogConfiguration == nil || c.LogConfiguration.LogDriver != types.LogDriverAwslogs {
			t.Errorf("container %s logs with %+v; its own logs go to awslogs so they never loop through the router", aws.ToString(c.Name), c.LogConfiguration)
		}
	}
}

func ecsMount(c types.ContainerDefinition, volume string) string {
	for _, m := range c.MountPoints {
		if aws.ToString(m.SourceVolume) == volume {
			return aws.ToString(m.ContainerPath)
		}
	}
	return ""
}

// register sends the input through the SDK's RegisterTaskDefinition, whose
// input validation runs before the request leaves, to a local endpoint
// that records the request body.
func register(t *testing.T, in *ecs.RegisterTaskDefinitionInput) []byte {
	t.Helper()
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprint(w, `{"taskDefinition":{"revision":1}}`)
	}))
	defer srv.Close()
	client := ecs.New(ecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	if _, err := client.RegisterTaskDefinition(context.Background(), in); err != nil {
		t.Fatalf("RegisterTaskDefinition: %v", err)
	}
	if body == nil {
		t.Fatal("the SDK sent no request")
	}
	return body
}

// TestTaskDefinitionValidation makes sure the SDK's validation does refuse
// a broken task definition, so that passing it means something.
func TestTaskDefinitionValidation(t *testing.T) {
	in := &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("nightjar"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("x"), FirelensConfiguration: &types.FirelensConfiguration{}}},
	}
	client := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:1"), Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	_, err := client.RegisterTaskDefinition(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "FirelensConfiguration.Type") {
		t.Fatalf("a FireLens configuration without a type: %v, want a validation error naming it", err)
	}
}
