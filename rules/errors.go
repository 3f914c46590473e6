package rules

import (
	"fmt"
	"strings"
)

// Position is a place in a rules file. Line and Col count from 1; Col is 0
// when the problem concerns a whole line.
type Position struct {
	File      string
	Line, Col int
}

func (p Position) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem found while loading rules: where, in which item
// (Kind "rule", "macro" or "list" and its Name; empty for file-level
// problems) and what.
type Error struct {
	Pos  Position
	Kind string
	Name string
	Msg  string

	// unknown marks an unknown field: the problem skip-if-unknown-filter
	// turns into a warning.
	unknown bool
}

func (e *Error) Error() string {
	if e.Kind == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s %q: %s", e.Pos, e.Kind, e.Name, e.Msg)
}

// ErrorList is every error of a failed load, in file order. It is the error
// type Load returns.
type ErrorList []*Error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap gives errors.Is and errors.As access to each error.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}
