// Package cri is the Kubernetes metadata provider: it asks a container
// runtime's CRI service (containerd, cri-o) over its Unix socket about a
// container and its pod sandbox, and fills the container's name, image,
// privileged flag, start time, mounts and pod namespace, name, uid and
// labels.
package cri

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/daemon/container/imageref"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// Labels kubelet puts on every container and pod sandbox it creates.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
)

// DefaultEndpoints returns the sockets of containerd's and cri-o's CRI
// services at their usual places.
func DefaultEndpoints() []string {
	return []string{"/run/containerd/containerd.sock", "/run/crio/crio.sock"}
}

// ErrNotFound is returned, wrapped, when no endpoint knows the container.
var ErrNotFound = fmt.Errorf("container not known to any CRI endpoint: %w", container.ErrNotFound)

// Config configures a Provider.
type Config struct {
	// Endpoints are the CRI sockets to ask, in order: paths, or
	// "unix://" URLs. DefaultEndpoints when empty. A socket that does not
	// exist (yet) is not an error until a container is looked up.
	Endpoints []string
}

// Provider is a container.MetadataProvider backed by CRI runtime services.
// It is safe for concurrent use.
type Provider struct {
	endpoints []endpoint
}

type endpoint struct {
	addr   string
	conn   *grpc.ClientConn
	client runtimeapi.RuntimeServiceClient
}

var _ container.MetadataProvider = (*Provider)(nil)

// New returns a Provider for the endpoints of cfg. Connections are made
// lazily, so a runtime that starts after the daemon is found.
func New(cfg Config) (*Provider, error) {
	addrs := cfg.Endpoints
	if len(addrs) == 0 {
		addrs = DefaultEndpoints()
	}
	p := &Provider{}
	for _, a := range addrs {
		target := a
		if !strings.HasPrefix(target, "unix://") {
			if !strings.HasPrefix(target, "/") {
				p.Close()
				return nil, fmt.Errorf("cri endpoint %q: want an absolute socket path or a unix:// URL", a)
			}
			target = "unix://" + target
		}
		conn, err := grpc.NewClient(target,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			// Verbose container status carries the OCI spec, which
			// can exceed gRPC's 4 MiB default for large pods.
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("cri endpoint %q: %w", a, err)
		}
		p.endpoints = append(p.endpoints, endpoint{addr: a, conn: conn, client: runtimeapi.NewRuntimeServiceClient(conn)})
	}
	return p, nil
}

// Close closes the connections.
func (p *Provider) Close() error {
	var errs []error
	for _, e := range p.endpoints {
		if err := e.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cri endpoint %s: %w", e.addr, err))
		}
	}
	return errors.Join(errs...)
}

// Enrich asks each endpoint in turn for c.FullID and fills c from the first
// that knows it. Containers of runtimes that have no CRI service (podman,
// ECS's docker) are left alone. The error wraps ErrNotFound when every
// endpoint answered that it does not know the container, and names each
// endpoint that could not be asked otherwise.
func (p *Provider) Enrich(ctx context.Context, c *event.Container) error {
	if c.FullID == "" || c.Runtime == container.RuntimePodman || c.Runtime == container.RuntimeECS {
		return nil
	}
	var errs []error
	for _, e := range p.endpoints {
		found, err := e.enrich(ctx, c)
		if found {
			return err
		}
		if err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cri: container %s: %w", c.ID, errors.Join(errs...))
	}
	return fmt.Errorf("cri: container %s: %w", c.ID, ErrNotFound)
}

// enrich fills c from one endpoint; found reports that the endpoint knows
// the container (err then concerns its pod sandbox).
func (e *endpoint) enrich(ctx context.Context, c *event.Container) (found bool, err error) {
	resp, err := e.client.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.FullID, Verbose: true})
	if status.Code(err) == codes.NotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: container status: %w", e.addr, err)
	}
	st := resp.GetStatus()
	if st == nil {
		return false, fmt.Errorf("%s: container status: empty answer", e.addr)
	}
	info, infoErr := parseInfo(resp.GetInfo())
	fillContainer(c, st, info)

	// The sandbox knows the pod's own labels, which containers lack.
	sandboxID := info.SandboxID
	if sandboxID == "" && c.K8sPodUID != "" {
		sandboxID, err = e.findSandbox(ctx, c.K8sPodUID)
		if err != nil {
			return true, errors.Join(infoErr, err)
		}
	}
	if sandboxID == "" {
		return true, infoErr
	}
	sresp, err := e.client.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sandboxID})
	if err != nil {
		return true, errors.Join(infoErr, fmt.Errorf("%s: pod sandbox %s status: %w", e.addr, sandboxID, err))
	}
	fillPod(c, sresp.GetStatus())
	return true, infoErr
}

// findSandbox returns the id of the ready sandbox of the pod with uid.
func (e *endpoint) findSandbox(ctx context.Context, uid string) (string, error) {
	resp, err := e.client.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{LabelPodUID: uid},
	}})
	if err != nil {
		return "", fmt.Errorf("%s: list pod sandboxes: %w", e.addr, err)
	}
	id := ""
	for _, s := range resp.GetItems() {
		if s.GetMetadata().GetUid() != uid {
			continue
		}
		if s.GetState() == runtimeapi.PodSandboxState_SANDBOX_READY {
			return s.GetId(), nil
		}
		id = s.GetId()
	}
	return id, nil
}

// fillContainer sets what the container status tells: name, image,
// privileged, start time, mounts, and the pod from kubelet's labels.
func fillContainer(c *event.Container, st *runtimeapi.ContainerStatus, info verboseInfo) {
	labels := st.GetLabels()
	// Falco's container.name on Kubernetes is the container's name in
	// the pod spec.
	c.Name = st.GetMetadata().GetName()
	if c.Name == "" {
		c.Name = labels[LabelContainerName]
	}
	image := st.GetImage().GetImage()
	if repo, _ := imageref.Split(image); repo == "" {
		// An image the runtime no longer has by name is reported by
		// id; the image the container was created from is in its
		// config.
		if user := st.GetImage().GetUserSpecifiedImage(); user != "" {
			image = user
		} else if info.Config.Image.Image != "" {
			image = info.Config.Image.Image
		}
	}
	c.ImageRepository, c.ImageTag = imageref.Split(image)
	c.Privileged = info.Privileged || info.Config.Linux.SecurityContext.Privileged
	c.StartTS = st.GetStartedAt()
	c.Mounts = mounts(st.GetMounts())
	if v := labels[LabelPodNamespace]; v != "" {
		c.K8sNamespace = v
	}
	if v := labels[LabelPodName]; v != "" {
		c.K8sPodName = v
	}
	if v := labels[LabelPodUID]; v != "" {
		c.K8sPodUID = v
	}
}

// mounts converts the status's mounts (the volumes of the container's
// config) to Falco's container.mount fields. The propagation names are
// the mount(8) ones the runtime applies for each CRI mode.
func mounts(ms []*runtimeapi.Mount) []event.ContainerMount {
	if len(ms) == 0 {
		return nil
	}
	out := make([]event.ContainerMount, 0, len(ms))
	for _, m := range ms {
		cm := event.ContainerMount{Source: m.GetHostPath(), Dest: m.GetContainerPath(), RW: !m.GetReadonly(), Mode: "rw"}
		if m.GetReadonly() {
			cm.Mode = "ro"
		}
		switch m.GetPropagation() {
		case runtimeapi.MountPropagation_PROPAGATION_PRIVATE:
			cm.Propagation = "rprivate"
		case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
			cm.Propagation = "rslave"
		case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
			cm.Propagation = "rshared"
		}
		out = append(out, cm)
	}
	return out
}

// fillPod sets the pod's identity and labels from its sandbox. Kubelet's
// own io.kubernetes.pod.* labels are not the pod's and are left out.
func fillPod(c *event.Container, sb *runtimeapi.PodSandboxStatus) {
	if sb == nil {
		return
	}
	if md := sb.GetMetadata(); md != nil {
		if md.GetNamespace() != "" {
			c.K8sNamespace = md.GetNamespace()
		}
		if md.GetName() != "" {
			c.K8sPodName = md.GetName()
		}
		if md.GetUid() != "" {
			c.K8sPodUID = md.GetUid()
		}
	}
	var labels map[string]string
	for k, v := range sb.GetLabels() {
		switch k {
		case LabelPodName, LabelPodNamespace, LabelPodUID:
			continue
		}
		if labels == nil {
			labels = make(map[string]string, len(sb.GetLabels()))
		}
		labels[k] = v
	}
	c.K8sPodLabels = labels
}

// verboseInfo is the part of a verbose container status's "info" entry
// that the provider reads. containerd puts the container's CRI config there
// (config.linux.security_context.privileged), cri-o a privileged flag;
// both put the sandbox id.
type verboseInfo struct {
	SandboxID  string `json:"sandboxID"`
	Privileged bool   `json:"privileged"`
	Config     struct {
		Image struct {
			Image string `json:"image"`
		} `json:"image"`
		Linux struct {
			SecurityContext struct {
				Privileged bool `json:"privileged"`
			} `json:"security_context"`
		} `json:"linux"`
	} `json:"config"`
}

// parseInfo decodes the "info" entry of a verbose status. A runtime that
// gives none yields the zero value; one that gives a malformed one an error
// (the rest of the status is still used).
func parseInfo(m map[string]string) (verboseInfo, error) {
	var info verboseInfo
	s, ok := m["info"]
	if !ok || s == "" {
		return info, nil
	}
	if err := json.Unmarshal([]byte(s), &info); err != nil {
		return verboseInfo{}, fmt.Errorf("verbose info: %w", err)
	}
	return info, nil
}
