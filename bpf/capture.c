//go:build ignore

// SPDX-License-Identifier: (MIT OR GPL-2.0)
//
// nightjar's system call capture.
//
// One BTF tracepoint on sys_exit sees every system call as it returns. On
// x86-64 the saved user registers in pt_regs still hold the call's arguments
// at that point (only ax is overwritten by the return value), so a single
// exit-side program reports arguments and result together, and no enter-side
// program or per-thread map is needed. A successful execve is the exception:
// its registers and memory are replaced, so its filename and argv are read
// from the new image's stack (mm->env_end and mm->arg_start..arg_end), where
// the kernel has just copied them.
//
// The first thing the program does is look the syscall number up in
// syscall_types, which user space fills with the event type to report (0 =
// not wanted); unwanted calls cost one array lookup. 32-bit calls (an ia32
// process, or int $0x80 from a 64-bit one: the kernel marks both TS_COMPAT)
// have their own numbers and argument registers, and their own half of the
// table, so that they are reported as the same events as 64-bit calls.
//
// What a call acted on is taken from kernel objects where the kernel has
// them at exit, not from user memory, which another thread may rewrite
// between the kernel's read and ours: the path of the file an open returned
// and of the image an exec loaded, the working directory after chdir
// (walked up their dentries and mounts), the address a socket was bound to
// and the peer it connected to.
//
// Records are variable length: a fixed header followed by only the strings
// the event has. They are built in a per-CPU scratch buffer and copied into
// the ring buffer with bpf_ringbuf_output; a failed copy is counted in drops.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// Event types; the numbering is internal/event's Type and is checked by a Go test.
enum event_type {
	EV_UNKNOWN = 0,
	EV_EXECVE,
	EV_EXECVEAT,
	EV_OPEN,
	EV_OPENAT,
	EV_OPENAT2,
	EV_CONNECT,
	EV_ACCEPT,
	EV_ACCEPT4,
	EV_BIND,
	EV_LISTEN,
	EV_SOCKET,
	EV_SENDTO,
	EV_SENDMSG,
	EV_DUP,
	EV_DUP2,
	EV_DUP3,
	EV_CLOSE,
	EV_SYMLINK,
	EV_SYMLINKAT,
	EV_LINK,
	EV_LINKAT,
	EV_UNLINK,
	EV_UNLINKAT,
	EV_RENAME,
	EV_RENAMEAT,
	EV_RENAMEAT2,
	EV_MKDIR,
	EV_MKDIRAT,
	EV_CHMOD,
	EV_FCHMOD,
	EV_FCHMODAT,
	EV_PTRACE,
	EV_INIT_MODULE,
	EV_FINIT_MODULE,
	EV_SETUID,
	EV_SETGID,
	EV_SETREUID,
	EV_SETREGID,
	EV_SETRESUID,
	EV_SETRESGID,
	EV_SETNS,
	EV_UNSHARE,
	EV_MOUNT,
	EV_MEMFD_CREATE,
	EV_CLONE,
	EV_CLONE3,
	EV_FORK,
	EV_VFORK,
	EV_PROCEXIT,
	EV_CHDIR,
	EV_FCHDIR,
	EV_CREAT,
	EV_RMDIR,
	EV_BPF,
	EV_NUM_TYPES,
};

#define MAX_SYSCALLS 512
#define NR_EXECVE 59
#define NR_EXECVEAT 322
#define NR_IA32_EXECVE 11
#define NR_IA32_EXECVEAT 358
#define NR_IA32_SOCKETCALL 102
// syscall_types holds the 64-bit numbers, then the ia32 ones from
// COMPAT_BASE, then socketcall's sub-calls from SOCKETCALL_BASE.
#define COMPAT_BASE MAX_SYSCALLS
#define SOCKETCALL_BASE (2 * MAX_SYSCALLS)
#define MAX_SOCKETCALL 32
#define MAX_TYPES 64
#define MAX_PATH 4096
#define MAX_ARGV 4096
#define MAX_UNIX_PATH 108
#define MAX_EXEC_FAILED_ARGS 16
// Strings start at an offset masked with OFF_MASK, so that the verifier can
// prove that a string of up to MAX_PATH bytes fits the scratch buffer. Real
// offsets never exceed it: header + 3 * 4096 + 2 * 108 < 16384.
#define OFF_MASK 16383
#define SCRATCH_SIZE (16384 + 4096)

#define RECORD_MAGIC 0x4a4e

// Record flags.
#define RF_TRUNCATED 1       // a string or argv was cut to its maximum length
#define RF_PATH2_TRUNCATED 2 // the kernel-resolved path lost its top
#define RF_COMPAT 4          // a 32-bit (ia32) system call

#define TS_COMPAT_FLAG 0x0002
#define S_IFMT_ 00170000
#define S_IFSOCK_ 0140000
#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10
#define EINPROGRESS_ 115
#define O_WRONLY_ 01
#define O_CREAT_ 0100
#define O_TRUNC_ 01000

// record is the fixed header of every ring buffer record. The strings
// follow it in this order: path, path2, argv, addr_path, local_path. For a
// successful exec, open, chdir or fchdir, path2 is the path the kernel
// resolved (of the new image, the opened file, the new working directory);
// path is always the caller's argument.
struct record {
	u64 ts; // CLOCK_BOOTTIME ns
	u64 cgroup_id;
	s64 res;
	s64 args[4];
	// The calling thread's capability sets.
	u64 cap_effective;
	u64 cap_permitted;
	u64 cap_inheritable;
	// The inode of the file an open returned or of an exec's new image;
	// its change and modification times (ns since the epoch) for an exec.
	u64 ino;
	s64 ino_ctime;
	s64 ino_mtime;
	u32 pid;
	u32 tid;
	u32 ppid;
	u32 uid;
	u32 gid;
	u32 loginuid;
	// The caller's process, process group and session ids in its own pid
	// namespace.
	u32 vpid;
	u32 vpgid;
	u32 vsid;
	char comm[16];
	u16 type;
	u16 path_len;
	u16 path2_len;
	u16 argv_len;
	u16 addr_path_len;
	u16 local_path_len;
	u8 proto;
	u8 flags;
	u16 addr_family;
	u16 addr_port;
	u16 local_family;
	u16 local_port;
	u8 addr_ip[16];
	u8 local_ip[16];
	u16 magic;
};

struct scratch {
	struct record hdr;
	u8 data[SCRATCH_SIZE - sizeof(struct record)];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps");

// syscall_types maps a syscall number to the event type to report, 0 for
// none: 64-bit numbers, ia32 numbers + COMPAT_BASE, and socketcall's call
// numbers + SOCKETCALL_BASE.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * MAX_SYSCALLS + MAX_SOCKETCALL);
	__type(key, u32);
	__type(value, u16);
} syscall_types SEC(".maps");

// type_enabled switches the events that are not system calls (procexit).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_TYPES);
	__type(key, enum event_type);
	__type(value, u8);
} type_enabled SEC(".maps");

// exclude_pids holds the thread group ids whose calls are not reported.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u8);
} exclude_pids SEC(".maps");

// execveat_args keeps, per thread group, the arguments of an execveat in
// progress: a successful exec replaces the registers, and on return the
// kernel reports it with execve's number.
struct execveat_args {
	s64 dirfd;
	s64 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, struct execveat_args);
} execveats SEC(".maps");

// path_scratch is where put_file_path assembles a path from its last
// component backwards.
#define PATH_BUF 4096
#define PATH_DEPTH 256
#define NAME_MAX_ 255

struct path_scratch {
	u8 buf[2 * PATH_BUF];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct path_scratch);
} path_scratch SEC(".maps");

// drops counts records lost because the ring buffer was full.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct scratch);
} scratch SEC(".maps");


// ns_nr returns pid's number in the pid namespace at level, 0 when the pid
// is not visible there (it belongs to an ancestor namespace only).
static __always_inline u32 ns_nr(struct pid *pid, unsigned int level)
{
	int nr = 0;
	if (!pid || BPF_CORE_READ(pid, level) < level)
		return 0;
	bpf_core_read(&nr, sizeof(nr), &pid->numbers[level & 31].nr);
	return nr;
}

static __always_inline struct record *start_record(u8 *buf, struct task_struct *task, enum event_type type, s64 res)
{
	struct record *r = (struct record *)buf;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u64 uid_gid = bpf_get_current_uid_gid();

	r->ts = bpf_ktime_get_boot_ns();
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->res = res;
	r->args[0] = 0;
	r->args[1] = 0;
	r->args[2] = 0;
	r->args[3] = 0;
	// kernel_cap_t is one u64 from 6.3, two u32 (the same bytes) before.
	const struct cred *cred = BPF_CORE_READ(task, cred);
	r->cap_effective = 0;
	r->cap_permitted = 0;
	r->cap_inheritable = 0;
	bpf_core_read(&r->cap_effective, sizeof(u64), &cred->cap_effective);
	bpf_core_read(&r->cap_permitted, sizeof(u64), &cred->cap_permitted);
	bpf_core_read(&r->cap_inheritable, sizeof(u64), &cred->cap_inheritable);
	r->ino = 0;
	r->ino_ctime = 0;
	r->ino_mtime = 0;
	r->pid = pid_tgid >> 32;
	r->tid = (u32)pid_tgid;
	r->ppid = BPF_CORE_READ(task, real_parent, tgid);
	r->uid = (u32)uid_gid;
	r->gid = uid_gid >> 32;
	r->loginuid = BPF_CORE_READ(task, loginuid.val);
	// Ids in the caller's own pid namespace: the entry at its level.
	unsigned int level = BPF_CORE_READ(task, thread_pid, level);
	r->vpid = ns_nr(BPF_CORE_READ(task, signal, pids[PIDTYPE_TGID]), level);
	r->vpgid = ns_nr(BPF_CORE_READ(task, signal, pids[PIDTYPE_PGID]), level);
	r->vsid = ns_nr(BPF_CORE_READ(task, signal, pids[PIDTYPE_SID]), level);
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->type = type;
	r->path_len = 0;
	r->path2_len = 0;
	r->argv_len = 0;
	r->addr_path_len = 0;
	r->local_path_len = 0;
	r->proto = 0;
	r->flags = 0;
	r->addr_family = 0;
	r->addr_port = 0;
	r->local_family = 0;
	r->local_port = 0;
	__builtin_memset(r->addr_ip, 0, sizeof(r->addr_ip));
	__builtin_memset(r->local_ip, 0, sizeof(r->local_ip));
	r->magic = RECORD_MAGIC;
	return r;
}

// put_user_str copies the user string at uptr to buf+off and returns its
// length without the NUL (0 when it cannot be read).
static __always_inline u32 put_user_str(struct record *r, u8 *buf, u32 off, const void *uptr)
{
	if (!uptr)
		return 0;
	long n = bpf_probe_read_user_str(buf + (off & OFF_MASK), MAX_PATH, uptr);
	if (n <= 0)
		return 0;
	if (n == MAX_PATH)
		r->flags |= RF_TRUNCATED;
	return n - 1;
}

// put_user_sockaddr decodes a user sockaddr of alen bytes into the record's
// Addr; a Unix socket path goes to buf+off and its length is returned.
static __always_inline u32 put_user_sockaddr(struct record *r, u8 *buf, u32 off, const void *uaddr, u64 alen)
{
	u16 family = 0;

	if (!uaddr || alen < 2)
		return 0;
	if (bpf_probe_read_user(&family, sizeof(family), uaddr))
		return 0;
	r->addr_family = family;
	if (family == AF_INET_) {
		struct sockaddr_in sin = {};
		if (alen < sizeof(sin) || bpf_probe_read_user(&sin, sizeof(sin), uaddr))
			return 0;
		r->addr_port = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(r->addr_ip, &sin.sin_addr.s_addr, 4);
	} else if (family == AF_INET6_) {
		struct sockaddr_in6 sin6 = {};
		if (alen < sizeof(sin6) || bpf_probe_read_user(&sin6, sizeof(sin6), uaddr))
			return 0;
		r->addr_port = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(r->addr_ip, &sin6.sin6_addr, 16);
	} else if (family == AF_UNIX_) {
		u64 n = alen - 2;
		if (n > MAX_UNIX_PATH)
			n = MAX_UNIX_PATH;
		if (n == 0)
			return 0;
		if (bpf_probe_read_user(buf + (off & OFF_MASK), n, (const u8 *)uaddr + 2))
			return 0;
		return n;
	}
	return 0;
}

// fd_file returns the current task's open file behind descriptor fd, or NULL.
static __always_inline struct file *fd_file(struct task_struct *task, s64 fd)
{
	struct file **fds;
	struct file *f = NULL;
	unsigned int max;

	if (fd < 0)
		return NULL;
	max = BPF_CORE_READ(task, files, fdt, max_fds);
	if ((u64)fd >= max)
		return NULL;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

// fd_sock returns the socket behind the current task's descriptor fd, or NULL.
static __always_inline struct sock *fd_sock(struct task_struct *task, s64 fd)
{
	struct file *f = fd_file(task, fd);
	if (!f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT_) != S_IFSOCK_)
		return NULL;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(sock, sk);
}

// put_unix_addr writes the address a Unix socket is bound to to buf+off
// and returns its length, or 0 for an unbound socket.
static __always_inline u32 put_unix_addr(u8 *buf, u32 off, struct unix_sock *us)
{
	if (!us)
		return 0;
	struct unix_address *addr = BPF_CORE_READ(us, addr);
	if (!addr)
		return 0;
	int len = BPF_CORE_READ(addr, len);
	if (len <= 2)
		return 0;
	u32 n = len - 2;
	if (n > MAX_UNIX_PATH)
		n = MAX_UNIX_PATH;
	if (bpf_probe_read_kernel(buf + (off & OFF_MASK), n, (u8 *)addr->name + 2))
		return 0;
	return n;
}

// put_unix_peer writes the bound path of a connected Unix socket's peer.
static __always_inline u32 put_unix_peer(u8 *buf, u32 off, struct sock *sk)
{
	return put_unix_addr(buf, off, (struct unix_sock *)BPF_CORE_READ((struct unix_sock *)sk, peer));
}

// put_sock fills Local, and Addr when remote is set, from the socket's own
// view of its ends, and the IP protocol.
static __always_inline void put_sock(struct record *r, struct sock *sk, bool remote)
{
	if (!sk)
		return;
	u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	r->proto = BPF_CORE_READ(sk, sk_protocol);
	r->local_family = family;
	if (family == AF_INET_) {
		u32 ip = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(r->local_ip, &ip, 4);
		r->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
		if (remote) {
			r->addr_family = family;
			ip = BPF_CORE_READ(sk, __sk_common.skc_daddr);
			__builtin_memcpy(r->addr_ip, &ip, 4);
			r->addr_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		}
	} else if (family == AF_INET6_) {
		BPF_CORE_READ_INTO(&r->local_ip, sk, __sk_common.skc_v6_rcv_saddr);
		r->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
		if (remote) {
			r->addr_family = family;
			BPF_CORE_READ_INTO(&r->addr_ip, sk, __sk_common.skc_v6_daddr);
			r->addr_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		}
	} else if (remote) {
		r->addr_family = family;
	}
}

static __always_inline void count_drop(void)
{
	u32 zero = 0;
	u64 *n = bpf_map_lookup_elem(&drops, &zero);
	if (n)
		*n += 1;
}

// wakeup_bytes, set at load, batches reader wake-ups: a record wakes the
// reader only when this many bytes are waiting (user space polls for the
// rest). 0 wakes it for every record.
const volatile u64 wakeup_bytes = 0;

static __always_inline void submit(u8 *buf, u32 size)
{
	u64 flags = 0;

	if (size > SCRATCH_SIZE)
		return;
	if (wakeup_bytes)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, buf, size, flags))
		count_drop();
}

// put_exec_argv copies the new image's argument strings.
static __always_inline u32 put_exec_argv(struct record *r, u8 *buf, u32 off, struct mm_struct *mm)
{
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	u64 n;

	if (end <= start)
		return 0;
	n = end - start;
	if (n > MAX_ARGV) {
		n = MAX_ARGV;
		r->flags |= RF_TRUNCATED;
	}
	if (bpf_probe_read_user(buf + (off & OFF_MASK), n, (const void *)start))
		return 0;
	return n;
}

struct path_walk {
	struct dentry *d;
	struct mount *mnt;
	u32 pos;
	u8 truncated;
	u8 anon;
};

// path_step prepends one component of the walk to path_scratch; it returns
// 1 to stop at the root.
static long path_step(u64 i, void *ctx)
{
	struct path_walk *w = ctx;
	u32 zero = 0;
	struct path_scratch *ps = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!ps)
		return 1;
	struct dentry *d = w->d;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == mnt_root) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (up == mnt)
			return 1; // the namespace's root
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		return 0;
	}
	u32 len = BPF_CORE_READ(d, d_name.len);
	const u8 *name = BPF_CORE_READ(d, d_name.name);
	if (len == 0 && d == parent) {
		// A pipe, socket or anonymous inode: d_path makes its name
		// ("pipe:[123]") with d_op->d_dname, which a walk cannot.
		w->anon = 1;
		return 1;
	}
	if (len > NAME_MAX_)
		len = NAME_MAX_;
	u32 pos = w->pos;
	if (pos > PATH_BUF || pos < len + 1) {
		w->truncated = 1;
		return 1;
	}
	pos -= len;
	if (len > 0)
		bpf_probe_read_kernel(&ps->buf[pos & (PATH_BUF - 1)], len & NAME_MAX_, name);
	pos--;
	ps->buf[pos & (PATH_BUF - 1)] = '/';
	w->pos = pos;
	w->d = parent;
	// A dentry that is its own parent below no mount root is the root of
	// an unmounted pseudo file system (memfd, anonymous files): its one
	// name, written above, is the whole path, as d_path reports it.
	return d == parent;
}

// walk_path assembles in path_scratch the path of the dentry d on the
// mount vfs, as seen from its mount namespace's root, by walking dentries
// and mounts upwards (bpf_d_path is not available to tracepoints). It
// returns the path's start in the buffer, with PATH_TRUNCATED set when the
// path was longer than PATH_BUF bytes or deeper than PATH_DEPTH components
// and lost its top. A global function, so that the verifier checks it once
// rather than on every path of its callers.
#define PATH_TRUNCATED (1 << 16)
#define PATH_ANON (1 << 17) // no path: a pipe, socket or anonymous inode
#define DELETED " (deleted)"

__attribute__((noinline)) int walk_path(u64 d, u64 vfs)
{
	struct path_walk w = {
		.d = (struct dentry *)d,
		.mnt = (struct mount *)(vfs - bpf_core_field_offset(struct mount, mnt)),
		.pos = PATH_BUF,
	};
	// An unlinked file (unhashed, and not a file system's root) is named
	// as d_path names it, "<path> (deleted)".
	struct dentry *leaf = (struct dentry *)d;
	if (!BPF_CORE_READ(leaf, d_hash.pprev) && BPF_CORE_READ(leaf, d_parent) != leaf) {
		u32 zero = 0;
		struct path_scratch *ps = bpf_map_lookup_elem(&path_scratch, &zero);
		if (ps) {
			__builtin_memcpy(&ps->buf[PATH_BUF - sizeof(DELETED) + 1], DELETED, sizeof(DELETED) - 1);
			w.pos = PATH_BUF - sizeof(DELETED) + 1;
		}
	}
	long steps = bpf_loop(PATH_DEPTH, path_step, &w, 0);
	int res = w.pos & (2 * PATH_BUF - 1);
	if (w.truncated || steps == PATH_DEPTH)
		res |= PATH_TRUNCATED;
	if (w.anon)
		res |= PATH_ANON;
	return res;
}

// put_path writes the path of the dentry d on the mount vfs to buf+off and
// returns its length.
static __always_inline u32 put_path(struct record *r, u8 *buf, u32 off, struct dentry *d, struct vfsmount *vfs)
{
	u32 zero = 0;
	if (!d || !vfs)
		return 0;
	int res = walk_path((u64)d, (u64)vfs);
	if (res & PATH_ANON)
		return 0;
	if (res & PATH_TRUNCATED)
		r->flags |= RF_PATH2_TRUNCATED;
	struct path_scratch *ps = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!ps)
		return 0;
	u32 pos = res & (2 * PATH_BUF - 1);
	if (pos >= PATH_BUF)
		return 0;
	u32 n = PATH_BUF - pos;
	if (n > PATH_BUF - 1)
		n = PATH_BUF - 1;
	if (bpf_probe_read_kernel(buf + (off & OFF_MASK), n, &ps->buf[pos & (PATH_BUF - 1)]))
		return 0;
	return n;
}

// put_file_path writes the path of the open file f to buf+off and returns
// its length.
static __always_inline u32 put_file_path(struct record *r, u8 *buf, u32 off, struct file *f)
{
	if (!f)
		return 0;
	return put_path(r, buf, off, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt));
}

// put_cwd writes the task's working directory.
static __always_inline u32 put_cwd(struct record *r, u8 *buf, u32 off, struct task_struct *task)
{
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	return put_path(r, buf, off, BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt));
}

// Inode time stamps moved between kernels: timespec64 i_ctime (up to 6.5),
// __i_ctime (6.6), __i_mtime (6.7 to 6.10), then separate seconds and
// nanoseconds (6.11 on, vmlinux.h's layout).
struct inode___v65 {
	struct timespec64 i_mtime;
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

struct inode___v66 {
	struct timespec64 i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct inode___v67 {
	struct timespec64 __i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

#define NSEC_MASK ((1U << 30) - 1)

static __always_inline s64 ts_ns(struct timespec64 *ts)
{
	return ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

// put_inode records the inode number of f and, with times set, its change
// and modification times.
static __always_inline void put_inode(struct record *r, struct file *f, bool times)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	if (!ino)
		return;
	r->ino = BPF_CORE_READ(ino, i_ino);
	if (!times)
		return;
	if (bpf_core_field_exists(ino->i_ctime_sec)) {
		// Multigrain time stamps (6.13 on) keep a flag in the top bits
		// of i_ctime_nsec; nanoseconds fit 30 bits.
		r->ino_ctime = BPF_CORE_READ(ino, i_ctime_sec) * 1000000000LL + (BPF_CORE_READ(ino, i_ctime_nsec) & NSEC_MASK);
		r->ino_mtime = BPF_CORE_READ(ino, i_mtime_sec) * 1000000000LL + BPF_CORE_READ(ino, i_mtime_nsec);
		return;
	}
	struct timespec64 c = {}, m = {};
	struct inode___v67 *i67 = (void *)ino;
	struct inode___v66 *i66 = (void *)ino;
	struct inode___v65 *i65 = (void *)ino;
	if (bpf_core_field_exists(i67->__i_mtime)) {
		BPF_CORE_READ_INTO(&c, i67, __i_ctime);
		BPF_CORE_READ_INTO(&m, i67, __i_mtime);
	} else if (bpf_core_field_exists(i66->__i_ctime)) {
		BPF_CORE_READ_INTO(&c, i66, __i_ctime);
		BPF_CORE_READ_INTO(&m, i66, i_mtime);
	} else {
		BPF_CORE_READ_INTO(&c, i65, i_ctime);
		BPF_CORE_READ_INTO(&m, i65, i_mtime);
	}
	r->ino_ctime = ts_ns(&c);
	r->ino_mtime = ts_ns(&m);
}

// put_user_argv copies a user argv array (of a failed exec), at most
// MAX_EXEC_FAILED_ARGS strings, each followed by a NUL. A 32-bit caller's
// array holds 32-bit pointers.
static __always_inline u32 put_user_argv(struct record *r, u8 *buf, u32 off, const u8 *uargv, bool compat)
{
	u32 start = off;
	u32 psize = compat ? 4 : 8;

	if (!uargv)
		return 0;
	for (int i = 0; i < MAX_EXEC_FAILED_ARGS; i++) {
		u64 arg = 0;
		if (bpf_probe_read_user(&arg, psize & 12, uargv + i * psize) || !arg)
			break;
		if (off - start >= MAX_ARGV - 1)
			break;
		long n = bpf_probe_read_user_str(buf + (off & OFF_MASK), MAX_PATH, (const void *)arg);
		if (n <= 0)
			break;
		off += n;
	}
	u32 n = off - start;
	if (n > MAX_ARGV)
		n = MAX_ARGV;
	return n;
}

static __always_inline bool is_compat(struct task_struct *task)
{
	return task->thread_info.status & TS_COMPAT_FLAG;
}

static __always_inline bool type_on(enum event_type t)
{
	u8 *on = bpf_map_lookup_elem(&type_enabled, &t);
	return on && *on;
}

// Only execveat needs its arguments kept from entry; every other call
// returns at the first comparisons.
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	if (id != NR_EXECVEAT && id != NR_IA32_EXECVEAT)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	bool compat = is_compat(task);
	if (id != (compat ? NR_IA32_EXECVEAT : NR_EXECVEAT))
		return 0;
	// Kept when either exec type is wanted: a successful execveat returns
	// as an execve and must not be reported as one.
	if (!type_on(EV_EXECVEAT) && !type_on(EV_EXECVE))
		return 0;
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct execveat_args a = {
		.dirfd = compat ? (s32)regs->bx : (s32)regs->di,
		.flags = compat ? (s32)regs->di : (s32)regs->r8,
	};
	bpf_map_update_elem(&execveats, &tgid, &a, BPF_ANY);
	return 0;
}

// uid16 widens a 16-bit id argument of the old ia32 set*id calls, whose -1
// ("unchanged") is 0xffff.
static __always_inline u64 uid16(u64 v)
{
	v &= 0xffff;
	return v == 0xffff ? 0xffffffff : v;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	bool compat = is_compat(task);
	u32 nr = (u32)regs->orig_ax;
	if (nr >= MAX_SYSCALLS)
		return 0;
	u32 key = compat ? nr + COMPAT_BASE : nr;
	u16 *tp = bpf_map_lookup_elem(&syscall_types, &key);
	if (!tp)
		return 0;
	u16 type = *tp;
	u32 tgid;
	struct execveat_args ea = {};

	// An exec that switched the image's width reports with the new width's
	// execve number: the kernel rewrites orig_ax and TS_COMPAT.
	if (compat ? (nr == NR_IA32_EXECVE || nr == NR_IA32_EXECVEAT) : (nr == NR_EXECVE || nr == NR_EXECVEAT)) {
		tgid = bpf_get_current_pid_tgid() >> 32;
		struct execveat_args *p = bpf_map_lookup_elem(&execveats, &tgid);
		if (p) {
			ea = *p;
			bpf_map_delete_elem(&execveats, &tgid);
			type = type_on(EV_EXECVEAT) ? EV_EXECVEAT : 0;
		}
	}
	if (!type && !(compat && nr == NR_IA32_SOCKETCALL))
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (bpf_map_lookup_elem(&exclude_pids, &tgid))
		return 0;

	u64 a0, a1, a2, a3, a4, a5;
	if (compat) {
		// The kernel uses the low 32 bits of each register.
		a0 = (u32)regs->bx;
		a1 = (u32)regs->cx;
		a2 = (u32)regs->dx;
		a3 = (u32)regs->si;
		a4 = (u32)regs->di;
		a5 = (u32)regs->bp;
	} else {
		a0 = regs->di;
		a1 = regs->si;
		a2 = regs->dx;
		a3 = regs->r10;
		a4 = regs->r8;
		a5 = regs->r9;
	}
	if (compat && nr == NR_IA32_SOCKETCALL) {
		// socketcall(call, args): the call's arguments are an array of
		// 32-bit values in user memory.
		if (a0 >= MAX_SOCKETCALL)
			return 0;
		key = SOCKETCALL_BASE + a0;
		tp = bpf_map_lookup_elem(&syscall_types, &key);
		if (!tp || !*tp)
			return 0;
		type = *tp;
		u32 sa[6] = {};
		bpf_probe_read_user(sa, sizeof(sa), (const void *)a1);
		a0 = sa[0];
		a1 = sa[1];
		a2 = sa[2];
		a3 = sa[3];
		a4 = sa[4];
		a5 = sa[5];
	} else if (compat && (nr == 23 || nr == 46 || nr == 70 || nr == 71 || nr == 164 || nr == 170)) {
		// setuid, setgid, setreuid, setregid, setresuid, setresgid
		// with 16-bit ids.
		a0 = uid16(a0);
		a1 = uid16(a1);
		a2 = uid16(a2);
	}

	u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	u8 *buf = (u8 *)s;
	struct record *r = start_record(buf, task, type, ret);
	if (compat)
		r->flags |= RF_COMPAT;
	u32 off = sizeof(struct record);
	u32 n = 0;

	switch (type) {
	case EV_EXECVE:
	case EV_EXECVEAT:
		if (type == EV_EXECVEAT) {
			r->args[0] = ea.dirfd;
			r->args[1] = ea.flags;
		}
		if (ret == 0) {
			struct mm_struct *mm = BPF_CORE_READ(task, mm);
			struct file *exe = BPF_CORE_READ(mm, exe_file);
			n = put_user_str(r, buf, off, (const void *)BPF_CORE_READ(mm, env_end));
			r->path_len = n;
			off += n;
			n = put_file_path(r, buf, off, exe);
			r->path2_len = n;
			off += n;
			put_inode(r, exe, true);
			n = put_exec_argv(r, buf, off, mm);
		} else {
			const void *fname = (const void *)(type == EV_EXECVE ? a0 : a1);
			const u8 *argv = (const u8 *)(type == EV_EXECVE ? a1 : a2);
			n = put_user_str(r, buf, off, fname);
			r->path_len = n;
			off += n;
			n = put_user_argv(r, buf, off, argv, compat);
		}
		r->argv_len = n;
		off += n;
		break;
	case EV_OPEN:
	case EV_CREAT:
	case EV_OPENAT:
	case EV_OPENAT2: {
		const void *name = (const void *)a1;
		if (type == EV_OPEN) {
			name = (const void *)a0;
			r->args[0] = a1;
			r->args[1] = a2;
		} else if (type == EV_CREAT) {
			// creat is open with these flags, and they are what the
			// rules test (evt.arg.flags contains O_CREAT).
			name = (const void *)a0;
			r->args[0] = O_CREAT_ | O_WRONLY_ | O_TRUNC_;
			r->args[1] = a1;
		} else if (type == EV_OPENAT) {
			r->args[0] = (s32)a0;
			r->args[1] = a2;
			r->args[2] = a3;
		} else {
			struct open_how how = {};
			r->args[0] = (s32)a0;
			if (!bpf_probe_read_user(&how, sizeof(how), (const void *)a2)) {
				r->args[1] = how.flags;
				r->args[2] = how.mode;
				r->args[3] = how.resolve;
			}
		}
		// The name as the caller passed it, which another thread may
		// have changed since the kernel read it, then the path of the
		// file the kernel actually opened.
		n = put_user_str(r, buf, off, name);
		r->path_len = n;
		off += n;
		if (ret >= 0) {
			struct file *f = fd_file(task, ret);
			n = put_file_path(r, buf, off, f);
			r->path2_len = n;
			off += n;
			if (f)
				put_inode(r, f, false);
		}
		break;
	}
	case EV_CONNECT: {
		r->args[0] = (s32)a0;
		struct sock *sk = fd_sock(task, (s32)a0);
		if (sk && (ret == 0 || ret == -EINPROGRESS_)) {
			// The peer the socket is connected to, not the address
			// the caller's memory holds now.
			put_sock(r, sk, true);
			if (r->addr_family == AF_UNIX_) {
				n = put_unix_peer(buf, off, sk);
				r->addr_path_len = n;
				off += n;
			}
			break;
		}
		n = put_user_sockaddr(r, buf, off, (const void *)a1, a2);
		r->addr_path_len = n;
		off += n;
		put_sock(r, sk, false);
		break;
	}
	case EV_BIND: {
		r->args[0] = (s32)a0;
		struct sock *sk = fd_sock(task, (s32)a0);
		put_sock(r, sk, false);
		if (sk && ret == 0 && (r->local_family == AF_INET_ || r->local_family == AF_INET6_)) {
			// The address the socket is bound to.
			r->addr_family = r->local_family;
			r->addr_port = r->local_port;
			__builtin_memcpy(r->addr_ip, r->local_ip, sizeof(r->addr_ip));
			break;
		}
		if (sk && ret == 0 && r->local_family == AF_UNIX_) {
			r->addr_family = AF_UNIX_;
			n = put_unix_addr(buf, off, (struct unix_sock *)sk);
			r->addr_path_len = n;
			off += n;
			break;
		}
		n = put_user_sockaddr(r, buf, off, (const void *)a1, a2);
		r->addr_path_len = n;
		off += n;
		break;
	}
	case EV_ACCEPT:
	case EV_ACCEPT4:
		r->args[0] = (s32)a0;
		if (type == EV_ACCEPT4)
			r->args[1] = (s32)a3;
		put_sock(r, fd_sock(task, ret), true);
		break;
	case EV_LISTEN:
		r->args[0] = (s32)a0;
		r->args[1] = (s32)a1;
		put_sock(r, fd_sock(task, (s32)a0), false);
		break;
	case EV_SOCKET:
		r->args[0] = (s32)a0;
		r->args[1] = (s32)a1;
		r->args[2] = (s32)a2;
		put_sock(r, fd_sock(task, ret), false);
		break;
	case EV_SENDTO:
		r->args[0] = (s32)a0;
		r->args[1] = a2;
		put_sock(r, fd_sock(task, (s32)a0), a4 == 0);
		if (a4) {
			n = put_user_sockaddr(r, buf, off, (const void *)a4, a5);
			r->addr_path_len = n;
			off += n;
		}
		break;
	case EV_SENDMSG: {
		u64 name = 0;
		u32 namelen = 0;
		r->args[0] = (s32)a0;
		if (ret > 0)
			r->args[1] = ret;
		if (compat) {
			struct compat_msghdr cmsg = {};
			bpf_probe_read_user(&cmsg, sizeof(cmsg), (const void *)a1);
			name = cmsg.msg_name;
			namelen = cmsg.msg_namelen;
		} else {
			struct user_msghdr msg = {};
			bpf_probe_read_user(&msg, sizeof(msg), (const void *)a1);
			name = (u64)msg.msg_name;
			namelen = msg.msg_namelen;
		}
		put_sock(r, fd_sock(task, (s32)a0), name == 0);
		if (name) {
			n = put_user_sockaddr(r, buf, off, (const void *)name, namelen);
			r->addr_path_len = n;
			off += n;
		}
		break;
	}
	case EV_DUP:
	case EV_CLOSE:
		r->args[0] = (s32)a0;
		break;
	case EV_FCHDIR:
		r->args[0] = (s32)a0;
		if (ret == 0) {
			n = put_cwd(r, buf, off, task);
			r->path2_len = n;
			off += n;
		}
		break;
	case EV_DUP2:
	case EV_DUP3:
		r->args[0] = (s32)a0;
		r->args[1] = (s32)a1;
		r->args[2] = (s32)a2;
		if (type == EV_DUP2)
			r->args[2] = 0;
		break;
	case EV_SYMLINK:
	case EV_LINK:
	case EV_RENAME:
		n = put_user_str(r, buf, off, (const void *)a0);
		r->path_len = n;
		off += n;
		n = put_user_str(r, buf, off, (const void *)a1);
		r->path2_len = n;
		off += n;
		break;
	case EV_SYMLINKAT:
		r->args[0] = (s32)a1;
		n = put_user_str(r, buf, off, (const void *)a0);
		r->path_len = n;
		off += n;
		n = put_user_str(r, buf, off, (const void *)a2);
		r->path2_len = n;
		off += n;
		break;
	case EV_LINKAT:
	case EV_RENAMEAT:
	case EV_RENAMEAT2:
		r->args[0] = (s32)a0;
		r->args[1] = (s32)a2;
		if (type != EV_RENAMEAT)
			r->args[2] = (s32)a4;
		n = put_user_str(r, buf, off, (const void *)a1);
		r->path_len = n;
		off += n;
		n = put_user_str(r, buf, off, (const void *)a3);
		r->path2_len = n;
		off += n;
		break;
	case EV_UNLINK:
	case EV_RMDIR:
	case EV_CHDIR:
		n = put_user_str(r, buf, off, (const void *)a0);
		r->path_len = n;
		off += n;
		if (type == EV_CHDIR && ret == 0) {
			n = put_cwd(r, buf, off, task);
			r->path2_len = n;
			off += n;
		}
		break;
	case EV_MKDIR:
	case EV_CHMOD:
	case EV_MEMFD_CREATE:
		r->args[0] = (u32)a1;
		n = put_user_str(r, buf, off, (const void *)a0);
		r->path_len = n;
		off += n;
		break;
	case EV_UNLINKAT:
	case EV_MKDIRAT:
	case EV_FCHMODAT:
		r->args[0] = (s32)a0;
		r->args[1] = (u32)a2;
		n = put_user_str(r, buf, off, (const void *)a1);
		r->path_len = n;
		off += n;
		break;
	case EV_FCHMOD:
		r->args[0] = (s32)a0;
		r->args[1] = (u32)a1;
		break;
	case EV_PTRACE:
		r->args[0] = a0;
		r->args[1] = (s32)a1;
		break;
	case EV_INIT_MODULE:
		r->args[0] = a1;
		break;
	case EV_BPF:
		r->args[0] = (s32)a0;
		break;
	case EV_FINIT_MODULE:
		r->args[0] = (s32)a0;
		r->args[1] = (s32)a2;
		break;
	case EV_SETUID:
	case EV_SETGID:
	case EV_UNSHARE:
		r->args[0] = (u32)a0;
		break;
	case EV_SETREUID:
	case EV_SETREGID:
	case EV_SETNS:
		r->args[0] = (s32)a0;
		r->args[1] = (s32)a1;
		if (type != EV_SETNS) {
			r->args[0] = (u32)a0;
			r->args[1] = (u32)a1;
		}
		break;
	case EV_SETRESUID:
	case EV_SETRESGID:
		r->args[0] = (u32)a0;
		r->args[1] = (u32)a1;
		r->args[2] = (u32)a2;
		break;
	case EV_MOUNT:
		r->args[0] = a3;
		n = put_user_str(r, buf, off, (const void *)a0);
		r->path_len = n;
		off += n;
		n = put_user_str(r, buf, off, (const void *)a1);
		r->path2_len = n;
		off += n;
		break;
	case EV_CLONE:
		r->args[0] = a0;
		break;
	case EV_CLONE3: {
		// Only the parent reads clone_args: a new thread shares the
		// parent's memory, which may have changed by the time it runs.
		u64 flags = 0;
		if (ret != 0)
			bpf_probe_read_user(&flags, sizeof(flags), (const void *)a0);
		r->args[0] = flags;
		break;
	}
	default:
		break;
	}

	submit(buf, off);
	return 0;
}

// Process exit: reported once per process, when its last thread exits.
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit, struct task_struct *p)
{
	enum event_type key = EV_PROCEXIT;
	// signal->live has already counted this thread out; 0 means it was the
	// last one. (Newer kernels pass group_dead, older ones do not.)
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	// An exec killed after the point of no return never reaches sys_exit.
	bpf_map_delete_elem(&execveats, &tgid);
	u8 *on = bpf_map_lookup_elem(&type_enabled, &key);
	if (!on || !*on)
		return 0;
	if (bpf_map_lookup_elem(&exclude_pids, &tgid))
		return 0;

	u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	struct record *r = start_record((u8 *)s, bpf_get_current_task_btf(), EV_PROCEXIT, 0);
	r->args[0] = BPF_CORE_READ(p, exit_code);
	submit((u8 *)s, sizeof(struct record));
	return 0;
}
