# variables.tf: every input of the SPACE cluster, typed, described and validated where a bad value would
# only fail late (at apply time, or worse, at job time). terraform.tfvars.example shows a filled-in set.

################################################################################
# Naming, region, tags
################################################################################

variable "name" {
  description = "Name of the deployment: the EKS cluster, the VPC and the IAM roles are named after it, and the bucket gets it as a prefix when var.bucket_name is not set."
  type        = string
  default     = "space"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 characters of lowercase letters, digits and '-', starting with a letter."
  }
}

variable "region" {
  description = "AWS region for everything (pick one with capacity for var.gpu_node_group.instance_types)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-west-2 or eu-central-1."
  }
}

variable "tags" {
  description = "Extra tags for every AWS resource (merged over Project/ManagedBy defaults; applied through the provider's default_tags and to instances launched by the node groups)."
  type        = map(string)
  default     = {}
}

################################################################################
# Network
################################################################################

variable "vpc_cidr" {
  description = "CIDR of the new VPC (a /16 to /18). Private node subnets take /19-sized blocks (pods get VPC addresses from the VPC CNI), public (NAT only) and intra (control-plane ENIs) subnets take small blocks near the top."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 18, false)
    error_message = "vpc_cidr must be a valid IPv4 CIDR with a prefix length between /16 and /18."
  }
}

variable "availability_zones" {
  description = "Availability zones to use, by name (e.g. [\"us-west-2a\", \"us-west-2b\", \"us-west-2c\"]). Recommended: pick zones that offer var.gpu_node_group.instance_types (not every zone has every GPU type). Empty: the first var.az_count of the region's zones."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || (length(var.availability_zones) >= 2 && length(var.availability_zones) <= 4 && length(distinct(var.availability_zones)) == length(var.availability_zones))
    error_message = "availability_zones must be empty or list 2 to 4 distinct zone names."
  }
}

variable "az_count" {
  description = "How many availability zones to spread the subnets over when var.availability_zones is empty (EKS needs at least 2)."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number from 2 to 4."
  }
}

variable "single_nat_gateway" {
  description = "true: one NAT gateway for all AZs (cheaper; egress stops if that AZ fails). false: one NAT gateway per AZ."
  type        = bool
  default     = true
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs to a CloudWatch log group created by the VPC module."
  type        = bool
  default     = true
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group, in days."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

################################################################################
# EKS control plane
################################################################################

variable "kubernetes_version" {
  description = "EKS Kubernetes version, <major>.<minor>. Also picks the Cluster Autoscaler image (v<version>.0) unless var.cluster_autoscaler_image_tag is set."
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33."
  }
}

variable "cluster_endpoint_private_access_cidrs" {
  description = "CIDRs (a VPN, a bastion's subnet, a peered CI network) allowed to reach the private API endpoint on 443, in addition to the nodes. Empty: only from inside the cluster's own security groups."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.cluster_endpoint_private_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "cluster_endpoint_private_access_cidrs must be valid IPv4 CIDRs and must not contain 0.0.0.0/0."
  }
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "Public API endpoint: off while this list is empty (the default). Listing CIDRs (e.g. your office or CI egress /32) turns the public endpoint on for those CIDRs only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.cluster_endpoint_public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "cluster_endpoint_public_access_cidrs must be valid IPv4 CIDRs and must not contain 0.0.0.0/0 (leave it empty to keep the endpoint private)."
  }
}

variable "cluster_admin_role_arns" {
  description = "IAM role ARNs that get cluster-admin through EKS access entries (the identity running terraform gets it too)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", a))])
    error_message = "cluster_admin_role_arns must be IAM role ARNs."
  }
}

variable "cluster_log_retention_days" {
  description = "Retention of the EKS control-plane log group (api, audit, authenticator, controllerManager, scheduler), in days."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.cluster_log_retention_days)
    error_message = "cluster_log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "addon_versions" {
  description = "Optional pinned EKS add-on versions by add-on name (vpc-cni, coredns, kube-proxy, eks-pod-identity-agent, aws-ebs-csi-driver), e.g. { coredns = \"v1.11.4-eksbuild.2\" }. Unlisted add-ons get the newest version for var.kubernetes_version at create time."
  type        = map(string)
  default     = {}
}

################################################################################
# Node groups
################################################################################

variable "system_node_group" {
  description = "The `system` managed node group (CPU, on-demand, label space.io/pool=system, no taint): CoreDNS, the KubeRay operator, Cluster Autoscaler, the EBS CSI controller and the Ray head pod (which does no work: num-cpus 0)."
  type = object({
    instance_types = optional(list(string), ["m6i.xlarge"])
    min_size       = optional(number, 2)
    max_size       = optional(number, 3)
    desired_size   = optional(number, 2)
    disk_size_gib  = optional(number, 100)
  })
  default = {}

  validation {
    condition     = var.system_node_group.min_size >= 1 && var.system_node_group.min_size <= var.system_node_group.desired_size && var.system_node_group.desired_size <= var.system_node_group.max_size
    error_message = "system_node_group needs 1 <= min_size <= desired_size <= max_size (system pods and the Ray head always need a node)."
  }
  validation {
    condition     = length(var.system_node_group.instance_types) > 0 && var.system_node_group.disk_size_gib >= 20
    error_message = "system_node_group needs at least one instance type and disk_size_gib >= 20."
  }
}

variable "gpu_node_group" {
  description = <<-EOT
    The `gpu` managed node group for the model stages (landmarks/keypoints/whisper actors in preprocessing, Ray Train
    workers, the render animate actors): EKS AL2023 NVIDIA AMI, taint nvidia.com/gpu=true:NoSchedule, label
    space.io/pool=gpu, scaled from zero by Cluster Autoscaler when Ray asks for GPU workers.
    instance_types: g5.xlarge (1x A10G 24 GB, the default); g6.xlarge (1x L4 24 GB, cheaper per hour); g6e.xlarge
    (1x L40S 48 GB); p5.48xlarge (8x H100 80 GB, for large training runs: set var.ray_gpu_workers.gpus to 8 and size
    cpu/memory to the node). Mixing types with different GPU counts in one group confuses scale-from-zero.
    capacity_type: ON_DEMAND or SPOT (Ray retries tasks and Ray Train resumes from checkpoints, so SPOT is workable).
  EOT
  type = object({
    instance_types = optional(list(string), ["g5.xlarge"])
    min_size       = optional(number, 0)
    max_size       = optional(number, 4)
    desired_size   = optional(number, 0)
    disk_size_gib  = optional(number, 200)
    capacity_type  = optional(string, "ON_DEMAND")
  })
  default = {}

  validation {
    condition     = var.gpu_node_group.min_size >= 0 && var.gpu_node_group.min_size <= var.gpu_node_group.desired_size && var.gpu_node_group.desired_size <= var.gpu_node_group.max_size && var.gpu_node_group.max_size >= 1
    error_message = "gpu_node_group needs 0 <= min_size <= desired_size <= max_size and max_size >= 1 (min_size 0 lets it scale to zero)."
  }
  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.gpu_node_group.capacity_type) && length(var.gpu_node_group.instance_types) > 0 && var.gpu_node_group.disk_size_gib >= 100
    error_message = "gpu_node_group.capacity_type must be ON_DEMAND or SPOT, instance_types must not be empty, and disk_size_gib must be >= 100 (CUDA images are large)."
  }
}

variable "cpu_node_group" {
  description = "The `cpu` managed node group for the CPU stages (probing, audio features, windowing, H.264 encoding and joins): label space.io/pool=cpu, taint space.io/pool=cpu:NoSchedule so only Ray CPU workers land there and it can scale to zero."
  type = object({
    instance_types = optional(list(string), ["m6i.2xlarge"])
    min_size       = optional(number, 0)
    max_size       = optional(number, 4)
    desired_size   = optional(number, 0)
    disk_size_gib  = optional(number, 100)
    capacity_type  = optional(string, "ON_DEMAND")
  })
  default = {}

  validation {
    condition     = var.cpu_node_group.min_size >= 0 && var.cpu_node_group.min_size <= var.cpu_node_group.desired_size && var.cpu_node_group.desired_size <= var.cpu_node_group.max_size && var.cpu_node_group.max_size >= 1
    error_message = "cpu_node_group needs 0 <= min_size <= desired_size <= max_size and max_size >= 1."
  }
  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.cpu_node_group.capacity_type) && length(var.cpu_node_group.instance_types) > 0 && var.cpu_node_group.disk_size_gib >= 20
    error_message = "cpu_node_group.capacity_type must be ON_DEMAND or SPOT, instance_types must not be empty, and disk_size_gib must be >= 20."
  }
}

################################################################################
# Object storage
################################################################################

variable "bucket_name" {
  description = "Name of the data bucket (corpus/, lake/, checkpoints/, videos/, campaigns/). null: a unique name generated from var.name."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, '.' and '-')."
  }
}

variable "data_prefixes" {
  description = "Top-level prefixes of the data bucket that the Ray pods may list, read, write and delete. corpus, lake, checkpoints and videos are required; campaigns holds render request tables (README: --requests s3://<bucket>/campaigns/<name>.csv)."
  type        = list(string)
  default     = ["corpus", "lake", "checkpoints", "videos", "campaigns"]

  validation {
    condition     = alltrue([for p in ["corpus", "lake", "checkpoints", "videos"] : contains(var.data_prefixes, p)]) && alltrue([for p in var.data_prefixes : can(regex("^[a-z0-9][a-z0-9_-]*$", p))])
    error_message = "data_prefixes must include corpus, lake, checkpoints and videos, and each must be a plain folder name (no '/')."
  }
}

variable "staging_prefixes" {
  description = "Prefixes whose objects expire after var.staging_expiration_days: the render job's `<out>/_staging/` folders, which it removes itself after each commit (this is the backstop for crashed runs). S3 lifecycle filters match a literal prefix only, so list the staging folder of each render output you use, e.g. videos/spring/_staging/ for --out s3://<bucket>/videos/spring/."
  type        = list(string)
  default     = ["_staging/", "videos/_staging/"]

  validation {
    condition     = alltrue([for p in var.staging_prefixes : endswith(p, "_staging/") && !startswith(p, "/")])
    error_message = "staging_prefixes must be bucket-relative prefixes ending in _staging/ (e.g. videos/spring/_staging/)."
  }
}

variable "staging_expiration_days" {
  description = "Days after which objects under var.staging_prefixes expire."
  type        = number
  default     = 7

  validation {
    condition     = var.staging_expiration_days >= 1
    error_message = "staging_expiration_days must be at least 1."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted object versions are removed (versioning is on so that an accidental delete of lake/ or checkpoints/ can be undone within this window)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which incomplete multipart uploads (large videos, Parquet files, checkpoints) are aborted."
  type        = number
  default     = 3

  validation {
    condition     = var.abort_incomplete_multipart_days >= 1
    error_message = "abort_incomplete_multipart_days must be at least 1."
  }
}

variable "access_log_bucket" {
  description = "Existing bucket that receives S3 server access logs of the data bucket (it must allow the logging service to write). null: no server access logging (use CloudTrail S3 data events if you need an audit trail)."
  type        = string
  default     = null
}

variable "bucket_force_destroy" {
  description = "Allow `terraform destroy` to delete the data bucket with its objects. Keep false outside throwaway environments."
  type        = bool
  default     = false
}

################################################################################
# Ray on Kubernetes
################################################################################

variable "namespace" {
  description = "Kubernetes namespace of the RayCluster, its service account and auth secret (the manifests in infra/k8s use the same default)."
  type        = string
  default     = "space"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a valid Kubernetes namespace name."
  }
}

variable "create_namespace" {
  description = "Create var.namespace here. Set false when the namespace is managed elsewhere (then it must exist before apply)."
  type        = bool
  default     = true
}

variable "service_account" {
  description = "Kubernetes service account of the Ray head and worker pods; EKS Pod Identity maps it to the IAM role scoped to the data bucket."
  type        = string
  default     = "space-ray"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.service_account))
    error_message = "service_account must be a valid Kubernetes name."
  }
}

variable "create_service_account" {
  description = "Create var.service_account here (KubeRay requires it to exist when the RayCluster names it). Set false when it is managed elsewhere."
  type        = bool
  default     = true
}

variable "ray_cluster_name" {
  description = "Name of the RayCluster (and of its Helm release). KubeRay names the head service <name>-head-svc: space-ray-head-svc by default."
  type        = string
  default     = "space-ray"

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", var.ray_cluster_name))
    error_message = "ray_cluster_name must be a DNS label of at most 40 characters (KubeRay derives longer names from it)."
  }
}

variable "ray_image" {
  description = "Container image of the Ray head and workers, as repository:tag (optionally repository:tag@sha256:digest): the SPACE image built from infra/docker and pushed to your registry. It must carry the project's Ray (ray==2.60.0), CUDA-enabled torch and the package. No default: a moving tag such as latest is refused."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9._-]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[a-f0-9]{64})?$", var.ray_image)) && !can(regex(":latest(@|$)", var.ray_image))
    error_message = "ray_image must be repository:tag (or repository:tag@sha256:<digest>) with a pinned tag other than latest."
  }
}

variable "ray_version" {
  description = "Ray version inside var.ray_image (the project pins ray==2.60.0). KubeRay uses it for the autoscaler sidecar; token authentication needs Ray >= 2.52."
  type        = string
  default     = "2.60.0"

  validation {
    condition     = can(regex("^2\\.[0-9]+\\.[0-9]+$", var.ray_version)) && try(tonumber(split(".", var.ray_version)[1]) >= 52, false)
    error_message = "ray_version must be 2.x.y with x >= 52 (Ray token authentication)."
  }
}

variable "ray_run_as_user" {
  description = "UID the Ray containers run as (runAsNonRoot needs a numeric UID): 1000 is the `ray` user of infra/docker/Dockerfile (and of the upstream Ray images); match the USER of var.ray_image."
  type        = number
  default     = 1000

  validation {
    condition     = var.ray_run_as_user > 0
    error_message = "ray_run_as_user must not be 0 (root)."
  }
}

variable "ray_run_as_group" {
  description = "GID the Ray containers run as and the fsGroup of their volumes: 1000 is the `ray` group of infra/docker/Dockerfile (the upstream Ray images use 100, `users`)."
  type        = number
  default     = 1000

  validation {
    condition     = var.ray_run_as_group > 0
    error_message = "ray_run_as_group must not be 0 (root)."
  }
}

variable "ray_head" {
  description = "Ray head pod size (requests = limits; shm_size is its memory-backed /dev/shm). The head runs the job drivers (planning, Delta commits, results tables) but no tasks (num-cpus 0); it is scheduled on the system pool."
  type = object({
    cpu      = optional(string, "2")
    memory   = optional(string, "8Gi")
    shm_size = optional(string, "2Gi")
  })
  default = {}
}

variable "ray_gpu_workers" {
  description = "The Ray `gpu` worker group (requests = limits): one pod per GPU node by default. The defaults fit a g5.xlarge/g6.xlarge (4 vCPU, 16 GiB) after system daemons; shm_size is the /dev/shm (memory-backed) size for Ray's object store."
  type = object({
    gpus         = optional(number, 1)
    cpu          = optional(string, "3")
    memory       = optional(string, "12Gi")
    shm_size     = optional(string, "4Gi")
    min_replicas = optional(number, 0)
    max_replicas = optional(number, 4)
  })
  default = {}

  validation {
    condition     = var.ray_gpu_workers.gpus >= 1 && var.ray_gpu_workers.min_replicas >= 0 && var.ray_gpu_workers.min_replicas <= var.ray_gpu_workers.max_replicas
    error_message = "ray_gpu_workers needs gpus >= 1 and 0 <= min_replicas <= max_replicas."
  }
}

variable "ray_cpu_workers" {
  description = "The Ray `cpu` worker group (requests = limits). The defaults fit an m6i.2xlarge (8 vCPU, 32 GiB) after system daemons."
  type = object({
    cpu          = optional(string, "7")
    memory       = optional(string, "26Gi")
    shm_size     = optional(string, "8Gi")
    min_replicas = optional(number, 0)
    max_replicas = optional(number, 4)
  })
  default = {}

  validation {
    condition     = var.ray_cpu_workers.min_replicas >= 0 && var.ray_cpu_workers.min_replicas <= var.ray_cpu_workers.max_replicas
    error_message = "ray_cpu_workers needs 0 <= min_replicas <= max_replicas."
  }
}

variable "ray_idle_timeout_seconds" {
  description = "Seconds a Ray worker may sit idle before the Ray autoscaler removes it (Cluster Autoscaler then removes the empty node)."
  type        = number
  default     = 300

  validation {
    condition     = var.ray_idle_timeout_seconds >= 30
    error_message = "ray_idle_timeout_seconds must be at least 30."
  }
}

variable "ray_head_internal_lb" {
  description = "Expose the Ray head service (dashboard/job API 8265, client 10001) through an internal AWS load balancer in the private subnets, reachable from var.ray_head_lb_source_ranges. false (default): ClusterIP only, reached with kubectl port-forward. The service is never internet-facing."
  type        = bool
  default     = false
}

variable "ray_head_lb_source_ranges" {
  description = "CIDRs allowed through the internal load balancer when var.ray_head_internal_lb is true. Empty: the VPC CIDR only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.ray_head_lb_source_ranges : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "ray_head_lb_source_ranges must be valid IPv4 CIDRs and must not contain 0.0.0.0/0."
  }
}

################################################################################
# Helm charts (versions pinned; repositories given by you)
################################################################################

variable "kuberay_namespace" {
  description = "Namespace of the KubeRay operator (kept apart from the Ray pods, as the KubeRay install guide recommends)."
  type        = string
  default     = "ray-system"
}

variable "kuberay_chart_version" {
  description = "Version of the KubeRay Helm charts (kuberay-operator and ray-cluster are released together under the same version, written without a leading v, e.g. 1.5.1)."
  type        = string
  default     = "1.5.1"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.kuberay_chart_version))
    error_message = "kuberay_chart_version must be an exact chart version such as 1.5.1 (no leading v, no range)."
  }
}

variable "kuberay_helm_repository" {
  description = "URL of the KubeRay Helm chart repository: the one in the KubeRay install guide (`helm repo add kuberay <url>`), or your internal mirror of it."
  type        = string
  default     = "https://ray-project.github.io/kuberay-helm/"

  validation {
    condition     = can(regex("^(https|oci)://", var.kuberay_helm_repository))
    error_message = "kuberay_helm_repository must be an https:// or oci:// URL."
  }
}

variable "nvidia_device_plugin_chart_version" {
  description = "Version of the NVIDIA device plugin Helm chart (nvidia-device-plugin). The EKS AL2023 NVIDIA AMI ships the driver and container toolkit but not the device plugin."
  type        = string
  default     = "0.17.4"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.nvidia_device_plugin_chart_version))
    error_message = "nvidia_device_plugin_chart_version must be an exact chart version such as 0.17.4."
  }
}

variable "nvidia_device_plugin_helm_repository" {
  description = "URL of the NVIDIA k8s-device-plugin Helm repository (`helm repo add nvdp <url>` in the EKS GPU guide), or your internal mirror of it."
  type        = string
  default     = "https://nvidia.github.io/k8s-device-plugin"

  validation {
    condition     = can(regex("^(https|oci)://", var.nvidia_device_plugin_helm_repository))
    error_message = "nvidia_device_plugin_helm_repository must be an https:// or oci:// URL."
  }
}

variable "cluster_autoscaler_chart_version" {
  description = "Version of the Kubernetes Cluster Autoscaler Helm chart (cluster-autoscaler)."
  type        = string
  default     = "9.43.2"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.cluster_autoscaler_chart_version))
    error_message = "cluster_autoscaler_chart_version must be an exact chart version such as 9.43.2."
  }
}

variable "cluster_autoscaler_image_tag" {
  description = "Cluster Autoscaler image tag. null: v<kubernetes_version>.0, the autoscaler minor that matches the cluster (as the autoscaler project requires)."
  type        = string
  default     = null

  validation {
    condition     = var.cluster_autoscaler_image_tag == null || can(regex("^v1\\.[0-9]+\\.[0-9]+$", var.cluster_autoscaler_image_tag))
    error_message = "cluster_autoscaler_image_tag must look like v1.33.0."
  }
}

variable "cluster_autoscaler_helm_repository" {
  description = "URL of the Kubernetes autoscaler Helm repository (the one in the cluster-autoscaler chart's README), or your internal mirror of it."
  type        = string
  default     = "https://kubernetes.github.io/autoscaler"

  validation {
    condition     = can(regex("^(https|oci)://", var.cluster_autoscaler_helm_repository))
    error_message = "cluster_autoscaler_helm_repository must be an https:// or oci:// URL."
  }
}
