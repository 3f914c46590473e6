package proctable

import (
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// fdEntry is a stored descriptor. Its byte slices are owned and reused.
type fdEntry struct {
	fd      event.FD
	cloexec bool
	// Backing storage of fd.Local.Path and fd.Remote.Path.
	localPath, remotePath []byte
}

func (f *fdEntry) copyFrom(o *fdEntry) {
	name, lp, rp := f.fd.Name, f.localPath, f.remotePath
	f.fd = o.fd
	f.cloexec = o.cloexec
	f.fd.Name = append(name[:0], o.fd.Name...)
	f.setLocal(o.fd.Local, lp)
	f.setRemote(o.fd.Remote, rp)
}

// setLocal stores a as the local address, copying its path into buf's storage.
func (f *fdEntry) setLocal(a event.SockAddr, buf []byte) {
	f.localPath = append(buf[:0], a.Path...)
	f.fd.Local = a
	f.fd.Local.Path = f.localPath
}

func (f *fdEntry) setRemote(a event.SockAddr, buf []byte) {
	f.remotePath = append(buf[:0], a.Path...)
	f.fd.Remote = a
	f.fd.Remote.Path = f.remotePath
}

func (f *fdEntry) isFile() bool { return f.fd.Type == event.FDFile }

func (t *Table) newFD() *fdEntry {
	if n := len(t.freeFDs); n > 0 {
		f := t.freeFDs[n-1]
		t.freeFDs = t.freeFDs[:n-1]
		return f
	}
	return &fdEntry{}
}

func (t *Table) freeFD(f *fdEntry) {
	if len(t.freeFDs) < maxFreeFDs {
		t.freeFDs = append(t.freeFDs, f)
	}
}

func (t *Table) lookupFD(e *entry, fd int32) *event.FD {
	if f := e.fds[fd]; f != nil {
		return &f.fd
	}
	return nil
}

// put returns the stored entry for fd, reset to type typ, or nil when the
// process's bounds leave no room (counted).
func (t *Table) put(e *entry, fd int32, typ uint8, cloexec bool) *fdEntry {
	f := e.fds[fd]
	if f != nil {
		if f.isFile() {
			e.files--
		}
	} else {
		if len(e.fds) >= t.maxFDs {
			t.stats.FDsDropped++
			return nil
		}
		if typ == event.FDFile && e.files >= t.maxFiles {
			t.stats.FilesNotStored++
			return nil
		}
		f = t.newFD()
		if e.fds == nil {
			e.fds = make(map[int32]*fdEntry)
		}
		e.fds[fd] = f
	}
	if typ == event.FDFile {
		if e.files >= t.maxFiles {
			// Reusing a descriptor number for a file over the quota.
			delete(e.fds, fd)
			t.freeFD(f)
			t.stats.FilesNotStored++
			return nil
		}
		e.files++
	}
	name, lp, rp := f.fd.Name, f.localPath, f.remotePath
	*f = fdEntry{localPath: lp[:0], remotePath: rp[:0], cloexec: cloexec}
	f.fd = event.FD{Num: fd, Type: typ, Name: name[:0]}
	return f
}

func (t *Table) closeFD(e *entry, fd int32) {
	f := e.fds[fd]
	if f == nil {
		return
	}
	if f.isFile() {
		e.files--
	}
	delete(e.fds, fd)
	t.freeFD(f)
}

// scratch returns the table's descriptor for data that is not stored.
func (t *Table) scratchOf(fd int32, typ uint8, name []byte) *event.FD {
	t.scratchFD = event.FD{Num: fd, Type: typ, Name: name}
	return &t.scratchFD
}

// open handles open, creat, openat and openat2. Failed opens report the path
// they tried, with Num -1.
func (t *Table) open(e *entry, ev *event.Event) {
	dirfd, flags := int64(unix.AT_FDCWD), ev.Args[0]
	if ev.Type != event.Open && ev.Type != event.Creat {
		dirfd, flags = ev.Args[0], ev.Args[1]
	}
	var name []byte
	if ev.Res >= 0 && len(ev.Path2) > 0 && !ev.Path2Truncated {
		// The path of the file the kernel opened, which no racing
		// thread can have changed.
		name = append(t.scratch[:0], ev.Path2...)
		t.scratch = name
	} else {
		name = t.resolve(e, dirfd, ev.Path)
	}
	typ := uint8(event.FDFile)
	if flags&(unix.O_DIRECTORY|unix.O_PATH) != 0 {
		// Opened to be used as a directory (dirfd, fchdir), or O_PATH,
		// which is mostly that: keep it like a directory.
		typ = event.FDDirectory
	}
	if ev.Res < 0 {
		ev.FD = t.scratchOf(-1, typ, name)
		return
	}
	fd := int32(ev.Res)
	if f := t.put(e, fd, typ, flags&unix.O_CLOEXEC != 0); f != nil {
		f.fd.Name = append(f.fd.Name, name...)
		ev.FD = &f.fd
		return
	}
	ev.FD = t.scratchOf(fd, typ, name)
}

func (t *Table) memfd(e *entry, ev *event.Event) {
	if ev.Res < 0 {
		return
	}
	fd := int32(ev.Res)
	const mfdCloexec = 1
	if f := t.put(e, fd, event.FDMemfd, ev.Args[0]&mfdCloexec != 0); f != nil {
		f.fd.Name = append(append(f.fd.Name, "memfd:"...), ev.Path...)
		ev.FD = &f.fd
	}
}

// Socket types and protocols, from <linux/net.h> and <netinet/in.h>.
const (
	sockStream = 1
	sockDgram  = 2
	sockMask   = 0xf
	ipprotoTCP = 6
	ipprotoUDP = 17
	afNetlink  = 16
)

func fdTypeOfFamily(family uint16) uint8 {
	switch family {
	case event.AFInet:
		return event.FDIPv4
	case event.AFInet6:
		return event.FDIPv6
	case event.AFUnix:
		return event.FDUnix
	case afNetlink:
		return event.FDNetlink
	}
	return event.FDUnknown
}

func (t *Table) socket(e *entry, ev *event.Event) {
	if ev.Res < 0 {
		return
	}
	family, typ, proto := uint16(ev.Args[0]), ev.Args[1], uint8(ev.Args[2])
	f := t.put(e, int32(ev.Res), fdTypeOfFamily(family), typ&unix.SOCK_CLOEXEC != 0)
	if f == nil {
		return
	}
	if proto == 0 && (family == event.AFInet || family == event.AFInet6) {
		switch typ & sockMask {
		case sockStream:
			proto = ipprotoTCP
		case sockDgram:
			proto = ipprotoUDP
		}
	}
	f.fd.Proto = proto
	f.fd.Local.Family = family
	f.fd.Remote.Family = family
	ev.FD = &f.fd
}

// socketFor returns the stored socket fd, creating it from the event's
// addresses when the socket was made before the table saw it.
func (t *Table) socketFor(e *entry, fd int32, family uint16) *fdEntry {
	if f := e.fds[fd]; f != nil {
		return f
	}
	f := t.put(e, fd, fdTypeOfFamily(family), false)
	if f != nil {
		f.fd.Local.Family, f.fd.Remote.Family = family, family
	}
	return f
}

func (t *Table) connect(e *entry, ev *event.Event) {
	fd := int32(ev.Args[0])
	if ev.Res != 0 && ev.Res != -int64(unix.EINPROGRESS) {
		ev.FD = t.lookupFD(e, fd)
		return
	}
	f := t.socketFor(e, fd, ev.Addr.Family)
	if f == nil {
		ev.FD = t.scratchSocket(fd, ev.Local, ev.Addr, ev.Proto, false, ev.Res == 0)
		return
	}
	f.setRemote(ev.Addr, f.remotePath)
	if ev.Local.Family != 0 {
		f.setLocal(ev.Local, f.localPath)
	}
	if ev.Proto != 0 {
		f.fd.Proto = ev.Proto
	}
	f.fd.Connected = ev.Res == 0
	f.fd.Name = appendTuple(f.fd.Name[:0], &f.fd.Local, &f.fd.Remote)
	ev.FD = &f.fd
}

func (t *Table) accept(e *entry, ev *event.Event) {
	lfd := int32(ev.Args[0])
	if ev.Res < 0 {
		ev.FD = t.lookupFD(e, lfd)
		return
	}
	family, proto := ev.Addr.Family, ev.Proto
	local := ev.Local
	if l := e.fds[lfd]; l != nil {
		if family == 0 {
			family = l.fd.Local.Family
		}
		if proto == 0 {
			proto = l.fd.Proto
		}
		if local.Family == 0 {
			local = l.fd.Local
		}
	}
	cloexec := ev.Type == event.Accept4 && ev.Args[1]&unix.SOCK_CLOEXEC != 0
	f := t.put(e, int32(ev.Res), fdTypeOfFamily(family), cloexec)
	if f == nil {
		ev.FD = t.scratchSocket(int32(ev.Res), local, ev.Addr, proto, true, true)
		return
	}
	f.setLocal(local, f.localPath)
	f.setRemote(ev.Addr, f.remotePath)
	f.fd.Proto = proto
	f.fd.Connected = true
	// Falco's tuple is client->server: the peer first.
	f.fd.Name = appendTuple(f.fd.Name[:0], &f.fd.Remote, &f.fd.Local)
	ev.FD = &f.fd
}

func (t *Table) bind(e *entry, ev *event.Event) {
	fd := int32(ev.Args[0])
	if ev.Res != 0 {
		ev.FD = t.lookupFD(e, fd)
		return
	}
	f := t.socketFor(e, fd, ev.Addr.Family)
	if f == nil {
		return
	}
	f.setLocal(ev.Addr, f.localPath)
	f.fd.Name = appendAddr(f.fd.Name[:0], &f.fd.Local)
	ev.FD = &f.fd
}

// send handles sendto/sendmsg: a destination address on an unconnected
// socket is reported for this event only.
func (t *Table) send(e *entry, ev *event.Event) {
	fd := int32(ev.Args[0])
	f := e.fds[fd]
	if ev.Addr.Family == 0 {
		if f != nil {
			ev.FD = &f.fd
		}
		return
	}
	if f != nil && f.fd.Remote.Family != 0 && (f.fd.Remote.Port != 0 || len(f.fd.Remote.Path) > 0) {
		ev.FD = &f.fd // connected: the kernel ignores the address
		return
	}
	local, proto := ev.Local, ev.Proto
	if f != nil {
		if local.Family == 0 {
			local = f.fd.Local
		}
		if proto == 0 {
			proto = f.fd.Proto
		}
	}
	ev.FD = t.scratchSocket(fd, local, ev.Addr, proto, false, false)
}

// scratchSocket describes a socket that is not stored, in the scratch
// descriptor. Its tuple is local->remote, or remote->local for an accepted
// connection (Falco's tuples put the client first).
func (t *Table) scratchSocket(fd int32, local, remote event.SockAddr, proto uint8, accepted, connected bool) *event.FD {
	family := remote.Family
	if family == 0 {
		family = local.Family
	}
	if accepted {
		t.scratch = appendTuple(t.scratch[:0], &remote, &local)
	} else {
		t.scratch = appendTuple(t.scratch[:0], &local, &remote)
	}
	t.scratchFD = event.FD{Num: fd, Type: fdTypeOfFamily(family), Name: t.scratch, Local: local, Remote: remote, Proto: proto, Connected: connected}
	return &t.scratchFD
}

// dup makes newfd refer to what oldfd refers to.
func (t *Table) dup(e *entry, oldfd, newfd int32, cloexec bool) *event.FD {
	if oldfd == newfd {
		return t.lookupFD(e, newfd)
	}
	old := e.fds[oldfd]
	if old == nil {
		// Unknown source: whatever newfd held is gone.
		t.closeFD(e, newfd)
		return nil
	}
	f := t.put(e, newfd, old.fd.Type, cloexec)
	if f == nil {
		return nil
	}
	f.copyFrom(old)
	f.fd.Num = newfd
	f.cloexec = cloexec
	return &f.fd
}

// appendTuple appends Falco's socket tuple "from->to": addresses for IP
// sockets, the path for Unix sockets.
func appendTuple(b []byte, from, to *event.SockAddr) []byte {
	if from.Family == event.AFUnix || to.Family == event.AFUnix {
		if len(to.Path) > 0 {
			return append(b, to.Path...)
		}
		return append(b, from.Path...)
	}
	b = appendAddr(b, from)
	b = append(b, "->"...)
	return appendAddr(b, to)
}

// appendAddr appends "ip:port" for an IP address, the path of a Unix one.
func appendAddr(b []byte, a *event.SockAddr) []byte {
	switch a.Family {
	case event.AFInet:
		b = netip.AddrFrom4([4]byte(a.IP[:4])).AppendTo(b)
	case event.AFInet6:
		b = netip.AddrFrom16(a.IP).AppendTo(b)
	case event.AFUnix:
		return append(b, a.Path...)
	default:
		return b
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(a.Port), 10)
}
