// Package caps narrows the daemon's privileges once its eBPF programs are
// loaded and attached. From then on the daemon parses data that containers
// control (paths, command lines, socket addresses), so it keeps only the
// capabilities it still uses and can never regain the others: they leave
// the effective, permitted, inheritable, ambient and bounding sets of every
// thread, and no_new_privs is set.
package caps

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Running is what the detection daemon needs after loading its programs:
// reading every process's /proc/<pid>/exe, cwd and fd links
// (CAP_SYS_PTRACE) and their fd directories (CAP_DAC_READ_SEARCH). Maps,
// links and the ring buffer are used through file descriptors it already
// holds; its own files (configuration, rules, spool, alert file, sockets)
// are reached as their owner, root, without CAP_DAC_OVERRIDE.
var Running = []uintptr{unix.CAP_SYS_PTRACE, unix.CAP_DAC_READ_SEARCH}

// Mask returns the capability bit mask of caps.
func Mask(caps ...uintptr) uint64 {
	var m uint64
	for _, c := range caps {
		m |= 1 << c
	}
	return m
}

// Restrict reduces every thread of the process to keep. It fails with
// ENOTSUP in a binary built with cgo, whose threads Go cannot all reach;
// build the daemon with CGO_ENABLED=0.
func Restrict(keep ...uintptr) error {
	last, err := lastCap()
	if err != nil {
		return err
	}
	want := Mask(keep...)
	// The bounding set first, while CAP_SETPCAP is still effective.
	// Without CAP_SETPCAP (a container given only the capabilities it
	// needs) the bounding set stays; no_new_privs below still keeps an
	// exec from gaining anything.
	for c := uintptr(0); c <= last; c++ {
		if want&(1<<c) != 0 {
			continue
		}
		_, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0)
		if e == syscall.EPERM {
			break
		}
		if e == syscall.ENOTSUP {
			return fmt.Errorf("caps: %w (the binary was built with cgo; build it with CGO_ENABLED=0)", e)
		}
		if e != 0 {
			return fmt.Errorf("caps: drop capability %d from the bounding set: %w", c, e)
		}
	}
	if _, _, e := syscall.AllThreadsSyscall6(syscall.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("caps: clear ambient capabilities: %w", e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[0].Effective, data[0].Permitted = uint32(want), uint32(want)
	data[1].Effective, data[1].Permitted = uint32(want>>32), uint32(want>>32)
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("caps: capset: %w", e)
	}
	if _, _, e := syscall.AllThreadsSyscall6(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("caps: set no_new_privs: %w", e)
	}
	return nil
}

func lastCap() (uintptr, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("caps: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 0, errors.New("caps: /proc/sys/kernel/cap_last_cap is not a capability number")
	}
	return uintptr(n), nil
}
