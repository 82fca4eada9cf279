from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from packaging.requirements import Requirement

from pubkit.errors import ConfigurationError, UsageError
from pubkit.releasing.core.workspace import (
    STATIC_VERSION,
    Package,
    VersionSource,
    Workspace,
    WorkspaceConfig,
    build_workspace,
    glob_match,
    match_package_dirs,
    package_from_pyproject,
    parse_config,
)

P = PurePosixPath


def pyproject(
    name: str = "acme-core",
    version: object = "1.0.0",
    *,
    optional: object = None,
    **project: Any,
) -> dict[str, Any]:
    """A package's parsed pyproject.toml; ``version=None`` leaves the version out."""
    table: dict[str, Any] = {"name": name, **project}
    if version is not None:
        table["version"] = version
    if optional is not None:
        table["optional-dependencies"] = optional
    return {"project": table}


# --- config -----------------------------------------------------------------------------------


def test_config_defaults() -> None:
    config, warnings = parse_config({})
    assert config == WorkspaceConfig()
    assert warnings == []
    assert config.packages == ("packages/*",)
    assert config.index_url is None
    assert config.tag_format == "{name}-v{version}"
    assert config.version_strategy == "manual"
    assert config.test_command == ("pytest",)
    assert config.test_extras == ("test",)
    assert config.exclude == ()


def test_config_all_keys() -> None:
    config, warnings = parse_config(
        {
            "packages": ["./libs/*/", "services/**"],
            "index-url": "https://pypi.example.com/simple/",
            "tag-format": "{name}/{version}",
            "version-strategy": "conventional",
            "test-command": ["pytest", "-q", "-x"],
            "test-extras": ["test", "aws"],
            "exclude": ["**/*.md", "docs/**"],
        }
    )
    assert warnings == []
    assert config == WorkspaceConfig(
        packages=("libs/*", "services/**"),
        index_url="https://pypi.example.com/simple/",
        tag_format="{name}/{version}",
        version_strategy="conventional",
        test_command=("pytest", "-q", "-x"),
        test_extras=("test", "aws"),
        exclude=("**/*.md", "docs/**"),
    )


def test_test_command_string_is_split_like_a_shell() -> None:
    config, _ = parse_config({"test-command": "pytest -q -k 'not slow'"})
    assert config.test_command == ("pytest", "-q", "-k", "not slow")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("tag-fromat", "did you mean 'tag-format'?"),
        ("tag_format", "did you mean 'tag-format'?"),
        ("index_url", "did you mean 'index-url'?"),
        ("pakages", "did you mean 'packages'?"),
        ("version-stratgy", "did you mean 'version-strategy'?"),
        ("test-extra", "did you mean 'test-extras'?"),
        ("colour", "known keys: exclude, index-url, packages, tag-format, test, test-command"),
    ],
)
def test_unknown_keys_warn_with_the_likely_key(key: str, expected: str) -> None:
    config, warnings = parse_config({key: "x", "packages": ["libs/*"]})
    assert config.packages == ("libs/*",)  # the rest still applies
    assert len(warnings) == 1
    assert warnings[0].startswith(f"unknown key {key!r} in [tool.pubkit]; ")
    assert expected in warnings[0]


def test_warning_names_the_source_table() -> None:
    _, warnings = parse_config({"tag-fromat": "x"}, source="pubkit.toml")
    assert warnings == ["unknown key 'tag-fromat' in pubkit.toml; did you mean 'tag-format'?"]


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"packages": "packages/*"}, ["packages", "array of strings", "not a string"]),
        ({"packages": ["a", 3]}, ["packages", "array with non-strings"]),
        ({"packages": []}, ["packages", "empty"]),
        ({"packages": ["/abs/*"]}, ["packages", "relative"]),
        ({"packages": ["../elsewhere/*"]}, ["packages", "inside"]),
        ({"tag-format": 3}, ["tag-format", "string", "not an integer"]),
        ({"tag-format": "{name}-v"}, ["tag-format '{name}-v' has no {version}"]),
        ({"tag-format": "{nmae}-{version}"}, ["tag-format", "{nmae}"]),
        ({"tag-format": "{name-{version}"}, ["tag-format", "not a valid format"]),
        ({"tag-format": "{name} v{version}"}, ["tag-format", "git does not allow"]),
        ({"tag-format": "{name}..{version}"}, ["tag-format", "'..'"]),
        ({"tag-format": "{name}{version}"}, ["tag-format", "side by side"]),
        ({"version-strategy": "semver"}, ["version-strategy", "manual, bump, conventional"]),
        ({"version-strategy": True}, ["version-strategy", "not a boolean"]),
        ({"index-url": "pypi.example.com"}, ["index-url", "http(s) URL"]),
        ({"index-url": ["https://x"]}, ["index-url", "not an array"]),
        ({"test-command": ""}, ["test-command", "empty"]),
        ({"test-command": "pytest 'unclosed"}, ["test-command", "quotes"]),
        ({"test-command": {"run": "pytest"}}, ["test-command", "not a table"]),
        ({"test-extras": "test"}, ["test-extras", "array of strings"]),
        ({"exclude": "**/*.md"}, ["exclude", "array of strings"]),
    ],
)
def test_bad_config_values(table: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_config(table)
    message = str(caught.value)
    assert message.startswith("[tool.pubkit] ")
    assert "\n" not in message
    for word in words:
        assert word in message


def test_index_url_never_echoed_and_password_warned() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_config({"index-url": "ftp://user:hunter2@host/"})
    assert "hunter2" not in str(caught.value)
    config, warnings = parse_config({"index-url": "https://ci:hunter2@pypi.example.com/"})
    assert config.index_url == "https://ci:hunter2@pypi.example.com/"
    assert len(warnings) == 1
    assert "PUBKIT_INDEX_PASSWORD" in warnings[0]
    assert "hunter2" not in warnings[0]


def test_tag_format_without_name_is_fine_for_one_package() -> None:
    config, _ = parse_config({"tag-format": "v{version}"})
    workspace = Workspace(Path("/r"), config, (package_from_pyproject(P("."), pyproject()),))
    assert workspace.names == ("acme-core",)


def test_tag_format_without_name_clashes_for_several_packages() -> None:
    config, _ = parse_config({"tag-format": "v{version}"})
    with pytest.raises(ConfigurationError, match=r"has no \{name\} but the workspace has 2"):
        build_workspace(
            "/r", config, {P("packages/a"): pyproject("a"), P("packages/b"): pyproject("b")}
        )


def test_excludes_are_relative_to_the_package() -> None:
    config, _ = parse_config({"exclude": ["**/*.md", "docs/**", "CHANGELOG.rst"]})
    assert config.is_excluded("README.md")
    assert config.is_excluded(P("src/acme/notes.md"))
    assert config.is_excluded("docs/index.rst")
    assert config.is_excluded("CHANGELOG.rst")
    assert not config.is_excluded("src/acme/core.py")
    assert not config.is_excluded("src/CHANGELOG.rst")
    assert not WorkspaceConfig().is_excluded("README.md")


# --- globs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("packages/*", "packages/core", True),
        ("packages/*", "packages/core/sub", False),
        ("packages/*", "vendor/packages/core", False),  # anchored, unlike PurePath.match
        ("packages/*", "packages", False),
        ("packages/**", "packages", True),
        ("packages/**", "packages/a/b/c", True),
        ("**/*.md", "README.md", True),
        ("**/*.md", "a/b/README.md", True),
        ("**/*.md", "a/b/README.mdx", False),
        ("libs/acme-*", "libs/acme-core", True),
        ("libs/acme-*", "libs/Acme-core", False),  # case-sensitive everywhere
        ("libs/[ab]*", "libs/beta", True),
        ("libs/?", "libs/x", True),
        (".", ".", True),
        ("src/**/tests/*.py", "src/tests/test_a.py", True),
    ],
)
def test_glob_match(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


def test_match_package_dirs_is_sorted_deduplicated_and_skips_hidden() -> None:
    candidates: list[PurePosixPath | str] = [
        P("packages/zeta"),
        "packages/alpha",
        P("packages/alpha"),
        P("packages/.venv"),
        P("packages/alpha/tests/fixture"),
        P("tools/cli"),
        P("services/api"),
        P("."),
    ]
    found = match_package_dirs(["packages/*", "tools/*", "tools/cli"], candidates)
    assert found == [P("packages/alpha"), P("packages/zeta"), P("tools/cli")]
    assert match_package_dirs(["**"], candidates) == [
        P("."),
        P("packages/alpha"),
        P("packages/alpha/tests/fixture"),
        P("packages/zeta"),
        P("services/api"),
        P("tools/cli"),
    ]
    assert match_package_dirs(["nothing/*"], candidates) == []


# --- packages ---------------------------------------------------------------------------------


def test_static_package() -> None:
    package = package_from_pyproject(
        P("packages/core"),
        pyproject(
            "Acme_Core",
            "1.2.0",
            dependencies=["requests>=2.31", "acme-util[fast]>=1; python_version>'3.8'"],
            optional={"AWS": ["boto3>=1.34"], "test": ["pytest"]},
        ),
    )
    assert package.name == "Acme_Core"
    assert package.normalized == "acme-core"
    assert package.path == P("packages/core")
    assert package.pyproject_path == P("packages/core/pyproject.toml")
    assert package.version == "1.2.0"
    assert package.version_source == STATIC_VERSION
    assert package.version_source.files == (P("pyproject.toml"),)
    assert package.dependencies == (
        Requirement("requests>=2.31"),
        Requirement("acme-util[fast]>=1; python_version>'3.8'"),
    )
    # Extra names compare normalized (PEP 685).
    assert dict(package.optional_dependencies) == {
        "aws": (Requirement("boto3>=1.34"),),
        "test": (Requirement("pytest"),),
    }
    assert dict(package.dependency_groups) == {}
    assert package.dynamic == ()


def test_package_is_immutable_and_hashable() -> None:
    package = package_from_pyproject(P("p"), pyproject(optional={"x": ["y"]}))
    with pytest.raises(TypeError):
        package.optional_dependencies["z"] = ()  # type: ignore[index]
    assert hash(package) == hash(package_from_pyproject(P("p"), pyproject()))
    assert package == package_from_pyproject(P("p"), pyproject(optional={"x": ["y"]}))


def test_dependency_groups_expand_includes() -> None:
    package = package_from_pyproject(
        P("p"),
        {
            **pyproject(),
            "dependency-groups": {
                "Test": ["pytest>=8", "acme-testing"],
                "typing": ["mypy"],
                "dev": [{"include-group": "test"}, {"include-group": "typing"}, "ruff"],
            },
        },
    )
    assert dict(package.dependency_groups) == {
        "test": (Requirement("pytest>=8"), Requirement("acme-testing")),
        "typing": (Requirement("mypy"),),
        "dev": (
            Requirement("pytest>=8"),
            Requirement("acme-testing"),
            Requirement("mypy"),
            Requirement("ruff"),
        ),
    }


@pytest.mark.parametrize(
    ("groups", "words"),
    [
        ({"a": [{"include-group": "a"}]}, ["include-group cycle: a -> a"]),
        (
            {"a": [{"include-group": "b"}], "b": [{"include-group": "a"}]},
            ["include-group cycle: a -> b -> a"],
        ),
        ({"a": [{"include-group": "missing"}]}, ["unknown group 'missing'"]),
        ({"a": [{"include": "b"}]}, ["requirement strings"]),
        ({"a": "pytest"}, ["must be an array"]),
        ({"Test": ["x"], "test": ["y"]}, ["group 'test' twice"]),
        ({"a": ["pytest >="]}, ["invalid requirement 'pytest >='"]),
    ],
)
def test_bad_dependency_groups(groups: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        package_from_pyproject(P("p"), {**pyproject(), "dependency-groups": groups})
    assert str(caught.value).startswith("p/pyproject.toml [dependency-groups]")
    for word in words:
        assert word in str(caught.value)


def test_setuptools_attr_without_package_dir_lists_flat_and_src_layouts() -> None:
    package = package_from_pyproject(
        P("packages/clean"),
        {
            **pyproject("acme-clean", None, dynamic=["version"]),
            "tool": {"setuptools": {"dynamic": {"version": {"attr": "acme_clean.__version__"}}}},
        },
    )
    assert package.version is None
    assert package.dynamic == ("version",)
    assert package.version_source == VersionSource(
        "python",
        "setuptools",
        (
            P("acme_clean.py"),
            P("acme_clean/__init__.py"),
            P("src/acme_clean.py"),
            P("src/acme_clean/__init__.py"),
        ),
        ("__version__",),
    )


@pytest.mark.parametrize(
    ("package_dir", "attr", "files"),
    [
        ({"": "src"}, "acme.about.VERSION", ("src/acme/about.py", "src/acme/about/__init__.py")),
        ({"acme": "lib/acme"}, "acme.__version__", ("lib/acme.py", "lib/acme/__init__.py")),
        ({"acme": "lib"}, "acme.v.__version__", ("lib/v.py", "lib/v/__init__.py")),
        ({"": "."}, "acme.__version__", ("acme.py", "acme/__init__.py")),
    ],
)
def test_setuptools_attr_follows_package_dir(
    package_dir: dict[str, str], attr: str, files: tuple[str, ...]
) -> None:
    source = package_from_pyproject(
        P("p"),
        {
            **pyproject(version=None, dynamic=["version"]),
            "tool": {
                "setuptools": {
                    "package-dir": package_dir,
                    "dynamic": {"version": {"attr": attr}},
                }
            },
        },
    ).version_source
    assert source.files == tuple(P(f) for f in files)
    assert source.attributes == (attr.rpartition(".")[2],)


def test_setuptools_version_file() -> None:
    for spec in ({"file": "VERSION"}, {"file": ["VERSION"]}):
        source = package_from_pyproject(
            P("p"),
            {
                **pyproject(version=None, dynamic=["version"]),
                "tool": {"setuptools": {"dynamic": {"version": spec}}},
            },
        ).version_source
        assert source == VersionSource("text", "setuptools", (P("VERSION"),))


def test_hatch_version_path() -> None:
    source = package_from_pyproject(
        P("packages/aws"),
        {
            **pyproject("acme-aws", None, dynamic=["version"]),
            "tool": {"hatch": {"version": {"path": "src/acme_aws/__about__.py"}}},
        },
    ).version_source
    assert source == VersionSource(
        "python", "hatch", (P("src/acme_aws/__about__.py"),), ("__version__", "VERSION")
    )


def test_hatch_custom_pattern_and_vcs() -> None:
    def source(hatch_version: dict[str, Any]) -> VersionSource:
        return package_from_pyproject(
            P("p"),
            {
                **pyproject(version=None, dynamic=["version"]),
                "tool": {"hatch": {"version": hatch_version}},
            },
        ).version_source

    custom = source({"path": "v.py", "pattern": r"V = '(?P<version>[^']+)'"})
    assert custom.pattern == r"V = '(?P<version>[^']+)'"
    assert source({"path": "v.py", "pattern": True}).pattern is None
    assert source({"source": "vcs"}) == VersionSource("vcs", "hatch")
    assert source({"source": "code", "path": "v.py", "expression": "VERSION"}).attributes == (
        "VERSION",
    )


def test_other_backends() -> None:
    dynamic = pyproject("acme-kafka", None, dynamic=["version"])
    pdm = {**dynamic, "tool": {"pdm": {"version": {"source": "file", "path": "src/k.py"}}}}
    assert package_from_pyproject(P("p"), pdm).version_source == VersionSource(
        "python", "pdm", (P("src/k.py"),), ("__version__",)
    )
    scm = {**dynamic, "tool": {"setuptools_scm": {}}}
    assert package_from_pyproject(P("p"), scm).version_source == VersionSource("vcs", "scm")
    flit = {**dynamic, "build-system": {"build-backend": "flit_core.buildapi"}}
    assert package_from_pyproject(P("p"), flit).version_source.files == (
        P("acme_kafka/__init__.py"),
        P("acme_kafka.py"),
        P("src/acme_kafka/__init__.py"),
        P("src/acme_kafka.py"),
    )


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({}, ["p/pyproject.toml has no [project] table"]),
        ({"project": []}, ["[project] must be a table"]),
        ({"project": {"version": "1.0"}}, ["[project] has no name"]),
        ({"project": {"name": "-bad-", "version": "1"}}, ["'-bad-' is not a valid project name"]),
        (pyproject(version=None), ["[project] has no version", "dynamic"]),
        (pyproject(version="one"), ["'one' is not a PEP 440 version"]),
        (pyproject(version=1), ["[project] version must be a string"]),
        (pyproject(dynamic=["version"]), ["sets a version and declares it dynamic"]),
        (pyproject(dependencies="requests"), ["[project] dependencies must be an array"]),
        (
            pyproject(dependencies=["requests", "acme-core >=< 2"]),
            ["[project] dependencies has an invalid requirement 'acme-core >=< 2'"],
        ),
        (
            pyproject(optional={"aws": ["boto3 >="]}),
            ["optional-dependencies] aws has an invalid requirement 'boto3 >='"],
        ),
        (
            pyproject(optional=["boto3"]),
            ["[project.optional-dependencies] must be a table"],
        ),
        (pyproject(version=None, dynamic=["version"]), ["dynamic but not where it comes from"]),
        (
            {
                **pyproject(version=None, dynamic=["version"]),
                "tool": {"hatch": {"version": {"path": "../../VERSION"}}},
            },
            ["points outside the package"],
        ),
        (
            {
                **pyproject(version=None, dynamic=["version"]),
                "tool": {"hatch": {"version": {"path": ""}}},
            },
            ["path names no file"],
        ),
        (
            {
                **pyproject(version=None, dynamic=["version"]),
                "tool": {
                    "setuptools": {
                        "package-dir": {"": "/src"},
                        "dynamic": {"version": {"attr": "acme.__version__"}},
                    }
                },
            },
            ["[tool.setuptools] package-dir '/src' points outside the package"],
        ),
        (
            {
                **pyproject(version=None, dynamic=["version"]),
                "tool": {"hatch": {"version": {"source": "env"}}},
            },
            ["source 'env' is not supported"],
        ),
        (
            {
                **pyproject(version=None, dynamic=["version"]),
                "tool": {"setuptools": {"dynamic": {"version": {"attr": "__version__"}}}},
            },
            ["is not module.attribute"],
        ),
        (
            {
                **pyproject(version=None, dynamic=["version"]),
                "tool": {"pdm": {"version": {"source": "call", "getter": "x:y"}}},
            },
            ["source 'call' is not supported"],
        ),
    ],
)
def test_bad_pyprojects(document: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        package_from_pyproject(P("p"), document)
    message = str(caught.value)
    assert message.startswith("p/pyproject.toml ")
    assert "\n" not in message
    for word in words:
        assert word in message


def test_root_package_path() -> None:
    with pytest.raises(ConfigurationError, match=r"^pyproject.toml has no \[project\]"):
        package_from_pyproject(P("."), {})


# --- workspace --------------------------------------------------------------------------------


def test_build_workspace_sorts_by_normalized_name_and_ignores_unmatched() -> None:
    config, _ = parse_config({"packages": ["packages/*", "tools/*"]})
    workspace = build_workspace(
        "/repo",
        config,
        {
            P("."): {"tool": {"pubkit": {}}},  # the root's own pyproject.toml: not a package
            P("packages/zz"): pyproject("Acme.Text"),
            P("packages/aa"): pyproject("acme_kafka"),
            P("tools/cli"): pyproject("Acme-CLI"),
            P("examples/demo"): pyproject("demo"),
        },
    )
    assert workspace.root == Path("/repo")
    assert workspace.config is config
    assert workspace.names == ("acme-cli", "acme-kafka", "acme-text")
    assert [p.path for p in workspace.packages] == [
        P("tools/cli"),
        P("packages/aa"),
        P("packages/zz"),
    ]


def test_package_lookup_by_any_spelling() -> None:
    workspace = build_workspace(
        "/r", WorkspaceConfig(), {P("packages/core"): pyproject("acme-core")}
    )
    for spelling in ("acme-core", "Acme_Core", "ACME.core", "acme__core"):
        assert workspace.package(spelling).path == P("packages/core")


def test_unknown_package_is_a_usage_error_listing_names() -> None:
    workspace = build_workspace(
        "/r",
        WorkspaceConfig(),
        {P("packages/core"): pyproject("acme-core"), P("packages/aws"): pyproject("acme-aws")},
    )
    with pytest.raises(UsageError) as caught:
        workspace.package("acme-cor")
    assert str(caught.value) == (
        "unknown package 'acme-cor'; did you mean 'acme-core'? known packages: acme-aws, acme-core"
    )
    with pytest.raises(UsageError, match="the workspace has none"):
        Workspace(Path("/r"), WorkspaceConfig()).package("x")


def test_duplicate_names_across_dirs_name_both_paths() -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_workspace(
            "/r",
            WorkspaceConfig(),
            {P("packages/core"): pyproject("Acme_Core"), P("packages/old"): pyproject("acme-core")},
        )
    message = str(caught.value)
    assert "two packages are named 'acme-core'" in message
    assert "packages/core" in message
    assert "packages/old" in message


def test_workspace_constructed_directly_is_sorted_too() -> None:
    b = Package("b", P("x/b"), "1.0")
    a = Package("A", P("x/a"), "1.0")
    workspace = Workspace(Path("."), WorkspaceConfig(), (b, a))
    assert workspace.packages == (a, b)
    assert a.normalized == "a"
