package deploytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryDocs checks that docs/querying.md shows every query the modules
// save, as the module renders it, each in its own code block.
func TestQueryDocs(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(harness.repo, "docs", "querying.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	renderGKE(t)
	renderECSOnce(t)
	for module, queries := range map[string]map[string]string{"gke": renderedGKE.queries, "ecs": renderedECS.queries} {
		if len(queries) < 7 {
			t.Errorf("module %s saves %d queries, want at least 7", module, len(queries))
		}
		for name, q := range queries {
			block := "```\n" + strings.TrimSuffix(q, "\n") + "\n```"
			if !strings.Contains(doc, block) {
				t.Errorf("docs/querying.md lacks the %s module's %s query:\n%s", module, name, block)
			}
			if !strings.Contains(doc, "(`"+name+"`") {
				t.Errorf("docs/querying.md does not name the %s module's query %s", module, name)
			}
		}
	}
}
