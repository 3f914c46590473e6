package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// EngineVersion is the Falco rule-engine version whose rules nightjar
// loads: that of the Falco release the compatibility tests follow (its
// published rules 5.1.0 require 0.57.0). A file whose
// required_engine_version is newer within the same major version, or of
// another major version, does not load.
const EngineVersion = "0.57.0"

// BuiltinPlugins are the Falco plugins whose fields nightjar provides
// itself, with the plugin version it stands in for: the container plugin's
// container.* and k8s.* fields come from nightjar's container metadata.
var builtinPlugins = map[string]string{"container": "0.4.0"}

// BuiltinPlugins returns the Falco plugins nightjar stands in for, by name,
// with the version it claims.
func BuiltinPlugins() map[string]string {
	out := make(map[string]string, len(builtinPlugins))
	for k, v := range builtinPlugins {
		out[k] = v
	}
	return out
}

type version struct {
	major, minor, patch int
	set                 bool
}

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

func (v version) less(w version) bool {
	if v.major != w.major {
		return v.major < w.major
	}
	if v.minor != w.minor {
		return v.minor < w.minor
	}
	return v.patch < w.patch
}

// compatible reports whether an engine or plugin at v satisfies a
// requirement of req: same major version, not older (semver, as Falco).
func (v version) compatible(req version) bool {
	return v.major == req.major && !v.less(req)
}

func parseVersion(s string) (version, bool) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 3 {
		return version{}, false
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return version{}, false
		}
		n[i] = x
	}
	return version{n[0], n[1], n[2], true}, true
}

func mustVersion(s string) version {
	v, ok := parseVersion(s)
	if !ok {
		panic("rules: bad version " + s)
	}
	return v
}

type pluginRequirement struct {
	pos Position
	// alternatives: any one of them satisfies the requirement.
	alternatives []pluginVersion
}

type pluginVersion struct {
	name string
	ver  version
}

// addEngineVersion reads required_engine_version: a number N (Falco's old
// form, meaning 0.N.0) or a semver string.
func (d *definitions) addEngineVersion(n *node) {
	if n.kind != scalarNode || n.scalar == "" {
		d.errorf(n.pos, "", "", "required_engine_version must be a version such as 0.57.0")
		return
	}
	var v version
	if x, err := strconv.ParseUint(n.scalar, 10, 31); err == nil {
		v = version{0, int(x), 0, true}
	} else if pv, ok := parseVersion(n.scalar); ok {
		v = pv
	} else {
		d.errorf(n.pos, "", "", "unable to parse engine version %q as a semver string (x.y.z)", n.scalar)
		return
	}
	if !mustVersion(EngineVersion).compatible(v) {
		d.errorf(n.pos, "", "", "rules require engine version %s, but nightjar's rule engine is %s", v, EngineVersion)
		return
	}
	if d.engine.less(v) {
		d.engine = v
	}
}

// addPluginVersions reads required_plugin_versions. nightjar loads no
// plugins; a requirement is met only by a plugin nightjar stands in for.
func (d *definitions) addPluginVersions(n *node) {
	if n.kind != seqNode {
		d.errorf(n.pos, "", "", "required_plugin_versions must be a list")
		return
	}
	for _, p := range n.items {
		if p.kind != mapNode {
			d.errorf(p.pos, "", "", "plugin version must be a mapping with name and version")
			continue
		}
		req := pluginRequirement{pos: p.pos}
		entries := []*node{p}
		if alt := p.get("alternatives"); alt != nil {
			if alt.kind != seqNode {
				d.errorf(alt.pos, "", "", "plugin version alternatives must be a list")
				continue
			}
			entries = append(entries, alt.items...)
		}
		good := true
		seen := map[string]bool{}
		for _, e := range entries {
			name, ver := e.get("name"), e.get("version")
			if e.kind != mapNode || name == nil || ver == nil || name.kind != scalarNode || ver.kind != scalarNode || name.scalar == "" {
				d.errorf(e.pos, "", "", "plugin version needs a name and a version")
				good = false
				break
			}
			v, ok := parseVersion(ver.scalar)
			if !ok {
				d.errorf(ver.pos, "", "", "invalid required version %q for plugin %s", ver.scalar, name.scalar)
				good = false
				break
			}
			if seen[name.scalar] {
				d.errorf(name.pos, "", "", "plugin %s has several alternative version requirements", name.scalar)
				good = false
				break
			}
			seen[name.scalar] = true
			req.alternatives = append(req.alternatives, pluginVersion{name.scalar, v})
		}
		if !good {
			continue
		}
		d.plugins = append(d.plugins, req)
		var names []string
		met := false
		for _, a := range req.alternatives {
			names = append(names, a.name+" "+a.ver.String())
			if have, ok := builtinPlugins[a.name]; ok && mustVersion(have).compatible(a.ver) {
				met = true
				d.warnf(p.pos, "", "", "required plugin %s %s: provided by nightjar's built-in fields (as %s %s)", a.name, a.ver, a.name, have)
				break
			}
		}
		if !met {
			d.errorf(p.pos, "", "", "rules require plugin %s, which nightjar does not provide (built in: container %s)", strings.Join(names, " or "), builtinPlugins["container"])
		}
	}
}
