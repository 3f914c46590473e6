package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesValidateReportsPositions(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("- rule: Cat shadow\n  desc: d\n  condition: evt.type = openat and fd.name = /etc/shadow\n  output: read (%proc.name)\n  priority: WARNING\n"), 0o644)
	os.WriteFile(bad, []byte("- rule: Broken\n  desc: d\n  condition: evt.type = openat and proc.nmae = cat\n  output: x\n  priority: WARNING\n"), 0o644)

	var out, errb bytes.Buffer
	if code := run([]string{"rules", "validate", good}, &out, &errb); code != 0 {
		t.Fatalf("validate good: exit %d: %s", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"rules", "validate", bad}, &out, &errb); code != 1 {
		t.Fatalf("validate bad: exit %d, want 1", code)
	}
	msg := errb.String()
	if !strings.Contains(msg, bad+":3:") || !strings.Contains(msg, "proc.nmae") || !strings.Contains(msg, `"Broken"`) {
		t.Errorf("error does not name file:line, field and rule: %q", msg)
	}
}

func TestRulesListShowsDefaults(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"rules", "list"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"Read sensitive file untrusted", "Warning", "openat", "T1059"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list lacks %q", want)
		}
	}
}
