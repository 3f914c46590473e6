# routes.hcl of the ECS log router, at /fluent-bit/etc/nightjar/routes.hcl
# in its image. The task definition sets NIGHTJAR_LOG_GROUP (and AWS_REGION);
# credentials are the task role.
destination "cloudwatch" "alerts" {
  log_group        = env("NIGHTJAR_LOG_GROUP")
  log_stream       = "{{ hostname }}"
  create_log_group = true
}

route "cloudwatch" {
  to       = [destination.cloudwatch.alerts]
  continue = true
}
