"""``pubkit init``'s decisions: globs, the starting table, its text, editing pyproject.toml.

The last section runs discovery and :func:`prepare_init` in-process on temporary directories;
the command itself is in tests/e2e/test_init_command.py.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from pubkit.errors import ConfigurationError, UsageError
from pubkit.releasing.core.workspace import (
    WorkspaceConfig,
    glob_match,
    match_package_dirs,
    package_from_pyproject,
    parse_config,
)
from pubkit.releasing.initializing import (
    InitOptions,
    apply_init,
    discover,
    has_test_extra,
    package_globs,
    prepare_init,
    render_config,
    starting_config,
    with_config,
    without_config,
)
from pubkit.releasing.workspace_files import load_workspace

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

P = PurePosixPath


# --- package_globs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("packages", "others", "expected"),
    [
        (["packages/a", "packages/b"], [], ("packages/*",)),
        (["packages/a"], [], ("packages/*",)),
        # One glob per parent, whatever the depth, sorted by path.
        (
            ["packages/a", "libs/x", "libs/y", "tools/cli/main"],
            [],
            ("libs/*", "packages/*", "tools/cli/*"),
        ),
        # A sibling with a pyproject.toml but no [project] would break `packages/*`.
        (["packages/a", "packages/b"], ["packages/tooling"], ("packages/a", "packages/b")),
        # ...but only its own parent's glob.
        (["packages/a", "libs/x"], ["libs/docs"], ("libs/x", "packages/*")),
        # Others elsewhere (deeper, or at the root) do not matter: `*` is one segment.
        (["packages/a"], ["packages/a/tests/fixture", "docs", "."], ("packages/*",)),
        # Packages at the root are listed, never `*`.
        (["core", "cli"], [], ("cli", "core")),
        (["core", "packages/a"], [], ("core", "packages/*")),
        # A package inside another one.
        (["a/b", "a/b/c"], [], ("a/*", "a/b/*")),
        # Glob characters in names match themselves only.
        (["we[ir]d", "x/*star"], ["x/other"], ("we[[]ir]d", "x/[*]star")),
        (["p?q/a"], [], ("p[?]q/*",)),
    ],
)
def test_package_globs(packages: list[str], others: list[str], expected: tuple[str, ...]) -> None:
    assert package_globs(packages, others) == expected


def test_package_globs_accept_paths_and_ignore_duplicates() -> None:
    assert package_globs([P("packages/a"), "packages/a", P("packages/b")]) == ("packages/*",)


def test_package_globs_name_a_root_package_dot() -> None:
    assert package_globs([".", "plugins/a", "plugins/b"]) == (".", "plugins/*")
    assert match_package_dirs((".", "plugins/*"), [".", "plugins/a", "docs"]) == [
        P("."), P("plugins/a")]


def test_escaped_names_match_only_themselves() -> None:
    (pattern,) = package_globs(["we[ir]d"])
    assert glob_match(pattern, "we[ir]d")
    assert not glob_match(pattern, "wird")


def _random_tree(rng: random.Random) -> tuple[set[P], set[P]]:
    names = ["a", "b", "c", "pkg", "libs"]
    dirs = {
        P(*(rng.choice(names) for _ in range(rng.randint(1, 3)))) for _ in range(rng.randint(1, 9))
    }
    packages = {d for d in dirs if rng.random() < 0.6} or {next(iter(dirs))}
    return packages, dirs - packages


@pytest.mark.parametrize("seed", range(300))
def test_package_globs_match_exactly_the_packages(seed: int) -> None:
    packages, others = _random_tree(random.Random(seed))
    globs = package_globs(packages, others)
    assert match_package_dirs(globs, packages | others) == sorted(packages, key=lambda d: d.parts)
    # One glob per parent at most, or one per package when listed.
    assert len(globs) <= len(packages)


# --- the starting table -------------------------------------------------------------------------


def _package(optional: dict[str, list[str]] | None = None, **more: Any) -> Any:
    project = {"name": "acme-core", "version": "1.0", "optional-dependencies": optional or {}}
    return package_from_pyproject(P("packages/acme-core"), {"project": project, **more})


def test_has_test_extra() -> None:
    assert has_test_extra([_package({"test": ["pytest"]})])
    assert has_test_extra([_package({"Test": ["pytest"]})])  # names compare normalized
    assert has_test_extra([_package(**{"dependency-groups": {"test": ["pytest"]}})])
    assert not has_test_extra([_package({"tests": ["pytest"], "aws": ["boto3"]})])
    assert not has_test_extra([])


def test_starting_config_defaults() -> None:
    assert starting_config(["packages/*"]) == {
        "packages": ["packages/*"],
        "tag-format": "{name}-v{version}",
        "version-strategy": "manual",
        "test-command": "pytest",
        "test-extras": ["test"],
    }


def test_starting_config_with_index_and_without_test_extras() -> None:
    table = starting_config(
        ["libs/*"],
        index_url="https://pypi.example.com/simple/",
        tag_format="v{version}",
        version_strategy="conventional",
        test_extras=False,
    )
    assert list(table) == [
        "packages",
        "index-url",
        "tag-format",
        "version-strategy",
        "test-command",
    ]
    assert table["index-url"] == "https://pypi.example.com/simple/"
    assert table["version-strategy"] == "conventional"


@pytest.mark.parametrize("standalone", [False, True])
@pytest.mark.parametrize("index_url", [None, "https://pypi.example.com/simple/"])
def test_rendered_config_reads_back_as_the_table(standalone: bool, index_url: str | None) -> None:
    table = starting_config(["packages/*", "tools/cli"], index_url=index_url)
    text = render_config(table, standalone=standalone)
    data = tomllib.loads(text)
    read = data if standalone else data["tool"]["pubkit"]
    if not standalone:
        assert list(data) == ["tool"] and list(data["tool"]) == ["pubkit"]
        assert text.startswith("[tool.pubkit]\n")
    assert read == table
    config, warnings = parse_config(read)
    assert warnings == []
    assert config == WorkspaceConfig(
        packages=("packages/*", "tools/cli"), index_url=index_url, test_command=("pytest",)
    )


def test_rendered_config_explains_every_key() -> None:
    text = render_config(starting_config(["packages/*"]), standalone=False)
    lines = text.splitlines()
    for key in ("packages", "tag-format", "version-strategy", "test-command", "test-extras"):
        (at,) = [i for i, line in enumerate(lines) if line.startswith(f"{key} = ")]
        assert lines[at - 1].startswith("# "), key
    # No index given: the key is only shown, commented out, where it would go.
    assert 'index-url = "' not in text.replace('# index-url = "', "")
    assert "PUBKIT_INDEX_URL" in text
    assert all(len(line) <= 100 for line in lines)


def test_standalone_config_has_a_header_and_top_level_keys() -> None:
    text = render_config(starting_config(["packages/*"]), standalone=True)
    assert text.startswith("# pubkit")
    assert "[tool" not in text.replace("[tool.pubkit] in pyproject.toml", "")
    assert tomllib.loads(text)["packages"] == ["packages/*"]


def test_long_package_lists_are_one_per_line() -> None:
    globs = [f"services/team-{i}/package-with-a-long-name" for i in range(4)]
    text = render_config(starting_config(globs), standalone=True)
    assert "packages = [\n" in text
    assert tomllib.loads(text)["packages"] == globs
    short = render_config(starting_config(["a", "b"]), standalone=True)
    assert 'packages = ["a", "b"]\n' in short


# --- with_config / without_config ---------------------------------------------------------------

CONFIG = render_config(starting_config(["packages/*"]), standalone=False)
PUBKIT = tomllib.loads(CONFIG)["tool"]["pubkit"]


def _pubkit(text: str) -> Any:
    return tomllib.loads(text)["tool"]["pubkit"]


def test_with_config_appends_to_a_file_and_keeps_it_byte_for_byte() -> None:
    original = (
        "# The monorepo's root: not a package.\n"
        "[project]\n"
        'name   =   "root"   # odd spacing, kept\n'
        "\n"
        "[build-system]\n"
        "requires = ['setuptools']\n"
    )
    edited = with_config(original, CONFIG)
    assert edited.startswith(original + "\n[tool.pubkit]\n")
    assert edited.endswith('test-extras = ["test"]\n')
    assert _pubkit(edited) == PUBKIT


def test_with_config_joins_the_other_tool_tables() -> None:
    original = (
        "[tool.ruff]\nline-length = 100\n\n[tool.ruff.lint]\nselect = ['E']  # errors\n\n"
        '[project]\nname = "root"\n'
    )
    edited = with_config(original, CONFIG)
    ruff, _, rest = edited.partition("[tool.pubkit]\n")
    assert original.startswith(ruff)
    assert ruff.endswith("select = ['E']  # errors\n\n")
    assert rest.endswith('test-extras = ["test"]\n\n[project]\nname = "root"\n')
    data = tomllib.loads(edited)
    assert data["tool"]["ruff"] == {"line-length": 100, "lint": {"select": ["E"]}}
    assert data["project"] == {"name": "root"}


def test_with_config_replaces_a_table_in_place() -> None:
    original = (
        "[tool.black]\nx = 1\n\n"
        "[tool.pubkit]\n# old\npackages = ['old/*']\ntag-fromat = 'x'\n\n"
        "[tool.mypy]\nstrict = true\n"
    )
    edited = with_config(original, CONFIG)
    assert "old" not in edited and "fromat" not in edited
    assert edited.startswith("[tool.black]\nx = 1\n\n[tool.pubkit]\n")
    assert edited.endswith('test-extras = ["test"]\n\n[tool.mypy]\nstrict = true\n')
    assert _pubkit(edited) == PUBKIT


@pytest.mark.parametrize(
    "original",
    [
        "",
        '[project]\nname = "x"',  # no final newline
        "[tool]\nruff.line-length = 100\n",
        "tool.ruff.line-length = 100\n",
        '[tool.pubkit]\npackages = ["a"]\n',
        "[[tool.mypy.overrides]]\nmodule = 'a'\n\n[[tool.mypy.overrides]]\nmodule = 'b'\n",
    ],
)
def test_with_config_on_other_layouts(original: str) -> None:
    edited = with_config(original, CONFIG)
    assert _pubkit(edited) == PUBKIT
    rest = tomllib.loads(edited)
    del rest["tool"]["pubkit"]
    expected = tomllib.loads(original)
    expected.get("tool", {}).pop("pubkit", None)
    assert {k: v for k, v in rest.items() if v} == {k: v for k, v in expected.items() if v}
    assert "\n\n\n" not in edited
    assert not edited.endswith("\n\n")


def test_with_config_keeps_crlf() -> None:
    original = "# root\r\n[project]\r\nname = 'x'\r\n"
    edited = with_config(original, CONFIG)
    assert edited.startswith(original)
    assert edited.count("\n") == edited.count("\r\n")
    assert _pubkit(edited) == PUBKIT


@pytest.mark.parametrize("original", ["tool = {ruff = {x = 1}}\n", 'tool = "x"\n'])
def test_with_config_refuses_what_it_cannot_edit_cleanly(original: str) -> None:
    with pytest.raises(ConfigurationError, match="--pubkit-toml"):
        with_config(original, CONFIG)


def test_without_config_removes_the_table_alone() -> None:
    original = (
        "# root\n[tool.black]\nx = 1\n\n[tool.pubkit]\npackages = ['a']\n\n"
        "[project]\nname = 'root'  # kept\n"
    )
    assert without_config(original) == (
        "# root\n[tool.black]\nx = 1\n\n[project]\nname = 'root'  # kept\n"
    )
    assert without_config("[project]\nname = 'x'\n\n[tool.pubkit]\npackages = ['a']\n") == (
        "[project]\nname = 'x'\n"
    )
    assert without_config("[tool.pubkit]\npackages = ['a']\n") == ""


def test_round_trip_restores_the_original() -> None:
    original = "# root\n[tool.ruff]\nline-length = 100  # keep\n"
    assert without_config(with_config(original, CONFIG)) == original


# --- on a temporary directory -------------------------------------------------------------------


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _project(name: str, *deps: str, extra: str = "test") -> str:
    requirements = ", ".join(f'"{d}"' for d in deps)
    return (
        f'[project]\nname = "{name}"\nversion = "1.0.0"\ndependencies = [{requirements}]\n'
        f'[project.optional-dependencies]\n{extra} = ["pytest"]\n'
    )


def test_discover_skips_what_is_not_a_source_package(tmp_path: Path) -> None:
    _write(tmp_path, "pyproject.toml", _project("root"))
    _write(tmp_path, "packages/a/pyproject.toml", _project("a"))
    _write(tmp_path, "packages/tooling/pyproject.toml", "[tool.ruff]\n")
    _write(tmp_path, "packages/broken/pyproject.toml", "[project\n")
    for skipped in (
        ".hidden/x",
        "node_modules/x",
        "build/x",
        "dist/x",
        "__pycache__/x",
        ".tox/x",
        ".nox/x",
        "lib/site-packages/x",
        "venv/x",
        "packages/a/.venv/lib/x",
    ):
        _write(tmp_path, f"{skipped}/pyproject.toml", _project("skipped"))
    _write(tmp_path, "env/pyvenv.cfg", "home = /usr/bin\n")
    _write(tmp_path, "env/lib/x/pyproject.toml", _project("skipped"))
    found = discover(tmp_path)
    # The root's own [project] is a package too (a root package with plugins below it).
    assert list(found.packages) == [P("."), P("packages/a")]
    assert found.others == (P("packages/broken"), P("packages/tooling"))
    assert found.warnings == ("skipped packages/broken/pyproject.toml: not valid TOML",)


def test_discover_looks_at_symlinks_without_following_them(tmp_path: Path) -> None:
    _write(tmp_path, "packages/a/pyproject.toml", _project("a"))
    (tmp_path / "packages" / "link").symlink_to(tmp_path / "packages" / "a")
    found = discover(tmp_path)
    assert list(found.packages) == [P("packages/a")]
    # The loader would follow it: the globs must keep away from it.
    assert found.others == (P("packages/link"),)


def test_prepare_init_writes_nothing_and_apply_init_loads_cleanly(tmp_path: Path) -> None:
    _write(tmp_path, "packages/core/pyproject.toml", _project("acme-core"))
    _write(tmp_path, "packages/text/pyproject.toml", _project("acme-text", "acme-core>=1"))
    _write(tmp_path, "packages/tooling/pyproject.toml", "[tool.black]\n")
    _write(tmp_path, "apps/web/pyproject.toml", _project("web", "acme-text"))
    plan = prepare_init(tmp_path, InitOptions())
    assert not (tmp_path / "pyproject.toml").exists()
    assert [p.name for p in plan.order] == ["acme-core", "acme-text", "web"]
    assert _pubkit(plan.config_text)["packages"] == ["apps/*", "packages/core", "packages/text"]
    apply_init(plan)
    loaded = load_workspace(tmp_path)
    assert loaded.warnings == ()
    assert loaded.workspace.packages == plan.workspace.packages


def test_prepare_init_without_test_extras_leaves_the_key_out(tmp_path: Path) -> None:
    _write(tmp_path, "libs/a/pyproject.toml", _project("a", extra="aws"))
    plan = prepare_init(tmp_path, InitOptions(standalone=True))
    assert "test-extras" not in tomllib.loads(plan.config_text)


def test_prepare_init_reports_a_cycle_but_writes_the_config(tmp_path: Path) -> None:
    _write(tmp_path, "packages/a/pyproject.toml", _project("a", "b"))
    _write(tmp_path, "packages/b/pyproject.toml", _project("b", "a"))
    plan = prepare_init(tmp_path, InitOptions())
    assert [p.name for p in plan.order] == ["a", "b"]
    assert any("dependency cycle" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (InitOptions(version_strategy="semver"), "--version-strategy 'semver' is unknown"),
        (InitOptions(tag_format="{name}"), "has no {version}"),
        (InitOptions(index_url="ftp://x.example/"), "not an http(s) URL"),
        (InitOptions(index_url="https://u:secret@x.example/simple/"), "password"),
    ],
)
def test_prepare_init_checks_options(tmp_path: Path, options: InitOptions, message: str) -> None:
    _write(tmp_path, "packages/a/pyproject.toml", _project("a"))
    with pytest.raises((UsageError, ConfigurationError)) as caught:
        prepare_init(tmp_path, options)
    assert message in str(caught.value)
    assert "secret" not in str(caught.value)


def test_prepare_init_fails_on_a_package_it_cannot_load(tmp_path: Path) -> None:
    _write(tmp_path, "packages/a/pyproject.toml", '[project]\nname = "a"\nversion = "one"\n')
    with pytest.raises(ConfigurationError, match=r"packages/a/pyproject\.toml .* PEP 440"):
        prepare_init(tmp_path, InitOptions())
