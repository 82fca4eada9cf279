"""Where a migration reads: a pypiserver package directory or a pypicloud S3 bucket (I/O)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from pubkit.errors import StorageError, UsageError
from pubkit.server.migrate.layouts import Candidate, Skip, pypicloud_entry, pypiserver_entry

CHUNK = 1024 * 1024
_GONE = {"404", "NoSuchKey", "NotFound"}


class Source(Protocol):
    """The files of an old index, in a stable order, and their bytes."""

    description: str

    def entries(self) -> Iterator[Candidate | Skip]: ...

    def copy(self, candidate: Candidate, write: Callable[[bytes], object]) -> None:
        """Pass the candidate's bytes to ``write``; StorageError when they cannot be read."""
        ...


class DirectorySource:
    """A pypiserver package directory (flat or one subdirectory per project)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise UsageError(f"{root} is not a directory; pass pypiserver's package directory")
        self.root = root
        self.description = str(root.resolve())

    def entries(self) -> Iterator[Candidate | Skip]:
        for directory, dirs, files in os.walk(self.root):
            base = Path(directory).relative_to(self.root)
            dirs.sort()
            for name in [name for name in dirs if name.startswith(".")]:
                dirs.remove(name)  # pypiserver never looks inside: neither do we
                yield Skip((base / name).as_posix() + "/", "a hidden directory, which pypiserver"
                           " does not serve")  # fmt: skip
            for name in sorted(files):
                path = Path(directory, name)
                try:
                    size: int | None = path.stat().st_size
                except OSError:
                    size = None
                yield pypiserver_entry((base / name).as_posix(), size)

    def copy(self, candidate: Candidate, write: Callable[[bytes], object]) -> None:
        try:
            with (self.root / candidate.location).open("rb") as stream:
                for chunk in iter(lambda: stream.read(CHUNK), b""):
                    write(chunk)
        except OSError as error:
            raise StorageError(
                f"could not read {candidate.location} in {self.root}: {error.strerror}"
            ) from error


class BucketSource:
    """pypicloud's S3 storage: the objects under a prefix, each with its user metadata."""

    def __init__(self, url: str) -> None:
        from pubkit.server.storage.s3 import S3Storage

        self.storage = S3Storage.from_url(url)
        self.description = f"s3://{self.storage.bucket}/{self.storage.prefix}"

    def entries(self) -> Iterator[Candidate | Skip]:
        from botocore.exceptions import BotoCoreError, ClientError

        storage, prefix = self.storage, self.storage.prefix
        paginator = storage.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=storage.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = item["Key"][len(prefix) :]
                    # list_objects does not carry user metadata: one HEAD per object, as
                    # pypicloud's own listing does.
                    try:
                        head = storage.client.head_object(Bucket=storage.bucket, Key=item["Key"])
                    except ClientError as error:
                        if str(error.response.get("Error", {}).get("Code")) not in _GONE:
                            raise
                        yield Skip(key, "deleted from the bucket while the migration ran")
                        continue
                    metadata = {k.lower(): v for k, v in head.get("Metadata", {}).items()}
                    yield pypicloud_entry(key, metadata, int(item["Size"]), item.get("ETag"))
        except (BotoCoreError, ClientError) as error:
            raise storage._error("list", "the objects", error) from error

    def copy(self, candidate: Candidate, write: Callable[[bytes], object]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        storage = self.storage
        try:
            body = storage.client.get_object(
                Bucket=storage.bucket, Key=storage.prefix + candidate.location
            )["Body"]
            try:
                for chunk in iter(lambda: body.read(CHUNK), b""):
                    write(chunk)
            finally:
                body.close()
        except (BotoCoreError, ClientError) as error:
            raise storage._error("read", candidate.location, error) from error
