package main

import (
	"bytes"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/internal/jsontext"
)

// appendText appends ev as one line of Falco-named key=value fields.
func appendText(b []byte, ev *event.Event) []byte {
	b = time.Unix(0, ev.Time).AppendFormat(b, "15:04:05.000000000")
	w := fieldWriter{b: b}
	w.fields(ev)
	return w.b
}

// appendJSON appends ev as a JSON object keyed by Falco field names.
func appendJSON(b []byte, ev *event.Event) []byte {
	b = append(b, `{"evt.time":"`...)
	b = time.Unix(0, ev.Time).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	w := fieldWriter{b: b, json: true}
	w.fields(ev)
	return append(w.b, '}')
}

// fieldWriter appends fields in either output form without allocating.
type fieldWriter struct {
	b    []byte
	json bool
}

func (w *fieldWriter) key(k string) {
	if w.json {
		w.b = append(w.b, ',', '"')
		w.b = append(w.b, k...)
		w.b = append(w.b, '"', ':')
		return
	}
	w.b = append(w.b, ' ')
	w.b = append(w.b, k...)
	w.b = append(w.b, '=')
}

func (w *fieldWriter) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *fieldWriter) str(k string, v []byte) {
	w.key(k)
	w.b = appendQuoted(w.b, v, w.json)
}

func (w *fieldWriter) strS(k, v string) {
	w.key(k)
	if w.json {
		w.b = append(w.b, '"')
		w.b = append(w.b, v...)
		w.b = append(w.b, '"')
		return
	}
	w.b = append(w.b, v...)
}

func (w *fieldWriter) fields(ev *event.Event) {
	w.strS("evt.type", ev.Type.String())
	if ev.Res < 0 {
		w.strS("evt.res", unix.ErrnoName(unix.Errno(-ev.Res)))
	} else {
		w.strS("evt.res", "SUCCESS")
	}
	w.int("evt.rawres", ev.Res)
	w.int("proc.pid", int64(ev.PID))
	w.int("thread.tid", int64(ev.TID))
	w.int("proc.ppid", int64(ev.PPID))
	n := 0
	for n < len(ev.Comm) && ev.Comm[n] != 0 {
		n++
	}
	w.str("proc.name", ev.Comm[:n])
	w.int("user.uid", int64(ev.UID))
	w.int("group.gid", int64(ev.GID))
	w.int("user.loginuid", int64(int32(ev.LoginUID)))
	w.process(ev.Proc)

	switch ev.Type {
	case event.Execve, event.Execveat:
		w.cmdline(ev)
		if ev.Path2 != nil {
			w.str("proc.exepath", ev.Path2)
		}
	default:
		switch {
		case ev.FD != nil && len(ev.FD.Name) > 0:
			w.str("fd.name", ev.FD.Name)
		case ev.Path != nil:
			w.str("fd.name", ev.Path)
		}
	}
	w.socket(ev)

	for i, v := range ev.Args {
		if name := argName(ev.Type, i); name != "" {
			w.int(argKey(name), v)
		}
	}
	for i, p := range [2][]byte{ev.Path, ev.Path2} {
		if name := pathArgName(ev.Type, i); name != "" && p != nil {
			w.str(argKey(name), p)
		}
	}
}

// process writes the fields the process table knows, when it is in use.
func (w *fieldWriter) process(p *event.Process) {
	if p == nil {
		return
	}
	w.strQ("proc.exe", p.Exe)
	w.strQ("proc.cwd", p.Cwd)
	w.strQ("user.name", p.User)
	w.int("proc.tty", int64(p.TTY))
	if p.Parent != nil {
		w.strQ("proc.pname", p.Parent.Name)
	}
	w.strQ("container.id", container.ID(p.Container))
	if c := p.Container; c != nil && c.Name != "" {
		w.strQ("container.name", c.Name)
	}
}

func (w *fieldWriter) strQ(k, v string) {
	w.key(k)
	w.b = appendQuoted(w.b, v, w.json)
}

// cmdline writes proc.cmdline of an exec: the new process name followed by
// the arguments after argv[0], space separated, as Falco prints it.
func (w *fieldWriter) cmdline(ev *event.Event) {
	n := 0
	for n < len(ev.Comm) && ev.Comm[n] != 0 {
		n++
	}
	w.key("proc.cmdline")
	w.b = append(w.b, '"')
	w.b = jsontext.AppendEscaped(w.b, ev.Comm[:n])
	args := ev.Argv
	for first := true; len(args) > 0; first = false {
		arg := args
		if i := bytes.IndexByte(args, 0); i >= 0 {
			arg, args = args[:i], args[i+1:]
		} else {
			args = nil
		}
		if first {
			continue // argv[0]
		}
		w.b = append(w.b, ' ')
		w.b = jsontext.AppendEscaped(w.b, arg)
	}
	w.b = append(w.b, '"')
}

// socket writes the fd.* fields of an event with a socket address.
func (w *fieldWriter) socket(ev *event.Event) {
	local, remote := &ev.Local, &ev.Addr
	inet := func(a *event.SockAddr) bool { return a.Family == event.AFInet || a.Family == event.AFInet6 }
	if remote.Family == event.AFUnix && remote.Path != nil {
		w.str("fd.name", remote.Path)
	}
	if !inet(local) && !inet(remote) {
		return
	}
	// Falco names the two ends client and server; who is which depends
	// on the call.
	server, client := remote, local
	switch ev.Type {
	case event.Accept, event.Accept4, event.Bind, event.Listen:
		server, client = local, remote
	}
	if inet(client) && inet(server) {
		w.key("fd.name")
		if w.json {
			w.b = append(w.b, '"')
		}
		w.b = appendHostPort(w.b, client)
		w.b = append(w.b, "->"...)
		w.b = appendHostPort(w.b, server)
		if w.json {
			w.b = append(w.b, '"')
		}
	}
	w.addr("fd.cip", "fd.cport", client)
	w.addr("fd.sip", "fd.sport", server)
	w.addr("fd.lip", "fd.lport", local)
	w.addr("fd.rip", "fd.rport", remote)
	if p := l4proto(ev.Proto); p != "" {
		w.strS("fd.l4proto", p)
	}
}

func (w *fieldWriter) addr(ipKey, portKey string, a *event.SockAddr) {
	if a.Family != event.AFInet && a.Family != event.AFInet6 {
		return
	}
	w.key(ipKey)
	if w.json {
		w.b = append(w.b, '"')
	}
	w.b = ip(a).AppendTo(w.b)
	if w.json {
		w.b = append(w.b, '"')
	}
	w.int(portKey, int64(a.Port))
}

func ip(a *event.SockAddr) netip.Addr {
	if a.Family == event.AFInet {
		return netip.AddrFrom4([4]byte(a.IP[:4]))
	}
	return netip.AddrFrom16(a.IP)
}

func appendHostPort(b []byte, a *event.SockAddr) []byte {
	b = ip(a).AppendTo(b)
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(a.Port), 10)
}

func l4proto(p uint8) string {
	switch p {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	case unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6:
		return "icmp"
	case unix.IPPROTO_RAW:
		return "raw"
	}
	return ""
}

// argKey returns "evt.arg.<name>" for the names argName and pathArgName
// return; the table avoids building the key per event.
func argKey(name string) string {
	if k, ok := argKeys[name]; ok {
		return k
	}
	return "evt.arg." + name
}

var argKeys = func() map[string]string {
	m := map[string]string{}
	for t := event.Type(0); t < event.NumTypes; t++ {
		for i := range 4 {
			if n := argName(t, i); n != "" {
				m[n] = "evt.arg." + n
			}
		}
		for i := range 2 {
			if n := pathArgName(t, i); n != "" {
				m[n] = "evt.arg." + n
			}
		}
	}
	return m
}()

// argNames and pathArgNames invert event.ArgIndex and event.PathArgIndex
// once, so that formatting needs no search per event.
var argNames, pathArgNames = func() (a [event.NumTypes][4]string, p [event.NumTypes][2]string) {
	candidates := []string{
		"dirfd", "flags", "mode", "resolve", "fd", "backlog", "domain", "type", "proto", "size",
		"oldfd", "newfd", "linkdirfd", "olddir", "newdir", "olddirfd", "newdirfd", "request", "pid",
		"len", "uid", "gid", "ruid", "euid", "suid", "rgid", "egid", "sgid", "nstype", "status",
		"filename", "pathname", "name", "target", "linkpath", "oldpath", "newpath", "path", "dev", "dir",
	}
	for t := event.Type(0); t < event.NumTypes; t++ {
		for _, n := range candidates {
			if i, ok := event.ArgIndex(t, n); ok {
				a[t][i] = n
			}
			if i, ok := event.PathArgIndex(t, n); ok {
				p[t][i] = n
			}
		}
	}
	return a, p
}()

func argName(t event.Type, i int) string {
	if t >= event.NumTypes {
		return ""
	}
	return argNames[t][i]
}

func pathArgName(t event.Type, i int) string {
	if t >= event.NumTypes {
		return ""
	}
	return pathArgNames[t][i]
}

// appendQuoted appends s as a JSON string, or in text form as is when it
// has no space, quote or control byte and quoted otherwise.
func appendQuoted[S string | []byte](b []byte, s S, json bool) []byte {
	if !json && !needsQuote(s) {
		return append(b, s...)
	}
	return jsontext.AppendString(b, s)
}

func needsQuote[S string | []byte](s S) bool {
	if len(s) == 0 {
		return true
	}
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}
