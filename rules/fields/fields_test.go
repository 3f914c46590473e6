package fields

import (
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
)

func sampleProc() *event.Process {
	grand := &event.Process{PID: 1, Name: "systemd", ExePath: "/usr/lib/systemd/systemd"}
	parent := &event.Process{PID: 100, PPID: 1, Name: "sshd", Exe: "/usr/sbin/sshd", ExePath: "/usr/sbin/sshd",
		Args: []string{"-D"}, Parent: grand}
	return &event.Process{
		PID: 200, PPID: 100, Name: "bash", Exe: "-bash", ExePath: "/usr/bin/bash",
		Args: []string{"-i", "-c", "ls"}, Cwd: "/root/work", UID: 0, GID: 0, LoginUID: 1000,
		User: "root", LoginUser: "alice", Group: "tty", TTY: 34816, SID: 200, VPGID: 201,
		ExeUpperLayer: true, CapEffective: 1<<0 | 1<<21,
		Env:    []string{"HOME=/root", "PATH=/usr/bin:/bin"},
		Parent: parent,
		Container: &event.Container{
			ID: "3f2a1b4c5d6e", FullID: "3f2a1b4c5d6e7f", Name: "web", ImageRepository: "docker.io/library/nginx",
			ImageTag: "1.25", Privileged: true, Runtime: "containerd", K8sNamespace: "default",
			K8sPodName: "web-7c9", K8sPodUID: "pod-uid", K8sPodLabels: map[string]string{"app": "web"},
		},
	}
}

func openEvent() *event.Event {
	return &event.Event{
		Type: event.Openat, Time: 1764180000123456789, PID: 200, TID: 201, PPID: 100,
		UID: 0, GID: 5, LoginUID: 1000, Res: 3,
		Args: [4]int64{-100, 0o1 | 0o100 | 0o1000 | 0o2000000, 0o755},
		Path: []byte("../notes/./todo.txt"), Proc: sampleProc(),
	}
}

func connectEvent() *event.Event {
	ev := &event.Event{Type: event.Connect, PID: 200, Res: -115, Args: [4]int64{7}, Proto: 6, Proc: sampleProc()}
	ev.Addr = event.SockAddr{Family: event.AFInet, Port: 443, IP: [16]byte{10, 0, 0, 2}}
	ev.Local = event.SockAddr{Family: event.AFInet, Port: 50000, IP: [16]byte{10, 0, 0, 1}}
	return ev
}

func acceptEvent() *event.Event {
	ev := &event.Event{Type: event.Accept4, PID: 200, Res: 9, Args: [4]int64{4, 0o2000000}, Proto: 6}
	ev.Addr = event.SockAddr{Family: event.AFInet6, Port: 40000, IP: [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}}
	ev.Local = event.SockAddr{Family: event.AFInet6, Port: 22, IP: [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 2}}
	return ev
}

// text renders a field as output text does.
func text(t *testing.T, r *Registry, field string, ev *event.Event) string {
	t.Helper()
	name, arg, has := field, "", false
	if i := strings.IndexByte(field, '['); i > 0 {
		name, arg, has = field[:i], field[i+1:len(field)-1], true
	}
	x, err := r.Resolve(name, arg, has)
	if err != nil {
		t.Fatalf("Resolve(%s): %v", field, err)
	}
	c := NewCtx("node-1")
	c.Reset(ev)
	return string(x.AppendText(nil, c))
}

func TestFields(t *testing.T) {
	r := New()
	open := openEvent()
	conn := connectEvent()
	acc := acceptEvent()
	bare := &event.Event{Type: event.Execve, PID: 9, PPID: 8, UID: 1000, Comm: [16]byte{'c', 'u', 'r', 'l'},
		Argv: []byte("curl\x00-s\x00http://x\x00")}
	tests := []struct {
		ev    *event.Event
		field string
		want  string
	}{
		{open, "evt.type", "openat"},
		{open, "evt.dir", "<"},
		{open, "evt.res", "SUCCESS"},
		{conn, "evt.res", "EINPROGRESS"},
		{open, "evt.rawres", "3"},
		{conn, "evt.rawres", "-115"},
		{open, "evt.failed", "false"},
		{conn, "evt.failed", "true"},
		{open, "evt.time", "18:00:00.123456789"},
		{open, "evt.rawtime", "1764180000123456789"},
		{open, "evt.hostname", "node-1"},
		{open, "evt.is_open_read", "false"},
		{open, "evt.is_open_write", "true"},
		{open, "evt.is_open_exec", "true"},
		{conn, "evt.is_open_write", "<NA>"},
		{open, "evt.arg.flags", "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"},
		{open, "evt.arg.mode", "0755"},
		{open, "evt.arg.dirfd", "AT_FDCWD"},
		{open, "evt.arg.name", "../notes/./todo.txt"},
		{open, "evt.arg.fd", "3"},
		{open, "evt.arg[1]", "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"},
		{open, "evt.rawarg.flags", "524865"},
		{open, "evt.arg.request", "<NA>"},
		{conn, "evt.arg.fd", "7"},
		{open, "evt.buffer", "<NA>"},
		{open, "proc.name", "bash"},
		{bare, "proc.name", "curl"},
		{open, "proc.exe", "-bash"},
		{open, "proc.exepath", "/usr/bin/bash"},
		{open, "proc.cmdline", "bash -i -c ls"},
		{bare, "proc.cmdline", "curl -s http://x"},
		{open, "proc.args", "-i -c ls"},
		{bare, "proc.args", "-s http://x"},
		{open, "proc.pid", "200"},
		{open, "proc.ppid", "100"},
		{open, "proc.pname", "sshd"},
		{bare, "proc.pname", "<NA>"},
		{open, "proc.pexe", "/usr/sbin/sshd"},
		{open, "proc.pexepath", "/usr/sbin/sshd"},
		{open, "proc.pcmdline", "sshd -D"},
		{open, "proc.aname[0]", "bash"},
		{open, "proc.aname[1]", "sshd"},
		{open, "proc.aname[2]", "systemd"},
		{open, "proc.aname[3]", "<NA>"},
		{open, "proc.aname", "sshd"},
		{open, "proc.apid[0]", "200"},
		{open, "proc.apid[1]", "100"},
		{open, "proc.apid[2]", "1"},
		{open, "proc.apid[5]", "<NA>"},
		{open, "proc.cwd", "/root/work"},
		{open, "proc.tty", "34816"},
		{open, "proc.sid", "200"},
		{open, "proc.vpgid", "201"},
		{open, "proc.is_exe_from_memfd", "false"},
		{open, "proc.is_exe_upper_layer", "true"},
		{open, "proc.env", "HOME=/root PATH=/usr/bin:/bin"},
		{open, "proc.env[HOME]", "/root"},
		{open, "proc.env[NOPE]", "<NA>"},
		{bare, "proc.env", "<NA>"},
		{open, "thread.tid", "201"},
		{open, "thread.cap_effective", "CAP_CHOWN CAP_SYS_ADMIN"},
		{open, "user.uid", "0"},
		{bare, "user.uid", "1000"},
		{open, "user.name", "root"},
		{bare, "user.name", "<NA>"},
		{open, "user.loginuid", "1000"},
		{bare, "user.loginuid", "0"},
		{&event.Event{LoginUID: 0xffffffff}, "user.loginuid", "-1"},
		{open, "user.loginname", "alice"},
		{open, "group.gid", "5"},
		{open, "group.name", "tty"},
		{bare, "group.name", "<NA>"},
		{open, "fd.name", "/root/notes/todo.txt"},
		{open, "fd.directory", "/root/notes"},
		{open, "fd.filename", "todo.txt"},
		{open, "fd.num", "3"},
		{open, "fd.type", "file"},
		{open, "fd.typechar", "f"},
		{open, "fd.sip", "<NA>"},
		{conn, "fd.name", "10.0.0.1:50000->10.0.0.2:443"},
		{conn, "fd.directory", "<NA>"},
		{conn, "fd.num", "7"},
		{conn, "fd.type", "ipv4"},
		{conn, "fd.typechar", "4"},
		{conn, "fd.sip", "10.0.0.2"},
		{conn, "fd.cip", "10.0.0.1"},
		{conn, "fd.lip", "10.0.0.1"},
		{conn, "fd.rip", "10.0.0.2"},
		{conn, "fd.sport", "443"},
		{conn, "fd.cport", "50000"},
		{conn, "fd.lport", "50000"},
		{conn, "fd.rport", "443"},
		{conn, "fd.l4proto", "tcp"},
		{conn, "fd.sip.name", "<NA>"},
		{acc, "fd.sip", "2001:db8::2"},
		{acc, "fd.cip", "2001:db8::1"},
		{acc, "fd.sport", "22"},
		{acc, "fd.cport", "40000"},
		{acc, "fd.name", "2001:db8::1:40000->2001:db8::2:22"},
		{acc, "fd.num", "9"},
		{acc, "fd.type", "ipv6"},
		{acc, "evt.arg.flags", "SOCK_CLOEXEC"},
		{open, "container.id", "3f2a1b4c5d6e"},
		{open, "container.full_id", "3f2a1b4c5d6e7f"},
		{open, "container.name", "web"},
		{open, "container.image.repository", "docker.io/library/nginx"},
		{open, "container.image.tag", "1.25"},
		{open, "container.image", "docker.io/library/nginx:1.25"},
		{open, "container.privileged", "true"},
		{open, "container.type", "containerd"},
		{open, "k8s.ns.name", "default"},
		{open, "k8s.pod.name", "web-7c9"},
		{open, "k8s.pod.uid", "pod-uid"},
		{open, "k8s.pod.label[app]", "web"},
		{&event.Event{Proc: &event.Process{Name: "x"}}, "container.id", "host"},
		{&event.Event{Proc: &event.Process{Name: "x"}}, "container.name", "host"},
		{&event.Event{Proc: &event.Process{Name: "x"}}, "k8s.ns.name", "<NA>"},
		{&event.Event{Proc: &event.Process{Name: "x"}}, "container.privileged", "<NA>"},
		{bare, "container.id", "<NA>"},
		{&event.Event{Type: event.Ptrace, Args: [4]int64{16, 42}}, "evt.arg.request", "PTRACE_ATTACH"},
		{&event.Event{Type: event.Ptrace, Args: [4]int64{0x4206, 42}}, "evt.arg.request", "PTRACE_SEIZE"},
		{&event.Event{Type: event.Ptrace, Args: [4]int64{16, 42}}, "evt.arg.pid", "42"},
		{&event.Event{Type: event.Socket, Args: [4]int64{17, 3 | 0o2000000, 768}}, "evt.arg.domain", "AF_PACKET"},
		{&event.Event{Type: event.Socket, Args: [4]int64{17, 3 | 0o2000000, 768}}, "evt.arg.type", "SOCK_RAW|SOCK_CLOEXEC"},
		{&event.Event{Type: event.Socket, Res: 4, Args: [4]int64{2, 1}}, "fd.type", "ipv4"},
		{&event.Event{Type: event.Unshare, Args: [4]int64{0x10000000 | 0x20000}}, "evt.arg.flags", "CLONE_NEWNS|CLONE_NEWUSER"},
		{&event.Event{Type: event.Setns, Args: [4]int64{3, 0x40000000}}, "evt.arg.nstype", "CLONE_NEWNET"},
		{&event.Event{Type: event.Chmod, Args: [4]int64{0o4755}}, "evt.arg.mode", "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"},
		{&event.Event{Type: event.MemfdCreate, Res: 3, Args: [4]int64{1}, Path: []byte("x")}, "evt.arg.flags", "MFD_CLOEXEC"},
		{&event.Event{Type: event.MemfdCreate, Res: 3}, "fd.type", "memfd"},
		{&event.Event{Type: event.Symlinkat, Path: []byte("/etc/shadow"), Path2: []byte("/tmp/s")}, "evt.arg.target", "/etc/shadow"},
		{&event.Event{Type: event.Symlinkat, Path: []byte("/etc/shadow"), Path2: []byte("/tmp/s")}, "evt.arg.linkpath", "/tmp/s"},
		{&event.Event{Type: event.Openat, Res: 3, Args: [4]int64{0, 0o200000}, Path: []byte("/etc")}, "fd.type", "directory"},
		{&event.Event{Type: event.Openat, Res: 3, Args: [4]int64{0, 0}, Path: []byte("/etc/passwd")}, "evt.is_open_read", "true"},
		{&event.Event{Type: event.Openat, Res: -2, Args: [4]int64{0, 0}, Path: []byte("/nope")}, "fd.type", "<NA>"},
		{&event.Event{Type: event.Openat, Res: 3, Args: [4]int64{5, 0}, Path: []byte("rel"), Proc: &event.Process{Cwd: "/x"}}, "fd.name", "<NA>"},
		{&event.Event{Type: event.Openat, Res: 3, Path: []byte("x"), FD: &event.FD{Num: 3, Type: event.FDFile, Name: []byte("/real/x")}}, "fd.name", "/real/x"},
		{&event.Event{Type: event.Openat, Res: 3, Path: []byte("/a"), FD: &event.FD{Num: 3, Type: event.FDFile, Name: []byte("/real/x")}}, "fd.directory", "/real"},
		{&event.Event{Type: event.Openat, Res: 3, Args: [4]int64{-100}, Path: []byte("../../.."), Proc: &event.Process{Cwd: "/a"}}, "fd.name", "/"},
		{&event.Event{Type: event.Openat, Res: 3, Path: []byte("/top")}, "fd.directory", "/"},
		{&event.Event{Type: event.Openat, Res: 3, Path: []byte("/top")}, "fd.filename", "top"},
		{&event.Event{Type: event.Openat, Res: 3, Args: [4]int64{0, 0o200000}, Path: []byte("/")}, "fd.directory", "/"},
		{&event.Event{Type: event.Openat, Res: 3, Args: [4]int64{0, 0o200000}, Path: []byte("/")}, "fd.filename", ""},
	}
	for _, tc := range tests {
		if got := text(t, r, tc.field, tc.ev); got != tc.want {
			t.Errorf("%s on %s event = %q, want %q", tc.field, tc.ev.Type, got, tc.want)
		}
	}
}

func TestValue(t *testing.T) {
	r := New()
	c := NewCtx("h")
	c.Reset(openEvent())
	for field, want := range map[string]any{
		"proc.name": "bash", "proc.pid": int64(200), "evt.failed": false, "evt.time": int64(1764180000123456789),
		"fd.sip": nil, "proc.pname": "sshd",
	} {
		x, err := r.Resolve(field, "", false)
		if err != nil {
			t.Fatal(err)
		}
		if got := x.Value(c); got != want {
			t.Errorf("Value(%s) = %#v, want %#v", field, got, want)
		}
	}
	c.Reset(connectEvent())
	x, _ := r.Resolve("fd.sip", "", false)
	if got := x.Value(c); got != "10.0.0.2" {
		t.Errorf("fd.sip value = %#v", got)
	}
}

func TestResolveErrors(t *testing.T) {
	r := New()
	tests := []struct {
		name, arg string
		has       bool
		want      string
	}{
		{"proc.nme", "", false, "unknown field proc.nme"},
		{"proc.name", "1", true, "takes no argument"},
		{"proc.aname", "x", true, "not a non-negative number"},
		{"proc.aname", "-1", true, "not a non-negative number"},
		{"evt.arg", "", false, "needs an argument"},
		{"evt.arg", "x", true, "not a non-negative number"},
		{"k8s.pod.label", "", false, "needs a name argument"},
		{"evt.rawarg", "", false, "needs a name argument"},
		{"evt.arg.flags", "1", true, "takes one argument"},
		{"nosuch.field.x", "", false, "unknown field nosuch.field.x"},
	}
	for _, tc := range tests {
		_, err := r.Resolve(tc.name, tc.arg, tc.has)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%s, %q): %v, want %q", tc.name, tc.arg, err, tc.want)
		}
	}
	x, err := r.Resolve("evt.arg.nosuchargument", "", false)
	if err != nil || !x.Unavailable {
		t.Errorf("evt.arg.nosuchargument: %v, unavailable=%v; want an unavailable field", err, x != nil && x.Unavailable)
	}
}

func TestRegistryDefs(t *testing.T) {
	r := New()
	required := strings.Fields(`evt.type evt.dir evt.res evt.rawres evt.failed evt.arg evt.is_open_read
		evt.is_open_write evt.is_open_exec evt.time evt.hostname proc.name proc.exe proc.exepath
		proc.cmdline proc.args proc.pid proc.ppid proc.pname proc.pcmdline proc.pexepath proc.aname
		proc.apid proc.cwd proc.tty proc.sid proc.vpgid proc.is_exe_from_memfd proc.is_exe_upper_layer
		proc.env thread.cap_effective user.uid user.name user.loginuid user.loginname group.gid fd.name
		fd.directory fd.filename fd.num fd.type fd.typechar fd.sip fd.dip fd.sport fd.dport fd.lport
		fd.rport fd.rip fd.l4proto fd.net fd.sip.name container.id container.name
		container.image.repository container.privileged k8s.ns.name k8s.pod.name`)
	for _, f := range required {
		if f == "fd.dip" || f == "fd.dport" {
			// Falco has no fd.dip/fd.dport; fd.sip/fd.sport (server side)
			// and fd.rip/fd.rport (remote side) cover them.
			continue
		}
		if _, ok := r.Lookup(f); !ok {
			t.Errorf("field %s is not registered", f)
		}
	}
	if len(r.Defs()) < len(required) {
		t.Errorf("only %d fields", len(r.Defs()))
	}
}

func TestExtractNoAlloc(t *testing.T) {
	r := New()
	ev := openEvent()
	c := NewCtx("h")
	var xs []*Extractor
	for _, f := range []string{"fd.name", "proc.cmdline", "evt.arg.flags", "thread.cap_effective", "fd.directory", "proc.aname"} {
		x, err := r.Resolve(f, "", false)
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, x)
	}
	allocs := testing.AllocsPerRun(100, func() {
		c.Reset(ev)
		for _, x := range xs {
			x.Str(c, 0)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per extraction round, want 0", allocs)
	}
}
