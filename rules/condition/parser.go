package condition

import (
	"fmt"
	"strings"
)

// Error is a syntax error at a position in the condition text.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 1000

// Parse parses a condition.
func Parse(src string) (Node, error) {
	p := &parser{src: src, line: 1, col: 1}
	n, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.off < len(p.src) {
		return nil, p.errorf(p.pos(), "unexpected %s after end of condition", p.describeNext())
	}
	return n, nil
}

type parser struct {
	src       string
	off       int
	line, col int
}

func (p *parser) pos() Pos { return Pos{Offset: p.off, Line: p.line, Col: p.col} }

func (p *parser) errorf(at Pos, format string, args ...any) error {
	return &Error{Pos: at, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) advance(n int) {
	for i := 0; i < n && p.off < len(p.src); i++ {
		if p.src[p.off] == '\n' {
			p.line++
			p.col = 1
		} else {
			p.col++
		}
		p.off++
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func (p *parser) skipSpace() {
	for p.off < len(p.src) && isSpace(p.src[p.off]) {
		p.advance(1)
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '.'
}

// peekWord returns the identifier-like word at the current offset.
func (p *parser) peekWord() string {
	i := p.off
	if i >= len(p.src) || !isIdentStart(p.src[i]) {
		return ""
	}
	for i < len(p.src) && isIdentChar(p.src[i]) {
		i++
	}
	return p.src[p.off:i]
}

// peekKeyword reports whether the keyword kw is next, as a whole word.
func (p *parser) peekKeyword(kw string) bool {
	return p.peekWord() == kw
}

func (p *parser) describeNext() string {
	if p.off >= len(p.src) {
		return "end of condition"
	}
	if w := p.peekWord(); w != "" {
		return fmt.Sprintf("%q", w)
	}
	return fmt.Sprintf("%q", p.src[p.off:p.off+1])
}

func (p *parser) parseOr(depth int) (Node, error) {
	return p.parseBinary(depth, "or", p.parseAnd)
}

func (p *parser) parseAnd(depth int) (Node, error) {
	return p.parseBinary(depth, "and", p.parseNot)
}

func (p *parser) parseBinary(depth int, op string, next func(int) (Node, error)) (Node, error) {
	p.skipSpace()
	at := p.pos()
	first, err := next(depth)
	if err != nil {
		return nil, err
	}
	ops := []Node{first}
	for {
		p.skipSpace()
		if !p.peekKeyword(op) {
			break
		}
		p.advance(len(op))
		o, err := next(depth)
		if err != nil {
			return nil, err
		}
		ops = append(ops, o)
	}
	if len(ops) == 1 {
		return first, nil
	}
	return &BinaryOp{At: at, Op: op, Ops: ops}, nil
}

func (p *parser) parseNot(depth int) (Node, error) {
	p.skipSpace()
	if depth > maxDepth {
		return nil, p.errorf(p.pos(), "condition nested too deeply")
	}
	if p.peekKeyword("not") {
		at := p.pos()
		p.advance(3)
		x, err := p.parseNot(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Not{At: at, X: x}, nil
	}
	return p.parsePrimary(depth)
}

func (p *parser) parsePrimary(depth int) (Node, error) {
	p.skipSpace()
	at := p.pos()
	if p.off >= len(p.src) {
		return nil, p.errorf(at, "unexpected end of condition, expected a field, macro or '('")
	}
	if p.src[p.off] == '(' {
		p.advance(1)
		n, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.off >= len(p.src) || p.src[p.off] != ')' {
			return nil, p.errorf(p.pos(), "expected ')' to close '(', found %s", p.describeNext())
		}
		p.advance(1)
		return n, nil
	}
	word := p.peekWord()
	if word == "" {
		return nil, p.errorf(at, "unexpected %s, expected a field, macro or '('", p.describeNext())
	}
	switch word {
	case "and", "or":
		return nil, p.errorf(at, "unexpected %q, expected a field, macro or '('", word)
	}
	var c *Compare
	if IsTransformer(word) && p.followedByParen(word) {
		ref, err := p.parseFieldRef(0)
		if err != nil {
			return nil, err
		}
		c = &Compare{At: at, Field: ref.Field, Arg: ref.Arg, HasArg: ref.HasArg, Transformers: ref.Transformers}
	} else {
		p.advance(len(word))
		if !strings.Contains(word, ".") {
			// A macro reference. A following operator means a field name
			// was meant but it has no dot.
			save := *p
			p.skipSpace()
			if op := p.peekOperator(); op != "" {
				return nil, p.errorf(at, "%q is not a field (field names have the form class.name)", word)
			}
			*p = save
			return &Ref{At: at, Name: word}, nil
		}
		c = &Compare{At: at, Field: word}
		arg, has, err := p.parseFieldArg(word)
		if err != nil {
			return nil, err
		}
		c.Arg, c.HasArg = arg, has
	}
	p.skipSpace()
	c.OpAt = p.pos()
	op := p.peekOperator()
	if op == "" {
		return nil, p.errorf(c.OpAt, "expected an operator after field %s, found %s", c.Field, p.describeNext())
	}
	c.Op = op
	p.advance(len(op))
	switch {
	case unaryOps[op]:
		return c, nil
	case listOps[op]:
		return c, p.parseList(c)
	default:
		p.skipSpace()
		if w := p.peekWord(); (w == "val" || IsTransformer(w)) && p.followedByParen(w) {
			ref, err := p.parseFieldRef(0)
			if err != nil {
				return nil, err
			}
			c.RHS = ref
			return c, nil
		}
		if p.off < len(p.src) && p.src[p.off] == '(' {
			return nil, p.errorf(p.pos(), "operator %s takes a single value or a field (val(field)), not a list", op)
		}
		v, err := p.parseValue()
		if err != nil {
			return nil, err
		}
		c.Value = &v
		return c, nil
	}
}

// followedByParen reports whether word, at the current offset, is
// directly followed by '(' (a function call, not a macro or bare value).
func (p *parser) followedByParen(word string) bool {
	i := p.off + len(word)
	return i < len(p.src) && p.src[i] == '('
}

// parseFieldArg parses an optional bracket argument after a field name.
func (p *parser) parseFieldArg(field string) (string, bool, error) {
	if p.off >= len(p.src) || p.src[p.off] != '[' {
		return "", false, nil
	}
	argAt := p.pos()
	end := strings.IndexByte(p.src[p.off:], ']')
	if end < 0 {
		return "", false, p.errorf(argAt, "unterminated field argument '[' of %s", field)
	}
	arg := p.src[p.off+1 : p.off+end]
	if arg == "" {
		return "", false, p.errorf(argAt, "empty field argument for %s", field)
	}
	p.advance(end + 1)
	return arg, true, nil
}

// parseFieldRef parses a field wrapped in val() and/or transformers:
// val(proc.name), tolower(proc.name), toupper(b64(proc.env[X])).
func (p *parser) parseFieldRef(depth int) (*FieldRef, error) {
	p.skipSpace()
	at := p.pos()
	if depth > 16 {
		return nil, p.errorf(at, "transformers nested too deeply")
	}
	w := p.peekWord()
	if w == "" {
		return nil, p.errorf(at, "expected a field, found %s", p.describeNext())
	}
	if (w == "val" || IsTransformer(w)) && p.followedByParen(w) {
		p.advance(len(w) + 1)
		inner, err := p.parseFieldRef(depth + 1)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.off >= len(p.src) || p.src[p.off] != ')' {
			return nil, p.errorf(p.pos(), "expected ')' to close %s(, found %s", w, p.describeNext())
		}
		p.advance(1)
		inner.At = at
		if w == "val" {
			if depth > 0 {
				return nil, p.errorf(at, "val() cannot be nested in a transformer")
			}
			return inner, nil
		}
		inner.Transformers = append([]string{w}, inner.Transformers...)
		return inner, nil
	}
	if !strings.Contains(w, ".") {
		return nil, p.errorf(at, "%q is not a field (field names have the form class.name)", w)
	}
	p.advance(len(w))
	ref := &FieldRef{At: at, Field: w}
	arg, has, err := p.parseFieldArg(w)
	if err != nil {
		return nil, err
	}
	ref.Arg, ref.HasArg = arg, has
	return ref, nil
}

// peekOperator returns the comparison operator at the current offset.
func (p *parser) peekOperator() string {
	rest := p.src[p.off:]
	for _, op := range []string{"==", "!=", "<=", ">=", "=", "<", ">"} {
		if strings.HasPrefix(rest, op) {
			return op
		}
	}
	w := p.peekWord()
	if unaryOps[w] || listOps[w] || scalarOps[w] {
		return w
	}
	return ""
}

func (p *parser) parseList(c *Compare) error {
	p.skipSpace()
	if p.off < len(p.src) && p.src[p.off] != '(' {
		// A bare list reference: proc.name in shell_binaries.
		at := p.pos()
		w := p.peekWord()
		if w == "" || strings.Contains(w, ".") {
			return p.errorf(at, "operator %s expects a list in parentheses or a list name, found %s", c.Op, p.describeNext())
		}
		p.advance(len(w))
		c.ListRef = &Value{At: at, Text: w}
		return nil
	}
	if p.off >= len(p.src) {
		return p.errorf(p.pos(), "operator %s expects a list in parentheses, found end of condition", c.Op)
	}
	open := p.pos()
	p.advance(1)
	c.IsList = true
	p.skipSpace()
	if p.off < len(p.src) && p.src[p.off] == ')' {
		p.advance(1)
		return nil
	}
	for {
		v, err := p.parseValue()
		if err != nil {
			return err
		}
		c.List = append(c.List, v)
		p.skipSpace()
		if p.off >= len(p.src) {
			return p.errorf(p.pos(), "unterminated list opened at %s", open)
		}
		switch p.src[p.off] {
		case ',':
			p.advance(1)
		case ')':
			p.advance(1)
			return nil
		default:
			return p.errorf(p.pos(), "expected ',' or ')' in list, found %s", p.describeNext())
		}
	}
}

// isBareStop reports characters that end a bare value.
func isBareStop(c byte) bool {
	return isSpace(c) || c == '(' || c == ')' || c == ',' || c == '"' || c == '\''
}

func (p *parser) parseValue() (Value, error) {
	p.skipSpace()
	at := p.pos()
	if p.off >= len(p.src) {
		return Value{}, p.errorf(at, "expected a value, found end of condition")
	}
	switch q := p.src[p.off]; q {
	case '"', '\'':
		var b strings.Builder
		p.advance(1)
		for {
			if p.off >= len(p.src) {
				return Value{}, p.errorf(at, "unterminated quoted string")
			}
			c := p.src[p.off]
			switch {
			case c == q:
				p.advance(1)
				return Value{At: at, Text: b.String(), Quoted: true}, nil
			case c == '\\' && p.off+1 < len(p.src):
				e := p.src[p.off+1]
				switch e {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				case '\\', '"', '\'':
					b.WriteByte(e)
				default:
					// Unknown escapes stay as written, so regexes keep \d.
					b.WriteByte('\\')
					b.WriteByte(e)
				}
				p.advance(2)
			default:
				b.WriteByte(c)
				p.advance(1)
			}
		}
	case '(', ')', ',':
		return Value{}, p.errorf(at, "expected a value, found %q", string(q))
	}
	start := p.off
	for p.off < len(p.src) && !isBareStop(p.src[p.off]) {
		p.advance(1)
	}
	return Value{At: at, Text: p.src[start:p.off]}, nil
}

// Unquote returns the text of s when s is one whole quoted string, as the
// parser reads it ('a b', "(systemd)"), and false otherwise. Falco splices
// list items into conditions as written, so a quoted item is read as a
// quoted value.
func Unquote(s string) (string, bool) {
	if len(s) < 2 || (s[0] != '"' && s[0] != '\'') {
		return s, false
	}
	p := &parser{src: s, line: 1, col: 1}
	v, err := p.parseValue()
	if err != nil || p.off != len(s) {
		return s, false
	}
	return v.Text, true
}
