package rules

import (
	"embed"
	"io/fs"
	"path"
)

// defaultFS holds nightjar's default rules, loaded in file name order.
//
//go:embed default/*.yaml
var defaultFS embed.FS

// DefaultSources returns the embedded default rules files.
func DefaultSources() []Source {
	names, err := fs.Glob(defaultFS, "default/*.yaml")
	if err != nil {
		panic(err) // the pattern is constant and valid
	}
	out := make([]Source, 0, len(names))
	for _, n := range names {
		data, err := defaultFS.ReadFile(n)
		if err != nil {
			panic(err) // embedded files are always readable
		}
		out = append(out, Source{Name: path.Join("rules", n), Data: data, Format: FormatYAML})
	}
	return out
}

// Default loads the embedded default rules, followed by extra sources
// (which may override or append to them, as later Falco rules files do).
func Default(opts Options, extra ...Source) (*Set, error) {
	return Load(opts, append(DefaultSources(), extra...)...)
}
