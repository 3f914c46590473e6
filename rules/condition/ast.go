// Package condition parses Falco's filter language (rule and macro
// conditions) into a syntax tree that keeps the position of every node.
//
// The grammar, lowest precedence first:
//
//	expr    = and { "or" and }
//	and     = not { "and" not }
//	not     = "not" not | primary
//	primary = "(" expr ")" | ident | field op [value | list]
//	list    = "(" [value { "," value }] ")" | ident
//
// An ident without a dot is a macro reference (or, as the operand of a list
// operator, a list reference); a field is a dotted name with an optional
// argument in brackets (proc.aname[2]) or after its last dot (evt.arg.flags),
// which the field registry resolves.
package condition

import "fmt"

// Pos is a position in a condition text. Offset is in bytes from the start;
// Line and Col count from 1 (Col in bytes).
type Pos struct {
	Offset, Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Node is a node of the syntax tree.
type Node interface {
	Position() Pos
}

// BinaryOp is "and" or "or" over two or more operands.
type BinaryOp struct {
	At  Pos
	Op  string // "and" or "or"
	Ops []Node
}

// Not negates its operand.
type Not struct {
	At Pos
	X  Node
}

// Ref is a bare identifier in a boolean position: a macro reference.
type Ref struct {
	At   Pos
	Name string
}

// Value is one operand value, quoted or bare, with escapes resolved.
type Value struct {
	At     Pos
	Text   string
	Quoted bool
}

// Compare is a field check: Field Op, with a single Value for scalar
// operators, a List (or ListRef) for in/intersects/pmatch, and nothing for
// exists. Either side may be a field wrapped in transformers
// (tolower(proc.name) = val(proc.pname)).
type Compare struct {
	At    Pos
	Field string // field name without argument, as written
	Arg   string // bracket argument, if HasArg
	// HasArg reports a bracket argument (proc.aname[2]); an argument after
	// a dot (evt.arg.flags) is part of Field and split by the registry.
	HasArg bool
	// Transformers wrap the field, outermost first: tolower(b64(x)) is
	// [tolower b64].
	Transformers []string
	Op           string
	OpAt         Pos
	Value        *Value
	// RHS is a field operand: val(proc.pname) or a transformer of a
	// field (tolower(proc.pname)), instead of Value.
	RHS  *FieldRef
	List []Value
	// ListRef is set when the list operand is a bare identifier
	// (proc.name in shell_binaries).
	ListRef *Value
	// IsList reports a parenthesised list operand.
	IsList bool
}

// FieldRef is a field operand with its transformers (val is not one: it
// only marks a field as an operand and is not kept).
type FieldRef struct {
	At           Pos
	Field, Arg   string
	HasArg       bool
	Transformers []string
}

// Transformers are the functions that may wrap a field, as in Falco.
var transformers = map[string]bool{"tolower": true, "toupper": true, "b64": true, "basename": true, "len": true}

// IsTransformer reports whether name is a field transformer.
func IsTransformer(name string) bool { return transformers[name] }

// Position implements Node.
func (n *BinaryOp) Position() Pos { return n.At }

// Position implements Node.
func (n *Not) Position() Pos { return n.At }

// Position implements Node.
func (n *Ref) Position() Pos { return n.At }

// Position implements Node.
func (n *Compare) Position() Pos { return n.At }

// Operator kinds.
var (
	// unaryOps take no operand.
	unaryOps = map[string]bool{"exists": true}
	// listOps take a list operand.
	listOps = map[string]bool{"in": true, "intersects": true, "pmatch": true}
	// scalarOps take a single value.
	scalarOps = map[string]bool{
		"=": true, "==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
		"contains": true, "icontains": true, "bcontains": true,
		"startswith": true, "bstartswith": true, "endswith": true,
		"glob": true, "iglob": true, "regex": true,
	}
)

// IsListOp reports whether op takes a list operand.
func IsListOp(op string) bool { return listOps[op] }

// Operators returns every operator the parser accepts.
func Operators() []string {
	ops := make([]string, 0, len(unaryOps)+len(listOps)+len(scalarOps))
	for _, m := range []map[string]bool{scalarOps, listOps, unaryOps} {
		for k := range m {
			ops = append(ops, k)
		}
	}
	return ops
}

// Walk calls fn for n and each node below it, depth first, stopping below a
// node for which fn returns false.
func Walk(n Node, fn func(Node) bool) {
	if !fn(n) {
		return
	}
	switch n := n.(type) {
	case *BinaryOp:
		for _, o := range n.Ops {
			Walk(o, fn)
		}
	case *Not:
		Walk(n.X, fn)
	}
}
