variable "project_id" {
  description = "Project of the cluster; alerts, metrics, queries and the dashboard are created here."
  type        = string
}

variable "project_number" {
  description = "Number of project_id, used in the Workload Identity principal. Looked up when null."
  type        = string
  default     = null
}

variable "cluster_name" {
  description = "Name of the GKE Standard cluster the DaemonSet runs on (the k8s_container resource's cluster_name). Null: each node reads it from its metadata server, so the same manifests fit every cluster of a fleet."
  type        = string
  default     = null
}

variable "cluster_location" {
  description = "Region or zone of the cluster (the k8s_container resource's location). Null: read from each node's metadata server."
  type        = string
  default     = null
}

variable "apply_manifests" {
  description = "Apply the Kubernetes objects with the kubernetes provider. False when Config Sync rolls out manifests_yaml instead (GKE Enterprise fleets)."
  type        = bool
  default     = true
}

variable "namespace" {
  description = "Namespace created for the node agent."
  type        = string
  default     = "nightjar"
}

variable "service_account_name" {
  description = "Kubernetes service account of the node agent; Workload Identity grants it the log and metric writer roles."
  type        = string
  default     = "nightjar"
}

variable "daemon_image" {
  description = "Image of the nightjar detection daemon (its entrypoint is the nightjar binary)."
  type        = string
}

variable "fluent_bit_image" {
  description = "Fluent Bit 5.x image with the output plugin at /fluent-bit/plugins/out_nightjar.so."
  type        = string
}

variable "image_pull_policy" {
  description = "imagePullPolicy of both containers."
  type        = string
  default     = "IfNotPresent"
}

variable "privileged" {
  description = "Run the daemon privileged instead of with the capabilities it needs. Only for nodes where the capability set is refused."
  type        = bool
  default     = false
}

variable "log_name" {
  description = "Cloud Logging log ID of the alerts: projects/PROJECT/logs/LOG_NAME."
  type        = string
  default     = "nightjar-alerts"
}

variable "min_priority" {
  description = "Rules below this Falco priority are not loaded."
  type        = string
  default     = "Debug"
}

variable "append_output" {
  description = "Extra output_fields added to every alert (cluster is added when cluster_name is set)."
  type        = map(string)
  default     = {}
}

variable "extra_routes" {
  description = "routes.hcl text appended after the Cloud Logging destination and route: more destinations (SIEMs) and routes. Secrets through env()."
  type        = string
  default     = ""
}

variable "daemon_config" {
  description = "Full nightjar.hcl replacing the module's. The forward_output must keep address unix:///var/run/nightjar/fluent.sock."
  type        = string
  default     = null
}

variable "fluent_bit_workers" {
  description = "Workers of the nightjar output. At least 1: with 0 the plugin flushes on Fluent Bit's engine thread and throttles the forward input."
  type        = number
  default     = 2

  validation {
    condition     = var.fluent_bit_workers >= 1
    error_message = "fluent_bit_workers must be at least 1."
  }
}

variable "fluent_bit_storage_limit" {
  description = "storage.total_limit_size of the nightjar output: the most disk the queued alerts may take on each node."
  type        = string
  default     = "512M"
}

variable "daemon_resources" {
  description = "Resource requests and limits of the daemon container."
  type = object({
    requests = map(string)
    limits   = map(string)
  })
  default = {
    requests = { cpu = "100m", memory = "256Mi" }
    limits   = { memory = "1Gi" }
  }
}

variable "fluent_bit_resources" {
  description = "Resource requests and limits of the Fluent Bit container."
  type = object({
    requests = map(string)
    limits   = map(string)
  })
  default = {
    requests = { cpu = "50m", memory = "128Mi" }
    limits   = { memory = "512Mi" }
  }
}

variable "scrape_interval" {
  description = "How often Google Managed Prometheus scrapes the daemon's and the plugin's /metrics."
  type        = string
  default     = "30s"
}

variable "notification_channels" {
  description = "Cloud Monitoring notification channel IDs for the Critical alerts policy."
  type        = list(string)
  default     = []
}

variable "alert_policy" {
  description = "Create the alert policy on alerts of priority Critical and above."
  type        = bool
  default     = true
}

variable "notification_rate_limit" {
  description = "Least time between two notifications of the alert policy."
  type        = string
  default     = "300s"
}

variable "log_bucket" {
  description = "When set, a log bucket with this retention and a sink routing the alerts into it."
  type = object({
    id             = string
    location       = optional(string, "global")
    retention_days = optional(number, 90)
  })
  default = null
}

variable "pod_monitoring" {
  description = "Create the PodMonitoring for Google Managed Prometheus. Its CRD exists when managed collection is on (the default on GKE Standard since 1.27)."
  type        = bool
  default     = true
}

variable "dashboard" {
  description = "Create the Cloud Monitoring dashboard."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels added to the Kubernetes objects."
  type        = map(string)
  default     = {}
}
