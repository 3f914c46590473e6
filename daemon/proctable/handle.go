package proctable

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// Handle updates the table with ev and fills ev.Proc (always) and ev.FD
// (for events with a descriptor: the opened file or socket, the fd of
// connect, dup, close, fchdir, ...). It is called for every event, in
// order, from one goroutine.
func (t *Table) Handle(ev *event.Event) {
	ev.FD = nil
	if t.cache != nil {
		t.cache.Update()
	}
	// Events come in runs from one process; remember the last entry.
	e := t.last
	if e == nil || e.proc.PID != ev.PID {
		e = t.procs[ev.PID]
	}
	if e == nil {
		if ev.Type == event.ProcExit {
			// Exit of a process never seen: report it, keep nothing.
			ev.Proc = &t.fromEvent(ev).proc
			return
		}
		e = t.create(ev)
	} else {
		t.refresh(e, ev)
	}
	ev.Proc = &e.proc
	t.last = e

	switch ev.Type {
	case event.Execve, event.Execveat:
		if ev.Type == event.Execveat {
			ev.FD = t.lookupFD(e, int32(ev.Args[0]))
		}
		if ev.Res == 0 {
			t.exec(e, ev)
		}
	case event.Clone, event.Clone3, event.Fork, event.Vfork:
		if ev.Res > 0 {
			t.fork(e, ev)
		}
	case event.ProcExit:
		if ev.TID == ev.PID || ev.TID == 0 {
			t.remove(e)
			t.stats.Exited++
		}
	case event.Open, event.Creat, event.Openat, event.Openat2:
		t.open(e, ev)
	case event.Socket:
		t.socket(e, ev)
	case event.Connect:
		t.connect(e, ev)
	case event.Accept, event.Accept4:
		t.accept(e, ev)
	case event.Bind:
		t.bind(e, ev)
	case event.Sendto, event.Sendmsg:
		t.send(e, ev)
	case event.Listen, event.Fchmod, event.FinitModule, event.Setns:
		ev.FD = t.lookupFD(e, int32(ev.Args[0]))
	case event.Dup:
		ev.FD = t.lookupFD(e, int32(ev.Args[0]))
		if ev.Res >= 0 {
			ev.FD = t.dup(e, int32(ev.Args[0]), int32(ev.Res), false)
		}
	case event.Dup2, event.Dup3:
		ev.FD = t.lookupFD(e, int32(ev.Args[0]))
		if ev.Res >= 0 {
			cloexec := ev.Type == event.Dup3 && ev.Args[2]&unix.O_CLOEXEC != 0
			ev.FD = t.dup(e, int32(ev.Args[0]), int32(ev.Res), cloexec)
		}
	case event.Close:
		fd := int32(ev.Args[0])
		ev.FD = t.lookupFD(e, fd)
		if ev.Res == 0 && ev.FD != nil {
			// The entry goes back to the pool but is not reused before
			// the next event, so ev.FD stays valid as documented.
			t.closeFD(e, fd)
		}
	case event.MemfdCreate:
		t.memfd(e, ev)
	case event.Setuid, event.Setreuid, event.Setresuid, event.Setgid, event.Setregid, event.Setresgid:
		t.idNames(e, ev)
	case event.Chdir:
		if ev.Res == 0 {
			e.proc.Cwd = t.cwd(e, ev)
		}
	case event.Fchdir:
		ev.FD = t.lookupFD(e, int32(ev.Args[0]))
		if ev.Res == 0 {
			e.proc.Cwd = t.cwd(e, ev)
		}
	}
}

// cwd returns the working directory after a successful chdir or fchdir:
// the kernel's, else the argument resolved against what the table knows.
func (t *Table) cwd(e *entry, ev *event.Event) string {
	switch {
	case len(ev.Path2) > 0 && !ev.Path2Truncated:
		return string(ev.Path2)
	case ev.Type == event.Chdir:
		return string(t.resolve(e, unix.AT_FDCWD, ev.Path))
	case ev.FD != nil && len(ev.FD.Name) > 0:
		return string(ev.FD.Name)
	}
	return e.proc.Cwd
}

// refresh brings e up to date with what every event carries.
func (t *Table) refresh(e *entry, ev *event.Event) {
	p := &e.proc
	if ev.PPID != 0 && ev.PPID != p.PPID {
		// Reparented (the parent exited) or created with CLONE_PARENT.
		p.PPID = ev.PPID
		p.Parent = nil
		if pe := t.procs[ev.PPID]; pe != nil && pe != e {
			p.Parent = &pe.proc
		}
	}
	if ev.UID != p.UID {
		p.UID = ev.UID
		p.User = t.userName(p, ev.UID)
	}
	if ev.LoginUID != p.LoginUID {
		p.LoginUID = ev.LoginUID
		p.LoginUser = t.loginName(ev.LoginUID)
	}
	if ev.GID != p.GID {
		p.GID = ev.GID
		p.Group = t.groupName(p, ev.GID)
	}
	// The kernel reports these with every event, so capset, set*id and
	// setpgid show on the next one.
	p.CapEffective, p.CapPermitted, p.CapInheritable = ev.CapEffective, ev.CapPermitted, ev.CapInheritable
	if ev.VPID != 0 {
		p.VPID, p.VPGID, p.SID = ev.VPID, ev.VPGID, ev.VSID
	}
	if ev.CgroupID != 0 && ev.CgroupID != p.CgroupID {
		t.setContainer(p, ev.CgroupID)
	}
}

func (t *Table) setContainer(p *event.Process, cgroupID uint64) {
	if t.containers == nil {
		p.CgroupID = cgroupID
		return
	}
	c, id, err := t.containers.Lookup(p.PID, cgroupID)
	if err != nil {
		t.stats.ContainerErrs++
	}
	if err == nil || cgroupID != 0 {
		p.Container = c
	}
	p.CgroupID = id
}

// create adds an entry for the unknown process of ev: inherited from its
// parent for the child's side of a fork, else read from /proc, else built
// from the event.
func (t *Table) create(ev *event.Event) *entry {
	var e *entry
	switch ev.Type {
	case event.Clone, event.Clone3, event.Fork, event.Vfork:
		if ev.Res == 0 {
			if pe := t.procs[ev.PPID]; pe != nil {
				e = t.child(pe, ev.PID, ev.Time)
			}
		}
	}
	if e == nil {
		var err error
		e, err = t.readProc(ev.PID)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				t.procError(err)
			}
			e = t.fromEvent(ev)
			t.stats.FromEvent++
		} else {
			t.linkAncestors(e, 5)
		}
	}
	t.insert(e)
	t.stats.Created++
	t.refresh(e, ev)
	return e
}

// linkAncestors sets e's Parent, reading unknown ancestors from /proc up to
// depth levels.
func (t *Table) linkAncestors(e *entry, depth int) {
	for ; depth > 0 && e.proc.PPID != 0 && e.proc.Parent == nil; depth-- {
		if pe := t.procs[e.proc.PPID]; pe != nil {
			e.proc.Parent = &pe.proc
			return
		}
		pe, err := t.readProc(e.proc.PPID)
		if err != nil {
			return
		}
		t.insert(pe)
		t.stats.Created++
		e.proc.Parent = &pe.proc
		e = pe
	}
}

// fromEvent builds an entry from the fields every event carries.
func (t *Table) fromEvent(ev *event.Event) *entry {
	e := &entry{}
	p := &e.proc
	p.PID, p.PPID = ev.PID, ev.PPID
	p.Name = ev.CommString()
	p.Exe = p.Name
	p.UID, p.GID, p.LoginUID = ev.UID, ev.GID, ev.LoginUID
	p.CapEffective, p.CapPermitted, p.CapInheritable = ev.CapEffective, ev.CapPermitted, ev.CapInheritable
	p.VPID, p.VPGID, p.SID = ev.VPID, ev.VPGID, ev.VSID
	if pe := t.procs[ev.PPID]; pe != nil {
		p.Parent = &pe.proc
		p.Cwd = pe.proc.Cwd // a better guess than nothing
	}
	if ev.CgroupID != 0 {
		t.setContainer(p, ev.CgroupID)
	}
	p.User = t.userName(p, ev.UID)
	p.Group = t.groupName(p, ev.GID)
	p.LoginUser = t.loginName(ev.LoginUID)
	return e
}

// Clone flags, from <linux/sched.h>.
const (
	cloneParent = 0x00008000
	cloneThread = 0x00010000
)

// fork handles the parent's side of clone/fork/vfork: ev.Res is the child.
func (t *Table) fork(parent *entry, ev *event.Event) {
	isClone := ev.Type == event.Clone || ev.Type == event.Clone3
	if isClone && ev.Args[0]&cloneThread != 0 {
		return
	}
	pid := uint32(ev.Res)
	if old := t.procs[pid]; old != nil {
		if old.proc.PPID == parent.proc.PID || old.proc.PPID == parent.proc.PPID {
			// The child's own events came first; they are newer.
			return
		}
		// Either a stale entry (its exit was missed) or ev.Res is a pid
		// in another pid namespace that names a different process here:
		// ask /proc which.
		if ppid, err := readPPID(t.procRoot, pid); err == nil && ppid != parent.proc.PID {
			return
		}
	}
	child := t.child(parent, pid, ev.Time)
	if isClone && ev.Args[0]&cloneParent != 0 {
		child.proc.PPID = parent.proc.PPID
		child.proc.Parent = parent.proc.Parent
	}
	t.insert(child)
	t.stats.Created++
}

// child returns a new entry for pid inheriting from parent, as fork does.
func (t *Table) child(parent *entry, pid uint32, start int64) *entry {
	c := &entry{proc: parent.proc}
	c.proc.PID = pid
	c.proc.PPID = parent.proc.PID
	c.proc.Parent = &parent.proc
	c.proc.StartTime = start
	if len(parent.fds) > 0 {
		c.fds = make(map[int32]*fdEntry, len(parent.fds))
		for fd, f := range parent.fds {
			n := t.newFD()
			n.copyFrom(f)
			c.fds[fd] = n
		}
		c.files = parent.files
	}
	return c
}

// exec applies a successful execve/execveat.
func (t *Table) exec(e *entry, ev *event.Event) {
	p := &e.proc
	p.Name = ev.CommString()
	argv := bytes.TrimRight(ev.Argv, "\x00")
	p.Exe, p.Args = "", nil
	if len(argv) > 0 {
		parts := strings.Split(string(argv), "\x00")
		p.Exe = parts[0]
		if len(parts) > 1 {
			p.Args = parts[1:]
		}
	}
	p.ExePath = t.exePath(e, ev)
	p.ExePathTruncated = len(ev.Path2) > 0 && ev.Path2Truncated
	p.ExeIno, p.ExeInoCtime, p.ExeInoMtime = ev.Ino, ev.InoCtime, ev.InoMtime
	// The terminal and session may have changed since the fork (setsid
	// and TIOCSCTTY are not captured): a runtime's exec --tty sets them
	// up in the child just before it execs. Read them again.
	if b, err := os.ReadFile(t.procRoot + "/" + strconv.FormatUint(uint64(ev.PID), 10) + "/stat"); err == nil {
		if st, err := parseStat("stat", b); err == nil {
			p.TTY = st.tty
			if ev.VPID == 0 {
				p.SID, p.VPGID = st.session, st.pgrp
			}
		}
	}
	if p.Exe == "" {
		p.Exe = p.ExePath
	}
	p.ExeFromMemfd = strings.HasPrefix(p.ExePath, "memfd:") || strings.HasPrefix(p.ExePath, "/memfd:")
	p.ExeUpperLayer = t.upperLayer(p)
	// The new image's environment is not in the event.
	p.Env = nil
	for fd, f := range e.fds {
		if f.cloexec {
			t.closeFD(e, fd)
		}
	}
}

// exePath returns the absolute path of the executable of an exec event.
func (t *Table) exePath(e *entry, ev *event.Event) string {
	// The capture resolves the new image's path in the kernel, through
	// symlinks and mounts (/bin/cat is /usr/bin/cat on a merged-/usr
	// system), as Falco's proc.exepath does; a memfd is "/memfd:NAME
	// (deleted)".
	if len(ev.Path2) > 0 && ev.Res == 0 {
		return string(ev.Path2)
	}
	path := ev.Path
	dirfd := int64(unix.AT_FDCWD)
	fd := int32(-1) // the descriptor executed by fexecve
	if ev.Type == event.Execveat {
		dirfd = ev.Args[0]
		if len(path) == 0 && ev.Args[1]&unix.AT_EMPTY_PATH != 0 {
			fd = int32(dirfd)
		}
	}
	// fexecve without execveat goes through /dev/fd/N or /proc/self/fd/N,
	// and the kernel names an AT_EMPTY_PATH exec /dev/fd/N too.
	for _, prefix := range []string{"/dev/fd/", "/proc/self/fd/"} {
		if s, ok := bytes.CutPrefix(path, []byte(prefix)); ok {
			if n, err := strconv.Atoi(string(s)); err == nil {
				fd = int32(n)
			}
		}
	}
	if fd >= 0 {
		// The stored descriptor may be stale when its close or its
		// creation (memfd_create) was not captured: the kernel's link to
		// the new image is right while the process lives.
		if exe, err := os.Readlink(t.procRoot + "/" + strconv.FormatUint(uint64(ev.PID), 10) + "/exe"); err == nil {
			return exe
		}
		if f := e.fds[fd]; f != nil {
			return string(f.fd.Name)
		}
		return ""
	}
	return string(t.resolve(e, dirfd, path))
}

// upperLayer reports whether the executable of p, a container process,
// lives in the upper (writable) layer of the container's overlayfs root:
// it was written or modified after the container started. Best effort: the
// upper directory is read from /proc/<pid>/mountinfo once per cgroup.
func (t *Table) upperLayer(p *event.Process) bool {
	if p.Container == nil || p.ExePath == "" || p.ExePath[0] != '/' {
		return false
	}
	upper, ok := t.upperDirs[p.CgroupID]
	if !ok {
		// A runtime's init process (runc init) joins the container's
		// cgroup before it moves into the container's root: until then
		// it sees the host's root, which says nothing of the container.
		if t.hostRoot(p.PID) {
			return false
		}
		var err error
		upper, err = rootUpperDir(t.procRoot, p.PID)
		if err != nil {
			return false // not cached: the next exec tries again
		}
		if p.CgroupID != 0 {
			boundCache(t, t.upperDirs)
			t.upperDirs[p.CgroupID] = upper
		}
	}
	if upper == "" {
		return false
	}
	_, err := os.Lstat(upper + p.ExePath)
	return err == nil
}

// hostRoot reports whether process pid has the same root directory as the
// host's init (pid 1), or as the daemon when that one cannot be read, or
// its own root cannot be read.
func (t *Table) hostRoot(pid uint32) bool {
	own, err := os.Stat(t.procRoot + "/" + strconv.FormatUint(uint64(pid), 10) + "/root")
	if err != nil {
		return true
	}
	host, err := os.Stat(t.procRoot + "/1/root")
	if err != nil {
		host, err = os.Stat("/")
	}
	return err == nil && os.SameFile(own, host)
}

// resolve returns path made absolute against dirfd (AT_FDCWD: the cwd) and
// cleaned, in the table's scratch buffer. A relative path whose base is
// unknown is returned as it is.
func (t *Table) resolve(e *entry, dirfd int64, path []byte) []byte {
	b := t.scratch[:0]
	if len(path) > 0 && path[0] == '/' {
		b = cleanPath(append(b, path...))
		t.scratch = b
		return b
	}
	if int32(dirfd) == unix.AT_FDCWD {
		b = append(b, e.proc.Cwd...)
	} else if f := e.fds[int32(dirfd)]; f != nil {
		b = append(b, f.fd.Name...)
	}
	if len(b) == 0 || b[0] != '/' {
		b = append(b[:0], path...)
		t.scratch = b
		return b
	}
	b = append(b, '/')
	b = cleanPath(append(b, path...))
	t.scratch = b
	return b
}

// cleanPath cleans the absolute path b in place, as path.Clean does.
func cleanPath(b []byte) []byte {
	n := len(b)
	w, r := 1, 1
	for r < n {
		switch {
		case b[r] == '/':
			r++
		case b[r] == '.' && (r+1 == n || b[r+1] == '/'):
			r++
		case b[r] == '.' && r+1 < n && b[r+1] == '.' && (r+2 == n || b[r+2] == '/'):
			r += 2
			if w > 1 {
				w--
				for w > 1 && b[w] != '/' {
					w--
				}
			}
		default:
			if w > 1 {
				b[w] = '/'
				w++
			}
			for r < n && b[r] != '/' {
				b[w] = b[r]
				w++
				r++
			}
		}
	}
	return b[:w]
}

func (t *Table) userName(p *event.Process, uid uint32) string {
	return t.idName(p, uid, t.users, t.ctrUsers, "etc/passwd")
}

func (t *Table) groupName(p *event.Process, gid uint32) string {
	return t.idName(p, gid, t.groups, t.ctrGroups, "etc/group")
}

// idName names id from the host's database, or from the container's own
// file (read once per container) for a container process.
func (t *Table) idName(p *event.Process, id uint32, host *userDB, ctr map[string]*userDB, file string) string {
	if p.Container == nil {
		return host.name(id)
	}
	db := ctr[p.Container.FullID]
	if db == nil {
		db = containerUserDB(t.procRoot, p.PID, file)
		boundCache(t, ctr)
		ctr[p.Container.FullID] = db
	}
	return db.name(id)
}

// idNames names the id arguments of a set*id call as Falco's evt.arg
// does, from the caller's database; -1 ("unchanged") has no name.
func (t *Table) idNames(e *entry, ev *event.Event) {
	n := 1
	switch ev.Type {
	case event.Setreuid, event.Setregid:
		n = 2
	case event.Setresuid, event.Setresgid:
		n = 3
	}
	group := ev.Type == event.Setgid || ev.Type == event.Setregid || ev.Type == event.Setresgid
	ev.IDNames = [3]string{}
	for i := range n {
		id := uint32(ev.Args[i])
		switch {
		case id == ^uint32(0):
		case group:
			ev.IDNames[i] = t.groupName(&e.proc, id)
		default:
			ev.IDNames[i] = t.userName(&e.proc, id)
		}
	}
}

// loginName returns the host user name of a login uid; the unset login uid
// (-1) has none.
func (t *Table) loginName(uid uint32) string {
	if uid == ^uint32(0) {
		return ""
	}
	return t.users.name(uid)
}
