"""examples/consumer installs from a live pubkit index, with pip and with its own Dockerfile.

The monorepo's packages are built with ``pubkit build`` and uploaded with twine; the consumer
is installed with pip from the server (third-party packages from this machine's usual
indexes) and its tests and command run in that venv. Docker is not needed: the Dockerfile is
parsed, checked, and its builder stage's commands are executed here against the live index.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pubkit.testing import LiveServer
from tests.dockerfiles import (
    Dockerfile,
    Instruction,
    Stage,
    arg_declarations,
    env_assignments,
    expand,
    parse_dockerfile,
)
from tests.e2e.releasing import example_repo, pubkit_release
from tests.e2e.support import (
    CLIENT_TIMEOUT,
    LogWindow,
    Venv,
    VenvFactory,
    client_env,
    output,
    pip,
    run,
    sha256_of,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).parents[2] / "examples"
MONOREPO = EXAMPLES / "monorepo"
CONSUMER = EXAMPLES / "consumer"
SCRIPT = "acme-catalog-worker"

FEED = (
    '{"id": "mug-1", "title": "<b>Caf\u00e9</b>&nbsp;mug", "description": "<p>Holds 300 ml.</p>"}\n'
    "not a listing\n"
)


# -- the example projects ------------------------------------------------------------------


def monorepo_versions() -> dict[str, str]:
    """Package name -> version, for every package of the example monorepo."""
    versions: dict[str, str] = {}
    for pyproject in sorted(MONOREPO.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        versions[canonicalize_name(project["name"])] = project["version"]
    return versions


def internal_requirements() -> dict[str, Requirement]:
    """The consumer's requirements on packages of the monorepo, by package name."""
    project = tomllib.loads((CONSUMER / "pyproject.toml").read_text())["project"]
    packages = monorepo_versions()
    requirements = (Requirement(line) for line in project["dependencies"])
    return {
        canonicalize_name(r.name): r for r in requirements if canonicalize_name(r.name) in packages
    }


def copy_consumer(destination: Path) -> Path:
    """A copy of the consumer without build leftovers: pip builds a local project in place."""
    ignored = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(CONSUMER, destination, ignore=ignored)
    return destination


def usual_indexes() -> list[str]:
    """The indexes this machine's pip is configured with: third-party packages come from there.

    The index URL (PyPI when none is configured) and every extra index URL, as ``pip config
    list`` shows them for the environment this test runs in.
    """
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True, text=True, check=True, timeout=CLIENT_TIMEOUT,
    )  # fmt: skip
    index_urls: list[str] = []
    extra_urls: list[str] = []
    for line in listed.stdout.splitlines():
        key, _, quoted = line.partition("=")
        option = key.rsplit(".", 1)[-1]
        values = shlex.split(quoted)
        if option == "index-url":
            index_urls += values
        elif option == "extra-index-url":
            extra_urls += " ".join(values).split()
    urls = (index_urls or ["https://pypi.org/simple/"]) + extra_urls
    return list(dict.fromkeys(urls))


def third_party_index_args() -> list[str]:
    return [arg for url in usual_indexes() for arg in ("--extra-index-url", url)]


# -- the monorepo's packages on the live index ---------------------------------------------


@dataclass(frozen=True)
class Published:
    wheels: dict[str, Path]  # package name -> the uploaded wheel


@pytest.fixture(scope="module")
def published(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Published:
    """The example monorepo, released into the index by ``pubkit release`` from a fresh git
    repository (build backends and test dependencies come from the machine's usual index)."""
    repo = example_repo(tmp_path_factory.mktemp("monorepo") / "repo")
    released = pubkit_release(repo, server, "--jobs", "2")
    assert released.returncode == 0, released.stdout + released.stderr
    wheels = {canonicalize_name(p.parent.name): p for p in (repo / "dist").rglob("*.whl")}
    assert sorted(wheels) == sorted(internal_requirements())
    return Published(wheels)


def assert_fetched_from(
    server: LiveServer, window: LogWindow, published: Published, report: Path
) -> None:
    """pip's report and the server's access log agree: every acme wheel came from the server."""
    items = json.loads(report.read_text())["install"]
    origins: dict[str, Any] = {
        canonicalize_name(i["metadata"]["name"]): i["download_info"] for i in items
    }
    versions = monorepo_versions()
    for name, wheel in published.wheels.items():
        assert origins[name]["url"] == f"{server.url}files/{name}/{wheel.name}", origins[name]
        assert origins[name]["archive_info"]["hashes"]["sha256"] == sha256_of(wheel)
        assert f"-{versions[name]}-" in wheel.name
        assert window.statuses("GET", f"/files/{name}/{wheel.name}") == [200], window.describe()


# -- installing with pip -------------------------------------------------------------------


def test_the_consumer_installs_from_the_index_and_passes_its_tests(
    server: LiveServer, published: Published, make_venv: VenvFactory, tmp_path: Path
) -> None:
    consumer = copy_consumer(tmp_path / "consumer")
    venv = make_venv()
    report = tmp_path / "report.json"

    window = LogWindow(server)
    installed = pip(
        "install", "--index-url", server.simple_url, *third_party_index_args(),
        "--report", report, f"{consumer}[test]", python=venv.python,
    )  # fmt: skip
    assert installed.returncode == 0, output(installed)
    assert_fetched_from(server, window, published, report)
    versions = monorepo_versions()
    installed_versions = venv.installed()
    for name, requirement in internal_requirements().items():
        assert installed_versions[name] == versions[name]
        assert requirement.specifier.contains(versions[name])

    # The tests run from the copy's own directory (its own pytest configuration) and import
    # the installed application, not its source tree.
    version, module = venv.module_version("acme_catalog_worker")
    assert version == "0.1.0"
    assert module.is_relative_to(venv.path), module
    tested = run([venv.python, "-m", "pytest", "-p", "no:cacheprovider"], cwd=consumer)
    assert tested.returncode == 0, output(tested)
    summary = tested.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"=+ \d+ passed in [\d.]+s =+", summary), output(tested)

    feed = tmp_path / "feed.jsonl"
    feed.write_text(FEED, encoding="utf-8")
    command = venv.path / "bin" / SCRIPT
    ran = run([command, feed, "--dry-run", "--run-id", "e2e"])
    assert ran.returncode == 0, output(ran)
    (record,) = [json.loads(line) for line in ran.stdout.splitlines()]
    assert record["topic"] == "catalog.listings"
    assert record["value"]["payload"] == {
        "id": "mug-1", "title": "Caf\u00e9 mug", "slug": "cafe-mug", "description": "Holds 300 ml."
    }  # fmt: skip
    logs = [json.loads(line) for line in ran.stderr.splitlines()]
    assert [entry["message"] for entry in logs] == ["listing rejected", "run finished"]

    shown = run([command, "--version"])
    assert shown.stdout.startswith(f"{SCRIPT} 0.1.0 ("), output(shown)
    for name in internal_requirements():
        assert f"{name} {versions[name]}" in shown.stdout, output(shown)


# -- the Dockerfile ------------------------------------------------------------------------


def read_dockerfile() -> Dockerfile:
    return parse_dockerfile((CONSUMER / "Dockerfile").read_text())


def pip_install_runs(stage: Stage) -> list[Instruction]:
    return [run for run in stage.all("RUN") if "pip install" in run.arguments]


def copied_from_builder(dockerfile: Dockerfile) -> str:
    """The path of the builder stage that the final stage copies: the finished venv."""
    (copy,) = [c for c in dockerfile.stages[-1].all("COPY") if c.arguments.startswith("--from=")]
    flag, source, _destination = copy.arguments.split()
    assert flag == "--from=builder", copy
    return source


def test_the_parser_joins_continuations_and_drops_comments() -> None:
    parsed = parse_dockerfile(
        "# syntax=docker/dockerfile:1\nARG BASE=python:3\n\nFROM ${BASE} AS build\n"
        "RUN echo one \\\n    # a comment inside the command\n\n    && echo two\n"
        "FROM --platform=linux/amd64 ${BASE}\nUSER 1000\n"
    )
    assert [arg.arguments for arg in parsed.global_args] == ["BASE=python:3"]
    build, final = parsed.stages
    assert (build.image, build.name) == ("${BASE}", "build")
    assert (final.image, final.name) == ("${BASE}", None)
    (command,) = build.instructions
    assert (command.keyword, command.line) == ("RUN", 5)
    assert command.arguments.split() == ["echo", "one", "&&", "echo", "two"]
    assert final.all("USER")[0].arguments == "1000"
    with pytest.raises(ValueError, match="ends inside a continued instruction"):
        parse_dockerfile("FROM x\nRUN a \\\n")


def test_the_dockerfile_takes_the_index_url_as_a_build_argument() -> None:
    dockerfile = read_dockerfile()
    builder, final = dockerfile.stage("builder"), dockerfile.stages[-1]
    assert final is not builder

    # Pinned base image (a patch release), one for both stages.
    (base,) = {stage.image for stage in dockerfile.stages}
    defaults = {k: v for arg in dockerfile.global_args for k, v in arg_declarations(arg).items()}
    image = expand(base, {k: v for k, v in defaults.items() if v is not None})
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim(-\w+)?", image), image

    # The builder declares the index URL without a default and installs with it.
    declared = {k: v for arg in builder.all("ARG") for k, v in arg_declarations(arg).items()}
    assert "PIP_INDEX_URL" in declared and declared["PIP_INDEX_URL"] is None
    assert declared.get("PIP_EXTRA_INDEX_URL", "") in ("", None)
    (install,) = pip_install_runs(builder)
    assert re.search(r'--index-url[= ]"?\$\{?PIP_INDEX_URL\b', install.arguments), install
    arg_line = min(a.line for a in builder.all("ARG") if "PIP_INDEX_URL" in arg_declarations(a))
    assert arg_line < install.line

    # The final stage never sees it: not declared, not in an ENV, not installed there.
    final_text = " ".join(i.arguments for i in final.instructions)
    assert "PIP_INDEX_URL" not in final_text and "PIP_EXTRA_INDEX_URL" not in final_text
    assert not pip_install_runs(final)
    assert copied_from_builder(dockerfile).startswith("/")

    # Not root, and the console script as the entrypoint.
    user = final.all("USER")[-1]
    assert user.arguments.split(":")[0] not in ("root", "0")
    assert all(user.line < entry.line for entry in final.all("ENTRYPOINT"))
    (entrypoint,) = final.all("ENTRYPOINT")
    assert json.loads(entrypoint.arguments) == [SCRIPT]


def image_path(path: str, root: Path, workdir: Path) -> Path:
    """Where a path of the image lies here: absolute ones under ``root``."""
    return root / path.lstrip("/") if path.startswith("/") else workdir / path


def run_stage(
    stage: Stage, *, context: Path, root: Path, build_args: Mapping[str, str], env: dict[str, str]
) -> list[subprocess.CompletedProcess[str]]:
    """Carry out a stage's ARG, ENV, WORKDIR, COPY and RUN instructions on this machine.

    The image's absolute paths (WORKDIR, COPY destinations, ENV values that are paths) are
    placed under ``root``; RUN commands run as Docker runs them, with ``/bin/sh -c`` and the
    stage's build arguments and ENV values in the environment. Stops at the first failing RUN.
    """
    workdir = root  # the image's "/", Docker's working directory until a WORKDIR
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[subprocess.CompletedProcess[str]] = []
    for instruction in stage.instructions:
        if instruction.keyword == "ARG":
            for name, default in arg_declarations(instruction).items():
                value = build_args.get(name, default)
                if value is not None:
                    env[name] = value
        elif instruction.keyword == "ENV":
            for name, value in env_assignments(instruction).items():
                env[name] = str(image_path(value, root, root)) if value.startswith("/") else value
                env[name] = expand(env[name], env)
        elif instruction.keyword == "WORKDIR":
            workdir = image_path(expand(instruction.arguments, env), root, workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY":
            *sources, destination = shlex.split(instruction.arguments)
            assert not any(s.startswith("--") for s in sources), f"unsupported: {instruction}"
            target = image_path(destination, root, workdir)
            into = destination.endswith("/") or len(sources) > 1
            for source in sources:
                path = context / source
                copied = target / path.name if into else target
                copied.parent.mkdir(parents=True, exist_ok=True)
                if path.is_dir():
                    shutil.copytree(path, copied)
                else:
                    shutil.copy2(path, copied)
        elif instruction.keyword == "RUN":
            result = subprocess.run(
                ["/bin/sh", "-c", instruction.arguments],
                cwd=workdir, env=env, capture_output=True, text=True, timeout=CLIENT_TIMEOUT,
            )  # fmt: skip
            results.append(result)
            if result.returncode != 0:
                break
        else:
            raise AssertionError(f"line {instruction.line}: {instruction.keyword} is unsupported")
    return results


def image_env(tmp_path: Path) -> dict[str, str]:
    """The environment of the base image, as far as the builder needs it: ``python`` first on
    PATH (this interpreter's base installation), no pip configuration, no index variables."""
    bin_dir = tmp_path / "usr-local-bin"
    bin_dir.mkdir()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base_python = Path(sys.base_prefix) / "bin" / f"python{version}"
    assert base_python.exists(), base_python
    (bin_dir / "python").symlink_to(base_python)
    env = client_env()
    env["PATH"] = os.pathsep.join([str(bin_dir), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    return env


def test_the_dockerfile_builder_stage_installs_from_the_index(
    server: LiveServer, published: Published, tmp_path: Path
) -> None:
    dockerfile = read_dockerfile()
    context = copy_consumer(tmp_path / "context")
    root = tmp_path / "image"
    build_args = {
        "PIP_INDEX_URL": server.simple_url,
        "PIP_EXTRA_INDEX_URL": " ".join(usual_indexes()),
    }

    builder = dockerfile.stage("builder")

    window = LogWindow(server)
    results = run_stage(builder, context=context, root=root, build_args=build_args,
                        env=image_env(tmp_path))  # fmt: skip
    failures = "\n".join(output(result) for result in results if result.returncode != 0)
    assert not failures, failures
    assert len(results) == len(builder.all("RUN"))
    for name, wheel in published.wheels.items():
        path = f"/files/{name}/{wheel.name}"
        assert window.statuses("GET", path) == [200], window.describe()

    # What the final stage copies out of the builder is a venv with the acme packages (and the
    # kafka extra the image installs), and the entrypoint runs from it.
    venv = Venv(image_path(copied_from_builder(dockerfile), root, root))
    installed = venv.installed()
    versions = monorepo_versions()
    assert {name: installed.get(name) for name in versions} == versions
    assert "confluent-kafka" in installed
    (entrypoint,) = dockerfile.stages[-1].all("ENTRYPOINT")
    script = venv.path / "bin" / json.loads(entrypoint.arguments)[0]
    shown = run([script, "--version"])
    assert shown.returncode == 0 and shown.stdout.startswith(f"{SCRIPT} 0.1.0 ("), output(shown)


def test_the_dockerfile_refuses_to_build_without_an_index_url(tmp_path: Path) -> None:
    dockerfile = read_dockerfile()
    context = copy_consumer(tmp_path / "context")
    root = tmp_path / "image"

    results = run_stage(dockerfile.stage("builder"), context=context, root=root,
                        build_args={}, env=image_env(tmp_path))  # fmt: skip

    failed = results[-1]
    assert failed.returncode == 2, output(failed)
    assert failed.args[-1] == pip_install_runs(dockerfile.stage("builder"))[0].arguments
    assert "error: pass --build-arg PIP_INDEX_URL=" in failed.stderr
    # The venv the builder made holds nothing: pip never ran.
    installed = Venv(image_path(copied_from_builder(dockerfile), root, root)).installed()
    assert not any(name.startswith("acme-") for name in installed), installed
