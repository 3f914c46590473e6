// Package hcldiag owns how HCL diagnostics read when nightjar reports them
// as errors: each error as "file:line:col: summary: detail", the form
// editors and terminals link to the place in the file.
package hcldiag

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Format returns the error diagnostics of diags, joined by sep. Warnings
// are left out.
func Format(diags hcl.Diagnostics, sep string) string {
	var b strings.Builder
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		b.WriteString(d.Summary)
		if d.Detail != "" {
			b.WriteString(": ")
			b.WriteString(d.Detail)
		}
	}
	return b.String()
}
