package hcldiag

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestFormat(t *testing.T) {
	at := &hcl.Range{Filename: "x.hcl", Start: hcl.Pos{Line: 2, Column: 5}}
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagWarning, Summary: "Ignored", Subject: at},
		{Severity: hcl.DiagError, Summary: "Invalid timeout", Detail: `"x" is not a duration.`, Subject: at},
		{Severity: hcl.DiagError, Summary: "No routes"},
	}
	want := `x.hcl:2:5: Invalid timeout: "x" is not a duration.` + "\nNo routes"
	if got := Format(diags, "\n"); got != want {
		t.Errorf("Format = %q\nwant %q", got, want)
	}
	if got := Format(diags[:1], "; "); got != "" {
		t.Errorf("warnings only: %q", got)
	}
}
