# nightjar.hcl: the detection daemon on a GKE node.
hostname = env("NODE_NAME")

append_output = {
}

rules {
  default_rules = true
  min_priority  = "Debug"
}

stdout_output {
  enabled = false
}

# Alerts go to the Fluent Bit container of the same pod over the shared
# emptyDir; the spool on the node's disk keeps them while it is down.
forward_output {
  enabled     = true
  address     = "unix:///var/run/nightjar/fluent.sock"
  tag         = "nightjar.alerts"
  require_ack = true

  spool {
    enabled  = true
    dir      = "/var/lib/nightjar/spool"
    max_size = "256MiB"
  }
}

# Scraped by Google Managed Prometheus on the pod IP; the liveness probe
# reads /healthz here.
metrics {
  enabled = true
  listen  = ":9376"
}

metadata {
  cri_endpoints      = ["/run/containerd/containerd.sock"]
  containerd_address = "/run/containerd/containerd.sock"
}
