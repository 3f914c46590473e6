package fields

import (
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
)

// lineage is sshd (session leader) → bash (group leader) → make → cc, in a
// pid namespace where the pids differ from the host's.
func lineage() *event.Process {
	sshd := &event.Process{PID: 5000, VPID: 50, SID: 50, VPGID: 50, Name: "sshd", Exe: "sshd", ExePath: "/usr/sbin/sshd", StartTime: 1_000}
	bash := &event.Process{PID: 5001, VPID: 51, SID: 50, VPGID: 51, Name: "bash", Exe: "-bash", ExePath: "/bin/bash", Parent: sshd, StartTime: 2_000}
	mk := &event.Process{PID: 5002, VPID: 52, SID: 50, VPGID: 51, Name: "make", Exe: "make", ExePath: "/usr/bin/make", Parent: bash, StartTime: 3_000}
	return &event.Process{PID: 5003, VPID: 53, SID: 50, VPGID: 51, Name: "cc", Exe: "cc", ExePath: "/usr/bin/cc",
		Args: []string{"-c", "x.c"}, Parent: mk, StartTime: 4_000,
		ExeIno: 1234, ExeInoCtime: 3_500, ExeInoMtime: 3_400,
		CapEffective: 1 << 21, CapPermitted: 1<<21 | 1, CapInheritable: 0,
		Container: &event.Container{ID: "abc", StartTS: 1764180000000000000,
			Mounts: []event.ContainerMount{{Source: "/var/lib/x", Dest: "/data", Mode: "rw", RW: true, Propagation: "rprivate"}}},
	}
}

func TestMoreFields(t *testing.T) {
	r := New()
	exec := &event.Event{Type: event.Execve, Num: 77, Time: 10_000, Res: 0, Path: []byte("/usr/bin/cc"), Proc: lineage()}
	open := openEvent()
	open.Path = []byte("../notes/./todo.txt")
	rename := &event.Event{Type: event.Renameat2, Args: [4]int64{-100, 5, 0}, Path: []byte("a.txt"), Path2: []byte("/tmp/b.txt"),
		Proc: &event.Process{Cwd: "/home/u"}}
	symlink := &event.Event{Type: event.Symlinkat, Args: [4]int64{-100}, Path: []byte("../target"), Path2: []byte("link"),
		Proc: &event.Process{Cwd: "/srv"}}
	send := &event.Event{Type: event.Sendto, Proto: 17, Res: 40, Args: [4]int64{6, 40}}
	send.Addr = event.SockAddr{Family: event.AFInet, Port: 53, IP: [16]byte{1, 1, 1, 1}}
	send.Local = event.SockAddr{Family: event.AFInet, Port: 40000, IP: [16]byte{10, 0, 0, 1}}
	sameSend := *send
	sameSend.FD = &event.FD{Type: event.FDIPv4, Remote: send.Addr, Local: send.Local}
	connectedSend := *send
	connectedSend.Addr = event.SockAddr{}
	unix := &event.Event{Type: event.Connect, Res: 0, Args: [4]int64{4}}
	unix.Addr = event.SockAddr{Family: event.AFUnix, Path: []byte("/run/x.sock")}
	conn := connectEvent()
	tests := []struct {
		ev    *event.Event
		field string
		want  string
	}{
		{exec, "evt.num", "77"},
		{exec, "evt.args", "res=0 filename=/usr/bin/cc"},
		{open, "evt.args", "fd=3 dirfd=AT_FDCWD flags=O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC mode=0755 name=../notes/./todo.txt"},
		{exec, "proc.aexe[2]", "-bash"},
		{exec, "proc.aexepath[3]", "/usr/sbin/sshd"},
		{exec, "proc.aexepath[0]", "/usr/bin/cc"},
		{exec, "proc.aexepath[9]", "<NA>"},
		{exec, "proc.vpid", "53"},
		{exec, "proc.pvpid", "52"},
		{open, "proc.vpid", "<NA>"},
		{exec, "proc.sname", "sshd"},
		{exec, "proc.sid.exe", "sshd"},
		{exec, "proc.sid.exepath", "/usr/sbin/sshd"},
		{exec, "proc.vpgid.name", "bash"},
		{exec, "proc.vpgid.exe", "-bash"},
		{exec, "proc.vpgid.exepath", "/bin/bash"},
		{exec, "proc.is_vpgid_leader", "false"},
		{exec, "proc.is_sid_leader", "false"},
		{exec, "proc.duration", "6000"},
		{exec, "proc.ppid.duration", "7000"},
		{exec, "proc.pid.ts", "4000"},
		{exec, "proc.ppid.ts", "3000"},
		{exec, "proc.cmdnargs", "2"},
		{exec, "proc.exe_ino", "1234"},
		{exec, "proc.exe_ino.ctime", "3500"},
		{exec, "proc.exe_ino.mtime", "3400"},
		{exec, "proc.exe_ino.ctime_duration_proc_start", "500"},
		{open, "proc.exe_ino.ctime", "<NA>"},
		{exec, "thread.cap_effective", "CAP_SYS_ADMIN"},
		{exec, "thread.cap_permitted", "CAP_CHOWN CAP_SYS_ADMIN"},
		{exec, "thread.cap_inheritable", ""},
		{exec, "container.start_ts", "1764180000000000000"},
		{exec, "container.mounts", "/var/lib/x:/data:rw:true:rprivate"},
		{open, "fd.nameraw", "../notes/./todo.txt"},
		{open, "fd.name", "/root/notes/todo.txt"},
		{conn, "fd.nameraw", "<NA>"},
		{conn, "fd.connected", "false"}, // EINPROGRESS
		{conn, "fd.name_changed", "true"},
		{conn, "fd.sockfamily", "ip"},
		{unix, "fd.sockfamily", "unix"},
		{unix, "fd.connected", "true"},
		{open, "fd.sockfamily", "<NA>"},
		{send, "fd.connected", "false"},
		{send, "fd.name_changed", "true"},
		{&sameSend, "fd.name_changed", "false"},
		{&connectedSend, "fd.connected", "true"},
		{&connectedSend, "fd.name_changed", "false"},
		{send, "fd.rnet", "1.1.1.1"},
		{send, "fd.lnet", "10.0.0.1"},
		{open, "fs.path.name", "/root/notes/todo.txt"},
		{open, "fs.path.nameraw", "../notes/./todo.txt"},
		{open, "fs.path.source", "<NA>"},
		{rename, "fs.path.source", "/home/u/a.txt"},
		{rename, "fs.path.sourceraw", "a.txt"},
		{rename, "fs.path.target", "/tmp/b.txt"},
		{rename, "fs.path.name", "<NA>"},
		{symlink, "fs.path.source", "<NA>"},
		{symlink, "fs.path.sourceraw", "../target"},
		{symlink, "fs.path.target", "/srv/link"},
		{conn, "fd.sip.name", "<NA>"},
	}
	for _, tt := range tests {
		if got := text(t, r, tt.field, tt.ev); got != tt.want {
			t.Errorf("%s on %s = %q, want %q", tt.field, tt.ev.Type, got, tt.want)
		}
	}
}

type names map[string][]netip.Addr

func (n names) Want(string) {}
func (n names) Has(name string, ip netip.Addr) bool {
	for _, a := range n[name] {
		if a == ip {
			return true
		}
	}
	return false
}
func (n names) Lookup(ip netip.Addr) (string, bool) {
	for k, as := range n {
		for _, a := range as {
			if a == ip {
				return k, true
			}
		}
	}
	return "", false
}

func TestHostNameFields(t *testing.T) {
	r := NewWithNames(names{"api.test": {netip.MustParseAddr("10.0.0.2")}})
	conn := connectEvent() // 10.0.0.1:50000 -> 10.0.0.2:443
	for field, want := range map[string]string{
		"fd.sip.name": "api.test", "fd.rip.name": "api.test", "fd.cip.name": "<NA>", "fd.lip.name": "<NA>",
	} {
		if got := text(t, r, field, conn); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	d, _ := New().Lookup("fd.sip.name")
	if !d.Unavailable {
		t.Error("fd.sip.name is available without a resolver")
	}
}

func TestTransform(t *testing.T) {
	r := New()
	ev := &event.Event{Type: event.Execve, Proc: &event.Process{Name: "Bash", ExePath: "/usr/bin/", Args: []string{"a", "bc"},
		Env: []string{"B=aGVsbG8gd29ybGQ=", "BAD=%%%", "RAW=aGk"}, Parent: &event.Process{Name: "p", Parent: &event.Process{Name: "q"}}}}
	tests := []struct {
		tr, field, want string
	}{
		{"tolower", "proc.name", "bash"},
		{"toupper", "proc.name", "BASH"},
		{"b64", "proc.env[B]", "hello world"},
		{"b64", "proc.env[RAW]", "hi"},
		{"b64", "proc.env[BAD]", "<NA>"},
		{"basename", "proc.exepath", ""},
		{"len", "proc.args", "4"},
		{"len", "proc.aname", "2"},
		{"len", "proc.env[NONE]", "<NA>"},
	}
	for _, tt := range tests {
		name, arg, has := tt.field, "", false
		if i := indexByte(tt.field, '['); i > 0 {
			name, arg, has = tt.field[:i], tt.field[i+1:len(tt.field)-1], true
		}
		x, err := r.Resolve(name, arg, has)
		if err != nil {
			t.Fatal(err)
		}
		y, err := Transform(tt.tr, x)
		if err != nil {
			t.Fatal(err)
		}
		c := NewCtx("")
		c.Reset(ev)
		if got := string(y.AppendText(nil, c)); got != tt.want {
			t.Errorf("%s(%s) = %q, want %q", tt.tr, tt.field, got, tt.want)
		}
	}
	pid, _ := r.Resolve("proc.pid", "", false)
	if _, err := Transform("tolower", pid); err == nil {
		t.Error("tolower of an int field")
	}
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// TestTransformNoAllocs: transformers evaluate per event into the context's
// arena; once it has grown they allocate nothing, whatever the value's size.
func TestTransformNoAllocs(t *testing.T) {
	r := New()
	long := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("payload ", 40)))
	ev := &event.Event{Type: event.Execve, Proc: &event.Process{Name: strings.Repeat("Bash", 30), Env: []string{"P=" + long}}}
	for _, f := range []struct{ tr, name, arg string }{{"b64", "proc.env", "P"}, {"tolower", "proc.name", ""}, {"toupper", "proc.name", ""}} {
		x, err := r.Resolve(f.name, f.arg, f.arg != "")
		if err != nil {
			t.Fatal(err)
		}
		y, err := Transform(f.tr, x)
		if err != nil {
			t.Fatal(err)
		}
		c := NewCtx("")
		allocs := testing.AllocsPerRun(100, func() {
			c.Reset(ev)
			if _, ok := y.Str(c, 0); !ok {
				t.Fatalf("%s(%s) missing", f.tr, f.name)
			}
		})
		if allocs != 0 {
			t.Errorf("%s(%s): %v allocations per event", f.tr, f.name, allocs)
		}
	}
}
