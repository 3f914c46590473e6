# nightjar on the EC2 container instances of an existing ECS cluster: one
# daemon task per instance, alerts in CloudWatch Logs, an alarm on Critical
# alerts mailed through SNS, saved Logs Insights queries and a dashboard.
terraform {
  required_version = ">= 1.7"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
  }
}

variable "region" {
  description = "Region of the cluster."
  type        = string
}

variable "cluster_name" {
  description = "An existing ECS cluster with EC2 container instances."
  type        = string
}

variable "daemon_image" {
  description = "nightjar daemon image."
  type        = string
}

variable "log_router_image" {
  description = "aws-for-fluent-bit image with the nightjar output plugin and its configuration."
  type        = string
}

variable "alarm_email" {
  description = "Address mailed on Critical alerts."
  type        = string
}

provider "aws" {
  region = var.region
}

data "aws_ecs_cluster" "this" {
  cluster_name = var.cluster_name
}

module "nightjar" {
  source = "../.."

  cluster_arn      = data.aws_ecs_cluster.this.arn
  region           = var.region
  daemon_image     = var.daemon_image
  log_router_image = var.log_router_image
  create_sns_topic = true
  alarm_email      = var.alarm_email
}

output "log_group_name" {
  description = "Alerts log group."
  value       = module.nightjar.log_group_name
}

output "task_definition_arn" {
  description = "The daemon's task definition."
  value       = module.nightjar.task_definition_arn
}
