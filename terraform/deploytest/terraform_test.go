package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// configDirs are the modules and examples: each is validated, linted and
// tested.
var configDirs = []string{
	"modules/gke",
	"modules/gke/examples/standard",
	"modules/gke/examples/fleet",
	"modules/ecs",
	"modules/ecs/examples/ec2",
}

func TestFmt(t *testing.T) {
	out, err := terraformErr(".", "fmt", "-check", "-recursive", "-diff", "-no-color")
	if err != nil {
		t.Fatalf("terraform fmt -check -recursive terraform/ (run terraform fmt -recursive terraform/): %v\n%s", err, out)
	}
}

func TestTflint(t *testing.T) {
	if harness.tflint == "" {
		t.Fatal("tflint is not installed: go install github.com/terraform-linters/tflint@v0.64.0")
	}
	version, err := exec.Command(harness.tflint, "--version").Output()
	if err != nil || !strings.Contains(string(version), "0.64.0") {
		t.Fatalf("tflint %s: want version 0.64.0 (%v)", version, err)
	}
	config := filepath.Join(harness.tree, ".tflint.hcl")
	for _, dir := range configDirs {
		t.Run(dir, func(t *testing.T) {
			cmd := exec.Command(harness.tflint, "--chdir="+filepath.Join(harness.tree, dir), "--config="+config, "--no-color")
			cmd.Env = os.Environ()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("tflint %s: %v\n%s", dir, err, out)
			}
		})
	}
}

func TestValidateAndTest(t *testing.T) {
	for _, dir := range configDirs {
		t.Run(dir, func(t *testing.T) {
			if !fileExists(filepath.Join(harness.tree, dir, "tests")) {
				t.Fatalf("%s has no tests/*.tftest.hcl", dir)
			}
			terraform(t, dir, "get", "-no-color")
			out := terraform(t, dir, "validate", "-no-color")
			if !strings.Contains(string(out), "Success!") {
				t.Fatalf("terraform validate in %s:\n%s", dir, out)
			}
			out = terraform(t, dir, "test", "-no-color")
			summary := lastLine(string(out))
			if !strings.HasPrefix(summary, "Success!") || strings.Contains(summary, " 0 passed") {
				t.Fatalf("terraform test in %s: %s\n%s", dir, summary, out)
			}
			t.Log(summary)
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
