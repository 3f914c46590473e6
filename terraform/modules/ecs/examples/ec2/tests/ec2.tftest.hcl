mock_provider "aws" {
  mock_data "aws_ecs_cluster" {
    defaults = {
      arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"
    }
  }
}

variables {
  region           = "eu-west-1"
  cluster_name     = "prod"
  daemon_image     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nightjar:1.0.0"
  log_router_image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nightjar-log-router:1.0.0"
  alarm_email      = "soc@example.com"
}

run "ec2" {
  command = plan

  assert {
    condition     = module.nightjar.service_name == "nightjar" && output.log_group_name == "/nightjar/alerts"
    error_message = "the service and its log group"
  }
  assert {
    condition     = jsondecode(module.nightjar.container_definitions)[0].logConfiguration.options["awslogs-region"] == "eu-west-1"
    error_message = "the router's own logs go to the example's region"
  }
}
