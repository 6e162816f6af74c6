# vpc.tf: the network. Nodes and pods live in private subnets; public subnets exist only for the NAT
# gateway(s); intra subnets (no route out) hold the EKS control-plane ENIs. An S3 gateway endpoint keeps
# corpus/lake/checkpoint/video traffic off the NAT gateway (and its per-GB charge).
#
# Only the private subnets carry kubernetes.io/role/internal-elb; the public subnets deliberately do NOT
# carry kubernetes.io/role/elb, so a Service of type LoadBalancer cannot be placed on the internet by
# subnet auto-discovery (the Ray head is ClusterIP, or an internal load balancer: kuberay.tf).

module "vpc" {
  #checkov:skip=CKV_TF_1:Registry module pinned by a ~> version constraint (released, immutable module versions; the repo convention for terraform-aws-modules). Commit-hash pinning applies to git sources; switch to a git::...?ref=<sha> source if your supply-chain policy demands it.
  source  = "terraform-aws-modules/vpc/aws"
  version = "~> 5.21"

  name = var.name
  cidr = var.vpc_cidr
  azs  = local.azs

  private_subnets = local.private_subnets
  public_subnets  = local.public_subnets
  intra_subnets   = local.intra_subnets

  enable_nat_gateway     = true
  single_nat_gateway     = var.single_nat_gateway
  one_nat_gateway_per_az = !var.single_nat_gateway

  enable_dns_hostnames    = true
  enable_dns_support      = true
  map_public_ip_on_launch = false

  # The default security group gets no rules at all: nothing should use it.
  manage_default_security_group  = true
  default_security_group_ingress = []
  default_security_group_egress  = []

  public_subnet_tags = {
    "space.io/subnet" = "public-nat-only"
  }

  private_subnet_tags = {
    "kubernetes.io/role/internal-elb" = "1"
  }

  intra_subnet_tags = {
    "space.io/subnet" = "eks-control-plane"
  }

  enable_flow_log                                 = var.enable_flow_logs
  create_flow_log_cloudwatch_log_group            = var.enable_flow_logs
  create_flow_log_cloudwatch_iam_role             = var.enable_flow_logs
  flow_log_traffic_type                           = "ALL"
  flow_log_max_aggregation_interval               = 60
  flow_log_cloudwatch_log_group_retention_in_days = var.flow_log_retention_days

  tags = local.tags
}

module "vpc_endpoints" {
  #checkov:skip=CKV_TF_1:Registry module pinned by a ~> version constraint (released, immutable module versions; the repo convention for terraform-aws-modules). Commit-hash pinning applies to git sources; switch to a git::...?ref=<sha> source if your supply-chain policy demands it.
  source  = "terraform-aws-modules/vpc/aws//modules/vpc-endpoints"
  version = "~> 5.21"

  vpc_id = module.vpc.vpc_id

  endpoints = {
    s3 = {
      service         = "s3"
      service_type    = "Gateway"
      route_table_ids = module.vpc.private_route_table_ids
      tags            = { Name = "${var.name}-s3" }
    }
  }

  tags = local.tags
}
