mock_provider "google" {
  mock_data "google_project" {
    defaults = {
      number = "123456789012"
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

run "workload_identity" {
  command = plan

  assert {
    condition     = output.workload_identity_member == "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-prod.svc.id.goog/subject/ns/nightjar/sa/nightjar"
    error_message = "Workload Identity member is ${output.workload_identity_member}"
  }
  assert {
    condition     = google_project_iam_member.log_writer.role == "roles/logging.logWriter" && google_project_iam_member.log_writer.member == output.workload_identity_member
    error_message = "the service account must get roles/logging.logWriter"
  }
  assert {
    condition     = google_project_iam_member.metric_writer.role == "roles/monitoring.metricWriter" && google_project_iam_member.metric_writer.member == output.workload_identity_member
    error_message = "the service account must get roles/monitoring.metricWriter"
  }
  assert {
    condition     = !can(kubernetes_manifest.this["service_account"].manifest.metadata.annotations)
    error_message = "direct principal binding needs no Google service account annotation"
  }
}

run "project_number_given" {
  command = plan

  variables {
    project_number = "42"
    namespace      = "security"
  }

  assert {
    condition     = output.workload_identity_member == "principal://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/acme-prod.svc.id.goog/subject/ns/security/sa/nightjar"
    error_message = "member must use the given project number and namespace"
  }
  assert {
    condition     = length(data.google_project.this) == 0
    error_message = "no project lookup when the number is given"
  }
}

run "daemonset" {
  command = plan

  assert {
    condition     = kubernetes_manifest.this["daemonset"].manifest.spec.template.spec.hostPID == true
    error_message = "the daemon needs the host PID namespace"
  }
  assert {
    condition     = kubernetes_manifest.this["daemonset"].manifest.spec.template.spec.priorityClassName == "system-node-critical"
    error_message = "priorityClassName must be system-node-critical"
  }
  assert {
    condition     = kubernetes_manifest.this["daemonset"].manifest.spec.template.spec.tolerations == [{ operator = "Exists" }]
    error_message = "the DaemonSet must tolerate every taint"
  }
  assert {
    condition = alltrue([for c in kubernetes_manifest.this["daemonset"].manifest.spec.template.spec.containers :
    contains([for m in c.volumeMounts : "${m.name}:${m.mountPath}"], "socket:/var/run/nightjar")])
    error_message = "both containers must mount the socket volume at /var/run/nightjar"
  }
  assert {
    condition     = one([for v in kubernetes_manifest.this["daemonset"].manifest.spec.template.spec.volumes : v if v.name == "socket"]).emptyDir.medium == "Memory"
    error_message = "the socket volume must be an emptyDir"
  }
  assert {
    condition     = kubernetes_manifest.this["daemonset"].manifest.spec.template.spec.containers[0].securityContext.privileged == false
    error_message = "the daemon is not privileged by default"
  }
  assert {
    condition     = toset(kubernetes_manifest.this["daemonset"].manifest.spec.template.spec.containers[0].securityContext.capabilities.add) == toset(["BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"])
    error_message = "the daemon's capabilities are BPF, PERFMON, SYS_RESOURCE, SYS_PTRACE and DAC_READ_SEARCH"
  }
  assert {
    condition     = kubernetes_manifest.this["daemonset"].manifest.spec.template.spec.containers[0].securityContext.appArmorProfile.type == "Unconfined"
    error_message = "AppArmor must be unconfined for bpf()"
  }
  assert {
    condition     = kubernetes_manifest.this["daemonset"].manifest.spec.template.spec.containers[0].livenessProbe.httpGet.path == "/healthz"
    error_message = "liveness must probe /healthz"
  }
  assert {
    condition = alltrue([for m in kubernetes_manifest.this["daemonset"].manifest.spec.template.spec.containers[0].volumeMounts :
    try(m.readOnly, false) if contains(["btf", "cgroup", "containerd"], m.name)])
    error_message = "host mounts of the daemon must be read-only"
  }
  assert {
    condition     = kubernetes_manifest.this["pod_monitoring"].manifest.spec.endpoints[0].port == "metrics"
    error_message = "PodMonitoring must scrape the daemon's metrics port"
  }
}

run "privileged_fallback" {
  command = plan

  variables {
    privileged = true
  }

  assert {
    condition     = kubernetes_manifest.this["daemonset"].manifest.spec.template.spec.containers[0].securityContext == { privileged = true }
    error_message = "privileged = true runs the daemon privileged"
  }
}

run "configs" {
  command = plan

  variables {
    extra_routes = "route \"extra\" {\n  to = [destination.cloud_logging.alerts]\n}\n"
  }

  assert {
    condition     = strcontains(output.configs["routes.hcl"], "cluster_name  = \"prod-eu\"") && strcontains(output.configs["routes.hcl"], "location      = \"europe-west1\"")
    error_message = "routes.hcl must name the cluster for the k8s_container resource"
  }
  assert {
    condition     = strcontains(output.configs["routes.hcl"], "route \"extra\"")
    error_message = "extra_routes must be appended"
  }
  assert {
    condition     = length(regexall("(?m)^\\s+Workers\\s+2$", output.configs["fluent-bit.conf"])) == 1
    error_message = "the nightjar output must set Workers"
  }
  assert {
    condition     = length(regexall("(?m)^\\s+storage.total_limit_size\\s+512M$", output.configs["fluent-bit.conf"])) == 1 && strcontains(output.configs["fluent-bit.conf"], "storage.type  filesystem")
    error_message = "filesystem storage with a bounded total limit"
  }
  assert {
    condition     = strcontains(output.configs["nightjar.hcl"], "address     = \"unix:///var/run/nightjar/fluent.sock\"")
    error_message = "the daemon must write to the shared socket"
  }
  assert {
    condition     = strcontains(kubernetes_manifest.this["routes_config"].manifest.data["routes.hcl"], "log_name      = \"nightjar-alerts\"")
    error_message = "the routes ConfigMap must hold routes.hcl"
  }
}

run "logging" {
  command = plan

  assert {
    condition     = google_logging_saved_query.this["critical"].logging_query[0].filter == "logName=\"projects/acme-prod/logs/nightjar-alerts\" AND severity>=CRITICAL"
    error_message = "the Critical query is ${google_logging_saved_query.this["critical"].logging_query[0].filter}"
  }
  assert {
    condition     = google_logging_saved_query.this["shells"].logging_query[0].filter == "logName=\"projects/acme-prod/logs/nightjar-alerts\" AND jsonPayload.rule=\"Terminal shell in container\""
    error_message = "the shells query"
  }
  assert {
    condition     = length(google_logging_saved_query.this) == 7
    error_message = "seven saved queries"
  }
  assert {
    condition     = google_logging_metric.alerts.label_extractors == tomap({ rule = "EXTRACT(jsonPayload.rule)", priority = "EXTRACT(jsonPayload.priority)" })
    error_message = "the alerts metric extracts rule and priority"
  }
  assert {
    condition     = google_monitoring_alert_policy.critical[0].conditions[0].condition_matched_log[0].filter == google_logging_saved_query.this["critical"].logging_query[0].filter
    error_message = "the alert policy matches the Critical query"
  }
  assert {
    condition     = google_monitoring_alert_policy.critical[0].alert_strategy[0].notification_rate_limit[0].period == "300s"
    error_message = "log-match alert policies need a notification rate limit"
  }
  assert {
    condition     = length(google_logging_project_sink.alerts) == 0 && length(google_monitoring_dashboard.this) == 1
    error_message = "no bucket by default; a dashboard by default"
  }
  assert {
    condition     = strcontains(google_monitoring_dashboard.this[0].dashboard_json, "nightjar_kernel_drops_total")
    error_message = "the dashboard shows kernel drops"
  }
}

run "log_bucket" {
  command = plan

  variables {
    log_bucket = { id = "nightjar", retention_days = 400 }
  }

  assert {
    condition     = google_logging_project_bucket_config.alerts[0].retention_days == 400 && google_logging_project_bucket_config.alerts[0].location == "global"
    error_message = "bucket with the given retention"
  }
  assert {
    condition     = google_logging_project_sink.alerts[0].filter == "logName=\"projects/acme-prod/logs/nightjar-alerts\""
    error_message = "the sink takes the alerts log"
  }
}

run "workers_at_least_one" {
  command = plan

  variables {
    fluent_bit_workers = 0
  }

  expect_failures = [var.fluent_bit_workers]
}

run "fleet_wide_manifests" {
  command = plan

  variables {
    cluster_name     = null
    cluster_location = null
  }

  assert {
    condition     = !strcontains(output.configs["routes.hcl"], "cluster_name") && !strcontains(output.configs["routes.hcl"], "location")
    error_message = "without a cluster name the plugin reads it from the metadata server"
  }
  assert {
    condition     = !strcontains(output.configs["nightjar.hcl"], "cluster")
    error_message = "no cluster field without a cluster name"
  }
}

run "config_sync_rollout" {
  command = plan

  variables {
    apply_manifests = false
  }

  assert {
    condition     = length(kubernetes_manifest.this) == 0 && length(kubernetes_manifest.namespace) == 0
    error_message = "no Kubernetes objects applied when Config Sync rolls them out"
  }
  assert {
    condition     = length(regexall("(?m)^\"kind\": \"DaemonSet\"$", output.manifests_yaml)) == 1
    error_message = "manifests_yaml still holds the DaemonSet"
  }
}

run "without_managed_prometheus" {
  command = plan

  variables {
    pod_monitoring = false
  }

  assert {
    condition     = !contains(keys(kubernetes_manifest.this), "pod_monitoring") && contains(keys(kubernetes_manifest.this), "daemonset")
    error_message = "pod_monitoring = false leaves the PodMonitoring out"
  }
}
