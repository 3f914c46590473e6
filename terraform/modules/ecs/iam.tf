locals {
  ecs_tasks_trust = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  # What the output plugin's CloudWatch destination calls, on the alerts
  # group and its streams only.
  task_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "WriteAlerts"
      Effect = "Allow"
      Action = [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
        "logs:PutRetentionPolicy",
      ]
      Resource = [aws_cloudwatch_log_group.alerts.arn, "${aws_cloudwatch_log_group.alerts.arn}:*"]
    }]
  })

  # What the ECS agent needs to start the task: pull the images and write
  # the containers' own logs to the agent group.
  execution_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "PullImages"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
        Resource = "*"
      },
      {
        Sid      = "ContainerLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${aws_cloudwatch_log_group.agent.arn}:*"]
      },
    ]
  })
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "nightjar log router: writes alerts to ${var.log_group_name}"
  assume_role_policy = local.ecs_tasks_trust
  tags               = var.tags
}

resource "aws_iam_role_policy" "task" {
  name   = "write-alerts"
  role   = aws_iam_role.task.id
  policy = local.task_policy
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  description        = "ECS agent for the nightjar daemon service"
  assume_role_policy = local.ecs_tasks_trust
  tags               = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-task"
  role   = aws_iam_role.execution.id
  policy = local.execution_policy
}
