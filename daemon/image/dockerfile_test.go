package image

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The images' Dockerfiles cannot be built here (no Docker engine), so they
// are checked for what goes wrong unseen: unpinned bases, a plugin built
// on a newer C library than the router it loads into, files copied from
// paths that do not exist, and configs that name files the image lacks.

// glibc is the C library of each base image, from its distribution: Debian
// 12 has 2.36, Debian 13 2.41, Amazon Linux 2023 2.34; scratch has none.
var glibc = map[string]string{
	"golang:1.26.8-bookworm":                                    "2.36",
	"public.ecr.aws/amazonlinux/amazonlinux:2023":               "2.34",
	"fluent/fluent-bit:5.1.1":                                   "2.41",
	"public.ecr.aws/aws-observability/aws-for-fluent-bit:3.0.0": "2.34",
	"scratch": "",
}

type dockerfile struct {
	froms  []string            // base image of each stage
	copies map[string][]string // destination → sources (build context only)
	text   string
}

func readDockerfile(t *testing.T, name string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	df := dockerfile{copies: map[string][]string{}, text: string(b)}
	var logical []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" && cur.Len() == 0 {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	for _, l := range logical {
		f := strings.Fields(l)
		switch strings.ToUpper(f[0]) {
		case "FROM":
			df.froms = append(df.froms, f[1])
		case "COPY":
			args := f[1:]
			if strings.HasPrefix(args[0], "--from=") {
				continue
			}
			dst := args[len(args)-1]
			df.copies[dst] = append(df.copies[dst], args[:len(args)-1]...)
		}
	}
	return df
}

// inImage reports whether the image holds path p, copied from the context.
func (df dockerfile) inImage(p string) bool {
	for dst, srcs := range df.copies {
		if dst == p {
			return true
		}
		if strings.HasSuffix(dst, "/") {
			for _, s := range srcs {
				if path.Join(dst, path.Base(s)) == p {
					return true
				}
			}
		}
	}
	return false
}

var pinned = regexp.MustCompile(`:[0-9][0-9A-Za-z.\-]*$`)

func TestDockerfiles(t *testing.T) {
	root := "../.."
	for _, c := range []struct {
		file    string
		plugin  bool     // builds the Fluent Bit plugin with cgo
		configs []string // Fluent Bit configs baked in, whose files the image must hold
	}{
		{file: "daemon/Dockerfile"},
		{file: "gke/Dockerfile", plugin: true, configs: []string{"gke/config/fluent-bit.conf"}},
		{file: "ecs/Dockerfile", plugin: true, configs: []string{"ecs/fluent-bit/nightjar.conf"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			df := readDockerfile(t, filepath.Join(root, c.file))
			if len(df.froms) != 2 {
				t.Fatalf("stages: %v, want a build stage and the image", df.froms)
			}
			for _, from := range df.froms {
				if _, known := glibc[from]; !known {
					t.Errorf("base %s: not in the table of known C libraries (pin it and add it)", from)
				}
				if from != "scratch" && !pinned.MatchString(from) {
					t.Errorf("base %s is not pinned to a version", from)
				}
			}
			build, target := glibc[df.froms[0]], glibc[df.froms[1]]
			if c.plugin {
				if !strings.Contains(df.text, "CGO_ENABLED=1") || !strings.Contains(df.text, "-buildmode=c-shared") {
					t.Error("the plugin must be built with cgo as a c-shared library")
				}
				if target == "" || minor(target) < minor(build) {
					t.Errorf("plugin built on glibc %s for a router with glibc %s: it would not load", build, target)
				}
				if !strings.Contains(df.text, "/fluent-bit/plugins/out_nightjar.so") {
					t.Error("the plugin is not installed at /fluent-bit/plugins/out_nightjar.so, where plugins.conf loads it")
				}
			} else if !strings.Contains(df.text, "CGO_ENABLED=0") || df.froms[1] != "scratch" {
				t.Error("the daemon image must be a static binary on scratch")
			}
			for dst, srcs := range df.copies {
				for _, s := range srcs {
					if s == "." {
						continue
					}
					if _, err := os.Stat(filepath.Join(root, s)); err != nil {
						t.Errorf("COPY %s %s: %v", s, dst, err)
					}
				}
			}
			for _, conf := range c.configs {
				b, err := os.ReadFile(filepath.Join(root, conf))
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range regexp.MustCompile(`(?mi)^\s*(plugins_file|config)\s+(/\S+)`).FindAllStringSubmatch(string(b), -1) {
					if !df.inImage(m[2]) {
						t.Errorf("%s: %s %s is not in the image", conf, m[1], m[2])
					}
				}
			}
		})
	}
}

// minor returns the minor number of a glibc version ("2.34" → 34); every
// glibc since 2.0 shares the major number.
func minor(v string) int {
	var major, m int
	fmt.Sscanf(v, "%d.%d", &major, &m)
	return m
}
