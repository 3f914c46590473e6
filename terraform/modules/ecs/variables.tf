variable "name" {
  description = "Name of the service, task definition family, roles and dashboard."
  type        = string
  default     = "nightjar"
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster whose container instances (EC2 or ECS Managed Instances) run the daemon."
  type        = string
}

variable "region" {
  description = "Region of the cluster; the provider's when null."
  type        = string
  default     = null
}

variable "launch_type" {
  description = "EC2 or MANAGED_INSTANCES. Fargate cannot load eBPF programs and is refused."
  type        = string
  default     = "EC2"

  validation {
    condition     = contains(["EC2", "MANAGED_INSTANCES"], var.launch_type)
    error_message = "launch_type must be EC2 or MANAGED_INSTANCES: Fargate tasks cannot load eBPF programs."
  }
}

variable "daemon_image" {
  description = "Image of the nightjar detection daemon, with /etc/nightjar/nightjar.hcl for ECS (ecs/nightjar.hcl)."
  type        = string
}

variable "log_router_image" {
  description = "aws-for-fluent-bit 3.x image with /fluent-bit/plugins/out_nightjar.so and /fluent-bit/etc/nightjar/{nightjar.conf,plugins.conf,routes.hcl} (ecs/fluent-bit)."
  type        = string
}

variable "privileged" {
  description = "Run the daemon privileged instead of with SYS_ADMIN, SYS_RESOURCE, SYS_PTRACE and DAC_READ_SEARCH."
  type        = bool
  default     = false
}

variable "log_group_name" {
  description = "CloudWatch Logs group of the alerts."
  type        = string
  default     = "/nightjar/alerts"
}

variable "agent_log_group_name" {
  description = "CloudWatch Logs group of the daemon's and the router's own logs."
  type        = string
  default     = "/nightjar/agent"
}

variable "retention_days" {
  description = "Retention of both log groups, in days."
  type        = number
  default     = 90
}

variable "kms_key_arn" {
  description = "KMS key encrypting both log groups and the SNS topic; its key policy must let logs.REGION.amazonaws.com use it. Null for the default encryption."
  type        = string
  default     = null
}

variable "daemon_cpu" {
  description = "CPU units reserved for the daemon container."
  type        = number
  default     = 128
}

variable "daemon_memory" {
  description = "Memory reservation and hard limit (MiB) of the daemon container."
  type        = object({ reservation = number, limit = number })
  default     = { reservation = 256, limit = 1024 }
}

variable "log_router_memory" {
  description = "Memory reservation and hard limit (MiB) of the log router container."
  type        = object({ reservation = number, limit = number })
  default     = { reservation = 128, limit = 512 }
}

variable "alarm_sns_topic_arn" {
  description = "Existing SNS topic notified by the Critical alerts alarm. When null and create_sns_topic is true, the module creates one."
  type        = string
  default     = null
}

variable "create_sns_topic" {
  description = "Create an SNS topic for the alarm when alarm_sns_topic_arn is null."
  type        = bool
  default     = false
}

variable "alarm_email" {
  description = "Email subscribed to the created SNS topic (confirm the subscription mail)."
  type        = string
  default     = null
}

variable "dashboard" {
  description = "Create the CloudWatch dashboard."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
