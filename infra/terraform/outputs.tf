# outputs.tf: what a user of the cluster needs: names, the bucket and its prefixes, the pod role, and the
# commands to get a kubeconfig and to reach the Ray job API.

output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "region" {
  description = "AWS region of the cluster and the bucket."
  value       = var.region
}

output "kubectl_config_command" {
  description = "Writes a kubeconfig context for the cluster (credentials from your AWS environment / SSO)."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.eks.cluster_name}"
}

output "bucket_name" {
  description = "The data bucket."
  value       = aws_s3_bucket.data.id
}

output "bucket_kms_key_arn" {
  description = "Customer-managed KMS key of the data bucket."
  value       = aws_kms_key.data.arn
}

output "corpus_uri" {
  description = "Source videos and manifests: preprocess --corpus."
  value       = "s3://${aws_s3_bucket.data.id}/corpus/"
}

output "lake_uri" {
  description = "Delta tables: preprocess/train --lake."
  value       = "s3://${aws_s3_bucket.data.id}/lake/"
}

output "checkpoints_uri" {
  description = "Checkpoints and Ray Train run storage: train/render --checkpoints."
  value       = "s3://${aws_s3_bucket.data.id}/checkpoints/"
}

output "videos_uri" {
  description = "Rendered videos, results and galleries: render --out (a campaign folder below it)."
  value       = "s3://${aws_s3_bucket.data.id}/videos/"
}

output "data_uris" {
  description = "Every data prefix the Ray pods may use, by name."
  value       = { for p in var.data_prefixes : p => "s3://${aws_s3_bucket.data.id}/${p}/" }
}

output "ray_pod_role_arn" {
  description = "IAM role the Ray pods get through EKS Pod Identity (bucket prefixes and its KMS key only)."
  value       = aws_iam_role.ray.arn
}

output "ray_namespace" {
  description = "Namespace of the RayCluster."
  value       = var.namespace
}

output "ray_service_account" {
  description = "Service account of the Ray pods (associated with ray_pod_role_arn)."
  value       = var.service_account
}

output "ray_image" {
  description = "Image of the Ray head and workers."
  value       = var.ray_image
}

output "ray_cluster_name" {
  description = "Name of the RayCluster resource (kubectl -n <namespace> get raycluster <name>)."
  value       = var.ray_cluster_name
}

output "ray_head_service" {
  description = "Ray head service (ports 8265 dashboard/job API, 10001 client, 6379 GCS)."
  value       = local.ray_head_service
}

output "ray_auth_secret" {
  description = "Secret (key auth_token) holding the Ray token that clients must send."
  value       = local.ray_auth_secret
}

output "ray_dashboard_port_forward_command" {
  description = "Forwards the dashboard / job API to 127.0.0.1:8265 (keep it running)."
  value       = "kubectl -n ${var.namespace} port-forward svc/${local.ray_head_service} 8265:8265"
}

output "ray_address" {
  description = "RAY_ADDRESS for `ray job submit` while the port-forward runs."
  value       = "http://127.0.0.1:8265"
}

output "ray_job_submit_example" {
  description = "How to submit a job from a checkout of the repository, with the port-forward running."
  value       = <<-EOT
    export RAY_ADDRESS=http://127.0.0.1:8265
    export RAY_AUTH_MODE=token
    export RAY_AUTH_TOKEN="$(kubectl -n ${var.namespace} get secret ${local.ray_auth_secret} -o jsonpath='{.data.auth_token}' | base64 -d)"
    ray job submit --working-dir . -- python jobs/preprocess.py --corpus s3://${aws_s3_bucket.data.id}/corpus/ --lake s3://${aws_s3_bucket.data.id}/lake/
  EOT
}
