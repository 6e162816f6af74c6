# providers.tf: provider configuration. No credentials live here or anywhere in this folder: the AWS
# provider takes them from the environment (AWS_PROFILE / SSO, an assumed role, instance or CI role), and the
# kubernetes and helm providers get a short-lived token from `aws eks get-token` with those same credentials.
#
# The cluster's API endpoint is private by default (eks.tf), so the kubernetes/helm resources in kuberay.tf and
# addons.tf must be applied from a network that reaches it (a VPN or bastion whose CIDR is listed in
# var.cluster_endpoint_private_access_cidrs), or with var.cluster_endpoint_public_access_cidrs set to your
# egress address for the duration of the apply.

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

provider "kubernetes" {
  host                   = module.eks.cluster_endpoint
  cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)

  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
  }
}

provider "helm" {
  kubernetes {
    host                   = module.eks.cluster_endpoint
    cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)

    exec {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
    }
  }
}
