package alert

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

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
	want, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want)
	}
	var empty Alert
	got, _ = empty.AppendJSON(nil)
	want, _ = json.Marshal(&empty)
	if !bytes.Equal(got, want) {
		t.Fatalf("empty alert:\n got %s\nwant %s", got, want)
	}
}
