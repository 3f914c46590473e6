// Package event defines the typed system-call events that flow from the
// kernel capture through the process state to the rule engine.
//
// An Event is decoded in place from a ring buffer record: its byte slices
// point into the record and stay valid only until the next record is read.
// Whoever keeps data beyond that point copies it.
package event

// Type is the kind of an event. Names follow Falco's evt.type values.
type Type uint16

// Event types. New types are appended before NumTypes so that numbering stays
// stable between the kernel programs and user space.
const (
	TypeUnknown Type = iota
	Execve
	Execveat
	Open
	Openat
	Openat2
	Connect
	Accept
	Accept4
	Bind
	Listen
	Socket
	Sendto
	Sendmsg
	Dup
	Dup2
	Dup3
	Close
	Symlink
	Symlinkat
	Link
	Linkat
	Unlink
	Unlinkat
	Rename
	Renameat
	Renameat2
	Mkdir
	Mkdirat
	Chmod
	Fchmod
	Fchmodat
	Ptrace
	InitModule
	FinitModule
	Setuid
	Setgid
	Setreuid
	Setregid
	Setresuid
	Setresgid
	Setns
	Unshare
	Mount
	MemfdCreate
	Clone
	Clone3
	Fork
	Vfork
	ProcExit
	Chdir
	Fchdir
	Creat
	Rmdir
	Bpf
	NumTypes
)

var typeNames = [NumTypes]string{
	TypeUnknown: "unknown",
	Execve:      "execve",
	Execveat:    "execveat",
	Open:        "open",
	Openat:      "openat",
	Openat2:     "openat2",
	Connect:     "connect",
	Accept:      "accept",
	Accept4:     "accept4",
	Bind:        "bind",
	Listen:      "listen",
	Socket:      "socket",
	Sendto:      "sendto",
	Sendmsg:     "sendmsg",
	Dup:         "dup",
	Dup2:        "dup2",
	Dup3:        "dup3",
	Close:       "close",
	Symlink:     "symlink",
	Symlinkat:   "symlinkat",
	Link:        "link",
	Linkat:      "linkat",
	Unlink:      "unlink",
	Unlinkat:    "unlinkat",
	Rename:      "rename",
	Renameat:    "renameat",
	Renameat2:   "renameat2",
	Mkdir:       "mkdir",
	Mkdirat:     "mkdirat",
	Chmod:       "chmod",
	Fchmod:      "fchmod",
	Fchmodat:    "fchmodat",
	Ptrace:      "ptrace",
	InitModule:  "init_module",
	FinitModule: "finit_module",
	Setuid:      "setuid",
	Setgid:      "setgid",
	Setreuid:    "setreuid",
	Setregid:    "setregid",
	Setresuid:   "setresuid",
	Setresgid:   "setresgid",
	Setns:       "setns",
	Unshare:     "unshare",
	Mount:       "mount",
	MemfdCreate: "memfd_create",
	Clone:       "clone",
	Clone3:      "clone3",
	Fork:        "fork",
	Vfork:       "vfork",
	ProcExit:    "procexit",
	Chdir:       "chdir",
	Fchdir:      "fchdir",
	Creat:       "creat",
	Rmdir:       "rmdir",
	Bpf:         "bpf",
}

// String returns the Falco evt.type name of t.
func (t Type) String() string {
	if t < NumTypes && typeNames[t] != "" {
		return typeNames[t]
	}
	return "unknown"
}

// ParseType returns the type named name (a Falco evt.type value).
func ParseType(name string) (Type, bool) {
	for t, n := range typeNames {
		if n == name && Type(t) != TypeUnknown {
			return Type(t), true
		}
	}
	return TypeUnknown, false
}

// Event is one system call, reported at its exit with its arguments and
// return value, or a process lifecycle event (clone/fork child, procexit).
type Event struct {
	Type Type
	// Num is the event's sequence number since capture started (Falco's evt.num).
	Num uint64
	// Time is the wall-clock time of the event in nanoseconds since the Unix epoch.
	Time int64
	// PID is the thread group id, TID the thread id, PPID the parent's thread group id.
	PID, TID, PPID uint32
	UID, GID       uint32
	LoginUID       uint32
	CgroupID       uint64
	// Comm is the kernel's task name, NUL padded.
	Comm [16]byte
	// Res is the return value: a file descriptor, pid or 0 on success, -errno on failure.
	Res int64

	// Args are the numeric arguments; their meaning depends on Type and
	// ArgIndex gives it by Falco argument name (flags, mode, request, ...).
	Args [4]int64
	// Path is the first path argument (open name, exec filename, old path,
	// symlink target, chdir path, mount source); Path2 the second one (new
	// path, link path, mount target). Neither is resolved against the cwd.
	// For a successful exec, Path2 is the executable's absolute path as seen
	// from the process's mount namespace (Falco's proc.exepath); for a
	// successful open, the path of the file the kernel opened, and for a
	// successful chdir or fchdir the new working directory, from the same
	// root, which unlike Path no other thread can change under the call.
	Path, Path2 []byte
	// Argv holds the NUL-separated argument vector of an exec.
	Argv []byte
	// Addr is the socket address argument (connect/bind/sendto destination,
	// accept peer); Local the local end of the socket where the kernel knows it.
	Addr, Local SockAddr
	// Proto is the socket's IP protocol (IPPROTO_TCP, IPPROTO_UDP, ...), if any.
	Proto uint8

	// What the kernel knew of the caller at the event: the thread's
	// capability sets and its process, process group and session ids in
	// its own pid namespace (0 when not visible there).
	CapEffective, CapPermitted, CapInheritable uint64
	VPID, VPGID, VSID                          uint32
	// Ino is the inode number of the file a successful open returned or of
	// the image a successful exec loaded; InoCtime and InoMtime are the
	// image's change and modification times (exec only, nanoseconds since
	// the Unix epoch).
	Ino                uint64
	InoCtime, InoMtime int64
	// Compat reports a 32-bit (ia32) system call, made by a 32-bit process
	// or through int $0x80.
	Compat bool
	// Truncated reports that a string argument or the argv was cut at the
	// kernel side's maximum length; Path2Truncated that Path2, a path the
	// kernel resolved, lost its leading components.
	Truncated, Path2Truncated bool

	// IDNames are the user (setuid, setreuid, setresuid) or group
	// (setgid, setregid, setresgid) names of Args[0..2], from the caller's
	// host or container database; "" when unknown. State fills them in user
	// space, for those events only.
	IDNames [3]string

	// Proc is the process that made the call; state fills it in user space.
	Proc *Process
	// FD is what the event's file descriptor refers to (the opened file, the
	// connected socket), or nil; state fills it in user space.
	FD *FD
}

// CommString returns Comm without its NUL padding.
func (e *Event) CommString() string {
	n := 0
	for n < len(e.Comm) && e.Comm[n] != 0 {
		n++
	}
	return string(e.Comm[:n])
}

// Failed reports whether the call returned an error.
func (e *Event) Failed() bool { return e.Res < 0 }

// Address families, as in <sys/socket.h>.
const (
	AFUnix  = 1
	AFInet  = 2
	AFInet6 = 10
)

// SockAddr is a socket address. IPv4 addresses sit in the first 4 bytes of IP.
type SockAddr struct {
	Family uint16
	Port   uint16
	IP     [16]byte
	// Path is the path of a Unix socket address.
	Path []byte
}
