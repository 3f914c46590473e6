package destination

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func TestSettingError(t *testing.T) {
	src := `destination "webhook" "w" {
  url     = "https://example.com"
  timeout = "soon"
  tls {
    ca_file = "ca.pem"
  }
}
`
	f, diags := hclsyntax.ParseConfig([]byte(src), "routes.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c, _, _ := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "destination", LabelNames: []string{"type", "name"}}}})
	body := c.Blocks[0].Body
	for _, tc := range []struct {
		name      string
		line, col int
	}{
		{"timeout", 3, 13}, // the value
		{"tls", 4, 3},      // the block header
		{"token", 1, 27},   // absent: the block's opening brace
	} {
		d := SettingError(body, tc.name, "Invalid "+tc.name, "detail")
		if d.Severity != hcl.DiagError || d.Summary != "Invalid "+tc.name || d.Detail != "detail" {
			t.Errorf("%s: %+v", tc.name, d)
		}
		if s := d.Subject; s == nil || s.Filename != "routes.hcl" || s.Start.Line != tc.line || s.Start.Column != tc.col {
			t.Errorf("%s: subject %v, want routes.hcl:%d,%d", tc.name, d.Subject, tc.line, tc.col)
		}
	}
}
