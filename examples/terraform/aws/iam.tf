# The one principal that may use the bucket: the pubkit server, as an IAM role for its
# Kubernetes service account (IRSA) or as an IAM user.

# Exactly the S3 calls pubkit's storage makes (pubkit/server/storage/s3.py), and no others:
#   ListBucket           list_objects_v2 (rebuild, verify, mirror, /ready) and head_bucket
#   GetObject            get_object, head_object, presigned downloads (--download-mode redirect)
#   PutObject            put_object (If-None-Match create-if-absent), multipart uploads
#   AbortMultipartUpload cleaning up a multipart upload that failed
#   DeleteObject         deleting a release, removing what a refused upload left
# and, under the backup prefix, PutObject and GetObject for `pubkit index export|import
# s3://…` (the nightly CronJob of examples/kubernetes).
# tests/deploy/test_terraform.py creates this policy in moto with IAM enforcement and runs
# pubkit with it; removing any one action makes one of those runs fail.
data "aws_iam_policy_document" "server" {
  statement {
    sid       = "ListPackages"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
  }

  statement {
    sid    = "ReadWritePackages"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:AbortMultipartUpload",
      "s3:DeleteObject",
    ]
    resources = [local.objects_arn]
  }

  statement {
    sid       = "ExportAndRestoreAccess"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = [local.backups_arn]
  }

  dynamic "statement" {
    for_each = local.kms_enabled ? [var.kms_key_arn] : []
    content {
      sid       = "UseThePackagesKey"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_policy" "server" {
  name        = "${var.name}-server"
  description = "pubkit server: its objects in s3://${var.bucket_name}/${var.storage_prefix}/"
  policy      = data.aws_iam_policy_document.server.json
  tags        = local.tags
}

# -- IRSA: an IAM role that only pubkit's service account can assume --------------------

locals {
  oidc_issuer          = var.oidc_provider_arn == null ? "" : element(split("oidc-provider/", var.oidc_provider_arn), 1)
  server_principal_arn = var.server_identity == "irsa" ? aws_iam_role.server[0].arn : aws_iam_user.server[0].arn
}

data "aws_iam_policy_document" "assume_from_service_account" {
  count = var.server_identity == "irsa" ? 1 : 0

  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.kubernetes_namespace}:${var.kubernetes_service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "server" {
  count              = var.server_identity == "irsa" ? 1 : 0
  name               = "${var.name}-server"
  assume_role_policy = data.aws_iam_policy_document.assume_from_service_account[0].json
  tags               = local.tags

  lifecycle {
    precondition {
      condition     = var.oidc_provider_arn != null
      error_message = "server_identity = \"irsa\" needs oidc_provider_arn (the EKS cluster's IAM OIDC provider)."
    }
  }
}

resource "aws_iam_role_policy_attachment" "server" {
  count      = var.server_identity == "irsa" ? 1 : 0
  role       = aws_iam_role.server[0].name
  policy_arn = aws_iam_policy.server.arn
}

# -- An IAM user, for a server outside EKS ------------------------------------------------

resource "aws_iam_user" "server" {
  # checkov:skip=CKV_AWS_273:An IAM user is what server_identity = "iam-user" asks for: a server outside AWS's identity federation (no IRSA, no instance role) needs long-lived keys; the default is IRSA.
  count = var.server_identity == "iam-user" ? 1 : 0
  name  = "${var.name}-server"
  tags  = local.tags
}

resource "aws_iam_group" "server" {
  count = var.server_identity == "iam-user" ? 1 : 0
  name  = "${var.name}-server"
}

resource "aws_iam_user_group_membership" "server" {
  count  = var.server_identity == "iam-user" ? 1 : 0
  user   = aws_iam_user.server[0].name
  groups = [aws_iam_group.server[0].name]
}

resource "aws_iam_group_policy_attachment" "server" {
  count      = var.server_identity == "iam-user" ? 1 : 0
  group      = aws_iam_group.server[0].name
  policy_arn = aws_iam_policy.server.arn
}

resource "aws_iam_access_key" "server" {
  count = var.server_identity == "iam-user" ? 1 : 0
  user  = aws_iam_user.server[0].name
}
