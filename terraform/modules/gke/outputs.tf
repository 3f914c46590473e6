output "namespace" {
  description = "Namespace of the node agent."
  value       = var.namespace
}

output "service_account" {
  description = "Kubernetes service account of the node agent."
  value       = var.service_account_name
}

output "workload_identity_member" {
  description = "IAM principal of the Kubernetes service account (Workload Identity Federation for GKE)."
  value       = local.workload_identity_member
}

output "manifests" {
  description = "The Kubernetes objects the module applies, by name."
  value       = local.manifests
}

output "manifests_yaml" {
  description = "The same objects as one multi-document YAML stream, for Config Sync or kubectl apply."
  value       = join("", [for k in local.manifest_order : "---\n${yamlencode(local.manifests[k])}"])
}

output "configs" {
  description = "The rendered configuration files: nightjar.hcl, routes.hcl, fluent-bit.conf, plugins.conf."
  value = {
    "nightjar.hcl"    = local.daemon_config
    "routes.hcl"      = local.routes_config
    "fluent-bit.conf" = local.fluent_bit_config
    "plugins.conf"    = local.plugins_config
  }
}

output "queries" {
  description = "The Logs Explorer queries saved by the module, by name."
  value       = { for k, q in local.queries : k => q.filter }
}

output "log_metric" {
  description = "Type of the log-based metric counting alerts by rule and priority."
  value       = "logging.googleapis.com/user/${google_logging_metric.alerts.name}"
}

output "alert_policy" {
  description = "ID of the alert policy on Critical alerts, or null."
  value       = var.alert_policy ? google_monitoring_alert_policy.critical[0].id : null
}

output "dashboard" {
  description = "ID of the Cloud Monitoring dashboard, or null."
  value       = var.dashboard ? google_monitoring_dashboard.this[0].id : null
}
