package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/testctr"
)

func TestMain(m *testing.M) { os.Exit(testctr.Main(m)) }

func TestFindCgroupV2Mount(t *testing.T) {
	dir := t.TempDir()
	mi := filepath.Join(dir, "mountinfo")
	os.WriteFile(mi, []byte("31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n41 31 0:38 / /sys/fs/cgroup/my\\040v2 rw,relatime shared:5 - cgroup2 cgroup2 rw\n"), 0o600)
	got, err := FindCgroupV2Mount(mi)
	if err != nil || got != "/sys/fs/cgroup/my v2" {
		t.Errorf("FindCgroupV2Mount = %q, %v", got, err)
	}
	os.WriteFile(mi, []byte("31 23 0:28 / /sys/fs/cgroup rw\n"), 0o600)
	if _, err := FindCgroupV2Mount(mi); err == nil || !strings.Contains(err.Error(), mi+": line 1: malformed") {
		t.Errorf("malformed mountinfo: %v", err)
	}
}

// TestResolverRealContainer runs a container the way docker's cgroupfs
// driver places it and one the way kubelet does, and resolves both from
// the kernel's view of their processes.
func TestResolverRealContainer(t *testing.T) {
	ctrd := testctr.Start(t)
	r, err := NewResolver(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if r.CgroupV2Root() == "" {
		t.Fatal("no cgroup v2 hierarchy found in /proc/self/mountinfo")
	}

	id := testctr.NewID()
	ct := ctrd.Start(t, id, testctr.DockerCgroup(id), "sleep", "600")
	path, err := CgroupV2Path("/proc", ct.PID)
	if err != nil || path != "/docker/"+id {
		t.Fatalf("cgroup v2 path of container process %d = %q, %v", ct.PID, path, err)
	}
	cgid, err := CgroupID(r.CgroupV2Root(), path)
	if err != nil {
		t.Fatal(err)
	}
	c, gotID, err := r.Lookup(uint32(ct.PID), cgid)
	if err != nil || c == nil || gotID != cgid {
		t.Fatalf("Lookup(%d, %d) = %+v, %d, %v", ct.PID, cgid, c, gotID, err)
	}
	if c.ID != id[:12] || c.FullID != id || c.Runtime != RuntimeDocker || ID(c) != id[:12] {
		t.Errorf("container %+v, want id %s", c, id[:12])
	}
	// Cached per cgroup id: no /proc read, the same Container.
	before := r.Stats()
	c2, _, err := r.Lookup(uint32(ct.PID), cgid)
	if err != nil || c2 != c || r.Stats().Hits != before.Hits+1 {
		t.Errorf("second Lookup: %p vs %p, stats %+v", c2, c, r.Stats())
	}
	// Unknown cgroup id: computed from /proc.
	r2, _ := NewResolver(Config{})
	c3, id3, err := r2.Lookup(uint32(ct.PID), 0)
	if err != nil || c3 == nil || c3.ID != id[:12] || id3 != cgid {
		t.Errorf("Lookup with unknown cgroup id = %+v, %d, %v; want id %d", c3, id3, err, cgid)
	}

	// Kubelet's cgroupfs layout.
	kid := testctr.NewID()
	pod := "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
	kct := ctrd.Start(t, kid, "/kubepods/besteffort/pod"+pod+"/"+kid, "sleep", "600")
	kc, _, err := r.Lookup(uint32(kct.PID), 0)
	if err != nil || kc == nil || kc.ID != kid[:12] || kc.Runtime != RuntimeContainerd || kc.K8sPodUID != pod {
		t.Errorf("kubepods container = %+v, %v", kc, err)
	}

	// The test process itself runs on the host.
	hc, _, err := r.Lookup(uint32(os.Getpid()), 0)
	if err != nil || hc != nil || ID(hc) != HostID {
		t.Errorf("test process: container %+v, %v", hc, err)
	}
}

// A process that exited before its first event was handled has no /proc
// entry left; its container is found from the cgroup id the kernel
// reported, through the cgroup file system.
func TestResolverGoneProcess(t *testing.T) {
	ctrd := testctr.Start(t)
	id := testctr.NewID()
	ctrd.Start(t, id, testctr.DockerCgroup(id), "sleep", "600")
	r, err := NewResolver(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cgid, err := CgroupID(r.CgroupV2Root(), testctr.DockerCgroup(id))
	if err != nil {
		t.Fatal(err)
	}
	const gone = 1<<22 + 4242 // above pid_max: never a live process
	c, gotID, err := r.Lookup(gone, cgid)
	if err != nil || c == nil || c.ID != id[:12] || gotID != cgid {
		t.Fatalf("Lookup(gone pid, cgroup %d) = %+v, %d, %v; want container %s", cgid, c, gotID, err, id[:12])
	}
	if s := r.Stats(); s.ByCgroupID != 1 || s.ReadErrors != 0 {
		t.Errorf("stats %+v", s)
	}
	// A gone process with no cgroup id to go by is still an error.
	if _, _, err := r.Lookup(gone, 0); err == nil {
		t.Error("Lookup(gone pid, 0) succeeded")
	}
}
