// Package routes loads routes.hcl: the typed destination blocks, built
// through a destination.Registry, and the ordered route blocks whose match
// expressions are compiled into Go functions over records.
package routes

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/nightjar-sec/nightjar/internal/hcldiag"
	"github.com/nightjar-sec/nightjar/internal/hclfunc"
	"github.com/nightjar-sec/nightjar/outplugin/destination"
	"github.com/nightjar-sec/nightjar/outplugin/record"
	"github.com/zclconf/go-cty/cty"
)

// Config is a loaded routes file.
type Config struct {
	Destinations []*Destination
	Routes       []*Route // evaluated in order
	// Default, when set, takes the records that no route in Routes matched.
	Default *Route
}

// Destination is one configured destination block.
type Destination struct {
	Type, Name string
	Dest       destination.Destination
	Metrics    *destination.Metrics
}

// ID returns "type.name", how routes refer to the destination.
func (d *Destination) ID() string { return d.Type + "." + d.Name }

// Route is one route block.
type Route struct {
	Name     string
	Match    Matcher // nil matches every record
	To       []int   // indexes into Config.Destinations
	Continue bool    // keep evaluating later routes after a match

	isDefault bool
}

// Matcher decides whether a record, arriving with a Fluent Bit tag, matches.
type Matcher func(tag string, r *record.Record) bool

// Options tune Load.
type Options struct {
	Registry *destination.Registry
	Logger   *slog.Logger
	// LookupEnv resolves env("NAME"); os.LookupEnv when nil.
	LookupEnv func(string) (string, bool)
}

var fileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "destination", LabelNames: []string{"type", "name"}},
		{Type: "route", LabelNames: []string{"name"}},
	},
}

var routeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "match"},
		{Name: "to", Required: true},
		{Name: "continue"},
		{Name: "default"},
	},
}

// Load reads and compiles the routes file at path. Errors name the file,
// line and column of every problem.
func Load(path string, opts Options) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read routes: %w", err)
	}
	return Parse(src, path, opts)
}

// Parse compiles routes source; filename is used in error positions.
func Parse(src []byte, filename string, opts Options) (*Config, error) {
	cfg, diags := parse(src, filename, opts)
	if diags.HasErrors() {
		if cfg != nil {
			cfg.Close()
		}
		return nil, DiagError(diags)
	}
	return cfg, nil
}

// Close closes every destination.
func (c *Config) Close() error {
	var first error
	for _, d := range c.Destinations {
		if err := d.Dest.Close(); err != nil && first == nil {
			first = fmt.Errorf("close destination %s: %w", d.ID(), err)
		}
	}
	return first
}

func parse(src []byte, filename string, opts Options) (*Config, hcl.Diagnostics) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	content, d := file.Body.Content(fileSchema)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return nil, diags
	}
	ectx := &hcl.EvalContext{Functions: hclfunc.Functions(opts.LookupEnv)}
	cfg := &Config{}
	byID := map[string]int{}
	for _, b := range content.Blocks.OfType("destination") {
		typ, name := b.Labels[0], b.Labels[1]
		id := typ + "." + name
		if _, dup := byID[id]; dup {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate destination", Detail: fmt.Sprintf("destination %q %q is defined twice.", typ, name), Subject: b.DefRange.Ptr()})
			continue
		}
		var factory destination.Factory
		if opts.Registry != nil {
			factory, _ = opts.Registry.Lookup(typ)
		}
		if factory == nil {
			var known []string
			if opts.Registry != nil {
				known = opts.Registry.Types()
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown destination type", Detail: fmt.Sprintf("%q is not a destination type; known types: %s.", typ, strings.Join(known, ", ")), Subject: b.LabelRanges[0].Ptr()})
			continue
		}
		m := &destination.Metrics{}
		dest, d := factory(destination.Config{
			Name: name, Body: b.Body, Eval: ectx, Metrics: m,
			Logger: opts.Logger.With("destination", id),
		})
		diags = append(diags, d...)
		if dest == nil || d.HasErrors() {
			if dest != nil {
				dest.Close()
			}
			continue
		}
		byID[id] = len(cfg.Destinations)
		cfg.Destinations = append(cfg.Destinations, &Destination{Type: typ, Name: name, Dest: dest, Metrics: m})
	}
	seen := map[string]bool{}
	for _, b := range content.Blocks.OfType("route") {
		r, d := parseRoute(b, byID, ectx)
		diags = append(diags, d...)
		if r == nil {
			continue
		}
		if seen[r.Name] {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate route", Detail: fmt.Sprintf("route %q is defined twice.", r.Name), Subject: b.DefRange.Ptr()})
			continue
		}
		seen[r.Name] = true
		if !r.isDefault {
			cfg.Routes = append(cfg.Routes, r)
			continue
		}
		if cfg.Default != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate default route", Detail: fmt.Sprintf("route %q is already the default route.", cfg.Default.Name), Subject: b.DefRange.Ptr()})
			continue
		}
		cfg.Default = r
	}
	if len(cfg.Routes) == 0 && cfg.Default == nil && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No routes", Detail: "At least one route block is required.", Subject: &hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}})
	}
	return cfg, diags
}

func parseRoute(b *hcl.Block, byID map[string]int, ectx *hcl.EvalContext) (*Route, hcl.Diagnostics) {
	content, diags := b.Body.Content(routeSchema)
	if diags.HasErrors() {
		return nil, diags
	}
	r := &Route{Name: b.Labels[0]}
	if a, ok := content.Attributes["match"]; ok {
		m, d := compileMatch(a.Expr)
		diags = append(diags, d...)
		r.Match = m
	}
	if a, ok := content.Attributes["continue"]; ok {
		v, d := a.Expr.Value(ectx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			if v.Type() != cty.Bool || v.IsNull() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid continue", Detail: "continue must be true or false.", Subject: a.Expr.Range().Ptr()})
			} else {
				r.Continue = v.True()
			}
		}
	}
	if a, ok := content.Attributes["default"]; ok {
		v, d := a.Expr.Value(ectx)
		diags = append(diags, d...)
		switch {
		case d.HasErrors():
		case v.Type() != cty.Bool || v.IsNull():
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid default", Detail: "default must be true or false.", Subject: a.Expr.Range().Ptr()})
		case v.True() && (r.Match != nil || r.Continue):
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid default route", Detail: "A default route takes the records no other route matched; it has no match and no continue.", Subject: a.Expr.Range().Ptr()})
		default:
			r.isDefault = v.True()
		}
	}
	a := content.Attributes["to"]
	items, d := hcl.ExprList(a.Expr)
	diags = append(diags, d...)
	for _, item := range items {
		tr, d := hcl.AbsTraversalForExpr(item)
		if d.HasErrors() || len(tr) != 3 || tr.RootName() != "destination" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid destination reference", Detail: "Each element of to must be destination.<type>.<name>.", Subject: item.Range().Ptr()})
			continue
		}
		typ, ok1 := tr[1].(hcl.TraverseAttr)
		name, ok2 := tr[2].(hcl.TraverseAttr)
		if !ok1 || !ok2 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid destination reference", Detail: "Each element of to must be destination.<type>.<name>.", Subject: item.Range().Ptr()})
			continue
		}
		idx, ok := byID[typ.Name+"."+name.Name]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared destination", Detail: fmt.Sprintf("No destination %q %q is declared.", typ.Name, name.Name), Subject: item.Range().Ptr()})
			continue
		}
		r.To = append(r.To, idx)
	}
	if len(items) == 0 && !d.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty route", Detail: "to must name at least one destination.", Subject: a.Expr.Range().Ptr()})
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return r, diags
}

// DiagError turns diagnostics into one single-line error, its parts
// "file:line:col: summary: detail" separated by "; " (Fluent Bit logs it
// as one line).
func DiagError(diags hcl.Diagnostics) error { return errors.New(hcldiag.Format(diags, "; ")) }
