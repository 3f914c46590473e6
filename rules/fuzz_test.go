package rules

import (
	"errors"
	"testing"
)

// FuzzLoad checks that no rules document, YAML or HCL, makes the loader
// panic, and that failures are ErrorLists with positions.
func FuzzLoad(f *testing.F) {
	for _, s := range DefaultSources() {
		f.Add(string(s.Data), false)
	}
	f.Add(base, false)
	f.Add("- rule: R\n  condition: and x\n  override:\n    condition: append\n", false)
	f.Add("- rule: R\n  desc: d\n  condition: evt.type=execve\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      fields: [proc.name]\n      values: [[a], b, [[c]]]\n", false)
	f.Add("rule \"R\" {\n  desc = \"d\"\n  condition = \"evt.type = execve\"\n  output = \"o\"\n  priority = \"INFO\"\n}\n", true)
	f.Add("list \"l\" { items = [1, true, {a = 1}] }\n", true)
	f.Fuzz(func(t *testing.T, doc string, hcl bool) {
		name := "f.yaml"
		if hcl {
			name = "f.hcl"
		}
		_, err := Load(Options{}, Source{Name: name, Data: []byte(doc)})
		if err == nil {
			return
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error %v is not an ErrorList", err)
		}
		for _, e := range list {
			if e.Pos.File != name {
				t.Fatalf("error without file: %v", e)
			}
		}
	})
}
