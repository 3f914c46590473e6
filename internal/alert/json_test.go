package alert

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// marshal returns encoding/json's document for a with HTML escaping off, the
// form AppendJSON promises.
func marshal(t *testing.T, a *Alert) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	a := &Alert{
		Time:     time.Date(2026, 11, 26, 18, 0, 0, 123456789, time.UTC),
		Rule:     "Terminal shell <in> \"container\" & more\u2028",
		Priority: PriorityNotice,
		Source:   "syscall",
		Hostname: "node-1",
		Tags:     []string{"container", "shell\n"},
		Output:   "tab\there \x01 bad\xffutf8 é",
		OutputFields: map[string]any{
			"evt.time": uint64(1764180000123456789), "proc.pid": int64(-3), "ok": true,
			"nil": nil, "f": 1.5, "list": []string{"a", "b"}, "m": map[string]int{"x": 1},
			"proc.name": "bash",
		},
		UUID: "0b7c6c9e",
	}
	got, err := a.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := marshal(t, a)
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want)
	}
	if !bytes.Contains(got, []byte(`"Terminal shell <in> \"container\" & more\u2028"`)) {
		t.Errorf("rule not as Falco prints it (no HTML escapes): %s", got)
	}
	var empty Alert
	got, _ = empty.AppendJSON(nil)
	want = marshal(t, &empty)
	if !bytes.Equal(got, want) {
		t.Fatalf("empty alert:\n got %s\nwant %s", got, want)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	a := &Alert{
		Time:     time.Date(2026, 11, 26, 18, 0, 0, 123456789, time.UTC),
		Rule:     "Terminal shell in container",
		Priority: PriorityNotice,
		Source:   "syscall",
		Hostname: "node-1",
		Tags:     []string{"container", "shell", "mitre_execution", "T1059"},
		Output:   "18:00:00.123456789: Notice A shell was spawned in a container with an attached terminal (user=root user_loginuid=-1 container=3f2a1b9c0d4e shell=bash parent=<NA> cmdline=bash -i \"quoted\" terminal=34816 exe_flags=EXE_WRITABLE)",
		OutputFields: map[string]any{
			"evt.time": uint64(1764180000123456789), "proc.name": "bash", "proc.cmdline": "bash -i",
			"container.id": "3f2a1b9c0d4e", "k8s.ns.name": "default", "k8s.pod.name": "web-7c9", "user.name": "root",
			"proc.pname": "<NA>",
		},
		UUID: "0b7c6c9e-1d2f-4c3b-9a8e-7f6d5c4b3a21",
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = a.AppendJSON(buf[:0])
	}
}
