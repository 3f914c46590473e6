locals {
  log_filter = "logName=\"projects/${var.project_id}/logs/${var.log_name}\""

  # The saved queries, the metric and the alert policy share these filters;
  # docs/querying.md lists the same ones.
  queries = {
    recent = {
      display_name = "nightjar: recent alerts"
      description  = "Every nightjar alert, newest first."
      filter       = local.log_filter
      summary      = ["jsonPayload.priority", "jsonPayload.rule", "jsonPayload.hostname"]
    }
    critical = {
      display_name = "nightjar: Critical and above"
      description  = "Alerts of priority Critical, Alert and Emergency."
      filter       = "${local.log_filter} AND severity>=CRITICAL"
      summary      = ["jsonPayload.rule", "resource.labels.namespace_name", "resource.labels.pod_name"]
    }
    by_rule = {
      display_name = "nightjar: by rule"
      description  = "Alerts with their rule and priority as summary fields; add labels.rule=\"NAME\" to keep one rule."
      filter       = "${local.log_filter} AND labels.rule:*"
      summary      = ["labels.rule", "labels.priority"]
    }
    by_workload = {
      display_name = "nightjar: by namespace, pod and container"
      description  = "Alerts raised in containers, with the namespace, pod and container as summary fields."
      filter       = "${local.log_filter} AND resource.type=\"k8s_container\""
      summary      = ["resource.labels.namespace_name", "resource.labels.pod_name", "resource.labels.container_name"]
    }
    shells = {
      display_name = "nightjar: shells in containers"
      description  = "Interactive shells started in containers."
      filter       = "${local.log_filter} AND jsonPayload.rule=\"Terminal shell in container\""
      summary      = ["resource.labels.pod_name", "jsonPayload.output_fields.\"proc.cmdline\"", "jsonPayload.output_fields.\"user.name\""]
    }
    sensitive_files = {
      display_name = "nightjar: sensitive file reads"
      description  = "Reads of sensitive files such as /etc/shadow by untrusted programs."
      filter       = "${local.log_filter} AND jsonPayload.rule=\"Read sensitive file untrusted\""
      summary      = ["jsonPayload.output_fields.\"fd.name\"", "jsonPayload.output_fields.\"proc.name\"", "resource.labels.pod_name"]
    }
    kernel_drops = {
      display_name = "nightjar: kernel event drops"
      description  = "Nodes where the kernel dropped events: visibility was lost there."
      filter       = "${local.log_filter} AND jsonPayload.rule=\"Nightjar internal: kernel event drop\""
      summary      = ["jsonPayload.hostname", "jsonPayload.output"]
    }
  }
}

resource "google_logging_metric" "alerts" {
  project     = var.project_id
  name        = "nightjar/alerts"
  description = "nightjar alerts, by rule and priority."
  filter      = local.log_filter

  label_extractors = {
    rule     = "EXTRACT(jsonPayload.rule)"
    priority = "EXTRACT(jsonPayload.priority)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "nightjar alerts"

    labels {
      key         = "rule"
      value_type  = "STRING"
      description = "Rule that raised the alert."
    }
    labels {
      key         = "priority"
      value_type  = "STRING"
      description = "Falco priority of the alert."
    }
  }
}

resource "google_logging_metric" "kernel_drops" {
  project     = var.project_id
  name        = "nightjar/kernel_drop_alerts"
  description = "Alerts the daemon raises when the kernel dropped events: visibility was lost on a node."
  filter      = local.queries.kernel_drops.filter

  label_extractors = {
    node = "EXTRACT(jsonPayload.hostname)"
  }

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key        = "node"
      value_type = "STRING"
    }
  }
}

resource "google_monitoring_alert_policy" "critical" {
  count = var.alert_policy ? 1 : 0

  project               = var.project_id
  display_name          = "nightjar: Critical alert${var.cluster_name != null ? " on ${var.cluster_name}" : ""}"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels

  conditions {
    display_name = "nightjar alert of priority Critical or above"

    condition_matched_log {
      filter = local.queries.critical.filter
      label_extractors = {
        rule      = "EXTRACT(jsonPayload.rule)"
        priority  = "EXTRACT(jsonPayload.priority)"
        namespace = "EXTRACT(resource.labels.namespace_name)"
        pod       = "EXTRACT(resource.labels.pod_name)"
        node      = "EXTRACT(jsonPayload.hostname)"
      }
    }
  }

  alert_strategy {
    # Log-match conditions need a rate limit; incidents close on their own.
    notification_rate_limit {
      period = var.notification_rate_limit
    }
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "nightjar: $${log.extracted_label.rule} ($${log.extracted_label.priority})"
    content   = "nightjar raised **$${log.extracted_label.rule}** (priority $${log.extracted_label.priority}) on node $${log.extracted_label.node}, pod $${log.extracted_label.namespace}/$${log.extracted_label.pod}. Open the saved query \"${local.queries.critical.display_name}\" in Logs Explorer for the alert's output and fields."
  }
}

resource "google_logging_saved_query" "this" {
  for_each = local.queries

  parent       = "projects/${var.project_id}"
  location     = "global"
  name         = "nightjar-${replace(each.key, "_", "-")}"
  display_name = each.value.display_name
  description  = each.value.description
  visibility   = "SHARED"

  logging_query {
    filter = each.value.filter

    dynamic "summary_fields" {
      for_each = each.value.summary
      content {
        field = summary_fields.value
      }
    }
  }
}

resource "google_logging_project_bucket_config" "alerts" {
  count = var.log_bucket != null ? 1 : 0

  project        = var.project_id
  location       = var.log_bucket.location
  bucket_id      = var.log_bucket.id
  retention_days = var.log_bucket.retention_days
  description    = "nightjar alerts"
}

resource "google_logging_project_sink" "alerts" {
  count = var.log_bucket != null ? 1 : 0

  project                = var.project_id
  name                   = "nightjar-alerts"
  description            = "nightjar alerts into their own bucket."
  destination            = "logging.googleapis.com/${google_logging_project_bucket_config.alerts[0].id}"
  filter                 = local.log_filter
  unique_writer_identity = true
}

resource "google_project_iam_member" "sink_writer" {
  count = var.log_bucket != null ? 1 : 0

  project = var.project_id
  role    = "roles/logging.bucketWriter"
  member  = google_logging_project_sink.alerts[0].writer_identity
}
