"""Issue 14, findings 5-8, in the pure core: package sets (root, uv workspace, excludes),
version sources (VCS, Cargo), lockstep groups and tag formats, adopted tag histories, the
commit message, and the graph and tables CI logs show."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from pubkit.errors import ConfigurationError, UsageError
from pubkit.releasing.core.adopt import adopt_tags
from pubkit.releasing.core.graph import DependencyGraph
from pubkit.releasing.core.graph_render import render_graph
from pubkit.releasing.core.plan import PackageFacts, PlanOptions, make_plan
from pubkit.releasing.core.version_sources import pep440_from_semver, semver_from_pep440
from pubkit.releasing.core.workspace import (
    build_workspace,
    package_from_pyproject,
    parse_config,
    vcs_build_env,
)

P = PurePosixPath


def project(name: str, version: str | None = "1.0.0", *deps: str, **more: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"name": name, "dependencies": list(deps)}
    if version is None:
        table["dynamic"] = ["version"]
    else:
        table["version"] = version
    return {"project": table, **more}


# --- package sets -----------------------------------------------------------------------------


def test_uv_workspace_members_and_excludes_are_the_default_packages() -> None:
    root = {"project": {"name": "app", "version": "1.0"},
            "tool": {"uv": {"workspace": {"members": ["libs/*"], "exclude": ["libs/old"]}}}}
    config, _ = parse_config({}, root_pyproject=root)
    assert config.packages == (".", "libs/*")
    assert config.packages_exclude == ("libs/old",)
    ws = build_workspace("/r", config, {P("."): root, P("libs/a"): project("lib-a"),
                                        P("libs/old"): project("lib-a")})  # fmt: skip
    assert [str(p.path) for p in ws.packages] == [".", "libs/a"]
    # An explicit `packages` wins over uv's members.
    explicit, _ = parse_config({"packages": ["libs/a"]}, root_pyproject=root)
    assert explicit.packages == ("libs/a",)


def test_packages_exclude_leaves_out_matched_directories() -> None:
    config, warnings = parse_config({"packages": ["**"], "packages-exclude": ["docs/**"]})
    assert warnings == []
    ws = build_workspace("/r", config, {P("pkg"): project("a"),
                                        P("docs/examples/pkg"): project("a")})  # fmt: skip
    assert [str(p.path) for p in ws.packages] == ["pkg"]


@pytest.mark.parametrize(
    ("pyproject", "kind", "backend"),
    [
        ({"build-system": {"requires": ["setuptools", "setuptools-scm>=8"]}}, "vcs", "scm"),
        ({"tool": {"setuptools_scm": {}}}, "vcs", "scm"),
        ({"tool": {"hatch": {"version": {"source": "vcs"}}}}, "vcs", "hatch"),
        ({"tool": {"hatch": {"version": {"source": "uv-dynamic-versioning"}},
                   "uv-dynamic-versioning": {"vcs": "git"}}}, "vcs", "uv-dynamic-versioning"),
        ({"build-system": {"build-backend": "maturin"}}, "cargo", "maturin"),
    ],
)
def test_dynamic_version_sources(pyproject: dict[str, Any], kind: str, backend: str) -> None:
    package = package_from_pyproject(P("p"), {**project("x", None), **pyproject})
    assert (package.version_source.kind, package.version_source.backend) == (kind, backend)


def test_maturin_manifest_path_and_cargo_versions(tmp_path: Path) -> None:
    from pubkit.releasing.version_files import write_version
    from pubkit.releasing.workspace_files import read_version

    (tmp_path / "rs").mkdir()
    (tmp_path / "rs" / "Cargo.toml").write_text(
        '[package]\nname = "fast"  # the crate\nversion = "0.4.0-beta.2"\n')
    config, _ = parse_config({"packages": ["rs"]})
    pyproject = {**project("fast", None), "build-system": {"build-backend": "maturin"}}
    ws = build_workspace(tmp_path, config, {P("rs"): pyproject})
    package = ws.package("fast")
    assert read_version(ws, package) == "0.4.0b2"
    write_version(ws, package, "0.4.0b3")
    assert (tmp_path / "rs" / "Cargo.toml").read_text() == (
        '[package]\nname = "fast"  # the crate\nversion = "0.4.0-beta.3"\n')
    (tmp_path / "rs" / "Cargo.toml").write_text('[package]\nversion.workspace = true\n')
    with pytest.raises(ConfigurationError, match="inherits its version from the Cargo workspace"):
        read_version(ws, package)


@pytest.mark.parametrize(
    ("semver", "pep440"),
    [("1.2.3", "1.2.3"), ("1.2.3-alpha.1", "1.2.3a1"), ("1.2.3-beta.2", "1.2.3b2"),
     ("1.2.3-rc.1", "1.2.3rc1"), ("1.2.3-dev.4", "1.2.3.dev4")],
)
def test_semver_round_trip(semver: str, pep440: str) -> None:
    assert pep440_from_semver(semver) == pep440
    assert semver_from_pep440(pep440) == semver


def test_semver_refusals() -> None:
    with pytest.raises(ConfigurationError, match="PEP 440 cannot express"):
        pep440_from_semver("1.2.3-nightly")
    with pytest.raises(UsageError, match=r"cannot be written to a Cargo\.toml"):
        semver_from_pep440("1.2.3.post1")


def test_vcs_builds_are_told_their_version() -> None:
    env = vcs_build_env("hv.pkg-name", "0.2.0")
    assert env["SETUPTOOLS_SCM_PRETEND_VERSION_FOR_HV_PKG_NAME"] == "0.2.0"
    assert env["SETUPTOOLS_SCM_PRETEND_VERSION"] == "0.2.0"  # hatch-vcs reads only this one
    assert env["UV_DYNAMIC_VERSIONING_BYPASS"] == "0.2.0"


# --- lockstep groups and tag formats ---------------------------------------------------------


def test_groups_and_tag_formats_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="members must be a non-empty array"):
        parse_config({"group": [{"name": "g", "members": []}]})
    with pytest.raises(ConfigurationError, match=r"unknown key\(s\) member"):
        parse_config({"group": [{"name": "g", "member": ["a"]}]})
    with pytest.raises(ConfigurationError, match="tag-format"):
        parse_config({"group": [{"name": "g", "members": ["a"], "tag-format": "v{vers}"}]})
    config, _ = parse_config({"group": [{"name": "g", "members": ["nope-*"]}]})
    with pytest.raises(ConfigurationError, match="match no package"):
        build_workspace("/r", config, {P("packages/a"): project("a")})
    config, _ = parse_config({"tag-formats": {"a": "{version}", "b": "v{version}"}})
    ws = build_workspace("/r", config, {P("packages/a"): project("a"),
                                        P("packages/b"): project("b")})  # fmt: skip
    assert ws.tag_spec("a").render("1.2.11") == "1.2.11"
    clash, _ = parse_config({"tag-formats": {"a": "{version}", "b": "{version}"}})
    with pytest.raises(ConfigurationError, match="put them in one"):
        build_workspace("/r", clash, {P("packages/a"): project("a"),
                                      P("packages/b"): project("b")})  # fmt: skip


def test_a_group_member_is_selected_with_its_group() -> None:
    config, _ = parse_config({"group": [{"name": "g", "members": ["g-*"]}]})
    ws = build_workspace("/r", config, {P("packages/a"): project("g-a"),
                                        P("packages/b"): project("g-b")})  # fmt: skip
    facts = {name: PackageFacts("1.0.0", frozenset(), changed_files=("x",)) for name in ws.names}
    plan = make_plan(ws, facts, PlanOptions("bump", "minor", only=("g-a",)))
    assert [e.name for e in plan.releases] == ["g-a", "g-b"]


# --- adopted tag histories ---------------------------------------------------------------------


def test_adopt_maps_existing_histories() -> None:
    langgraph = adopt_tags(["langgraph", "langgraph-checkpoint", "langgraph-sdk"],
                           ["1.2.10", "1.2.11", "checkpoint==4.2.0", "sdk==0.3.1", "v0"])
    assert langgraph.tag_formats == {"langgraph": "{version}",
                                     "langgraph-checkpoint": "checkpoint=={version}",
                                     "langgraph-sdk": "sdk=={version}"}  # fmt: skip
    assert langgraph.matched["langgraph"] == ("1.2.11", "1.2.10")
    assert langgraph.unmatched == ("v0",)
    otel = adopt_tags(["otel-api", "otel-sdk"], ["v1.44.0"])
    assert (otel.tag_format, otel.group) == ("v{version}", ("otel-api", "otel-sdk"))
    named = adopt_tags(["acme-core", "acme-text"], ["acme-core-v1.0", "acme-text==2.0"])
    assert named.tag_format == "{name}-v{version}"
    assert named.tag_formats == {"acme-text": "{name}=={version}"}
    rooted = adopt_tags(["root-app", "plugin"], ["3.0.0"], primary="root-app")
    assert rooted.tag_formats == {"root-app": "{version}"}


# --- what CI shows -----------------------------------------------------------------------------


def test_graph_formats() -> None:
    packages = [package_from_pyproject(P("a"), project("acme-core")),
                package_from_pyproject(P("b"), {
                    **project("acme-text", "1.0", "acme-core>=1,<2"),
                    "dependency-groups": {"test": ["acme-core"]}})]  # fmt: skip
    graph = DependencyGraph(packages)
    assert render_graph(graph, "text") == (
        "acme-core\nacme-text -> acme-core (<2,>=1)\n"
        "acme-text -> acme-core (any version) [group test]\n")
    assert '"acme-text" -> "acme-core" [style=dashed, label="group test"];' in render_graph(
        graph, "dot")
    assert "n_acme_text -. group test .-> n_acme_core" in render_graph(graph, "mermaid")


def test_plain_tables_cut_nothing() -> None:
    from pubkit.cli.render import plain_table

    name = "opentelemetry-exporter-otlp-proto-grpc-with-a-very-long-name"
    lines = plain_table(("package", "why"), [(name, "x" * 120), ("b", "y")])
    assert lines[1] == f"{name}  {'x' * 120}"
    assert lines[2] == "b" + " " * (len(name) + 1) + "y"


def test_the_commit_message_is_short() -> None:
    from pubkit.releasing.core.plan import PlanEntry, ReleasePlan
    from pubkit.releasing.pipeline import commit_message

    def entry(name: str, version: str) -> PlanEntry:
        return PlanEntry(name, name, "1.0", version, "release", "", ("version", "build"))

    assert commit_message(ReleasePlan((entry("acme-core", "2.0.0"),))) == (
        "release: acme-core 2.0.0")
    many = commit_message(ReleasePlan(tuple(entry(f"p{i}", "1.1") for i in range(24))))
    subject, _, body = many.partition("\n\n")
    assert subject == "release: 24 packages"
    assert body.splitlines()[0] == "- p0 1.1" and len(body.splitlines()) == 24


# --- lock files ---------------------------------------------------------------------------------

UV_LOCK = """\
version = 1
revision = 5
requires-python = ">=3.11"

[manifest]
members = ["lib-a", "lib-b"]

[[package]]
name = "lib-a"
version = "0.1.0"
source = { editable = "libs/a" }

[[package]]
name = "lib-b"
version = "0.2.0"
source = { editable = "libs/b" }
dependencies = [
    { name = "lib-a" },
]

[package.metadata]
requires-dist = [{ name = "lib-a", editable = "libs/a" }]
"""


def test_lock_files_follow_the_released_versions(tmp_path: Path) -> None:
    from pubkit.releasing.lock_files import lock_files, update_lock

    (tmp_path / "uv.lock").write_text(UV_LOCK)
    (tmp_path / "libs" / "b").mkdir(parents=True)
    (tmp_path / "libs" / "b" / "poetry.lock").write_text(
        '[[package]]\nname = "lib_a"\nversion = "0.1.0"\n\n[package.source]\ntype = "directory"\n'
        'url = "../a"\n\n[[package]]\nname = "requests"\nversion = "0.1.0"\n')
    (tmp_path / "pdm.lock").write_text(
        '[[package]]\nname = "lib-a"\nversion = "0.1.0"\npath = "./libs/a"\n')
    found = lock_files(tmp_path, [tmp_path / "libs" / "a", tmp_path / "libs" / "b"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "uv.lock", "pdm.lock", "libs/b/poetry.lock"]
    for path in found:
        assert update_lock(path, {"lib-a": "0.2.0", "requests": "9.9"})
        assert not update_lock(path, {"lib-a": "0.2.0"})  # already there
    assert (tmp_path / "uv.lock").read_text() == UV_LOCK.replace(
        'version = "0.1.0"', 'version = "0.2.0"')
    poetry = (tmp_path / "libs" / "b" / "poetry.lock").read_text()
    # A package from an index is a released version: never touched.
    assert 'name = "lib_a"\nversion = "0.2.0"' in poetry
    assert 'name = "requests"\nversion = "0.1.0"' in poetry


def test_an_edited_uv_lock_passes_uv_lock_check(tmp_path: Path) -> None:
    import subprocess

    from pubkit.releasing.lock_files import update_lock

    try:
        import uv
    except ImportError:
        pytest.skip("uv is not installed: `pip install uv` to run this check")
    for name, version in (("lib-a", "0.2.0"), ("lib-b", "0.2.0")):
        directory = tmp_path / "libs" / name[-1]
        directory.mkdir(parents=True)
        (directory / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\nversion = "{version}"\nrequires-python = ">=3.11"\n'
            + ('dependencies = ["lib-a>=0.1"]\n[tool.uv.sources]\nlib-a = { workspace = true }\n'
               if name == "lib-b" else "dependencies = []\n")
            + '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n')
    (tmp_path / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["libs/*"]\n')
    (tmp_path / "uv.lock").write_text(UV_LOCK)  # lib-a 0.1.0: stale
    check = [uv.find_uv_bin(), "lock", "--check", "--offline", "--directory", str(tmp_path)]
    assert subprocess.run(check, capture_output=True, check=False).returncode != 0
    update_lock(tmp_path / "uv.lock", {"lib-a": "0.2.0"})
    result = subprocess.run(check, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
