"""The builder's shared build environments, with real environments and real backends.

Most packages here use a small in-tree PEP 517 backend (``backend-path``) with no build
requirements, so those builds need no index; it logs each hook and the environment
(``sys.prefix``) it ran in. The hatchling/setuptools tests use the machine's index.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pubkit.releasing.adapters.builder import (
    BuildError,
    BuiltDistributions,
    PypaBuilder,
    requirement_key,
)

pytestmark = pytest.mark.e2e

BACKEND = """\
import io, os, sys, tarfile, zipfile

NAME, VERSION = {name!r}, "1.0"
WHEEL_EXTRAS = {extras!r}
FAIL = {fail!r}


def _log(hook):
    with open(os.environ["BACKEND_LOG"], "a") as log:
        log.write(f"{{NAME}} {{hook}} {{sys.prefix}}\\n")


def get_requires_for_build_sdist(config_settings=None):
    _log("get_requires_for_build_sdist")
    return []


def get_requires_for_build_wheel(config_settings=None):
    _log("get_requires_for_build_wheel")
    return list(WHEEL_EXTRAS)


def build_sdist(sdist_directory, config_settings=None):
    _log("build_sdist")
    base = f"{{NAME}}-{{VERSION}}"
    pkg_info = f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n".encode()
    with tarfile.open(os.path.join(sdist_directory, base + ".tar.gz"), "w:gz") as tar:
        for name in ("pyproject.toml", "backend.py"):
            tar.add(name, f"{{base}}/{{name}}")
        info = tarfile.TarInfo(f"{{base}}/PKG-INFO")
        info.size = len(pkg_info)
        tar.addfile(info, io.BytesIO(pkg_info))
    return base + ".tar.gz"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _log("build_wheel")
    if FAIL:
        raise RuntimeError(FAIL)
    filename = f"{{NAME}}-{{VERSION}}-py3-none-any.whl"
    info = f"{{NAME}}-{{VERSION}}.dist-info"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as wheel:
        wheel.writestr(f"{{info}}/METADATA", f"Metadata-Version: 2.1\\nName: {{NAME}}\\n"
                                               f"Version: {{VERSION}}\\n")
        wheel.writestr(f"{{info}}/WHEEL", "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\n"
                                            "Tag: py3-none-any\\n")
        wheel.writestr(f"{{info}}/RECORD", "")
        # Where the wheel was built from: the unpacked sdist, not the source tree.
        wheel.writestr(f"{{info}}/built-from", os.getcwd())
    return filename
"""


def in_tree_package(root: Path, name: str, extras: Sequence[str] = (), fail: str = "") -> Path:
    """A package whose backend is ``backend.py`` beside its pyproject.toml."""
    package = root / name
    package.mkdir(parents=True)
    (package / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = []
        build-backend = "backend"
        backend-path = ["."]

        [project]
        name = "{name}"
        version = "1.0"
        """))  # fmt: skip
    (package / "backend.py").write_text(BACKEND.format(name=name, extras=list(extras), fail=fail))
    return package


def hooks(log: Path) -> list[tuple[str, str, str]]:
    """(package, hook, environment) for every hook the in-tree backends ran."""
    ran = []
    for line in log.read_text().splitlines():
        package, hook, prefix = line.split(" ", 2)
        ran.append((package, hook, prefix))
    return ran


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "hooks.log"
    path.touch()
    return path


@pytest.fixture
def builder(log: Path) -> PypaBuilder:
    # BACKEND_LOG reaches the backends the way SOURCE_DATE_EPOCH does in a release.
    return PypaBuilder(env={"BACKEND_LOG": str(log)})


def test_packages_with_the_same_requirements_share_one_environment(
    tmp_path: Path, builder: PypaBuilder, log: Path
) -> None:
    for name in ("alpha", "beta"):
        built = builder.build(in_tree_package(tmp_path / "src", name), tmp_path / "dist" / name,
                              name)  # fmt: skip
        assert [p.name for p in built.files] == [f"{name}-1.0.tar.gz",
                                                 f"{name}-1.0-py3-none-any.whl"]  # fmt: skip
    ran = hooks(log)
    # sdist first, then the wheel from the sdist, for each package in turn
    assert [(package, hook) for package, hook, _ in ran] == [
        (name, hook) for name in ("alpha", "beta")
        for hook in ("get_requires_for_build_sdist", "build_sdist",
                     "get_requires_for_build_wheel", "build_wheel")
    ]  # fmt: skip
    assert len({env for _, _, env in ran}) == 1
    assert builder.environments.made() == {frozenset(): 1}


def test_the_wheel_is_built_from_the_sdist(tmp_path: Path, builder: PypaBuilder) -> None:
    source = in_tree_package(tmp_path / "src", "alpha")
    built = builder.build(source, tmp_path / "dist", "alpha")
    with zipfile.ZipFile(built.wheel) as wheel:
        built_from = Path(wheel.read("alpha-1.0.dist-info/built-from").decode())
    assert built_from.name == "alpha-1.0"  # the sdist's top directory
    assert source.resolve() not in (built_from, *built_from.parents)


def test_backend_requirements_get_an_environment_of_their_own(
    tmp_path: Path, builder: PypaBuilder, log: Path
) -> None:
    for name, extras in (("alpha", ()), ("gamma", ("iniconfig",)), ("delta", ())):
        builder.build(in_tree_package(tmp_path / "src", name, extras), tmp_path / "dist" / name,
                      name)  # fmt: skip
    env = {(package, hook): prefix for package, hook, prefix in hooks(log)}
    shared = env["alpha", "build_wheel"]
    # gamma's backend asked for iniconfig to build its wheel: that build ran elsewhere, and the
    # shared environment did not get iniconfig (delta still builds in it).
    assert env["gamma", "get_requires_for_build_wheel"] == shared
    assert env["gamma", "build_wheel"] != shared
    assert env["delta", "build_wheel"] == shared
    assert builder.environments.made() == {frozenset(): 1, frozenset({"iniconfig"}): 1}


def test_without_uv_venv_and_pip_make_the_environments(tmp_path: Path, log: Path) -> None:
    builder = PypaBuilder(use_uv=False, env={"BACKEND_LOG": str(log)})
    with builder:
        builder.build(in_tree_package(tmp_path / "src", "gamma", ("iniconfig",)),
                      tmp_path / "dist", "gamma")  # fmt: skip
        env = {hook: Path(prefix) for _, hook, prefix in hooks(log)}
        # pip (this interpreter's, with --python) installed what the backend asked for.
        assert list(env["build_wheel"].glob("lib/python*/site-packages/iniconfig-*.dist-info"))
        assert not list(env["build_sdist"].glob("lib/python*/site-packages/iniconfig-*"))
    assert builder.environments.made() == {frozenset(): 1, frozenset({"iniconfig"}): 1}
    assert not env["build_wheel"].exists()


@pytest.mark.parametrize("use_uv", [True, False])
def test_a_build_requirement_that_cannot_be_installed_is_one_line(
    tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch, use_uv: bool
) -> None:
    # Offline: the installers say it is not there without asking an index.
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    scratch = tmp_path / "tmp"  # where the environment is made
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    package = in_tree_package(tmp_path / "src", "alpha")
    pyproject = package / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        "requires = []", 'requires = ["pubkit-missing-backend-xyz"]'))  # fmt: skip
    builder = PypaBuilder(use_uv=use_uv, env={"BACKEND_LOG": str(log)})
    with builder, pytest.raises(BuildError) as caught:
        builder.build(package, tmp_path / "dist", "alpha")
    message = caught.value.message
    assert message.startswith("alpha did not build: ") and "\n" not in message, message
    assert "pubkit-missing-backend-xyz" in message or "pubkit_missing_backend_xyz" in message
    assert hooks(log) == []  # no backend ran
    assert builder.environments.made() == {}  # and no broken environment is kept
    assert [path.name for path in scratch.iterdir() if path.name.startswith("build-env-")] == []


def test_a_failing_build_names_the_package_in_one_line(
    tmp_path: Path, builder: PypaBuilder
) -> None:
    broken = in_tree_package(tmp_path / "src", "broken", fail="no wheel for you")
    with pytest.raises(BuildError) as caught:
        builder.build(broken, tmp_path / "dist", "broken")
    message = caught.value.message
    assert message == (f"broken did not build: RuntimeError: no wheel for you; run `python -m"
                       f" build {broken}` to see the whole output")  # fmt: skip
    assert not list((tmp_path / "dist").iterdir())  # no half build left behind
    # The environment is still good for the next package.
    builder.build(in_tree_package(tmp_path / "src", "alpha"), tmp_path / "dist", "alpha")
    assert builder.environments.made() == {frozenset(): 1}


def test_environments_are_removed_when_the_builder_closes(
    tmp_path: Path, builder: PypaBuilder, log: Path
) -> None:
    with builder:
        builder.build(in_tree_package(tmp_path / "src", "alpha"), tmp_path / "dist", "alpha")
        (env,) = {Path(prefix) for _, _, prefix in hooks(log)}
        assert env.is_dir()
    assert not env.exists()


def test_parallel_builds_never_share_an_environment_at_once(
    tmp_path: Path, builder: PypaBuilder, log: Path
) -> None:
    names = ["p0", "p1", "p2", "p3", "p4", "p5"]
    sources = [in_tree_package(tmp_path / "src", name) for name in names]

    def build(source: Path) -> BuiltDistributions:
        return builder.build(source, tmp_path / "dist" / source.name, source.name)

    with ThreadPoolExecutor(2) as pool:
        built = list(pool.map(build, sources))
    assert [b.sdist.name for b in built] == [f"{name}-1.0.tar.gz" for name in names]
    # At most one environment per thread, each used by one build at a time (its hooks run in
    # sequence: sdist, then wheel, per package).
    assert builder.environments.made()[frozenset()] <= 2
    by_env: dict[str, list[str]] = {}
    for package, _, prefix in hooks(log):
        by_env.setdefault(prefix, []).append(package)
    for packages in by_env.values():
        runs = [p for i, p in enumerate(packages) if i == 0 or packages[i - 1] != p]
        assert len(runs) == len(set(runs)), packages


def test_without_isolation_the_backend_runs_here(tmp_path: Path, log: Path) -> None:
    builder = PypaBuilder(isolated=False, env={"BACKEND_LOG": str(log)})
    builder.build(in_tree_package(tmp_path / "src", "alpha"), tmp_path / "dist", "alpha")
    assert {Path(prefix) for _, _, prefix in hooks(log)} == {Path(sys.prefix)}
    assert builder.environments.made() == {}


def test_without_isolation_missing_requirements_are_named(tmp_path: Path, log: Path) -> None:
    package = in_tree_package(tmp_path / "src", "alpha")
    pyproject = package / "pyproject.toml"
    text = pyproject.read_text().replace("requires = []", 'requires = ["no-such-backend-xyz"]')
    pyproject.write_text(text)
    builder = PypaBuilder(isolated=False, env={"BACKEND_LOG": str(log)})
    expected = (
        r"^alpha did not build: missing build dependencies: no-such-backend-xyz;"
        r" install them or build isolated; run "
    )
    with pytest.raises(BuildError, match=expected):
        builder.build(package, tmp_path / "dist", "alpha")


def _real_package(root: Path, name: str, backend: str) -> Path:
    package = root / name
    module = package / "src" / name.replace("-", "_")
    module.mkdir(parents=True)
    (module / "__init__.py").write_text("VALUE = 1\n")
    (module / "scratch.py").write_text("# not in the sdist, so never in the wheel\n")
    if backend == "hatchling":
        system = 'requires = ["hatchling"]\nbuild-backend = "hatchling.build"'
        extra = '[tool.hatch.build.targets.sdist]\nexclude = ["scratch.py"]\n'
    else:
        system = 'requires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"'
        extra = ""
        (package / "MANIFEST.in").write_text("exclude src/*/scratch.py\n")
    (package / "pyproject.toml").write_text(
        f'[build-system]\n{system}\n\n[project]\nname = "{name}"\nversion = "1.0"\n\n{extra}'
    )
    return package


def test_real_backends_one_environment_per_requirement_set(tmp_path: Path) -> None:
    builder = PypaBuilder()
    packages = [("hat-one", "hatchling"), ("tools-one", "setuptools"), ("hat-two", "hatchling"),
                ("tools-two", "setuptools")]  # fmt: skip
    with builder:
        for name, backend in packages:
            built = builder.build(_real_package(tmp_path / "src", name, backend),
                                  tmp_path / "dist" / name, name)  # fmt: skip
            with zipfile.ZipFile(built.wheel) as wheel:
                files = wheel.namelist()
            module = name.replace("-", "_")
            assert f"{module}/__init__.py" in files
            assert f"{module}/scratch.py" not in files, "the wheel was not built from the sdist"
        made = builder.environments.made()
        # One each, whatever else an older backend asks for (setuptools < 70.1 wants wheel).
        assert made[requirement_key(["hatchling"])] == 1
        assert made[requirement_key(["setuptools>=69"])] == 1
