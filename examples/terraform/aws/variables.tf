# Inputs of the pubkit module. Every value is checked here, at plan time, so that a typo
# fails before anything is created.

variable "name" {
  description = "Prefix of every resource name (IAM role, database, security group)."
  type        = string
  default     = "pubkit"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "bucket_name" {
  description = "Name of the S3 bucket that holds the packages (the index's source of truth)."
  type        = string

  validation {
    condition = (
      can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
      && !can(regex("\\.\\.|^\\d+\\.\\d+\\.\\d+\\.\\d+$|^xn--|-s3alias$", var.bucket_name))
    )
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens."
  }
}

variable "storage_prefix" {
  description = "Key prefix of pubkit's objects inside the bucket (no leading or trailing slash)."
  type        = string
  default     = "pypi"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$", var.storage_prefix))
    error_message = "storage_prefix must be path segments of letters, digits, '.', '_' and '-', without leading or trailing '/'."
  }
}

variable "backup_prefix" {
  description = "Key prefix of the nightly `pubkit index export` objects (users, roles, tokens as hashes), beside the packages."
  type        = string
  default     = "backups"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$", var.backup_prefix))
    error_message = "backup_prefix must be path segments of letters, digits, '.', '_' and '-', without leading or trailing '/'."
  }
}

variable "backup_retention_days" {
  description = "Days an export under backup_prefix is kept."
  type        = number
  default     = 90

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 3650 && floor(var.backup_retention_days) == var.backup_retention_days
    error_message = "backup_retention_days must be a whole number of days from 1 to 3650."
  }
}

variable "kms_key_arn" {
  description = "ARN of a customer-managed KMS key for the bucket and the database; null uses AWS-managed keys."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/UUID) or null."
  }
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object's previous version is kept before it expires."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_days >= 1 && var.noncurrent_version_days <= 3650 && floor(var.noncurrent_version_days) == var.noncurrent_version_days
    error_message = "noncurrent_version_days must be a whole number of days from 1 to 3650."
  }
}

variable "server_identity" {
  description = "How the pubkit server signs in to AWS: \"irsa\" (an IAM role for its Kubernetes service account) or \"iam-user\" (an IAM user with an access key, for servers outside EKS)."
  type        = string
  default     = "irsa"

  validation {
    condition     = contains(["irsa", "iam-user"], var.server_identity)
    error_message = "server_identity must be \"irsa\" or \"iam-user\"."
  }
}

variable "oidc_provider_arn" {
  description = "With server_identity = \"irsa\": the ARN of the EKS cluster's IAM OIDC provider."
  type        = string
  default     = null

  validation {
    condition     = var.oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/.+$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be an IAM OIDC provider ARN (arn:aws:iam::ACCOUNT:oidc-provider/...)."
  }
}

variable "kubernetes_namespace" {
  description = "Namespace of pubkit's service account (examples/kubernetes uses \"pubkit\")."
  type        = string
  default     = "pubkit"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.kubernetes_namespace))
    error_message = "kubernetes_namespace must be a DNS-1123 label."
  }
}

variable "kubernetes_service_account" {
  description = "Name of pubkit's Kubernetes service account."
  type        = string
  default     = "pubkit"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.kubernetes_service_account))
    error_message = "kubernetes_service_account must be a DNS-1123 subdomain."
  }
}

variable "admin_principal_arns" {
  description = "IAM principals (roles, users) besides the server that may read and write the bucket's objects, such as a break-glass admin role; everyone else is denied by the bucket policy."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.admin_principal_arns : can(regex("^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:.+$", arn))])
    error_message = "admin_principal_arns must be IAM or STS principal ARNs."
  }
}

variable "vpc_id" {
  description = "VPC of the database (and of the cluster that runs pubkit)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must be a VPC id (vpc-...)."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets for the database, in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2 && alltrue([for id in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    error_message = "private_subnet_ids must list at least two subnet ids (subnet-...)."
  }
}

variable "database_client_security_group_ids" {
  description = "Security groups whose members may connect to the database on 5432: the EKS nodes' or pods' groups."
  type        = list(string)

  validation {
    condition     = length(var.database_client_security_group_ids) >= 1 && alltrue([for id in var.database_client_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", id))])
    error_message = "database_client_security_group_ids must list at least one security group id (sg-...)."
  }
}

variable "db_instance_class" {
  description = "RDS instance class. pubkit's catalog is small (a row per file): a burstable class is enough."
  type        = string
  default     = "db.t4g.small"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must look like db.t4g.small."
  }
}

variable "db_engine_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"

  validation {
    condition     = contains(["14", "15", "16", "17"], var.db_engine_version)
    error_message = "db_engine_version must be a PostgreSQL major version pubkit is tested with: 14, 15, 16 or 17."
  }
}

variable "db_allocated_storage_gb" {
  description = "Initial database storage in GiB (it grows automatically up to db_max_allocated_storage_gb)."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage_gb >= 20 && var.db_allocated_storage_gb <= 65536
    error_message = "db_allocated_storage_gb must be from 20 to 65536."
  }
}

variable "db_max_allocated_storage_gb" {
  description = "Upper bound of storage autoscaling in GiB."
  type        = number
  default     = 100

  validation {
    condition     = var.db_max_allocated_storage_gb >= 20 && var.db_max_allocated_storage_gb <= 65536
    error_message = "db_max_allocated_storage_gb must be from 20 to 65536."
  }
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups (point-in-time recovery)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be from 1 to 35 (0 would turn backups off)."
  }
}

variable "db_multi_az" {
  description = "Run the database with a standby in a second availability zone."
  type        = bool
  default     = true
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (turn off deliberately before a destroy)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
