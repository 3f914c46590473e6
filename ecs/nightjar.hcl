# nightjar.hcl: the detection daemon as an ECS daemon service task. The
# daemon image carries it at /etc/nightjar/nightjar.hcl.

rules {
  default_rules = true
}

stdout_output {
  enabled = false
}

# The log router (FireLens) of the same task listens on this socket, in a
# task volume both containers mount at /var/run/nightjar. The spool is a
# host path, so alerts survive a restart of either container.
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

# The task uses the host's network: keep the endpoint on loopback.
metrics {
  enabled = true
  listen  = "127.0.0.1:9376"
}

# In a daemon service the ECS task metadata endpoint describes only the
# daemon's own task, so it is off; the container agent's introspection API
# (on the host's loopback: the task uses the host network) lists every
# task's containers (name, task ARN, family, cluster), and the instance's
# containerd gives images.
metadata {
  cri_endpoints      = []
  containerd_address = "/run/containerd/containerd.sock"
  ecs                = false
  ecs_agent_uri      = "http://127.0.0.1:51678"
}
