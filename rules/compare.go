package rules

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/nightjar-sec/nightjar/rules/fields"
)

// evalFunc is a compiled condition.
type evalFunc func(c *fields.Ctx) bool

// valueError is a bad operand value; index says which one.
type valueError struct {
	index int
	msg   string
}

func (e *valueError) Error() string { return e.msg }

// opError is an operator that does not apply to the field.
type opError struct{ msg string }

func (e *opError) Error() string { return e.msg }

var opsByType = map[fields.Type]string{
	fields.String:  "= == != in intersects contains icontains bcontains startswith bstartswith endswith glob iglob pmatch regex exists",
	fields.Int:     "= == != < <= > >= in intersects exists",
	fields.Port:    "= == != < <= > >= in intersects exists",
	fields.Time:    "= == != < <= > >= in intersects exists",
	fields.AbsTime: "= == != < <= > >= in intersects exists",
	fields.RelTime: "= == != < <= > >= in intersects exists",
	fields.Bool:    "= == != in exists",
	fields.IP:      "= == != in intersects exists",
	fields.Net:     "= == != in intersects exists",
}

func opApplies(t fields.Type, op string) bool {
	for _, o := range strings.Fields(opsByType[t]) {
		if o == op {
			return true
		}
	}
	return false
}

// compileCompare compiles "field op values". vals holds one value for
// scalar operators, the expanded list for list operators and none for exists.
func compileCompare(x *fields.Extractor, op string, vals []string) (evalFunc, error) {
	if !opApplies(x.Type, op) {
		return nil, &opError{fmt.Sprintf("operator %s does not apply to %s field %s (valid: %s)", op, x.Type, x.Name, opsByType[x.Type])}
	}
	if op == "exists" {
		return x.Exists, nil
	}
	switch x.Type {
	case fields.String:
		return compileString(x, op, vals)
	case fields.IP, fields.Net:
		return compileIP(x, op, vals)
	default:
		return compileInt(x, op, vals)
	}
}

// anyStr applies pred to the field's value, or to each value of a
// multi-valued field until one satisfies it. A missing value never does.
func anyStr(x *fields.Extractor, pred func(string) bool) evalFunc {
	get := x.Str
	if !x.Multi {
		return func(c *fields.Ctx) bool {
			s, ok := get(c, 0)
			return ok && pred(s)
		}
	}
	return func(c *fields.Ctx) bool {
		for i := 0; ; i++ {
			s, ok := get(c, i)
			if !ok {
				return false
			}
			if pred(s) {
				return true
			}
		}
	}
}

func compileString(x *fields.Extractor, op string, vals []string) (evalFunc, error) {
	switch op {
	case "=", "==":
		v := vals[0]
		if !x.Multi {
			get := x.Str
			return func(c *fields.Ctx) bool {
				s, ok := get(c, 0)
				return ok && s == v
			}, nil
		}
		return anyStr(x, func(s string) bool { return s == v }), nil
	case "!=":
		v := vals[0]
		return anyStr(x, func(s string) bool { return s != v }), nil
	case "in", "intersects":
		return anyStr(x, stringSet(vals)), nil
	case "contains":
		v := vals[0]
		generic := anyStr(x, func(s string) bool { return strings.Contains(s, v) })
		if bit, ok := fields.OpenFlagBit(v); ok && x.Name == "evt.arg.flags" {
			// The common "evt.arg.flags contains O_TRUNC" tests the bit
			// of open events instead of rendering the flags.
			return func(c *fields.Ctx) bool {
				if f, ok := fields.OpenFlags(c.Ev); ok {
					return f&bit != 0
				}
				return generic(c)
			}, nil
		}
		return generic, nil
	case "icontains":
		v := vals[0]
		return anyStr(x, func(s string) bool { return containsFold(s, v) }), nil
	case "startswith":
		v := vals[0]
		return anyStr(x, func(s string) bool { return strings.HasPrefix(s, v) }), nil
	case "endswith":
		v := vals[0]
		return anyStr(x, func(s string) bool { return strings.HasSuffix(s, v) }), nil
	case "bcontains", "bstartswith":
		b, err := hex.DecodeString(strings.ReplaceAll(vals[0], " ", ""))
		if err != nil {
			return nil, &valueError{0, fmt.Sprintf("%s needs a hexadecimal byte string, got %q", op, vals[0])}
		}
		v := string(b)
		if op == "bcontains" {
			return anyStr(x, func(s string) bool { return strings.Contains(s, v) }), nil
		}
		return anyStr(x, func(s string) bool { return strings.HasPrefix(s, v) }), nil
	case "glob", "iglob":
		g := newGlob(vals[0], op == "iglob")
		return anyStr(x, g.match), nil
	case "pmatch":
		// Falco's prefixes may hold wildcards (/var/*/*.txt), matched
		// a path component at a time.
		var prefixes []string
		var globs []pathGlob
		for _, v := range vals {
			if strings.ContainsAny(v, "*?[") {
				globs = append(globs, newPathGlob(v))
				continue
			}
			prefixes = append(prefixes, strings.TrimRight(v, "/"))
		}
		if len(globs) == 0 {
			return anyStr(x, func(s string) bool { return pathMatch(s, prefixes) }), nil
		}
		return anyStr(x, func(s string) bool { return pathMatch(s, prefixes) || pathGlobMatch(s, globs) }), nil
	case "regex":
		re, err := regexp.Compile(`^(?:` + vals[0] + `)$`)
		if err != nil {
			return nil, &valueError{0, fmt.Sprintf("bad regular expression %q: %v", vals[0], err)}
		}
		return anyStr(x, re.MatchString), nil
	}
	return nil, &opError{fmt.Sprintf("operator %s is not supported", op)}
}

// stringSet returns a membership test: a linear scan for short lists
// (string comparison rejects on length first), a map for long ones.
func stringSet(vals []string) func(string) bool {
	if len(vals) <= 16 {
		vs := append([]string(nil), vals...)
		return func(s string) bool {
			for _, v := range vs {
				if s == v {
					return true
				}
			}
			return false
		}
	}
	m := make(map[string]struct{}, len(vals))
	for _, v := range vals {
		m[v] = struct{}{}
	}
	return func(s string) bool {
		_, ok := m[s]
		return ok
	}
}

// pathMatch reports whether path is one of prefixes or below one of them.
func pathMatch(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) && (len(path) == len(p) || path[len(p)] == '/' || p == "") {
			return true
		}
	}
	return false
}

// pathGlob is a pmatch prefix with wildcards: its non-empty components,
// each a glob pattern for one component of the path.
type pathGlob struct {
	abs   bool
	comps []string
}

func newPathGlob(v string) pathGlob {
	g := pathGlob{abs: strings.HasPrefix(v, "/")}
	for _, c := range strings.Split(v, "/") {
		if c != "" {
			g.comps = append(g.comps, c)
		}
	}
	return g
}

// pathGlobMatch reports whether the leading components of path match the
// components of one of globs. It does not allocate.
func pathGlobMatch(path string, globs []pathGlob) bool {
	abs := strings.HasPrefix(path, "/")
next:
	for _, g := range globs {
		if g.abs != abs {
			continue
		}
		rest := path
		for _, pc := range g.comps {
			comp := ""
			for comp == "" {
				if rest == "" {
					continue next
				}
				comp, rest, _ = strings.Cut(rest, "/")
			}
			if !globMatch(pc, comp, false) {
				continue next
			}
		}
		return true
	}
	return false
}

// containsFold is a case-insensitive strings.Contains that does not
// allocate.
func containsFold(s, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}

func parseIntValue(t fields.Type, v string, i int) (int64, error) {
	switch t {
	case fields.Bool:
		switch strings.ToLower(v) {
		case "true":
			return 1, nil
		case "false":
			return 0, nil
		}
		return 0, &valueError{i, fmt.Sprintf("%q is not a boolean (true or false)", v)}
	case fields.Port:
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return 0, &valueError{i, fmt.Sprintf("%q is not a port number (0-65535)", v)}
		}
		return int64(n), nil
	}
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil {
		return 0, &valueError{i, fmt.Sprintf("%q is not a number", v)}
	}
	return n, nil
}

func compileInt(x *fields.Extractor, op string, vals []string) (evalFunc, error) {
	nums := make([]int64, len(vals))
	for i, v := range vals {
		n, err := parseIntValue(x.Type, v, i)
		if err != nil {
			return nil, err
		}
		nums[i] = n
	}
	var pred func(int64) bool
	switch op {
	case "=", "==":
		v := nums[0]
		if !x.Multi {
			get := x.Int
			return func(c *fields.Ctx) bool {
				n, ok := get(c, 0)
				return ok && n == v
			}, nil
		}
		pred = func(n int64) bool { return n == v }
	case "!=":
		v := nums[0]
		pred = func(n int64) bool { return n != v }
	case "<":
		v := nums[0]
		pred = func(n int64) bool { return n < v }
	case "<=":
		v := nums[0]
		pred = func(n int64) bool { return n <= v }
	case ">":
		v := nums[0]
		pred = func(n int64) bool { return n > v }
	case ">=":
		v := nums[0]
		pred = func(n int64) bool { return n >= v }
	case "in", "intersects":
		pred = func(n int64) bool {
			for _, v := range nums {
				if n == v {
					return true
				}
			}
			return false
		}
	default:
		return nil, &opError{fmt.Sprintf("operator %s is not supported", op)}
	}
	get := x.Int
	if !x.Multi {
		return func(c *fields.Ctx) bool {
			n, ok := get(c, 0)
			return ok && pred(n)
		}, nil
	}
	if op == "!=" && x.Name == "fd.port" {
		// Falco: fd.port differs from a value when neither end's port
		// matches it.
		return func(c *fields.Ctx) bool {
			k := 0
			for i := 0; ; i++ {
				n, ok := get(c, i)
				if !ok {
					return k > 0
				}
				if !pred(n) {
					return false
				}
				k++
			}
		}, nil
	}
	return func(c *fields.Ctx) bool {
		for i := 0; ; i++ {
			n, ok := get(c, i)
			if !ok {
				return false
			}
			if pred(n) {
				return true
			}
		}
	}, nil
}

// compileIP compiles comparisons of addresses with addresses or CIDR
// networks: "=" means "is, or lies in".
func compileIP(x *fields.Extractor, op string, vals []string) (evalFunc, error) {
	nets := make([]netip.Prefix, len(vals))
	for i, v := range vals {
		if strings.Contains(v, "/") {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return nil, &valueError{i, fmt.Sprintf("%q is not a CIDR network", v)}
			}
			nets[i] = p.Masked()
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, &valueError{i, fmt.Sprintf("%q is not an IP address", v)}
		}
		a = a.Unmap()
		nets[i] = netip.PrefixFrom(a, a.BitLen())
	}
	in := func(a netip.Addr) bool {
		for _, p := range nets {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	pred := in
	if op == "!=" {
		pred = func(a netip.Addr) bool { return !in(a) }
	}
	get := x.IP
	if op == "!=" && x.Multi {
		// Falco: fd.ip and fd.net differ from a value when neither end
		// of the connection matches it.
		return func(c *fields.Ctx) bool {
			n := 0
			for i := 0; ; i++ {
				a, ok := get(c, i)
				if !ok {
					return n > 0
				}
				if !pred(a) {
					return false
				}
				n++
			}
		}, nil
	}
	return func(c *fields.Ctx) bool {
		for i := 0; ; i++ {
			a, ok := get(c, i)
			if !ok {
				return false
			}
			if pred(a) {
				return true
			}
			if !x.Multi {
				return false
			}
		}
	}, nil
}

// glob matches shell patterns as Falco's glob operator does: * matches any
// run of characters including /, ? one character, [...] a class.
type glob struct {
	pat  string
	fold bool
	// prefix is the literal text before the first wildcard, checked first
	// to reject most values cheaply.
	prefix string
}

func newGlob(pat string, fold bool) *glob {
	g := &glob{pat: pat, fold: fold}
	if !fold {
		if i := strings.IndexAny(pat, "*?["); i >= 0 {
			g.prefix = pat[:i]
		} else {
			g.prefix = pat
		}
	}
	return g
}

func (g *glob) match(s string) bool {
	return strings.HasPrefix(s, g.prefix) && globMatch(g.pat, s, g.fold)
}

func globMatch(pat, s string, fold bool) bool {
	// Iterative matching with backtracking to the last star.
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		if px < len(pat) {
			switch c := pat[px]; c {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				px++
				sx++
				continue
			case '[':
				if end, ok := classMatch(pat[px:], s[sx], fold); end > 0 {
					if ok {
						px += end
						sx++
						continue
					}
				} else if s[sx] == '[' {
					px++
					sx++
					continue
				}
			default:
				if c == s[sx] || fold && lower(c) == lower(s[sx]) {
					px++
					sx++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		px, sx = starP+1, starS
	}
	for px < len(pat) && pat[px] == '*' {
		px++
	}
	return px == len(pat)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// classMatch matches c against the class at the start of pat ("[a-z]",
// "[!0-9]"). It returns the class's length (0 when pat has no closing ]).
func classMatch(pat string, c byte, fold bool) (int, bool) {
	i := 1
	neg := false
	if i < len(pat) && (pat[i] == '!' || pat[i] == '^') {
		neg = true
		i++
	}
	matched := false
	first := true
	for i < len(pat) && (pat[i] != ']' || first) {
		first = false
		lo := pat[i]
		hi := lo
		if i+2 < len(pat) && pat[i+1] == '-' && pat[i+2] != ']' {
			hi = pat[i+2]
			i += 2
		}
		if lo <= c && c <= hi || fold && lo <= lower(c) && lower(c) <= hi {
			matched = true
		}
		i++
	}
	if i >= len(pat) {
		return 0, false
	}
	return i + 1, matched != neg
}

// compileFieldCompare compiles a comparison of two fields (Falco's
// val(field) operand, or a transformed field on the right). Both sides
// must be of comparable types; a missing value on either side is false.
// A multi-valued left side matches when any value does; the right side
// gives its first value.
func compileFieldCompare(x *fields.Extractor, op string, y *fields.Extractor) (evalFunc, error) {
	mismatch := func() error {
		return fmt.Errorf("cannot compare %s field %s with %s field %s", x.Type, x.Name, y.Type, y.Name)
	}
	badOp := func() error {
		return fmt.Errorf("operator %s does not apply to a comparison of %s fields %s and %s", op, x.Type, x.Name, y.Name)
	}
	switch {
	case x.Type == fields.String && y.Type == fields.String:
		var pred func(a, b string) bool
		switch op {
		case "=", "==":
			pred = func(a, b string) bool { return a == b }
		case "!=":
			pred = func(a, b string) bool { return a != b }
		case "contains":
			pred = strings.Contains
		case "icontains":
			pred = containsFold
		case "startswith":
			pred = strings.HasPrefix
		case "endswith":
			pred = strings.HasSuffix
		case "glob", "iglob":
			fold := op == "iglob"
			pred = func(a, b string) bool { return globMatch(b, a, fold) }
		default:
			return nil, badOp()
		}
		return anyPair(x.Str, y.Str, x.Multi, pred), nil
	case (x.Type.Numeric() && y.Type.Numeric()) || (x.Type == fields.Bool && y.Type == fields.Bool):
		var pred func(a, b int64) bool
		switch op {
		case "=", "==":
			pred = func(a, b int64) bool { return a == b }
		case "!=":
			pred = func(a, b int64) bool { return a != b }
		case "<":
			pred = func(a, b int64) bool { return a < b }
		case "<=":
			pred = func(a, b int64) bool { return a <= b }
		case ">":
			pred = func(a, b int64) bool { return a > b }
		case ">=":
			pred = func(a, b int64) bool { return a >= b }
		default:
			return nil, badOp()
		}
		if x.Type == fields.Bool && (op != "=" && op != "==" && op != "!=") {
			return nil, badOp()
		}
		return anyPair(x.Int, y.Int, x.Multi, pred), nil
	case (x.Type == fields.IP || x.Type == fields.Net) && (y.Type == fields.IP || y.Type == fields.Net):
		var neq bool
		switch op {
		case "=", "==":
		case "!=":
			neq = true
		default:
			return nil, badOp()
		}
		return anyPair(x.IP, y.IP, x.Multi, func(a, b netip.Addr) bool { return (a == b) != neq }), nil
	}
	return nil, mismatch()
}

// anyPair compares the right side's first value with each value of the
// left side (only the first unless multi) and is true when pred holds for
// one; a missing value on either side is false.
func anyPair[T any](left, right func(*fields.Ctx, int) (T, bool), multi bool, pred func(a, b T) bool) evalFunc {
	return func(c *fields.Ctx) bool {
		b, ok := right(c, 0)
		if !ok {
			return false
		}
		for i := 0; ; i++ {
			a, ok := left(c, i)
			if !ok {
				return false
			}
			if pred(a, b) {
				return true
			}
			if !multi {
				return false
			}
		}
	}
}
