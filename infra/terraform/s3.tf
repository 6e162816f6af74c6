# s3.tf: the data bucket, one per deployment, with one top-level prefix per kind of data:
#
#   corpus/       source talking-head videos and manifests (preprocess --corpus)
#   lake/         the Delta tables (clips, sequences, transcripts, errors, runs, ...; preprocess/train --lake)
#   checkpoints/  model checkpoints and Ray Train run storage (train --checkpoints, render --checkpoints)
#   videos/       rendered mp4s, results tables, galleries, and `_staging/` chunks while a render runs
#   campaigns/    render request tables (render --requests)
#
# SSE-KMS with a customer-managed key (rotation on, S3 Bucket Keys to cut KMS calls), all public access
# blocked, ACLs disabled (BucketOwnerEnforced), versioning on, TLS (1.2+) required, lifecycle rules for staging
# leftovers, incomplete multipart uploads and old versions. Delta commits use S3 conditional writes
# (PUT with If-None-Match), which need nothing beyond s3:PutObject: no DynamoDB lock table.

resource "aws_kms_key" "data" {
  description             = "SPACE data bucket (${var.name}) encryption key"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  # Account-scoped: the account's IAM policies decide who may use the key (the Ray pod role in iam.tf may
  # Encrypt/Decrypt/GenerateDataKey through S3 only). No wildcard principal.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountIAMPolicies"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

resource "aws_s3_bucket" "data" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a per-deployment disaster-recovery decision that doubles storage cost; versioning (30-day noncurrent window) covers accidental deletes and the lake can be rebuilt from corpus/. Add an aws_s3_bucket_replication_configuration where an RPO requires it.
  #checkov:skip=CKV2_AWS_62:Nothing consumes S3 event notifications here: jobs are submitted to Ray explicitly and Delta readers follow the table log, so a notification target would be unused infrastructure.
  bucket        = var.bucket_name
  bucket_prefix = var.bucket_name == null ? "${var.name}-data-" : null
  force_destroy = var.bucket_force_destroy
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket = aws_s3_bucket.data.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "data" {
  bucket = aws_s3_bucket.data.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "data_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.data.arn,
      "${aws_s3_bucket.data.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "DenyOutdatedTLS"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.data.arn,
      "${aws_s3_bucket.data.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "data" {
  bucket = aws_s3_bucket.data.id
  policy = data.aws_iam_policy_document.data_bucket.json

  # A bucket policy is refused while the public access block is being applied.
  depends_on = [aws_s3_bucket_public_access_block.data]
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.data.id

  # Render staging (`<out>/_staging/`): removed by the render job after each commit; this catches what a
  # crashed or cancelled run left behind.
  dynamic "rule" {
    for_each = toset(var.staging_prefixes)

    content {
      id     = "expire-${trimsuffix(replace(rule.value, "/", "-"), "-")}"
      status = "Enabled"

      filter {
        prefix = rule.value
      }

      expiration {
        days = var.staging_expiration_days
      }

      noncurrent_version_expiration {
        noncurrent_days = 1
      }
    }
  }

  rule {
    id     = "bucket-hygiene"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    # Delete markers whose versions have all expired.
    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.data]
}

resource "aws_s3_bucket_logging" "data" {
  count = var.access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.data.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${aws_s3_bucket.data.id}/"
}
