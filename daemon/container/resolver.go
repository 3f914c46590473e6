package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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
	// Metadata providers enrich each new container, in order, on worker
	// goroutines: a slow or hung runtime never holds up the event loop.
	Metadata []MetadataProvider
	// MetadataTimeout bounds each provider call; 2s when zero.
	MetadataTimeout time.Duration
	// MetadataWait bounds how long the lookup of a new container waits for
	// its metadata; past it the container is used without metadata, which
	// is filled in when it arrives. 100ms when zero; negative: never wait.
	// After a wait has expired, lookups do not wait again until the
	// providers have caught up, so a hung runtime costs one wait, not one
	// per container.
	MetadataWait time.Duration
	// MetadataWorkers is the number of concurrent provider calls; 4 when zero.
	MetadataWorkers int
	// MaxContainers bounds the cached containers and cgroup ids (each);
	// 8192 when zero. Beyond it arbitrary entries are evicted and counted.
	MaxContainers int
}

// Stats counts what the Resolver did.
type Stats struct {
	Hits, Misses   uint64
	Containers     uint64 // distinct containers seen
	ReadErrors     uint64 // /proc/<pid>/cgroup unreadable or malformed
	MetadataErrors uint64 // provider calls that failed
	// MetadataLate counts containers first used before their metadata
	// arrived; MetadataSkipped those never enriched because too many
	// lookups were outstanding.
	MetadataLate, MetadataSkipped uint64
	// Forgotten counts cache entries dropped because their container or
	// cgroup was gone; Evicted those dropped because MaxContainers was reached.
	Forgotten, Evicted uint64
	// ByCgroupID counts processes resolved from the kernel's cgroup id
	// because /proc no longer had them.
	ByCgroupID uint64
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
// A Resolver is not safe for concurrent use, except Stats: the process
// table calls it from its single event goroutine. Metadata is gathered on
// worker goroutines into a copy and written into the shared Container on
// the event goroutine (Lookup, Update), so readers there need no lock.
type Resolver struct {
	procRoot string
	v2Root   string
	rootID   uint64
	metadata []MetadataProvider
	timeout  time.Duration
	wait     time.Duration
	max      int
	byCgroup map[uint64]*event.Container
	byID     map[string]*event.Container

	jobs        chan *job // to the workers
	done        chan *job // from the workers; never full, see submit
	outstanding int       // jobs submitted and not yet applied
	slow        int       // of those, jobs whose wait expired
	stop        context.CancelFunc
	workers     sync.WaitGroup

	stats struct {
		hits, misses, containers, readErrors, metadataErrors atomic.Uint64
		byHandle                                             atomic.Uint64
		late, skipped, forgotten, evicted                    atomic.Uint64
	}
}

// job is one container's metadata lookup: the providers fill work, a copy
// of target, and the event goroutine copies it back into target.
type job struct {
	target  *event.Container
	work    event.Container
	errs    int
	expired bool // the lookup stopped waiting for it
}

// maxOutstanding bounds the metadata lookups in flight.
const maxOutstanding = 1024

// NewResolver returns a Resolver. It fails when the cgroup v2 mount point
// must be found and mountinfo cannot be read. Close stops its workers.
func NewResolver(cfg Config) (*Resolver, error) {
	r := &Resolver{
		procRoot: cfg.ProcRoot,
		v2Root:   cfg.CgroupV2Root,
		metadata: cfg.Metadata,
		timeout:  cfg.MetadataTimeout,
		wait:     cfg.MetadataWait,
		max:      cfg.MaxContainers,
		byCgroup: make(map[uint64]*event.Container),
		byID:     make(map[string]*event.Container),
	}
	if r.procRoot == "" {
		r.procRoot = "/proc"
	}
	if r.timeout == 0 {
		r.timeout = 2 * time.Second
	}
	if r.wait == 0 {
		r.wait = 100 * time.Millisecond
	}
	if r.max <= 0 {
		r.max = 8192
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
	if len(r.metadata) > 0 {
		n := cfg.MetadataWorkers
		if n <= 0 {
			n = 4
		}
		ctx, cancel := context.WithCancel(context.Background())
		r.stop = cancel
		r.jobs = make(chan *job, maxOutstanding)
		r.done = make(chan *job, maxOutstanding)
		for range n {
			r.workers.Add(1)
			go r.work(ctx)
		}
	}
	return r, nil
}

// Close stops the metadata workers, cancelling calls in flight.
func (r *Resolver) Close() error {
	if r.stop != nil {
		r.stop()
		r.workers.Wait()
	}
	return nil
}

// CgroupV2Root returns the cgroup v2 mount point in use, or "" when none.
func (r *Resolver) CgroupV2Root() string { return r.v2Root }

// Stats returns the Resolver's counters. It is safe for concurrent use.
func (r *Resolver) Stats() Stats {
	s := &r.stats
	return Stats{
		Hits: s.hits.Load(), Misses: s.misses.Load(), Containers: s.containers.Load(),
		ReadErrors: s.readErrors.Load(), MetadataErrors: s.metadataErrors.Load(),
		MetadataLate: s.late.Load(), MetadataSkipped: s.skipped.Load(),
		Forgotten: s.forgotten.Load(), Evicted: s.evicted.Load(), ByCgroupID: s.byHandle.Load(),
	}
}

// Lookup returns the container of process pid, whose cgroup id the kernel
// reported as cgroupID, or nil for a host process. A cgroupID of 0 means
// unknown: it is computed from /proc/<pid>/cgroup and returned as id.
// The *event.Container is shared by every process of the container and
// must not be modified; its metadata may be filled in by a later Lookup or
// Update.
func (r *Resolver) Lookup(pid uint32, cgroupID uint64) (c *event.Container, id uint64, err error) {
	r.Update()
	if cgroupID != 0 && cgroupID != r.rootID {
		if c, ok := r.byCgroup[cgroupID]; ok {
			r.stats.hits.Add(1)
			return c, cgroupID, nil
		}
	}
	r.stats.misses.Add(1)
	lines, err := ReadProcCgroup(filepath.Join(r.procRoot, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		// A short-lived process (sh -c in a container) may be gone
		// before its first event is handled: ask the cgroup file system
		// for the path of the id the kernel reported instead.
		if path, perr := r.cgroupPath(cgroupID); perr == nil {
			c = r.fromLines([]CgroupLine{{Hierarchy: 0, Path: path}})
			r.stats.byHandle.Add(1)
			r.cache(cgroupID, c)
			return c, cgroupID, nil
		}
		r.stats.readErrors.Add(1)
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
	r.cache(id, c)
	return c, id, nil
}

// cache remembers the container of cgroup id.
func (r *Resolver) cache(id uint64, c *event.Container) {
	if id == 0 || id == r.rootID {
		return
	}
	if _, ok := r.byCgroup[id]; !ok && len(r.byCgroup) >= r.max {
		evictOne(r.byCgroup)
		r.stats.evicted.Add(1)
	}
	r.byCgroup[id] = c
}

// fileidKernfs is the file handle type of kernfs (cgroup v2) inodes:
// the handle is the 64-bit cgroup id.
const fileidKernfs = 0xfe

// cgroupPath returns the path below the v2 root of the cgroup whose id is
// id, by opening it through a file handle (open_by_handle_at, which needs
// CAP_DAC_READ_SEARCH) and reading the descriptor's link.
func (r *Resolver) cgroupPath(id uint64) (string, error) {
	if id == 0 || id == r.rootID || r.v2Root == "" {
		return "", errors.New("no cgroup v2 id")
	}
	root, err := unix.Open(r.v2Root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(root)
	var h [8]byte
	binary.NativeEndian.PutUint64(h[:], id)
	fd, err := unix.OpenByHandleAt(root, unix.NewFileHandle(fileidKernfs, h[:]), unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		return "", fmt.Errorf("cgroup %d: %w", id, err)
	}
	defer unix.Close(fd)
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", err
	}
	rel, ok := strings.CutPrefix(target, r.v2Root)
	if !ok || (rel != "" && rel[0] != '/') {
		return "", fmt.Errorf("cgroup %d: %s is not below %s", id, target, r.v2Root)
	}
	if rel == "" {
		rel = "/"
	}
	return rel, nil
}

// Update writes the metadata that has arrived into its containers. Lookup
// calls it; the process table also calls it per event, so that metadata
// reaches containers that see no new process. It does not block.
func (r *Resolver) Update() {
	for {
		select {
		case j := <-r.done:
			r.apply(j)
		default:
			return
		}
	}
}

func (r *Resolver) apply(j *job) {
	*j.target = j.work
	r.stats.metadataErrors.Add(uint64(j.errs))
	r.outstanding--
	if j.expired {
		r.slow--
	}
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
	if len(r.byID) >= r.max {
		evictOne(r.byID)
		r.stats.evicted.Add(1)
	}
	r.byID[info.FullID] = c
	r.stats.containers.Add(1)
	r.submit(c)
	return c
}

// submit starts the metadata lookup of c and waits for it within the
// configured bound.
func (r *Resolver) submit(c *event.Container) {
	if len(r.metadata) == 0 {
		return
	}
	if r.outstanding >= maxOutstanding {
		r.stats.skipped.Add(1)
		return
	}
	j := &job{target: c, work: *c}
	r.outstanding++
	r.jobs <- j // cannot block: at most maxOutstanding jobs exist
	if r.wait < 0 || r.slow > 0 {
		r.stats.late.Add(1)
		return
	}
	t := time.NewTimer(r.wait)
	defer t.Stop()
	for {
		select {
		case d := <-r.done:
			r.apply(d)
			if d == j {
				return
			}
		case <-t.C:
			j.expired = true
			r.slow++
			r.stats.late.Add(1)
			return
		}
	}
}

// work runs provider calls until ctx ends.
func (r *Resolver) work(ctx context.Context) {
	defer r.workers.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-r.jobs:
			for _, p := range r.metadata {
				cctx, cancel := context.WithTimeout(ctx, r.timeout)
				if err := p.Enrich(cctx, &j.work); err != nil && !errors.Is(err, ErrNotFound) {
					j.errs++
				}
				cancel()
			}
			r.done <- j // cannot block: capacity maxOutstanding
		}
	}
}

// Retain drops the cached cgroup ids and containers that are not live,
// as after the last process of a container exited, so that the caches
// follow the host's containers instead of growing. It returns how many
// entries it dropped.
func (r *Resolver) Retain(liveCgroups map[uint64]bool, liveContainers map[*event.Container]bool) int {
	n := 0
	for id, c := range r.byCgroup {
		if !liveCgroups[id] && !liveContainers[c] {
			delete(r.byCgroup, id)
			n++
		}
	}
	for full, c := range r.byID {
		if !liveContainers[c] {
			delete(r.byID, full)
			n++
		}
	}
	r.stats.forgotten.Add(uint64(n))
	return n
}

// Forget drops the cached container of cgroupID, as when the cgroup is
// removed and its id may be reused.
func (r *Resolver) Forget(cgroupID uint64) { delete(r.byCgroup, cgroupID) }

// evictOne deletes an arbitrary entry of m.
func evictOne[K comparable, V any](m map[K]V) {
	for k := range m {
		delete(m, k)
		return
	}
}

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
