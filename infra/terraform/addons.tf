# addons.tf: cluster add-ons installed with Helm into kube-system (chart versions pinned by variables):
#
#   nvidia-device-plugin  advertises nvidia.com/gpu on the gpu pool. Needed: the EKS AL2023 NVIDIA AMI ships
#                         the driver and the NVIDIA container toolkit, not the Kubernetes device plugin.
#   cluster-autoscaler    adds nodes to the gpu/cpu pools (from zero) when the Ray autoscaler creates worker
#                         pods that do not fit, and removes empty nodes. Its IAM role comes through EKS Pod
#                         Identity (iam.tf); node groups are auto-discovered by the tags EKS puts on their ASGs.

resource "helm_release" "nvidia_device_plugin" {
  name      = "nvidia-device-plugin"
  namespace = "kube-system"

  repository = var.nvidia_device_plugin_helm_repository
  chart      = "nvidia-device-plugin"
  version    = var.nvidia_device_plugin_chart_version

  # A DaemonSet with no GPU node yet (the pool starts at zero) is still a successful install.
  atomic          = true
  cleanup_on_fail = true
  wait            = true
  timeout         = 600

  values = [yamlencode({
    # The gpu pool carries nvidia.com/gpu.present=true (eks.tf), which the chart's default node affinity
    # selects; the nodeSelector keeps it off every other pool as well.
    nodeSelector = { (local.pool_label) = "gpu" }
    tolerations = [
      { key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" },
      { key = "CriticalAddonsOnly", operator = "Exists" },
    ]
    # No GPU Feature Discovery / Node Feature Discovery: the labels above are set by the node group.
    gfd = { enabled = false }
  })]

  depends_on = [module.eks]
}

resource "helm_release" "cluster_autoscaler" {
  name      = "cluster-autoscaler"
  namespace = "kube-system"

  repository = var.cluster_autoscaler_helm_repository
  chart      = "cluster-autoscaler"
  version    = var.cluster_autoscaler_chart_version

  atomic          = true
  cleanup_on_fail = true
  wait            = true
  timeout         = 600

  values = [yamlencode({
    cloudProvider = "aws"
    awsRegion     = var.region
    autoDiscovery = { clusterName = module.eks.cluster_name }
    image         = { tag = local.cluster_autoscaler_image_tag }

    rbac = {
      create = true
      # Pod Identity maps kube-system/cluster-autoscaler to its role (iam.tf): no role annotation needed.
      serviceAccount = { create = true, name = "cluster-autoscaler" }
    }

    extraArgs = {
      expander                      = "least-waste"
      "balance-similar-node-groups" = true
      "scale-down-unneeded-time"    = "10m"
      "scale-down-delay-after-add"  = "5m"
      # Ray pods use emptyDir (/tmp/ray, /dev/shm); they also carry safe-to-evict=false, so a node running
      # a Ray worker is never drained under it: nodes go once the Ray autoscaler has removed their workers.
      "skip-nodes-with-local-storage" = false
    }

    nodeSelector = { (local.pool_label) = "system" }

    resources = {
      limits   = { cpu = "200m", memory = "512Mi" }
      requests = { cpu = "200m", memory = "512Mi" }
    }
  })]

  depends_on = [module.eks, module.cluster_autoscaler_pod_identity]
}
