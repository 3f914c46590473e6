package hclfunc

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// eval evaluates one HCL expression with the package's functions.
func eval(t *testing.T, src string, lookup func(string) (string, bool)) (string, hcl.Diagnostics) {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "test.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %s", src, diags)
	}
	v, diags := expr.Value(&hcl.EvalContext{Functions: Functions(lookup)})
	if diags.HasErrors() {
		return "", diags
	}
	return v.AsString(), nil
}

func TestEnv(t *testing.T) {
	vars := map[string]string{"TOKEN": "s3cret", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for _, tc := range []struct{ src, want, err string }{
		{`env("TOKEN")`, "s3cret", ""},
		{`env("EMPTY")`, "", ""},
		{`env("EMPTY", "fallback")`, "", ""}, // set but empty is set
		{`env("TOKEN", "fallback")`, "s3cret", ""},
		{`env("MISSING", "fallback")`, "fallback", ""},
		{`"Bearer ${env("TOKEN")}"`, "Bearer s3cret", ""},
		{`env("MISSING")`, "", "environment variable MISSING is not set"},
		{`env("A", "b", "c")`, "", "at most one default"},
		{`env()`, "", "Not enough function arguments"},
		{`env(null)`, "", "null"},
	} {
		got, diags := eval(t, tc.src, lookup)
		switch {
		case tc.err == "" && diags.HasErrors():
			t.Errorf("%s: %s", tc.src, diags)
		case tc.err != "" && !strings.Contains(diags.Error(), tc.err):
			t.Errorf("%s: diagnostics %q, want %q", tc.src, diags.Error(), tc.err)
		case tc.err != "" && !strings.Contains(diags.Error(), "test.hcl:1,"):
			t.Errorf("%s: diagnostics %q lack the position", tc.src, diags.Error())
		case got != tc.want:
			t.Errorf("%s = %q, want %q", tc.src, got, tc.want)
		}
	}
}

func TestEnvProcessEnvironment(t *testing.T) {
	t.Setenv("NIGHTJAR_HCLFUNC_TEST", "from-os")
	if got, diags := eval(t, `env("NIGHTJAR_HCLFUNC_TEST")`, nil); diags.HasErrors() || got != "from-os" {
		t.Errorf("env with nil lookup = %q, %s", got, diags)
	}
}
