package proctable

import (
	"os"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// TestParseStatusNamespaceAndCaps: the ids of the innermost pid namespace
// and the three capability sets come from /proc/<pid>/status.
func TestParseStatusNamespaceAndCaps(t *testing.T) {
	status := "Name:\tsh\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n" +
		"NSpid:\t4242\t7\nNSpgid:\t4240\t5\nNSsid:\t4200\t1\n" +
		"CapInh:\t0000000000000020\nCapPrm:\t00000000000000e0\nCapEff:\t00000000000000c0\n"
	var p event.Process
	if err := parseStatus("/proc/4242/status", []byte(status), &p); err != nil {
		t.Fatal(err)
	}
	if p.UID != 1000 || p.VPID != 7 || p.VPGID != 5 || p.SID != 1 ||
		p.CapInheritable != 0x20 || p.CapPermitted != 0xe0 || p.CapEffective != 0xc0 {
		t.Errorf("parsed %+v", p)
	}
	if err := parseStatus("/proc/1/status", []byte("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapPrm:\tzz\n"), &p); err == nil {
		t.Error("a malformed CapPrm was accepted")
	}
}

// TestSeedSelfNamespaceAndExe: the test process, seeded from the real
// /proc, has its own pid as VPID (the host namespace) and its executable's
// inode.
func TestSeedSelfNamespaceAndExe(t *testing.T) {
	tab := New(Config{})
	e, err := tab.readProc(uint32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if e.proc.VPID != uint32(os.Getpid()) || e.proc.ExeIno == 0 || e.proc.ExeInoMtime == 0 || e.proc.CapEffective == 0 {
		t.Errorf("seeded self: vpid %d exe inode %d mtime %d caps %#x", e.proc.VPID, e.proc.ExeIno, e.proc.ExeInoMtime, e.proc.CapEffective)
	}
}
