# versions.tf: the Terraform and provider versions this configuration is written and checked against.
#
# Modules (vpc.tf, eks.tf, iam.tf) and providers are pinned with `~>` so that a later `terraform init`
# fetches the same major versions; `terraform init` downloads them, and the .terraform.lock.hcl it writes
# should be committed next to your backend configuration so that every run uses identical builds.

terraform {
  required_version = ">= 1.5.7"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # terraform-aws-modules/eks 20.x and vpc 5.x are written for the 5.x provider (not 6.x).
      version = "~> 5.95"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.36"
    }
    helm = {
      source = "hashicorp/helm"
      # 2.x: the `kubernetes {}` block syntax in providers.tf (3.x changed it to an attribute).
      version = "~> 2.17"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State holds the Ray auth token (kuberay.tf) and the cluster's details: keep it in an encrypted remote
  # backend with restricted access, for example (configured with `terraform init -backend-config=...`):
  #
  # backend "s3" {
  #   bucket       = "<your-state-bucket>"
  #   key          = "space/terraform.tfstate"
  #   region       = "<region>"
  #   encrypt      = true
  #   use_lockfile = true   # Terraform >= 1.10; older: dynamodb_table = "<lock-table>"
  # }
}
