package fields

import (
	"net/netip"
	"strconv"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// moreDefs are the fields Falco's published rule files use beyond the
// core set in defs: event numbering and argument text, process lineage
// (session and process group leaders, ancestors' executables), the
// executable's inode, capability sets, socket state and filesystem paths.
func moreDefs() []*Def {
	return []*Def{
		intField("evt.num", Int, "event number since capture started", func(c *Ctx, _ int) (int64, bool) { return int64(c.Ev.Num), true }),
		strField("evt.args", "all the event's arguments as name=value text (res or fd first)", func(c *Ctx, _ int) (string, bool) { return c.memo(cacheArgsAll, evtArgs) }),

		{Name: "proc.aexe", Type: String, Arg: OptIndexArg, Desc: "ancestor argv[0]: [0] the process, [1] its parent, ...; without index any ancestor", make: makeAncestorStr(func(p *event.Process) string { return p.Exe })},
		{Name: "proc.aexepath", Type: String, Arg: OptIndexArg, Desc: "ancestor executable path: [0] the process, [1] its parent, ...; without index any ancestor", make: makeAncestorStr(func(p *event.Process) string { return p.ExePath })},
		intField("proc.vpid", Int, "process id as seen in its pid namespace", func(c *Ctx, _ int) (int64, bool) {
			if p := c.Ev.Proc; p != nil && p.VPID != 0 {
				return int64(p.VPID), true
			}
			return 0, false
		}),
		intField("proc.pvpid", Int, "parent's process id as seen in its pid namespace", func(c *Ctx, _ int) (int64, bool) {
			if p := c.Ev.Proc; p != nil && p.Parent != nil && p.Parent.VPID != 0 {
				return int64(p.Parent.VPID), true
			}
			return 0, false
		}),
		strField("proc.sname", "name of the session leader (the ancestor whose pid is proc.sid, or the eldest with the same sid)", leaderStr(sid, func(p *event.Process) string { return p.Name })),
		strField("proc.sid.exe", "argv[0] of the session leader", leaderStr(sid, func(p *event.Process) string { return p.Exe })),
		strField("proc.sid.exepath", "executable path of the session leader", leaderStr(sid, func(p *event.Process) string { return p.ExePath })),
		strField("proc.vpgid.name", "name of the process group leader (the ancestor whose vpid is proc.vpgid, or the eldest with the same vpgid)", leaderStr(vpgid, func(p *event.Process) string { return p.Name })),
		strField("proc.vpgid.exe", "argv[0] of the process group leader", leaderStr(vpgid, func(p *event.Process) string { return p.Exe })),
		strField("proc.vpgid.exepath", "executable path of the process group leader", leaderStr(vpgid, func(p *event.Process) string { return p.ExePath })),
		intField("proc.is_sid_leader", Bool, "the process leads its session (proc.sid = proc.vpid)", isLeader(sid)),
		intField("proc.is_vpgid_leader", Bool, "the process leads its process group (proc.vpgid = proc.vpid)", isLeader(vpgid)),
		intField("proc.duration", RelTime, "nanoseconds since the process started", func(c *Ctx, _ int) (int64, bool) { return since(c, c.Ev.Proc) }),
		intField("proc.ppid.duration", RelTime, "nanoseconds since the parent process started", func(c *Ctx, _ int) (int64, bool) {
			if p := c.Ev.Proc; p != nil {
				return since(c, p.Parent)
			}
			return 0, false
		}),
		intField("proc.pid.ts", RelTime, "start of the process, nanoseconds since the epoch", func(c *Ctx, _ int) (int64, bool) { return startTS(c.Ev.Proc) }),
		intField("proc.ppid.ts", RelTime, "start of the parent process, nanoseconds since the epoch", func(c *Ctx, _ int) (int64, bool) {
			if p := c.Ev.Proc; p != nil {
				return startTS(p.Parent)
			}
			return 0, false
		}),
		intField("proc.cmdnargs", Int, "number of arguments (proc.args)", func(c *Ctx, _ int) (int64, bool) {
			return procInt(c, func(p *event.Process) int64 { return int64(len(p.Args)) })
		}),
		intField("proc.exe_ino", Int, "inode number of the executable", func(c *Ctx, _ int) (int64, bool) {
			if p := c.Ev.Proc; p != nil && p.ExeIno != 0 {
				return int64(p.ExeIno), true
			}
			return 0, false
		}),
		intField("proc.exe_ino.ctime", AbsTime, "status change time (ctime) of the executable, nanoseconds since the epoch", func(c *Ctx, _ int) (int64, bool) {
			if p := c.Ev.Proc; p != nil && p.ExeInoCtime != 0 {
				return p.ExeInoCtime, true
			}
			return 0, false
		}),
		intField("proc.exe_ino.mtime", AbsTime, "modification time (mtime) of the executable, nanoseconds since the epoch", func(c *Ctx, _ int) (int64, bool) {
			if p := c.Ev.Proc; p != nil && p.ExeInoMtime != 0 {
				return p.ExeInoMtime, true
			}
			return 0, false
		}),
		intField("proc.exe_ino.ctime_duration_proc_start", AbsTime, "nanoseconds from the executable's ctime to the process start", func(c *Ctx, _ int) (int64, bool) {
			p := c.Ev.Proc
			if p == nil || p.ExeInoCtime == 0 || p.StartTime == 0 || p.StartTime < p.ExeInoCtime {
				return 0, false
			}
			return p.StartTime - p.ExeInoCtime, true
		}),
		strField("thread.cap_permitted", "permitted capabilities, space separated", func(c *Ctx, _ int) (string, bool) {
			return c.memo(cacheCapsPermitted, capsOf(func(p *event.Process) uint64 { return p.CapPermitted }))
		}),
		strField("thread.cap_inheritable", "inheritable capabilities, space separated", func(c *Ctx, _ int) (string, bool) {
			return c.memo(cacheCapsInheritable, capsOf(func(p *event.Process) uint64 { return p.CapInheritable }))
		}),

		intField("container.start_ts", AbsTime, "container start time, nanoseconds since the epoch", func(c *Ctx, _ int) (int64, bool) {
			if p := c.Ev.Proc; p != nil && p.Container != nil && p.Container.StartTS != 0 {
				return p.Container.StartTS, true
			}
			return 0, false
		}),
		strField("container.mounts", "the container's mounts, space separated source:dest:mode:rw:propagation", containerMounts),

		unavailable("fd.types", String, OptIndexArg, "types of the process's open fds (fd.types[N]: of fd N); needs the process's whole fd table"),
		strField("fd.nameraw", "path of a file as the call gave it, not made absolute", fdNameRaw),
		intField("fd.connected", Bool, "the socket is connected", fdConnected),
		intField("fd.name_changed", Bool, "the event changed the fd's name (a sendto to a new peer on an unconnected socket, a connect)", fdNameChanged),
		strField("fd.sockfamily", "socket family: ip or unix", fdSockFamily),
		ipField("fd.rnet", Net, "remote IP address, compared against CIDR networks", false, func(c *Ctx, _ int) (netip.Addr, bool) { return endIP(c, remote) }),
		ipField("fd.lnet", Net, "local IP address, compared against CIDR networks", false, func(c *Ctx, _ int) (netip.Addr, bool) { return endIP(c, local) }),

		strField("fs.path.name", "path of a single-path file call (open, creat, mkdir, unlink, rmdir, chmod, chdir), made absolute", fsPath(pathName, true)),
		strField("fs.path.nameraw", "path of a single-path file call as given", fsPath(pathName, false)),
		strField("fs.path.source", "source path of a two-path call (rename, link, symlink), made absolute", fsPath(pathSource, true)),
		strField("fs.path.sourceraw", "source path of a two-path call as given", fsPath(pathSource, false)),
		strField("fs.path.target", "target path of a two-path call (rename, link, symlink), made absolute", fsPath(pathTarget, true)),
		strField("fs.path.targetraw", "target path of a two-path call as given", fsPath(pathTarget, false)),
	}
}

func makeAncestorStr(get func(*event.Process) string) func(a arg) (*Extractor, error) {
	return func(a arg) (*Extractor, error) {
		if a.set {
			n := a.index
			return &Extractor{Str: func(c *Ctx, _ int) (string, bool) {
				if p := ancestor(c, n); p != nil {
					s := get(p)
					return s, s != ""
				}
				return "", false
			}}, nil
		}
		return &Extractor{Multi: true, Str: func(c *Ctx, i int) (string, bool) {
			if i >= maxAncestors {
				return "", false
			}
			if p := ancestor(c, i+1); p != nil {
				return get(p), true
			}
			return "", false
		}}, nil
	}
}

// vpid is the process's pid in its namespace; where the process table did
// not record it the host pid stands in (they agree outside containers).
func vpid(p *event.Process) uint32 {
	if p.VPID != 0 {
		return p.VPID
	}
	return p.PID
}

func sid(p *event.Process) uint32   { return p.SID }
func vpgid(p *event.Process) uint32 { return p.VPGID }

// leader finds the leader of the process's session or group, as Falco
// does: walking up the parents that share the id, the one whose pid is the
// id, or else the eldest of them.
func leader(p *event.Process, id func(*event.Process) uint32) *event.Process {
	want := id(p)
	cand := p
	for a, n := p, 0; a != nil && n < maxAncestors; a, n = a.Parent, n+1 {
		if id(a) != want {
			break
		}
		cand = a
		if vpid(a) == want {
			break
		}
	}
	return cand
}

func isLeader(id func(*event.Process) uint32) intFn {
	return func(c *Ctx, _ int) (int64, bool) {
		p := c.Ev.Proc
		if p == nil || vpid(p) == 0 || id(p) == 0 {
			return 0, false // not known
		}
		return b2i(id(p) == vpid(p)), true
	}
}

func leaderStr(id func(*event.Process) uint32, get func(*event.Process) string) strFn {
	return func(c *Ctx, _ int) (string, bool) {
		p := c.Ev.Proc
		if p == nil {
			return "", false
		}
		s := get(leader(p, id))
		return s, s != ""
	}
}

func since(c *Ctx, p *event.Process) (int64, bool) {
	if p == nil || p.StartTime == 0 || c.Ev.Time < p.StartTime {
		return 0, false
	}
	return c.Ev.Time - p.StartTime, true
}

func startTS(p *event.Process) (int64, bool) {
	if p == nil || p.StartTime == 0 {
		return 0, false
	}
	return p.StartTime, true
}

func capsOf(get func(*event.Process) uint64) func(c *Ctx) (string, bool) {
	return func(c *Ctx) (string, bool) {
		p := c.Ev.Proc
		if p == nil {
			return "", false
		}
		caps := get(p)
		return c.build(func(dst []byte) []byte { return appendCaps(dst, caps) }), true
	}
}

func containerMounts(c *Ctx, _ int) (string, bool) {
	p := c.Ev.Proc
	if p == nil || p.Container == nil || len(p.Container.Mounts) == 0 {
		return "", false
	}
	ms := p.Container.Mounts
	return c.build(func(dst []byte) []byte {
		for i, m := range ms {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, m.Source...)
			dst = append(dst, ':')
			dst = append(dst, m.Dest...)
			dst = append(dst, ':')
			dst = append(dst, m.Mode...)
			dst = append(dst, ':')
			dst = strconv.AppendBool(dst, m.RW)
			dst = append(dst, ':')
			dst = append(dst, m.Propagation...)
		}
		return dst
	}), true
}

// pathNamesProbe lists every path argument name event.PathArgIndex knows.
var pathNamesProbe = []string{"filename", "pathname", "name", "target", "linkpath", "oldpath", "newpath", "path", "dev", "dir"}

// evtArgs renders the event's arguments as Falco's evt.args does: the
// return value first (fd= for calls returning a descriptor), then each
// argument as name=value.
func evtArgs(c *Ctx) (string, bool) {
	ev := c.Ev
	if ev.Type == event.TypeUnknown || ev.Type >= event.NumTypes {
		return "", false
	}
	return c.build(func(dst []byte) []byte {
		if returnsFD(ev.Type) {
			dst = append(dst, "fd="...)
		} else {
			dst = append(dst, "res="...)
		}
		dst = strconv.AppendInt(dst, ev.Res, 10)
		for i := range ev.Args {
			if name, ok := argName(ev.Type, i); ok {
				dst = append(dst, ' ')
				dst = append(dst, name...)
				dst = append(dst, '=')
				dst = appendArg(dst, ev.Type, name, ev.Args[i])
			}
		}
		for slot, path := range [2][]byte{ev.Path, ev.Path2} {
			for _, name := range pathNamesProbe {
				if i, ok := event.PathArgIndex(ev.Type, name); ok && i == slot {
					dst = append(dst, ' ')
					dst = append(dst, name...)
					dst = append(dst, '=')
					dst = append(dst, path...)
					break
				}
			}
		}
		return dst
	}), true
}

func fdNameRaw(c *Ctx, _ int) (string, bool) {
	ev := c.Ev
	if isOpen(ev.Type) && len(ev.Path) > 0 {
		return view(ev.Path), true
	}
	if ev.FD != nil && len(ev.FD.Name) > 0 && fileLike(c) {
		return view(ev.FD.Name), true
	}
	return "", false
}

func isInet(f uint16) bool { return f == event.AFInet || f == event.AFInet6 }

func sameAddr(a, b *event.SockAddr) bool {
	return a.Family == b.Family && a.Port == b.Port && a.IP == b.IP
}

func fdConnected(c *Ctx, _ int) (int64, bool) {
	ev := c.Ev
	if ev.FD != nil {
		if ev.FD.Type != event.FDIPv4 && ev.FD.Type != event.FDIPv6 && ev.FD.Type != event.FDUnix {
			return 0, false
		}
		return b2i(ev.FD.Connected), true
	}
	switch ev.Type {
	case event.Connect:
		return b2i(ev.Res == 0), true
	case event.Accept, event.Accept4:
		return b2i(ev.Res >= 0), true
	case event.Sendto, event.Sendmsg:
		// Without the fd table: a send that names no destination can
		// only go over a connected socket.
		return b2i(ev.Addr.Family == 0), true
	}
	return 0, false
}

func fdNameChanged(c *Ctx, _ int) (int64, bool) {
	ev := c.Ev
	switch ev.Type {
	case event.Connect:
		return b2i(ev.Res == 0 || ev.Res == -115), true // EINPROGRESS
	case event.Sendto, event.Sendmsg:
		if !isInet(ev.Addr.Family) {
			return 0, true
		}
		if ev.FD != nil && (ev.FD.Connected || sameAddr(&ev.FD.Remote, &ev.Addr)) {
			return 0, true
		}
		return 1, true
	}
	if isSocketCall(ev.Type) || ev.Type == event.Socket {
		return 0, true
	}
	return 0, false
}

func fdSockFamily(c *Ctx, _ int) (string, bool) {
	t, ok := fdType(c)
	if !ok {
		return "", false
	}
	switch t {
	case event.FDIPv4, event.FDIPv6:
		return "ip", true
	case event.FDUnix:
		return "unix", true
	}
	return "", false
}

type pathRole uint8

const (
	pathName pathRole = iota
	pathSource
	pathTarget
)

// fsPathSlot returns which path argument of an event plays role, and the
// name of the directory-fd argument it is relative to ("" for none).
func fsPathSlot(t event.Type, role pathRole) (slot int, dirfd string, ok bool) {
	switch t {
	case event.Open, event.Creat, event.Mkdir, event.Unlink, event.Rmdir, event.Chmod, event.Chdir:
		return 0, "", role == pathName
	case event.Openat, event.Openat2, event.Mkdirat, event.Unlinkat, event.Fchmodat:
		return 0, "dirfd", role == pathName
	case event.Rename, event.Link:
		if role == pathName {
			return 0, "", false
		}
		return int(role - pathSource), "", true
	case event.Renameat, event.Renameat2:
		switch role {
		case pathSource:
			return 0, "olddirfd", true
		case pathTarget:
			return 1, "newdirfd", true
		}
	case event.Linkat:
		switch role {
		case pathSource:
			return 0, "olddir", true
		case pathTarget:
			return 1, "newdir", true
		}
	case event.Symlink:
		switch role {
		case pathSource:
			return 0, "-", true // the link's text, never resolved
		case pathTarget:
			return 1, "", true
		}
	case event.Symlinkat:
		switch role {
		case pathSource:
			return 0, "-", true
		case pathTarget:
			return 1, "linkdirfd", true
		}
	}
	return 0, "", false
}

func fsPath(role pathRole, resolve bool) strFn {
	return func(c *Ctx, _ int) (string, bool) {
		ev := c.Ev
		slot, dirfd, ok := fsPathSlot(ev.Type, role)
		if !ok {
			return "", false
		}
		path := ev.Path
		if slot == 1 {
			path = ev.Path2
		}
		if len(path) == 0 {
			return "", false
		}
		if !resolve || path[0] == '/' {
			return view(path), true
		}
		if dirfd == "-" {
			return "", false
		}
		if dirfd != "" {
			if i, ok := event.ArgIndex(ev.Type, dirfd); !ok || ev.Args[i] != atFDCWD {
				return "", false
			}
		}
		p := ev.Proc
		if p == nil || p.Cwd == "" {
			return "", false
		}
		return c.build(func(dst []byte) []byte { return appendJoin(dst, p.Cwd, path) }), true
	}
}
