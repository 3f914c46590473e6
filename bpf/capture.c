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
// not wanted); unwanted calls cost one array lookup.
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
	EV_NUM_TYPES,
};

#define MAX_SYSCALLS 512
#define NR_EXECVE 59
#define NR_EXECVEAT 322
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
#define RF_TRUNCATED 1 // a string or argv was cut to its maximum length

#define TS_COMPAT_FLAG 0x0002
#define S_IFMT_ 00170000
#define S_IFSOCK_ 0140000
#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10

// record is the fixed header of every ring buffer record. The strings
// follow it in this order: path, path2, argv, addr_path, local_path.
struct record {
	u64 ts; // CLOCK_BOOTTIME ns
	u64 cgroup_id;
	s64 res;
	s64 args[4];
	u32 pid;
	u32 tid;
	u32 ppid;
	u32 uid;
	u32 gid;
	u32 loginuid;
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

// syscall_types maps a syscall number to the event type to report, 0 for none.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
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

// exe_scratch is where exe_path assembles a path from its last component
// backwards.
#define EXE_BUF 4096
#define EXE_DEPTH 48
#define NAME_MAX_ 255

struct exe_scratch {
	u8 buf[2 * EXE_BUF];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct exe_scratch);
} exe_scratch SEC(".maps");

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
	r->pid = pid_tgid >> 32;
	r->tid = (u32)pid_tgid;
	r->ppid = BPF_CORE_READ(task, real_parent, tgid);
	r->uid = (u32)uid_gid;
	r->gid = uid_gid >> 32;
	r->loginuid = BPF_CORE_READ(task, loginuid.val);
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

// fd_sock returns the socket behind the current task's descriptor fd, or NULL.
static __always_inline struct sock *fd_sock(struct task_struct *task, s64 fd)
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
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT_) != S_IFSOCK_)
		return NULL;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(sock, sk);
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

struct exe_walk {
	struct dentry *d;
	struct mount *mnt;
	u32 pos;
	u8 truncated;
};

// exe_step prepends one component of the walk to exe_scratch; it returns 1
// to stop at the root.
static long exe_step(u64 i, void *ctx)
{
	struct exe_walk *w = ctx;
	u32 zero = 0;
	struct exe_scratch *es = bpf_map_lookup_elem(&exe_scratch, &zero);
	if (!es)
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
	if (len > NAME_MAX_)
		len = NAME_MAX_;
	u32 pos = w->pos;
	if (pos > EXE_BUF || pos < len + 1) {
		w->truncated = 1;
		return 1;
	}
	pos -= len;
	if (len > 0)
		bpf_probe_read_kernel(&es->buf[pos & (EXE_BUF - 1)], len & NAME_MAX_, name);
	pos--;
	es->buf[pos & (EXE_BUF - 1)] = '/';
	w->pos = pos;
	w->d = parent;
	// A dentry that is its own parent below no mount root is the root of
	// an unmounted pseudo file system (memfd, anonymous files): its one
	// name, written above, is the whole path, as d_path reports it.
	return d == parent;
}

// put_exe_path writes the path of the task's executable, as seen from its
// mount namespace's root, by walking dentries and mounts upwards (bpf_d_path
// is not available to tracepoints). A path deeper than EXE_DEPTH components
// loses its top and is flagged truncated.
static __always_inline u32 put_exe_path(struct record *r, u8 *buf, u32 off, struct task_struct *task)
{
	u32 zero = 0;
	struct file *f = BPF_CORE_READ(task, mm, exe_file);
	if (!f)
		return 0;
	struct vfsmount *vfs = BPF_CORE_READ(f, f_path.mnt);
	struct exe_walk w = {
		.d = BPF_CORE_READ(f, f_path.dentry),
		.mnt = (struct mount *)((u8 *)vfs - bpf_core_field_offset(struct mount, mnt)),
		.pos = EXE_BUF,
	};
	long steps = bpf_loop(EXE_DEPTH, exe_step, &w, 0);
	if (w.truncated || steps == EXE_DEPTH)
		r->flags |= RF_TRUNCATED;
	struct exe_scratch *es = bpf_map_lookup_elem(&exe_scratch, &zero);
	if (!es)
		return 0;
	u32 pos = w.pos;
	if (pos >= EXE_BUF)
		return 0;
	u32 n = EXE_BUF - pos;
	if (n > EXE_BUF - 1)
		n = EXE_BUF - 1;
	if (bpf_probe_read_kernel(buf + (off & OFF_MASK), n, &es->buf[pos & (EXE_BUF - 1)]))
		return 0;
	return n;
}

// put_user_argv copies a user argv array (of a failed exec), at most
// MAX_EXEC_FAILED_ARGS strings, each followed by a NUL.
static __always_inline u32 put_user_argv(struct record *r, u8 *buf, u32 off, const char *const *uargv)
{
	u32 start = off;

	if (!uargv)
		return 0;
	for (int i = 0; i < MAX_EXEC_FAILED_ARGS; i++) {
		const char *arg = NULL;
		if (bpf_probe_read_user(&arg, sizeof(arg), &uargv[i]) || !arg)
			break;
		if (off - start >= MAX_ARGV - 1)
			break;
		long n = bpf_probe_read_user_str(buf + (off & OFF_MASK), MAX_PATH, arg);
		if (n <= 0)
			break;
		off += n;
	}
	u32 n = off - start;
	if (n > MAX_ARGV)
		n = MAX_ARGV;
	return n;
}

// Only execveat needs its arguments kept from entry; every other call
// returns at the first comparison.
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	if (id != NR_EXECVEAT)
		return 0;
	// Kept when either exec type is wanted: a successful execveat returns
	// as an execve and must not be reported as one.
	u32 nr = NR_EXECVEAT, nr2 = NR_EXECVE;
	u16 *tp = bpf_map_lookup_elem(&syscall_types, &nr);
	u16 *tp2 = bpf_map_lookup_elem(&syscall_types, &nr2);
	if ((!tp || !*tp) && (!tp2 || !*tp2))
		return 0;
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct execveat_args a = {
		.dirfd = (s32)regs->di,
		.flags = (s32)regs->r8,
	};
	bpf_map_update_elem(&execveats, &tgid, &a, BPF_ANY);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	u32 nr = (u32)regs->orig_ax;
	u16 *tp = bpf_map_lookup_elem(&syscall_types, &nr);
	if (!tp)
		return 0;
	u16 type = *tp;
	u32 tgid;
	struct execveat_args ea = {};

	if (nr == NR_EXECVE || nr == NR_EXECVEAT) {
		tgid = bpf_get_current_pid_tgid() >> 32;
		struct execveat_args *p = bpf_map_lookup_elem(&execveats, &tgid);
		if (p) {
			ea = *p;
			bpf_map_delete_elem(&execveats, &tgid);
			u32 k = NR_EXECVEAT;
			u16 *tpa = bpf_map_lookup_elem(&syscall_types, &k);
			type = tpa ? *tpa : 0;
		}
	}
	if (!type)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (bpf_map_lookup_elem(&exclude_pids, &tgid))
		return 0;

	struct task_struct *task = bpf_get_current_task_btf();
	// 32-bit callers use another syscall table; their numbers mean other calls.
	if (task->thread_info.status & TS_COMPAT_FLAG)
		return 0;

	u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	u8 *buf = (u8 *)s;
	struct record *r = start_record(buf, task, type, ret);

	u64 a0 = regs->di, a1 = regs->si, a2 = regs->dx;
	u64 a3 = regs->r10, a4 = regs->r8, a5 = regs->r9;
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
			n = put_user_str(r, buf, off, (const void *)BPF_CORE_READ(mm, env_end));
			r->path_len = n;
			off += n;
			n = put_exe_path(r, buf, off, task);
			r->path2_len = n;
			off += n;
			n = put_exec_argv(r, buf, off, mm);
		} else {
			const void *fname = (const void *)(type == EV_EXECVE ? a0 : a1);
			const void *argv = (const void *)(type == EV_EXECVE ? a1 : a2);
			n = put_user_str(r, buf, off, fname);
			r->path_len = n;
			off += n;
			n = put_user_argv(r, buf, off, argv);
		}
		r->argv_len = n;
		off += n;
		break;
	case EV_OPEN:
		r->args[0] = a1;
		r->args[1] = a2;
		n = put_user_str(r, buf, off, (const void *)a0);
		r->path_len = n;
		off += n;
		break;
	case EV_OPENAT:
		r->args[0] = (s32)a0;
		r->args[1] = a2;
		r->args[2] = a3;
		n = put_user_str(r, buf, off, (const void *)a1);
		r->path_len = n;
		off += n;
		break;
	case EV_OPENAT2: {
		struct open_how how = {};
		r->args[0] = (s32)a0;
		if (!bpf_probe_read_user(&how, sizeof(how), (const void *)a2)) {
			r->args[1] = how.flags;
			r->args[2] = how.mode;
			r->args[3] = how.resolve;
		}
		n = put_user_str(r, buf, off, (const void *)a1);
		r->path_len = n;
		off += n;
		break;
	}
	case EV_CONNECT:
	case EV_BIND:
		r->args[0] = (s32)a0;
		n = put_user_sockaddr(r, buf, off, (const void *)a1, a2);
		r->addr_path_len = n;
		off += n;
		put_sock(r, fd_sock(task, (s32)a0), false);
		break;
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
		struct user_msghdr msg = {};
		r->args[0] = (s32)a0;
		if (ret > 0)
			r->args[1] = ret;
		bpf_probe_read_user(&msg, sizeof(msg), (const void *)a1);
		put_sock(r, fd_sock(task, (s32)a0), msg.msg_name == NULL);
		if (msg.msg_name) {
			n = put_user_sockaddr(r, buf, off, msg.msg_name, (u32)msg.msg_namelen);
			r->addr_path_len = n;
			off += n;
		}
		break;
	}
	case EV_DUP:
	case EV_CLOSE:
	case EV_FCHDIR:
		r->args[0] = (s32)a0;
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
	case EV_CHDIR:
		n = put_user_str(r, buf, off, (const void *)a0);
		r->path_len = n;
		off += n;
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
