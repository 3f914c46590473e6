// Package hclfunc owns the functions that nightjar's HCL files may call: the
// daemon's nightjar.hcl and the output plugin's routes.hcl share them, so a
// function means the same in both.
package hclfunc

import (
	"errors"
	"fmt"
	"os"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Functions returns the function table for an hcl.EvalContext. lookup
// resolves environment variables; os.LookupEnv when nil.
func Functions(lookup func(string) (string, bool)) map[string]function.Function {
	return map[string]function.Function{"env": Env(lookup)}
}

// Env returns env("NAME") or env("NAME", "default"): the value of an
// environment variable, so that secrets stay out of the file. An unset
// variable without a default is an error, not an empty string, so that a
// missing secret fails at load rather than at the first request. lookup
// resolves the name; os.LookupEnv when nil.
func Env(lookup func(string) (string, bool)) function.Function {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, or the default when it is unset.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, errors.New("env takes a name and at most one default")
			}
			name := args[0].AsString()
			if v, ok := lookup(name); ok {
				return cty.StringVal(v), nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return cty.NilVal, fmt.Errorf("environment variable %s is not set", name)
		},
	})
}
