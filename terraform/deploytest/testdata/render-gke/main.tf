# Renders the GKE module with the placeholders of the plain files under
# gke/; TestRenderedGKE compares them.
terraform {
  required_providers {
    google = {
      source = "hashicorp/google"
    }
    kubernetes = {
      source = "hashicorp/kubernetes"
    }
  }
}

provider "google" {
  project = "PROJECT_ID"
}

provider "kubernetes" {}

module "nightjar" {
  source = "../../../modules/gke"

  project_id       = "PROJECT_ID"
  project_number   = "PROJECT_NUMBER"
  daemon_image     = "REGISTRY/nightjar:VERSION"
  fluent_bit_image = "REGISTRY/nightjar-fluent-bit:VERSION"
}

output "manifests" {
  value = module.nightjar.manifests
}

output "manifest_order" {
  value = [for d in split("---\n", module.nightjar.manifests_yaml) : yamldecode(d).kind if d != ""]
}

output "configs" {
  value = module.nightjar.configs
}

output "queries" {
  value = module.nightjar.queries
}

output "workload_identity_member" {
  value = module.nightjar.workload_identity_member
}

module "privileged" {
  source = "../../../modules/gke"

  project_id       = "PROJECT_ID"
  project_number   = "PROJECT_NUMBER"
  daemon_image     = "REGISTRY/nightjar:VERSION"
  fluent_bit_image = "REGISTRY/nightjar-fluent-bit:VERSION"
  privileged       = true
}

output "privileged_daemonset" {
  value = module.privileged.manifests.daemonset
}
