mock_provider "aws" {
  mock_data "aws_region" {
    defaults = {
      region = "eu-west-1"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    override_during = plan
    defaults = {
      arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/nightjar/alerts"
    }
  }
}

variables {
  cluster_arn      = "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"
  daemon_image     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nightjar:1.0.0"
  log_router_image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nightjar-log-router:1.0.0"
}

run "daemon_service" {
  command = plan

  assert {
    condition     = aws_ecs_service.this.scheduling_strategy == "DAEMON"
    error_message = "the service must be scheduled as a DAEMON"
  }
  assert {
    condition     = aws_ecs_service.this.launch_type == "EC2" && aws_ecs_task_definition.this.requires_compatibilities == toset(["EC2"])
    error_message = "EC2 by default"
  }
  assert {
    condition     = aws_ecs_task_definition.this.pid_mode == "host"
    error_message = "the daemon needs the host PID namespace"
  }
}

run "shared_socket" {
  command = plan

  assert {
    condition = alltrue([for c in jsondecode(aws_ecs_task_definition.this.container_definitions) :
    contains([for m in c.mountPoints : "${m.sourceVolume}:${m.containerPath}"], "socket:/var/run/nightjar")])
    error_message = "both containers must mount the socket volume at /var/run/nightjar"
  }
  assert {
    condition     = one([for v in aws_ecs_task_definition.this.volume : v if v.name == "socket"]).host_path == null
    error_message = "the socket volume is a task volume, not a host path"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].firelensConfiguration.options["config-file-type"] == "file"
    error_message = "the router's config is a file in its image"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].firelensConfiguration.type == "fluentbit"
    error_message = "FireLens type fluentbit"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment, { name = "NIGHTJAR_LOG_GROUP", value = "/nightjar/alerts" })
    error_message = "the router's routes.hcl reads the log group from NIGHTJAR_LOG_GROUP"
  }
}

run "least_privilege" {
  command = plan

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[1].privileged == false
    error_message = "not privileged by default"
  }
  assert {
    condition     = toset(jsondecode(aws_ecs_task_definition.this.container_definitions)[1].linuxParameters.capabilities.add) == toset(["SYS_ADMIN", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"])
    error_message = "the daemon's capabilities"
  }
  assert {
    condition = alltrue([for m in jsondecode(aws_ecs_task_definition.this.container_definitions)[1].mountPoints :
    m.readOnly if contains(["btf", "cgroup", "containerd"], m.sourceVolume)])
    error_message = "host mounts must be read-only"
  }
}

run "privileged_fallback" {
  command = plan

  variables {
    privileged = true
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[1].privileged == true && !can(jsondecode(aws_ecs_task_definition.this.container_definitions)[1].linuxParameters)
    error_message = "privileged = true runs the daemon privileged without added capabilities"
  }
}

run "iam_scope" {
  command = plan

  assert {
    condition = toset(jsondecode(aws_iam_role_policy.task.policy).Statement[0].Action) == toset([
      "logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents", "logs:PutRetentionPolicy",
    ])
    error_message = "the task role may only write logs"
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.task.policy).Statement[0].Resource == [
      "arn:aws:logs:eu-west-1:123456789012:log-group:/nightjar/alerts",
      "arn:aws:logs:eu-west-1:123456789012:log-group:/nightjar/alerts:*",
    ]
    error_message = "the task role is scoped to the alerts log group"
  }
  assert {
    condition     = length(jsondecode(aws_iam_role_policy.task.policy).Statement) == 1
    error_message = "one statement"
  }
  assert {
    condition     = jsondecode(aws_iam_role.task.assume_role_policy).Statement[0].Principal.Service == "ecs-tasks.amazonaws.com"
    error_message = "tasks assume the role"
  }
}

run "log_group_and_queries" {
  command = plan

  variables {
    retention_days = 365
    kms_key_arn    = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = aws_cloudwatch_log_group.alerts.retention_in_days == 365 && aws_cloudwatch_log_group.alerts.kms_key_id == var.kms_key_arn
    error_message = "retention and KMS key"
  }
  assert {
    condition     = strcontains(aws_cloudwatch_query_definition.this["critical"].query_string, "filter priority in [\"Emergency\", \"Alert\", \"Critical\"]")
    error_message = "the Critical query"
  }
  assert {
    condition     = strcontains(aws_cloudwatch_query_definition.this["shells"].query_string, "filter rule = \"Terminal shell in container\"")
    error_message = "the shells query"
  }
  assert {
    condition     = strcontains(aws_cloudwatch_query_definition.this["by_task"].query_string, "by output_fields.ecs.task.family, output_fields.ecs.task.arn")
    error_message = "the by-task query groups by the task fields every container alert carries"
  }
  assert {
    condition     = aws_cloudwatch_query_definition.this["by_rule"].log_group_names == tolist(["/nightjar/alerts"])
    error_message = "queries run on the alerts group"
  }
  assert {
    condition     = aws_cloudwatch_log_metric_filter.critical.pattern == "{ ($.priority = \"Emergency\") || ($.priority = \"Alert\") || ($.priority = \"Critical\") }"
    error_message = "the Critical metric filter"
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.critical.alarm_actions) == 0
    error_message = "no SNS topic by default"
  }
}

run "sns_topic" {
  command = plan

  variables {
    create_sns_topic = true
    alarm_email      = "soc@example.com"
  }

  assert {
    condition     = length(aws_sns_topic.alarm) == 1 && aws_sns_topic_subscription.email[0].endpoint == "soc@example.com"
    error_message = "a topic and an email subscription"
  }
}

run "fargate_refused" {
  command = plan

  variables {
    launch_type = "FARGATE"
  }

  expect_failures = [var.launch_type]
}
