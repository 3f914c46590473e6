# Renders the ECS module with the placeholders of ecs/task-definition.json;
# TestRenderedECS compares them.
terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

provider "aws" {
  region = "REGION"
}

module "nightjar" {
  source = "../../../modules/ecs"

  cluster_arn      = "arn:aws:ecs:REGION:ACCOUNT_ID:cluster/CLUSTER"
  region           = "REGION"
  daemon_image     = "ACCOUNT_ID.dkr.ecr.REGION.amazonaws.com/nightjar:VERSION"
  log_router_image = "ACCOUNT_ID.dkr.ecr.REGION.amazonaws.com/nightjar-log-router:VERSION"
}

output "queries" {
  value = module.nightjar.queries
}
