package destination

import "github.com/hashicorp/hcl/v2"

// SettingError returns an error diagnostic about setting name of a
// destination block's body. It points at the attribute's value, or at the
// header of the block of that name, or, when the body has neither, where
// HCL places missing items (the opening brace of a native syntax body).
func SettingError(body hcl.Body, name, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: settingRange(body, name).Ptr()}
}

func settingRange(body hcl.Body, name string) hcl.Range {
	if c, _, _ := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}}); c != nil {
		if a, ok := c.Attributes[name]; ok {
			return a.Expr.Range()
		}
	}
	if c, _, _ := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: name}}}); c != nil {
		if bs := c.Blocks.OfType(name); len(bs) > 0 {
			return bs[0].DefRange
		}
	}
	return body.MissingItemRange()
}
