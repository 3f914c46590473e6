mock_provider "google" {
  mock_data "google_project" {
    defaults = {
      number = "123456789012"
    }
  }
  mock_data "google_container_cluster" {
    defaults = {
      endpoint = "203.0.113.10"
      master_auth = [{
        client_certificate     = ""
        client_key             = ""
        cluster_ca_certificate = "Y2E="
        client_certificate_config = [{
          issue_client_certificate = false
        }]
      }]
    }
  }
}

mock_provider "kubernetes" {}

variables {
  project_id       = "acme-prod"
  cluster_name     = "prod-eu"
  cluster_location = "europe-west1"
  daemon_image     = "europe-docker.pkg.dev/acme-prod/nightjar/nightjar:1.0.0"
  fluent_bit_image = "europe-docker.pkg.dev/acme-prod/nightjar/fluent-bit:1.0.0"
}

run "standard" {
  command = plan

  assert {
    condition     = output.workload_identity_member == "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-prod.svc.id.goog/subject/ns/nightjar/sa/nightjar"
    error_message = "Workload Identity member is ${output.workload_identity_member}"
  }
  assert {
    condition     = module.nightjar.manifests.daemonset.spec.template.spec.hostPID
    error_message = "the DaemonSet runs in the host PID namespace"
  }
  assert {
    condition     = output.queries.critical == "logName=\"projects/acme-prod/logs/nightjar-alerts\" AND severity>=CRITICAL"
    error_message = "the Critical query"
  }
  assert {
    condition     = strcontains(module.nightjar.configs["routes.hcl"], "cluster_name  = \"prod-eu\"")
    error_message = "routes.hcl names the cluster"
  }
}

run "autopilot_refused" {
  command = plan

  override_data {
    target = data.google_container_cluster.this
    values = {
      enable_autopilot = true
      endpoint         = "203.0.113.10"
    }
  }

  expect_failures = [data.google_container_cluster.this]
}
