"""A thin boto3 wrapper for Acme's services: JSON documents in S3, configured from settings."""

from importlib.metadata import version

from acme_aws.s3 import AwsSettings, ObjectNotFoundError, S3JsonStore, boto_config, s3_client

__version__ = version("acme-aws")

__all__ = [
    "AwsSettings",
    "ObjectNotFoundError",
    "S3JsonStore",
    "__version__",
    "boto_config",
    "s3_client",
]
