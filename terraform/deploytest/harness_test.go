package deploytest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the plain files under gke/ and ecs/ from the modules' rendering")

// terraformPath is where CI and the development machines have Terraform 1.11.
const terraformPath = "/usr/local/bin/terraform"

// env is the harness shared by the tests: a copy of terraform/ in a
// temporary directory (so that .terraform directories stay out of the
// checkout), the schema-only provider and a CLI configuration whose
// dev_overrides point at it.
type env struct {
	repo    string // repository root
	tree    string // the copy of terraform/
	vars    []string
	tflint  string
	setupOK bool
}

var harness env

func TestMain(m *testing.M) {
	flag.Parse()
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploytest:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		return 0, err
	}
	harness.repo = repo
	tmp, err := os.MkdirTemp("", "deploytest-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	if err := setup(tmp); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

func setup(tmp string) error {
	if _, err := os.Stat(terraformPath); err != nil {
		return fmt.Errorf("terraform 1.11 must be installed at %s: %w", terraformPath, err)
	}
	harness.tflint = findTflint()

	// The provider binary, once, under each name Terraform looks for.
	bin := filepath.Join(tmp, "providers")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	exe := filepath.Join(bin, "terraform-provider-google")
	build := exec.Command(goTool(), "build", "-o", exe, "./internal/tfschema/cmd/terraform-provider-schema")
	build.Dir = harness.repo
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the schema-only provider: %v\n%s", err, out)
	}
	for _, name := range []string{"aws", "kubernetes"} {
		if err := os.Symlink(exe, filepath.Join(bin, "terraform-provider-"+name)); err != nil {
			return err
		}
	}

	harness.tree = filepath.Join(tmp, "terraform")
	if err := copyTree(filepath.Join(harness.repo, "terraform"), harness.tree); err != nil {
		return fmt.Errorf("copy terraform/: %w", err)
	}

	schemas := filepath.Join(tmp, "schemas")
	if err := writeSchemas(filepath.Join(harness.repo, "..", "shared", "terraform", "schemas"), schemas, harness.tree); err != nil {
		return err
	}

	cli := filepath.Join(tmp, "cli.tfrc")
	cfg := fmt.Sprintf(`provider_installation {
  dev_overrides {
    "hashicorp/google"     = %[1]q
    "hashicorp/aws"        = %[1]q
    "hashicorp/kubernetes" = %[1]q
  }
  direct {}
}
`, bin)
	if err := os.WriteFile(cli, []byte(cfg), 0o644); err != nil {
		return err
	}
	harness.vars = []string{
		"TF_CLI_CONFIG_FILE=" + cli,
		"TFSCHEMA_DIR=" + schemas,
		"TF_IN_AUTOMATION=1",
		"CHECKPOINT_DISABLE=1",
	}
	harness.setupOK = true
	return nil
}

// copyTree copies the regular files under src to dst, leaving out
// .terraform directories and plan files a run by hand may have left.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir() && d.Name() == ".terraform":
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular() || d.Name() == ".terraform.lock.hcl" || strings.HasSuffix(d.Name(), ".tfstate") || d.Name() == "plan.bin":
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// findTflint returns the tflint that `go install` put in GOBIN or GOPATH/bin,
// or the one in PATH; "" when there is none.
func findTflint() string {
	if p, err := exec.LookPath("tflint"); err == nil {
		return p
	}
	out, err := exec.Command(goTool(), "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, l := range lines {
		dir := l
		if i == 1 {
			dir = filepath.Join(strings.Split(l, string(os.PathListSeparator))[0], "bin")
		}
		if l != "" && fileExists(filepath.Join(dir, "tflint")) {
			return filepath.Join(dir, "tflint")
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// typeRef finds the resource and data source types the configurations and
// tests use.
var typeRef = regexp.MustCompile(`(?m)^\s*(resource|data|mock_resource|mock_data|override_resource|override_data)\s+"([a-z0-9_]+)"`)

// writeSchemas writes, for each provider, the published schema reduced to
// the provider block and the resource and data source types the tree uses
// (each kept whole). Parsing the full google schema costs a second at every
// provider start, and Terraform starts providers many times. A type the
// tree uses that the published schema lacks is an error.
func writeSchemas(src, dst, tree string) error {
	used := map[string]map[string]bool{"resource": {}, "data": {}}
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".tf") || strings.HasSuffix(p, ".tftest.hcl")) {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range typeRef.FindAllStringSubmatch(string(b), -1) {
			kind := "resource"
			if strings.HasSuffix(m[1], "data") {
				kind = "data"
			}
			used[kind][m[2]] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"google", "kubernetes", "aws"} {
		raw, err := readSchemaFile(src, name)
		if err != nil {
			return err
		}
		var doc struct {
			FormatVersion   string                                `json:"format_version"`
			ProviderSchemas map[string]map[string]json.RawMessage `json:"provider_schemas"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("%s schema: %w", name, err)
		}
		for addr, p := range doc.ProviderSchemas {
			for kind, key := range map[string]string{"resource": "resource_schemas", "data": "data_source_schemas"} {
				var all map[string]json.RawMessage
				if err := json.Unmarshal(p[key], &all); err != nil {
					return fmt.Errorf("%s schema %s: %w", name, key, err)
				}
				kept := map[string]json.RawMessage{}
				var missing []string
				for t := range used[kind] {
					if !strings.HasPrefix(t, name+"_") {
						continue
					}
					s, ok := all[t]
					if !ok {
						missing = append(missing, t)
						continue
					}
					kept[t] = s
				}
				if len(missing) > 0 {
					sort.Strings(missing)
					return fmt.Errorf("the published %s provider schema (%s) has no %s %s", name, src, kind, strings.Join(missing, ", "))
				}
				b, _ := json.Marshal(kept)
				p[key] = b
			}
			for k := range p {
				if k != "provider" && k != "resource_schemas" && k != "data_source_schemas" {
					delete(p, k)
				}
			}
			doc.ProviderSchemas[addr] = p
		}
		out, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, name+".json"), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func readSchemaFile(dir, name string) ([]byte, error) {
	if b, err := os.ReadFile(filepath.Join(dir, name+".json")); err == nil {
		return b, nil
	}
	f, err := os.Open(filepath.Join(dir, name+".json.gz"))
	if err != nil {
		return nil, fmt.Errorf("provider schema %s (the checkout needs shared/ beside it): %w", name, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return io.ReadAll(zr)
}

// terraform runs terraform in dir (relative to the copy of terraform/) and
// returns its standard output; a failure fails the test with the output.
func terraform(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	out, err := terraformErr(dir, args...)
	if err != nil {
		t.Fatalf("terraform %s in %s: %v", strings.Join(args, " "), dir, err)
	}
	return out
}

func terraformErr(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command(terraformPath, append([]string{}, args...)...)
	cmd.Dir = filepath.Join(harness.tree, dir)
	cmd.Env = append(os.Environ(), harness.vars...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%w\nstdout:\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// plan plans the configuration in dir and returns `terraform show -json`
// of the plan.
func plan(t *testing.T, dir string) *planJSON {
	t.Helper()
	terraform(t, dir, "get", "-no-color")
	terraform(t, dir, "plan", "-no-color", "-input=false", "-out=plan.bin")
	out := terraform(t, dir, "show", "-json", "plan.bin")
	var p planJSON
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("decode plan of %s: %v", dir, err)
	}
	return &p
}

type planJSON struct {
	PlannedValues struct {
		Outputs map[string]struct {
			Value json.RawMessage `json:"value"`
		} `json:"outputs"`
		RootModule planModule `json:"root_module"`
	} `json:"planned_values"`
}

type planModule struct {
	Resources []struct {
		Address string          `json:"address"`
		Values  json.RawMessage `json:"values"`
	} `json:"resources"`
	ChildModules []planModule `json:"child_modules"`
}

// output decodes a planned output value into v.
func (p *planJSON) output(t *testing.T, name string, v any) {
	t.Helper()
	o, ok := p.PlannedValues.Outputs[name]
	if !ok || o.Value == nil {
		t.Fatalf("plan has no known output %q", name)
	}
	if err := json.Unmarshal(o.Value, v); err != nil {
		t.Fatalf("output %s: %v", name, err)
	}
}

// resource decodes the planned values of the resource at address.
func (p *planJSON) resource(t *testing.T, address string, v any) {
	t.Helper()
	var find func(m planModule) json.RawMessage
	find = func(m planModule) json.RawMessage {
		for _, r := range m.Resources {
			if r.Address == address {
				return r.Values
			}
		}
		for _, c := range m.ChildModules {
			if v := find(c); v != nil {
				return v
			}
		}
		return nil
	}
	raw := find(p.PlannedValues.RootModule)
	if raw == nil {
		t.Fatalf("plan has no resource %s", address)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("resource %s: %v", address, err)
	}
}

// golden compares got with the file at path (relative to the repository),
// or writes it with -update.
func golden(t *testing.T, path string, got []byte, equal func(want, got []byte) error) {
	t.Helper()
	full := filepath.Join(harness.repo, path)
	if *update {
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(full)
	if err != nil {
		t.Fatalf("%s: %v (go test ./terraform/deploytest -update writes it from the module)", path, err)
	}
	if equal == nil {
		equal = func(want, got []byte) error {
			if !bytes.Equal(want, got) {
				return errors.New("contents differ")
			}
			return nil
		}
	}
	if err := equal(want, got); err != nil {
		t.Errorf("%s differs from what the module renders (go test ./terraform/deploytest -update rewrites it): %v\nmodule renders:\n%s", path, err, got)
	}
}
