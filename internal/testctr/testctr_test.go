package testctr

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestRunAndExec(t *testing.T) {
	c := Start(t)
	id := NewID()
	res := c.Run(t, id, DockerCgroup(id), "sh", "-c", "cat /proc/self/cgroup; echo uid=$(id -u); exit 7")
	if res.ExitCode != 7 || !strings.Contains(res.Output, "/docker/"+id) || !strings.Contains(res.Output, "uid=0") {
		t.Fatalf("Run = %+v", res)
	}

	id2 := NewID()
	ct := c.Start(t, id2, DockerCgroup(id2), "sleep", "600")
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(ct.PID) + "/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "sleep" {
		t.Fatalf("container pid %d comm %q, %v", ct.PID, comm, err)
	}
	cg, _ := os.ReadFile("/proc/" + strconv.Itoa(ct.PID) + "/cgroup")
	if !strings.Contains(string(cg), "0::/docker/"+id2) {
		t.Errorf("container process cgroup:\n%s", cg)
	}
	if r := ct.Exec(t, "sh", "-c", "echo hello; exit 3"); r.ExitCode != 3 || strings.TrimSpace(r.Output) != "hello" {
		t.Errorf("Exec = %+v", r)
	}
}

func TestPod(t *testing.T) {
	c := Start(t)
	pod := c.RunPod(t, PodConfig{Name: "p", Namespace: "ns"})
	ct := pod.Start(t, ContainerConfig{Name: "main", Args: []string{"sleep", "600"}})
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(ct.PID) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	want := "0::/kubepods/besteffort/pod" + pod.UID + "/" + ct.ID + "\n"
	if !strings.Contains(string(cg), want) {
		t.Errorf("pod container cgroup:\n%s\nwant line %q", cg, want)
	}
}
