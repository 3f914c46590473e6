package corpus

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/internal/testctr"
)

// Some behaviours are system calls no command-line tool makes on its own
// (fileless execution, ptrace, module loading, packet sockets): the test
// binary runs itself again with helperEnv naming the behaviour.
const helperEnv = "NIGHTJAR_CORPUS_HELPER"

func TestMain(m *testing.M) {
	if action := os.Getenv(helperEnv); action != "" {
		if err := helper(action, os.Args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", action, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// The corpus's cases mostly wait (for a container, a process, the
	// daemon): run many at once unless -test.parallel says otherwise.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "8")
	}
	os.Exit(testctr.Main(m))
}

func cstr(s string) *byte {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	return p
}

func helper(action string, args []string) error {
	switch action {
	case "memfd-exec":
		// Fileless execution as droppers do it: the program's bytes go
		// into an anonymous memory file, executed with fexecve (execveat
		// of the descriptor with AT_EMPTY_PATH).
		code, err := os.ReadFile("/bin/true")
		if err != nil {
			return err
		}
		fd, err := unix.MemfdCreate("nightjar-corpus", 0)
		if err != nil {
			return fmt.Errorf("memfd_create: %w", err)
		}
		for b := code; len(b) > 0; {
			n, err := unix.Write(fd, b)
			if err != nil {
				return fmt.Errorf("write memfd: %w", err)
			}
			b = b[n:]
		}
		argv := []*byte{cstr("fileless-true"), nil}
		envv := []*byte{nil}
		_, _, errno := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(cstr(""))),
			uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), unix.AT_EMPTY_PATH, 0)
		return fmt.Errorf("execveat: %w", errno)

	case "ptrace-attach":
		// Attach to a child as an injector would, then let it go.
		target := exec.Command("sleep", "30")
		if err := target.Start(); err != nil {
			return err
		}
		defer target.Wait()
		defer target.Process.Kill()
		pid := target.Process.Pid
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := unix.PtraceAttach(pid); err != nil {
			return fmt.Errorf("PTRACE_ATTACH %d: %w", pid, err)
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
			return fmt.Errorf("wait for the tracee: %w", err)
		}
		return unix.PtraceDetach(pid)

	case "ptrace-traceme":
		// The anti-debug trick: take the tracer slot so that no debugger
		// can attach.
		if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0, 0, 0, 0); errno != 0 {
			return fmt.Errorf("PTRACE_TRACEME: %w", errno)
		}
		return nil

	case "kernel-module":
		// Ask the kernel to load a module by image (init_module) and by
		// file (finit_module), giving it bytes that are not a module: the
		// kernel rejects both and nothing is loaded. The rules report
		// attempts whatever their result.
		image := []byte("nightjar corpus: not an ELF module image")
		_, _, errno1 := unix.Syscall(unix.SYS_INIT_MODULE, uintptr(unsafe.Pointer(&image[0])), uintptr(len(image)), uintptr(unsafe.Pointer(cstr(""))))
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		_, _, errno2 := unix.Syscall(unix.SYS_FINIT_MODULE, f.Fd(), uintptr(unsafe.Pointer(cstr(""))), 0)
		if errno1 == 0 || errno2 == 0 {
			return fmt.Errorf("a non-module was accepted by init_module (%v) or finit_module (%v)", errno1, errno2)
		}
		return nil

	case "packet-socket":
		// A raw packet socket sees every frame of every interface.
		const ethPAll = 0x0003
		proto := int(ethPAll>>8 | ethPAll&0xff<<8) // htons
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto)
		if err != nil {
			return fmt.Errorf("socket(AF_PACKET): %w", err)
		}
		return unix.Close(fd)
	}
	return fmt.Errorf("unknown helper action %q", action)
}
