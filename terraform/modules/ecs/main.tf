data "aws_region" "current" {
  count = var.region == null ? 1 : 0
}

locals {
  region = var.region != null ? var.region : data.aws_region.current[0].region

  socket_dir = "/var/run/nightjar"

  # ECS's capability list has no BPF or PERFMON: SYS_ADMIN stands for both
  # (bpf() and perf_event_open()), SYS_RESOURCE lifts the memlock limit,
  # SYS_PTRACE and DAC_READ_SEARCH read /proc/<pid> of every process.
  daemon_linux_parameters = var.privileged ? {} : {
    capabilities = {
      add  = ["SYS_ADMIN", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"]
      drop = []
    }
  }

  log_router = {
    name              = "log_router"
    image             = var.log_router_image
    essential         = true
    user              = "0"
    memoryReservation = var.log_router_memory.reservation
    memory            = var.log_router_memory.limit
    firelensConfiguration = {
      type = "fluentbit"
      options = {
        # Adds the forward input on the shared socket and the nightjar
        # output; its [SERVICE] Plugins_File loads the plugin.
        "config-file-type"        = "file"
        "config-file-value"       = "/fluent-bit/etc/nightjar/nightjar.conf"
        "enable-ecs-log-metadata" = "false"
      }
    }
    environment = [
      { name = "AWS_REGION", value = local.region },
      { name = "NIGHTJAR_LOG_GROUP", value = aws_cloudwatch_log_group.alerts.name },
    ]
    mountPoints = [
      { sourceVolume = "socket", containerPath = local.socket_dir, readOnly = false },
      { sourceVolume = "fluent-bit-state", containerPath = "/var/lib/nightjar/fluent-bit", readOnly = false },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.agent.name
        "awslogs-region"        = local.region
        "awslogs-stream-prefix" = "log-router"
      }
    }
  }

  daemon = merge({
    name              = "nightjar"
    image             = var.daemon_image
    essential         = true
    user              = "0"
    cpu               = var.daemon_cpu
    memoryReservation = var.daemon_memory.reservation
    memory            = var.daemon_memory.limit
    command           = ["run", "--config", "/etc/nightjar/nightjar.hcl"]
    privileged        = var.privileged
    # Alerts wait in the daemon's spool until the router's socket is up.
    dependsOn = [{ containerName = "log_router", condition = "START" }]
    mountPoints = [
      { sourceVolume = "socket", containerPath = local.socket_dir, readOnly = false },
      { sourceVolume = "spool", containerPath = "/var/lib/nightjar/spool", readOnly = false },
      { sourceVolume = "btf", containerPath = "/sys/kernel/btf", readOnly = true },
      { sourceVolume = "cgroup", containerPath = "/host/sys/fs/cgroup", readOnly = true },
      { sourceVolume = "containerd", containerPath = "/run/containerd/containerd.sock", readOnly = true },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.agent.name
        "awslogs-region"        = local.region
        "awslogs-stream-prefix" = "daemon"
      }
    }
    }, var.privileged ? {} : {
    linuxParameters = local.daemon_linux_parameters
  })

  container_definitions = [local.log_router, local.daemon]
}

resource "aws_cloudwatch_log_group" "alerts" {
  name              = var.log_group_name
  retention_in_days = var.retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "agent" {
  name              = var.agent_log_group_name
  retention_in_days = var.retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = [var.launch_type]
  network_mode             = "host"
  pid_mode                 = "host"
  task_role_arn            = aws_iam_role.task.arn
  execution_role_arn       = aws_iam_role.execution.arn
  container_definitions    = jsonencode(local.container_definitions)
  tags                     = var.tags

  # The forward socket, shared by the daemon and the router of one task.
  volume {
    name = "socket"
  }
  # The daemon's spool and the router's chunks live on the instance, so
  # alerts survive a restart of either container.
  volume {
    name      = "spool"
    host_path = "/var/lib/nightjar/spool"
  }
  volume {
    name      = "fluent-bit-state"
    host_path = "/var/lib/nightjar/fluent-bit"
  }
  volume {
    name      = "btf"
    host_path = "/sys/kernel/btf"
  }
  volume {
    name      = "cgroup"
    host_path = "/sys/fs/cgroup"
  }
  volume {
    name      = "containerd"
    host_path = "/run/containerd/containerd.sock"
  }
}

resource "aws_ecs_service" "this" {
  name                = var.name
  cluster             = var.cluster_arn
  task_definition     = aws_ecs_task_definition.this.arn
  launch_type         = var.launch_type
  scheduling_strategy = "DAEMON"
  propagate_tags      = "TASK_DEFINITION"
  tags                = var.tags

  # A daemon replaces its task on each instance in place.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
}
