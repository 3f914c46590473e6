package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"
)

// Format is the syntax of a rules file.
type Format uint8

// Formats.
const (
	// FormatAuto picks the format from the file name: .hcl is HCL,
	// anything else YAML.
	FormatAuto Format = iota
	FormatYAML
	FormatHCL
)

// Source is one rules document.
type Source struct {
	// Name identifies the document in errors, usually its file path.
	Name   string
	Data   []byte
	Format Format
}

// ReadSources reads rules files; a directory contributes its .yaml, .yml
// and .hcl files in lexical order (not recursing).
func ReadSources(paths ...string) ([]Source, error) {
	var out []Source
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		files := []string{p}
		if fi.IsDir() {
			ents, err := os.ReadDir(p)
			if err != nil {
				return nil, fmt.Errorf("rules: %w", err)
			}
			files = files[:0]
			for _, e := range ents {
				switch filepath.Ext(e.Name()) {
				case ".yaml", ".yml", ".hcl":
					if !e.IsDir() {
						files = append(files, filepath.Join(p, e.Name()))
					}
				}
			}
			sort.Strings(files)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("rules: %w", err)
			}
			out = append(out, Source{Name: f, Data: data})
		}
	}
	return out, nil
}

func (s Source) format() Format {
	if s.Format != FormatAuto {
		return s.Format
	}
	if strings.HasSuffix(s.Name, ".hcl") {
		return FormatHCL
	}
	return FormatYAML
}

// node is a format-neutral document tree: a scalar, a sequence or a mapping,
// each with its position, so that the loader reports YAML and HCL problems
// alike.
type node struct {
	pos    Position
	kind   nodeKind
	scalar string
	items  []*node
	keys   []*node // mapping keys, parallel to items
	// text maps an offset in scalar to a position in the file.
	text *textMap
}

type nodeKind uint8

const (
	scalarNode nodeKind = iota + 1
	seqNode
	mapNode
	nullNode
)

func (k nodeKind) String() string {
	switch k {
	case scalarNode:
		return "a scalar"
	case seqNode:
		return "a list"
	case mapNode:
		return "a mapping"
	}
	return "null"
}

// get returns the value of key in a mapping node.
func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k.scalar == key {
			return n.items[i]
		}
	}
	return nil
}

// textMap locates offsets of a string value in the file text it was read
// from, so that errors inside conditions point at the file. It matches
// the value's non-blank characters, in order, against the raw text after
// the value's start, skipping quoting, escapes and block indicators.
type textMap struct {
	file  string
	raw   []byte
	start int // byte offset of the value in raw
	value string
}

func (m *textMap) pos(off int) Position {
	if m == nil {
		return Position{}
	}
	if off > len(m.value) {
		off = len(m.value)
	}
	r := m.start
	last := -1
	for i := 0; i < off; i++ {
		c := m.value[i]
		if isBlank(c) {
			continue
		}
		for r < len(m.raw) && m.raw[r] != c {
			r++
		}
		if r >= len(m.raw) {
			break
		}
		last = r
		r++
	}
	// Point at the next non-blank character of the value, or just after
	// the last one when the offset is at the end.
	target := r
	if off < len(m.value) {
		j := off
		for j < len(m.value) && isBlank(m.value[j]) {
			j++
		}
		if j < len(m.value) {
			for target < len(m.raw) && m.raw[target] != m.value[j] {
				target++
			}
		} else if last >= 0 {
			target = last + 1
		}
	} else if last >= 0 {
		target = last + 1
	}
	if target > len(m.raw) {
		target = len(m.raw)
	}
	return offsetPos(m.file, m.raw, target)
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func offsetPos(file string, raw []byte, off int) Position {
	line, col := 1, 1
	for i := 0; i < off && i < len(raw); i++ {
		if raw[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return Position{File: file, Line: line, Col: col}
}

// yamlLineRE and yamlLinePrefixRE find the line in yaml.v3's error messages.
var (
	yamlLineRE       = regexp.MustCompile(`line (\d+)`)
	yamlLinePrefixRE = regexp.MustCompile(`^line \d+: `)
)

// parseYAML reads the YAML documents of a rules file (separated by ---)
// into node trees, one per document, as Falco reads every document of a
// file.
func parseYAML(src Source) ([]*node, *Error) {
	lines := []int{0}
	for i, c := range src.Data {
		if c == '\n' {
			lines = append(lines, i+1)
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(src.Data))
	var docs []*node
	budget := maxNodes
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			pos := Position{File: src.Name}
			if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
				pos.Line, _ = strconv.Atoi(m[1])
			}
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			msg = yamlLinePrefixRE.ReplaceAllString(msg, "")
			return nil, &Error{Pos: pos, Msg: "YAML syntax error: " + msg}
		}
		if len(doc.Content) == 0 {
			continue
		}
		n, perr := convertYAML(src, lines, &budget, doc.Content[0], 0)
		if perr != nil {
			return nil, perr
		}
		docs = append(docs, n)
	}
	if len(docs) == 0 {
		return []*node{{kind: nullNode, pos: Position{File: src.Name, Line: 1, Col: 1}}}, nil
	}
	return docs, nil
}

// maxNodes bounds the size of a document after alias expansion, so that a
// small file of nested aliases cannot make the loader expand without end.
const maxNodes = 1 << 18

// convertYAML converts y; lines holds the byte offset of each line of the
// source, budget the number of nodes still allowed.
func convertYAML(src Source, lines []int, budget *int, y *yaml.Node, depth int) (*node, *Error) {
	pos := Position{File: src.Name, Line: y.Line, Col: y.Column}
	if depth > 100 {
		return nil, &Error{Pos: pos, Msg: "document nested too deeply"}
	}
	if *budget--; *budget < 0 {
		return nil, &Error{Pos: pos, Msg: "document too large after alias expansion"}
	}
	switch y.Kind {
	case yaml.AliasNode:
		return convertYAML(src, lines, budget, y.Alias, depth+1)
	case yaml.ScalarNode:
		if y.Tag == "!!null" {
			return &node{pos: pos, kind: nullNode}, nil
		}
		n := &node{pos: pos, kind: scalarNode, scalar: y.Value}
		start := 0
		if y.Line >= 1 && y.Line <= len(lines) {
			start = lines[y.Line-1] + y.Column - 1
		}
		n.text = &textMap{file: src.Name, raw: src.Data, start: start, value: y.Value}
		return n, nil
	case yaml.SequenceNode:
		n := &node{pos: pos, kind: seqNode}
		for _, c := range y.Content {
			cn, err := convertYAML(src, lines, budget, c, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, cn)
		}
		return n, nil
	case yaml.MappingNode:
		n := &node{pos: pos, kind: mapNode}
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, err := convertYAML(src, lines, budget, y.Content[i], depth+1)
			if err != nil {
				return nil, err
			}
			if k.kind != scalarNode {
				return nil, &Error{Pos: k.pos, Msg: "mapping key must be a scalar"}
			}
			v, err := convertYAML(src, lines, budget, y.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			if n.get(k.scalar) != nil {
				return nil, &Error{Pos: k.pos, Msg: fmt.Sprintf("key %q appears twice", k.scalar)}
			}
			n.keys = append(n.keys, k)
			n.items = append(n.items, v)
		}
		return n, nil
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return &node{pos: pos, kind: nullNode}, nil
		}
		return convertYAML(src, lines, budget, y.Content[0], depth+1)
	}
	return nil, &Error{Pos: pos, Msg: "unsupported YAML node"}
}

// parseHCL reads an HCL rules document into the same tree as the YAML
// form: a sequence of mappings with a "rule", "macro" or "list" key.
//
//	rule "Name" { condition = "..." output = "..." priority = "Warning" tags = [...] }
//	macro "name" { condition = "..." }
//	list "name" { items = [...] }
//	required_engine_version = "0.31.0"
//
// A rule's exceptions are nested blocks: exception "name" { fields = [...] comps = [...] values = [[...]] }.
func parseHCL(src Source) (*node, *Error) {
	f, diags := hclsyntax.ParseConfig(src.Data, src.Name, hcl.Pos{Line: 1, Column: 1, Byte: 0})
	if diags.HasErrors() {
		return nil, hclError(src, diags)
	}
	body := f.Body.(*hclsyntax.Body)
	root := &node{kind: seqNode, pos: Position{File: src.Name, Line: 1, Col: 1}}
	type entry struct {
		at   hcl.Pos
		node *node
	}
	var entries []entry
	for _, a := range body.Attributes {
		switch a.Name {
		case "required_engine_version", "required_plugin_versions":
		default:
			return nil, &Error{Pos: hclPos(src, a.NameRange.Start), Msg: fmt.Sprintf("unknown top-level attribute %q (want rule, macro or list blocks)", a.Name)}
		}
		v, err := hclValue(src, a.Expr)
		if err != nil {
			return nil, err
		}
		k := &node{kind: scalarNode, scalar: a.Name, pos: hclPos(src, a.NameRange.Start)}
		entries = append(entries, entry{a.NameRange.Start, &node{kind: mapNode, pos: k.pos, keys: []*node{k}, items: []*node{v}}})
	}
	for _, b := range body.Blocks {
		pos := hclPos(src, b.TypeRange.Start)
		switch b.Type {
		case "rule", "macro", "list":
		default:
			return nil, &Error{Pos: pos, Msg: fmt.Sprintf("unknown block type %q (want rule, macro or list)", b.Type)}
		}
		if len(b.Labels) != 1 {
			return nil, &Error{Pos: pos, Msg: fmt.Sprintf("%s block needs exactly one label, its name", b.Type)}
		}
		m, err := hclBlock(src, b.Body, b.Type == "rule")
		if err != nil {
			return nil, err
		}
		name := &node{kind: scalarNode, scalar: b.Labels[0], pos: hclPos(src, b.LabelRanges[0].Start)}
		m.keys = append([]*node{{kind: scalarNode, scalar: b.Type, pos: pos}}, m.keys...)
		m.items = append([]*node{name}, m.items...)
		m.pos = pos
		entries = append(entries, entry{b.TypeRange.Start, m})
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].at.Byte < entries[j].at.Byte })
	for _, e := range entries {
		root.items = append(root.items, e.node)
	}
	return root, nil
}

func hclBlock(src Source, body *hclsyntax.Body, allowExceptions bool) (*node, *Error) {
	m := &node{kind: mapNode}
	attrs := make([]*hclsyntax.Attribute, 0, len(body.Attributes))
	for _, a := range body.Attributes {
		attrs = append(attrs, a)
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].NameRange.Start.Byte < attrs[j].NameRange.Start.Byte })
	for _, a := range attrs {
		v, err := hclValue(src, a.Expr)
		if err != nil {
			return nil, err
		}
		m.keys = append(m.keys, &node{kind: scalarNode, scalar: a.Name, pos: hclPos(src, a.NameRange.Start)})
		m.items = append(m.items, v)
	}
	var exc *node
	for _, b := range body.Blocks {
		pos := hclPos(src, b.TypeRange.Start)
		if b.Type != "exception" || !allowExceptions {
			return nil, &Error{Pos: pos, Msg: fmt.Sprintf("unexpected block %q", b.Type)}
		}
		if len(b.Labels) != 1 {
			return nil, &Error{Pos: pos, Msg: "exception block needs exactly one label, its name"}
		}
		e, err := hclBlock(src, b.Body, false)
		if err != nil {
			return nil, err
		}
		e.pos = pos
		e.keys = append([]*node{{kind: scalarNode, scalar: "name", pos: pos}}, e.keys...)
		e.items = append([]*node{{kind: scalarNode, scalar: b.Labels[0], pos: hclPos(src, b.LabelRanges[0].Start)}}, e.items...)
		if exc == nil {
			exc = &node{kind: seqNode, pos: pos}
			m.keys = append(m.keys, &node{kind: scalarNode, scalar: "exceptions", pos: pos})
			m.items = append(m.items, exc)
		}
		exc.items = append(exc.items, e)
	}
	return m, nil
}

func hclPos(src Source, p hcl.Pos) Position {
	return Position{File: src.Name, Line: p.Line, Col: p.Column}
}

func hclError(src Source, diags hcl.Diagnostics) *Error {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		e := &Error{Pos: Position{File: src.Name}, Msg: d.Summary}
		if d.Detail != "" {
			e.Msg += ": " + d.Detail
		}
		if d.Subject != nil {
			e.Pos = hclPos(src, d.Subject.Start)
		}
		return e
	}
	return &Error{Pos: Position{File: src.Name}, Msg: diags.Error()}
}

// hclValue evaluates a constant expression (no variables or functions).
func hclValue(src Source, expr hclsyntax.Expression) (*node, *Error) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return nil, hclError(src, diags)
	}
	return ctyNode(src, expr, v)
}

func ctyNode(src Source, expr hclsyntax.Expression, v cty.Value) (*node, *Error) {
	r := expr.Range()
	pos := hclPos(src, r.Start)
	if v.IsNull() {
		return &node{kind: nullNode, pos: pos}, nil
	}
	if !v.IsKnown() {
		return nil, &Error{Pos: pos, Msg: "value is not a constant"}
	}
	t := v.Type()
	switch {
	case t == cty.String:
		s := v.AsString()
		return &node{kind: scalarNode, scalar: s, pos: pos, text: &textMap{file: src.Name, raw: src.Data, start: r.Start.Byte, value: s}}, nil
	case t == cty.Bool:
		return &node{kind: scalarNode, scalar: strconv.FormatBool(v.True()), pos: pos}, nil
	case t == cty.Number:
		// Integers print in full; anything else in the shortest form, so
		// that 1e999999 does not expand into a million digits.
		bf := v.AsBigFloat()
		text := bf.Text('g', -1)
		if i, acc := bf.Int64(); acc == big.Exact {
			text = strconv.FormatInt(i, 10)
		}
		return &node{kind: scalarNode, scalar: text, pos: pos}, nil
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		n := &node{kind: seqNode, pos: pos}
		var subs []hclsyntax.Expression
		if tc, ok := expr.(*hclsyntax.TupleConsExpr); ok {
			subs = tc.Exprs
		}
		i := 0
		for it := v.ElementIterator(); it.Next(); i++ {
			_, ev := it.Element()
			sub := expr
			if i < len(subs) {
				sub = subs[i]
			}
			c, err := ctyNode(src, sub, ev)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, c)
		}
		return n, nil
	case t.IsObjectType() || t.IsMapType():
		n := &node{kind: mapNode, pos: pos}
		items := map[string]hclsyntax.Expression{}
		if oc, ok := expr.(*hclsyntax.ObjectConsExpr); ok {
			for _, it := range oc.Items {
				if kv, diags := it.KeyExpr.Value(nil); !diags.HasErrors() && kv.Type() == cty.String {
					items[kv.AsString()] = it.ValueExpr
				}
			}
		}
		// cty iterates object attributes and map keys in lexical order.
		for it := v.ElementIterator(); it.Next(); {
			kv, ev := it.Element()
			k := kv.AsString()
			sub := expr
			if e, ok := items[k]; ok {
				sub = e
			}
			c, err := ctyNode(src, sub, ev)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, &node{kind: scalarNode, scalar: k, pos: hclPos(src, sub.Range().Start)})
			n.items = append(n.items, c)
		}
		return n, nil
	}
	return nil, &Error{Pos: pos, Msg: fmt.Sprintf("unsupported value of type %s", t.FriendlyName())}
}

var errNoSources = errors.New("rules: no rules sources")
