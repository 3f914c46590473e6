// Package tfschema serves a Terraform provider's published schema (the JSON
// that `terraform providers schema -json` prints) as a protocol 6 provider
// that accepts every configuration, plans the proposed state with unknown
// values for computed attributes, and never applies. It lets `terraform
// validate`, `plan` and `test` with mock providers check modules against the
// real provider's attributes and types where the provider itself cannot be
// downloaded.
package tfschema

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// Schemas is one provider's schema, converted for the plugin protocol.
type Schemas struct {
	Provider    *tfprotov6.Schema
	Resources   map[string]*tfprotov6.Schema
	DataSources map[string]*tfprotov6.Schema
}

// jsonFile is the document `terraform providers schema -json` prints.
type jsonFile struct {
	FormatVersion   string                  `json:"format_version"`
	ProviderSchemas map[string]jsonProvider `json:"provider_schemas"`
}

type jsonProvider struct {
	Provider          jsonSchema            `json:"provider"`
	ResourceSchemas   map[string]jsonSchema `json:"resource_schemas"`
	DataSourceSchemas map[string]jsonSchema `json:"data_source_schemas"`
}

type jsonSchema struct {
	Version int64     `json:"version"`
	Block   jsonBlock `json:"block"`
}

type jsonBlock struct {
	Attributes map[string]jsonAttribute `json:"attributes"`
	BlockTypes map[string]jsonBlockType `json:"block_types"`
	Deprecated bool                     `json:"deprecated"`
}

type jsonAttribute struct {
	Type       json.RawMessage `json:"type"`
	NestedType *jsonNested     `json:"nested_type"`
	Required   bool            `json:"required"`
	Optional   bool            `json:"optional"`
	Computed   bool            `json:"computed"`
	Sensitive  bool            `json:"sensitive"`
	Deprecated bool            `json:"deprecated"`
	WriteOnly  bool            `json:"write_only"`
}

type jsonNested struct {
	Attributes  map[string]jsonAttribute `json:"attributes"`
	NestingMode string                   `json:"nesting_mode"`
}

type jsonBlockType struct {
	NestingMode string    `json:"nesting_mode"`
	Block       jsonBlock `json:"block"`
	MinItems    int64     `json:"min_items"`
	MaxItems    int64     `json:"max_items"`
}

// Find returns the schema file of the named provider (google, aws, ...) in
// dir: name.json or name.json.gz.
func Find(dir, name string) (string, error) {
	for _, f := range []string{name + ".json", name + ".json.gz"} {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no schema for provider %q in %s (want %s.json or %s.json.gz)", name, dir, name, name)
}

// Load reads a schema file (gzip-compressed when its name ends in .gz)
// holding exactly one provider.
func Load(path string) (*Schemas, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read provider schema: %w", err)
	}
	if filepath.Ext(path) == ".gz" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	s, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse converts a schema document holding exactly one provider.
func Parse(doc []byte) (*Schemas, error) {
	var f jsonFile
	if err := json.Unmarshal(doc, &f); err != nil {
		return nil, fmt.Errorf("decode provider schema: %w", err)
	}
	if len(f.ProviderSchemas) != 1 {
		return nil, fmt.Errorf("provider schema holds %d providers, want 1", len(f.ProviderSchemas))
	}
	var p jsonProvider
	for _, v := range f.ProviderSchemas {
		p = v
	}
	s := &Schemas{Resources: map[string]*tfprotov6.Schema{}, DataSources: map[string]*tfprotov6.Schema{}}
	var err error
	if s.Provider, err = convertSchema(p.Provider); err != nil {
		return nil, fmt.Errorf("provider block: %w", err)
	}
	for name, js := range p.ResourceSchemas {
		if s.Resources[name], err = convertSchema(js); err != nil {
			return nil, fmt.Errorf("resource %s: %w", name, err)
		}
	}
	for name, js := range p.DataSourceSchemas {
		if s.DataSources[name], err = convertSchema(js); err != nil {
			return nil, fmt.Errorf("data source %s: %w", name, err)
		}
	}
	return s, nil
}

func convertSchema(js jsonSchema) (*tfprotov6.Schema, error) {
	b, err := convertBlock(js.Block)
	if err != nil {
		return nil, err
	}
	return &tfprotov6.Schema{Version: js.Version, Block: b}, nil
}

func convertBlock(jb jsonBlock) (*tfprotov6.SchemaBlock, error) {
	b := &tfprotov6.SchemaBlock{Deprecated: jb.Deprecated}
	var err error
	if b.Attributes, err = convertAttributes(jb.Attributes); err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(jb.BlockTypes) {
		bt := jb.BlockTypes[name]
		inner, err := convertBlock(bt.Block)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", name, err)
		}
		mode, ok := blockModes[bt.NestingMode]
		if !ok {
			return nil, fmt.Errorf("block %s: unknown nesting mode %q", name, bt.NestingMode)
		}
		b.BlockTypes = append(b.BlockTypes, &tfprotov6.SchemaNestedBlock{
			TypeName: name, Block: inner, Nesting: mode, MinItems: bt.MinItems, MaxItems: bt.MaxItems,
		})
	}
	return b, nil
}

var blockModes = map[string]tfprotov6.SchemaNestedBlockNestingMode{
	"single": tfprotov6.SchemaNestedBlockNestingModeSingle,
	"list":   tfprotov6.SchemaNestedBlockNestingModeList,
	"set":    tfprotov6.SchemaNestedBlockNestingModeSet,
	"map":    tfprotov6.SchemaNestedBlockNestingModeMap,
	"group":  tfprotov6.SchemaNestedBlockNestingModeGroup,
}

var objectModes = map[string]tfprotov6.SchemaObjectNestingMode{
	"single": tfprotov6.SchemaObjectNestingModeSingle,
	"list":   tfprotov6.SchemaObjectNestingModeList,
	"set":    tfprotov6.SchemaObjectNestingModeSet,
	"map":    tfprotov6.SchemaObjectNestingModeMap,
}

func convertAttributes(in map[string]jsonAttribute) ([]*tfprotov6.SchemaAttribute, error) {
	var out []*tfprotov6.SchemaAttribute
	for _, name := range sortedKeys(in) {
		ja := in[name]
		a := &tfprotov6.SchemaAttribute{
			Name: name, Required: ja.Required, Optional: ja.Optional, Computed: ja.Computed,
			Sensitive: ja.Sensitive, Deprecated: ja.Deprecated, WriteOnly: ja.WriteOnly,
		}
		switch {
		case ja.NestedType != nil:
			attrs, err := convertAttributes(ja.NestedType.Attributes)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", name, err)
			}
			mode, ok := objectModes[ja.NestedType.NestingMode]
			if !ok {
				return nil, fmt.Errorf("attribute %s: unknown nesting mode %q", name, ja.NestedType.NestingMode)
			}
			a.NestedType = &tfprotov6.SchemaObject{Attributes: attrs, Nesting: mode}
		case len(ja.Type) > 0:
			// The one public parser of the schema JSON's type syntax.
			//lint:ignore SA1019 deprecated only to discourage use by providers; no replacement exists
			t, err := tftypes.ParseJSONType(ja.Type)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", name, err)
			}
			a.Type = t
		default:
			return nil, fmt.Errorf("attribute %s has neither type nor nested_type", name)
		}
		out = append(out, a)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
