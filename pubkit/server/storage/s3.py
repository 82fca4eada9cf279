"""Storage in an S3 bucket (or an S3-compatible service: MinIO, Ceph) under a key prefix.

- Create-if-absent is S3's conditional write (``If-None-Match: *``), on a single PUT for
  small files and on the completion of a multipart upload for large ones: two replicas
  storing the same key agree on one object, and a reader never sees part of one.
- Files stream both ways in parts: nothing holds a whole distribution in memory.
- Credentials come from the standard AWS chain only (environment, profile, instance or pod
  role); the endpoint from boto3's own ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``.
- Options in the URL's query: ``s3://bucket/prefix?addressing=path&sse=aws:kms&kms_key_id=…
  &retry_mode=adaptive&region=eu-west-1&max_attempts=2&connect_timeout=3&read_timeout=10``;
  the last three bound every call and are the defaults (timeouts in seconds).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import parse_qs, urlsplit

from pubkit.errors import ConfigurationError, NotFoundError, StorageError
from pubkit.server.storage.base import StoredObject, check_key

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
MAX_ATTEMPTS = 2
PART_SIZE = 8 * 1024 * 1024  # S3's minimum part is 5 MiB; 8 MiB is what boto3's transfers use
_OPTIONS = {"addressing", "sse", "kms_key_id", "retry_mode", "max_attempts", "region",
            "connect_timeout", "read_timeout"}  # fmt: skip
_MISSING = {"404", "NoSuchKey", "NotFound"}
_PRECONDITION = {"412", "PreconditionFailed", "ConditionalRequestConflict", "409"}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Storage:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: Any = None,
        *,
        sse: str | None = None,
        kms_key_id: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client
        self._extra: dict[str, str] = {}
        if sse:
            self._extra["ServerSideEncryption"] = sse
        if kms_key_id:
            self._extra["SSEKMSKeyId"] = kms_key_id

    @classmethod
    def from_url(cls, url: str) -> S3Storage:
        """``s3://bucket/prefix?options``; see the module docstring for the options."""
        parts = urlsplit(url)
        if not parts.hostname:
            raise ConfigurationError(f"storage {url!r} names no bucket; use s3://BUCKET/PREFIX")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - _OPTIONS)
        if unknown:
            raise ConfigurationError(
                f"storage URL option(s) {', '.join(unknown)} are unknown; known:"
                f" {', '.join(sorted(_OPTIONS))}"
            )
        return cls(parts.netloc, parts.path, _client(query), sse=query.get("sse"),
                   kms_key_id=query.get("kms_key_id"))  # fmt: skip

    def __repr__(self) -> str:
        return f"S3Storage(s3://{self.bucket}/{self.prefix})"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _error(self, verb: str, key: str, error: Exception) -> StorageError:
        where = f"s3://{self.bucket}/{self.prefix}"
        return StorageError(f"could not {verb} {key} in {where}: {self._reason(error)}")

    def _reason(self, error: Exception) -> str:
        from botocore.exceptions import ClientError

        if not isinstance(error, ClientError):
            return f"{type(error).__name__}: the S3 endpoint could not be reached; retry"
        code = _code(error)
        if code == "NoSuchBucket":
            return f"the bucket {self.bucket} does not exist; create it or fix the storage URL"
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return (f"access to s3://{self.bucket} was denied ({code}); check the credentials"
                    " and the bucket policy")  # fmt: skip
        if code in ("PermanentRedirect", "301", "AuthorizationHeaderMalformed"):
            headers = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            region = headers.get("x-amz-bucket-region") or "its region"
            return f"the bucket {self.bucket} is in another region; set AWS_REGION to {region}"
        return f"S3 answered {code or 'an error'}; retry, or check the bucket"

    def put_new(self, key: str, source: Path) -> bool:
        return self._put(key, source, conditional=True)

    def replace(self, key: str, source: Path) -> None:
        self._put(key, source, conditional=False)

    def _put(self, key: str, source: Path, conditional: bool) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        target = self._key(key)
        condition = {"IfNoneMatch": "*"} if conditional else {}
        try:
            size = source.stat().st_size
            if size <= PART_SIZE:
                with source.open("rb") as body:
                    self.client.put_object(Bucket=self.bucket, Key=target, Body=body,
                                           **condition, **self._extra)  # fmt: skip
            else:
                self._put_multipart(target, source, condition)
        except ClientError as error:
            if conditional and _code(error) in _PRECONDITION:
                return False
            raise self._error("store", key, error) from error
        except (BotoCoreError, OSError) as error:
            raise self._error("store", key, error) from error
        return True

    def _put_multipart(self, target: str, source: Path, condition: dict[str, str]) -> None:
        """Parts of PART_SIZE read one at a time; completed only if the key is still absent,
        aborted on any failure so no invisible parts are left to pay for."""
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=target,
                                                     **self._extra)  # fmt: skip
        upload_id = upload["UploadId"]
        try:
            parts = []
            with source.open("rb") as stream:
                for number, chunk in enumerate(iter(lambda: stream.read(PART_SIZE), b""), 1):
                    done = self.client.upload_part(Bucket=self.bucket, Key=target,
                                                   UploadId=upload_id, PartNumber=number,
                                                   Body=chunk)  # fmt: skip
                    parts.append({"PartNumber": number, "ETag": done["ETag"]})
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=target, UploadId=upload_id,
                MultipartUpload={"Parts": parts}, **condition,
            )  # fmt: skip
        except BaseException:
            # The first failure is the one to report; an abort that fails too leaves parts
            # that the bucket's lifecycle rule for incomplete uploads removes.
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=target,
                                                   UploadId=upload_id)  # fmt: skip
            raise

    def put_bytes(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                   **self._extra)  # fmt: skip
        except (BotoCoreError, ClientError) as error:
            raise self._error("store", key, error) from error

    def _get(self, key: str) -> Mapping[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return cast("Mapping[str, Any]",
                        self.client.get_object(Bucket=self.bucket, Key=self._key(key)))
        except ClientError as error:
            if _code(error) in _MISSING:
                raise NotFoundError(f"{key} is not in storage") from None
            raise self._error("read", key, error) from error
        except BotoCoreError as error:
            raise self._error("read", key, error) from error

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as body:
            return body.read()

    def open(self, key: str) -> BinaryIO:
        return cast("BinaryIO", _Body(self._get(key)["Body"], lambda error: self._error(
            "read", key, error)))  # fmt: skip

    def size(self, key: str) -> int | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _code(error) in _MISSING:
                return None
            raise self._error("read", key, error) from error
        except BotoCoreError as error:
            raise self._error("read", key, error) from error
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as error:
            raise self._error("delete", key, error) from error

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    yield StoredObject(item["Key"][len(self.prefix):], int(item["Size"]),
                                       item.get("LastModified"))  # fmt: skip
        except (BotoCoreError, ClientError) as error:
            raise self._error("list", prefix or "the objects", error) from error

    def check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        # One listing of at most one key: it needs only s3:ListBucket (which HeadBucket needs
        # too, in one more request) and tells a missing bucket (NoSuchBucket) from a denial.
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except ClientError as error:
            raise self._error("reach", "the bucket", error) from error
        except BotoCoreError as error:
            raise self._error("reach", "the bucket", error) from error

    def local_path(self, key: str) -> Path | None:
        return None

    def presigned_url(self, key: str, expires: int) -> str:
        """A GET URL for ``key`` valid ``expires`` seconds. Signing is local: no request.

        S3 answers it with an immutable Cache-Control, as the server does for its files."""
        params = {"Bucket": self.bucket, "Key": self._key(key),
                  "ResponseCacheControl": "public, max-age=31536000, immutable"}  # fmt: skip
        return cast("str", self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires))  # fmt: skip


class _Body:
    """An object's streamed body whose failures (a reset, a read timeout) are StorageErrors."""

    def __init__(self, body: Any, error: Callable[[Exception], StorageError]) -> None:
        self._body = body
        self._error = error

    def read(self, size: int = -1) -> bytes:
        from botocore.exceptions import BotoCoreError

        try:
            return cast("bytes", self._body.read(size if size >= 0 else None))
        except (BotoCoreError, OSError) as error:
            raise self._error(error) from error

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _client(query: Mapping[str, str]) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigurationError(
            "S3 storage needs boto3: pip install 'pubkit[s3]'"
        ) from None
    addressing = query.get("addressing", "auto")
    if addressing not in ("auto", "path", "virtual"):
        raise ConfigurationError(f"addressing={addressing!r}: use auto, path or virtual")
    retry_mode = query.get("retry_mode", "standard")
    if retry_mode not in ("standard", "adaptive", "legacy"):
        raise ConfigurationError(f"retry_mode={retry_mode!r}: use standard or adaptive")
    try:
        # A stalled S3 call holds a request no longer than (connect + read) x attempts, plus
        # the retry's backoff: 2 x (3 + 10) s by default. A healthy S3 answers within
        # hundreds of milliseconds; a bucket that takes longer is better reported than
        # waited on, and the client retries the whole request anyway.
        attempts = int(query.get("max_attempts", str(MAX_ATTEMPTS)))
        connect_timeout = float(query.get("connect_timeout", str(CONNECT_TIMEOUT)))
        read_timeout = float(query.get("read_timeout", str(READ_TIMEOUT)))
    except ValueError:
        raise ConfigurationError(
            "max_attempts, connect_timeout and read_timeout must be numbers"
        ) from None
    config = Config(
        retries={"mode": retry_mode, "max_attempts": attempts},
        s3={"addressing_style": addressing},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    # The endpoint (MinIO, Ceph, moto) comes from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, which
    # boto3 reads itself; credentials from the standard chain.
    return boto3.session.Session().client("s3", region_name=query.get("region"), config=config)
