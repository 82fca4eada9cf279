"""Running release steps through the adapters: the one sequencer of side effects.

Today: the check, test, publish and tag steps; the whole ``release`` follows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pubkit.adapters.git import Git
from pubkit.adapters.index_client import IndexReader
from pubkit.adapters.process import ProcessRunner
from pubkit.adapters.publisher import PublishError, TwinePublisher
from pubkit.adapters.tester import TestOutcome, VenvTester
from pubkit.core.distributions import parse_distribution_filename
from pubkit.core.publishing import decide_uploads
from pubkit.core.workspace import Package, Workspace
from pubkit.errors import PubkitError


@dataclass(frozen=True)
class PublishResult:
    package: str
    uploaded: tuple[str, ...]
    already_there: tuple[str, ...]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _distributions(dist_dir: Path, package: str) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(dist_dir.glob("*")) if dist_dir.is_dir() else []:
        try:
            parsed = parse_distribution_filename(path.name)
        except PubkitError:
            continue
        if parsed.project == package:
            files[path.name] = path
    return files


def publish_package(
    package: str, dist_dir: Path, index: IndexReader, publisher: TwinePublisher
) -> PublishResult:
    """Upload what the index lacks of ``dist_dir``: sdists first, identical files skipped."""
    local = _distributions(dist_dir, package)
    if not local:
        raise PublishError(
            f"no distributions of {package} in {dist_dir}; run `pubkit build {package}` first"
        )
    decision = decide_uploads(
        {name: sha256_of(path) for name, path in local.items()}, index.project(package).files
    )
    if decision.conflicts:
        raise PublishError(
            f"{', '.join(decision.conflicts)} already on the index with other content; files"
            " are immutable: bump the version of " + package
        )
    # The sdist first: an index that has a wheel but no sdist is the worse half-state.
    ordered = sorted(decision.upload, key=lambda name: not name.endswith(".tar.gz"))
    publisher.upload([local[name] for name in ordered])
    return PublishResult(package, tuple(ordered), decision.already_there)


class CheckError(PubkitError):
    """A built file that would be refused by the index or misbehave for installers."""


def check_package(
    package: str, version: str | None, dist_dir: Path, runner: ProcessRunner | None = None
) -> tuple[Path, ...]:
    """Check the built files of ``package`` at ``version``: our rules, then twine's."""
    import sys

    from packaging.version import Version

    from pubkit.adapters.process import SubprocessRunner
    from pubkit.server.archives import read_core_metadata

    files = [
        path for path in _distributions(dist_dir, package).values()
        if version is None or parse_distribution_filename(path.name).version == Version(version)
    ]  # fmt: skip
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
    result = (runner or SubprocessRunner()).run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, files)], check=False
    )
    if not result.ok:
        raise CheckError(f"twine check --strict refused {package}: {result.last_line()}")
    return tuple(files)


def test_package(
    workspace: Workspace,
    package: Package,
    dist_root: Path,
    reports: Path,
    tester: VenvTester | None = None,
    index_url: str | None = None,
) -> TestOutcome:
    """Install ``package``'s built wheel in a fresh venv and run its tests (JUnit in
    ``reports``)."""
    import tempfile

    from packaging.version import Version

    from pubkit.adapters.tester import TestRequest, VenvTester, matching
    from pubkit.workspace_files import read_version

    version = read_version(workspace, package)
    wheels = [
        path for path in _distributions(dist_root / package.normalized, package.normalized).values()
        if path.name.endswith(".whl") and (
            version is None or parse_distribution_filename(path.name).version == Version(version))
    ]  # fmt: skip
    if len(wheels) != 1:
        raise CheckError(
            f"expected one wheel of {package.normalized} {version or ''} in"
            f" {dist_root / package.normalized}, found {len(wheels)}; run `pubkit build`"
        )
    config = workspace.config
    with tempfile.TemporaryDirectory(prefix=f"pubkit-test-{package.normalized}-") as workdir:
        request = TestRequest(
            package_dir=workspace.root / package.path,
            wheel=wheels[0],
            extras=matching(config.test_extras, list(package.optional_dependencies)),
            groups=matching(config.test_extras, list(package.dependency_groups)),
            find_links=tuple(p for p in sorted(dist_root.glob("*")) if p.is_dir()),
            index_url=index_url,
            command=config.test_command,
            junit=reports / f"{package.normalized}.xml",
            workdir=Path(workdir),
        )
        return (tester or VenvTester()).test(request)


def tag_release(git: Git, tag_format: str, package: str, version: str, push: bool = False) -> str:
    """Write the annotated release tag of ``package`` ``version`` (after its upload) and, if
    asked, push it; both are no-ops when already done, so a re-run completes the job."""
    from pubkit.core.distributions import normalize_name
    from pubkit.core.versioning import tag_name

    name = tag_name(tag_format, package, version)
    git.create_tag(name, f"Release {normalize_name(package)} {version}")
    if push:
        git.push_tags([name])
    return name
