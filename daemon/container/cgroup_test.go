package container

import (
	"strings"
	"testing"
)

const (
	hexID  = "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708"
	podDsh = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
	podUnd = "1c2d3e4f_5a6b_4c7d_8e9f_0a1b2c3d4e5f"
	taskID = "0123456789abcdef0123456789abcdef"
)

func TestParseCgroup(t *testing.T) {
	tests := []struct {
		path    string
		runtime string
		fullID  string
		pod     string
	}{
		// docker
		{"/docker/" + hexID, RuntimeDocker, hexID, ""},
		{"/system.slice/docker-" + hexID + ".scope", RuntimeDocker, hexID, ""},
		{"/docker/" + hexID + "/init.scope", RuntimeDocker, hexID, ""},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podUnd + ".slice/docker-" + hexID + ".scope", RuntimeDocker, hexID, podDsh},
		{"/kubepods/burstable/pod" + podDsh + "/docker/" + hexID, RuntimeDocker, hexID, podDsh},
		// containerd / CRI
		{"/kubepods/besteffort/pod" + podDsh + "/" + hexID, RuntimeContainerd, hexID, podDsh},
		{"/kubepods/pod" + podDsh + "/" + hexID, RuntimeContainerd, hexID, podDsh},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUnd + ".slice/cri-containerd-" + hexID + ".scope", RuntimeContainerd, hexID, podDsh},
		{"/kubepods.slice/kubepods-pod" + podUnd + ".slice/cri-containerd-" + hexID + ".scope", RuntimeContainerd, hexID, podDsh},
		{"/default/" + hexID, RuntimeContainerd, hexID, ""},
		// cri-o
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podUnd + ".slice/crio-" + hexID + ".scope", RuntimeCRIO, hexID, podDsh},
		{"/kubepods/besteffort/pod" + podDsh + "/crio-" + hexID, RuntimeCRIO, hexID, podDsh},
		{"/machine.slice/crio-" + hexID + ".scope", RuntimeCRIO, hexID, ""},
		// podman
		{"/machine.slice/libpod-" + hexID + ".scope", RuntimePodman, hexID, ""},
		{"/machine.slice/machine-libpod_pod_" + hexID[:20] + ".slice/libpod-" + hexID + ".scope", RuntimePodman, hexID, ""},
		{"/machine.slice/libpod-" + hexID + ".scope/container", RuntimePodman, hexID, ""},
		{"/libpod_parent/libpod-" + hexID, RuntimePodman, hexID, ""},
		{"/libpod_parent/" + hexID, RuntimePodman, hexID, ""},
		// ECS
		{"/ecs/" + taskID + "/" + hexID, RuntimeECS, hexID, ""},
		{"/ecs/5a1e9d5e-28d1-4a4c-8f3a-2c2d6e0c1d2e/" + hexID, RuntimeECS, hexID, ""},
		{"/ecs/my-cluster/" + taskID + "/" + hexID, RuntimeECS, hexID, ""},
		{"/ecs/" + taskID + "/" + taskID + "-2712843546", RuntimeECS, taskID + "-2712843546", ""},
		{"/ecstasks.slice/ecstasks-" + taskID + ".slice/docker-" + hexID + ".scope", RuntimeECS, hexID, ""},
	}
	for _, tt := range tests {
		info, ok := ParseCgroup(tt.path)
		if !ok {
			t.Errorf("ParseCgroup(%q): not a container", tt.path)
			continue
		}
		if info.Runtime != tt.runtime || info.FullID != tt.fullID || info.PodUID != tt.pod {
			t.Errorf("ParseCgroup(%q) = %+v, want runtime %q id %q pod %q", tt.path, info, tt.runtime, tt.fullID, tt.pod)
		}
		wantShort := tt.fullID
		if len(tt.fullID) == 64 {
			wantShort = tt.fullID[:12]
		}
		if info.ID != wantShort {
			t.Errorf("ParseCgroup(%q).ID = %q, want %q", tt.path, info.ID, wantShort)
		}
		id, rt, ok := ParseCgroupPath(tt.path)
		if !ok || id != tt.fullID || rt != tt.runtime {
			t.Errorf("ParseCgroupPath(%q) = %q, %q, %v", tt.path, id, rt, ok)
		}
	}
}

func TestParseCgroupHost(t *testing.T) {
	for _, path := range []string{
		"/",
		"",
		"/user.slice/user-1000.slice/session-3.scope",
		"/system.slice/containerd.service",
		"/system.slice/docker.service",
		"/kubepods.slice/kubepods-besteffort.slice",
		"/kubepods/besteffort/pod" + podDsh,
		"/machine.slice/libpod-conmon-" + hexID + ".scope",
		"/machine.slice/crio-conmon-" + hexID + ".scope",
		"/docker/" + hexID[:63],                         // too short
		"/docker/" + strings.ToUpper(hexID),             // not lower-case hex
		"/system.slice/docker-" + hexID + "x.scope",     // trailing junk
		"/ecs/" + taskID + "/" + taskID + "-",           // Fargate id without number
		"/process_api/87b45aaa00da0378d63165179aae5b86", // 32 hex outside ECS
		// Named like containers where only a user's or a container's
		// own delegated cgroups can be.
		"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + hexID + ".scope/container",
		"/user.slice/user-1000.slice/user@1000.service/app.slice/docker-" + hexID + ".scope",
		"/user.slice/user-1000.slice/session-3.scope/docker/" + hexID,
		"/user.slice/user-1000.slice/" + hexID,
		"/system.slice/nightjar-test.service/docker-" + hexID + ".scope",
		"/system.slice/foo.service/kubepods/besteffort/pod" + podDsh + "/" + hexID,
		"/docker/x/" + hexID,
		"/ecs/" + taskID + "/a/b/" + hexID,
		"/kubepods/besteffort/" + hexID,
		"/ecstasks.slice/docker-" + hexID + ".scope",
	} {
		if info, ok := ParseCgroup(path); ok {
			t.Errorf("ParseCgroup(%q) = %+v, want host", path, info)
		}
	}
}

// TestParseCgroupNestedKeepsOuter: a cgroup a container creates below its
// own, named like another container, is still the outer container.
func TestParseCgroupNestedKeepsOuter(t *testing.T) {
	other := strings.Repeat("ab", 32)
	for _, path := range []string{
		"/docker/" + hexID + "/docker-" + other + ".scope",
		"/system.slice/docker-" + hexID + ".scope/docker/" + other,
		"/kubepods/besteffort/pod" + podDsh + "/" + hexID + "/" + other,
		"/ecs/" + taskID + "/" + hexID + "/" + other,
		"/default/" + hexID + "/" + other,
	} {
		info, ok := ParseCgroup(path)
		if !ok || info.FullID != hexID {
			t.Errorf("ParseCgroup(%q) = %+v, %v, want container %s", path, info, ok, hexID[:12])
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	in := "12:memory:/docker/" + hexID + "\n1:name=systemd:/\n0::/docker/" + hexID + "\n"
	lines, err := ParseProcCgroup("/proc/1/cgroup", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 || lines[0].Hierarchy != 12 || lines[0].Controllers[0] != "memory" ||
		lines[1].Controllers[0] != "name=systemd" || lines[2].Hierarchy != 0 || lines[2].Path != "/docker/"+hexID {
		t.Fatalf("ParseProcCgroup = %+v", lines)
	}
	if v2Path(lines) != "/docker/"+hexID {
		t.Errorf("v2Path = %q", v2Path(lines))
	}
	for _, bad := range []struct{ in, want string }{
		{"0::/\nx::/\n", "line 2: hierarchy id"},
		{"0:/\n", "line 1: want"},
		{"0::relative\n", "line 1: path"},
	} {
		_, err := ParseProcCgroup("/proc/7/cgroup", []byte(bad.in))
		if err == nil || !strings.Contains(err.Error(), "/proc/7/cgroup: "+bad.want) {
			t.Errorf("ParseProcCgroup(%q) error = %v, want %q", bad.in, err, bad.want)
		}
	}
}

func FuzzParseCgroup(f *testing.F) {
	f.Add("/docker/" + hexID)
	f.Add("/ecs/" + taskID + "/" + taskID + "-1")
	f.Add("/kubepods.slice/kubepods-pod" + podUnd + ".slice/cri-containerd-" + hexID + ".scope")
	f.Fuzz(func(t *testing.T, path string) {
		info, ok := ParseCgroup(path)
		if ok && (info.FullID == "" || !strings.Contains(path, info.FullID) || !strings.HasPrefix(info.FullID, info.ID)) {
			t.Fatalf("ParseCgroup(%q) = %+v", path, info)
		}
	})
}
