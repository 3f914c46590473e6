package fields

import (
	"strconv"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// flag is one named bit (or, with mask, a named value of a bit field).
type flag struct {
	name string
	bit  int64
}

// Linux open(2) flags, rendered after the access mode.
var openFlagNames = []flag{
	{"O_CREAT", 0o100}, {"O_EXCL", 0o200}, {"O_NOCTTY", 0o400}, {"O_TRUNC", 0o1000},
	{"O_APPEND", 0o2000}, {"O_NONBLOCK", 0o4000}, {"O_DSYNC", 0o10000}, {"O_ASYNC", 0o20000},
	{"O_DIRECT", 0o40000}, {"O_LARGEFILE", 0o100000}, {"O_DIRECTORY", 0o200000},
	{"O_NOFOLLOW", 0o400000}, {"O_NOATIME", 0o1000000}, {"O_CLOEXEC", 0o2000000},
	{"O_SYNC", 0o4010000}, {"O_PATH", 0o10000000}, {"O_TMPFILE", 0o20200000},
}

var cloneFlagNames = []flag{
	{"CLONE_VM", 0x100}, {"CLONE_FS", 0x200}, {"CLONE_FILES", 0x400}, {"CLONE_SIGHAND", 0x800},
	{"CLONE_PIDFD", 0x1000}, {"CLONE_PTRACE", 0x2000}, {"CLONE_VFORK", 0x4000}, {"CLONE_PARENT", 0x8000},
	{"CLONE_THREAD", 0x10000}, {"CLONE_NEWNS", 0x20000}, {"CLONE_SYSVSEM", 0x40000},
	{"CLONE_SETTLS", 0x80000}, {"CLONE_PARENT_SETTID", 0x100000}, {"CLONE_CHILD_CLEARTID", 0x200000},
	{"CLONE_UNTRACED", 0x800000}, {"CLONE_CHILD_SETTID", 0x1000000},
	{"CLONE_NEWCGROUP", 0x2000000}, {"CLONE_NEWUTS", 0x4000000}, {"CLONE_NEWIPC", 0x8000000},
	{"CLONE_NEWUSER", 0x10000000}, {"CLONE_NEWPID", 0x20000000}, {"CLONE_NEWNET", 0x40000000},
	{"CLONE_IO", 0x80000000}, {"CLONE_NEWTIME", 0x80},
}

var memfdFlagNames = []flag{
	{"MFD_CLOEXEC", 1}, {"MFD_ALLOW_SEALING", 2}, {"MFD_HUGETLB", 4}, {"MFD_NOEXEC_SEAL", 8}, {"MFD_EXEC", 0x10},
}

var atFlagNames = []flag{
	{"AT_SYMLINK_NOFOLLOW", 0x100}, {"AT_REMOVEDIR", 0x200}, {"AT_SYMLINK_FOLLOW", 0x400},
	{"AT_NO_AUTOMOUNT", 0x800}, {"AT_EMPTY_PATH", 0x1000},
}

var renameFlagNames = []flag{{"RENAME_NOREPLACE", 1}, {"RENAME_EXCHANGE", 2}, {"RENAME_WHITEOUT", 4}}

var moduleFlagNames = []flag{
	{"MODULE_INIT_IGNORE_MODVERSIONS", 1}, {"MODULE_INIT_IGNORE_VERMAGIC", 2}, {"MODULE_INIT_COMPRESSED_FILE", 4},
}

var sockFlagNames = []flag{{"SOCK_NONBLOCK", 0o4000}, {"SOCK_CLOEXEC", 0o2000000}}

var mountFlagNames = []flag{
	{"MS_RDONLY", 1}, {"MS_NOSUID", 2}, {"MS_NODEV", 4}, {"MS_NOEXEC", 8}, {"MS_SYNCHRONOUS", 16},
	{"MS_REMOUNT", 32}, {"MS_MANDLOCK", 64}, {"MS_DIRSYNC", 128}, {"MS_NOATIME", 1024},
	{"MS_NODIRATIME", 2048}, {"MS_BIND", 4096}, {"MS_MOVE", 8192}, {"MS_REC", 16384},
	{"MS_SILENT", 32768}, {"MS_UNBINDABLE", 1 << 17}, {"MS_PRIVATE", 1 << 18},
	{"MS_SLAVE", 1 << 19}, {"MS_SHARED", 1 << 20}, {"MS_RELATIME", 1 << 21},
}

// modeFlagNames render chmod modes as Falco does, so that conditions like
// evt.arg.mode contains S_ISUID work.
var modeFlagNames = []flag{
	{"S_IXOTH", 0o1}, {"S_IWOTH", 0o2}, {"S_IROTH", 0o4}, {"S_IXGRP", 0o10}, {"S_IWGRP", 0o20},
	{"S_IRGRP", 0o40}, {"S_IXUSR", 0o100}, {"S_IWUSR", 0o200}, {"S_IRUSR", 0o400},
	{"S_ISVTX", 0o1000}, {"S_ISGID", 0o2000}, {"S_ISUID", 0o4000},
}

var ptraceRequests = map[int64]string{
	0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA", 3: "PTRACE_PEEKUSR",
	4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA", 6: "PTRACE_POKEUSR", 7: "PTRACE_CONT",
	8: "PTRACE_KILL", 9: "PTRACE_SINGLESTEP", 12: "PTRACE_GETREGS", 13: "PTRACE_SETREGS",
	14: "PTRACE_GETFPREGS", 15: "PTRACE_SETFPREGS", 16: "PTRACE_ATTACH", 17: "PTRACE_DETACH",
	24: "PTRACE_SYSCALL", 0x4200: "PTRACE_SETOPTIONS", 0x4201: "PTRACE_GETEVENTMSG",
	0x4202: "PTRACE_GETSIGINFO", 0x4203: "PTRACE_SETSIGINFO", 0x4204: "PTRACE_GETREGSET",
	0x4205: "PTRACE_SETREGSET", 0x4206: "PTRACE_SEIZE", 0x4207: "PTRACE_INTERRUPT",
	0x4208: "PTRACE_LISTEN",
}

var socketDomains = map[int64]string{
	0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET",
	4: "AF_IPX", 5: "AF_APPLETALK", 9: "AF_X25", 15: "AF_KEY", 29: "AF_CAN", 31: "AF_BLUETOOTH",
	38: "AF_ALG", 40: "AF_VSOCK", 44: "AF_XDP",
}

var socketTypes = map[int64]string{
	1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 10: "SOCK_PACKET",
}

func appendFlags(dst []byte, v int64, names []flag) []byte {
	n0 := len(dst)
	for _, f := range names {
		if v&f.bit == f.bit && f.bit != 0 {
			if len(dst) > n0 {
				dst = append(dst, '|')
			}
			dst = append(dst, f.name...)
			v &^= f.bit
		}
	}
	if v != 0 || len(dst) == n0 {
		if len(dst) > n0 {
			dst = append(dst, '|')
		}
		dst = strconv.AppendInt(dst, v, 10)
	}
	return dst
}

func appendOpenFlags(dst []byte, v int64) []byte {
	switch v & oAccmode {
	case 0:
		dst = append(dst, "O_RDONLY"...)
	case oWronly:
		dst = append(dst, "O_WRONLY"...)
	case oRdwr:
		dst = append(dst, "O_RDWR"...)
	default:
		dst = append(dst, "O_ACCMODE"...)
	}
	rest := v &^ oAccmode
	// O_TMPFILE includes O_DIRECTORY; O_SYNC includes O_DSYNC.
	for _, f := range []flag{openFlagNames[16], openFlagNames[14]} {
		if rest&f.bit == f.bit {
			dst = append(dst, '|')
			dst = append(dst, f.name...)
			rest &^= f.bit
		}
	}
	if rest != 0 {
		dst = append(dst, '|')
		dst = appendFlags(dst, rest, openFlagNames[:14])
	}
	return dst
}

func appendEnum(dst []byte, v int64, names map[int64]string) []byte {
	if n, ok := names[v]; ok {
		return append(dst, n...)
	}
	return strconv.AppendInt(dst, v, 10)
}

// appendArg renders the numeric argument name of an event of type t as
// Falco's evt.arg does: symbolic flags and enums, octal modes, numbers.
func appendArg(dst []byte, t event.Type, name string, v int64) []byte {
	switch name {
	case "flags":
		switch t {
		case event.Open, event.Creat, event.Openat, event.Openat2:
			return appendOpenFlags(dst, v)
		case event.Unshare, event.Clone, event.Clone3:
			return appendFlags(dst, v, cloneFlagNames)
		case event.MemfdCreate:
			return appendFlags(dst, v, memfdFlagNames)
		case event.Linkat, event.Unlinkat, event.Execveat:
			return appendFlags(dst, v, atFlagNames)
		case event.Renameat2:
			return appendFlags(dst, v, renameFlagNames)
		case event.FinitModule:
			return appendFlags(dst, v, moduleFlagNames)
		case event.Accept4:
			return appendFlags(dst, v, sockFlagNames)
		case event.Dup3:
			return appendFlags(dst, v, openFlagNames[13:14])
		case event.Mount:
			return appendFlags(dst, v, mountFlagNames)
		}
	case "nstype":
		return appendFlags(dst, v, cloneFlagNames)
	case "mode":
		if t == event.Chmod || t == event.Fchmod || t == event.Fchmodat {
			return appendFlags(dst, v, modeFlagNames)
		}
		dst = append(dst, '0')
		return strconv.AppendInt(dst, v, 8)
	case "request":
		return appendEnum(dst, v, ptraceRequests)
	case "domain":
		return appendEnum(dst, v, socketDomains)
	case "type":
		if t == event.Socket {
			dst = appendEnum(dst, v&0xf, socketTypes)
			if v&^0xf != 0 {
				dst = append(dst, '|')
				dst = appendFlags(dst, v&^0xf, sockFlagNames)
			}
			return dst
		}
	case "dirfd", "olddirfd", "newdirfd", "olddir", "newdir", "linkdirfd":
		if v == atFDCWD {
			return append(dst, "AT_FDCWD"...)
		}
	}
	return strconv.AppendInt(dst, v, 10)
}

var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

func appendCaps(dst []byte, caps uint64) []byte {
	n0 := len(dst)
	for i, n := range capNames {
		if caps&(1<<uint(i)) != 0 {
			if len(dst) > n0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, n...)
		}
	}
	return dst
}

var errnoNames = map[int64]string{
	1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 8: "ENOEXEC",
	9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 15: "ENOTBLK",
	16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL",
	23: "ENFILE", 24: "EMFILE", 25: "ENOTTY", 26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE",
	30: "EROFS", 31: "EMLINK", 32: "EPIPE", 33: "EDOM", 34: "ERANGE", 35: "EDEADLK", 36: "ENAMETOOLONG",
	37: "ENOLCK", 38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP", 42: "ENOMSG", 43: "EIDRM",
	61: "ENODATA", 62: "ETIME", 71: "EPROTO", 75: "EOVERFLOW", 84: "EILSEQ", 88: "ENOTSOCK",
	89: "EDESTADDRREQ", 90: "EMSGSIZE", 91: "EPROTOTYPE", 92: "ENOPROTOOPT", 93: "EPROTONOSUPPORT",
	94: "ESOCKTNOSUPPORT", 95: "EOPNOTSUPP", 96: "EPFNOSUPPORT", 97: "EAFNOSUPPORT", 98: "EADDRINUSE",
	99: "EADDRNOTAVAIL", 100: "ENETDOWN", 101: "ENETUNREACH", 102: "ENETRESET", 103: "ECONNABORTED",
	104: "ECONNRESET", 105: "ENOBUFS", 106: "EISCONN", 107: "ENOTCONN", 108: "ESHUTDOWN",
	110: "ETIMEDOUT", 111: "ECONNREFUSED", 112: "EHOSTDOWN", 113: "EHOSTUNREACH", 114: "EALREADY",
	115: "EINPROGRESS", 116: "ESTALE", 122: "EDQUOT", 125: "ECANCELED", 126: "ENOKEY",
	130: "EOWNERDEAD", 131: "ENOTRECOVERABLE", 512: "ERESTARTSYS",
}

// OpenFlagBit returns the bit of an open(2) flag name for which "flags
// contains NAME" on a rendered evt.arg.flags is the same as testing the bit
// in the raw value. Access modes and flags that overlap others (O_SYNC,
// O_DSYNC, O_TMPFILE, O_DIRECTORY) are excluded.
func OpenFlagBit(name string) (int64, bool) {
	switch name {
	case "O_SYNC", "O_DSYNC", "O_TMPFILE", "O_DIRECTORY":
		return 0, false
	}
	for _, f := range openFlagNames {
		if f.name == name {
			return f.bit, true
		}
	}
	return 0, false
}

// OpenFlags returns the raw flags argument of an open event.
func OpenFlags(ev *event.Event) (int64, bool) {
	f, _, ok := openFlags(ev)
	return f, ok
}
