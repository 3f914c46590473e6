package capture

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/bpf"
)

// CheckSystem returns an error of one sentence naming what is missing when
// this machine cannot run the capture programs. The oldest kernel it
// accepts is the one that has everything the eBPF object uses (see
// Requirements).
func CheckSystem() error {
	spec, err := bpf.LoadCapture()
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	return checkSystem(spec)
}

func checkSystem(spec *ebpf.CollectionSpec) error {
	need, err := Requirements(spec)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("not running as root: loading the eBPF programs needs root (CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE)")
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return fmt.Errorf("capture: uname: %w", err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	if major, minor, ok := kernelVersion(release); ok && (major < need.Major || major == need.Major && minor < need.Minor) {
		return fmt.Errorf("kernel %s is too old: the eBPF capture needs Linux %d.%d or later (for %s)", release, need.Major, need.Minor, need.What)
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
