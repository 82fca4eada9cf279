"""What one package's test environment holds, as a :class:`TestRequest` for the tester.

- the package's built wheel, with the extras among its test extras;
- its test requirements: PEP 735 groups, poetry groups and requirements files, as
  requirements (``--group`` is never needed, so any pip or uv installs them);
- every internal package that the wheel and its test requirements reach, pinned to exactly
  one file: the wheel this release built (``built``), else a released version from the
  configured index, chosen here, downloaded and verified against the index's sha256. No
  internal name is ever looked up on an index by the installer: whatever other index the
  machine's configuration adds, it cannot supply one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import sys_tags
from packaging.utils import parse_wheel_filename
from packaging.version import Version

from pubkit.core.distributions import normalize_name, parse_distribution_filename
from pubkit.errors import PubkitError
from pubkit.releasing.adapters.index_client import IndexReader
from pubkit.releasing.adapters.tester import TestRequest, matching_names
from pubkit.releasing.core.testenv import internal_closure, settings_of
from pubkit.releasing.core.workspace import Package, Workspace
from pubkit.settings import redact_url


class TestSetupError(PubkitError):
    """An internal dependency that the test environment cannot be given."""

    __test__ = False


def prepare_test(
    workspace: Workspace,
    package: Package,
    wheel: Path,
    built: Mapping[str, Path],
    index: IndexReader | None,
    index_url: str | None,
    junit: Path,
    workdir: Path,
) -> TestRequest:
    settings = settings_of(workspace.config, package)
    package_dir = workspace.root / package.path
    internal = frozenset(workspace.names)
    if settings.skip:
        return TestRequest(package.normalized, package_dir, settings, (), (), internal, index_url,
                           junit, workdir)  # fmt: skip
    extras = matching_names(settings.extras, package.optional_dependencies)
    extra_text = f"[{','.join(extras)}]" if extras else ""
    tests: list[Requirement] = []
    for group in matching_names(settings.groups, package.dependency_groups):
        tests += package.dependency_groups[group]
    for group in matching_names(settings.poetry_groups, package.poetry_groups):
        tests += package.poetry_groups[group]
    tests += package.test_requirements  # its requirements files, read with the workspace
    requirements = [f"{package.name}{extra_text} @ {wheel.resolve().as_uri()}"]

    def requirements_of(name: str, wanted: frozenset[str]) -> Iterable[Requirement]:
        member = workspace.package(name)
        found = list(member.dependencies)
        for extra in wanted & set(member.optional_dependencies):
            found += member.optional_dependencies[extra]
        return found

    roots = [Requirement(f"{package.name}{extra_text}"), *tests]
    needs = internal_closure(roots, requirements_of, internal)
    downloads = workdir / "internal"
    for need in needs.values():
        if need.name == package.normalized:
            continue
        chosen = built.get(need.name)
        if chosen is None:
            downloads.mkdir(parents=True, exist_ok=True)
            chosen = released_file(index, index_url, need.name, need.specifier, downloads)
        extras_of = f"[{','.join(sorted(need.extras))}]" if need.extras else ""
        requirements.append(f"{need.name}{extras_of} @ {chosen.resolve().as_uri()}")
    requirements += [str(r) for r in tests if normalize_name(r.name) not in internal]
    return TestRequest(package.normalized, package_dir, settings, tuple(requirements),
                       package.test_constraints, internal, index_url, junit, workdir)  # fmt: skip


def released_file(
    index: IndexReader | None,
    index_url: str | None,
    name: str,
    specifier: SpecifierSet,
    destination: Path,
) -> Path:
    """The newest released version of ``name`` that ``specifier`` admits, from the index:
    the wheel that suits this interpreter best, else the sdist; downloaded, sha256-checked."""
    wanted = f"{name}{specifier}"
    if index is None:
        raise TestSetupError(
            f"{wanted} is needed by the tests but not built in this release, and there is no"
            " index URL to take a released version from; pass --index-url"
        )
    listing = index.project(name)
    versions = sorted(listing.versions, reverse=True)
    admitted = [v for v in versions if specifier.contains(v, prereleases=False)] or [
        v for v in versions if specifier.contains(v, prereleases=True)
    ]
    for version in admitted:
        filename = _best_file(listing.files, version)
        if filename is not None:
            return index.download(listing, filename, destination / filename)
    has = ", ".join(str(v) for v in versions[:5]) or "nothing"
    raise TestSetupError(
        f"{wanted} is needed by the tests but not built in this release, and the index at"
        f" {redact_url(index_url or '')} has no such version (it has {has})"
    )


def _best_file(files: Iterable[str], version: Version) -> str | None:
    priority = {tag: rank for rank, tag in enumerate(sys_tags())}
    best: tuple[int, str] | None = None
    sdist: str | None = None
    for filename in files:
        try:
            parsed = parse_distribution_filename(filename)
        except PubkitError:
            continue
        if parsed.version != version:
            continue
        if not parsed.is_wheel:
            sdist = sdist or filename
            continue
        ranks = [priority[tag] for tag in parse_wheel_filename(filename)[3] if tag in priority]
        if ranks and (best is None or min(ranks) < best[0]):
            best = (min(ranks), filename)
    return best[1] if best else sdist
