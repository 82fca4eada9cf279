"""What a package's test step installs and runs. Pure: the settings (``[tool.pubkit.test]``),
poetry dependency groups as PEP 508 requirements, requirements files' lines, and the internal
packages a test environment needs, each pinned to one exact artifact.

Settings come from three places, each key overriding the one before:

1. ``[tool.pubkit.test]`` in the workspace config (the default for every package; the older
   ``test-command`` and ``test-extras`` keys of ``[tool.pubkit]`` still set command, extras
   and groups);
2. ``[tool.pubkit.test]`` in the package's own ``pyproject.toml``;
3. ``[tool.pubkit.test.packages.NAME]`` in the workspace config (configuration only, without
   editing the package).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

from pubkit.core.distributions import normalize_name
from pubkit.errors import ConfigurationError
from pubkit.releasing.core.toml_values import expect_str_list

if TYPE_CHECKING:
    from pubkit.releasing.core.workspace import Package, WorkspaceConfig

DEFAULT_TEST_FOLDERS = (PurePosixPath("tests"), PurePosixPath("test"))


@dataclass(frozen=True)
class TestOptions:
    """One layer of test settings: ``None`` means "not set here"."""

    __test__ = False  # not a pytest test class

    command: tuple[str, ...] | None = None
    extras: tuple[str, ...] | None = None
    groups: tuple[str, ...] | None = None  # PEP 735
    poetry_groups: tuple[str, ...] | None = None  # [tool.poetry.group.NAME.dependencies]
    requirements: tuple[PurePosixPath, ...] | None = None  # files, relative to the package
    folder: PurePosixPath | None = None  # the tests, relative to the package
    working_directory: PurePosixPath | None = None  # relative to the package, in the copy
    skip: str | None = None  # the reason

    def over(self, base: TestOptions) -> TestOptions:
        """These options, with ``base`` filling what is not set here."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return TestOptions(**{name: value if value is not None else getattr(base, name)
                              for name, value in values.items()})  # fmt: skip


@dataclass(frozen=True)
class TestSettings:
    """The settings of one package's test step, every layer applied."""

    __test__ = False

    command: tuple[str, ...] = ("pytest",)
    extras: tuple[str, ...] = ("test",)
    groups: tuple[str, ...] = ("test",)
    poetry_groups: tuple[str, ...] = ("test",)
    requirements: tuple[PurePosixPath, ...] = ()
    folder: PurePosixPath | None = None  # None: tests/ or test/, whichever exists
    working_directory: PurePosixPath | None = None
    skip: str | None = None

    @classmethod
    def from_options(cls, options: TestOptions) -> TestSettings:
        defaults = cls()
        return cls(**{f.name: getattr(options, f.name) if getattr(options, f.name) is not None
                      else getattr(defaults, f.name) for f in fields(cls)})  # fmt: skip

    @property
    def runs_pytest(self) -> bool:
        return is_pytest(self.command)


def is_pytest(command: tuple[str, ...]) -> bool:
    return bool(command) and (
        command[0] in ("pytest", "py.test") or tuple(command[1:3]) == ("-m", "pytest")
    )


def _inside(value: object, what: str, example: str) -> PurePosixPath:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{what} must be a relative path; e.g. {example}")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        raise ConfigurationError(f"{what} {value!r} points outside the package; e.g. {example}")
    return path


def parse_command(value: object, what: str, key: str = "command") -> tuple[str, ...]:
    """A command as a shell-like string or a list of strings; ``key`` names it in examples."""
    if isinstance(value, str):
        try:
            command = tuple(shlex.split(value))
        except ValueError as error:
            raise ConfigurationError(
                f"{what} cannot be split ({error}); check its quotes"
            ) from None
    else:
        command = expect_str_list(value, what, f'{key} = ["pytest", "-q"]')
    if not command:
        raise ConfigurationError(f'{what} is empty; e.g. {key} = "pytest -q"')
    return command


OPTION_KEYS = ("command", "extras", "groups", "poetry-groups", "requirements", "folder",
               "working-directory", "skip")  # fmt: skip


def parse_test_options(table: Mapping[str, Any], where: str) -> TestOptions:
    """One ``[tool.pubkit.test]``-shaped table (``packages`` sub-tables are not read here)."""
    values: dict[str, Any] = {}
    for key, value in table.items():
        what = f"{where} {key}"
        if key == "command":
            values["command"] = parse_command(value, what)
        elif key in ("extras", "groups", "poetry-groups"):
            values[key.replace("-", "_")] = expect_str_list(value, what, f'{key} = ["test"]')
        elif key == "requirements":
            files = expect_str_list(value, what, 'requirements = ["test-requirements.txt"]')
            values["requirements"] = tuple(
                _inside(f, what, '"test-requirements.txt"') for f in files
            )
        elif key == "folder":
            values["folder"] = _inside(value, what, 'folder = "test"')
        elif key == "working-directory":
            values["working_directory"] = _inside(value, what, 'working-directory = "tests"')
        elif key == "skip":
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(
                    f'{what} must say why, as a string; e.g. skip = "needs a GPU"'
                )
            values["skip"] = value.strip()
        elif key != "packages":
            raise ConfigurationError(
                f"{where} has an unknown key {key!r}; known keys: {', '.join(OPTION_KEYS)}"
            )
    return TestOptions(**values)


def parse_workspace_test_table(
    table: object, where: str
) -> tuple[TestOptions, Mapping[str, TestOptions]]:
    """``[tool.pubkit.test]`` of the workspace: the default, and the per-package overrides
    (``[tool.pubkit.test.packages.NAME]``, by normalized name)."""
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"{where} must be a table, e.g. [tool.pubkit.test]")
    overrides: dict[str, TestOptions] = {}
    packages = table.get("packages", {})
    if not isinstance(packages, Mapping):
        raise ConfigurationError(f"{where} packages must be a table of tables, one per package")
    for name, sub in packages.items():
        if not isinstance(sub, Mapping):
            raise ConfigurationError(f"{where} packages {name} must be a table")
        overrides[normalize_name(name)] = parse_test_options(sub, f"{where}.packages.{name}")
    return parse_test_options(table, where), overrides


# ---------------------------------------------------------------------------------------------
# Poetry groups


def _caret(version: str) -> str:
    numbers = [int(re.match(r"\d*", part).group() or 0)  # type: ignore[union-attr]
               for part in version.split(".")]  # fmt: skip
    # The first non-zero part moves (the last one given when all are zero): ^1.2 -> <2,
    # ^0.2.3 -> <0.3, ^0.0.3 -> <0.0.4.
    index = next((i for i, n in enumerate(numbers) if n != 0), len(numbers) - 1)
    upper = [*numbers[:index], numbers[index] + 1]
    return f">={version},<{'.'.join(map(str, upper))}"


def _tilde(version: str) -> str:
    parts = version.split(".")
    upper = [str(int(parts[0]) + 1)] if len(parts) == 1 else [parts[0], str(int(parts[1]) + 1)]
    return f">={version},<{'.'.join(upper)}"


def poetry_specifier(constraint: str, what: str) -> str:
    """A poetry version constraint (``^1.2``, ``~1.2.3``, ``1.2.*``, ``>=1,<2``, ``*``) in
    PEP 440."""
    text = constraint.strip()
    if "||" in text or "|" in text:
        raise ConfigurationError(
            f"{what} {constraint!r} is a union, which PEP 508 cannot express; use one range"
        )
    pieces = []
    for piece in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", text):
        piece = piece.strip()
        if piece in ("", "*"):
            continue
        if piece.startswith("^"):
            pieces.append(_caret(piece[1:].strip()))
        elif piece.startswith("~") and not piece.startswith("~="):
            pieces.append(_tilde(piece[1:].strip()))
        elif piece[0].isdigit():
            pieces.append(f"=={piece}")
        else:
            pieces.append(piece)
    specifier = ",".join(pieces)
    try:
        SpecifierSet(specifier)
    except Exception:
        raise ConfigurationError(f"{what} {constraint!r} is not a version constraint") from None
    return specifier


def poetry_requirement(
    name: str, spec: object, what: str, path_name: Callable[[str], str | None] | None = None
) -> Requirement:
    """One entry of a poetry dependency table as a PEP 508 requirement. A ``path`` entry
    (a sibling package) becomes its name: the test step pins internal packages itself."""
    if isinstance(spec, list):  # several constraints by marker: any version of the name
        return Requirement(name)
    if isinstance(spec, str):
        return Requirement(f"{name}{poetry_specifier(spec, what)}")
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f"{what} must be a version string or a table")
    extras = spec.get("extras", [])
    head = name + (f"[{','.join(extras)}]" if extras else "")
    markers = [str(spec["markers"])] if "markers" in spec else []
    if "python" in spec:
        python = poetry_specifier(str(spec["python"]), f"{what} python")
        markers += [f'python_version {op} "{v}"' for op, v in
                    (re.match(r"([<>=!~]+)(.*)", p).groups()  # type: ignore[union-attr]
                     for p in python.split(",") if p)]  # fmt: skip
    marker = f"; {' and '.join(f'({m})' for m in markers)}" if markers else ""
    if "path" in spec:
        found = path_name(str(spec["path"])) if path_name else None
        return Requirement(f"{found or name}{marker}")
    if "url" in spec:
        return Requirement(f"{head} @ {spec['url']}{marker}")
    if "git" in spec:
        rev = spec.get("rev") or spec.get("tag") or spec.get("branch")
        return Requirement(f"{head} @ git+{spec['git']}{'@' + str(rev) if rev else ''}{marker}")
    version = poetry_specifier(str(spec.get("version", "*")), what)
    return Requirement(f"{head}{version}{marker}")


def poetry_groups(pyproject: Mapping[str, Any], where: str) -> dict[str, tuple[Requirement, ...]]:
    """``[tool.poetry.group.NAME.dependencies]`` (and the old ``dev-dependencies`` as group
    ``dev``), by normalized group name."""
    tool = pyproject.get("tool", {})
    poetry = tool.get("poetry", {}) if isinstance(tool, Mapping) else {}
    if not isinstance(poetry, Mapping):
        return {}
    tables: dict[str, Mapping[str, Any]] = {}
    if isinstance(poetry.get("dev-dependencies"), Mapping):
        tables["dev"] = poetry["dev-dependencies"]
    for group, body in (poetry.get("group") or {}).items():
        if isinstance(body, Mapping) and isinstance(body.get("dependencies"), Mapping):
            tables[normalize_name(group)] = body["dependencies"]
    groups: dict[str, tuple[Requirement, ...]] = {}
    for group, table in tables.items():
        what = f"{where} [tool.poetry.group.{group}.dependencies]"
        groups[group] = tuple(
            poetry_requirement(name, spec, f"{what} {name}")
            for name, spec in table.items()
            if normalize_name(name) != "python"
        )
    return groups


# ---------------------------------------------------------------------------------------------
# Requirements files


@dataclass(frozen=True)
class RequirementLines:
    """What a requirements file asks for: requirements (local paths already turned into the
    workspace package they name), the files it includes, and constraints files."""

    requirements: tuple[Requirement, ...] = ()
    includes: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()


_LOCAL_PATH = re.compile(r"^(\.{1,2}/|/|file:)|^[\w.-]+/")


def parse_requirement_lines(
    text: str, where: str, path_name: Callable[[str], str | None]
) -> RequirementLines:
    """The lines of a requirements file. ``path_name`` turns a local path (``-e ../core``,
    ``./core``) into the name of the workspace package there, or None."""
    requirements: list[Requirement] = []
    includes: list[str] = []
    constraints: list[str] = []
    logical = re.sub(r"\\\n", "", text)
    for number, raw in enumerate(logical.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        what = f"{where} line {number}"
        option, _, rest = line.partition(" ")
        if option in ("-r", "--requirement") or line.startswith("--requirement="):
            includes.append(rest.strip() or line.split("=", 1)[1])
            continue
        if option in ("-c", "--constraint") or line.startswith("--constraint="):
            constraints.append(rest.strip() or line.split("=", 1)[1])
            continue
        editable = option in ("-e", "--editable")
        target = rest.strip() if editable else line
        if editable or _LOCAL_PATH.match(target):
            local = target.removeprefix("file:").split("[", 1)[0].split(";", 1)[0].strip()
            name = path_name(local)
            if name is None:
                raise ConfigurationError(
                    f"{what}: {target!r} is not a package of the workspace; the test step"
                    " installs built wheels only"
                )
            requirements.append(Requirement(name))
            continue
        if line.startswith("-"):
            raise ConfigurationError(
                f"{what}: option {option!r} is not supported in test requirements; pubkit"
                " installs from the configured index"
            )
        try:
            requirements.append(Requirement(line))
        except InvalidRequirement as error:
            reason = str(error).splitlines()[0]
            raise ConfigurationError(f"{what}: invalid requirement {line!r} ({reason})") from None
    return RequirementLines(tuple(requirements), tuple(includes), tuple(constraints))


# ---------------------------------------------------------------------------------------------
# The internal packages of a test environment


def applies(requirement: Requirement, extras: Iterable[str] = ("",)) -> bool:
    """Whether the requirement's marker holds here (the test venv runs this interpreter)."""
    if requirement.marker is None:
        return True
    marker: Marker = requirement.marker
    return any(marker.evaluate({"extra": extra}) for extra in (*extras, ""))


@dataclass(frozen=True)
class InternalNeed:
    """An internal package the test environment will hold, and what is asked of it."""

    name: str
    specifier: SpecifierSet
    extras: frozenset[str] = frozenset()


def internal_closure(
    roots: Iterable[Requirement],
    requirements_of: Callable[[str, frozenset[str]], Iterable[Requirement]],
    internal: Iterable[str],
) -> dict[str, InternalNeed]:
    """Every internal package reachable from ``roots`` through requirements whose markers
    hold, with the intersection of the specifiers asked of it and the extras. ``requirements_of(
    name, extras)`` gives a package's runtime requirements plus those of ``extras``."""
    names = set(internal)
    specifiers: dict[str, SpecifierSet] = {}
    extras_seen: dict[str, frozenset[str]] = {}
    todo = [r for r in roots if normalize_name(r.name) in names and applies(r)]
    while todo:
        requirement = todo.pop()
        name = normalize_name(requirement.name)
        specifiers[name] = specifiers.get(name, SpecifierSet()) & requirement.specifier
        wanted = frozenset(normalize_name(e) for e in requirement.extras)
        known = extras_seen.get(name)
        if known is not None and wanted <= known:
            continue
        extras = wanted | (known or frozenset())
        extras_seen[name] = extras
        todo += [r for r in requirements_of(name, extras)
                 if normalize_name(r.name) in names and applies(r, extras)]  # fmt: skip
    return {name: InternalNeed(name, specifiers[name], extras_seen[name])
            for name in sorted(specifiers)}  # fmt: skip


def settings_of(config: WorkspaceConfig, package: Package) -> TestSettings:
    """The test settings of ``package``: the workspace default, the package's own
    ``[tool.pubkit.test]``, then the workspace's ``[tool.pubkit.test.packages.NAME]``."""
    legacy = TestOptions(command=config.test_command, extras=config.test_extras,
                         groups=config.test_extras, poetry_groups=config.test_extras)  # fmt: skip
    override = config.test_packages.get(package.normalized, TestOptions())
    return TestSettings.from_options(override.over(package.test.over(config.test.over(legacy))))
