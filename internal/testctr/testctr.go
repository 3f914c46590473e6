// Package testctr starts real containers for tests: a private containerd
// (Debian's containerd and runc, no systemd) with its state in a temporary
// directory, a busybox-static image built locally, and containers placed at
// a chosen cgroup path, as docker, kubelet or ECS would place them.
//
// One containerd serves a whole test binary. A package that uses testctr
// runs its tests through Main, which stops the daemon and removes what it
// created once the tests are done:
//
//	func TestMain(m *testing.M) { os.Exit(testctr.Main(m)) }
//
// Kubernetes-style pods run through containerd's CRI plugin (Containerd.CRI,
// RunPod): host-network sandboxes, so no CNI plugin is needed, with a local
// image as the pause image and kubelet's cgroup paths and labels.
//
// Requirements (root): the containerd and runc commands (apt packages
// containerd and runc) and /bin/busybox (apt package busybox-static). A
// missing one fails the test with a message naming the package.
package testctr

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ImageRef is the reference of the busybox image imported into containerd.
const ImageRef = "nightjar.test/busybox:latest"

// Containerd is a running private containerd.
type Containerd struct {
	// Dir holds the daemon's root, state, sockets, runc root and logs.
	Dir       string
	Address   string // gRPC socket
	Namespace string // containerd namespace of the test binary's containers
	runcRoot  string
	cmd       *exec.Cmd
	done      chan error
	logPath   string

	mu         sync.Mutex
	containers map[string]string // live container id → cgroup path

	cri criState // pods run through the CRI plugin; see CRI
}

// daemon is the test binary's shared containerd, managed by Main.
type daemon struct {
	inMain bool
	once   sync.Once
	c      *Containerd
	err    error
}

// shared is set up by Main; Start refuses to run without it so that no
// daemon outlives its test binary.
var shared daemon

// Main runs m's tests and then stops the shared containerd, if a test
// started it, removing its containers, cgroups and state. It returns the
// exit code for os.Exit.
func Main(m *testing.M) int {
	shared.inMain = true
	code := m.Run()
	if shared.c != nil {
		if err := shared.c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "testctr:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Start returns the test binary's containerd, starting it and importing the
// busybox image on first use. It fails t when the tools are missing, when
// not root, or when the package's TestMain does not call Main.
func Start(t testing.TB) *Containerd {
	t.Helper()
	if !shared.inMain {
		t.Fatal("testctr: the package's TestMain must run the tests through testctr.Main, which stops containerd at the end")
	}
	shared.once.Do(func() {
		shared.c, shared.err = newContainerd()
	})
	if shared.err != nil {
		t.Fatalf("testctr: %v", shared.err)
	}
	return shared.c
}

// Check returns an error naming what is missing to run containers here.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("containers need root; run the tests as root")
	}
	for _, tool := range []struct{ name, pkg string }{
		{"containerd", "containerd"}, {"ctr", "containerd"}, {"runc", "runc"},
	} {
		if _, err := exec.LookPath(tool.name); err != nil {
			return fmt.Errorf("%s not found in PATH: apt-get install %s", tool.name, tool.pkg)
		}
	}
	if _, err := os.Stat(busyboxPath); err != nil {
		return fmt.Errorf("%s not found: apt-get install busybox-static", busyboxPath)
	}
	return nil
}

const config = `version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.internal.v1.opt"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  level = "info"

[plugins."io.containerd.grpc.v1.cri"]
  # Root here lacks CAP_SYS_RESOURCE: runc cannot raise oom_score_adj.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  # No registry is reachable: pods' sandboxes run a local image (see CRI).
  sandbox_image = %[5]q
`

func newContainerd() (*Containerd, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	// Short: the socket path must fit in sun_path (108 bytes).
	dir, err := os.MkdirTemp("", "testctr")
	if err != nil {
		return nil, err
	}
	c := &Containerd{
		Dir:        dir,
		Address:    filepath.Join(dir, "c.sock"),
		Namespace:  "nightjar-test-" + strconv.Itoa(os.Getpid()),
		runcRoot:   filepath.Join(dir, "runc"),
		logPath:    filepath.Join(dir, "containerd.log"),
		done:       make(chan error, 1),
		containers: make(map[string]string),
	}
	cfgPath := filepath.Join(dir, "config.toml")
	cfg := fmt.Sprintf(config, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Address, c.Address+".ttrpc", PauseImageRef)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf, err := os.Create(c.logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	c.cmd = exec.Command("containerd", "--config", cfgPath)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// Kill the daemon if the test binary dies without running Main's
	// clean-up (a panic, a timeout).
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	go func() { c.done <- c.cmd.Wait() }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := c.ctr(context.Background(), nil, "version"); err == nil {
			break
		}
		select {
		case err := <-c.done:
			c.done <- err
			log, _ := os.ReadFile(c.logPath)
			c.Close()
			return nil, fmt.Errorf("containerd exited at start-up (%v); log:\n%s", err, tail(log, 4000))
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(c.logPath)
			c.Close()
			return nil, fmt.Errorf("containerd did not answer on %s within 20s; log:\n%s", c.Address, tail(log, 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}

	img := filepath.Join(dir, "busybox.tar")
	if err := writeImage(img); err != nil {
		c.Close()
		return nil, fmt.Errorf("build busybox image: %w", err)
	}
	if out, err := c.ctr(context.Background(), nil, "image", "import", img); err != nil {
		c.Close()
		return nil, fmt.Errorf("ctr image import: %v: %s", err, out)
	}
	return c, nil
}

// ctr runs the ctr command against the daemon and returns its combined
// output.
func (c *Containerd) ctr(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	args = append([]string{"--address", c.Address, "--namespace", c.Namespace}, args...)
	cmd := exec.CommandContext(ctx, "ctr", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	return out.Bytes(), err
}

// ctrArgs runs the ctr command with args as given and returns its combined
// output.
func (c *Containerd) ctrArgs(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ctr", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// Result is how a container process ended.
type Result struct {
	ExitCode int
	// Output is its standard output and standard error, interleaved.
	Output string
}

// NewID returns a random 64-hex container id, as docker makes.
func NewID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DockerCgroup returns the cgroup path docker's cgroupfs driver gives the
// container id: /docker/<id>.
func DockerCgroup(id string) string { return "/docker/" + id }

// Run runs args in a new container id (containerd's container name) at
// cgroupPath, waits for it to end and removes it. A process that exits
// non-zero is a Result, not a failure; failing to run it fails t.
func (c *Containerd) Run(t testing.TB, id, cgroupPath string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c.track(id, cgroupPath)
	defer c.untrack(id)
	runArgs := append([]string{"run", "--rm", "--runc-root", c.runcRoot, "--cgroup", cgroupPath, ImageRef, id}, args...)
	out, err := c.run(ctx, id, runArgs)
	defer c.removeCgroups(cgroupPath)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return Result{Output: string(out)}
	case errors.As(err, &ee) && ctx.Err() == nil && !strings.Contains(string(out), "ctr: "):
		return Result{ExitCode: ee.ExitCode(), Output: string(out)}
	default:
		t.Fatalf("testctr: ctr run %s: %v: %s", id, err, out)
		return Result{}
	}
}

// run runs ctr run, once more when runc found the cgroup's parent gone:
// another test binary removed the shared parent (/docker) as it cleaned up
// between runc's creating it and creating the container's directory.
func (c *Containerd) run(ctx context.Context, id string, args []string) ([]byte, error) {
	out, err := c.ctr(ctx, nil, args...)
	if err != nil && ctx.Err() == nil && bytes.Contains(out, []byte("cgroup")) && bytes.Contains(out, []byte("no such file or directory")) {
		c.ctr(ctx, nil, "task", "delete", "--force", id)
		c.ctr(ctx, nil, "container", "delete", id)
		out, err = c.ctr(ctx, nil, args...)
	}
	return out, err
}

// Container is a long-running container.
type Container struct {
	ID         string
	CgroupPath string
	// PID is the host pid of the container's first process.
	PID int
	c   *Containerd
}

// Start starts args in a detached container id at cgroupPath and returns
// once its first process runs. The container is killed and removed when
// the test ends.
func (c *Containerd) Start(t testing.TB, id, cgroupPath string, args ...string) *Container {
	t.Helper()
	return c.StartWith(t, id, cgroupPath, StartOptions{}, args...)
}

// StartOptions are what StartWith adds to ctr run.
type StartOptions struct {
	// Labels are set on the container record (ctr run --label).
	Labels map[string]string
	// Privileged runs the container with every capability and device
	// (ctr run --privileged).
	Privileged bool
	// Mounts are ctr run --mount specifications
	// ("type=bind,src=/a,dst=/b,options=rbind:ro").
	Mounts []string
}

// StartWith is Start with options.
func (c *Containerd) StartWith(t testing.TB, id, cgroupPath string, opts StartOptions, args ...string) *Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c.track(id, cgroupPath)
	runArgs := []string{"run", "--detach", "--null-io", "--runc-root", c.runcRoot, "--cgroup", cgroupPath}
	for k, v := range opts.Labels {
		runArgs = append(runArgs, "--label", k+"="+v)
	}
	if opts.Privileged {
		runArgs = append(runArgs, "--privileged")
	}
	for _, m := range opts.Mounts {
		runArgs = append(runArgs, "--mount", m)
	}
	runArgs = append(append(runArgs, ImageRef, id), args...)
	if out, err := c.run(ctx, id, runArgs); err != nil {
		c.remove(id)
		t.Fatalf("testctr: ctr run --detach %s: %v: %s", id, err, out)
	}
	ct := &Container{ID: id, CgroupPath: cgroupPath, c: c}
	t.Cleanup(func() {
		if err := c.remove(id); err != nil {
			t.Errorf("testctr: remove container %s: %v", id, err)
		}
	})
	pid, err := c.taskPID(ctx, id)
	if err != nil {
		t.Fatalf("testctr: %v", err)
	}
	ct.PID = pid
	return ct
}

// Exec runs args inside the container and waits for them. The process
// runs args directly (sh execs into them), with its output sent to a file
// in the container that Exec reads from the host: ctr's own output relay
// loses the output of processes that exit quickly.
func (ct *Container) Exec(t testing.TB, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	execID := "e" + NewID()[:12]
	outFile := "/tmp/.testctr-" + execID
	execArgs := append([]string{"task", "exec", "--exec-id", execID, ct.ID,
		"/bin/sh", "-c", `exec "$@" >` + outFile + ` 2>&1`, "sh"}, args...)
	out, err := ct.c.ctr(ctx, nil, execArgs...)
	hostFile := "/proc/" + strconv.Itoa(ct.PID) + "/root" + outFile
	output, rerr := os.ReadFile(hostFile)
	os.Remove(hostFile)
	var ee *exec.ExitError
	switch {
	case rerr != nil:
		t.Fatalf("testctr: ctr task exec in %s: %v: %s; output file: %v", ct.ID, err, out, rerr)
	case err == nil:
		return Result{Output: string(output)}
	case errors.As(err, &ee) && ctx.Err() == nil && !strings.Contains(string(out), "ctr: "):
		return Result{ExitCode: ee.ExitCode(), Output: string(output)}
	default:
		t.Fatalf("testctr: ctr task exec in %s: %v: %s", ct.ID, err, out)
	}
	return Result{}
}

// taskPID returns the host pid of the task of container id.
func (c *Containerd) taskPID(ctx context.Context, id string) (int, error) {
	out, err := c.ctr(ctx, nil, "task", "ls")
	if err != nil {
		return 0, fmt.Errorf("ctr task ls: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil || pid <= 0 {
				return 0, fmt.Errorf("ctr task ls: task %s: pid %q", id, f[1])
			}
			return pid, nil
		}
	}
	return 0, fmt.Errorf("ctr task ls: no task %s in:\n%s", id, out)
}

func (c *Containerd) track(id, cgroupPath string) {
	c.mu.Lock()
	c.containers[id] = cgroupPath
	c.mu.Unlock()
}

func (c *Containerd) untrack(id string) {
	c.mu.Lock()
	delete(c.containers, id)
	c.mu.Unlock()
}

// remove kills and deletes container id and its cgroups.
func (c *Containerd) remove(id string) error {
	c.mu.Lock()
	cgroupPath, ok := c.containers[id]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if _, err := c.ctr(ctx, nil, "task", "kill", "--signal", "SIGKILL", id); err == nil {
		// Wait for the kill to land before deleting the task.
		for {
			out, err := c.ctr(ctx, nil, "task", "ls")
			if err != nil || !bytes.Contains(out, []byte(id+" ")) || bytes.Contains(out, []byte("STOPPED")) {
				break
			}
			if ctx.Err() != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if out, err := c.ctr(ctx, nil, "task", "delete", "--force", id); err != nil && !bytes.Contains(out, []byte("not found")) {
		errs = append(errs, fmt.Errorf("ctr task delete: %v: %s", err, out))
	}
	if out, err := c.ctr(ctx, nil, "container", "delete", id); err != nil && !bytes.Contains(out, []byte("not found")) {
		errs = append(errs, fmt.Errorf("ctr container delete: %v: %s", err, out))
	}
	if err := c.removeCgroups(cgroupPath); err != nil {
		errs = append(errs, err)
	}
	c.untrack(id)
	return errors.Join(errs...)
}

// removeCgroups removes the directories of cgroupPath that runc left in
// every mounted hierarchy, and their parents when empty (/docker).
func (c *Containerd) removeCgroups(cgroupPath string) error {
	if cgroupPath == "" || cgroupPath == "/" {
		return nil
	}
	roots, err := cgroupMounts()
	if err != nil {
		return err
	}
	var errs []error
	for _, root := range roots {
		for p := cgroupPath; p != "/" && p != "." && p != ""; p = filepath.Dir(p) {
			err := syscall.Rmdir(filepath.Join(root, p))
			if errors.Is(err, syscall.ENOENT) {
				continue // runc removed it
			}
			if err != nil {
				if p == cgroupPath {
					errs = append(errs, fmt.Errorf("remove cgroup %s: %w", filepath.Join(root, p), err))
				}
				break // a parent still used by others stays
			}
		}
	}
	return errors.Join(errs...)
}

// cgroupMounts returns the mount points of every cgroup hierarchy.
func cgroupMounts() ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var roots []string
	for _, line := range strings.Split(string(b), "\n") {
		_, post, ok := strings.Cut(line, " - ")
		f := strings.Fields(line)
		if !ok || len(f) < 5 {
			continue
		}
		if fs := strings.Fields(post); len(fs) > 0 && (fs[0] == "cgroup" || fs[0] == "cgroup2") {
			roots = append(roots, f[4])
		}
	}
	return roots, nil
}

// Close removes every pod and container, stops containerd and removes its
// state.
func (c *Containerd) Close() error {
	var errs []error
	if err := c.closeCRI(); err != nil {
		errs = append(errs, err)
	}
	c.mu.Lock()
	ids := make([]string, 0, len(c.containers))
	for id := range c.containers {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		if err := c.remove(id); err != nil {
			errs = append(errs, err)
		}
	}
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
	}
	// Snapshot mounts left behind would keep RemoveAll from finishing.
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], c.Dir+"/") {
				syscall.Unmount(f[4], syscall.MNT_DETACH)
			}
		}
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
