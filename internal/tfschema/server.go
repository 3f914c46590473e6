package tfschema

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// Server is a tfprotov6.ProviderServer over Schemas. It accepts every
// configuration, plans creations with unknown values for the computed
// attributes the configuration leaves unset, answers data source reads with
// zero values for them, and refuses to apply or import: it exists to check
// configurations, never to change anything.
type Server struct {
	schemas *Schemas
}

var _ tfprotov6.ProviderServer = (*Server)(nil)

// NewServer returns a server for s.
func NewServer(s *Schemas) *Server { return &Server{schemas: s} }

var errNoApply = errors.New("schema-only provider: it checks configurations and cannot change infrastructure")

func errDiag(err error) []*tfprotov6.Diagnostic {
	return []*tfprotov6.Diagnostic{{Severity: tfprotov6.DiagnosticSeverityError, Summary: err.Error()}}
}

func (s *Server) GetMetadata(context.Context, *tfprotov6.GetMetadataRequest) (*tfprotov6.GetMetadataResponse, error) {
	resp := &tfprotov6.GetMetadataResponse{ServerCapabilities: &tfprotov6.ServerCapabilities{GetProviderSchemaOptional: false}}
	for _, name := range sortedKeys(s.schemas.Resources) {
		resp.Resources = append(resp.Resources, tfprotov6.ResourceMetadata{TypeName: name})
	}
	for _, name := range sortedKeys(s.schemas.DataSources) {
		resp.DataSources = append(resp.DataSources, tfprotov6.DataSourceMetadata{TypeName: name})
	}
	return resp, nil
}

func (s *Server) GetProviderSchema(context.Context, *tfprotov6.GetProviderSchemaRequest) (*tfprotov6.GetProviderSchemaResponse, error) {
	return &tfprotov6.GetProviderSchemaResponse{
		ServerCapabilities:       &tfprotov6.ServerCapabilities{},
		Provider:                 s.schemas.Provider,
		ResourceSchemas:          s.schemas.Resources,
		DataSourceSchemas:        s.schemas.DataSources,
		Functions:                map[string]*tfprotov6.Function{},
		EphemeralResourceSchemas: map[string]*tfprotov6.Schema{},
	}, nil
}

func (s *Server) GetResourceIdentitySchemas(context.Context, *tfprotov6.GetResourceIdentitySchemasRequest) (*tfprotov6.GetResourceIdentitySchemasResponse, error) {
	return &tfprotov6.GetResourceIdentitySchemasResponse{IdentitySchemas: map[string]*tfprotov6.ResourceIdentitySchema{}}, nil
}

func (s *Server) ValidateProviderConfig(_ context.Context, req *tfprotov6.ValidateProviderConfigRequest) (*tfprotov6.ValidateProviderConfigResponse, error) {
	return &tfprotov6.ValidateProviderConfigResponse{PreparedConfig: req.Config}, nil
}

func (s *Server) ConfigureProvider(context.Context, *tfprotov6.ConfigureProviderRequest) (*tfprotov6.ConfigureProviderResponse, error) {
	return &tfprotov6.ConfigureProviderResponse{}, nil
}

func (s *Server) StopProvider(context.Context, *tfprotov6.StopProviderRequest) (*tfprotov6.StopProviderResponse, error) {
	return &tfprotov6.StopProviderResponse{}, nil
}

func (s *Server) ValidateResourceConfig(context.Context, *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, error) {
	return &tfprotov6.ValidateResourceConfigResponse{}, nil
}

func (s *Server) UpgradeResourceState(_ context.Context, req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, error) {
	sch, ok := s.schemas.Resources[req.TypeName]
	if !ok {
		return &tfprotov6.UpgradeResourceStateResponse{Diagnostics: errDiag(fmt.Errorf("unknown resource type %s", req.TypeName))}, nil
	}
	typ := sch.ValueType()
	v, err := req.RawState.Unmarshal(typ)
	if err != nil {
		return &tfprotov6.UpgradeResourceStateResponse{Diagnostics: errDiag(fmt.Errorf("%s state: %w", req.TypeName, err))}, nil
	}
	dv, err := tfprotov6.NewDynamicValue(typ, v)
	if err != nil {
		return &tfprotov6.UpgradeResourceStateResponse{Diagnostics: errDiag(err)}, nil
	}
	return &tfprotov6.UpgradeResourceStateResponse{UpgradedState: &dv}, nil
}

func (s *Server) ReadResource(_ context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	return &tfprotov6.ReadResourceResponse{NewState: req.CurrentState, Private: req.Private}, nil
}

func (s *Server) PlanResourceChange(_ context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	sch, ok := s.schemas.Resources[req.TypeName]
	if !ok {
		return &tfprotov6.PlanResourceChangeResponse{Diagnostics: errDiag(fmt.Errorf("unknown resource type %s", req.TypeName))}, nil
	}
	typ := sch.ValueType()
	prior, err := req.PriorState.Unmarshal(typ)
	if err != nil {
		return &tfprotov6.PlanResourceChangeResponse{Diagnostics: errDiag(err)}, nil
	}
	proposed, err := req.ProposedNewState.Unmarshal(typ)
	if err != nil {
		return &tfprotov6.PlanResourceChangeResponse{Diagnostics: errDiag(err)}, nil
	}
	planned := proposed
	// On creation the provider would compute these; on update and
	// destruction the proposed state already holds the prior values.
	if prior.IsNull() && !proposed.IsNull() {
		if planned, err = fillComputed(proposed, sch.Block, unknownOf); err != nil {
			return &tfprotov6.PlanResourceChangeResponse{Diagnostics: errDiag(fmt.Errorf("%s: %w", req.TypeName, err))}, nil
		}
	}
	dv, err := tfprotov6.NewDynamicValue(typ, planned)
	if err != nil {
		return &tfprotov6.PlanResourceChangeResponse{Diagnostics: errDiag(err)}, nil
	}
	return &tfprotov6.PlanResourceChangeResponse{PlannedState: &dv, PlannedPrivate: req.PriorPrivate}, nil
}

func (s *Server) ApplyResourceChange(context.Context, *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	return &tfprotov6.ApplyResourceChangeResponse{Diagnostics: errDiag(errNoApply)}, nil
}

func (s *Server) ImportResourceState(context.Context, *tfprotov6.ImportResourceStateRequest) (*tfprotov6.ImportResourceStateResponse, error) {
	return &tfprotov6.ImportResourceStateResponse{Diagnostics: errDiag(errNoApply)}, nil
}

func (s *Server) MoveResourceState(context.Context, *tfprotov6.MoveResourceStateRequest) (*tfprotov6.MoveResourceStateResponse, error) {
	return &tfprotov6.MoveResourceStateResponse{Diagnostics: errDiag(errNoApply)}, nil
}

func (s *Server) GenerateResourceConfig(context.Context, *tfprotov6.GenerateResourceConfigRequest) (*tfprotov6.GenerateResourceConfigResponse, error) {
	return &tfprotov6.GenerateResourceConfigResponse{Diagnostics: errDiag(errNoApply)}, nil
}

func (s *Server) ValidateDataResourceConfig(context.Context, *tfprotov6.ValidateDataResourceConfigRequest) (*tfprotov6.ValidateDataResourceConfigResponse, error) {
	return &tfprotov6.ValidateDataResourceConfigResponse{}, nil
}

func (s *Server) ReadDataSource(_ context.Context, req *tfprotov6.ReadDataSourceRequest) (*tfprotov6.ReadDataSourceResponse, error) {
	sch, ok := s.schemas.DataSources[req.TypeName]
	if !ok {
		return &tfprotov6.ReadDataSourceResponse{Diagnostics: errDiag(fmt.Errorf("unknown data source %s", req.TypeName))}, nil
	}
	typ := sch.ValueType()
	cfg, err := req.Config.Unmarshal(typ)
	if err != nil {
		return &tfprotov6.ReadDataSourceResponse{Diagnostics: errDiag(err)}, nil
	}
	// A data source's result must be wholly known: computed attributes get
	// their type's zero value.
	state, err := fillComputed(cfg, sch.Block, zeroOf)
	if err != nil {
		return &tfprotov6.ReadDataSourceResponse{Diagnostics: errDiag(fmt.Errorf("%s: %w", req.TypeName, err))}, nil
	}
	dv, err := tfprotov6.NewDynamicValue(typ, state)
	if err != nil {
		return &tfprotov6.ReadDataSourceResponse{Diagnostics: errDiag(err)}, nil
	}
	return &tfprotov6.ReadDataSourceResponse{State: &dv}, nil
}

func (s *Server) CallFunction(context.Context, *tfprotov6.CallFunctionRequest) (*tfprotov6.CallFunctionResponse, error) {
	return &tfprotov6.CallFunctionResponse{Error: &tfprotov6.FunctionError{Text: "schema-only provider has no functions"}}, nil
}

func (s *Server) GetFunctions(context.Context, *tfprotov6.GetFunctionsRequest) (*tfprotov6.GetFunctionsResponse, error) {
	return &tfprotov6.GetFunctionsResponse{Functions: map[string]*tfprotov6.Function{}}, nil
}

func (s *Server) ValidateEphemeralResourceConfig(context.Context, *tfprotov6.ValidateEphemeralResourceConfigRequest) (*tfprotov6.ValidateEphemeralResourceConfigResponse, error) {
	return &tfprotov6.ValidateEphemeralResourceConfigResponse{}, nil
}

func (s *Server) OpenEphemeralResource(context.Context, *tfprotov6.OpenEphemeralResourceRequest) (*tfprotov6.OpenEphemeralResourceResponse, error) {
	return &tfprotov6.OpenEphemeralResourceResponse{Diagnostics: errDiag(errNoApply)}, nil
}

func (s *Server) RenewEphemeralResource(context.Context, *tfprotov6.RenewEphemeralResourceRequest) (*tfprotov6.RenewEphemeralResourceResponse, error) {
	return &tfprotov6.RenewEphemeralResourceResponse{Diagnostics: errDiag(errNoApply)}, nil
}

func (s *Server) CloseEphemeralResource(context.Context, *tfprotov6.CloseEphemeralResourceRequest) (*tfprotov6.CloseEphemeralResourceResponse, error) {
	return &tfprotov6.CloseEphemeralResourceResponse{}, nil
}

func unknownOf(t tftypes.Type) tftypes.Value { return tftypes.NewValue(t, tftypes.UnknownValue) }

func zeroOf(t tftypes.Type) tftypes.Value {
	switch {
	case t.Is(tftypes.String):
		return tftypes.NewValue(t, "")
	case t.Is(tftypes.Number):
		return tftypes.NewValue(t, new(big.Float))
	case t.Is(tftypes.Bool):
		return tftypes.NewValue(t, false)
	case t.Is(tftypes.List{}), t.Is(tftypes.Set{}), t.Is(tftypes.Tuple{}):
		return tftypes.NewValue(t, []tftypes.Value{})
	case t.Is(tftypes.Map{}):
		return tftypes.NewValue(t, map[string]tftypes.Value{})
	default:
		return tftypes.NewValue(t, nil)
	}
}

// fillComputed replaces the null computed attributes of v, a value of block
// b, and of its nested blocks and nested attributes, with fill(type).
func fillComputed(v tftypes.Value, b *tfprotov6.SchemaBlock, fill func(tftypes.Type) tftypes.Value) (tftypes.Value, error) {
	if v.IsNull() || !v.IsKnown() {
		return v, nil
	}
	var m map[string]tftypes.Value
	if err := v.As(&m); err != nil {
		return v, err
	}
	for _, a := range b.Attributes {
		av, ok := m[a.Name]
		if !ok {
			continue
		}
		switch {
		case av.IsNull() && a.Computed:
			m[a.Name] = fill(a.ValueType())
		case a.NestedType != nil:
			inner := &tfprotov6.SchemaBlock{Attributes: a.NestedType.Attributes}
			single := a.NestedType.Nesting == tfprotov6.SchemaObjectNestingModeSingle
			nv, err := fillEach(av, inner, single, fill)
			if err != nil {
				return v, fmt.Errorf("%s: %w", a.Name, err)
			}
			m[a.Name] = nv
		}
	}
	for _, bt := range b.BlockTypes {
		bv, ok := m[bt.TypeName]
		if !ok {
			continue
		}
		single := bt.Nesting == tfprotov6.SchemaNestedBlockNestingModeSingle || bt.Nesting == tfprotov6.SchemaNestedBlockNestingModeGroup
		nv, err := fillEach(bv, bt.Block, single, fill)
		if err != nil {
			return v, fmt.Errorf("%s: %w", bt.TypeName, err)
		}
		m[bt.TypeName] = nv
	}
	return tftypes.NewValue(v.Type(), m), nil
}

// fillEach applies fillComputed to a single object or to every element of
// a list, set or map of objects.
func fillEach(v tftypes.Value, b *tfprotov6.SchemaBlock, single bool, fill func(tftypes.Type) tftypes.Value) (tftypes.Value, error) {
	if v.IsNull() || !v.IsKnown() {
		return v, nil
	}
	if single {
		return fillComputed(v, b, fill)
	}
	t := v.Type()
	if t.Is(tftypes.Map{}) {
		var m map[string]tftypes.Value
		if err := v.As(&m); err != nil {
			return v, err
		}
		for k, e := range m {
			ne, err := fillComputed(e, b, fill)
			if err != nil {
				return v, err
			}
			m[k] = ne
		}
		return tftypes.NewValue(t, m), nil
	}
	var elems []tftypes.Value
	if err := v.As(&elems); err != nil {
		return v, err
	}
	for i, e := range elems {
		ne, err := fillComputed(e, b, fill)
		if err != nil {
			return v, err
		}
		elems[i] = ne
	}
	return tftypes.NewValue(t, elems), nil
}

func (s *Server) UpgradeResourceIdentity(context.Context, *tfprotov6.UpgradeResourceIdentityRequest) (*tfprotov6.UpgradeResourceIdentityResponse, error) {
	return &tfprotov6.UpgradeResourceIdentityResponse{Diagnostics: errDiag(errors.New("schema-only provider: resources have no identity schema"))}, nil
}
