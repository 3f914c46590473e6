# One GKE Standard cluster: the node agent through the kubernetes provider,
# alerts in Cloud Logging with metrics, an alert policy, saved queries and a
# dashboard.
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
  description = "Project of the cluster."
  type        = string
}

variable "cluster_name" {
  description = "An existing GKE Standard cluster (Autopilot refuses the node agent)."
  type        = string
}

variable "cluster_location" {
  description = "Region or zone of the cluster."
  type        = string
}

variable "daemon_image" {
  description = "nightjar daemon image."
  type        = string
}

variable "fluent_bit_image" {
  description = "Fluent Bit image with the nightjar output plugin."
  type        = string
}

variable "notification_channels" {
  description = "Notification channels of the Critical alerts policy."
  type        = list(string)
  default     = []
}

provider "google" {
  project = var.project_id
}

data "google_client_config" "this" {}

data "google_container_cluster" "this" {
  project  = var.project_id
  name     = var.cluster_name
  location = var.cluster_location

  lifecycle {
    postcondition {
      condition     = !coalesce(self.enable_autopilot, false)
      error_message = "${var.cluster_name} is an Autopilot cluster: Autopilot refuses nightjar's node agent (host PID, host paths, eBPF capabilities). Use a Standard cluster."
    }
  }
}

provider "kubernetes" {
  host                   = "https://${data.google_container_cluster.this.endpoint}"
  token                  = data.google_client_config.this.access_token
  cluster_ca_certificate = base64decode(data.google_container_cluster.this.master_auth[0].cluster_ca_certificate)
}

module "nightjar" {
  source = "../.."

  project_id            = var.project_id
  cluster_name          = var.cluster_name
  cluster_location      = var.cluster_location
  daemon_image          = var.daemon_image
  fluent_bit_image      = var.fluent_bit_image
  notification_channels = var.notification_channels

  log_bucket = {
    id             = "nightjar-alerts"
    retention_days = 400
  }
}

output "workload_identity_member" {
  description = "IAM principal of the node agent."
  value       = module.nightjar.workload_identity_member
}

output "queries" {
  description = "Logs Explorer queries."
  value       = module.nightjar.queries
}
