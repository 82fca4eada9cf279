# The bucket: pubkit's source of truth (package files, metadata, sidecars, access log).

locals {
  bucket_arn  = aws_s3_bucket.packages.arn
  objects_arn = "${aws_s3_bucket.packages.arn}/${var.storage_prefix}/*"
  backups_arn = "${aws_s3_bucket.packages.arn}/${var.backup_prefix}/*"
  kms_enabled = var.kms_key_arn != null
  tags        = merge({ "app.kubernetes.io/name" = "pubkit", "managed-by" = "terraform" }, var.tags)
}

resource "aws_s3_bucket" "packages" {
  # checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice of the team (a second region's bucket and a replication role), not something this module can decide; versioning and the export CronJob cover lost objects.
  # checkov:skip=CKV_AWS_18:Server access logging needs a separate log bucket the team owns; CloudTrail data events are the usual audit of object access. pubkit itself logs every request.
  # checkov:skip=CKV2_AWS_62:pubkit does not consume S3 event notifications; nothing would receive them.
  bucket = var.bucket_name
  tags   = local.tags
}

resource "aws_s3_bucket_ownership_controls" "packages" {
  bucket = aws_s3_bucket.packages.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "packages" {
  bucket                  = aws_s3_bucket.packages.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "packages" {
  bucket = aws_s3_bucket.packages.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "packages" {
  bucket = aws_s3_bucket.packages.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "packages" {
  bucket = aws_s3_bucket.packages.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }

  rule {
    id     = "expire-old-exports"
    status = "Enabled"
    filter {
      prefix = "${var.backup_prefix}/"
    }
    expiration {
      days = var.backup_retention_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.packages]
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
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
    sid       = "DenyObjectAccessToOthers"
    effect    = "Deny"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.bucket_arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotLike"
      variable = "aws:PrincipalArn"
      values   = concat([local.server_principal_arn], var.admin_principal_arns)
    }
  }
}

resource "aws_s3_bucket_policy" "packages" {
  bucket = aws_s3_bucket.packages.id
  policy = data.aws_iam_policy_document.bucket.json

  depends_on = [aws_s3_bucket_public_access_block.packages]
}
