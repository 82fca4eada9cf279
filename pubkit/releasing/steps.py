"""The release steps, one function each (build, check, test, publish, tag), over the adapters.

Each works alone (``pubkit build|check|test|publish``); :mod:`pubkit.releasing.pipeline`
sequences them.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pubkit.core.distributions import parse_distribution_filename
from pubkit.errors import PubkitError
from pubkit.releasing.adapters.git import Git
from pubkit.releasing.adapters.index_client import IndexReader, ProjectListing
from pubkit.releasing.adapters.process import ProcessRunner
from pubkit.releasing.adapters.publisher import PublishError, TwinePublisher
from pubkit.releasing.adapters.tester import TestOutcome, VenvTester
from pubkit.releasing.core.publishing import decide_uploads
from pubkit.releasing.core.workspace import Package, Workspace


@dataclass(frozen=True)
class PublishResult:
    package: str
    uploaded: tuple[str, ...]
    already_there: tuple[str, ...]


def sha256_of(path: Path) -> str:
    with path.open("rb") as stream:
        return _sha256_stream(stream)


def distributions(dist_dir: Path, package: str, version: str | None = None) -> dict[str, Path]:
    """The sdists and wheels of ``package`` (of ``version``, if given) in ``dist_dir``."""
    from packaging.version import Version

    files: dict[str, Path] = {}
    for path in sorted(dist_dir.glob("*")) if dist_dir.is_dir() else []:
        try:
            parsed = parse_distribution_filename(path.name)
        except PubkitError:
            continue
        if parsed.project == package and (version is None or parsed.version == Version(version)):
            files[path.name] = path
    return files


def publish_package(
    package: str,
    dist_dir: Path,
    index: IndexReader,
    publisher: TwinePublisher,
    version: str | None = None,
) -> PublishResult:
    """Upload what the index lacks of ``dist_dir`` (only ``version``'s files, if given):
    sdists first, identical files skipped, a file the index has with other bytes refused."""
    local = distributions(dist_dir, package, version)
    if not local:
        wanted = f" {version}" if version else ""
        raise PublishError(
            f"no distributions of {package}{wanted} in {dist_dir}; run `pubkit build {package}`"
            " first"
        )
    listing = index.project(package)
    decision = decide_uploads({name: sha256_of(path) for name, path in local.items()},
                              listing.files)  # fmt: skip
    rebuilt = _rebuilds_of_published(decision.conflicts, local, listing, index)
    conflicts = [name for name in decision.conflicts if name not in rebuilt]
    if conflicts:
        raise PublishError(
            f"{', '.join(conflicts)} already on the index with other content; files"
            " are immutable: bump the version of " + package
        )
    # The sdist first: an index that has a wheel but no sdist is the worse half-state.
    ordered = sorted(decision.upload, key=lambda name: not name.endswith(".tar.gz"))
    publisher.upload([local[name] for name in ordered])
    return PublishResult(package, tuple(ordered), (*decision.already_there, *rebuilt))


def _rebuilds_of_published(
    conflicts: Sequence[str], local: Mapping[str, Path], listing: ProjectListing,
    index: IndexReader,
) -> list[str]:  # fmt: skip
    """The conflicting files that are only a rebuild of what the index has: the same files
    with the same bytes inside, in an archive that differs (timestamps, compression). A
    re-run after an interrupted upload builds such files; they count as already there."""
    remote = {parse_distribution_filename(name).canonical: name for name in listing.urls}
    same = []
    for filename in conflicts:
        published = remote.get(parse_distribution_filename(filename).canonical)
        if published is None:
            continue
        with tempfile.TemporaryDirectory(prefix="pubkit-compare-") as scratch:
            copy = index.download(listing, published, Path(scratch) / published)
            if archive_contents(copy) == archive_contents(local[filename]):
                same.append(filename)
    return same


def archive_contents(path: Path) -> dict[str, str]:
    """Member name -> sha256 of its bytes, for the regular files of a wheel or an sdist:
    what an archive holds, whatever its timestamps, order or compression."""
    import tarfile
    import zipfile

    contents: dict[str, str] = {}
    if path.name.endswith(".whl") or path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    with archive.open(info) as member:
                        contents[info.filename] = _sha256_stream(member)
        return contents
    with tarfile.open(path) as archive:
        for tar_info in archive:
            stream = archive.extractfile(tar_info) if tar_info.isfile() else None
            if stream is not None:
                contents[tar_info.name] = _sha256_stream(stream)
    return contents


def _sha256_stream(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


class TestsFailedError(PubkitError):
    """One or more packages' tests failed."""

    __test__ = False  # not a pytest test class


class CheckError(PubkitError):
    """A built file that would be refused by the index or misbehave for installers."""


def check_package(
    package: str, version: str | None, dist_dir: Path, runner: ProcessRunner | None = None
) -> tuple[Path, ...]:
    """Check the built files of ``package`` at ``version``: our rules, then twine's."""
    from pubkit.server.archives import read_core_metadata

    files = list(distributions(dist_dir, package, version).values())
    if not files:
        wanted = f" {version}" if version else ""
        raise CheckError(
            f"no distributions of {package}{wanted} in {dist_dir}; run `pubkit build {package}`"
        )
    kinds = {parse_distribution_filename(path.name).is_wheel for path in files}
    if kinds != {True, False}:
        raise CheckError(f"{package} needs both an sdist and a wheel; run `pubkit build {package}`")
    for path in files:
        try:
            # The same checks the index makes on upload: name, version, metadata, archive.
            read_core_metadata(path, parse_distribution_filename(path.name))
        except PubkitError as error:
            raise CheckError(f"{path.name}: {error.message}") from None
    if runner is None:
        refusal = _twine_check_here(files)
    else:
        result = runner.run(
            [sys.executable, "-m", "twine", "check", "--strict", *map(str, files)], check=False
        )
        refusal = None if result.ok else result.last_line()
    if refusal is not None:
        raise CheckError(f"twine check --strict refused {package}: {refusal}")
    return tuple(files)


def _twine_check_here(files: Sequence[Path]) -> str | None:
    """``twine check --strict`` in this process (a twine process per package costs more
    than the check): None if every file passes, else why the first one does not."""
    try:
        from twine.commands.check import _check_file, _WarningStream
    except ImportError:  # a twine without them: its command line says the same
        from pubkit.releasing.adapters.process import SubprocessRunner

        result = SubprocessRunner().run(
            [sys.executable, "-m", "twine", "check", "--strict", *map(str, files)], check=False
        )
        return None if result.ok else result.last_line()
    for path in files:
        stream = _WarningStream()
        warnings, ok = _check_file(str(path), stream)
        if not ok:
            return f"{path.name}: the long description has markup errors: {str(stream).strip()}"
        if warnings:
            return f"{path.name}: {warnings[0]}"
    return None


def test_package(
    workspace: Workspace,
    package: Package,
    dist_root: Path,
    reports: Path,
    tester: VenvTester | None = None,
    index_url: str | None = None,
    version: str | None = None,
    *,
    built: Mapping[str, Path] | None = None,
    index: IndexReader | None = None,
) -> TestOutcome:
    """Install ``package``'s built wheel in a fresh venv and run its tests (JUnit in
    ``reports``). ``version``: the one being released (default: read from the files; a
    version from git tags has none there). Internal dependencies are the wheels in ``built``
    (name -> wheel; by default the wheel of each package's current version in
    ``dist_root``), the others released versions from the index at ``index_url``."""

    from pubkit.releasing.adapters.tester import VenvTester
    from pubkit.releasing.testbed import prepare_test
    from pubkit.releasing.workspace_files import read_version

    version = version or read_version(workspace, package)
    wheel = built_wheel(dist_root, package, version)
    if wheel is None:
        raise CheckError(
            f"expected a wheel of {package.normalized} {version or ''}"
            f" in {dist_root / package.normalized}; run `pubkit build`"
        )
    if built is None:
        built = {}
        for other in workspace.packages:
            found = built_wheel(dist_root, other, read_version(workspace, other))
            if found is not None:
                built[other.normalized] = found
    if index is None and index_url:
        from pubkit.releasing.adapters.credentials import credentials_for_index
        from pubkit.releasing.adapters.index_client import IndexClient

        index = IndexClient(index_url, credentials_for_index(index_url))
    with tempfile.TemporaryDirectory(prefix=f"pubkit-test-{package.normalized}-") as workdir:
        request = prepare_test(workspace, package, wheel, built, index, index_url,
                               reports / f"{package.normalized}.xml", Path(workdir))  # fmt: skip
        return (tester or VenvTester()).test(request)


def built_wheel(dist_root: Path, package: Package, version: str | None) -> Path | None:
    """The one wheel of ``package`` ``version`` in ``dist_root/<name>/``, if there is one."""
    if version is None:
        return None
    found = distributions(dist_root / package.normalized, package.normalized, version)
    wheels = [path for path in found.values() if path.name.endswith(".whl")]
    return wheels[0] if len(wheels) == 1 else None


def tag_release(git: Git, tag_format: str, package: str, version: str, push: bool = False) -> str:
    """Write the annotated release tag of ``package`` ``version`` (after its upload) and, if
    asked, push it; both are no-ops when already done, so a re-run completes the job."""
    from pubkit.core.distributions import normalize_name
    from pubkit.releasing.core.versioning import tag_name

    name = tag_name(tag_format, package, version)
    git.create_tag(name, f"Release {normalize_name(package)} {version}")
    if push:
        git.push_tags([name])
    return name
