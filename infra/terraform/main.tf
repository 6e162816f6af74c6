# main.tf: shared locals and data sources used across the files (names, AZs, subnet plan, image split, tags).

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Zones are allowlisted by name: var.availability_zones when given, else the region's lettered zones a-f
# (Local and Wavelength Zones, which have no EKS control plane or GPU capacity, never match), so a zone that
# AWS adds later never moves the subnets silently.
data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "zone-name"
    values = length(var.availability_zones) > 0 ? var.availability_zones : [for letter in ["a", "b", "c", "d", "e", "f"] : "${var.region}${letter}"]
  }

  lifecycle {
    postcondition {
      condition     = length(var.availability_zones) > 0 ? length(self.names) == length(var.availability_zones) : length(self.names) >= var.az_count
      error_message = "Not enough available zones: every name in var.availability_zones must be an available zone of var.region, or var.region must have at least var.az_count available zones."
    }
  }
}

locals {
  cluster_name = var.name
  account_id   = data.aws_caller_identity.current.account_id
  partition    = data.aws_partition.current.partition
  cluster_arn  = "arn:${local.partition}:eks:${var.region}:${local.account_id}:cluster/${local.cluster_name}"

  azs = length(var.availability_zones) > 0 ? var.availability_zones : slice(sort(data.aws_availability_zones.available.names), 0, var.az_count)

  # Subnet plan inside var.vpc_cidr (a /16 gives /19 private subnets of 8190 addresses each: pods take VPC
  # addresses from the VPC CNI, so the node subnets are the large ones).
  private_subnets = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 3, i)]
  public_subnets  = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 200 + i)]
  intra_subnets   = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 210 + i)]

  tags = merge(
    {
      Project   = "space"
      ManagedBy = "terraform"
      Cluster   = var.name
    },
    var.tags,
  )

  # The node-pool label every Ray pod and system component selects on (manifests in infra/k8s should
  # select on the same key).
  pool_label = "space.io/pool"

  # var.ray_image = repository:tag[@sha256:digest]; the ray-cluster chart renders "<repository>:<tag>", so
  # the digest (when given) travels with the tag.
  ray_image_parts      = regex("^(?P<repository>[^@]+):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(?P<digest>@sha256:[a-f0-9]{64})?$", var.ray_image)
  ray_image_repository = local.ray_image_parts.repository
  ray_image_tag        = "${local.ray_image_parts.tag}${local.ray_image_parts.digest == null ? "" : local.ray_image_parts.digest}"

  ray_head_service = "${var.ray_cluster_name}-head-svc"
  ray_auth_secret  = "${var.ray_cluster_name}-auth"

  cluster_autoscaler_image_tag = coalesce(var.cluster_autoscaler_image_tag, "v${var.kubernetes_version}.0")
}
