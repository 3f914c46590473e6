package rules

import (
	"os"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/rules/fields"
)

// TestReadme keeps README.md honest: its HCL example loads, and it lists
// every registered field and every default rule.
func TestReadme(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	start := strings.Index(readme, "```hcl\n")
	end := strings.Index(readme[start+7:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no HCL example in README.md")
	}
	s := mustLoad(t, Source{Name: "readme.hcl", Data: []byte(readme[start+7 : start+7+end])})
	p := withTTY(inContainer(proc("bash")))
	if got := firedString(s, execEvent(p)); got != "Terminal shell in container" {
		t.Errorf("README HCL example fired %q", got)
	}
	for _, d := range fields.New().Defs() {
		if !strings.Contains(readme, "| `"+d.Name) {
			t.Errorf("README.md does not list field %s", d.Name)
		}
	}
	def, err := Default(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range def.Rules() {
		if !strings.Contains(readme, "| "+r.Name+" | "+r.Priority.String()+" |") {
			t.Errorf("README.md does not list default rule %q", r.Name)
		}
	}
}
