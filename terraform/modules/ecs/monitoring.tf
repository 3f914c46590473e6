locals {
  metric_namespace = "nightjar"

  # Logs Insights queries saved by the module; docs/querying.md lists the
  # same ones. Each alert is one JSON event, so its keys are fields.
  queries = {
    recent = {
      name  = "recent alerts"
      query = <<-EOT
        fields @timestamp, priority, rule, hostname, output_fields.container.name, output
        | sort @timestamp desc
        | limit 200
      EOT
    }
    critical = {
      name  = "Critical and above"
      query = <<-EOT
        fields @timestamp, priority, rule, hostname, output_fields.container.name, output
        | filter priority in ["Emergency", "Alert", "Critical"]
        | sort @timestamp desc
        | limit 200
      EOT
    }
    by_rule = {
      name  = "alerts by rule"
      query = <<-EOT
        stats count(*) as alerts, latest(@timestamp) as last_seen by rule, priority
        | sort alerts desc
      EOT
    }
    by_container = {
      name  = "alerts by instance and container"
      query = <<-EOT
        filter ispresent(output_fields.container.id)
        | stats count(*) as alerts by hostname, output_fields.container.name, output_fields.container.image.repository
        | sort alerts desc
        | limit 50
      EOT
    }
    by_task = {
      name  = "alerts by task"
      query = <<-EOT
        filter ispresent(output_fields.ecs.task.arn)
        | stats count(*) as alerts, latest(@timestamp) as last_seen by output_fields.ecs.task.family, output_fields.ecs.task.arn, output_fields.container.name
        | sort alerts desc
        | limit 50
      EOT
    }
    shells = {
      name  = "shells in containers"
      query = <<-EOT
        fields @timestamp, hostname, output_fields.container.name, output_fields.proc.cmdline, output_fields.user.name
        | filter rule = "Terminal shell in container"
        | sort @timestamp desc
      EOT
    }
    sensitive_files = {
      name  = "sensitive file reads"
      query = <<-EOT
        fields @timestamp, hostname, output_fields.container.name, output_fields.fd.name, output_fields.proc.name
        | filter rule = "Read sensitive file untrusted"
        | sort @timestamp desc
      EOT
    }
    kernel_drops = {
      name  = "kernel event drops"
      query = <<-EOT
        fields @timestamp, hostname, output
        | filter rule = "Nightjar internal: kernel event drop"
        | sort @timestamp desc
      EOT
    }
  }

  sns_topic_arn = var.alarm_sns_topic_arn != null ? var.alarm_sns_topic_arn : (var.create_sns_topic ? aws_sns_topic.alarm[0].arn : null)
}

resource "aws_cloudwatch_query_definition" "this" {
  for_each = local.queries

  name            = "${var.name}/${each.value.name}"
  log_group_names = [aws_cloudwatch_log_group.alerts.name]
  query_string    = each.value.query
}

resource "aws_cloudwatch_log_metric_filter" "critical" {
  name           = "${var.name}-critical-alerts"
  log_group_name = aws_cloudwatch_log_group.alerts.name
  pattern        = "{ ($.priority = \"Emergency\") || ($.priority = \"Alert\") || ($.priority = \"Critical\") }"

  metric_transformation {
    name          = "CriticalAlerts"
    namespace     = local.metric_namespace
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_log_metric_filter" "by_priority" {
  name           = "${var.name}-alerts-by-priority"
  log_group_name = aws_cloudwatch_log_group.alerts.name
  pattern        = "{ $.priority = * }"

  metric_transformation {
    name      = "Alerts"
    namespace = local.metric_namespace
    value     = "1"
    dimensions = {
      priority = "$.priority"
    }
  }
}

resource "aws_sns_topic" "alarm" {
  count = var.alarm_sns_topic_arn == null && var.create_sns_topic ? 1 : 0

  name              = "${var.name}-critical-alerts"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alarm_sns_topic_arn == null && var.create_sns_topic && var.alarm_email != null ? 1 : 0

  topic_arn = aws_sns_topic.alarm[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "critical" {
  alarm_name          = "${var.name}-critical-alerts"
  alarm_description   = "nightjar raised an alert of priority Critical or above. Open the Logs Insights query \"${var.name}/Critical and above\"."
  namespace           = local.metric_namespace
  metric_name         = aws_cloudwatch_log_metric_filter.critical.metric_transformation[0].name
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.sns_topic_arn != null ? [local.sns_topic_arn] : []
  ok_actions          = local.sns_topic_arn != null ? [local.sns_topic_arn] : []
  tags                = var.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.dashboard ? 1 : 0

  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "Alerts by priority"
          region  = local.region
          view    = "timeSeries"
          stacked = true
          stat    = "Sum"
          period  = 60
          metrics = [for p in ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"] :
          [local.metric_namespace, "Alerts", "priority", p]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title       = "Critical and above"
          region      = local.region
          view        = "timeSeries"
          stat        = "Sum"
          period      = 60
          metrics     = [[local.metric_namespace, "CriticalAlerts"]]
          annotations = { horizontal = [{ label = "alarm", value = 1 }] }
        }
      },
      {
        type = "log", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "Alerts by rule"
          region = local.region
          view   = "table"
          query  = "SOURCE '${aws_cloudwatch_log_group.alerts.name}' | ${replace(trimspace(local.queries.by_rule.query), "\n", " ")}"
        }
      },
      {
        type = "log", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "Top instances and containers"
          region = local.region
          view   = "table"
          query  = "SOURCE '${aws_cloudwatch_log_group.alerts.name}' | ${replace(trimspace(local.queries.by_container.query), "\n", " ")}"
        }
      },
      {
        type = "log", x = 0, y = 12, width = 24, height = 6
        properties = {
          title  = "Kernel event drops (visibility lost)"
          region = local.region
          view   = "table"
          query  = "SOURCE '${aws_cloudwatch_log_group.alerts.name}' | ${replace(trimspace(local.queries.kernel_drops.query), "\n", " ")}"
        }
      },
    ]
  })
}
