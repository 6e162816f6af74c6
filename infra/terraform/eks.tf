# eks.tf: the EKS cluster (terraform-aws-modules/eks 20.x) with three managed node groups:
#
#   system  CPU, on-demand, label space.io/pool=system, no taint: CoreDNS, EBS CSI controller, KubeRay operator,
#           Cluster Autoscaler, and the Ray head (num-cpus 0, so no Ray task runs there).
#   gpu     EKS AL2023 NVIDIA AMI, label space.io/pool=gpu, taint nvidia.com/gpu=true:NoSchedule, min 0:
#           the model stages' Ray workers. The AMI carries the NVIDIA driver and container toolkit but NOT the
#           Kubernetes device plugin, which addons.tf installs with Helm (pinned).
#   cpu     label space.io/pool=cpu, taint space.io/pool=cpu:NoSchedule, min 0: the CPU stages' Ray workers.
#
# The API endpoint is private; a public endpoint exists only when var.cluster_endpoint_public_access_cidrs
# lists CIDRs. Kubernetes secrets are envelope-encrypted with a KMS key (rotation on) created by the module,
# and all five control-plane log types go to CloudWatch.
#
# Instances require IMDSv2 with a hop limit of 1: pods that are not on the host network (every Ray pod, and
# so every submitted job) cannot reach the node role's credentials; they get only the bucket-scoped role of
# iam.tf through EKS Pod Identity.

locals {
  public_endpoint = length(var.cluster_endpoint_public_access_cidrs) > 0

  # Pinned add-on versions where var.addon_versions names them, else the newest for the cluster version.
  addon_settings = {
    vpc-cni                = { before_compute = true }
    eks-pod-identity-agent = { before_compute = true }
    kube-proxy             = {}
    coredns                = {}
    aws-ebs-csi-driver     = {}
  }
  cluster_addons = {
    for name, settings in local.addon_settings : name => merge(
      settings,
      { most_recent = !contains(keys(var.addon_versions), name) },
      { for addon, version in var.addon_versions : "addon_version" => version if addon == name },
    )
  }

  node_root_volume = {
    device_name = "/dev/xvda"
    ebs = {
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }
}

module "eks" {
  #checkov:skip=CKV_TF_1:Registry module pinned by a ~> version constraint (released, immutable module versions; the repo convention for terraform-aws-modules). Commit-hash pinning applies to git sources; switch to a git::...?ref=<sha> source if your supply-chain policy demands it.
  source  = "terraform-aws-modules/eks/aws"
  version = "~> 20.37"

  cluster_name    = local.cluster_name
  cluster_version = var.kubernetes_version

  vpc_id                   = module.vpc.vpc_id
  subnet_ids               = module.vpc.private_subnets
  control_plane_subnet_ids = module.vpc.intra_subnets

  # API endpoint: private always; public only for the listed CIDRs (never 0.0.0.0/0, see variables.tf).
  cluster_endpoint_private_access      = true
  cluster_endpoint_public_access       = local.public_endpoint
  cluster_endpoint_public_access_cidrs = local.public_endpoint ? var.cluster_endpoint_public_access_cidrs : null

  # Private endpoint from a VPN / bastion / CI network.
  cluster_security_group_additional_rules = {
    for key, rule in {
      ingress_private_api = {
        description = "Kubernetes API (private endpoint) from allowed networks"
        type        = "ingress"
        protocol    = "tcp"
        from_port   = 443
        to_port     = 443
        cidr_blocks = var.cluster_endpoint_private_access_cidrs
      }
    } : key => rule if length(var.cluster_endpoint_private_access_cidrs) > 0
  }

  # Secrets envelope encryption with a customer-managed key created by the module.
  create_kms_key                  = true
  enable_kms_key_rotation         = true
  kms_key_deletion_window_in_days = 30
  cluster_encryption_config = {
    resources = ["secrets"]
  }

  cluster_enabled_log_types              = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  cloudwatch_log_group_retention_in_days = var.cluster_log_retention_days

  # Access entries only (no aws-auth ConfigMap); the identity that runs terraform is cluster admin.
  authentication_mode                      = "API"
  enable_cluster_creator_admin_permissions = true
  access_entries = {
    for i, arn in var.cluster_admin_role_arns : "admin-${i}" => {
      principal_arn = arn
      policy_associations = {
        admin = {
          policy_arn   = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
          access_scope = { type = "cluster" }
        }
      }
    }
  }

  cluster_addons = local.cluster_addons

  eks_managed_node_group_defaults = {
    ami_type      = "AL2023_x86_64_STANDARD"
    ebs_optimized = true

    metadata_options = {
      http_endpoint               = "enabled"
      http_tokens                 = "required"
      http_put_response_hop_limit = 1
    }

    # Shell access through SSM Session Manager instead of SSH keys.
    iam_role_additional_policies = {
      ssm = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
    }

    update_config = {
      max_unavailable_percentage = 33
    }
  }

  eks_managed_node_groups = {
    system = {
      instance_types = var.system_node_group.instance_types
      capacity_type  = "ON_DEMAND"
      min_size       = var.system_node_group.min_size
      max_size       = var.system_node_group.max_size
      desired_size   = var.system_node_group.desired_size

      labels = {
        (local.pool_label) = "system"
      }

      block_device_mappings = {
        xvda = merge(local.node_root_volume, {
          ebs = merge(local.node_root_volume.ebs, { volume_size = var.system_node_group.disk_size_gib })
        })
      }
    }

    gpu = {
      ami_type       = "AL2023_x86_64_NVIDIA"
      instance_types = var.gpu_node_group.instance_types
      capacity_type  = var.gpu_node_group.capacity_type
      min_size       = var.gpu_node_group.min_size
      max_size       = var.gpu_node_group.max_size
      desired_size   = var.gpu_node_group.desired_size

      labels = {
        (local.pool_label) = "gpu"
        # Matches the NVIDIA device plugin chart's default node affinity (no Node Feature Discovery needed).
        "nvidia.com/gpu.present" = "true"
        # Cluster Autoscaler's GPU label on AWS: a new node counts as not ready until its GPUs are advertised.
        "k8s.amazonaws.com/accelerator" = "nvidia"
      }

      taints = {
        gpu = {
          key    = "nvidia.com/gpu"
          value  = "true"
          effect = "NO_SCHEDULE"
        }
      }

      block_device_mappings = {
        xvda = merge(local.node_root_volume, {
          ebs = merge(local.node_root_volume.ebs, { volume_size = var.gpu_node_group.disk_size_gib })
        })
      }
    }

    cpu = {
      instance_types = var.cpu_node_group.instance_types
      capacity_type  = var.cpu_node_group.capacity_type
      min_size       = var.cpu_node_group.min_size
      max_size       = var.cpu_node_group.max_size
      desired_size   = var.cpu_node_group.desired_size

      labels = {
        (local.pool_label) = "cpu"
      }

      taints = {
        pool = {
          key    = local.pool_label
          value  = "cpu"
          effect = "NO_SCHEDULE"
        }
      }

      block_device_mappings = {
        xvda = merge(local.node_root_volume, {
          ebs = merge(local.node_root_volume.ebs, { volume_size = var.cpu_node_group.disk_size_gib })
        })
      }
    }
  }

  tags = local.tags
}

# Scale from zero: when a pool has no node, Cluster Autoscaler builds its node template from the ASG's tags.
# EKS tags managed node group ASGs for auto-discovery but not with their labels and taints, so add those.
locals {
  asg_template_tags = {
    "gpu/label/pool" = {
      pool  = "gpu"
      key   = "k8s.io/cluster-autoscaler/node-template/label/${local.pool_label}"
      value = "gpu"
    }
    "gpu/label/accelerator" = {
      pool  = "gpu"
      key   = "k8s.io/cluster-autoscaler/node-template/label/k8s.amazonaws.com/accelerator"
      value = "nvidia"
    }
    "gpu/taint/gpu" = {
      pool  = "gpu"
      key   = "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"
      value = "true:NoSchedule"
    }
    "cpu/label/pool" = {
      pool  = "cpu"
      key   = "k8s.io/cluster-autoscaler/node-template/label/${local.pool_label}"
      value = "cpu"
    }
    "cpu/taint/pool" = {
      pool  = "cpu"
      key   = "k8s.io/cluster-autoscaler/node-template/taint/${local.pool_label}"
      value = "cpu:NoSchedule"
    }
  }
}

resource "aws_autoscaling_group_tag" "node_template" {
  for_each = local.asg_template_tags

  autoscaling_group_name = one(module.eks.eks_managed_node_groups[each.value.pool].node_group_autoscaling_group_names)

  tag {
    key                 = each.value.key
    value               = each.value.value
    propagate_at_launch = false
  }
}
