package fields

import (
	"net/netip"
	"strconv"

	"github.com/nightjar-sec/nightjar/internal/event"
)

type strFn = func(c *Ctx, i int) (string, bool)
type intFn = func(c *Ctx, i int) (int64, bool)
type ipFn = func(c *Ctx, i int) (netip.Addr, bool)

func strField(name string, desc string, fn strFn) *Def {
	return &Def{Name: name, Type: String, Desc: desc, make: func(arg) (*Extractor, error) { return &Extractor{Str: fn}, nil }}
}

func intField(name string, t Type, desc string, fn intFn) *Def {
	return &Def{Name: name, Type: t, Desc: desc, make: func(arg) (*Extractor, error) { return &Extractor{Int: fn}, nil }}
}

func ipField(name string, t Type, desc string, multi bool, fn ipFn) *Def {
	return &Def{Name: name, Type: t, Desc: desc, make: func(arg) (*Extractor, error) { return &Extractor{IP: fn, Multi: multi}, nil }}
}

func unavailable(name string, t Type, ak ArgKind, desc string) *Def {
	return &Def{Name: name, Type: t, Arg: ak, Desc: desc, Unavailable: true, make: func(arg) (*Extractor, error) {
		x := &Extractor{}
		switch t {
		case String:
			x.Str = func(*Ctx, int) (string, bool) { return "", false }
		case IP, Net:
			x.IP = func(*Ctx, int) (netip.Addr, bool) { return netip.Addr{}, false }
		default:
			x.Int = func(*Ctx, int) (int64, bool) { return 0, false }
		}
		return x, nil
	}}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func defs() []*Def {
	return []*Def{
		// Event.
		strField("evt.type", "system call name (Falco evt.type)", func(c *Ctx, _ int) (string, bool) { return c.Ev.Type.String(), true }),
		strField("evt.dir", "event direction: always < (events are reported at syscall exit)", func(*Ctx, int) (string, bool) { return "<", true }),
		strField("evt.res", "SUCCESS or the error name (ENOENT, ...)", func(c *Ctx, _ int) (string, bool) { return resName(c.Ev.Res), true }),
		intField("evt.rawres", Int, "return value as a number", func(c *Ctx, _ int) (int64, bool) { return c.Ev.Res, true }),
		intField("evt.failed", Bool, "true when the call returned an error", func(c *Ctx, _ int) (int64, bool) { return b2i(c.Ev.Res < 0), true }),
		intField("evt.time", Time, "event time (nanoseconds since the epoch; HH:MM:SS.nnnnnnnnn in output text)", func(c *Ctx, _ int) (int64, bool) { return c.Ev.Time, true }),
		intField("evt.rawtime", Int, "event time in nanoseconds since the epoch", func(c *Ctx, _ int) (int64, bool) { return c.Ev.Time, true }),
		strField("evt.hostname", "host name of the machine", func(c *Ctx, _ int) (string, bool) { return c.Hostname, c.Hostname != "" }),
		intField("evt.is_open_read", Bool, "open call with read access (O_RDONLY or O_RDWR)", isOpenRead),
		intField("evt.is_open_write", Bool, "open call with write access (O_WRONLY or O_RDWR)", isOpenWrite),
		intField("evt.is_open_exec", Bool, "open call creating a file with an execute permission bit", isOpenExec),
		{Name: "evt.arg", Type: String, Arg: NameOrIndexArg, Desc: "argument by name (evt.arg.flags) or slot (evt.arg[0]), rendered as Falco does (O_RDONLY|O_CLOEXEC, PTRACE_ATTACH, ...)", make: makeEvtArg},
		{Name: "evt.rawarg", Type: Int, Arg: NameArg, Desc: "numeric argument by name, unrendered", make: makeEvtRawarg},
		unavailable("evt.buffer", String, NoArg, "I/O buffer (not captured)"),

		// Process.
		strField("proc.name", "process name (task comm)", procName),
		strField("proc.exe", "argv[0] of the process", func(c *Ctx, _ int) (string, bool) { return procStr(c, func(p *event.Process) string { return p.Exe }) }),
		strField("proc.exepath", "full path of the executable", func(c *Ctx, _ int) (string, bool) {
			return procStr(c, func(p *event.Process) string { return p.ExePath })
		}),
		strField("proc.cmdline", "process name and arguments", func(c *Ctx, _ int) (string, bool) { return c.memo(cacheCmdline, cmdlineOfSelf) }),
		strField("proc.args", "arguments, space separated", func(c *Ctx, _ int) (string, bool) { return c.memo(cacheArgs, argsOfSelf) }),
		intField("proc.pid", Int, "process id", func(c *Ctx, _ int) (int64, bool) { return int64(c.Ev.PID), true }),
		intField("proc.ppid", Int, "parent process id", func(c *Ctx, _ int) (int64, bool) { return int64(ppid(c)), true }),
		strField("proc.pname", "parent process name", func(c *Ctx, _ int) (string, bool) {
			return parentStr(c, func(p *event.Process) string { return p.Name })
		}),
		strField("proc.pexe", "argv[0] of the parent", func(c *Ctx, _ int) (string, bool) {
			return parentStr(c, func(p *event.Process) string { return p.Exe })
		}),
		strField("proc.pexepath", "executable path of the parent", func(c *Ctx, _ int) (string, bool) {
			return parentStr(c, func(p *event.Process) string { return p.ExePath })
		}),
		strField("proc.pcmdline", "parent name and arguments", func(c *Ctx, _ int) (string, bool) { return c.memo(cachePcmdline, cmdlineOfParent) }),
		{Name: "proc.aname", Type: String, Arg: OptIndexArg, Desc: "ancestor name: [0] the process, [1] its parent, ...; without index any ancestor", make: makeAname},
		{Name: "proc.apid", Type: Int, Arg: OptIndexArg, Desc: "ancestor pid: [0] the process, [1] its parent, ...; without index any ancestor", make: makeApid},
		strField("proc.cwd", "current working directory", func(c *Ctx, _ int) (string, bool) { return procStr(c, func(p *event.Process) string { return p.Cwd }) }),
		intField("proc.tty", Int, "controlling terminal (0 for none)", func(c *Ctx, _ int) (int64, bool) {
			return procInt(c, func(p *event.Process) int64 { return int64(p.TTY) })
		}),
		intField("proc.sid", Int, "session id", func(c *Ctx, _ int) (int64, bool) {
			return procInt(c, func(p *event.Process) int64 { return int64(p.SID) })
		}),
		intField("proc.vpgid", Int, "process group id as seen in its pid namespace", func(c *Ctx, _ int) (int64, bool) {
			return procInt(c, func(p *event.Process) int64 { return int64(p.VPGID) })
		}),
		intField("proc.is_exe_from_memfd", Bool, "executable is a memfd (fileless)", func(c *Ctx, _ int) (int64, bool) {
			return procInt(c, func(p *event.Process) int64 { return b2i(p.ExeFromMemfd) })
		}),
		intField("proc.is_exe_upper_layer", Bool, "executable is in the upper layer of an overlayfs (written in the container)", func(c *Ctx, _ int) (int64, bool) {
			return procInt(c, func(p *event.Process) int64 { return b2i(p.ExeUpperLayer) })
		}),
		{Name: "proc.env", Type: String, Arg: OptNameArg, Desc: "environment (KEY=value, space separated) or one variable: proc.env[HOME]", make: makeEnv},
		intField("thread.tid", Int, "thread id", func(c *Ctx, _ int) (int64, bool) { return int64(c.Ev.TID), true }),
		strField("thread.cap_effective", "effective capabilities, space separated (CAP_SYS_ADMIN ...)", func(c *Ctx, _ int) (string, bool) { return c.memo(cacheCaps, capsOfSelf) }),

		// User and group.
		intField("user.uid", Int, "user id", func(c *Ctx, _ int) (int64, bool) { return int64(c.Ev.UID), true }),
		strField("user.name", "user name", func(c *Ctx, _ int) (string, bool) { return procStr(c, func(p *event.Process) string { return p.User }) }),
		intField("user.loginuid", Int, "audit login uid (-1 when unset)", func(c *Ctx, _ int) (int64, bool) { return int64(int32(c.Ev.LoginUID)), true }),
		strField("user.loginname", "name of the login user", func(c *Ctx, _ int) (string, bool) {
			return procStr(c, func(p *event.Process) string { return p.LoginUser })
		}),
		intField("group.gid", Int, "group id", func(c *Ctx, _ int) (int64, bool) { return int64(c.Ev.GID), true }),
		strField("group.name", "group name", func(c *Ctx, _ int) (string, bool) {
			return procStr(c, func(p *event.Process) string { return p.Group })
		}),

		// File descriptors.
		strField("fd.name", "absolute path of a file, or the connection tuple of a socket", fdName),
		strField("fd.directory", "directory of fd.name", fdDirectory),
		strField("fd.filename", "base name of fd.name", fdFilename),
		intField("fd.num", Int, "file descriptor number", fdNum),
		strField("fd.type", "file, directory, ipv4, ipv6, unix, pipe, event, signalfd, memfd, netlink", func(c *Ctx, _ int) (string, bool) { return fdTypeName(c) }),
		strField("fd.typechar", "one-letter fd.type: f, d, 4, 6, u, p, e, s, m, n", fdTypeChar),
		ipField("fd.sip", IP, "server IP address", false, func(c *Ctx, _ int) (netip.Addr, bool) { return endIP(c, server) }),
		ipField("fd.cip", IP, "client IP address", false, func(c *Ctx, _ int) (netip.Addr, bool) { return endIP(c, client) }),
		ipField("fd.lip", IP, "local IP address", false, func(c *Ctx, _ int) (netip.Addr, bool) { return endIP(c, local) }),
		ipField("fd.rip", IP, "remote IP address", false, func(c *Ctx, _ int) (netip.Addr, bool) { return endIP(c, remote) }),
		ipField("fd.ip", IP, "either IP address of the connection", true, func(c *Ctx, i int) (netip.Addr, bool) { return endIP(c, bothEnds(i)) }),
		ipField("fd.net", Net, "either IP address of the connection, compared against CIDR networks", true, func(c *Ctx, i int) (netip.Addr, bool) { return endIP(c, bothEnds(i)) }),
		ipField("fd.snet", Net, "server IP address, compared against CIDR networks", false, func(c *Ctx, _ int) (netip.Addr, bool) { return endIP(c, server) }),
		ipField("fd.cnet", Net, "client IP address, compared against CIDR networks", false, func(c *Ctx, _ int) (netip.Addr, bool) { return endIP(c, client) }),
		intField("fd.sport", Port, "server port", func(c *Ctx, _ int) (int64, bool) { return endPort(c, server) }),
		intField("fd.cport", Port, "client port", func(c *Ctx, _ int) (int64, bool) { return endPort(c, client) }),
		intField("fd.lport", Port, "local port", func(c *Ctx, _ int) (int64, bool) { return endPort(c, local) }),
		intField("fd.rport", Port, "remote port", func(c *Ctx, _ int) (int64, bool) { return endPort(c, remote) }),
		{Name: "fd.port", Type: Port, Desc: "either port of the connection", make: func(arg) (*Extractor, error) {
			return &Extractor{Multi: true, Int: func(c *Ctx, i int) (int64, bool) { return endPort(c, bothEnds(i)) }}, nil
		}},
		strField("fd.l4proto", "tcp, udp, icmp or raw", fdL4proto),

		// Containers and Kubernetes.
		strField("container.id", "12-character container id, or host", func(c *Ctx, _ int) (string, bool) {
			return containerStr(c, "host", func(k *event.Container) string { return k.ID })
		}),
		strField("container.full_id", "full container id, or host", func(c *Ctx, _ int) (string, bool) {
			return containerStr(c, "host", func(k *event.Container) string { return k.FullID })
		}),
		strField("container.name", "container name, or host", func(c *Ctx, _ int) (string, bool) {
			return containerStr(c, "host", func(k *event.Container) string { return k.Name })
		}),
		strField("container.image.repository", "image repository", func(c *Ctx, _ int) (string, bool) {
			return containerStr(c, "", func(k *event.Container) string { return k.ImageRepository })
		}),
		strField("container.image.tag", "image tag", func(c *Ctx, _ int) (string, bool) {
			return containerStr(c, "", func(k *event.Container) string { return k.ImageTag })
		}),
		strField("container.image", "image repository:tag", containerImage),
		intField("container.privileged", Bool, "container runs privileged", func(c *Ctx, _ int) (int64, bool) {
			if p := c.Ev.Proc; p != nil && p.Container != nil {
				return b2i(p.Container.Privileged), true
			}
			return 0, false
		}),
		strField("container.type", "container runtime (docker, containerd, cri-o, podman, ecs)", func(c *Ctx, _ int) (string, bool) {
			return containerStr(c, "", func(k *event.Container) string { return k.Runtime })
		}),
		strField("k8s.ns.name", "Kubernetes namespace", func(c *Ctx, _ int) (string, bool) {
			return containerStr(c, "", func(k *event.Container) string { return k.K8sNamespace })
		}),
		strField("k8s.pod.name", "Kubernetes pod name", func(c *Ctx, _ int) (string, bool) {
			return containerStr(c, "", func(k *event.Container) string { return k.K8sPodName })
		}),
		strField("k8s.pod.uid", "Kubernetes pod uid", func(c *Ctx, _ int) (string, bool) {
			return containerStr(c, "", func(k *event.Container) string { return k.K8sPodUID })
		}),
		// ECS (nightjar's own names; Falco has none).
		strField("ecs.task.arn", "ECS task ARN", func(c *Ctx, _ int) (string, bool) {
			return containerStr(c, "", func(k *event.Container) string { return k.ECSTaskARN })
		}),
		strField("ecs.task.family", "ECS task definition family", func(c *Ctx, _ int) (string, bool) {
			return containerStr(c, "", func(k *event.Container) string { return k.ECSFamily })
		}),
		strField("ecs.cluster", "ECS cluster", func(c *Ctx, _ int) (string, bool) {
			return containerStr(c, "", func(k *event.Container) string { return k.ECSCluster })
		}),
		{Name: "k8s.pod.label", Type: String, Arg: NameArg, Desc: "a pod label: k8s.pod.label[app]", make: func(a arg) (*Extractor, error) {
			key := a.text
			return &Extractor{Str: func(c *Ctx, _ int) (string, bool) {
				if p := c.Ev.Proc; p != nil && p.Container != nil {
					v, ok := p.Container.K8sPodLabels[key]
					return v, ok
				}
				return "", false
			}}, nil
		}},
	}
}

func procName(c *Ctx, _ int) (string, bool) {
	if p := c.Ev.Proc; p != nil && p.Name != "" {
		return p.Name, true
	}
	n := 0
	for n < len(c.Ev.Comm) && c.Ev.Comm[n] != 0 {
		n++
	}
	if n == 0 {
		return "", false
	}
	return view(c.Ev.Comm[:n]), true
}

// procStr reads a string of the event's process; empty means unknown.
func procStr(c *Ctx, get func(*event.Process) string) (string, bool) {
	if p := c.Ev.Proc; p != nil {
		s := get(p)
		return s, s != ""
	}
	return "", false
}

func procInt(c *Ctx, get func(*event.Process) int64) (int64, bool) {
	if p := c.Ev.Proc; p != nil {
		return get(p), true
	}
	return 0, false
}

func parentStr(c *Ctx, get func(*event.Process) string) (string, bool) {
	if p := c.Ev.Proc; p != nil && p.Parent != nil {
		s := get(p.Parent)
		return s, s != ""
	}
	return "", false
}

func ppid(c *Ctx) uint32 {
	if c.Ev.PPID != 0 {
		return c.Ev.PPID
	}
	if p := c.Ev.Proc; p != nil {
		return p.PPID
	}
	return 0
}

func appendArgs(dst []byte, args []string) []byte {
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, a...)
	}
	return dst
}

// argvArgs returns the NUL-separated arguments after argv[0] of an exec
// event, for when the process table has not caught up with it.
func argvArgs(argv []byte) []byte {
	i := 0
	for i < len(argv) && argv[i] != 0 {
		i++
	}
	if i >= len(argv) {
		return nil
	}
	return argv[i+1:]
}

func appendArgv(dst, argv []byte) []byte {
	for len(argv) > 0 && argv[len(argv)-1] == 0 {
		argv = argv[:len(argv)-1]
	}
	for _, b := range argv {
		if b == 0 {
			b = ' '
		}
		dst = append(dst, b)
	}
	return dst
}

func cmdline(c *Ctx, p *event.Process) (string, bool) {
	if p == nil {
		return "", false
	}
	return c.build(func(dst []byte) []byte {
		dst = append(dst, p.Name...)
		if len(p.Args) > 0 {
			dst = append(dst, ' ')
			dst = appendArgs(dst, p.Args)
		}
		return dst
	}), true
}

func cmdlineOfSelf(c *Ctx) (string, bool) {
	if c.Ev.Proc == nil && len(c.Ev.Argv) > 0 {
		name, _ := procName(c, 0)
		rest := argvArgs(c.Ev.Argv)
		return c.build(func(dst []byte) []byte {
			dst = append(dst, name...)
			if len(rest) > 0 {
				dst = append(dst, ' ')
				dst = appendArgv(dst, rest)
			}
			return dst
		}), true
	}
	return cmdline(c, c.Ev.Proc)
}

func cmdlineOfParent(c *Ctx) (string, bool) {
	if p := c.Ev.Proc; p != nil {
		return cmdline(c, p.Parent)
	}
	return "", false
}

func argsOfSelf(c *Ctx) (string, bool) {
	if p := c.Ev.Proc; p != nil {
		if len(p.Args) == 1 {
			return p.Args[0], true
		}
		return c.build(func(dst []byte) []byte { return appendArgs(dst, p.Args) }), true
	}
	if len(c.Ev.Argv) > 0 {
		rest := argvArgs(c.Ev.Argv)
		return c.build(func(dst []byte) []byte { return appendArgv(dst, rest) }), true
	}
	return "", false
}

// ancestor returns the n-th ancestor of the event's process (0 is itself).
func ancestor(c *Ctx, n int) *event.Process {
	p := c.Ev.Proc
	for ; p != nil && n > 0; n-- {
		p = p.Parent
	}
	return p
}

// maxAncestors bounds ancestor walks in case of a cycle in the table.
const maxAncestors = 64

func makeAname(a arg) (*Extractor, error) {
	if a.set && a.index == 0 {
		return &Extractor{Str: func(c *Ctx, _ int) (string, bool) { return procName(c, 0) }}, nil
	}
	return makeAncestorStr(func(p *event.Process) string { return p.Name })(a)
}

func makeApid(a arg) (*Extractor, error) {
	if a.set {
		n := a.index
		return &Extractor{Int: func(c *Ctx, _ int) (int64, bool) {
			switch n {
			case 0:
				return int64(c.Ev.PID), true
			case 1:
				if pp := ppid(c); pp != 0 {
					return int64(pp), true
				}
			}
			if p := ancestor(c, n); p != nil {
				return int64(p.PID), true
			}
			return 0, false
		}}, nil
	}
	return &Extractor{Multi: true, Int: func(c *Ctx, i int) (int64, bool) {
		if i >= maxAncestors {
			return 0, false
		}
		if p := ancestor(c, i+1); p != nil {
			return int64(p.PID), true
		}
		return 0, false
	}}, nil
}

func makeEnv(a arg) (*Extractor, error) {
	if !a.set {
		return &Extractor{Str: func(c *Ctx, _ int) (string, bool) {
			p := c.Ev.Proc
			if p == nil || p.Env == nil {
				return "", false
			}
			return c.build(func(dst []byte) []byte { return appendArgs(dst, p.Env) }), true
		}}, nil
	}
	key := a.text
	return &Extractor{Str: func(c *Ctx, _ int) (string, bool) {
		p := c.Ev.Proc
		if p == nil {
			return "", false
		}
		for _, kv := range p.Env {
			if len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key {
				return kv[len(key)+1:], true
			}
		}
		return "", false
	}}, nil
}

func capsOfSelf(c *Ctx) (string, bool) {
	p := c.Ev.Proc
	if p == nil {
		return "", false
	}
	return c.build(func(dst []byte) []byte { return appendCaps(dst, p.CapEffective) }), true
}

func containerStr(c *Ctx, host string, get func(*event.Container) string) (string, bool) {
	p := c.Ev.Proc
	if p == nil {
		return "", false
	}
	if p.Container == nil {
		return host, host != ""
	}
	s := get(p.Container)
	return s, s != ""
}

func containerImage(c *Ctx, _ int) (string, bool) {
	p := c.Ev.Proc
	if p == nil || p.Container == nil || p.Container.ImageRepository == "" {
		return "", false
	}
	k := p.Container
	if k.ImageTag == "" {
		return k.ImageRepository, true
	}
	return c.build(func(dst []byte) []byte {
		dst = append(dst, k.ImageRepository...)
		dst = append(dst, ':')
		return append(dst, k.ImageTag...)
	}), true
}

func isOpen(t event.Type) bool {
	return t == event.Open || t == event.Creat || t == event.Openat || t == event.Openat2
}

// argSlots maps, per event type, the argument names the extractors read
// directly to their index in Event.Args (-1 when absent). It is computed
// once from event.ArgIndex and never modified.
var argSlots = func() (t struct{ flags, mode, dirfd [event.NumTypes]int8 }) {
	for ty := event.Type(0); ty < event.NumTypes; ty++ {
		for _, f := range []struct {
			name string
			dst  *[event.NumTypes]int8
		}{{"flags", &t.flags}, {"mode", &t.mode}, {"dirfd", &t.dirfd}} {
			f.dst[ty] = -1
			if i, ok := event.ArgIndex(ty, f.name); ok {
				f.dst[ty] = int8(i)
			}
		}
	}
	return t
}()

// openFlags returns the flags and mode of an open event.
func openFlags(ev *event.Event) (flags, mode int64, ok bool) {
	if !isOpen(ev.Type) {
		return 0, 0, false
	}
	return ev.Args[argSlots.flags[ev.Type]], ev.Args[argSlots.mode[ev.Type]], true
}

const (
	oAccmode = 0o3
	oWronly  = 0o1
	oRdwr    = 0o2
	oCreat   = 0o100
	oTmpfile = 0o20200000
)

func isOpenRead(c *Ctx, _ int) (int64, bool) {
	f, _, ok := openFlags(c.Ev)
	if !ok {
		return 0, false
	}
	acc := f & oAccmode
	return b2i(acc == 0 || acc == oRdwr), true
}

func isOpenWrite(c *Ctx, _ int) (int64, bool) {
	f, _, ok := openFlags(c.Ev)
	if !ok {
		return 0, false
	}
	acc := f & oAccmode
	return b2i(acc == oWronly || acc == oRdwr), true
}

func isOpenExec(c *Ctx, _ int) (int64, bool) {
	f, m, ok := openFlags(c.Ev)
	if !ok {
		return 0, false
	}
	return b2i((f&oCreat != 0 || f&oTmpfile == oTmpfile) && m&0o111 != 0), true
}

// argSlot says where an argument of one event type lives.
type argSlot struct {
	kind uint8 // 0 absent, 1 Args, 2 Path/Path2, 3 Res
	idx  int
	name string // Falco name of an Args slot, for rendering
	id   bool   // a user or group id of a set*id call, rendered as its name
}

// isIDArg reports whether argument name of events of type t is a user or
// group id that Falco renders as a name.
func isIDArg(t event.Type, name string) bool {
	switch t {
	case event.Setuid, event.Setreuid, event.Setresuid, event.Setgid, event.Setregid, event.Setresgid:
		return name != ""
	}
	return false
}

func resolveArg(a arg) (slots [event.NumTypes]argSlot, any bool) {
	for t := event.Type(1); t < event.NumTypes; t++ {
		if a.index >= 0 {
			if a.index < len(event.Event{}.Args) {
				if name, ok := argName(t, a.index); ok {
					slots[t] = argSlot{kind: 1, idx: a.index, name: name, id: isIDArg(t, name)}
					any = true
				}
			}
			continue
		}
		if i, ok := event.ArgIndex(t, a.text); ok {
			slots[t] = argSlot{kind: 1, idx: i, name: a.text, id: isIDArg(t, a.text)}
			any = true
		} else if i, ok := event.PathArgIndex(t, a.text); ok {
			slots[t] = argSlot{kind: 2, idx: i}
			any = true
		} else if a.text == "res" || (a.text == "fd" && returnsFD(t)) {
			slots[t] = argSlot{kind: 3}
			any = true
		}
	}
	return slots, any
}

// argName returns the Falco name of Args[i] for events of type t.
func argName(t event.Type, i int) (string, bool) {
	for _, n := range argNamesProbe {
		if j, ok := event.ArgIndex(t, n); ok && j == i {
			return n, true
		}
	}
	return "", false
}

// argNamesProbe lists every argument name event.ArgIndex knows, so that a
// slot index can be mapped back to its name.
var argNamesProbe = []string{
	"dirfd", "flags", "mode", "resolve", "fd", "backlog", "domain", "type", "proto", "size",
	"oldfd", "newfd", "linkdirfd", "olddir", "newdir", "olddirfd", "newdirfd", "request", "pid",
	"len", "uid", "gid", "ruid", "euid", "suid", "rgid", "egid", "sgid", "nstype", "status", "cmd",
}

func returnsFD(t event.Type) bool {
	switch t {
	case event.Open, event.Creat, event.Openat, event.Openat2, event.Socket, event.Accept, event.Accept4,
		event.Dup, event.Dup2, event.Dup3, event.MemfdCreate:
		return true
	}
	return false
}

func makeEvtArg(a arg) (*Extractor, error) {
	slots, any := resolveArg(a)
	x := &Extractor{Str: func(c *Ctx, _ int) (string, bool) {
		ev := c.Ev
		if ev.Type >= event.NumTypes {
			return "", false
		}
		s := slots[ev.Type]
		switch s.kind {
		case 1:
			if s.id && s.idx < len(ev.IDNames) && ev.IDNames[s.idx] != "" {
				// Falco gives a set*id call's ids as names.
				return ev.IDNames[s.idx], true
			}
			v := ev.Args[s.idx]
			return c.build(func(dst []byte) []byte { return appendArg(dst, ev.Type, s.name, v) }), true
		case 2:
			if s.idx == 0 {
				return view(ev.Path), ev.Path != nil
			}
			return view(ev.Path2), ev.Path2 != nil
		case 3:
			return c.build(func(dst []byte) []byte { return strconv.AppendInt(dst, ev.Res, 10) }), true
		}
		return "", false
	}}
	// An argument no captured event has is not an error (Falco rules name
	// arguments of events nightjar does not capture), but it never has a value.
	x.Unavailable = !any
	return x, nil
}

func makeEvtRawarg(a arg) (*Extractor, error) {
	a.index = -1
	slots, any := resolveArg(a)
	x := &Extractor{Int: func(c *Ctx, _ int) (int64, bool) {
		ev := c.Ev
		if ev.Type >= event.NumTypes {
			return 0, false
		}
		switch s := slots[ev.Type]; s.kind {
		case 1:
			return ev.Args[s.idx], true
		case 3:
			return ev.Res, true
		}
		return 0, false
	}}
	x.Unavailable = !any
	return x, nil
}

// resName renders a return value as Falco's evt.res does.
func resName(res int64) string {
	if res >= 0 {
		return "SUCCESS"
	}
	if n, ok := errnoNames[-res]; ok {
		return n
	}
	return "E" + strconv.FormatInt(-res, 10)
}
