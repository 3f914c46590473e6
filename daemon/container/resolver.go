package container

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// ErrNotFound is what a MetadataProvider returns (possibly wrapped) for a
// container its runtime does not know: another provider's container, not a
// failure, so the Resolver does not count it as an error.
var ErrNotFound = errors.New("container not known to this provider")

// MetadataProvider adds what a container runtime or orchestrator knows
// about a container (name, image, Kubernetes pod, ECS task) to a Container
// whose ID, FullID and Runtime come from its cgroup path. The Resolver calls
// its providers in order, once per container (packages cri, containerd and
// ecs below this one).
type MetadataProvider interface {
	// Enrich fills metadata fields of c. It returns an error when the
	// runtime could not be asked; fields it cannot learn stay empty.
	Enrich(ctx context.Context, c *event.Container) error
}

// Config configures a Resolver.
type Config struct {
	// ProcRoot is where procfs is mounted; "/proc" when empty.
	ProcRoot string
	// CgroupV2Root is the mount point of the cgroup v2 hierarchy. When
	// empty it is found in <ProcRoot>/self/mountinfo; a host without a v2
	// hierarchy leaves it empty and cgroup ids are not computed.
	CgroupV2Root string
	// Metadata providers enrich each new container, in order.
	Metadata []MetadataProvider
	// MetadataTimeout bounds each provider call; 2s when zero.
	MetadataTimeout time.Duration
}

// Stats counts what the Resolver did.
type Stats struct {
	Hits, Misses   uint64
	Containers     uint64 // distinct containers seen
	ReadErrors     uint64 // /proc/<pid>/cgroup unreadable or malformed
	MetadataErrors uint64 // provider calls that failed
}

// Resolver maps processes to containers, caching per cgroup id.
//
// The cgroup id is the one the kernel reports for a task
// (bpf_get_current_cgroup_id): the inode number of the task's directory in
// the cgroup v2 hierarchy. On hosts that mount v1 controllers next to v2
// (hybrid mode, as here), a runtime may place a container in v1 cgroups
// only, leaving it in the v2 root; the v2 root's id is therefore never
// cached and processes in it are resolved from their own /proc entry.
//
// A Resolver is not safe for concurrent use; the process table calls it
// from its single event goroutine.
type Resolver struct {
	procRoot string
	v2Root   string
	rootID   uint64
	metadata []MetadataProvider
	timeout  time.Duration
	byCgroup map[uint64]*event.Container
	byID     map[string]*event.Container
	stats    Stats
}

// NewResolver returns a Resolver. It fails when the cgroup v2 mount point
// must be found and mountinfo cannot be read.
func NewResolver(cfg Config) (*Resolver, error) {
	r := &Resolver{
		procRoot: cfg.ProcRoot,
		v2Root:   cfg.CgroupV2Root,
		metadata: cfg.Metadata,
		timeout:  cfg.MetadataTimeout,
		byCgroup: make(map[uint64]*event.Container),
		byID:     make(map[string]*event.Container),
	}
	if r.procRoot == "" {
		r.procRoot = "/proc"
	}
	if r.timeout == 0 {
		r.timeout = 2 * time.Second
	}
	if r.v2Root == "" {
		root, err := FindCgroupV2Mount(filepath.Join(r.procRoot, "self", "mountinfo"))
		if err != nil {
			return nil, err
		}
		r.v2Root = root
	}
	if r.v2Root != "" {
		id, err := inode(r.v2Root)
		if err != nil {
			return nil, fmt.Errorf("cgroup v2 root: %w", err)
		}
		r.rootID = id
	}
	return r, nil
}

// CgroupV2Root returns the cgroup v2 mount point in use, or "" when none.
func (r *Resolver) CgroupV2Root() string { return r.v2Root }

// Stats returns the Resolver's counters.
func (r *Resolver) Stats() Stats { return r.stats }

// Lookup returns the container of process pid, whose cgroup id the kernel
// reported as cgroupID, or nil for a host process. A cgroupID of 0 means
// unknown: it is computed from /proc/<pid>/cgroup and returned as id.
// The *event.Container is shared by every process of the container and
// must not be modified.
func (r *Resolver) Lookup(pid uint32, cgroupID uint64) (c *event.Container, id uint64, err error) {
	if cgroupID != 0 && cgroupID != r.rootID {
		if c, ok := r.byCgroup[cgroupID]; ok {
			r.stats.Hits++
			return c, cgroupID, nil
		}
	}
	r.stats.Misses++
	lines, err := ReadProcCgroup(filepath.Join(r.procRoot, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		r.stats.ReadErrors++
		return nil, cgroupID, err
	}
	id = cgroupID
	if id == 0 {
		if v2 := v2Path(lines); v2 != "" && r.v2Root != "" {
			if id, err = inode(filepath.Join(r.v2Root, v2)); err != nil {
				// The process may have moved or exited; the container
				// can still be told from its paths.
				id = 0
			}
		}
	}
	c = r.fromLines(lines)
	if id != 0 && id != r.rootID {
		r.byCgroup[id] = c
	}
	return c, id, nil
}

// fromLines picks the container named by a process's cgroup lines,
// preferring the unified (v2) hierarchy's line.
func (r *Resolver) fromLines(lines []CgroupLine) *event.Container {
	var info Info
	found := false
	if v2 := v2Path(lines); v2 != "" {
		info, found = ParseCgroup(v2)
	}
	for i := 0; !found && i < len(lines); i++ {
		info, found = ParseCgroup(lines[i].Path)
	}
	if !found {
		return nil
	}
	if c, ok := r.byID[info.FullID]; ok {
		return c
	}
	c := &event.Container{
		ID:        info.ID,
		FullID:    info.FullID,
		Runtime:   info.Runtime,
		K8sPodUID: info.PodUID,
	}
	for _, p := range r.metadata {
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		if err := p.Enrich(ctx, c); err != nil && !errors.Is(err, ErrNotFound) {
			r.stats.MetadataErrors++
		}
		cancel()
	}
	r.byID[info.FullID] = c
	r.stats.Containers++
	return c
}

// Forget drops the cached container of cgroupID, as when the cgroup is
// removed and its id may be reused.
func (r *Resolver) Forget(cgroupID uint64) { delete(r.byCgroup, cgroupID) }

// ID returns Falco's container.id for c: its short id, or HostID for nil.
func ID(c *event.Container) string {
	if c == nil {
		return HostID
	}
	return c.ID
}

// CgroupLine is one line of /proc/<pid>/cgroup.
type CgroupLine struct {
	// Hierarchy is the hierarchy id; 0 is the unified (v2) hierarchy.
	Hierarchy int
	// Controllers are the v1 controllers bound to the hierarchy ("cpu",
	// "name=systemd"); empty for v2.
	Controllers []string
	Path        string
}

// ReadProcCgroup reads and parses a /proc/<pid>/cgroup file.
func ReadProcCgroup(name string) ([]CgroupLine, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return ParseProcCgroup(name, b)
}

// ParseProcCgroup parses the contents of a /proc/<pid>/cgroup file read
// from name, which errors name.
func ParseProcCgroup(name string, b []byte) ([]CgroupLine, error) {
	var lines []CgroupLine
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		if len(line) == 0 {
			continue
		}
		hier, rest, ok1 := bytes.Cut(line, []byte{':'})
		ctrl, path, ok2 := bytes.Cut(rest, []byte{':'})
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s: line %d: want hierarchy-id:controllers:path, got %q", name, n, line)
		}
		h, err := strconv.Atoi(string(hier))
		if err != nil || h < 0 {
			return nil, fmt.Errorf("%s: line %d: hierarchy id: invalid value %q", name, n, hier)
		}
		if len(path) == 0 || path[0] != '/' {
			return nil, fmt.Errorf("%s: line %d: path: not absolute: %q", name, n, path)
		}
		cl := CgroupLine{Hierarchy: h, Path: string(path)}
		if len(ctrl) > 0 {
			cl.Controllers = strings.Split(string(ctrl), ",")
		}
		lines = append(lines, cl)
	}
	return lines, nil
}

// v2Path returns the path of the unified hierarchy's line, or "".
func v2Path(lines []CgroupLine) string {
	for _, l := range lines {
		if l.Hierarchy == 0 && len(l.Controllers) == 0 {
			return l.Path
		}
	}
	return ""
}

// CgroupV2Path returns the unified-hierarchy path of process pid.
func CgroupV2Path(procRoot string, pid int) (string, error) {
	name := filepath.Join(procRoot, strconv.Itoa(pid), "cgroup")
	lines, err := ReadProcCgroup(name)
	if err != nil {
		return "", err
	}
	p := v2Path(lines)
	if p == "" {
		return "", fmt.Errorf("%s: no cgroup v2 line", name)
	}
	return p, nil
}

// CgroupID returns the cgroup v2 id of the cgroup at path below the v2
// mount point v2Root: the inode number of its directory.
func CgroupID(v2Root, path string) (uint64, error) {
	return inode(filepath.Join(v2Root, path))
}

// FindCgroupV2Mount returns the mount point of the cgroup2 file system
// listed in a mountinfo file, or "" when there is none.
func FindCgroupV2Mount(mountinfo string) (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) {
			return "", fmt.Errorf("%s: line %d: malformed mount entry", mountinfo, n)
		}
		if fields[sep+1] == "cgroup2" {
			return unescapeMount(fields[4]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", mountinfo, err)
	}
	return "", nil
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func inode(path string) (uint64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New(path + ": no inode number")
	}
	return st.Ino, nil
}
