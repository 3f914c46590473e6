package capture

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Minimum kernel: BTF tracepoints, the BPF ring buffer and
// bpf_get_current_task_btf are all there from 5.11.
const minMajor, minMinor = 5, 11

// CheckSystem returns an error of one sentence naming what is missing when
// this machine cannot run the capture programs.
func CheckSystem() error {
	if os.Geteuid() != 0 {
		return errors.New("not running as root: loading the eBPF programs needs root (CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE)")
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return fmt.Errorf("capture: uname: %w", err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	if major, minor, ok := kernelVersion(release); ok && (major < minMajor || major == minMajor && minor < minMinor) {
		return fmt.Errorf("kernel %s is too old: the eBPF capture needs Linux %d.%d or later", release, minMajor, minMinor)
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return errors.New("this kernel has no BTF: /sys/kernel/btf/vmlinux is missing (the kernel must be built with CONFIG_DEBUG_INFO_BTF=y)")
	}
	return nil
}

// kernelVersion parses the major and minor numbers of a release such as
// "6.18.44-fc-v669".
func kernelVersion(release string) (major, minor int, ok bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	end := 0
	for end < len(parts[1]) && parts[1][end] >= '0' && parts[1][end] <= '9' {
		end++
	}
	minor, err2 := strconv.Atoi(parts[1][:end])
	return major, minor, err1 == nil && err2 == nil
}

// bootToWallOffset returns CLOCK_REALTIME - CLOCK_BOOTTIME in nanoseconds,
// sampled between two boot-time readings to bound the error.
func bootToWallOffset() (int64, error) {
	// The reading with the smallest gap between its two boot-clock reads is
	// the one least disturbed by preemption.
	var best, bestGap int64 = 0, -1
	for range 5 {
		var b1, r, b2 unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &b1); err != nil {
			return 0, fmt.Errorf("capture: read boot clock: %w", err)
		}
		if err := unix.ClockGettime(unix.CLOCK_REALTIME, &r); err != nil {
			return 0, fmt.Errorf("capture: read wall clock: %w", err)
		}
		if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &b2); err != nil {
			return 0, fmt.Errorf("capture: read boot clock: %w", err)
		}
		if gap := b2.Nano() - b1.Nano(); bestGap < 0 || gap < bestGap {
			best, bestGap = r.Nano()-(b1.Nano()+b2.Nano())/2, gap
		}
	}
	return best, nil
}
