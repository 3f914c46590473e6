package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/internal/event"
)

// ErrMalformed is wrapped by every error Decode returns.
var ErrMalformed = errors.New("malformed capture record")

// The header's layout is bpf2go's mirror of struct record in bpf/capture.c.
type header = bpf.CaptureRecord

const (
	offTs             = int(unsafe.Offsetof(header{}.Ts))
	offCgroupID       = int(unsafe.Offsetof(header{}.CgroupId))
	offRes            = int(unsafe.Offsetof(header{}.Res))
	offArgs           = int(unsafe.Offsetof(header{}.Args))
	offCapEffective   = int(unsafe.Offsetof(header{}.CapEffective))
	offCapPermitted   = int(unsafe.Offsetof(header{}.CapPermitted))
	offCapInheritable = int(unsafe.Offsetof(header{}.CapInheritable))
	offIno            = int(unsafe.Offsetof(header{}.Ino))
	offInoCtime       = int(unsafe.Offsetof(header{}.InoCtime))
	offInoMtime       = int(unsafe.Offsetof(header{}.InoMtime))
	offPID            = int(unsafe.Offsetof(header{}.Pid))
	offTID            = int(unsafe.Offsetof(header{}.Tid))
	offPPID           = int(unsafe.Offsetof(header{}.Ppid))
	offUID            = int(unsafe.Offsetof(header{}.Uid))
	offGID            = int(unsafe.Offsetof(header{}.Gid))
	offLoginUID       = int(unsafe.Offsetof(header{}.Loginuid))
	offVPID           = int(unsafe.Offsetof(header{}.Vpid))
	offVPGID          = int(unsafe.Offsetof(header{}.Vpgid))
	offVSID           = int(unsafe.Offsetof(header{}.Vsid))
	offComm           = int(unsafe.Offsetof(header{}.Comm))
	offType           = int(unsafe.Offsetof(header{}.Type))
	offPathLen        = int(unsafe.Offsetof(header{}.PathLen))
	offPath2Len       = int(unsafe.Offsetof(header{}.Path2Len))
	offArgvLen        = int(unsafe.Offsetof(header{}.ArgvLen))
	offAddrPathLen    = int(unsafe.Offsetof(header{}.AddrPathLen))
	offLocalPathLen   = int(unsafe.Offsetof(header{}.LocalPathLen))
	offProto          = int(unsafe.Offsetof(header{}.Proto))
	offFlags          = int(unsafe.Offsetof(header{}.Flags))
	offAddrFamily     = int(unsafe.Offsetof(header{}.AddrFamily))
	offAddrPort       = int(unsafe.Offsetof(header{}.AddrPort))
	offLocalFamily    = int(unsafe.Offsetof(header{}.LocalFamily))
	offLocalPort      = int(unsafe.Offsetof(header{}.LocalPort))
	offAddrIP         = int(unsafe.Offsetof(header{}.AddrIp))
	offLocalIP        = int(unsafe.Offsetof(header{}.LocalIp))
	offMagic          = int(unsafe.Offsetof(header{}.Magic))
	headerSize        = int(unsafe.Sizeof(header{}))

	recordMagic = 0x4a4e
)

// Record flags, as RF_* in bpf/capture.c.
const (
	flagTruncated      = 1
	flagPath2Truncated = 2
	flagCompat         = 4
)

var le = binary.LittleEndian

// Decode decodes one ring buffer record into ev. The byte slices of ev point
// into raw. ev.Time is left in CLOCK_BOOTTIME nanoseconds, as the kernel
// wrote it; Capture.Read converts it to wall-clock time. Decode does not
// allocate unless it fails.
func Decode(raw []byte, ev *event.Event) error {
	if len(raw) < headerSize {
		return fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMalformed, len(raw), headerSize)
	}
	if m := le.Uint16(raw[offMagic:]); m != recordMagic {
		return fmt.Errorf("%w: magic %#04x, want %#04x", ErrMalformed, m, recordMagic)
	}
	t := event.Type(le.Uint16(raw[offType:]))
	if t == event.TypeUnknown || t >= event.NumTypes {
		return fmt.Errorf("%w: event type %d out of range", ErrMalformed, t)
	}
	pathLen := int(le.Uint16(raw[offPathLen:]))
	path2Len := int(le.Uint16(raw[offPath2Len:]))
	argvLen := int(le.Uint16(raw[offArgvLen:]))
	addrPathLen := int(le.Uint16(raw[offAddrPathLen:]))
	localPathLen := int(le.Uint16(raw[offLocalPathLen:]))
	if n := headerSize + pathLen + path2Len + argvLen + addrPathLen + localPathLen; n != len(raw) {
		return fmt.Errorf("%w: %s record of %d bytes, its header says %d", ErrMalformed, t, len(raw), n)
	}

	ev.Type = t
	ev.Time = int64(le.Uint64(raw[offTs:]))
	ev.CgroupID = le.Uint64(raw[offCgroupID:])
	ev.Res = int64(le.Uint64(raw[offRes:]))
	for i := range ev.Args {
		ev.Args[i] = int64(le.Uint64(raw[offArgs+8*i:]))
	}
	ev.PID = le.Uint32(raw[offPID:])
	ev.TID = le.Uint32(raw[offTID:])
	ev.PPID = le.Uint32(raw[offPPID:])
	ev.UID = le.Uint32(raw[offUID:])
	ev.GID = le.Uint32(raw[offGID:])
	ev.LoginUID = le.Uint32(raw[offLoginUID:])
	ev.VPID = le.Uint32(raw[offVPID:])
	ev.VPGID = le.Uint32(raw[offVPGID:])
	ev.VSID = le.Uint32(raw[offVSID:])
	ev.CapEffective = le.Uint64(raw[offCapEffective:])
	ev.CapPermitted = le.Uint64(raw[offCapPermitted:])
	ev.CapInheritable = le.Uint64(raw[offCapInheritable:])
	ev.Ino = le.Uint64(raw[offIno:])
	ev.InoCtime = int64(le.Uint64(raw[offInoCtime:]))
	ev.InoMtime = int64(le.Uint64(raw[offInoMtime:]))
	copy(ev.Comm[:], raw[offComm:offComm+16])
	ev.Proto = raw[offProto]
	flags := raw[offFlags]
	ev.Truncated = flags&flagTruncated != 0
	ev.Path2Truncated = flags&flagPath2Truncated != 0
	ev.Compat = flags&flagCompat != 0

	ev.Addr.Family = le.Uint16(raw[offAddrFamily:])
	ev.Addr.Port = le.Uint16(raw[offAddrPort:])
	copy(ev.Addr.IP[:], raw[offAddrIP:offAddrIP+16])
	ev.Local.Family = le.Uint16(raw[offLocalFamily:])
	ev.Local.Port = le.Uint16(raw[offLocalPort:])
	copy(ev.Local.IP[:], raw[offLocalIP:offLocalIP+16])

	off := headerSize
	ev.Path, off = section(raw, off, pathLen)
	ev.Path2, off = section(raw, off, path2Len)
	ev.Argv, off = section(raw, off, argvLen)
	// /proc/PID/cmdline style: every argument ends in NUL; keep separators only.
	if n := len(ev.Argv); n > 0 && ev.Argv[n-1] == 0 {
		ev.Argv = ev.Argv[:n-1]
	}
	ev.Addr.Path, off = section(raw, off, addrPathLen)
	ev.Addr.Path = unixPath(ev.Addr.Path)
	ev.Local.Path, _ = section(raw, off, localPathLen)
	ev.Local.Path = unixPath(ev.Local.Path)

	ev.Proc = nil
	ev.FD = nil
	ev.IDNames = [3]string{}
	return nil
}

func section(raw []byte, off, n int) ([]byte, int) {
	if n == 0 {
		return nil, off
	}
	return raw[off : off+n : off+n], off + n
}

// unixPath trims a pathname socket address at its NUL; an abstract address
// (leading NUL) keeps all its bytes, as they are all significant.
func unixPath(p []byte) []byte {
	if len(p) == 0 || p[0] == 0 {
		return p
	}
	if i := bytes.IndexByte(p, 0); i >= 0 {
		return p[:i]
	}
	return p
}
