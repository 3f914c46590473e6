package pipeline

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Some behaviours are system calls no command-line tool makes on its own
// (memfd execution, ptrace, module loading, packet sockets): the tests start
// this test binary again with helperEnv naming the behaviour, and it makes
// the calls and exits.
const helperEnv = "NIGHTJAR_RULES_HELPER"

// helperCmd returns the command that performs action in a child process.
func helperCmd(action string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+action)
	return cmd
}

func runHelper(action string, args []string) int {
	if err := helper(action, args); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", action, err)
		return 1
	}
	return 0
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
		// into an anonymous memory file, which is executed with fexecve
		// (execveat with an empty path and AT_EMPTY_PATH). The payload
		// exits at once, before the daemon sees the event: the kernel
		// path of the image is all there is.
		code, err := os.ReadFile("/bin/true")
		if err != nil {
			return err
		}
		fd, err := unix.MemfdCreate("nightjar-fileless", 0)
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
		// Attach to a child as a debugger or an injector would, then let
		// it go.
		target := exec.Command("sleep", "30")
		if err := target.Start(); err != nil {
			return err
		}
		defer target.Wait()
		defer target.Process.Kill()
		runtime.LockOSThread() // ptrace requests come from the tracer thread
		defer runtime.UnlockOSThread()
		if err := unix.PtraceAttach(target.Process.Pid); err != nil {
			return fmt.Errorf("PTRACE_ATTACH %d: %w", target.Process.Pid, err)
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(target.Process.Pid, &ws, unix.WALL, nil); err != nil {
			return fmt.Errorf("wait for the tracee: %w", err)
		}
		return unix.PtraceDetach(target.Process.Pid)

	case "ptrace-traceme":
		// The anti-debug trick: claim the tracer slot so that no debugger
		// can attach.
		if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0, 0, 0, 0); errno != 0 {
			return fmt.Errorf("PTRACE_TRACEME: %w", errno)
		}
		return nil

	case "kernel-module":
		// Ask the kernel to load a module, by image (init_module) and by
		// file (finit_module). Both are given something that is not a
		// module, so nothing is loaded: the calls fail, and the rule
		// reports attempts whatever their result.
		image := make([]byte, 64)
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
