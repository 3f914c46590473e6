// Package imageref splits container image references into the repository
// and tag that Falco's container.image.repository and container.image.tag
// report.
package imageref

import "strings"

// Split splits an image reference into its repository and tag:
//
//	nginx                                 → nginx, latest
//	docker.io/library/nginx:1.25          → docker.io/library/nginx, 1.25
//	registry.local:5000/team/app          → registry.local:5000/team/app, latest
//	registry.local:5000/team/app:v2       → registry.local:5000/team/app, v2
//	app@sha256:ab…                        → app, ""
//	app:v2@sha256:ab…                     → app, v2
//
// A reference with neither tag nor digest gets the tag "latest", the one a
// runtime pulls. The repository is kept as written (no registry or
// "library/" is added). An image id ("sha256:<hex>") or an empty string
// has no repository: Split returns "", "".
func Split(ref string) (repository, tag string) {
	ref = strings.TrimSpace(ref)
	if ref == "" || strings.HasPrefix(ref, "sha256:") {
		return "", ""
	}
	name, digest, hasDigest := strings.Cut(ref, "@")
	// The tag is after the last colon that follows the last slash; a
	// colon before a slash separates a registry's host from its port.
	slash := strings.LastIndexByte(name, '/')
	if i := strings.LastIndexByte(name, ':'); i > slash {
		name, tag = name[:i], name[i+1:]
	}
	if tag == "" && (!hasDigest || digest == "") {
		tag = "latest"
	}
	return name, tag
}
