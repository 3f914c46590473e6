// Package fields owns the field registry of the rule engine: the Falco field
// names a condition or output may use (proc.name, fd.name, evt.arg.flags,
// ...), their types, and the extractors that read them from an
// event.Event without allocating.
package fields

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Type is the type of a field's values. It decides which operators apply
// and how operand values are parsed.
type Type uint8

// Field types.
const (
	String  Type = iota + 1
	Int          // signed integer: pids, ids, counts, raw arguments
	Bool         // true or false
	IP           // an IPv4 or IPv6 address; compares against addresses and CIDR networks
	Net          // an address to test for membership of CIDR networks (fd.net)
	Port         // a TCP/UDP port
	Time         // nanoseconds since the Unix epoch, printed as HH:MM:SS.nnnnnnnnn (evt.time)
	AbsTime      // nanoseconds since the Unix epoch, printed as a number (Falco's ABSTIME)
	RelTime      // a duration in nanoseconds (Falco's RELTIME)
)

var typeNames = [...]string{String: "string", Int: "int", Bool: "bool", IP: "ipaddr", Net: "ipnet", Port: "port",
	Time: "time", AbsTime: "abstime", RelTime: "reltime"}

// Numeric reports whether values of t are numbers (ordered with < and >).
func (t Type) Numeric() bool {
	switch t {
	case Int, Port, Time, AbsTime, RelTime:
		return true
	}
	return false
}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// ArgKind says whether and how a field takes an argument.
type ArgKind uint8

// Argument kinds.
const (
	NoArg ArgKind = iota
	// IndexArg is a required non-negative number: proc.aname[2].
	IndexArg
	// OptIndexArg is an optional number; without it the field is
	// multi-valued (proc.aname: every ancestor).
	OptIndexArg
	// NameArg is a required name: proc.env[HOME], evt.arg.flags.
	NameArg
	// OptNameArg is an optional name; without it the field has its own meaning (proc.env).
	OptNameArg
	// NameOrIndexArg takes evt.arg.NAME or evt.arg[N].
	NameOrIndexArg
)

// Def describes a field.
type Def struct {
	Name string
	Type Type
	Arg  ArgKind
	Desc string
	// Unavailable marks fields the daemon cannot fill yet: they always
	// evaluate as missing (Falco's <NA>).
	Unavailable bool

	make func(a arg) (*Extractor, error)
}

type arg struct {
	set   bool
	text  string
	index int
}

// Extractor reads one field, with its argument resolved, from the event in
// a Ctx. Exactly one of Str, Int and IP is set, according to Type. A
// multi-valued extractor yields its i-th value; a single-valued one ignores
// i. The second result is false when the value is missing.
type Extractor struct {
	// Name is the field as written, argument included: proc.aname[2].
	Name        string
	Type        Type
	Multi       bool
	Unavailable bool

	Str func(c *Ctx, i int) (string, bool)
	Int func(c *Ctx, i int) (int64, bool)
	IP  func(c *Ctx, i int) (netip.Addr, bool)

	// HostIP is set for the fd.*ip.name fields: the address that a
	// comparison with a host name checks against the names' resolved
	// addresses (Falco compares addresses, not names).
	HostIP func(c *Ctx) (netip.Addr, bool)
}

// Exists reports whether the field has a value for the event in c.
func (x *Extractor) Exists(c *Ctx) bool {
	switch {
	case x.Str != nil:
		_, ok := x.Str(c, 0)
		return ok
	case x.Int != nil:
		_, ok := x.Int(c, 0)
		return ok
	default:
		_, ok := x.IP(c, 0)
		return ok
	}
}

// Value returns the field's value for the output_fields map: a string, an
// int64 or a bool, copied out of the event; nil when missing.
func (x *Extractor) Value(c *Ctx) any {
	switch {
	case x.Str != nil:
		if s, ok := x.Str(c, 0); ok {
			return strings.Clone(s)
		}
	case x.Int != nil:
		if v, ok := x.Int(c, 0); ok {
			if x.Type == Bool {
				return v != 0
			}
			return v
		}
	default:
		if a, ok := x.IP(c, 0); ok {
			return a.String()
		}
	}
	return nil
}

// AppendText appends the field's value as text for an output message, or
// <NA> when it is missing.
func (x *Extractor) AppendText(dst []byte, c *Ctx) []byte {
	switch {
	case x.Str != nil:
		if s, ok := x.Str(c, 0); ok {
			return append(dst, s...)
		}
	case x.Int != nil:
		if v, ok := x.Int(c, 0); ok {
			switch x.Type {
			case Bool:
				return strconv.AppendBool(dst, v != 0)
			case Time:
				return time.Unix(0, v).UTC().AppendFormat(dst, "15:04:05.000000000")
			case AbsTime, RelTime:
				return strconv.AppendUint(dst, uint64(v), 10)
			}
			return strconv.AppendInt(dst, v, 10)
		}
	default:
		if a, ok := x.IP(c, 0); ok {
			return a.AppendTo(dst)
		}
	}
	return append(dst, "<NA>"...)
}

// HostNames resolves the host names that conditions compare the
// fd.*ip.name fields with. The rule compiler registers each name with Want;
// evaluation asks whether an address is one of a name's addresses.
type HostNames interface {
	// Want adds a name to resolve.
	Want(name string)
	// Has reports whether ip is among the resolved addresses of name.
	Has(name string, ip netip.Addr) bool
	// Lookup returns a wanted name that resolved to ip.
	Lookup(ip netip.Addr) (string, bool)
}

// ErrUnknownField is the error Resolve wraps for a name no field has.
var ErrUnknownField = errors.New("unknown field")

// WantName registers a host name that a condition compares an
// fd.*ip.name field with, for resolving.
func (r *Registry) WantName(name string) {
	if r.names != nil {
		r.names.Want(name)
	}
}

// Registry is the set of known fields.
type Registry struct {
	defs  map[string]*Def
	names HostNames
}

// New returns the registry of every field the engine supports. The
// fd.*ip.name fields are unavailable (always missing) unless names is
// non-nil.
func New() *Registry { return NewWithNames(nil) }

// NewWithNames is New with a host name resolver for the fd.*ip.name fields.
func NewWithNames(names HostNames) *Registry {
	r := &Registry{defs: make(map[string]*Def), names: names}
	for _, d := range append(defs(), append(moreDefs(), r.nameDefs()...)...) {
		if _, dup := r.defs[d.Name]; dup {
			panic("fields: duplicate definition of " + d.Name)
		}
		r.defs[d.Name] = d
	}
	return r
}

// Defs returns every field definition, sorted by name.
func (r *Registry) Defs() []*Def {
	out := make([]*Def, 0, len(r.defs))
	for _, d := range r.defs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the definition of a field name without argument.
func (r *Registry) Lookup(name string) (*Def, bool) {
	d, ok := r.defs[name]
	return d, ok
}

// Resolve returns the extractor for a field reference as written in a
// condition or output: name is the field (possibly with a dotted argument,
// evt.arg.flags), bracket the argument in brackets, if hasBracket.
func (r *Registry) Resolve(name, bracket string, hasBracket bool) (*Extractor, error) {
	d, ok := r.defs[name]
	var a arg
	if ok {
		if hasBracket {
			a = arg{set: true, text: bracket}
		}
	} else {
		// evt.arg.flags, proc.env.HOME: the argument follows the
		// longest known prefix that takes a named argument.
		for i := strings.LastIndexByte(name, '.'); i > 0; i = strings.LastIndexByte(name[:i], '.') {
			p, found := r.defs[name[:i]]
			if !found || (p.Arg != NameArg && p.Arg != OptNameArg && p.Arg != NameOrIndexArg) {
				continue
			}
			if hasBracket {
				return nil, fmt.Errorf("field %s takes one argument, got %q and [%s]", p.Name, name[i+1:], bracket)
			}
			d, ok = p, true
			a = arg{set: true, text: name[i+1:]}
			break
		}
		if !ok {
			return nil, fmt.Errorf("%w %s", ErrUnknownField, name)
		}
	}
	full := name
	if hasBracket {
		full = name + "[" + bracket + "]"
	}
	switch d.Arg {
	case NoArg:
		if a.set {
			return nil, fmt.Errorf("field %s takes no argument", d.Name)
		}
	case IndexArg, OptIndexArg:
		if !a.set {
			if d.Arg == IndexArg {
				return nil, fmt.Errorf("field %s needs an index argument, as in %s[1]", d.Name, d.Name)
			}
			break
		}
		n, err := strconv.Atoi(a.text)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("field %s: argument %q is not a non-negative number", d.Name, a.text)
		}
		a.index = n
	case NameArg:
		if !a.set || a.text == "" {
			return nil, fmt.Errorf("field %s needs a name argument, as in %s[NAME]", d.Name, d.Name)
		}
	case NameOrIndexArg:
		if !a.set || a.text == "" {
			return nil, fmt.Errorf("field %s needs an argument: %s.NAME or %s[N]", d.Name, d.Name, d.Name)
		}
		a.index = -1
		if hasBracket {
			n, err := strconv.Atoi(a.text)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("field %s: argument %q is not a non-negative number", d.Name, a.text)
			}
			a.index = n
		}
	}
	x, err := d.make(a)
	if err != nil {
		return nil, fmt.Errorf("field %s: %w", full, err)
	}
	x.Name = full
	x.Type = d.Type
	x.Unavailable = x.Unavailable || d.Unavailable
	return x, nil
}
