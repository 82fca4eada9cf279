# The values pubkit is configured with: PUBKIT_STORAGE and PUBKIT_CATALOG, exactly.

output "pubkit_storage" {
  description = "PUBKIT_STORAGE for the server (the bucket's default encryption applies to every object)."
  value = format(
    "s3://%s/%s?region=%s%s",
    aws_s3_bucket.packages.bucket,
    var.storage_prefix,
    data.aws_region.current.name,
    local.kms_enabled ? "&sse=aws:kms&kms_key_id=${var.kms_key_arn}" : "",
  )
}

output "pubkit_catalog" {
  description = "PUBKIT_CATALOG for the server; the password comes from PGPASSWORD (see catalog_password_secret_arn)."
  value = format(
    "postgresql://%s@%s:%d/%s?sslmode=verify-full&sslrootcert=system",
    aws_db_instance.catalog.username,
    aws_db_instance.catalog.address,
    aws_db_instance.catalog.port,
    aws_db_instance.catalog.db_name,
  )
}

output "catalog_password_secret_arn" {
  description = "Secrets Manager secret (JSON with \"username\" and \"password\") that RDS keeps the catalog's password in; put its password into PGPASSWORD (External Secrets, the CSI driver)."
  value       = aws_db_instance.catalog.master_user_secret[0].secret_arn
}

output "server_role_arn" {
  description = "With server_identity = \"irsa\": annotate pubkit's service account with eks.amazonaws.com/role-arn = this."
  value       = var.server_identity == "irsa" ? aws_iam_role.server[0].arn : null
}

output "server_access_key_id" {
  description = "With server_identity = \"iam-user\": AWS_ACCESS_KEY_ID for the server."
  value       = var.server_identity == "iam-user" ? aws_iam_access_key.server[0].id : null
}

output "server_secret_access_key" {
  description = "With server_identity = \"iam-user\": AWS_SECRET_ACCESS_KEY for the server (sensitive: it is in the state too)."
  value       = var.server_identity == "iam-user" ? aws_iam_access_key.server[0].secret : null
  sensitive   = true
}

output "server_policy_json" {
  description = "The IAM policy the server holds (the S3 actions pubkit uses, nothing else)."
  value       = data.aws_iam_policy_document.server.json
}
