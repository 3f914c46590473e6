// Package proctable owns the daemon's view of processes: a table from pid to
// what is known about each process (executable, arguments, cwd, users,
// terminal, start time, parent chain, container) and, per process, the file
// descriptors that later events need to interpret. It is seeded from /proc
// at start-up and kept current by the captured events.
//
// # Concurrency
//
// A Table is driven by one goroutine: Seed first, then Handle for every
// event in capture order, and Lookup, Len and Stats from that same
// goroutine. Nothing in it locks, so the per-event path costs a map lookup
// and a few comparisons.
//
// # Ownership
//
// The *event.Process values the table hands out stay valid after a process
// exits (children keep a Parent pointer to it), but the table updates them
// in place as events arrive (an exec changes Name, Exe, Args). A consumer
// that keeps data past the current event copies it. The *event.FD an event
// gets, and its Name bytes, are valid until the next call of Handle.
//
// # Which file descriptors are stored
//
//   - sockets (socket, connect, accept, bind), directories (O_DIRECTORY or
//     O_PATH opens, used as dirfd and by fchdir) and memfds: always, up to
//     Config.MaxFDs per process;
//   - regular files: up to Config.MaxFileFDs per process, so that dup,
//     fchmod, finit_module and close see their path while a process holds
//     few files open; beyond that a file is reported on its open event
//     only, and counted in Stats.FilesNotStored.
//
// Stored entries and their name buffers are recycled when a descriptor is
// closed or reused, so an open/close cycle does not allocate. Descriptors a
// process opened before the table saw it are unknown (fd.name empty).
// Close-on-exec descriptors are dropped at exec.
package proctable

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// Containers maps a process to its container. *container.Resolver
// implements it.
type Containers interface {
	// Lookup returns the container of process pid whose kernel cgroup id is
	// cgroupID (0: unknown, computed and returned as id), or nil on the host.
	Lookup(pid uint32, cgroupID uint64) (c *event.Container, id uint64, err error)
}

// containerCache is what a Containers that caches per container (the
// container.Resolver) also offers: Update applies metadata that arrived
// since, without blocking; Retain drops what no live process uses.
type containerCache interface {
	Update()
	Retain(liveCgroups map[uint64]bool, liveContainers map[*event.Container]bool) int
}

// maxContainerCache bounds the per-container caches (upper directories,
// container user databases).
const maxContainerCache = 8192

// sweepEvery is how many exits of container processes pass between
// sweeps of the per-container caches.
const sweepEvery = 64

// Config configures a Table.
type Config struct {
	// ProcRoot is where procfs is mounted; "/proc" when empty.
	ProcRoot string
	// Passwd is the host's user database; "/etc/passwd" when empty.
	Passwd string
	// Group is the host's group database; "/etc/group" when empty.
	Group string
	// MaxProcesses bounds the number of live entries; 65536 when zero.
	// When full, entries whose /proc directory is gone are dropped first,
	// then arbitrary ones (counted in Stats.Evicted).
	MaxProcesses int
	// MaxFDs bounds the stored descriptors per process; 256 when zero.
	MaxFDs int
	// MaxFileFDs bounds the stored regular-file descriptors per process;
	// 32 when zero, negative for none.
	MaxFileFDs int
	// Containers resolves container ids; nil leaves Process.Container nil.
	Containers Containers
	// OnError, when set, receives errors reading /proc that are not a
	// process having exited (malformed content, permission). Each is also
	// counted in Stats.ProcErrors.
	OnError func(error)
}

// Stats counts what the table did.
type Stats struct {
	Processes     int    // live entries now
	Seeded        uint64 // entries read from /proc by Seed
	Created       uint64 // entries created from events (fork, unknown pid)
	FromEvent     uint64 // of Created: /proc had nothing, built from the event alone
	Exited        uint64 // entries reclaimed at procexit
	Vanished      uint64 // entries dropped because /proc no longer had them
	Evicted       uint64 // live entries dropped because MaxProcesses was reached
	ProcErrors    uint64 // /proc entries that could not be read or parsed
	ContainerErrs uint64 // container lookups that failed
	// ContainersForgotten counts per-container cache entries dropped after
	// their container's last process exited; CacheEvicted those dropped
	// because a cache was full.
	ContainersForgotten, CacheEvicted uint64
	FDsDropped                        uint64 // sockets, directories, memfds not stored: MaxFDs reached
	FilesNotStored                    uint64 // regular files not stored: MaxFileFDs reached
}

// Table is the process table. See the package documentation.
type Table struct {
	procRoot   string
	maxProcs   int
	maxFDs     int
	maxFiles   int
	containers Containers
	cache      containerCache // containers, when it caches; else nil
	onError    func(error)
	ctrExits   int // container process exits since the last sweep

	procs      map[uint32]*entry
	sinceSweep int
	last       *entry // entry of the previous event, while live
	bootTime   int64  // ns since the epoch

	users     *userDB
	groups    *userDB
	ctrUsers  map[string]*userDB // container full id → its /etc/passwd
	ctrGroups map[string]*userDB // container full id → its /etc/group
	upperDirs map[uint64]string  // cgroup id → overlayfs upper dir of the root ("" none)

	// scratch holds the path resolved for the current event; scratchFD
	// describes a descriptor that is not stored.
	scratch   []byte
	scratchFD event.FD
	freeFDs   []*fdEntry

	stats Stats
}

// entry is a process and its descriptors. Process.Parent points at the
// proc field of the parent's entry.
type entry struct {
	proc  event.Process
	fds   map[int32]*fdEntry
	files int // regular files among fds
}

const maxFreeFDs = 4096

// New returns an empty table.
func New(cfg Config) *Table {
	t := &Table{
		procRoot:   cfg.ProcRoot,
		maxProcs:   cfg.MaxProcesses,
		maxFDs:     cfg.MaxFDs,
		maxFiles:   cfg.MaxFileFDs,
		containers: cfg.Containers,
		onError:    cfg.OnError,
		procs:      make(map[uint32]*entry),
		ctrUsers:   make(map[string]*userDB),
		ctrGroups:  make(map[string]*userDB),
		upperDirs:  make(map[uint64]string),
		scratch:    make([]byte, 0, 4096),
	}
	t.cache, _ = cfg.Containers.(containerCache)
	if t.procRoot == "" {
		t.procRoot = "/proc"
	}
	passwd := cfg.Passwd
	if passwd == "" {
		passwd = "/etc/passwd"
	}
	t.users = newUserDB(passwd)
	group := cfg.Group
	if group == "" {
		group = "/etc/group"
	}
	t.groups = newUserDB(group)
	if t.maxProcs <= 0 {
		t.maxProcs = 65536
	}
	if t.maxFDs <= 0 {
		t.maxFDs = 256
	}
	if t.maxFiles == 0 {
		t.maxFiles = 32
	}
	if bt, err := readBootTime(filepath.Join(t.procRoot, "stat")); err == nil {
		t.bootTime = bt
	} else {
		t.procError(err)
	}
	return t
}

// Seed adds every process in /proc. Call it once, before the first Handle.
// Processes that exit while being read are skipped; entries that cannot be
// parsed are counted in Stats.ProcErrors and passed to Config.OnError. Seed
// fails only when /proc cannot be listed or ctx ends.
func (t *Table) Seed(ctx context.Context) error {
	dirents, err := os.ReadDir(t.procRoot)
	if err != nil {
		return fmt.Errorf("seed process table: %w", err)
	}
	for _, d := range dirents {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("seed process table: %w", err)
		}
		pid, err := strconv.ParseUint(d.Name(), 10, 32)
		if err != nil || !d.IsDir() {
			continue
		}
		e, err := t.readProc(uint32(pid))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				t.procError(err)
			}
			continue
		}
		t.insert(e)
		t.stats.Seeded++
	}
	for _, e := range t.procs {
		if p := t.procs[e.proc.PPID]; p != nil && e.proc.PPID != e.proc.PID {
			e.proc.Parent = &p.proc
		}
	}
	return nil
}

// Lookup returns the live entry of pid, or nil.
func (t *Table) Lookup(pid uint32) *event.Process {
	if e := t.procs[pid]; e != nil {
		return &e.proc
	}
	return nil
}

// LookupFD returns what descriptor fd of process pid refers to, or nil when
// it is not stored.
func (t *Table) LookupFD(pid uint32, fd int32) *event.FD {
	if e := t.procs[pid]; e != nil {
		if f := e.fds[fd]; f != nil {
			return &f.fd
		}
	}
	return nil
}

// Len returns the number of live entries.
func (t *Table) Len() int { return len(t.procs) }

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	s := t.stats
	s.Processes = len(t.procs)
	return s
}

func (t *Table) procError(err error) {
	t.stats.ProcErrors++
	if t.onError != nil {
		t.onError(err)
	}
}

// live reports whether p is the current entry of its pid.
func (t *Table) live(p *event.Process) bool {
	e := t.procs[p.PID]
	return e != nil && &e.proc == p
}

// insert adds e, replacing an entry of the same pid and making room when
// the table is full.
func (t *Table) insert(e *entry) {
	pid := e.proc.PID
	if old := t.procs[pid]; old != nil {
		t.release(old)
	} else if len(t.procs) >= t.maxProcs {
		t.makeRoom()
	}
	t.procs[pid] = e
}

// makeRoom frees at least one slot: it drops entries whose processes are
// gone (an exit event was missed), at most once per 1/16 of the table's
// capacity of insertions, and otherwise an arbitrary entry.
func (t *Table) makeRoom() {
	if t.sinceSweep >= t.maxProcs/16 {
		t.sinceSweep = 0
		var buf []byte
		for pid, e := range t.procs {
			buf = strconv.AppendUint(append(buf[:0], t.procRoot+"/"...), uint64(pid), 10)
			if _, err := os.Stat(string(buf)); errors.Is(err, fs.ErrNotExist) {
				t.remove(e)
				t.stats.Vanished++
			}
		}
	}
	t.sinceSweep++
	for len(t.procs) >= t.maxProcs {
		for _, e := range t.procs {
			t.remove(e)
			t.stats.Evicted++
			break
		}
	}
}

// remove drops e from the table and releases it.
func (t *Table) remove(e *entry) {
	if t.procs[e.proc.PID] == e {
		delete(t.procs, e.proc.PID)
	}
	t.release(e)
	if e.proc.Container != nil {
		if t.ctrExits++; t.ctrExits >= sweepEvery {
			t.sweepContainers()
		}
	}
}

// sweepContainers drops the per-container cache entries (here and in the
// container resolver) of containers without a live process: the caches
// follow the host's containers instead of growing with every container
// that ever ran.
func (t *Table) sweepContainers() {
	t.ctrExits = 0
	cgroups := make(map[uint64]bool)
	ctrs := make(map[*event.Container]bool)
	ids := make(map[string]bool)
	for _, e := range t.procs {
		if c := e.proc.Container; c != nil {
			cgroups[e.proc.CgroupID] = true
			ctrs[c] = true
			ids[c.FullID] = true
		}
	}
	n := 0
	for id := range t.upperDirs {
		if !cgroups[id] {
			delete(t.upperDirs, id)
			n++
		}
	}
	for _, m := range []map[string]*userDB{t.ctrUsers, t.ctrGroups} {
		for id := range m {
			if !ids[id] {
				delete(m, id)
				n++
			}
		}
	}
	if t.cache != nil {
		n += t.cache.Retain(cgroups, ctrs)
	}
	t.stats.ContainersForgotten += uint64(n)
}

// boundCache makes room for one more entry in m, evicting an arbitrary
// one when it is full.
func boundCache[K comparable, V any](t *Table, m map[K]V) {
	if len(m) < maxContainerCache {
		return
	}
	for k := range m {
		delete(m, k)
		t.stats.CacheEvicted++
		return
	}
}

// maxExitedChain bounds how many exited ancestors a live process keeps
// reachable, so that memory stays bounded when processes daemonise
// repeatedly (fork, parent exits, fork again).
const maxExitedChain = 8

// release returns e's descriptors to the pool and trims its parent chain.
// e itself stays reachable from its children's Parent pointers.
func (t *Table) release(e *entry) {
	if t.last == e {
		t.last = nil
	}
	for fd, f := range e.fds {
		delete(e.fds, fd)
		t.freeFD(f)
	}
	e.fds = nil
	e.files = 0
	// An exited entry keeps its parent only while that parent is live or a
	// short chain of exited ancestors leads back to a live one.
	n := 0
	for p := &e.proc; p.Parent != nil; p = p.Parent {
		if t.live(p.Parent) {
			break
		}
		if n++; n >= maxExitedChain {
			p.Parent = nil
			break
		}
	}
}
