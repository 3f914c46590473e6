// Package deploytest checks nightjar's deployment files: the Terraform
// modules and examples (fmt, tflint, validate and test against the real
// provider schemas served by internal/tfschema), the Kubernetes manifests
// under gke/ and those the GKE module renders (decoded strictly into the
// Kubernetes API types), the ECS task definition under ecs/ and the one the
// ECS module registers (decoded strictly into the ECS SDK types and passed
// through the SDK's request validation), the Fluent Bit configurations
// (every key known to Fluent Bit 5.1 for its plugin) and every routes.hcl
// and nightjar.hcl, loaded by the plugin's and the daemon's own loaders.
//
// The package has no code of its own: it is its tests.
package deploytest
