package capture

import (
	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// syscallTypes maps x86-64 system call numbers to the event types they are
// reported as. fchmodat2 is reported as fchmodat, as Falco does.
var syscallTypes = map[uint32]event.Type{
	unix.SYS_EXECVE:       event.Execve,
	unix.SYS_EXECVEAT:     event.Execveat,
	unix.SYS_OPEN:         event.Open,
	unix.SYS_OPENAT:       event.Openat,
	unix.SYS_OPENAT2:      event.Openat2,
	unix.SYS_CONNECT:      event.Connect,
	unix.SYS_ACCEPT:       event.Accept,
	unix.SYS_ACCEPT4:      event.Accept4,
	unix.SYS_BIND:         event.Bind,
	unix.SYS_LISTEN:       event.Listen,
	unix.SYS_SOCKET:       event.Socket,
	unix.SYS_SENDTO:       event.Sendto,
	unix.SYS_SENDMSG:      event.Sendmsg,
	unix.SYS_DUP:          event.Dup,
	unix.SYS_DUP2:         event.Dup2,
	unix.SYS_DUP3:         event.Dup3,
	unix.SYS_CLOSE:        event.Close,
	unix.SYS_SYMLINK:      event.Symlink,
	unix.SYS_SYMLINKAT:    event.Symlinkat,
	unix.SYS_LINK:         event.Link,
	unix.SYS_LINKAT:       event.Linkat,
	unix.SYS_UNLINK:       event.Unlink,
	unix.SYS_UNLINKAT:     event.Unlinkat,
	unix.SYS_RENAME:       event.Rename,
	unix.SYS_RENAMEAT:     event.Renameat,
	unix.SYS_RENAMEAT2:    event.Renameat2,
	unix.SYS_MKDIR:        event.Mkdir,
	unix.SYS_MKDIRAT:      event.Mkdirat,
	unix.SYS_CHMOD:        event.Chmod,
	unix.SYS_FCHMOD:       event.Fchmod,
	unix.SYS_FCHMODAT:     event.Fchmodat,
	unix.SYS_FCHMODAT2:    event.Fchmodat,
	unix.SYS_PTRACE:       event.Ptrace,
	unix.SYS_INIT_MODULE:  event.InitModule,
	unix.SYS_FINIT_MODULE: event.FinitModule,
	unix.SYS_SETUID:       event.Setuid,
	unix.SYS_SETGID:       event.Setgid,
	unix.SYS_SETREUID:     event.Setreuid,
	unix.SYS_SETREGID:     event.Setregid,
	unix.SYS_SETRESUID:    event.Setresuid,
	unix.SYS_SETRESGID:    event.Setresgid,
	unix.SYS_SETNS:        event.Setns,
	unix.SYS_UNSHARE:      event.Unshare,
	unix.SYS_MOUNT:        event.Mount,
	unix.SYS_MEMFD_CREATE: event.MemfdCreate,
	unix.SYS_CLONE:        event.Clone,
	unix.SYS_CLONE3:       event.Clone3,
	unix.SYS_FORK:         event.Fork,
	unix.SYS_VFORK:        event.Vfork,
	unix.SYS_CHDIR:        event.Chdir,
	unix.SYS_FCHDIR:       event.Fchdir,
}
