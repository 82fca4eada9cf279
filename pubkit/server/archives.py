"""Read the core metadata out of a wheel or an sdist without trusting the archive.

Bounded everywhere: member sizes, the number of members, and the bytes decompressed while
looking, so a zip or tar bomb costs a bounded amount of work and is refused.
"""

from __future__ import annotations

import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from packaging.metadata import InvalidMetadata, parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from pubkit.core.distributions import (
    DistributionFilename,
    is_valid_project_name,
    normalize_name,
)
from pubkit.errors import InvalidDistributionError

MAX_METADATA_SIZE = 4 * 1024 * 1024
MAX_MEMBERS = 50_000
# A wheel's central directory: 46 bytes and a name per member; the largest wheels have a few
# MiB of it. Larger is refused before it is read (zipfile would read and parse it whole).
MAX_DIRECTORY_SIZE = 16 * 1024 * 1024
# An sdist may be scanned to its end (some backends write PKG-INFO last); never decompress more
# than this many times its compressed size, with a floor for small archives.
MAX_EXPANSION_RATIO = 40
MIN_EXPANSION_BUDGET = 64 * 1024 * 1024
_ZIP_ENCRYPTED = 0x1  # general purpose flag bit 0


@dataclass(frozen=True)
class CoreMetadata:
    raw: bytes
    name: str
    version: str
    metadata_version: str
    requires_python: str | None
    summary: str | None
    # The normalized names of the projects its Requires-Dist names (any extra or marker).
    requires: tuple[str, ...] = ()


def read_core_metadata(path: Path, parsed: DistributionFilename) -> CoreMetadata:
    """Extract and check the metadata of the distribution at ``path`` named ``parsed``."""
    if parsed.is_wheel:
        raw = _read_wheel_metadata(path, parsed)
    else:
        raw = _read_sdist_metadata(path, parsed)
    metadata = parse_core_metadata(raw)
    if not is_valid_project_name(metadata.name):
        raise InvalidDistributionError(
            f"the metadata's Name {metadata.name[:80]!r} is not a valid project name: ASCII"
            " letters, digits and . _ - (starting and ending with a letter or digit)"
        )
    if normalize_name(metadata.name) != parsed.project:
        raise InvalidDistributionError(
            f"the filename says project {parsed.project!r} but the metadata inside says"
            f" {metadata.name!r}; rebuild the distribution"
        )
    if str(Version(metadata.version)) != str(parsed.version):
        raise InvalidDistributionError(
            f"the filename says version {parsed.version} but the metadata inside says"
            f" {metadata.version}; rebuild the distribution"
        )
    return metadata


def parse_core_metadata(raw: bytes) -> CoreMetadata:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidDistributionError(
            "the core metadata is not valid UTF-8; rebuild with a current build backend"
        ) from None
    try:
        fields, _unparsed = parse_email(text)
    except (InvalidMetadata, ValueError) as error:
        raise InvalidDistributionError(f"the core metadata cannot be parsed: {error}") from None
    for required in ("metadata_version", "name", "version"):
        if not fields.get(required):
            header = required.replace("_", "-").title()
            raise InvalidDistributionError(f"the core metadata has no {header} field")
    name = str(fields["name"])
    version = str(fields["version"])
    try:
        Version(version)
    except InvalidVersion:
        raise InvalidDistributionError(
            f"the core metadata's Version {version!r} is not a valid PEP 440 version"
        ) from None
    requires_python = fields.get("requires_python")
    if requires_python is not None:
        try:
            SpecifierSet(str(requires_python))
        except InvalidSpecifier:
            raise InvalidDistributionError(
                f"Requires-Python {requires_python!r} is not a valid version specifier"
            ) from None
    summary = fields.get("summary")
    return CoreMetadata(
        raw=raw,
        name=name,
        version=version,
        metadata_version=str(fields["metadata_version"]),
        requires_python=str(requires_python) if requires_python is not None else None,
        summary=str(summary) if summary is not None else None,
        requires=required_projects(fields.get("requires_dist") or []),
    )


def required_projects(requirements: list[str]) -> tuple[str, ...]:
    """The normalized project names of Requires-Dist values; unparsable ones are skipped."""
    names = set()
    for line in requirements:
        try:
            names.add(normalize_name(Requirement(str(line)).name))
        except InvalidRequirement:
            continue
    return tuple(sorted(names))


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ENTRY = struct.Struct("<4s24xHHH12x")  # a central directory entry: name, extra, comment sizes


def check_zip_directory(file: BinaryIO) -> int:
    """Refuse a zip whose central directory is over the limits, from its end records alone
    and then a count of its entries, before ``zipfile`` loads it; the number of members.

    The end-of-central-directory record (and its zip64 form) says how many entries and how
    many bytes the directory holds; both are checked first. The count is a claim, and
    zipfile parses the directory's bytes to their end whatever it says, so the entries are
    then counted as zipfile would walk them, without building anything."""
    size = file.seek(0, 2)
    tail_size = min(size, _EOCD.size + 0xFFFF)  # the record, then a comment of up to 64 KiB
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    found = tail.rfind(b"PK\x05\x06", 0, max(0, len(tail) - _EOCD.size + 4))
    if found < 0:
        raise InvalidDistributionError("the wheel is not a valid zip archive: it has no end record")
    end_at = size - tail_size + found
    _sig, _disk, _cd_disk, _here, count, directory_size, _at, _comment = _EOCD.unpack_from(
        tail, found
    )
    directory_end = end_at
    # As zipfile does: a zip64 locator just before the record, if there is one, has the say.
    file.seek(max(0, end_at - _ZIP64_LOCATOR.size))
    locator = file.read(_ZIP64_LOCATOR.size)
    if end_at >= _ZIP64_LOCATOR.size and locator[:4] == b"PK\x06\x07":
        _lsig, _ldisk, record_at, _disks = _ZIP64_LOCATOR.unpack(locator)
        file.seek(record_at)
        record = file.read(_ZIP64_EOCD.size)
        if len(record) < _ZIP64_EOCD.size or record[:4] != b"PK\x06\x06":
            raise InvalidDistributionError(
                "the wheel is not a valid zip archive: its zip64 end record is missing"
            )
        *_rest, count, directory_size, _offset = _ZIP64_EOCD.unpack(record)
        directory_end = end_at - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size
    if count > MAX_MEMBERS:
        raise InvalidDistributionError(
            f"the wheel's directory lists {count} members; the limit is {MAX_MEMBERS}"
        )
    if directory_size > MAX_DIRECTORY_SIZE or directory_size > directory_end:
        raise InvalidDistributionError(
            f"the wheel's central directory is {directory_size} bytes; the limit is"
            f" {MAX_DIRECTORY_SIZE} (and the file's size)"
        )
    file.seek(directory_end - directory_size)
    directory = file.read(directory_size)
    members = at = 0
    while at + _ENTRY.size <= len(directory):
        signature, name, extra, comment = _ENTRY.unpack_from(directory, at)
        if signature != b"PK\x01\x02":
            break
        members += 1
        if members > MAX_MEMBERS:
            raise InvalidDistributionError(f"the wheel has more than {MAX_MEMBERS} members")
        at += _ENTRY.size + name + extra + comment
    return members


def _read_wheel_metadata(path: Path, parsed: DistributionFilename) -> bytes:
    try:
        with path.open("rb") as file, zipfile.ZipFile(_checked(file)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise InvalidDistributionError(f"the wheel has more than {MAX_MEMBERS} members")
            dist_infos = {
                info.filename.split("/", 1)[0]
                for info in infos
                if info.filename.split("/", 1)[0].endswith(".dist-info")
            }
            matching = [d for d in dist_infos if _dist_info_matches(d, parsed)]
            # Installers refuse a wheel with more than one .dist-info, even an unrelated one.
            if len(dist_infos) != 1 or len(matching) != 1:
                raise InvalidDistributionError(
                    "the wheel must contain exactly one .dist-info directory for"
                    f" {parsed.project} {parsed.version}; found {sorted(dist_infos) or 'none'}"
                )
            members = {info.filename: info for info in infos}
            for required in ("WHEEL", "METADATA"):
                if f"{matching[0]}/{required}" not in members:
                    raise InvalidDistributionError(
                        f"the wheel has no {matching[0]}/{required} file"
                    )
            info = members[f"{matching[0]}/METADATA"]
            if info.file_size > MAX_METADATA_SIZE:
                raise InvalidDistributionError("the wheel's METADATA file is too large")
            if info.flag_bits & _ZIP_ENCRYPTED:
                raise InvalidDistributionError(
                    "the wheel's METADATA file is encrypted; rebuild the wheel without encryption"
                )
            with archive.open(info) as member:
                data = member.read(MAX_METADATA_SIZE + 1)
            if len(data) > MAX_METADATA_SIZE:
                raise InvalidDistributionError("the wheel's METADATA file is too large")
            return data
    except (zipfile.BadZipFile, zlib.error) as error:
        raise InvalidDistributionError(f"the wheel is not a valid zip archive: {error}") from None
    except (OSError, EOFError, NotImplementedError, ValueError) as error:
        raise InvalidDistributionError(f"the wheel cannot be read: {error}") from None


def _checked(file: BinaryIO) -> BinaryIO:
    check_zip_directory(file)
    file.seek(0)
    return file


def _dist_info_matches(directory: str, parsed: DistributionFilename) -> bool:
    return _names_release(directory[: -len(".dist-info")], parsed)


def _names_release(stem: str, parsed: DistributionFilename) -> bool:
    """Whether ``NAME-VERSION`` is the filename's release, normalized as PyPI compares them
    (``Foo.Bar-1.0`` is ``foo_bar-1.0``; ``4.0.0`` is not ``4.0``)."""
    name, _, version = stem.rpartition("-")
    try:
        return (is_valid_project_name(name) and normalize_name(name) == parsed.project
                and str(Version(version)) == str(parsed.version))  # fmt: skip
    except InvalidVersion:
        return False


class _BudgetedReader:
    """A file wrapper that refuses to hand out more than ``budget`` bytes in total."""

    def __init__(self, raw: object, budget: int) -> None:
        self._raw = raw
        self.remaining = budget

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._raw.read(size)  # type: ignore[attr-defined]
        self.remaining -= len(data)
        if self.remaining < 0:
            raise InvalidDistributionError(
                "the sdist expands to far more than its size (a decompression bomb?); refused"
            )
        return data


def _check_sdist_member(member: tarfile.TarInfo, parsed: DistributionFilename) -> None:
    """Every member a regular file or directory inside ``NAME-VERSION/``, as PyPI requires."""
    name = member.name
    parts = name.rstrip("/").split("/")
    if name.startswith("/") or ".." in parts or "" in parts:
        raise InvalidDistributionError(
            f"the sdist member {name[:120]!r} has an absolute or parent path; rebuild the sdist"
        )
    if not (member.isfile() or member.isdir()):
        raise InvalidDistributionError(
            f"the sdist member {name[:120]!r} is a link or a special file; an sdist may hold"
            " only files and directories"
        )
    if not _names_release(parts[0], parsed) or (len(parts) == 1 and not member.isdir()):
        raise InvalidDistributionError(
            f"the sdist member {name[:120]!r} is outside the {parsed.project}-{parsed.version}/"
            " directory that every member of an sdist must be in; rebuild the sdist"
        )


def _read_sdist_metadata(path: Path, parsed: DistributionFilename) -> bytes:
    import gzip

    budget = max(MIN_EXPANSION_BUDGET, MAX_EXPANSION_RATIO * path.stat().st_size)
    found: bytes | None = None
    try:
        with gzip.open(path, "rb") as unzipped:
            reader = _BudgetedReader(unzipped, budget)
            with tarfile.open(fileobj=reader, mode="r|") as archive:  # type: ignore[call-overload]
                for count, member in enumerate(archive):
                    if count >= MAX_MEMBERS:
                        raise InvalidDistributionError(
                            f"the sdist has more than {MAX_MEMBERS} members"
                        )
                    _check_sdist_member(member, parsed)
                    parts = member.name.split("/")
                    if len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                        if member.size > MAX_METADATA_SIZE:
                            raise InvalidDistributionError("the sdist's PKG-INFO is too large")
                        extracted = archive.extractfile(member)
                        if extracted is not None:
                            found = extracted.read(MAX_METADATA_SIZE + 1)
            # The tar reader stops at its end marker; read the gzip stream to its end too, so
            # that a truncated or corrupted file fails its length and CRC checks.
            while reader.read(1024 * 1024):
                pass
    except InvalidDistributionError:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error) as error:
        raise InvalidDistributionError(
            f"the sdist is not a valid .tar.gz archive: {error}"
        ) from None
    if found is None:
        raise InvalidDistributionError("the sdist has no NAME-VERSION/PKG-INFO file")
    return found
