# iam.tf: workload identities through EKS Pod Identity (no static keys, no node-role sharing).
#
#   <namespace>/<service_account> (the Ray head and workers)  -> role scoped to the data bucket's prefixes and key
#   kube-system/ebs-csi-controller-sa                         -> the EBS CSI driver policy
#   kube-system/cluster-autoscaler                            -> the Cluster Autoscaler policy for this cluster
#
# The Ray policy, statement by statement:
#   - ListBucket only with an s3:prefix inside the data prefixes (Delta log listing, fsspec globbing, Ray Train
#     checkpoint discovery); no listing of the bucket root.
#   - Get/Put/Delete and multipart-upload cleanup on objects under the data prefixes only. Delta commits are
#     PUTs with If-None-Match (S3 conditional writes: s3:PutObject, nothing more); the render job deletes its
#     `_staging/` chunks and Delta vacuum deletes unreferenced files. No s3:* and no bucket-configuration rights.
#   - KMS Encrypt/Decrypt/GenerateDataKey on the bucket's key only, and only when called by S3 in this region.

data "aws_iam_policy_document" "ray_assume" {
  statement {
    sid     = "EksPodIdentity"
    effect  = "Allow"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }

    # Pod Identity sends these request (session) tags: the role is usable by this one service account of
    # this one cluster (the cluster ARN carries account and region) and by nothing else.
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/eks-cluster-arn"
      values   = [local.cluster_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-namespace"
      values   = [var.namespace]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-service-account"
      values   = [var.service_account]
    }
  }
}

data "aws_iam_policy_document" "ray_data" {
  statement {
    sid       = "ListDataPrefixes"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = flatten([for p in var.data_prefixes : [p, "${p}/*"]])
    }
  }

  statement {
    sid       = "BucketLocation"
    effect    = "Allow"
    actions   = ["s3:GetBucketLocation"]
    resources = [aws_s3_bucket.data.arn]
  }

  statement {
    sid    = "ReadWriteDataObjects"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    # "<prefix>/*" for the data; the bare "<prefix>" key too, so that an existence check (HEAD) on the folder
    # path itself gets a clean 404 instead of a 403.
    resources = flatten([for p in var.data_prefixes : ["${aws_s3_bucket.data.arn}/${p}", "${aws_s3_bucket.data.arn}/${p}/*"]])
  }

  statement {
    sid       = "DataKeyViaS3"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ray" {
  name_prefix          = "${var.name}-ray-pods-"
  description          = "SPACE Ray pods (${var.namespace}/${var.service_account} on ${local.cluster_name}): data bucket access"
  assume_role_policy   = data.aws_iam_policy_document.ray_assume.json
  max_session_duration = 3600
}

resource "aws_iam_policy" "ray_data" {
  name_prefix = "${var.name}-ray-data-"
  description = "SPACE Ray pods: list/read/write/delete under the data prefixes of ${aws_s3_bucket.data.id}, and its KMS key through S3"
  policy      = data.aws_iam_policy_document.ray_data.json
}

resource "aws_iam_role_policy_attachment" "ray_data" {
  role       = aws_iam_role.ray.name
  policy_arn = aws_iam_policy.ray_data.arn
}

resource "aws_eks_pod_identity_association" "ray" {
  cluster_name    = module.eks.cluster_name
  namespace       = var.namespace
  service_account = var.service_account
  role_arn        = aws_iam_role.ray.arn
}

# Add-on identities, from terraform-aws-modules/eks-pod-identity (1.x: the line for the AWS 5.x provider).

module "ebs_csi_pod_identity" {
  #checkov:skip=CKV_TF_1:Registry module pinned by a ~> version constraint (released, immutable module versions; the repo convention for terraform-aws-modules). Commit-hash pinning applies to git sources; switch to a git::...?ref=<sha> source if your supply-chain policy demands it.
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "~> 1.12"

  name = "${var.name}-ebs-csi"

  attach_aws_ebs_csi_policy = true

  associations = {
    controller = {
      cluster_name    = module.eks.cluster_name
      namespace       = "kube-system"
      service_account = "ebs-csi-controller-sa"
    }
  }

  tags = local.tags
}

module "cluster_autoscaler_pod_identity" {
  #checkov:skip=CKV_TF_1:Registry module pinned by a ~> version constraint (released, immutable module versions; the repo convention for terraform-aws-modules). Commit-hash pinning applies to git sources; switch to a git::...?ref=<sha> source if your supply-chain policy demands it.
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "~> 1.12"

  name = "${var.name}-autoscaler"

  attach_cluster_autoscaler_policy = true
  cluster_autoscaler_cluster_names = [module.eks.cluster_name]

  associations = {
    controller = {
      cluster_name    = module.eks.cluster_name
      namespace       = "kube-system"
      service_account = "cluster-autoscaler"
    }
  }

  tags = local.tags
}
