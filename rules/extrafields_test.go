package rules

import (
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/internal/event"
)

func TestExtraFields(t *testing.T) {
	doc := "- rule: R\n  desc: d\n  condition: evt.type = openat\n  output: opened %fd.name by %container.name\n  priority: INFO\n"
	s, err := Load(Options{Hostname: "n", ExtraFields: []string{"container.name", "k8s.pod.name", "ecs.task.arn", "proc.aname[1]"}}, src("r.yaml", doc))
	if err != nil {
		t.Fatal(err)
	}
	p := proc("cat")
	p.Container = &event.Container{ID: "3f2a1b4c5d6e", Name: "web", ECSTaskARN: "arn:aws:ecs:us-east-1:1:task/c/t"}
	ev := &event.Event{Type: event.Openat, Proc: p, FD: &event.FD{Type: event.FDFile, Name: []byte("/etc/hosts")}}
	var got map[string]any
	s.Eval(ev, func(m *Match) { _, got = m.Render() })
	want := map[string]any{
		"fd.name": "/etc/hosts", "container.name": "web", // from the output
		"ecs.task.arn": "arn:aws:ecs:us-east-1:1:task/c/t", "proc.aname[1]": "systemd", // extra
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("output_fields[%q] = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["k8s.pod.name"]; ok {
		t.Errorf("missing extra field present: %v", got)
	}
	if len(got) != len(want) {
		t.Errorf("output_fields = %v", got)
	}

	_, err = Load(Options{ExtraFields: []string{"k8s.pod.nme"}}, src("r.yaml", doc))
	if err == nil || !strings.Contains(err.Error(), `"k8s.pod.nme"`) {
		t.Errorf("unknown extra field: %v", err)
	}
}
