// Package container owns the mapping from a process's cgroup to the
// container it runs in: parsing the cgroup paths that container runtimes
// create (docker, containerd/CRI, cri-o, podman, ECS), caching the result per
// cgroup id, and the interface through which runtime metadata providers
// (Kubernetes, ECS) enrich a container.
package container

import "strings"

// HostID is Falco's container.id for processes that run on the host.
const HostID = "host"

// Runtime names, as event.Container.Runtime.
const (
	RuntimeDocker     = "docker"
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimePodman     = "podman"
	RuntimeECS        = "ecs"
)

// Info is what a cgroup path tells about a container.
type Info struct {
	// FullID is the container id as the runtime knows it (64 hex digits for
	// docker, containerd, cri-o and podman).
	FullID string
	// ID is Falco's container.id: the first 12 characters of a 64-hex id.
	// Ids of other shapes (ECS on Fargate: "<task id>-<number>") are kept
	// whole, because their first 12 characters are shared by every
	// container of a task.
	ID      string
	Runtime string
	// PodUID is the Kubernetes pod uid (with dashes) when the path has one.
	PodUID string
}

// ParseCgroupPath returns the full container id and the runtime named by a
// cgroup path, or ok false when the path belongs to no container (a host
// process). Falco's container.id is the first 12 characters of id; see
// ParseCgroup for the short id and the pod uid.
func ParseCgroupPath(path string) (id string, runtime string, ok bool) {
	info, ok := ParseCgroup(path)
	return info.FullID, info.Runtime, ok
}

// ParseCgroup parses a cgroup path (the third field of a /proc/<pid>/cgroup
// line). It recognises:
//
//	/docker/<id>                                    docker, cgroupfs driver
//	/system.slice/docker-<id>.scope                 docker, systemd driver
//	/kubepods/besteffort/pod<uid>/<id>              containerd (CRI), cgroupfs
//	/kubepods.slice/.../kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope
//	/kubepods/.../pod<uid>/crio-<id>, crio-<id>.scope        cri-o
//	/machine.slice/libpod-<id>.scope, /libpod_parent/libpod-<id>  podman
//	/ecs/<task id>/<id>, /ecs/<cluster>/<task id>/<id>       ECS
//
// where <id> is 64 hex digits (ECS on Fargate: <32 hex>-<digits>). The
// deepest component that names a container wins, so nested cgroups a
// container creates below its own (".../libpod-<id>.scope/container") still
// map to it. Conmon's scopes ("crio-conmon-<id>.scope") are not containers.
func ParseCgroup(path string) (Info, bool) {
	var info Info
	rest := path
	for rest != "" {
		i := strings.LastIndexByte(rest, '/')
		comp := rest[i+1:]
		parent := ""
		if i >= 0 {
			parent = rest[:i]
		}
		if id, rt, ok := parseComponent(comp, parent); ok {
			info.FullID = id
			info.Runtime = rt
			info.ID = shortID(id)
			info.PodUID = podUID(parent)
			return info, true
		}
		if i < 0 {
			break
		}
		rest = parent
	}
	return Info{}, false
}

// parseComponent decides whether one path component names a container;
// parent (the path above it) gives the runtime of bare ids.
func parseComponent(comp, parent string) (id, runtime string, ok bool) {
	name := strings.TrimSuffix(comp, ".scope")
	for _, p := range []struct{ prefix, runtime string }{
		{"docker-", RuntimeDocker},
		{"cri-containerd-", RuntimeContainerd},
		{"crio-", RuntimeCRIO},
		{"libpod-", RuntimePodman},
	} {
		if s, found := strings.CutPrefix(name, p.prefix); found {
			if isHex(s, 64) {
				return s, p.runtime, true
			}
			return "", "", false
		}
	}
	if comp != name {
		return "", "", false // some other systemd scope
	}
	inECS := strings.HasPrefix(parent, "/ecs/") || strings.HasPrefix(parent+"/", "ecs/")
	if isHex(comp, 64) {
		switch {
		case inECS:
			return comp, RuntimeECS, true
		case hasComponent(parent, "docker"):
			return comp, RuntimeDocker, true
		case hasComponent(parent, "libpod_parent"):
			return comp, RuntimePodman, true
		default:
			// Kubelet with the cgroupfs driver and containerd's own
			// namespaces put bare ids under their parent.
			return comp, RuntimeContainerd, true
		}
	}
	if inECS && isFargateID(comp) {
		return comp, RuntimeECS, true
	}
	return "", "", false
}

// isFargateID reports whether s has the shape of an ECS Fargate container
// id: a 32-hex task id, a dash, and a decimal number.
func isFargateID(s string) bool {
	task, num, found := strings.Cut(s, "-")
	if !found || !isHex(task, 32) || num == "" {
		return false
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return false
		}
	}
	return true
}

// podUID finds the Kubernetes pod uid in the components above a container:
// "pod<uid>" (cgroupfs driver) or "kubepods-<qos>-pod<uid>.slice" (systemd
// driver, where the uid's dashes are written as underscores).
func podUID(parent string) string {
	if !strings.Contains(parent, "kubepods") {
		return ""
	}
	for parent != "" {
		i := strings.LastIndexByte(parent, '/')
		comp := parent[i+1:]
		if s, ok := strings.CutSuffix(comp, ".slice"); ok {
			if j := strings.LastIndex(s, "-pod"); j >= 0 {
				if uid := strings.ReplaceAll(s[j+4:], "_", "-"); isUID(uid) {
					return uid
				}
			}
		} else if s, ok := strings.CutPrefix(comp, "pod"); ok && isUID(s) {
			return s
		}
		if i < 0 {
			break
		}
		parent = parent[:i]
	}
	return ""
}

// isUID reports whether s looks like a pod uid: hex digits and dashes. Static
// pods use a 32-hex hash instead of a dashed UUID.
func isUID(s string) bool {
	if len(s) < 32 || len(s) > 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '-' && !isHexDigit(c) {
			return false
		}
	}
	return true
}

func hasComponent(path, name string) bool {
	for path != "" {
		var comp string
		comp, path, _ = strings.Cut(path, "/")
		if comp == name {
			return true
		}
	}
	return false
}

func shortID(id string) string {
	if len(id) == 64 && isHex(id, 64) {
		return id[:12]
	}
	return id
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
}
