# Example routes for the nightjar output plugin: every option of every
# destination type, with the values a deployment typically uses.

destination "cloudwatch" "alerts" {
  region            = "us-east-1"
  log_group         = "/nightjar/{{ output_fields.k8s.ns.name }}"
  log_stream        = "{{ hostname }}"
  create_log_group  = true
  create_log_stream = true
  retention_days    = 90
  kms_key_id        = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  tags              = { team = "security", source = "nightjar" }
  log_group_class   = "STANDARD"
  role_arn          = "arn:aws:iam::111122223333:role/nightjar-writer"
  external_id       = env("NIGHTJAR_EXTERNAL_ID")
  timeout           = "10s"
  max_attempts      = 4
  concurrency       = 4
}

destination "cloud_logging" "gke" {
  project         = "my-project"
  log_name        = "nightjar-alerts"
  labels          = { rule = "{{ rule }}", priority = "{{ priority }}", namespace = "{{ output_fields.k8s.ns.name }}", pod = "{{ output_fields.k8s.pod.name }}" }
  resource_type   = "auto"
  resource_labels = { cluster_name = "prod-eu" }
  cluster_name    = "prod-eu"
  location        = "europe-west1"
  timeout         = "10s"
  max_attempts    = 4
  max_entries     = 1000
  concurrency     = 2
}

route "urgent" {
  match    = priority >= "Error" && !contains(tags, "noisy")
  to       = [destination.cloudwatch.alerts, destination.cloud_logging.gke]
  continue = true
}

route "prod-shells" {
  match = output_fields["k8s.ns.name"] == "prod" && regex(rule, "(?i)shell")
  to    = [destination.cloud_logging.gke]
}

route "app-logs" {
  match = startswith(tag, "kube.")
  to    = [destination.cloud_logging.gke]
}

route "default" {
  default = true
  to      = [destination.cloudwatch.alerts]
}
