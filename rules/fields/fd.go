package fields

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/nightjar-sec/nightjar/internal/event"
)

const atFDCWD = -100

// isSocketCall reports events whose address arguments describe a socket.
func isSocketCall(t event.Type) bool {
	switch t {
	case event.Connect, event.Accept, event.Accept4, event.Bind, event.Listen, event.Sendto, event.Sendmsg:
		return true
	}
	return false
}

// serverIsLocal reports whether the local end of the event's socket is the
// server side: the socket accepted or is bound/listening.
func serverIsLocal(t event.Type) bool {
	switch t {
	case event.Accept, event.Accept4, event.Bind, event.Listen:
		return true
	}
	return false
}

type end uint8

const (
	local end = iota
	remote
	server
	client
	none
)

func bothEnds(i int) end {
	switch i {
	case 0:
		return local
	case 1:
		return remote
	}
	return none
}

// sockEnd returns the address of one end of the event's socket.
func sockEnd(c *Ctx, e end) *event.SockAddr {
	ev := c.Ev
	var l, r *event.SockAddr
	switch {
	case ev.FD != nil && (ev.FD.Type == event.FDIPv4 || ev.FD.Type == event.FDIPv6):
		l, r = &ev.FD.Local, &ev.FD.Remote
	case ev.Type == event.Bind:
		// bind's address argument is the local end.
		l, r = &ev.Addr, nil
	case isSocketCall(ev.Type):
		l, r = &ev.Local, &ev.Addr
	default:
		return nil
	}
	switch e {
	case server, client:
		if serverIsLocal(ev.Type) == (e == server) {
			return l
		}
		return r
	case local:
		return l
	case remote:
		return r
	}
	return nil
}

func addrIP(a *event.SockAddr) (netip.Addr, bool) {
	if a == nil {
		return netip.Addr{}, false
	}
	switch a.Family {
	case event.AFInet:
		return netip.AddrFrom4([4]byte(a.IP[:4])), true
	case event.AFInet6:
		return netip.AddrFrom16(a.IP).Unmap(), true
	}
	return netip.Addr{}, false
}

func endIP(c *Ctx, e end) (netip.Addr, bool) {
	if e == none {
		return netip.Addr{}, false
	}
	return addrIP(sockEnd(c, e))
}

func endPort(c *Ctx, e end) (int64, bool) {
	if e == none {
		return 0, false
	}
	a := sockEnd(c, e)
	if a == nil || (a.Family != event.AFInet && a.Family != event.AFInet6) {
		return 0, false
	}
	return int64(a.Port), true
}

func fdL4proto(c *Ctx, _ int) (string, bool) {
	p := c.Ev.Proto
	if c.Ev.FD != nil && c.Ev.FD.Proto != 0 {
		p = c.Ev.FD.Proto
	}
	switch p {
	case 6:
		return "tcp", true
	case 17:
		return "udp", true
	case 1, 58:
		return "icmp", true
	case 255:
		return "raw", true
	}
	return "", false
}

// fdName is the opened file's absolute path or the socket's tuple.
func fdName(c *Ctx, _ int) (string, bool) { return c.memo(cacheFDName, computeFDName) }

func computeFDName(c *Ctx) (string, bool) {
	ev := c.Ev
	if ev.FD != nil && len(ev.FD.Name) > 0 {
		return view(ev.FD.Name), true
	}
	switch {
	case isOpen(ev.Type) || ev.Type == event.Execve || ev.Type == event.Execveat:
		if len(ev.Path) == 0 {
			return "", false
		}
		if ev.Path[0] == '/' {
			return view(ev.Path), true
		}
		// A relative path resolves against the cwd when it was opened
		// relative to it; other directory fds are not known here.
		p := ev.Proc
		if p == nil || p.Cwd == "" {
			return "", false
		}
		if isOpen(ev.Type) {
			if di := argSlots.dirfd[ev.Type]; di >= 0 && ev.Args[di] != atFDCWD {
				return "", false
			}
		}
		return c.build(func(dst []byte) []byte { return appendJoin(dst, p.Cwd, ev.Path) }), true
	case isSocketCall(ev.Type):
		cl, sv := sockEnd(c, client), sockEnd(c, server)
		if cl == nil || sv == nil || (cl.Family != event.AFInet && cl.Family != event.AFInet6) {
			if sv != nil && sv.Family == event.AFUnix && len(sv.Path) > 0 {
				return view(sv.Path), true
			}
			return "", false
		}
		return c.build(func(dst []byte) []byte {
			dst = appendEnd(dst, cl)
			dst = append(dst, "->"...)
			return appendEnd(dst, sv)
		}), true
	}
	return "", false
}

func appendEnd(dst []byte, a *event.SockAddr) []byte {
	ip, _ := addrIP(a)
	dst = ip.AppendTo(dst)
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(a.Port), 10)
}

// appendJoin appends dir/rel cleaned of "." and ".." elements.
func appendJoin(dst []byte, dir string, rel []byte) []byte {
	start := len(dst)
	dst = append(dst, dir...)
	push := func(elem []byte) {
		switch string(elem) {
		case "", ".":
		case "..":
			i := len(dst) - 1
			for i > start && dst[i] != '/' {
				i--
			}
			if i <= start {
				dst = append(dst[:start], '/') // never above the root
			} else {
				dst = dst[:i]
			}
		default:
			if len(dst) == start || dst[len(dst)-1] != '/' {
				dst = append(dst, '/')
			}
			dst = append(dst, elem...)
		}
	}
	for len(rel) > 0 {
		i := 0
		for i < len(rel) && rel[i] != '/' {
			i++
		}
		push(rel[:i])
		if i < len(rel) {
			i++
		}
		rel = rel[i:]
	}
	if len(dst) == start {
		dst = append(dst, '/')
	}
	return dst
}

func fileLike(c *Ctx) bool {
	t, ok := fdType(c)
	return ok && (t == event.FDFile || t == event.FDDirectory || t == event.FDMemfd)
}

// filePath returns fd.name when the fd is a file, directory or memfd.
func filePath(c *Ctx) (string, bool) {
	if !fileLike(c) {
		return "", false
	}
	return fdName(c, 0)
}

func fdDirectory(c *Ctx, _ int) (string, bool) {
	n, ok := filePath(c)
	if !ok {
		return "", false
	}
	if i := strings.LastIndexByte(n, '/'); i > 0 {
		return n[:i], true
	}
	return "/", true
}

func fdFilename(c *Ctx, _ int) (string, bool) {
	n, ok := filePath(c)
	if !ok {
		return "", false
	}
	return n[strings.LastIndexByte(n, '/')+1:], true
}

func fdNum(c *Ctx, _ int) (int64, bool) {
	ev := c.Ev
	if ev.FD != nil {
		return int64(ev.FD.Num), true
	}
	if returnsFD(ev.Type) {
		return ev.Res, true
	}
	if i, ok := event.ArgIndex(ev.Type, "fd"); ok {
		return ev.Args[i], true
	}
	return 0, false
}

const (
	afUnix    = 1
	afInet    = 2
	afInet6   = 10
	afNetlink = 16
	afPacket  = 17
	oDir      = 0o200000
)

// fdType returns the FD* type of the event's file descriptor.
func fdType(c *Ctx) (int, bool) {
	ev := c.Ev
	if ev.FD != nil {
		return int(ev.FD.Type), ev.FD.Type != event.FDUnknown
	}
	switch {
	case isOpen(ev.Type):
		if ev.Res < 0 {
			return 0, false
		}
		if f, _, _ := openFlags(ev); f&oDir != 0 {
			return event.FDDirectory, true
		}
		return event.FDFile, true
	case ev.Type == event.MemfdCreate:
		return event.FDMemfd, true
	case ev.Type == event.Socket:
		switch ev.Args[0] {
		case afInet:
			return event.FDIPv4, true
		case afInet6:
			return event.FDIPv6, true
		case afUnix:
			return event.FDUnix, true
		case afNetlink:
			return event.FDNetlink, true
		}
		return 0, false
	case isSocketCall(ev.Type):
		a := sockEnd(c, remote)
		if a == nil || a.Family == 0 {
			a = sockEnd(c, local)
		}
		if a == nil {
			return 0, false
		}
		switch a.Family {
		case event.AFInet:
			return event.FDIPv4, true
		case event.AFInet6:
			return event.FDIPv6, true
		case event.AFUnix:
			return event.FDUnix, true
		}
	}
	return 0, false
}

var fdTypeNames = [...]struct{ name, char string }{
	event.FDFile:      {"file", "f"},
	event.FDDirectory: {"directory", "d"},
	event.FDIPv4:      {"ipv4", "4"},
	event.FDIPv6:      {"ipv6", "6"},
	event.FDUnix:      {"unix", "u"},
	event.FDPipe:      {"pipe", "p"},
	event.FDEvent:     {"event", "e"},
	event.FDSignal:    {"signalfd", "s"},
	event.FDMemfd:     {"memfd", "m"},
	event.FDNetlink:   {"netlink", "n"},
}

func fdTypeName(c *Ctx) (string, bool) {
	t, ok := fdType(c)
	if !ok || t <= 0 || t >= len(fdTypeNames) {
		return "", false
	}
	return fdTypeNames[t].name, true
}

func fdTypeChar(c *Ctx, _ int) (string, bool) {
	t, ok := fdType(c)
	if !ok || t <= 0 || t >= len(fdTypeNames) {
		return "", false
	}
	return fdTypeNames[t].char, true
}
