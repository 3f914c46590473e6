package capture

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel tests start this test binary again with helperEnv set; it then
// makes the system calls named by its arguments and exits, so that the
// events of one known process can be checked field by field.
const helperEnv = "NIGHTJAR_CAPTURE_HELPER"

func str(s string) uintptr {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	return uintptr(unsafe.Pointer(p))
}

func str2(s string) *byte {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	return p
}

// syscall makes one raw system call, as the test expects it, without the
// wrappers that might pick another call (open vs openat, dup2 vs dup3).
func syscall(nr uintptr, args ...uintptr) uintptr {
	var a [6]uintptr
	copy(a[:], args)
	r, _, _ := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	return r
}

func runHelper(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no helper action")
	}
	arg := func(i int) string { return args[i] }
	switch args[0] {
	case "openat":
		syscall(unix.SYS_OPENAT, uintptr(unix.AT_FDCWD&0xffffffff), str(arg(1)), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o640)
	case "openat-loop":
		n, _ := strconv.Atoi(arg(2))
		for i := 0; n < 0 || i < n; i++ {
			fd := syscall(unix.SYS_OPENAT, uintptr(unix.AT_FDCWD&0xffffffff), str(arg(1)), unix.O_RDONLY)
			unix.Close(int(fd))
		}
	case "open":
		syscall(unix.SYS_OPEN, str(arg(1)), unix.O_RDONLY)
	case "exec":
		return unix.Exec(arg(1), args[1:], nil)
	case "execveat":
		name, _ := unix.BytePtrFromString(arg(1))
		x, _ := unix.BytePtrFromString("x")
		argv := []*byte{name, x, nil}
		env := []*byte{nil}
		syscall(unix.SYS_EXECVEAT, uintptr(unix.AT_FDCWD&0xffffffff), str(arg(1)), uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&env[0])), 0)
		return fmt.Errorf("execveat returned")
	case "connect":
		port, _ := strconv.Atoi(arg(1))
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			return err
		}
		return unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	case "connect-unix":
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err != nil {
			return err
		}
		unix.Connect(fd, &unix.SockaddrUnix{Name: arg(1)})
	case "bind-sendto":
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return err
		}
		port, _ := strconv.Atoi(arg(1))
		return unix.Sendto(fd, []byte("ping"), 0, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	case "dup2":
		syscall(unix.SYS_DUP2, 1, 100)
	case "symlink":
		syscall(unix.SYS_SYMLINK, str(arg(1)), str(arg(2)))
	case "link":
		syscall(unix.SYS_LINK, str(arg(1)), str(arg(2)))
	case "unlink":
		syscall(unix.SYS_UNLINK, str(arg(1)))
	case "rename":
		syscall(unix.SYS_RENAME, str(arg(1)), str(arg(2)))
	case "mkdir":
		syscall(unix.SYS_MKDIR, str(arg(1)), 0o750)
	case "creat":
		syscall(unix.SYS_CREAT, str(arg(1)), 0o640)
	case "rmdir":
		syscall(unix.SYS_RMDIR, str(arg(1)))
	case "bpf-prog-load":
		// An empty attribute: the kernel refuses it, and the call is
		// still reported with its command.
		var attr [128]byte
		syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), uintptr(len(attr)))
	case "chmod":
		syscall(unix.SYS_CHMOD, str(arg(1)), 0o604)
	case "chdir":
		syscall(unix.SYS_CHDIR, str(arg(1)))
	case "ptrace":
		syscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0, 0)
	case "memfd":
		syscall(unix.SYS_MEMFD_CREATE, str(arg(1)), unix.MFD_CLOEXEC)
	case "setuid":
		syscall(unix.SYS_SETUID, 65534)
	case "unshare":
		syscall(unix.SYS_UNSHARE, unix.CLONE_NEWUTS)
	case "mkdir-then-openat":
		syscall(unix.SYS_MKDIR, str(arg(1)), 0o750)
		syscall(unix.SYS_OPENAT, uintptr(unix.AT_FDCWD&0xffffffff), str(arg(2)), unix.O_RDONLY)
	case "fork":
		// The child only calls exit_group, which is safe after a raw fork.
		r1, _, errno := unix.RawSyscall(unix.SYS_FORK, 0, 0, 0)
		if errno != 0 {
			return errno
		}
		if r1 == 0 {
			unix.RawSyscall(unix.SYS_EXIT_GROUP, 7, 0, 0)
		}
		var ws unix.WaitStatus
		_, err := unix.Wait4(int(r1), &ws, 0, nil)
		return err
	case "raw":
		// raw NR ARG...: one system call; "s:text" passes a string pointer.
		nr, _ := strconv.ParseInt(arg(1), 10, 64)
		var a []uintptr
		for _, v := range args[2:] {
			if text, ok := strings.CutPrefix(v, "s:"); ok {
				a = append(a, str(text))
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return err
			}
			a = append(a, uintptr(n))
		}
		syscall(uintptr(nr), a...)
	case "clone":
		r1, _, errno := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
		if errno != 0 {
			return errno
		}
		if r1 == 0 {
			unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
		}
		var ws unix.WaitStatus
		_, err := unix.Wait4(int(r1), &ws, 0, nil)
		return err
	case "openat2":
		fd, err := unix.Openat2(unix.AT_FDCWD, arg(1), &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS})
		if err != nil {
			return err
		}
		unix.Close(fd)
	case "sendmsg":
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		port, _ := strconv.Atoi(arg(1))
		_, err = unix.SendmsgN(fd, []byte("ping"), nil, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}, 0)
		return err
	case "mount":
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return err
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return err
		}
		return unix.Mount("nightjar", arg(1), "tmpfs", unix.MS_NOSUID, "")
	case "exec-in-mount":
		// Runs a copy of /bin/true from a tmpfs mounted on arg(1), in a
		// private mount namespace, so that its path crosses a mount.
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return err
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return err
		}
		if err := unix.Mount("nightjar", arg(1), "tmpfs", 0, ""); err != nil {
			return err
		}
		bin, err := os.ReadFile("/bin/true")
		if err != nil {
			return err
		}
		exe := arg(1) + "/sub/true"
		if err := os.Mkdir(arg(1)+"/sub", 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(exe, bin, 0o755); err != nil {
			return err
		}
		return unix.Exec(exe, []string{"true"}, nil)
	case "loginuid":
		if err := os.WriteFile("/proc/self/loginuid", []byte("4321"), 0); err != nil {
			return err
		}
		syscall(unix.SYS_CHDIR, str("/"))
	case "capset":
		// Keep only CAP_CHOWN and CAP_KILL effective, CAP_CHOWN, CAP_KILL
		// and CAP_NET_RAW permitted, CAP_KILL inheritable; then the mark.
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		data := [2]unix.CapUserData{{
			Effective:   1<<unix.CAP_CHOWN | 1<<unix.CAP_KILL,
			Permitted:   1<<unix.CAP_CHOWN | 1<<unix.CAP_KILL | 1<<unix.CAP_NET_RAW,
			Inheritable: 1 << unix.CAP_KILL,
		}}
		runtime.LockOSThread() // capabilities are per thread
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return fmt.Errorf("capset: %w", err)
		}
		syscall(unix.SYS_CHDIR, str("/"))
	case "deep-exec":
		// Executes a copy of /bin/true at a path longer than PATH_MAX,
		// reached by descending one component at a time.
		bin, err := os.ReadFile("/bin/true")
		if err != nil {
			return err
		}
		if err := os.Chdir(arg(1)); err != nil {
			return err
		}
		comp := strings.Repeat("d", 200)
		for range 25 {
			if err := os.Mkdir(comp, 0o755); err != nil {
				return err
			}
			if err := os.Chdir(comp); err != nil {
				return err
			}
		}
		if err := os.WriteFile("true", bin, 0o755); err != nil {
			return err
		}
		return unix.Exec("./true", []string{"true"}, nil)
	case "fchdir3":
		// fchdir to the directory inherited as descriptor 3, then the
		// mark.
		if err := unix.Fchdir(3); err != nil {
			return err
		}
		syscall(unix.SYS_CHDIR, str("/"))
	case "connect-race":
		return connectRace(arg(1), arg(2), arg(3))
	case "exec-deleted":
		// Copies /bin/true to arg(1), opens it, removes it and executes
		// the open descriptor (fexecve), as droppers hide their payload.
		bin, err := os.ReadFile("/bin/true")
		if err != nil {
			return err
		}
		if err := os.WriteFile(arg(1), bin, 0o755); err != nil {
			return err
		}
		fd, err := unix.Open(arg(1), unix.O_RDONLY, 0)
		if err != nil {
			return err
		}
		if err := os.Remove(arg(1)); err != nil {
			return err
		}
		argv := []*byte{str2("true"), nil}
		env := []*byte{nil}
		_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), str(""), uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&env[0])), unix.AT_EMPTY_PATH, 0)
		return fmt.Errorf("execveat: %w", errno)
	case "open-race":
		return openRace(arg(1), arg(2))
	case "listen":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		return l.Close()
	default:
		return fmt.Errorf("unknown helper action %q", args[0])
	}
	return nil
}

func helperMain() {
	if err := runHelper(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// raceName is the path buffer openRace's threads share; a global, so that
// the Go runtime never moves it.
var raceName [256]byte

// openRace opens the path in raceName n times from one thread while
// another thread keeps rewriting it, alternating between benign and
// /etc/shadow. It prints the thread's id, calls chdir("/") as a mark, then the inode of every file it
// opened, one per line, in order.
func openRace(benign, count string) error {
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	names := [][]byte{append([]byte(benign), 0), []byte("/etc/shadow\x00")}
	copy(raceName[:], names[0])
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		pinCPU(1)
		for i := 0; !stop.Load(); i++ {
			copy(raceName[:], names[i&1])
		}
	}()
	runtime.LockOSThread()
	pinCPU(0)
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, unix.Gettid())
	// The mark from which the opens are the loop's.
	syscall(unix.SYS_CHDIR, str("/"))
	for range n {
		fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(unix.AT_FDCWD&0xffffffff), uintptr(unsafe.Pointer(&raceName[0])), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		if errno != 0 {
			continue // a torn name
		}
		var st unix.Stat_t
		err := unix.Fstat(int(fd), &st)
		unix.Close(int(fd))
		if err != nil {
			return err
		}
		fmt.Fprintln(out, st.Ino)
	}
	stop.Store(true)
	<-done
	return out.Flush()
}

// pinCPU binds the calling thread to one CPU, so that openRace's two
// threads run at the same time rather than in turns on one CPU.
func pinCPU(cpu int) {
	var set unix.CPUSet
	set.Set(cpu % runtime.NumCPU())
	unix.SchedSetaffinity(0, &set)
}

// raceAddr is the sockaddr_in connectRace's threads share.
var raceAddr unix.RawSockaddrInet4

// connectRace connects n TCP sockets to 127.0.0.1 through raceAddr while
// another thread keeps flipping its port between portA and portB. It
// prints its thread id, calls chdir("/") as a mark, then prints the port
// each socket was connected to (getpeername), one per line, in order.
func connectRace(portA, portB, count string) error {
	a, errA := strconv.Atoi(portA)
	b, errB := strconv.Atoi(portB)
	n, errN := strconv.Atoi(count)
	if errA != nil || errB != nil || errN != nil {
		return fmt.Errorf("connect-race PORT PORT COUNT")
	}
	// sin_port is in network byte order.
	ports := [2]uint16{uint16(a)>>8 | uint16(a)<<8, uint16(b)>>8 | uint16(b)<<8}
	raceAddr = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: ports[0], Addr: [4]byte{127, 0, 0, 1}}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		pinCPU(1)
		for i := 0; !stop.Load(); i++ {
			atomic.StoreUint32((*uint32)(unsafe.Pointer(&raceAddr)), uint32(unix.AF_INET)|uint32(ports[i&1])<<16)
		}
	}()
	runtime.LockOSThread()
	pinCPU(0)
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, unix.Gettid())
	syscall(unix.SYS_CHDIR, str("/"))
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		_, _, errno := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&raceAddr)), unix.SizeofSockaddrInet4)
		if errno == 0 {
			sa, err := unix.Getpeername(fd)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, sa.(*unix.SockaddrInet4).Port)
		}
		unix.Close(fd)
	}
	stop.Store(true)
	<-done
	return out.Flush()
}
