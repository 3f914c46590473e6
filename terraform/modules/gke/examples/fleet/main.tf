# GKE Enterprise: several clusters registered to the project's fleet, and
# Config Sync rolling the same nightjar manifests out to every one of them
# from a Git repository (the alternative to applying them with the
# kubernetes provider cluster by cluster, as examples/standard does).
#
# Commit the manifests_yaml output to the repository under config_sync_dir.
# The manifests name no cluster: each node's metadata server tells the
# plugin its cluster and location.
terraform {
  required_version = ">= 1.7"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 7.18"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.23"
    }
  }
}

variable "project_id" {
  description = "Fleet host project, holding every cluster."
  type        = string
}

variable "clusters" {
  description = "Existing GKE Standard clusters, by name, with their location."
  type        = map(object({ location = string }))
}

variable "config_sync_repo" {
  description = "Git repository Config Sync reads, e.g. https://github.com/acme/platform-config."
  type        = string
}

variable "config_sync_branch" {
  description = "Branch of config_sync_repo."
  type        = string
  default     = "main"
}

variable "config_sync_dir" {
  description = "Directory of config_sync_repo holding the committed manifests_yaml."
  type        = string
  default     = "nightjar"
}

variable "daemon_image" {
  description = "nightjar daemon image."
  type        = string
}

variable "fluent_bit_image" {
  description = "Fluent Bit image with the nightjar output plugin."
  type        = string
}

provider "google" {
  project = var.project_id
}

# Unused (apply_manifests = false) but required by the module.
provider "kubernetes" {}

data "google_container_cluster" "this" {
  for_each = var.clusters

  project  = var.project_id
  name     = each.key
  location = each.value.location
}

resource "google_gke_hub_membership" "this" {
  for_each = var.clusters

  project       = var.project_id
  membership_id = each.key
  location      = "global"

  endpoint {
    gke_cluster {
      resource_link = "//container.googleapis.com/${data.google_container_cluster.this[each.key].id}"
    }
  }

  # Fleet Workload Identity: the pool PROJECT.svc.id.goog the module binds.
  authority {
    issuer = "https://container.googleapis.com/v1/${data.google_container_cluster.this[each.key].id}"
  }
}

resource "google_gke_hub_feature" "configmanagement" {
  project  = var.project_id
  name     = "configmanagement"
  location = "global"
}

resource "google_gke_hub_feature_membership" "this" {
  for_each = var.clusters

  project    = var.project_id
  location   = "global"
  feature    = google_gke_hub_feature.configmanagement.name
  membership = google_gke_hub_membership.this[each.key].membership_id

  configmanagement {
    management = "MANAGEMENT_AUTOMATIC"

    config_sync {
      enabled       = true
      source_format = "unstructured"

      git {
        sync_repo   = var.config_sync_repo
        sync_branch = var.config_sync_branch
        policy_dir  = var.config_sync_dir
        secret_type = "none"
      }
    }
  }
}

# One module for the fleet: IAM for the shared service account identity,
# log-based metrics, the alert policy, saved queries, the dashboard, and the
# manifests Config Sync applies.
module "nightjar" {
  source = "../.."

  project_id       = var.project_id
  daemon_image     = var.daemon_image
  fluent_bit_image = var.fluent_bit_image
  apply_manifests  = false
}

output "manifests_yaml" {
  description = "Commit this to config_sync_repo under config_sync_dir."
  value       = module.nightjar.manifests_yaml
}

output "memberships" {
  description = "Fleet memberships, by cluster."
  value       = { for k, m in google_gke_hub_membership.this : k => m.id }
}
