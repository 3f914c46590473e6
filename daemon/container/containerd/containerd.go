// Package containerd is the metadata provider for containers that
// containerd runs outside Kubernetes (nerdctl, ctr, docker's moby
// namespace): it reads the container record from containerd's containers
// API and fills the container's image, privileged flag, creation time, bind
// mounts and, for nerdctl, its name.
//
// It speaks containerd's gRPC API through the generated stubs of
// github.com/containerd/containerd/api alone; containerd's client library
// would bring its content, snapshot and image machinery, none of which a
// lookup needs.
package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	namespacesapi "github.com/containerd/containerd/api/services/namespaces/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/daemon/container/imageref"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// DefaultAddress is containerd's socket at its usual place.
const DefaultAddress = "/run/containerd/containerd.sock"

// namespaceHeader is the gRPC metadata key that selects the containerd
// namespace of a request.
const namespaceHeader = "containerd-namespace"

// LabelNerdctlName is the label in which nerdctl keeps a container's name.
const LabelNerdctlName = "nerdctl/name"

// ErrNotFound is returned, wrapped, when no namespace has the container.
var ErrNotFound = fmt.Errorf("container not known to containerd: %w", container.ErrNotFound)

// Config configures a Provider.
type Config struct {
	// Address is containerd's socket: a path or a "unix://" URL;
	// DefaultAddress when empty.
	Address string
	// Namespaces are the containerd namespaces to look in, in order;
	// every namespace containerd has when empty.
	Namespaces []string
}

// Provider is a container.MetadataProvider backed by containerd's
// containers API. It is safe for concurrent use.
type Provider struct {
	addr       string
	conn       *grpc.ClientConn
	containers containersapi.ContainersClient
	namespaces namespacesapi.NamespacesClient
	fixed      []string

	mu    sync.Mutex
	stats Stats
}

// Stats counts what the Provider did.
type Stats struct {
	Lookups  uint64 // containers looked up
	Enriched uint64 // containers found and filled
	NotFound uint64 // containers no namespace has
	Errors   uint64 // lookups that failed
}

var _ container.MetadataProvider = (*Provider)(nil)

// New returns a Provider. The connection is made lazily.
func New(cfg Config) (*Provider, error) {
	addr := cfg.Address
	if addr == "" {
		addr = DefaultAddress
	}
	target := addr
	if !strings.HasPrefix(target, "unix://") {
		if !strings.HasPrefix(target, "/") {
			return nil, fmt.Errorf("containerd address %q: want an absolute socket path or a unix:// URL", addr)
		}
		target = "unix://" + target
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("containerd address %q: %w", addr, err)
	}
	return &Provider{
		addr:       addr,
		conn:       conn,
		containers: containersapi.NewContainersClient(conn),
		namespaces: namespacesapi.NewNamespacesClient(conn),
		fixed:      cfg.Namespaces,
	}, nil
}

// Close closes the connection.
func (p *Provider) Close() error { return p.conn.Close() }

// Stats returns the Provider's counters.
func (p *Provider) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Enrich looks c.FullID up in each namespace and fills c from the first
// container record found. Only containerd containers are looked up, and
// only those another provider has not already described (a Kubernetes
// container the CRI provider filled).
func (p *Provider) Enrich(ctx context.Context, c *event.Container) error {
	if c.FullID == "" || c.Runtime != container.RuntimeContainerd || c.K8sPodName != "" || c.ImageRepository != "" {
		return nil
	}
	err := p.enrich(ctx, c)
	p.mu.Lock()
	p.stats.Lookups++
	switch {
	case err == nil:
		p.stats.Enriched++
	case errors.Is(err, ErrNotFound):
		p.stats.NotFound++
	default:
		p.stats.Errors++
	}
	p.mu.Unlock()
	return err
}

func (p *Provider) enrich(ctx context.Context, c *event.Container) error {
	nss := p.fixed
	if len(nss) == 0 {
		resp, err := p.namespaces.List(ctx, &namespacesapi.ListNamespacesRequest{})
		if err != nil {
			return fmt.Errorf("containerd %s: list namespaces: %w", p.addr, err)
		}
		for _, ns := range resp.GetNamespaces() {
			nss = append(nss, ns.GetName())
		}
	}
	for _, ns := range nss {
		nctx := metadata.AppendToOutgoingContext(ctx, namespaceHeader, ns)
		resp, err := p.containers.Get(nctx, &containersapi.GetContainerRequest{ID: c.FullID})
		if status.Code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			return fmt.Errorf("containerd %s: namespace %s: container %s: %w", p.addr, ns, c.ID, err)
		}
		return fill(c, resp.GetContainer())
	}
	return fmt.Errorf("containerd %s: container %s: %w", p.addr, c.ID, ErrNotFound)
}

// fill sets c from a container record. A spec that cannot be decoded
// leaves Privileged false and is reported; the other fields are still set.
func fill(c *event.Container, rec *containersapi.Container) error {
	labels := rec.GetLabels()
	if name := labels[LabelNerdctlName]; name != "" {
		c.Name = name
	}
	c.ImageRepository, c.ImageTag = imageref.Split(rec.GetImage())
	// A Kubernetes container whose pod the CRI provider could not ask
	// still carries kubelet's labels.
	if v := labels["io.kubernetes.pod.namespace"]; v != "" {
		c.K8sNamespace = v
		c.K8sPodName = labels["io.kubernetes.pod.name"]
		if uid := labels["io.kubernetes.pod.uid"]; uid != "" {
			c.K8sPodUID = uid
		}
		if name := labels["io.kubernetes.container.name"]; name != "" {
			c.Name = name
		}
	}
	// containerd records when the container was created, not when its
	// task started; for ctr and nerdctl run the two are the same moment.
	if ts := rec.GetCreatedAt(); ts != nil {
		c.StartTS = ts.AsTime().UnixNano()
	}
	if spec := rec.GetSpec(); spec != nil && len(spec.GetValue()) > 0 {
		priv, err := Privileged(spec.GetValue())
		if err != nil {
			return fmt.Errorf("container %s: %w", c.ID, err)
		}
		c.Privileged = priv
		if c.Mounts, err = Mounts(spec.GetValue()); err != nil {
			return fmt.Errorf("container %s: %w", c.ID, err)
		}
	}
	return nil
}

// Mounts returns the bind mounts of an OCI runtime spec (JSON): the host
// directories and files a container sees, which is what Falco's
// container.mount fields describe. The file systems every container gets
// (proc, sysfs, tmpfs, devpts, ...) are left out.
func Mounts(specJSON []byte) ([]event.ContainerMount, error) {
	var s struct {
		Mounts []struct {
			Destination string   `json:"destination"`
			Type        string   `json:"type"`
			Source      string   `json:"source"`
			Options     []string `json:"options"`
		} `json:"mounts"`
	}
	if err := json.Unmarshal(specJSON, &s); err != nil {
		return nil, fmt.Errorf("decode OCI spec: %w", err)
	}
	var out []event.ContainerMount
	for _, m := range s.Mounts {
		bind := m.Type == "bind"
		rw := true
		prop := ""
		for _, o := range m.Options {
			switch o {
			case "bind", "rbind":
				bind = true
			case "ro":
				rw = false
			case "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable":
				prop = o
			}
		}
		if !bind {
			continue
		}
		out = append(out, event.ContainerMount{
			Source: m.Source, Dest: m.Destination, Mode: strings.Join(m.Options, ","), RW: rw, Propagation: prop,
		})
	}
	return out, nil
}

// ociSpec is the part of an OCI runtime spec Privileged reads.
type ociSpec struct {
	Process *struct {
		Capabilities *struct {
			Bounding []string `json:"bounding"`
		} `json:"capabilities"`
	} `json:"process"`
	Linux *struct {
		MaskedPaths []string `json:"maskedPaths"`
	} `json:"linux"`
}

// Privileged reports whether an OCI runtime spec (JSON) describes a
// privileged container. The spec has no such flag; docker, nerdctl and ctr
// implement --privileged by granting every capability and masking no
// /proc paths, so a bounding set with CAP_SYS_ADMIN and no masked paths is
// taken as privileged.
func Privileged(specJSON []byte) (bool, error) {
	var s ociSpec
	if err := json.Unmarshal(specJSON, &s); err != nil {
		return false, fmt.Errorf("decode OCI spec: %w", err)
	}
	if s.Process == nil || s.Process.Capabilities == nil {
		return false, nil
	}
	sysAdmin := false
	for _, c := range s.Process.Capabilities.Bounding {
		if c == "CAP_SYS_ADMIN" {
			sysAdmin = true
			break
		}
	}
	return sysAdmin && (s.Linux == nil || len(s.Linux.MaskedPaths) == 0), nil
}
