package main

import (
	"debug/elf"
	"strconv"
	"strings"
	"testing"
)

// maxGlibc is the oldest C library the plugin must load with: Amazon
// Linux 2023, the base of aws-for-fluent-bit 3.x (the FireLens router),
// ships glibc 2.34. The official Fluent Bit 5.x images (Debian 13) have a
// newer one. A .so built on a newer glibc than its host fails to load
// with "version `GLIBC_2.xx' not found".
const maxGlibc = "2.34"

// TestPluginGlibcVersion reads the symbol versions the built plugin needs
// from its ELF dynamic section, as the dynamic loader will.
func TestPluginGlibcVersion(t *testing.T) {
	build(t)
	f, err := elf.Open(pluginSO)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	highest, by := "", ""
	for _, s := range syms {
		v, ok := strings.CutPrefix(s.Version, "GLIBC_")
		if !ok || s.Section != elf.SHN_UNDEF {
			continue
		}
		if highest == "" || versionLess(highest, v) {
			highest, by = v, s.Name
		}
	}
	if highest == "" {
		t.Fatal("no GLIBC_ symbol versions found: not a dynamically linked cgo plugin?")
	}
	t.Logf("highest glibc symbol version: GLIBC_%s (%s)", highest, by)
	if versionLess(maxGlibc, highest) {
		t.Errorf("plugin needs GLIBC_%s (symbol %s), newer than %s of aws-for-fluent-bit 3.x: build it on an older glibc (see ecs/Dockerfile)", highest, by, maxGlibc)
	}
}

// versionLess compares dotted version numbers ("2.3.2" < "2.34").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func TestVersionLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"2.3.2", "2.34", true}, {"2.34", "2.3.2", false}, {"2.34", "2.34", false},
		{"2.17", "2.2.5", false}, {"2.33", "2.34", true}, {"2.34", "2.34.1", true},
	} {
		if got := versionLess(c.a, c.b); got != c.want {
			t.Errorf("versionLess(%s, %s) = %v", c.a, c.b, got)
		}
	}
}
