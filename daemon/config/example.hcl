# nightjar.hcl: a complete example of the detection daemon's configuration.
# Every setting is shown; each value here is its default unless a comment
# says otherwise. See README.md beside this file for the reference.

# Host name put in every alert. Default: the machine's host name.
hostname = env("NODE_NAME", "node-1")

# Extra fields added to every alert's output_fields (like Falco's append_output).
append_output = {
  "cluster"     = "prod-eu-1"
  "environment" = "production"
}

# Queue of alerts waiting for each output in the fan-out.
output_queue_size = 10000

rules {
  default_rules = true
  paths         = ["/etc/nightjar/rules.d", "/etc/nightjar/local_rules.yaml"]
  enabled       = ["Read sensitive file untrusted"]
  disabled      = ["Change thread namespace"]
  enabled_tags  = []
  disabled_tags = ["network"]
  min_priority  = "Notice"
}

capture {
  ring_buffer_size = "16MiB"
  max_latency      = "0s"
}

rate_limit {
  rate             = 10
  burst            = 100
  global_rate      = 1000
  global_burst     = 5000
  summary_interval = "60s"

  rule "Terminal shell in container" {
    rate  = 1
    burst = 5
  }
}

dedup {
  enabled       = true
  window        = "30s"
  ignore_fields = ["evt.time", "evt.rawtime", "evt.datetime", "evt.num"]
}

stdout_output {
  enabled = false
}

file_output {
  enabled     = true
  path        = "/var/log/nightjar/alerts.json"
  max_size    = "100MiB"
  max_backups = 5
}

http_output {
  enabled              = true
  url                  = "https://alerts.example.com/falco"
  headers              = { "Authorization" = "Bearer ${env("ALERT_WEBHOOK_TOKEN", "")}" }
  user_agent           = "nightjar"
  timeout              = "5s"
  retries              = 2
  insecure_skip_verify = false
  ca_file              = "/etc/nightjar/ca.pem"
  client_cert          = ""
  client_key           = ""
}

forward_output {
  enabled       = true
  address       = "unix:///var/run/fluent.sock"
  tag           = "nightjar.alerts"
  mode          = "packed_forward"
  require_ack   = true
  batch_size    = 1000
  batch_bytes   = "1MiB"
  queue_size    = 100000
  ack_timeout   = "30s"
  write_timeout = "10s"
  dial_timeout  = "5s"
  backoff_min   = "100ms"
  backoff_max   = "10s"

  spool {
    enabled      = true
    dir          = "/var/lib/nightjar/spool"
    max_size     = "256MiB"
    segment_size = "16MiB"
  }
}

metrics {
  enabled = true
  listen  = "127.0.0.1:9376"
}

health {
  capture_stall        = "30s"
  output_failure       = "5m"
  drop_alert_threshold = 1
  drop_alert_interval  = "60s"
}

# Container metadata: what fills container.name, container.image.*,
# container.privileged, k8s.* and the ECS task fields of each new container.
metadata {
  # CRI sockets (containerd, cri-o) asked about each new container, in
  # order. An empty list turns Kubernetes metadata off.
  cri_endpoints = ["/run/containerd/containerd.sock", "/run/crio/crio.sock"]

  # containerd's socket, asked about the containers it runs outside
  # Kubernetes (nerdctl, ctr): image, privileged, nerdctl's name. An empty
  # string turns this off.
  containerd_address = "/run/containerd/containerd.sock"

  # The ECS task metadata endpoint v4. Default: on exactly when ecs_uri or
  # ECS_CONTAINER_METADATA_URI_V4 is set (the ECS agent sets it in every
  # task), and ecs_uri defaults to that variable.
  ecs     = true
  ecs_uri = env("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/9c1e5b7a0d3f4e2a8b6c1d0e9f8a7b6c-3582601234")

  # Bound on each provider's answer about one container; the container's
  # first event waits at most this long per provider.
  timeout = "2s"
}
