package tfschema

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

const testSchema = `{"format_version":"1.0","provider_schemas":{"registry.terraform.io/hashicorp/t":{
 "provider":{"version":0,"block":{"attributes":{"region":{"type":"string","optional":true}}}},
 "resource_schemas":{"t_thing":{"version":1,"block":{
   "attributes":{
     "id":{"type":"string","optional":true,"computed":true},
     "name":{"type":"string","required":true},
     "arn":{"type":"string","computed":true},
     "tags":{"type":["map","string"],"optional":true},
     "spec":{"nested_type":{"nesting_mode":"list","attributes":{"a":{"type":"string","optional":true},"b":{"type":"number","computed":true}}},"optional":true}},
   "block_types":{"rule":{"nesting_mode":"set","block":{"attributes":{"k":{"type":"string","required":true},"uid":{"type":"string","computed":true}}}}}}}},
 "data_source_schemas":{"t_info":{"version":0,"block":{"attributes":{"name":{"type":"string","optional":true},"number":{"type":"string","computed":true},"list":{"type":["list","string"],"computed":true}}}}}
}}}`

func value(t *testing.T, typ tftypes.Type, v tftypes.Value) *tfprotov6.DynamicValue {
	t.Helper()
	dv, err := tfprotov6.NewDynamicValue(typ, v)
	if err != nil {
		t.Fatal(err)
	}
	return &dv
}

func TestParse(t *testing.T) {
	s, err := Parse([]byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	r := s.Resources["t_thing"]
	if r == nil || r.Version != 1 || len(r.Block.Attributes) != 5 || len(r.Block.BlockTypes) != 1 {
		t.Fatalf("t_thing: %+v", r)
	}
	if r.Block.BlockTypes[0].Nesting != tfprotov6.SchemaNestedBlockNestingModeSet {
		t.Errorf("rule nesting %v", r.Block.BlockTypes[0].Nesting)
	}
	if _, err := Parse([]byte(`{"provider_schemas":{}}`)); err == nil {
		t.Error("a document without a provider parsed")
	}
	if _, err := Parse([]byte(`{"provider_schemas":{"x":{"provider":{"block":{"attributes":{"a":{"optional":true}}}}}}}`)); err == nil {
		t.Error("an attribute without a type parsed")
	}
}

func TestPlanCreate(t *testing.T) {
	s, err := Parse([]byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(s)
	typ := s.Resources["t_thing"].ValueType()
	obj := typ.(tftypes.Object)
	specType := obj.AttributeTypes["spec"].(tftypes.List).ElementType
	ruleType := obj.AttributeTypes["rule"].(tftypes.Set).ElementType
	proposed := tftypes.NewValue(typ, map[string]tftypes.Value{
		"id":   tftypes.NewValue(tftypes.String, nil),
		"name": tftypes.NewValue(tftypes.String, "x"),
		"arn":  tftypes.NewValue(tftypes.String, nil),
		"tags": tftypes.NewValue(obj.AttributeTypes["tags"], nil),
		"spec": tftypes.NewValue(obj.AttributeTypes["spec"], []tftypes.Value{tftypes.NewValue(specType, map[string]tftypes.Value{
			"a": tftypes.NewValue(tftypes.String, "set"), "b": tftypes.NewValue(tftypes.Number, nil),
		})}),
		"rule": tftypes.NewValue(obj.AttributeTypes["rule"], []tftypes.Value{tftypes.NewValue(ruleType, map[string]tftypes.Value{
			"k": tftypes.NewValue(tftypes.String, "k1"), "uid": tftypes.NewValue(tftypes.String, nil),
		})}),
	})
	resp, err := srv.PlanResourceChange(context.Background(), &tfprotov6.PlanResourceChangeRequest{
		TypeName: "t_thing", PriorState: value(t, typ, tftypes.NewValue(typ, nil)), ProposedNewState: value(t, typ, proposed), Config: value(t, typ, proposed),
	})
	if err != nil || len(resp.Diagnostics) > 0 {
		t.Fatalf("plan: %v %v", err, resp.Diagnostics)
	}
	planned, err := resp.PlannedState.Unmarshal(typ)
	if err != nil {
		t.Fatal(err)
	}
	check := func(path *tftypes.AttributePath, wantKnown bool) {
		t.Helper()
		v, _, err := tftypes.WalkAttributePath(planned, path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if got := v.(tftypes.Value).IsKnown(); got != wantKnown {
			t.Errorf("%s known = %v, want %v", path, got, wantKnown)
		}
	}
	check(tftypes.NewAttributePath().WithAttributeName("id"), false)
	check(tftypes.NewAttributePath().WithAttributeName("arn"), false)
	check(tftypes.NewAttributePath().WithAttributeName("name"), true)
	check(tftypes.NewAttributePath().WithAttributeName("tags"), true) // optional, not computed: stays null
	check(tftypes.NewAttributePath().WithAttributeName("spec").WithElementKeyInt(0).WithAttributeName("a"), true)
	check(tftypes.NewAttributePath().WithAttributeName("spec").WithElementKeyInt(0).WithAttributeName("b"), false)

	if r, _ := srv.ApplyResourceChange(context.Background(), &tfprotov6.ApplyResourceChangeRequest{TypeName: "t_thing"}); len(r.Diagnostics) == 0 {
		t.Error("apply did not fail")
	}
}

func TestReadDataSource(t *testing.T) {
	s, err := Parse([]byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	typ := s.DataSources["t_info"].ValueType()
	obj := typ.(tftypes.Object)
	cfg := tftypes.NewValue(typ, map[string]tftypes.Value{
		"name":   tftypes.NewValue(tftypes.String, "p"),
		"number": tftypes.NewValue(tftypes.String, nil),
		"list":   tftypes.NewValue(obj.AttributeTypes["list"], nil),
	})
	resp, err := NewServer(s).ReadDataSource(context.Background(), &tfprotov6.ReadDataSourceRequest{TypeName: "t_info", Config: value(t, typ, cfg)})
	if err != nil || len(resp.Diagnostics) > 0 {
		t.Fatalf("read: %v %v", err, resp.Diagnostics)
	}
	state, err := resp.State.Unmarshal(typ)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]tftypes.Value
	if err := state.As(&m); err != nil {
		t.Fatal(err)
	}
	var number string
	if err := m["number"].As(&number); err != nil || m["number"].IsNull() || number != "" {
		t.Errorf("number = %v, want the empty string", m["number"])
	}
	if m["list"].IsNull() || !m["list"].IsKnown() {
		t.Errorf("list = %v, want an empty list", m["list"])
	}
	if !state.IsFullyKnown() {
		t.Error("a data source result must be wholly known")
	}
}
