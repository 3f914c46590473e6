package cri

import (
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/daemon/container"
	"github.com/nightjar-sec/nightjar/internal/event"
	"github.com/nightjar-sec/nightjar/internal/testctr"
	"github.com/nightjar-sec/nightjar/rules"
)

const podRules = `
- rule: Exec in payments web pod
  desc: test rule on Kubernetes metadata
  condition: >
    evt.type = execve and k8s.ns.name = payments and k8s.pod.label[app] = web
    and container.name = nginx and container.image.repository = nightjar.test/busybox
    and container.privileged = false
  output: "exec in pod (ns=%k8s.ns.name pod=%k8s.pod.name uid=%k8s.pod.uid container=%container.name image=%container.image)"
  priority: WARNING

- rule: Exec in privileged container
  desc: test rule on container.privileged
  condition: evt.type = execve and container.privileged = true and k8s.pod.name = web-7c9
  output: "privileged exec (container=%container.name)"
  priority: ERROR
`

// TestRulesSeeKubernetesFields runs a pod through containerd's CRI
// plugin, resolves its containers' processes with a container.Resolver
// that uses the CRI provider, as the daemon does, and evaluates rules on
// the Kubernetes fields against an exec event of each process.
func TestRulesSeeKubernetesFields(t *testing.T) {
	c := testctr.Start(t)
	pod := c.RunPod(t, testctr.PodConfig{
		Name: "web-7c9", Namespace: "payments", Privileged: true,
		Labels: map[string]string{"app": "web"},
	})
	web := pod.Start(t, testctr.ContainerConfig{Name: "nginx", Args: []string{"sleep", "600"}})
	agent := pod.Start(t, testctr.ContainerConfig{Name: "agent", Args: []string{"sleep", "600"}, Privileged: true})

	p, err := New(Config{Endpoints: []string{c.Address}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res, err := container.NewResolver(container.Config{Metadata: []container.MetadataProvider{p}, MetadataWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(rules.Options{Hostname: "node-1"}, rules.Source{Name: "pod_rules.yaml", Data: []byte(podRules), Format: rules.FormatYAML})
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		ct     *testctr.PodContainer
		rule   string
		output string
	}{
		{web, "Exec in payments web pod", "exec in pod (ns=payments pod=web-7c9 uid=" + pod.UID + " container=nginx image=nightjar.test/busybox:latest)"},
		{agent, "Exec in privileged container", "privileged exec (container=agent)"},
	} {
		ctr, _, err := res.Lookup(uint32(tt.ct.PID), 0)
		if err != nil {
			t.Fatal(err)
		}
		if ctr == nil || ctr.FullID != tt.ct.ID {
			t.Fatalf("Lookup(%d) = %+v, want container %s", tt.ct.PID, ctr, tt.ct.ID)
		}
		ev := &event.Event{
			Type: event.Execve, PID: uint32(tt.ct.PID), TID: uint32(tt.ct.PID),
			Path: []byte("/bin/sleep"), Path2: []byte("/bin/busybox"), Argv: []byte("sleep\x00600\x00"),
			Proc: &event.Process{PID: uint32(tt.ct.PID), Name: "sleep", Exe: "sleep", ExePath: "/bin/busybox", Args: []string{"600"}, Container: ctr},
		}
		var matched []string
		var output string
		set.Eval(ev, func(m *rules.Match) {
			matched = append(matched, m.Rule.Name)
			output, _ = m.Render()
		})
		if len(matched) != 1 || matched[0] != tt.rule {
			t.Errorf("container %s: rules %q matched, want only %q (container %+v)", tt.ct.ID[:12], matched, tt.rule, ctr)
			continue
		}
		// Render prefixes the time and priority.
		if len(output) < len(tt.output) || output[len(output)-len(tt.output):] != tt.output {
			t.Errorf("output %q, want it to end in %q", output, tt.output)
		}
	}
	if st := res.Stats(); st.MetadataErrors != 0 || st.Containers != 2 {
		t.Errorf("resolver stats %+v", st)
	}
}
