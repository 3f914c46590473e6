// Package misbehave performs, in the calling process, the attack behaviours
// that no command-line tool makes on its own — fileless execution from a
// memfd, ptrace attach and PTRACE_TRACEME, module loading (with an image the
// kernel rejects, so nothing is loaded), a raw packet socket — for tests
// that run their own binary again as the process that misbehaves.
package misbehave

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

func cstr(s string) *byte {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Perform makes the system calls of behaviour action in the calling
// process and returns what went wrong. Actions: memfd-exec (fexecve of
// /bin/true copied into a memfd named nightjar-fileless; does not return
// on success), ptrace-attach (attach to a child, then detach),
// ptrace-traceme, kernel-module (init_module of a non-module image and
// finit_module of the file args[0], both refused by the kernel) and
// packet-socket (socket(AF_PACKET, SOCK_RAW)).
func Perform(action string, args []string) error {
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
	return fmt.Errorf("unknown behaviour %q", action)
}
