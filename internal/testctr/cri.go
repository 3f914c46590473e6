package testctr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PauseImageRef is the image containerd's CRI plugin runs as each pod's
// sandbox container: the busybox image sleeping, as Kubernetes' pause
// image would.
const PauseImageRef = "nightjar.test/pause:latest"

// CRINamespace is the containerd namespace the CRI plugin keeps its images
// and containers in.
const CRINamespace = "k8s.io"

// Labels kubelet puts on pod sandboxes and containers.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// criState is what the CRI side of a Containerd holds.
type criState struct {
	once   sync.Once
	err    error
	conn   *grpc.ClientConn
	client runtimeapi.RuntimeServiceClient

	mu   sync.Mutex
	pods map[string]*Pod // live sandbox id → pod
}

// CRI returns a client of the daemon's CRI runtime service (served on
// Address, as containerd serves it on its own socket), importing the
// busybox and pause images into CRINamespace on first use.
func (c *Containerd) CRI(t testing.TB) runtimeapi.RuntimeServiceClient {
	t.Helper()
	c.cri.once.Do(func() { c.cri.err = c.initCRI() })
	if c.cri.err != nil {
		t.Fatalf("testctr: CRI: %v", c.cri.err)
	}
	return c.cri.client
}

func (c *Containerd) initCRI() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, img := range []struct {
		ref string
		cmd []string
	}{
		{ImageRef, []string{"/bin/sh"}},
		// The sandbox must keep running for its pod's containers to start.
		{PauseImageRef, []string{"/bin/sleep", "2147483647"}},
	} {
		path := filepath.Join(c.Dir, "cri-"+strconv.Itoa(len(img.cmd))+".tar")
		if err := writeImageAs(path, img.ref, img.cmd); err != nil {
			return fmt.Errorf("build image %s: %w", img.ref, err)
		}
		args := []string{"--address", c.Address, "--namespace", CRINamespace, "image", "import", path}
		if out, err := c.ctrArgs(ctx, args...); err != nil {
			return fmt.Errorf("ctr -n %s image import %s: %v: %s", CRINamespace, img.ref, err, out)
		}
	}
	conn, err := grpc.NewClient("unix://"+c.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	client := runtimeapi.NewRuntimeServiceClient(conn)
	// The CRI service may start after containerd answers ctr.
	for {
		if _, err := client.Version(ctx, &runtimeapi.VersionRequest{}); err == nil {
			break
		} else if ctx.Err() != nil {
			conn.Close()
			return fmt.Errorf("CRI service on %s: %w", c.Address, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.cri.conn, c.cri.client = conn, client
	c.cri.pods = make(map[string]*Pod)
	return nil
}

// PodConfig describes a pod to run.
type PodConfig struct {
	Name, Namespace string
	// UID is the pod's uid; a random UUID when empty.
	UID    string
	Labels map[string]string
	// Privileged allows privileged containers in the pod.
	Privileged bool
}

// Pod is a pod sandbox run through the CRI plugin, as kubelet runs one:
// host network (no CNI needed), cgroup parent /kubepods/besteffort/pod<uid>
// (the cgroupfs driver), kubelet's io.kubernetes.* labels.
type Pod struct {
	ID                   string // sandbox id
	Name, Namespace, UID string
	CgroupParent         string
	c                    *Containerd
	client               runtimeapi.RuntimeServiceClient
	config               *runtimeapi.PodSandboxConfig
	mu                   sync.Mutex
	containers           []string
}

// RunPod runs a pod sandbox. It is stopped and removed, with its
// containers and cgroups, when the test ends.
func (c *Containerd) RunPod(t testing.TB, pc PodConfig) *Pod {
	t.Helper()
	client := c.CRI(t)
	if pc.UID == "" {
		u := NewID()
		pc.UID = u[:8] + "-" + u[8:12] + "-4" + u[13:16] + "-8" + u[17:20] + "-" + u[20:32]
	}
	labels := map[string]string{labelPodName: pc.Name, labelPodNamespace: pc.Namespace, labelPodUID: pc.UID}
	for k, v := range pc.Labels {
		labels[k] = v
	}
	hostNet := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: pc.Name, Namespace: pc.Namespace, Uid: pc.UID},
		Labels:   labels,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/kubepods/besteffort/pod" + pc.UID,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: hostNet,
				Privileged:       pc.Privileged,
			},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := client.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil && strings.Contains(err.Error(), "cgroup") && strings.Contains(err.Error(), "no such file or directory") {
		// Another test binary removed the shared parent (/kubepods) as
		// it cleaned up, between runc's creating it and creating the
		// pod's directory; containerd has undone the failed sandbox.
		resp, err = client.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	}
	if err != nil {
		t.Fatalf("testctr: run pod sandbox %s/%s: %v", pc.Namespace, pc.Name, err)
	}
	p := &Pod{
		ID: resp.GetPodSandboxId(), Name: pc.Name, Namespace: pc.Namespace, UID: pc.UID,
		CgroupParent: cfg.Linux.CgroupParent, c: c, client: client, config: cfg,
	}
	c.cri.mu.Lock()
	c.cri.pods[p.ID] = p
	c.cri.mu.Unlock()
	t.Cleanup(func() {
		if err := p.remove(); err != nil {
			t.Errorf("testctr: remove pod %s: %v", p.ID, err)
		}
	})
	return p
}

// PodContainer is a container started in a Pod.
type PodContainer struct {
	ID string
	// PID is the host pid of its first process.
	PID int
}

// ContainerConfig describes a container of a pod.
type ContainerConfig struct {
	Name       string
	Args       []string // command run in the busybox image
	Labels     map[string]string
	Privileged bool
	Mounts     []*runtimeapi.Mount
}

// Start creates and starts a container of the busybox image in the pod.
func (p *Pod) Start(t testing.TB, cc ContainerConfig) *PodContainer {
	t.Helper()
	labels := map[string]string{
		labelPodName: p.Name, labelPodNamespace: p.Namespace, labelPodUID: p.UID, labelContainerName: cc.Name,
	}
	for k, v := range cc.Labels {
		labels[k] = v
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: cc.Name},
		Image:    &runtimeapi.ImageSpec{Image: ImageRef},
		Command:  cc.Args,
		Labels:   labels,
		Mounts:   cc.Mounts,
		Linux: &runtimeapi.LinuxContainerConfig{
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				Privileged:       cc.Privileged,
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_CONTAINER},
			},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := p.client.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: p.ID, Config: cfg, SandboxConfig: p.config,
	})
	if err != nil {
		t.Fatalf("testctr: create container %s in pod %s: %v", cc.Name, p.Name, err)
	}
	id := resp.GetContainerId()
	p.mu.Lock()
	p.containers = append(p.containers, id)
	p.mu.Unlock()
	if _, err := p.client.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("testctr: start container %s in pod %s: %v", cc.Name, p.Name, err)
	}
	st, err := p.client.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatalf("testctr: container %s status: %v", id, err)
	}
	var info struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil || info.Pid <= 0 {
		t.Fatalf("testctr: container %s: no pid in verbose status (%v): %q", id, err, st.GetInfo()["info"])
	}
	return &PodContainer{ID: id, PID: info.Pid}
}

// remove stops and removes the pod's containers and sandbox and the
// cgroups kubelet would remove.
func (p *Pod) remove() error {
	c := p.c
	c.cri.mu.Lock()
	_, live := c.cri.pods[p.ID]
	delete(c.cri.pods, p.ID)
	c.cri.mu.Unlock()
	if !live {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var errs []error
	p.mu.Lock()
	ids := p.containers
	p.mu.Unlock()
	for _, id := range ids {
		if _, err := p.client.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
			errs = append(errs, fmt.Errorf("stop container %s: %w", id, err))
		}
		if _, err := p.client.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
			errs = append(errs, fmt.Errorf("remove container %s: %w", id, err))
		}
	}
	if _, err := p.client.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.ID}); err != nil {
		errs = append(errs, fmt.Errorf("stop pod sandbox: %w", err))
	}
	if _, err := p.client.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.ID}); err != nil {
		errs = append(errs, fmt.Errorf("remove pod sandbox: %w", err))
	}
	for _, id := range append(ids, p.ID) {
		if err := c.removeCgroups(p.CgroupParent + "/" + id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.removeCgroups(p.CgroupParent); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// closeCRI removes the pods still running and closes the CRI connection.
func (c *Containerd) closeCRI() error {
	if c.cri.client == nil {
		return nil
	}
	c.cri.mu.Lock()
	pods := make([]*Pod, 0, len(c.cri.pods))
	for _, p := range c.cri.pods {
		pods = append(pods, p)
	}
	c.cri.mu.Unlock()
	var errs []error
	for _, p := range pods {
		if err := p.remove(); err != nil {
			errs = append(errs, fmt.Errorf("remove pod %s: %w", p.ID, err))
		}
	}
	if err := c.cri.conn.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
