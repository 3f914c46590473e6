# routes.hcl: the output plugin's destinations on GKE. Credentials are the
# pod's Workload Identity.
destination "cloud_logging" "alerts" {
  project       = "PROJECT_ID"
  log_name      = "nightjar-alerts"
  # k8s_container (this cluster, the alert's namespace, pod and container)
  # for alerts from containers, gce_instance (the node) for the host's.
  resource_type = "auto"
}

route "cloud_logging" {
  to       = [destination.cloud_logging.alerts]
  continue = true
}

