# kuberay.tf: the KubeRay operator and the SPACE RayCluster, both from the KubeRay Helm charts (version
# pinned by var.kuberay_chart_version), plus what the RayCluster needs to exist first: its namespace, its
# service account (mapped to the bucket role by EKS Pod Identity in iam.tf) and its Ray auth token.
#
# Reaching the job API: the head service is ClusterIP; `kubectl -n <namespace> port-forward
# svc/<cluster>-head-svc 8265:8265`, then RAY_ADDRESS=http://127.0.0.1:8265 with RAY_AUTH_MODE=token and the
# token from the Secret (outputs.tf prints the exact commands). The job API runs arbitrary code as the Ray pods'
# role, so it is never exposed publicly: at most an internal NLB (var.ray_head_internal_lb).

locals {
  # The namespace as created here (so dependent resources wait for it) or as given.
  namespace = var.create_namespace ? kubernetes_namespace_v1.space[0].metadata[0].name : var.namespace

  ray_container_security_context = {
    runAsNonRoot             = true
    runAsUser                = var.ray_run_as_user
    runAsGroup               = var.ray_run_as_group
    allowPrivilegeEscalation = false
    privileged               = false
    # false on purpose: see the header of templates/raycluster-values.yaml.tftpl.
    readOnlyRootFilesystem = false
    capabilities           = { drop = ["ALL"] }
    seccompProfile         = { type = "RuntimeDefault" }
  }

  ray_pod_security_context = {
    runAsNonRoot   = true
    runAsUser      = var.ray_run_as_user
    runAsGroup     = var.ray_run_as_group
    fsGroup        = var.ray_run_as_group
    seccompProfile = { type = "RuntimeDefault" }
  }

  # Ray >= 2.52 token authentication: every Ray process (head, workers, autoscaler) reads the same token.
  ray_auth_env = [
    { name = "RAY_AUTH_MODE", value = "token" },
    {
      name = "RAY_AUTH_TOKEN"
      valueFrom = {
        secretKeyRef = { name = local.ray_auth_secret, key = "auth_token" }
      }
    },
  ]

  ray_common_env = concat(
    [
      { name = "AWS_REGION", value = var.region },
      { name = "AWS_DEFAULT_REGION", value = var.region },
    ],
    local.ray_auth_env,
  )

  raycluster_values = templatefile("${path.module}/templates/raycluster-values.yaml.tftpl", {
    cluster_name     = var.ray_cluster_name
    image_repository = local.ray_image_repository
    image_tag        = local.ray_image_tag
    ray_version      = var.ray_version
    service_account  = var.service_account
    auth_secret      = local.ray_auth_secret
    pool_label       = local.pool_label

    common_env                 = jsonencode(local.ray_common_env)
    auth_env                   = jsonencode(local.ray_auth_env)
    container_security_context = jsonencode(local.ray_container_security_context)
    pod_security_context       = jsonencode(local.ray_pod_security_context)
    idle_timeout_seconds       = var.ray_idle_timeout_seconds

    head_cpu      = var.ray_head.cpu
    head_memory   = var.ray_head.memory
    head_shm_size = var.ray_head.shm_size

    gpus             = var.ray_gpu_workers.gpus
    gpu_cpu          = var.ray_gpu_workers.cpu
    gpu_memory       = var.ray_gpu_workers.memory
    gpu_shm_size     = var.ray_gpu_workers.shm_size
    gpu_min_replicas = var.ray_gpu_workers.min_replicas
    gpu_max_replicas = var.ray_gpu_workers.max_replicas

    cpu_cpu          = var.ray_cpu_workers.cpu
    cpu_memory       = var.ray_cpu_workers.memory
    cpu_shm_size     = var.ray_cpu_workers.shm_size
    cpu_min_replicas = var.ray_cpu_workers.min_replicas
    cpu_max_replicas = var.ray_cpu_workers.max_replicas

    internal_lb      = var.ray_head_internal_lb
    service_type     = var.ray_head_internal_lb ? "LoadBalancer" : "ClusterIP"
    lb_source_ranges = jsonencode(length(var.ray_head_lb_source_ranges) > 0 ? var.ray_head_lb_source_ranges : [var.vpc_cidr])
  })
}

resource "kubernetes_namespace_v1" "space" {
  count = var.create_namespace ? 1 : 0

  metadata {
    name = var.namespace

    labels = {
      "app.kubernetes.io/part-of" = "space"
      # Enforce baseline, and report anything that falls short of restricted (the Ray pods are written to
      # meet restricted).
      "pod-security.kubernetes.io/enforce" = "baseline"
      "pod-security.kubernetes.io/warn"    = "restricted"
      "pod-security.kubernetes.io/audit"   = "restricted"
    }
  }

  depends_on = [module.eks]
}

resource "kubernetes_service_account_v1" "ray" {
  count = var.create_service_account ? 1 : 0

  metadata {
    name      = var.service_account
    namespace = local.namespace

    labels = {
      "app.kubernetes.io/part-of" = "space"
    }
  }

  # The Ray autoscaler sidecar on the head uses this token; KubeRay binds it to a Role limited to the
  # RayCluster's pods and the RayCluster object in this namespace.
  automount_service_account_token = true
}

resource "random_password" "ray_auth_token" {
  length  = 48
  special = false
}

resource "kubernetes_secret_v1" "ray_auth" {
  metadata {
    name      = local.ray_auth_secret
    namespace = local.namespace

    labels = {
      "app.kubernetes.io/part-of" = "space"
    }
  }

  type = "Opaque"

  data = {
    auth_token = random_password.ray_auth_token.result
  }
}

resource "helm_release" "kuberay_operator" {
  name             = "kuberay-operator"
  namespace        = var.kuberay_namespace
  create_namespace = true

  repository = var.kuberay_helm_repository
  chart      = "kuberay-operator"
  version    = var.kuberay_chart_version

  atomic          = true
  cleanup_on_fail = true
  wait            = true
  timeout         = 600

  values = [yamlencode({
    nodeSelector = { (local.pool_label) = "system" }
    resources = {
      limits   = { cpu = "500m", memory = "512Mi" }
      requests = { cpu = "500m", memory = "512Mi" }
    }
  })]

  # Nodes (and CoreDNS) must be up before the operator can become ready.
  depends_on = [module.eks]
}

resource "helm_release" "ray_cluster" {
  name      = var.ray_cluster_name
  namespace = local.namespace

  repository = var.kuberay_helm_repository
  chart      = "ray-cluster"
  version    = var.kuberay_chart_version

  cleanup_on_fail = true
  # The chart holds one RayCluster custom resource, which Helm cannot wait on; watch it with
  # `kubectl -n <namespace> get raycluster <name>` (outputs.tf).
  wait    = false
  timeout = 600

  values = [local.raycluster_values]

  depends_on = [
    helm_release.kuberay_operator,
    helm_release.nvidia_device_plugin,
    kubernetes_service_account_v1.ray,
    kubernetes_secret_v1.ray_auth,
    # Pod Identity injects credentials when a pod is created: the association must exist before the pods.
    aws_eks_pod_identity_association.ray,
  ]
}
