package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// testRecord is what encodeRecord writes: a record as the kernel side would.
type testRecord struct {
	ts, cgroupID                   uint64
	res                            int64
	args                           [4]int64
	pid, tid, ppid, uid, gid, luid uint32
	vpid, vpgid, vsid              uint32
	caps                           [3]uint64
	ino                            uint64
	ctime, mtime                   int64
	comm                           string
	typ                            event.Type
	proto, flags                   uint8
	addr, local                    event.SockAddr
	path, path2, argv              string
}

func encodeRecord(r testRecord) []byte {
	b := make([]byte, headerSize)
	put64 := func(off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
	put32 := func(off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
	put16 := func(off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
	put64(offTs, r.ts)
	put64(offCgroupID, r.cgroupID)
	put64(offRes, uint64(r.res))
	for i, a := range r.args {
		put64(offArgs+8*i, uint64(a))
	}
	put32(offPID, r.pid)
	put32(offTID, r.tid)
	put32(offPPID, r.ppid)
	put32(offUID, r.uid)
	put32(offGID, r.gid)
	put32(offLoginUID, r.luid)
	put32(offVPID, r.vpid)
	put32(offVPGID, r.vpgid)
	put32(offVSID, r.vsid)
	put64(offCapEffective, r.caps[0])
	put64(offCapPermitted, r.caps[1])
	put64(offCapInheritable, r.caps[2])
	put64(offIno, r.ino)
	put64(offInoCtime, uint64(r.ctime))
	put64(offInoMtime, uint64(r.mtime))
	copy(b[offComm:offComm+16], r.comm)
	put16(offType, uint16(r.typ))
	put16(offPathLen, uint16(len(r.path)))
	put16(offPath2Len, uint16(len(r.path2)))
	put16(offArgvLen, uint16(len(r.argv)))
	put16(offAddrPathLen, uint16(len(r.addr.Path)))
	put16(offLocalPathLen, uint16(len(r.local.Path)))
	b[offProto] = r.proto
	b[offFlags] = r.flags
	put16(offAddrFamily, r.addr.Family)
	put16(offAddrPort, r.addr.Port)
	put16(offLocalFamily, r.local.Family)
	put16(offLocalPort, r.local.Port)
	copy(b[offAddrIP:], r.addr.IP[:])
	copy(b[offLocalIP:], r.local.IP[:])
	put16(offMagic, recordMagic)
	b = append(b, r.path...)
	b = append(b, r.path2...)
	b = append(b, r.argv...)
	b = append(b, r.addr.Path...)
	b = append(b, r.local.Path...)
	return b
}

// TestEventTypesMatchKernel checks the C enum event_type, read from the
// object's BTF, against internal/event's numbering.
func TestEventTypesMatchKernel(t *testing.T) {
	spec, err := bpf.LoadCapture()
	if err != nil {
		t.Fatal(err)
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName("event_type", &enum); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, v := range enum.Values {
		if v.Name == "EV_NUM_TYPES" {
			if v.Value != uint64(event.NumTypes) {
				t.Errorf("EV_NUM_TYPES = %d, event.NumTypes = %d", v.Value, event.NumTypes)
			}
			continue
		}
		want := "EV_" + strings.ToUpper(event.Type(v.Value).String())
		if v.Value == 0 {
			want = "EV_UNKNOWN"
		}
		if v.Name != want {
			t.Errorf("kernel %s = %d, but event type %d is %s", v.Name, v.Value, v.Value, want)
		}
		seen++
	}
	if seen != int(event.NumTypes) {
		t.Errorf("kernel enum has %d types, event has %d", seen, event.NumTypes)
	}
}

func TestSyscallTableCoversEveryType(t *testing.T) {
	for _, table := range []struct {
		name  string
		types map[uint32]event.Type
		size  uint32
	}{
		{"x86-64", syscallTypes, maxSyscalls},
		{"ia32", compatSyscallTypes, maxSyscalls},
	} {
		have := map[event.Type]bool{}
		for nr, typ := range table.types {
			if nr >= table.size {
				t.Errorf("%s syscall %d (%s) does not fit the %d-entry kernel table", table.name, nr, typ, table.size)
			}
			have[typ] = true
		}
		if table.name == "ia32" {
			for _, typ := range socketcallTypes {
				have[typ] = true
			}
		}
		for typ := event.Type(1); typ < event.NumTypes; typ++ {
			if !have[typ] && typ != event.ProcExit {
				t.Errorf("no %s system call is reported as %s", table.name, typ)
			}
		}
	}
	for call := range socketcallTypes {
		if call >= maxSocketcall {
			t.Errorf("socketcall %d does not fit the kernel table", call)
		}
	}
}

func TestDecode(t *testing.T) {
	in := testRecord{
		ts: 123456789, cgroupID: 77, res: 3, args: [4]int64{-100, 0o2000101, 0o640, 0},
		pid: 10, tid: 11, ppid: 1, uid: 1000, gid: 1001, luid: 4294967295,
		vpid: 2, vpgid: 3, vsid: 4, caps: [3]uint64{0x1ff, 0x3ff, 0x1}, ino: 4242, ctime: -5, mtime: 1e18,
		comm: "bash", typ: event.Connect, proto: 6, flags: flagPath2Truncated | flagCompat,
		addr:  event.SockAddr{Family: event.AFInet, Port: 443, IP: [16]byte{10, 0, 0, 1}},
		local: event.SockAddr{Family: event.AFUnix, Path: []byte("/run/x.sock\x00\x00")},
		path:  "/etc/passwd", path2: "/tmp/b", argv: "ls\x00-l\x00",
	}
	var ev event.Event
	ev.Proc = &event.Process{}
	if err := Decode(encodeRecord(in), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != event.Connect || ev.Time != 123456789 || ev.CgroupID != 77 || ev.Res != 3 ||
		ev.Args != in.args || ev.PID != 10 || ev.TID != 11 || ev.PPID != 1 || ev.UID != 1000 ||
		ev.GID != 1001 || ev.LoginUID != 4294967295 || ev.CommString() != "bash" || ev.Proto != 6 {
		t.Errorf("header decoded as %+v", ev)
	}
	if ev.VPID != 2 || ev.VPGID != 3 || ev.VSID != 4 || ev.CapEffective != 0x1ff || ev.CapPermitted != 0x3ff || ev.CapInheritable != 1 ||
		ev.Ino != 4242 || ev.InoCtime != -5 || ev.InoMtime != 1e18 {
		t.Errorf("kernel facts decoded as vpid %d vpgid %d caps %#x %#x %#x ino %d ctime %d mtime %d",
			ev.VPID, ev.VPGID, ev.CapEffective, ev.CapPermitted, ev.CapInheritable, ev.Ino, ev.InoCtime, ev.InoMtime)
	}
	if ev.Truncated || !ev.Path2Truncated || !ev.Compat {
		t.Errorf("flags decoded as truncated %v path2 truncated %v compat %v", ev.Truncated, ev.Path2Truncated, ev.Compat)
	}
	if string(ev.Path) != "/etc/passwd" || string(ev.Path2) != "/tmp/b" || string(ev.Argv) != "ls\x00-l" {
		t.Errorf("strings decoded as %q %q %q", ev.Path, ev.Path2, ev.Argv)
	}
	if ev.Addr.Family != event.AFInet || ev.Addr.Port != 443 || ev.Addr.IP != in.addr.IP || ev.Addr.Path != nil {
		t.Errorf("addr decoded as %+v", ev.Addr)
	}
	if ev.Local.Family != event.AFUnix || string(ev.Local.Path) != "/run/x.sock" {
		t.Errorf("local decoded as %+v", ev.Local)
	}
	if ev.Proc != nil || ev.FD != nil {
		t.Error("Decode kept the previous event's Proc/FD")
	}
}

func TestDecodeAbstractUnixPathKeepsBytes(t *testing.T) {
	raw := encodeRecord(testRecord{typ: event.Connect, addr: event.SockAddr{Family: event.AFUnix, Path: []byte("\x00abs\x00x")}})
	var ev event.Event
	if err := Decode(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if string(ev.Addr.Path) != "\x00abs\x00x" {
		t.Errorf("abstract path decoded as %q", ev.Addr.Path)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := encodeRecord(testRecord{typ: event.Openat, path: "/etc/shadow"})
	cases := map[string][]byte{
		"empty":          nil,
		"short header":   good[:headerSize-1],
		"truncated path": good[:len(good)-1],
		"trailing bytes": append(bytes.Clone(good), 0),
		"bad magic": func() []byte {
			b := bytes.Clone(good)
			b[offMagic] ^= 0xff
			return b
		}(),
		"type zero": encodeRecord(testRecord{typ: event.TypeUnknown}),
		"type past end": func() []byte {
			b := bytes.Clone(good)
			binary.LittleEndian.PutUint16(b[offType:], uint16(event.NumTypes))
			return b
		}(),
		"length overflow": func() []byte {
			b := bytes.Clone(good)
			for _, off := range []int{offPathLen, offPath2Len, offArgvLen, offAddrPathLen, offLocalPathLen} {
				binary.LittleEndian.PutUint16(b[off:], 0xffff)
			}
			return b
		}(),
	}
	for name, raw := range cases {
		var ev event.Event
		err := Decode(raw, &ev)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode = %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodeRecord(testRecord{typ: event.Openat, path: "/etc/passwd"}))
	f.Add(encodeRecord(testRecord{typ: event.Execve, path: "/bin/ls", argv: "ls\x00-la\x00"}))
	f.Add(encodeRecord(testRecord{typ: event.Connect, addr: event.SockAddr{Family: event.AFUnix, Path: []byte("/s")}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ev event.Event
		if err := Decode(raw, &ev); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		n := len(ev.Path) + len(ev.Path2) + len(ev.Argv) + len(ev.Addr.Path) + len(ev.Local.Path)
		if n > len(raw)-headerSize {
			t.Fatalf("decoded %d string bytes from a %d-byte record", n, len(raw))
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	raw := encodeRecord(testRecord{
		typ: event.Openat, pid: 4242, tid: 4242, ppid: 1, comm: "bench",
		args: [4]int64{-100, 0, 0, 0}, res: 3, path: "/usr/lib/x86_64-linux-gnu/libc.so.6",
	})
	var ev event.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := Decode(raw, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func TestKernelVersion(t *testing.T) {
	for release, want := range map[string][2]int{"6.18.44-fc-v669": {6, 18}, "5.4.0-150-generic": {5, 4}, "5.15": {5, 15}} {
		major, minor, ok := kernelVersion(release)
		if !ok || major != want[0] || minor != want[1] {
			t.Errorf("kernelVersion(%q) = %d, %d, %v", release, major, minor, ok)
		}
	}
	if _, _, ok := kernelVersion("garbage"); ok {
		t.Error(`kernelVersion("garbage") succeeded`)
	}
}

// TestRequirements: the kernel minimum comes from what the object uses;
// today bpf_loop (5.17) is the newest thing.
func TestRequirements(t *testing.T) {
	spec, err := bpf.LoadCapture()
	if err != nil {
		t.Fatal(err)
	}
	need, err := Requirements(spec)
	if err != nil {
		t.Fatal(err)
	}
	if need.Major != 5 || need.Minor != 17 || need.What != "bpf_loop" {
		t.Errorf("Requirements = %+v, want bpf_loop, Linux 5.17", need)
	}
	// A helper the table does not know is an error, so that a new call
	// in capture.c cannot lower the check's minimum unnoticed.
	p := spec.Programs["sys_exit"].Copy()
	p.Instructions = append(p.Instructions, asm.FnTimerStart.Call())
	spec.Programs["sys_exit"] = p
	if _, err := Requirements(spec); err == nil || !strings.Contains(err.Error(), "bpf_timer_start") && !strings.Contains(err.Error(), "FnTimerStart") {
		t.Errorf("Requirements with an unknown helper: %v", err)
	}
}
