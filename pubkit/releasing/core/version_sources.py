"""Where a package's version is declared, per its build backend's own table. Pure.

``[project] version``; a Python file (setuptools ``attr``, hatch ``path``, pdm, flit); a text
file (setuptools ``file``); git tags (setuptools-scm, hatch-vcs, uv-dynamic-versioning, pdm
scm); or a maturin package's Cargo.toml. The files are located here, read and written in
:mod:`pubkit.releasing.workspace_files` and :mod:`pubkit.releasing.version_files`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from pubkit.core.distributions import normalize_name
from pubkit.errors import ConfigurationError, UsageError
from pubkit.releasing.core.toml_values import expect_str, table, toml_type
from pubkit.releasing.core.versioning import releasable

VersionKind = Literal["static", "python", "text", "vcs", "cargo"]


@dataclass(frozen=True)
class VersionSource:
    """Where a package's version is declared, so that a later step can read and rewrite it.

    - ``static``: ``[project] version`` in the package's pyproject.toml;
    - ``python``: an assignment ``NAME = "1.2.3"`` in a Python file, NAME one of ``attributes``
      (``pattern`` is hatch's own regex when the project sets one);
    - ``text``: a file that holds nothing but the version (setuptools ``file``);
    - ``vcs``: derived from git tags (setuptools-scm, hatch-vcs, uv-dynamic-versioning, pdm
      scm): no file to write; the release tag is the version, and the build is told it;
    - ``cargo``: ``[package] version`` of a Cargo.toml (maturin), semver spelled.

    ``files`` are relative to the package directory. When the build backend picks among
    several files at build time (setuptools ``attr`` looks for ``pkg.py`` or
    ``pkg/__init__.py``, with or without ``src/``), all are listed, likeliest first; the
    reader uses the first that exists.
    """

    kind: VersionKind
    backend: str  # the table that declared it: project, setuptools, hatch, pdm, flit, scm
    files: tuple[PurePosixPath, ...] = ()
    attributes: tuple[str, ...] = ()
    pattern: str | None = None


def vcs_build_env(name: str, version: str) -> dict[str, str]:
    """What tells a VCS version plugin to build ``version`` whatever git says (the tag is
    written only after the upload): setuptools-scm and hatch-vcs, uv-dynamic-versioning, pdm.
    The environment is the one build's alone, so the unnamed variable is safe too (hatch-vcs
    does not pass the project name that the ``_FOR_`` variant needs)."""
    upper = re.sub(r"[-_.]+", "_", name).upper()
    return {
        "SETUPTOOLS_SCM_PRETEND_VERSION": version,
        f"SETUPTOOLS_SCM_PRETEND_VERSION_FOR_{upper}": version,
        "UV_DYNAMIC_VERSIONING_BYPASS": version,
        "PDM_BUILD_SCM_VERSION": version,
    }


STATIC_VERSION = VersionSource("static", "project", (PurePosixPath("pyproject.toml"),))
# hatch's default regex accepts either name.
_HATCH_ATTRIBUTES = ("__version__", "VERSION")


def _inside_package(value: object, what: str) -> PurePosixPath:
    text = expect_str(value, what, '"src/pkg/__init__.py"')
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts:
        # A later step rewrites the version file: it must belong to this package alone.
        raise ConfigurationError(
            f"{what} {text!r} points outside the package; keep the version file inside it"
        )
    return path


def _relative_file(value: object, where: str, key: str) -> PurePosixPath:
    path = _inside_package(value, f"{where} {key}")
    if not path.parts:
        raise ConfigurationError(f'{where} {key} names no file; e.g. "src/pkg/__about__.py"')
    return path


def _setuptools_attr(spec: object, setuptools: Mapping[str, Any], where: str) -> VersionSource:
    what = f"{where} [tool.setuptools.dynamic] version attr"
    text = expect_str(spec, what, 'version = {attr = "pkg.__version__"}').strip()
    module, _, attribute = text.rpartition(".")
    parts = module.split(".")
    if not module or not attribute.isidentifier() or not all(p.isidentifier() for p in parts):
        raise ConfigurationError(f"{what} {text!r} is not module.attribute; e.g. pkg.__version__")
    package_dir = setuptools.get("package-dir", {})
    if not isinstance(package_dir, Mapping):
        raise ConfigurationError(f"{where} [tool.setuptools] package-dir must be a table")
    bases: list[PurePosixPath] = []
    # setuptools maps the longest dotted prefix of the module it finds in package-dir
    # ("" being the root of all of them) and appends the rest of the module's path.
    for i in range(len(parts), -1, -1):
        prefix = ".".join(parts[:i])
        if prefix in package_dir:
            base = _inside_package(package_dir[prefix], f"{where} [tool.setuptools] package-dir")
            bases = [base.joinpath(*parts[i:])]
            break
    else:
        # Without package-dir, setuptools' discovery accepts a flat or a src layout.
        bases = [PurePosixPath(*parts), PurePosixPath("src", *parts)]
    files = tuple(f for b in bases for f in (b.parent / f"{b.name}.py", b / "__init__.py"))
    return VersionSource("python", "setuptools", files, (attribute,))


def _setuptools_version(spec: object, setuptools: Mapping[str, Any], where: str) -> VersionSource:
    what = f"{where} [tool.setuptools.dynamic] version"
    if isinstance(spec, Mapping) and "attr" in spec:
        return _setuptools_attr(spec["attr"], setuptools, where)
    if isinstance(spec, Mapping) and "file" in spec:
        files = spec["file"]
        if isinstance(files, list) and len(files) == 1:
            files = files[0]  # setuptools concatenates a list; one file is all we can rewrite
        return VersionSource("text", "setuptools", (_relative_file(files, what, "file"),))
    raise ConfigurationError(f'{what} must be {{attr = "pkg.__version__"}} or {{file = "VERSION"}}')


def _hatch_version(spec: Mapping[str, Any], where: str) -> VersionSource:
    what = f"{where} [tool.hatch.version]"
    source = spec.get("source", "regex")
    if source == "vcs":
        return VersionSource("vcs", "hatch")
    if source == "uv-dynamic-versioning":
        return VersionSource("vcs", "uv-dynamic-versioning")
    if source not in ("regex", "code") or "path" not in spec:
        raise ConfigurationError(
            f'{what} source {source!r} is not supported; use path = "src/pkg/__about__.py"'
        )
    path = _relative_file(spec["path"], what, "path")
    if source == "code":
        expression = spec.get("expression", "__version__")
        if not isinstance(expression, str) or not expression.isidentifier():
            raise ConfigurationError(f"{what} expression must be a plain name like __version__")
        return VersionSource("python", "hatch", (path,), (expression,))
    pattern = spec.get("pattern")
    if pattern is not None and not isinstance(pattern, bool | str):
        raise ConfigurationError(f"{what} pattern must be a string, not {toml_type(pattern)}")
    custom = pattern if isinstance(pattern, str) else None  # `true` means hatch's default
    return VersionSource("python", "hatch", (path,), _HATCH_ATTRIBUTES, custom)


def _pdm_version(spec: Mapping[str, Any], where: str) -> VersionSource:
    what = f"{where} [tool.pdm.version]"
    source = spec.get("source")
    if source == "scm":
        return VersionSource("vcs", "pdm")
    if source == "file" and "path" in spec:
        path = _relative_file(spec["path"], what, "path")
        return VersionSource("python", "pdm", (path,), ("__version__",))
    raise ConfigurationError(f'{what} source {source!r} is not supported; use source = "file"')


def _flit_version(tool: Mapping[str, Any], name: str, where: str) -> VersionSource:
    module = table(table(tool, "flit", where), "module", where).get("name", name)
    module = expect_str(module, f"{where} [tool.flit.module] name", 'name = "pkg"')
    module = module.replace("-", "_").replace(".", "/")
    files = tuple(
        PurePosixPath(base, f)
        for base in (".", "src")
        for f in (f"{module}/__init__.py", f"{module}.py")
    )
    return VersionSource("python", "flit", files, ("__version__",))


def _requires_scm(build_system: Mapping[str, Any]) -> bool:
    """setuptools-scm 8 needs no table of its own: being a build requirement is enough."""
    requires = build_system.get("requires", [])
    if not isinstance(requires, list):
        return False
    names = set()
    for entry in requires:
        try:
            names.add(normalize_name(Requirement(str(entry)).name))
        except InvalidRequirement:
            continue
    return "setuptools-scm" in names


def _maturin_version(tool: Mapping[str, Any], where: str) -> VersionSource:
    manifest = table(tool, "maturin", where).get("manifest-path", "Cargo.toml")
    path = _relative_file(manifest, f"{where} [tool.maturin]", "manifest-path")
    return VersionSource("cargo", "maturin", (path,))


def dynamic_version(pyproject: Mapping[str, Any], name: str, where: str) -> VersionSource:
    """Where a dynamic version comes from, per the build backend's own table."""
    tool = table(pyproject, "tool", where)
    setuptools = table(tool, "setuptools", where)
    setuptools_dynamic = table(setuptools, "dynamic", where)
    if "version" in setuptools_dynamic:
        return _setuptools_version(setuptools_dynamic["version"], setuptools, where)
    if "version" in table(tool, "hatch", where):
        return _hatch_version(table(table(tool, "hatch", where), "version", where), where)
    if "version" in table(tool, "pdm", where):
        return _pdm_version(table(table(tool, "pdm", where), "version", where), where)
    build_system = table(pyproject, "build-system", where)
    if "setuptools_scm" in tool or "setuptools-scm" in tool or _requires_scm(build_system):
        return VersionSource("vcs", "scm")
    backend = build_system.get("build-backend", "")
    if isinstance(backend, str) and backend.startswith("flit_core"):
        return _flit_version(tool, name, where)
    if backend == "maturin":
        return _maturin_version(tool, where)
    raise ConfigurationError(
        f"{where} declares the version dynamic but not where it comes from; set [project] "
        "version, or [tool.hatch.version] path, or [tool.setuptools.dynamic] version = {attr = ...}"
    )


# ------------------------------------------------------------------ semver (Cargo.toml)

_SEMVER = re.compile(
    r"(?P<release>\d+\.\d+\.\d+)(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?"
)
_SEMVER_PRE = re.compile(r"(?P<phase>alpha|a|beta|b|rc|c)\.?(?P<number>\d+)")
_SEMVER_DEV = re.compile(r"dev\.?(?P<number>\d+)")
_PHASES = {"alpha": "a", "a": "a", "beta": "b", "b": "b", "rc": "rc", "c": "rc"}
_SEMVER_PHASES = {"a": "alpha", "b": "beta", "rc": "rc"}


def pep440_from_semver(value: str, where: str = "Cargo.toml") -> str:
    """A Cargo (semver) version as PEP 440, as maturin converts it: ``1.2.3-beta.1`` ->
    ``1.2.3b1``, ``1.2.3-dev.4`` -> ``1.2.3.dev4``; ConfigurationError when it has none."""
    match = _SEMVER.fullmatch(value.strip())
    if match is None or match["build"]:
        raise ConfigurationError(
            f"{where} version {value!r} is not a semver version pubkit can release; "
            "use e.g. 1.2.3 or 1.2.3-beta.1"
        )
    text = match["release"]
    pre = match["pre"]
    if pre:
        phase, dev = _SEMVER_PRE.fullmatch(pre), _SEMVER_DEV.fullmatch(pre)
        if phase:
            text += _PHASES[phase["phase"]] + phase["number"]
        elif dev:
            text += f".dev{dev['number']}"
        else:
            raise ConfigurationError(
                f"{where} version {value!r} has a pre-release label PEP 440 cannot express; "
                "use alpha.N, beta.N, rc.N or dev.N"
            )
    return str(Version(text))


def semver_from_pep440(value: str | Version) -> str:
    """A PEP 440 version spelled for Cargo.toml (the inverse of :func:`pep440_from_semver`)."""
    version = releasable(value)
    if version.epoch or version.post is not None or (version.pre and version.dev is not None):
        raise UsageError(
            f"{version} cannot be written to a Cargo.toml: semver has no epoch, post release or"
            " dev build of a pre-release; choose a version such as 1.2.3, 1.2.3b1 or 1.2.3.dev1"
        )
    release = [*version.release[:3], *[0] * (3 - len(version.release[:3]))]
    if len(version.release) > 3 and any(version.release[3:]):
        raise UsageError(f"{version} has more than three release parts; semver has three")
    text = ".".join(str(part) for part in release)
    if version.pre is not None:
        text += f"-{_SEMVER_PHASES[version.pre[0]]}.{version.pre[1]}"
    elif version.dev is not None:
        text += f"-dev.{version.dev}"
    return text
