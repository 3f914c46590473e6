output "service_name" {
  description = "Name of the daemon service."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "ARN of the task definition."
  value       = aws_ecs_task_definition.this.arn
}

output "container_definitions" {
  description = "The task's container definitions (JSON), as registered."
  value       = aws_ecs_task_definition.this.container_definitions
}

output "task_role_arn" {
  description = "ARN of the task role (writes alerts to the log group)."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "ARN of the execution role."
  value       = aws_iam_role.execution.arn
}

output "log_group_name" {
  description = "CloudWatch Logs group of the alerts."
  value       = aws_cloudwatch_log_group.alerts.name
}

output "queries" {
  description = "The Logs Insights queries saved by the module, by name."
  value       = { for k, q in local.queries : k => q.query }
}

output "alarm_arn" {
  description = "ARN of the alarm on Critical alerts."
  value       = aws_cloudwatch_metric_alarm.critical.arn
}

output "sns_topic_arn" {
  description = "SNS topic the alarm notifies, or null."
  value       = local.sns_topic_arn
}
