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

destination "splunk_hec" "soc" {
  url               = "https://splunk.example.com:8088"
  token             = env("SPLUNK_HEC_TOKEN")
  index             = "security-{{ output_fields.k8s.ns.name }}"
  sourcetype        = "falco"
  source            = "nightjar:{{ tag }}"
  host              = "{{ hostname }}"
  fields            = ["proc.name", "container.id", "k8s.ns.name", "k8s.pod.name"]
  max_request_bytes = 1048576
  gzip              = true
  ack               = true
  ack_timeout       = "30s"
  ack_interval      = "500ms"
  channel           = "0f6a3b3e-2c4d-4b8a-9f1e-5d6c7b8a9e0f"
  timeout           = "10s"
  max_attempts      = 4
  concurrency       = 2
  # ca_file, cert_file and key_file name PEM files (see the README).
  tls {
    server_name          = "splunk.example.com"
    insecure_skip_verify = false
  }
}

destination "syslog" "siem" {
  address           = "tls://syslog.example.com:6514"
  format            = "cef"
  framing           = "octet_counting"
  facility          = "local4"
  hostname          = "{{ hostname }}"
  app_name          = "nightjar"
  msgid             = "{{ source }}"
  sd_id             = "nightjar@32473"
  vendor            = "nightjar"
  product           = "nightjar"
  product_version   = "1"
  custom_fields     = ["output_fields.container.id", "output_fields.k8s.ns.name", "tags", "priority"]
  leef_delimiter    = "^"
  max_message_bytes = 8192
  timeout           = "10s"
  max_attempts      = 4
  tls {
    server_name          = "syslog.example.com"
    insecure_skip_verify = false
  }
}

destination "webhook" "hook" {
  url               = "https://hooks.example.com/nightjar"
  method            = "POST"
  format            = "ndjson"
  headers           = { Authorization = "Bearer ${env("WEBHOOK_TOKEN")}", X-Team = "sec" }
  user_agent        = "nightjar"
  max_batch_records = 500
  max_request_bytes = 5242880
  gzip              = false
  timeout           = "10s"
  max_attempts      = 4
  concurrency       = 4
  tls {
    server_name = "hooks.example.com"
  }
}

# Falcosidekick, or any tool made for Falco's http_output.
destination "webhook" "sidekick" {
  url    = "http://falcosidekick:2801/"
  format = "falco"
}

destination "elasticsearch" "search" {
  urls           = ["https://es1.example.com:9200", "https://es2.example.com:9200"]
  index          = "nightjar-{{ output_fields.k8s.ns.name }}"
  action         = "create"
  id             = "{{ uuid }}"
  timestamp_key  = "@timestamp"
  pipeline       = "nightjar"
  api_key        = env("ES_API_KEY")
  max_body_bytes = 10485760
  gzip           = true
  timeout        = "10s"
  max_attempts   = 4
  concurrency    = 2
}

destination "kafka" "bus" {
  brokers           = ["kafka1.example.com:9093", "kafka2.example.com:9093"]
  topic             = "nightjar.{{ priority }}"
  key               = "{{ hostname }}"
  headers           = { source = "nightjar" }
  compression       = "zstd"
  client_id         = "nightjar"
  tls               = true
  server_name       = "kafka.example.com"
  timeout           = "10s"
  linger            = "5ms"
  max_message_bytes = 1000000
  metadata_min_age  = "5m"
  sasl {
    mechanism = "SCRAM-SHA-512"
    username  = "nightjar"
    password  = env("KAFKA_PASSWORD")
  }
}

route "siem" {
  match    = priority >= "Warning"
  to       = [destination.splunk_hec.soc, destination.syslog.siem, destination.webhook.hook, destination.webhook.sidekick, destination.elasticsearch.search, destination.kafka.bus]
  continue = true
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
