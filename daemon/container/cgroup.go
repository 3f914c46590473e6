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
// line). It recognises a container only where its runtime puts it, at a
// fixed place below the hierarchy's root:
//
//	/docker/<id>                                    docker, cgroupfs driver
//	/system.slice/docker-<id>.scope                 docker, systemd driver
//	/kubepods[/<qos>]/pod<uid>/<id>                 containerd (CRI), cgroupfs
//	/kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid>.slice/cri-containerd-<id>.scope
//	    (and crio-<id>[.scope], docker-<id>.scope, docker/<id> in a pod)
//	/machine.slice/crio-<id>.scope                  cri-o outside Kubernetes
//	/machine.slice[/machine-libpod_pod_<pod>.slice]/libpod-<id>.scope   podman
//	/libpod_parent/libpod-<id>, /libpod_parent/<id>                     podman, cgroupfs
//	/ecs/<task id>/<id>, /ecs/<cluster>/<task id>/<id>                  ECS
//	/ecstasks.slice/ecstasks-<task id>.slice/docker-<id>.scope          ECS, cgroup v2
//	/<namespace>/<id>                               containerd's own namespaces
//
// where <id> is 64 hex digits (ECS on Fargate: <32 hex>-<digits>). Cgroups a
// container creates below its own (".../libpod-<id>.scope/container") map
// to it. Only root creates cgroups at these places, so a user who names a
// cgroup like a container elsewhere (in a delegated subtree such as
// /user.slice/.../user@1000.service/..., or below a container's own cgroup)
// does not make its processes that container: they stay host processes, or
// the container they really run in. Rootless containers, which live in a
// user's delegated subtree, are therefore host processes of their user.
// Conmon's scopes ("crio-conmon-<id>.scope") are not containers.
func ParseCgroup(path string) (Info, bool) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return Info{}, false
	}
	var c [5]string
	n := 0
	for n < len(c) && rest != "" {
		c[n], rest, _ = strings.Cut(rest, "/")
		n++
	}
	comp := c[:n]
	at := func(i int) string {
		if i < len(comp) {
			return comp[i]
		}
		return ""
	}
	var id, rt, pod string
	switch at(0) {
	case "docker":
		id, rt = hexOr(at(1)), RuntimeDocker
	case "system.slice":
		id, rt = scoped(at(1), "docker-"), RuntimeDocker
	case "machine.slice":
		i := 1
		if s, ok := strings.CutSuffix(at(1), ".slice"); ok && strings.HasPrefix(s, "machine-libpod_pod_") {
			i = 2
		}
		if id, rt = scoped(at(i), "libpod-"), RuntimePodman; id == "" && i == 1 {
			id, rt = scoped(at(i), "crio-"), RuntimeCRIO
		}
	case "libpod_parent":
		if id = hexOr(at(1)); id == "" {
			id = prefixed(at(1), "libpod-")
		}
		rt = RuntimePodman
	case "kubepods", "kubepods.slice":
		id, rt, pod = kubepods(comp)
	case "ecs":
		// /ecs/<task>/<id> or /ecs/<cluster>/<task>/<id>; a task id is
		// never shaped like a container id, and cgroups below the
		// container's are its own.
		for _, i := range []int{2, 3} {
			if s := at(i); isHex(s, 64) || isFargateID(s) {
				id, rt = s, RuntimeECS
				break
			}
		}
	case "ecstasks.slice":
		if strings.HasPrefix(at(1), "ecstasks-") && strings.HasSuffix(at(1), ".slice") {
			id, rt = scoped(at(2), "docker-"), RuntimeECS
		}
	case "":
	default:
		id, rt = hexOr(at(1)), RuntimeContainerd
	}
	if id == "" {
		return Info{}, false
	}
	return Info{FullID: id, ID: shortID(id), Runtime: rt, PodUID: pod}, true
}

// kubepods parses the components of a path below kubelet's root: an
// optional QoS class, the pod, then the container.
func kubepods(comp []string) (id, runtime, pod string) {
	i := 1
	if i < len(comp) {
		switch comp[i] {
		case "besteffort", "burstable", "kubepods-besteffort.slice", "kubepods-burstable.slice":
			i++
		}
	}
	if i >= len(comp) {
		return "", "", ""
	}
	if s, ok := strings.CutSuffix(comp[i], ".slice"); ok {
		if j := strings.LastIndex(s, "-pod"); j >= 0 && strings.HasPrefix(s, "kubepods-") {
			if uid := strings.ReplaceAll(s[j+4:], "_", "-"); isUID(uid) {
				pod = uid
			}
		}
	} else if s, ok := strings.CutPrefix(comp[i], "pod"); ok && isUID(s) {
		pod = s
	}
	if pod == "" || i+1 >= len(comp) {
		return "", "", ""
	}
	ctr := comp[i+1]
	switch {
	case isHex(ctr, 64):
		return ctr, RuntimeContainerd, pod
	case ctr == "docker" && i+2 < len(comp) && isHex(comp[i+2], 64):
		return comp[i+2], RuntimeDocker, pod
	}
	for _, p := range []struct{ prefix, runtime string }{
		{"cri-containerd-", RuntimeContainerd},
		{"crio-", RuntimeCRIO},
		{"docker-", RuntimeDocker},
	} {
		if id := prefixed(ctr, p.prefix); id != "" {
			return id, p.runtime, pod
		}
	}
	return "", "", ""
}

// hexOr returns s when it is a 64-hex id, else "".
func hexOr(s string) string {
	if isHex(s, 64) {
		return s
	}
	return ""
}

// scoped returns the id of a systemd scope "<prefix><id>.scope", or "".
func scoped(s, prefix string) string {
	s, ok := strings.CutSuffix(s, ".scope")
	if !ok {
		return ""
	}
	id, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return ""
	}
	return hexOr(id)
}

// prefixed returns the id of "<prefix><id>" or "<prefix><id>.scope", or "".
func prefixed(s, prefix string) string {
	s = strings.TrimSuffix(s, ".scope")
	if id, ok := strings.CutPrefix(s, prefix); ok {
		return hexOr(id)
	}
	return ""
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
