mock_provider "google" {
  mock_data "google_project" {
    defaults = {
      number = "123456789012"
    }
  }
  mock_data "google_container_cluster" {
    defaults = {
      id = "projects/acme-prod/locations/europe-west1/clusters/mock"
    }
  }
}

mock_provider "kubernetes" {}

variables {
  project_id = "acme-prod"
  clusters = {
    prod-eu = { location = "europe-west1" }
    prod-us = { location = "us-central1" }
  }
  config_sync_repo = "https://github.com/acme/platform-config"
  daemon_image     = "europe-docker.pkg.dev/acme-prod/nightjar/nightjar:1.0.0"
  fluent_bit_image = "europe-docker.pkg.dev/acme-prod/nightjar/fluent-bit:1.0.0"
}

run "fleet" {
  command = plan

  assert {
    condition     = toset(keys(google_gke_hub_membership.this)) == toset(["prod-eu", "prod-us"])
    error_message = "every cluster is a fleet member"
  }
  assert {
    condition = alltrue([for m in google_gke_hub_feature_membership.this :
      m.configmanagement[0].config_sync[0].git[0].sync_repo == "https://github.com/acme/platform-config" &&
    m.configmanagement[0].config_sync[0].git[0].policy_dir == "nightjar"])
    error_message = "Config Sync reads the same directory of the repository on every cluster"
  }
  assert {
    condition     = length(module.nightjar.manifests) == 8 && !strcontains(module.nightjar.configs["routes.hcl"], "cluster_name")
    error_message = "one cluster-agnostic set of manifests"
  }
  assert {
    condition     = strcontains(output.manifests_yaml, "\"kind\": \"DaemonSet\"")
    error_message = "manifests_yaml holds the DaemonSet"
  }
}
