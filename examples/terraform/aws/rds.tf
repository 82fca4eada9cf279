# The catalog: PostgreSQL on RDS, in private subnets, encrypted, backed up, its master
# password generated and kept in Secrets Manager by RDS itself (never in Terraform's state).

resource "aws_db_subnet_group" "catalog" {
  name       = "${var.name}-catalog"
  subnet_ids = var.private_subnet_ids
  tags       = local.tags
}

resource "aws_security_group" "catalog" {
  name        = "${var.name}-catalog"
  description = "pubkit catalog: PostgreSQL from the pubkit servers only"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "catalog_from_clients" {
  for_each                     = toset(var.database_client_security_group_ids)
  security_group_id            = aws_security_group.catalog.id
  description                  = "PostgreSQL from ${each.value}"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_db_parameter_group" "catalog" {
  name   = "${var.name}-catalog-pg${var.db_engine_version}"
  family = "postgres${var.db_engine_version}"
  tags   = local.tags

  # Clients must use TLS (pubkit's catalog URL carries sslmode=verify-full).
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  # A statement the catalog never needs this long for is cut server-side too.
  parameter {
    name  = "statement_timeout"
    value = "30000"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
}

resource "aws_db_instance" "catalog" {
  # checkov:skip=CKV_AWS_161:pubkit connects with a password from Secrets Manager (PGPASSWORD); RDS IAM authentication tokens expire every 15 minutes and pubkit's connection pool does not refresh them.
  # checkov:skip=CKV2_AWS_30:Query logging is configured through the parameter group (log_min_duration_statement, log_statement=ddl), which this check does not follow.
  identifier     = "${var.name}-catalog"
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class
  db_name        = "pubkit"
  username       = "pubkit"
  port           = 5432

  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.catalog.name
  vpc_security_group_ids = [aws_security_group.catalog.id]
  parameter_group_name   = aws_db_parameter_group.catalog.name
  publicly_accessible    = false
  multi_az               = var.db_multi_az

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-catalog-final"

  auto_minor_version_upgrade      = true
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]
  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.kms_key_arn
  monitoring_interval             = 60
  monitoring_role_arn             = aws_iam_role.rds_monitoring.arn

  tags = local.tags
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

data "aws_partition" "current" {}
data "aws_region" "current" {}
