"""The CircleCI orb in ``circleci/``: packed deterministically from ``circleci/src/`` into the
committed ``circleci/orb.yml``, valid against the CircleCI schema that check-jsonschema vendors,
clean under the orb-tools review rules (each rule shown to catch a broken orb), and its steps,
run by bash from the *packed* orb the way CircleCI runs them, install pubkit and release the
example monorepo into a live ``pubkit serve``."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
import yaml

from pubkit.testing import LiveServer
from tests.e2e.releasing import GIT_IDENTITY, example_repo, git, successful_uploads
from tests.e2e.support import PASSWORDS, files_by_name

ROOT = Path(__file__).resolve().parents[2]
ORB_DIR = ROOT / "circleci"
SRC = ORB_DIR / "src"
PACKED = ORB_DIR / "orb.yml"
MINIMAL_CONFIG = ORB_DIR / "examples" / "config.yml"
README_EXAMPLE = "test_and_release"  # the orb example whose usage is examples/config.yml


def _load_pack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("circleci_pack", ORB_DIR / "pack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and typing resolve names through it
    spec.loader.exec_module(module)
    return module


pack = _load_pack()


def source_scripts() -> dict[str, str]:
    return {f"scripts/{p.name}": p.read_text() for p in sorted((SRC / "scripts").glob("*.sh"))}


def run_pack(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, ORB_DIR / "pack.py", *map(str, args)],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip


# -- pack ---------------------------------------------------------------------------------


def test_pack_is_deterministic_and_the_committed_orb_is_up_to_date() -> None:
    packed = pack.pack(SRC)
    assert packed == pack.pack(SRC)
    assert PACKED.read_text() == packed, "run .venv/bin/python circleci/pack.py"
    check = run_pack("--check")
    assert check.returncode == 0, check.stderr
    # What the YAML says is exactly the assembled orb: nothing lost in the rendering.
    assert yaml.safe_load(packed) == pack.assemble(SRC)


def test_pack_check_fails_on_an_out_of_date_orb_and_pack_rewrites_it(tmp_path: Path) -> None:
    src = shutil.copytree(SRC, tmp_path / "src")
    out = tmp_path / "orb.yml"
    shutil.copy(PACKED, out)
    command = src / "commands" / "install.yml"
    command.write_text(command.read_text().replace("Install pubkit into", "Install pubkit in"))

    stale = run_pack("--check", "--src", src, "--out", out)
    assert stale.returncode == 1
    assert "is out of date: run .venv/bin/python circleci/pack.py" in stale.stderr
    assert "+      Install pubkit in its own" in stale.stderr  # the diff shows what changed
    assert out.read_text() == PACKED.read_text()  # --check writes nothing

    assert run_pack("--src", src, "--out", out).returncode == 0
    assert run_pack("--check", "--src", src, "--out", out).returncode == 0
    assert "Install pubkit in its own" in yaml.safe_load(out.read_text())["commands"][
        "install"]["description"]  # fmt: skip


def test_the_packed_orb_has_the_interface_and_the_scripts_inlined() -> None:
    orb = yaml.safe_load(PACKED.read_text())
    assert set(orb["commands"]) == {"install", "release", "publish"}
    assert set(orb["jobs"]) == {"release", "test"}
    assert set(orb["executors"]) == {"default"}
    assert orb["executors"]["default"]["docker"] == [{"image": "cimg/python:<<parameters.tag>>"}]
    scripts = source_scripts()
    inlined = [step["run"]["command"] for kind in ("commands", "jobs")
               for component in orb[kind].values() for step in component["steps"]
               if isinstance(step, dict) and "run" in step]  # fmt: skip
    # Every run step is one of the scripts, whole (none holds "<<", so nothing is escaped).
    assert sorted(inlined) == sorted(scripts.values())
    assert not any("<<" in text for text in scripts.values())


def test_includes_follow_the_circleci_cli_rules(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "scripts").mkdir(parents=True)
    (src / "@orb.yml").write_text("version: 2.1\ndescription: d\n")
    (src / "scripts" / "heredoc.sh").write_text("cat <<EOF\n<<parameters.x>>\nEOF\n")
    (src / "commands").mkdir()
    (src / "commands" / "say.yml").write_text(
        "steps:\n  - run:\n      name: say\n      command: <<include(scripts/heredoc.sh)>>\n"
    )
    (src / "examples").mkdir()
    (src / "examples" / "say_it.yml").write_text("usage: {text: <<include(scripts/heredoc.sh)>>}\n")
    orb = pack.assemble(src)
    # Escaped, so that CircleCI reads the included text literally.
    assert orb["commands"]["say"]["steps"][0]["run"]["command"] == (
        "cat \\<<EOF\n\\<<parameters.x>>\nEOF\n"
    )
    assert orb["examples"]["say_it"]["usage"]["text"] == "<<include(scripts/heredoc.sh)>>"
    assert list(orb) == ["version", "description", "commands", "examples"]

    say = src / "commands" / "say.yml"
    errors = {
        "echo <<include(scripts/heredoc.sh)>>": "entire string must be include statement",
        "<<include(scripts/a.sh)>> <<include(scripts/b.sh)>>": "multiple include statements",
        "<<include(scripts/missing.sh)>>": "could not open",
        "<<include(../outside.sh)>>": "include path escapes",
        "<<include(scripts/heredoc.sh>>": "malformed include statement",
    }
    (tmp_path / "outside.sh").write_text("echo outside\n")
    for value, message in errors.items():
        say.write_text(f"steps:\n  - run:\n      name: say\n      command: {value}\n")
        with pytest.raises(pack.PackError, match=re.escape(message)):
            pack.assemble(src)


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        ("commands/say.yml", "a: 1\na: 2\n", "duplicate key 'a'"),
        ("commands/say.yml", "- a list\n", "a component is a mapping"),
        ("commands/say.yaml", "steps: []\n", "a second file for the component 'say'"),
        ("commands/nested/x.yml", "steps: []\n", "holds only NAME.yml files"),
        ("orbs.yml", "a: 1\n", "only @orb.yml may sit at the root"),
        ("workflows/w.yml", "a: 1\n", "unknown directory"),
        ("commands/@shared.yml", "a: 1\n", "@-files are only supported at the root"),
    ],
)
def test_pack_refuses_a_malformed_source(tmp_path: Path, path: str, text: str,
                                         message: str) -> None:  # fmt: skip
    src = tmp_path / "src"
    (src / "commands").mkdir(parents=True)
    (src / "@orb.yml").write_text("version: 2.1\n")
    (src / "commands" / "say.yml").write_text("steps: [checkout]\n")
    (src / path).parent.mkdir(parents=True, exist_ok=True)
    (src / path).write_text(text)
    with pytest.raises(pack.PackError, match=re.escape(message)):
        pack.assemble(src)
    result = run_pack("--src", src, "--out", tmp_path / "orb.yml")
    assert result.returncode == 2 and result.stderr.startswith("error: "), result.stderr


def missing(reason: str) -> NoReturn:
    """A tool this module needs is absent: CI must have it (fail); elsewhere, skip."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


# -- the CircleCI schema (vendored by check-jsonschema) ----------------------------------


def check_jsonschema() -> list[str]:
    if importlib.util.find_spec("check_jsonschema") is not None:
        return [sys.executable, "-m", "check_jsonschema"]
    found = shutil.which("check-jsonschema")
    if found is None:
        missing("check-jsonschema is not installed (it belongs to the dev extra)")
    return [found]


def validate(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*check_jsonschema(), "--builtin-schema", "vendor.circle-ci",
                           *map(str, files)], capture_output=True, text=True, check=False,
                          timeout=120)  # fmt: skip


def test_the_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        missing("shellcheck is not installed (apt-get install shellcheck; .ci/run does)")
    scripts = sorted(str(path) for path in (SRC / "scripts").glob("*.sh"))
    result = subprocess.run([shellcheck, "--shell=bash", "--severity=info", *scripts],
                            capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_packed_orb_and_every_usage_example_validate_against_the_circleci_schema(
    tmp_path: Path,
) -> None:
    usages = []
    for name, example in yaml.safe_load(PACKED.read_text())["examples"].items():
        usage = tmp_path / f"{name}.yml"
        usage.write_text(yaml.safe_dump(example["usage"], sort_keys=False))
        usages.append(usage)
    result = validate(PACKED, MINIMAL_CONFIG, *usages)
    assert result.returncode == 0, result.stdout + result.stderr

    # The validator does look: a parameter of an unknown type is refused.
    broken = yaml.safe_load(PACKED.read_text())
    broken["commands"]["install"]["parameters"]["pip_spec"]["type"] = "str"
    broken_file = tmp_path / "broken.yml"
    broken_file.write_text(yaml.safe_dump(broken))
    refused = validate(broken_file)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "pip_spec" in refused.stdout + refused.stderr


def test_the_readme_config_is_the_usage_of_an_orb_example() -> None:
    orb = yaml.safe_load(PACKED.read_text())
    assert yaml.safe_load(MINIMAL_CONFIG.read_text()) == orb["examples"][README_EXAMPLE]["usage"]


# -- the orb-tools review rules -----------------------------------------------------------
#
# RC001-RC010 are orb-tools' review rules (src/scripts/review.bats; RC006 and RC007 fetch the
# URLs, which this network cannot); PK01-PK07 are ours, for mistakes the schema cannot see.

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")
PARAMETER = re.compile(r"<<\s*parameters\.([A-Za-z0-9_-]+)\s*>>")
INCLUDE = re.compile(r"^<<\s*include\(([-\w/.]+)\)\s*>>$")
SCRIPT_PARAM = re.compile(r"\bPARAM_[A-Z0-9_]+\b")
MAX_COMMAND_LENGTH = 64  # orb-tools' max_command_length default
KINDS = ("commands", "jobs", "executors")
# Keys a workflow gives a job that are not the job's parameters.
WORKFLOW_JOB_KEYS = {"name", "context", "requires", "filters", "matrix", "pre-steps",
                     "post-steps", "type", "serial-group", "override-with"}  # fmt: skip
BUILTIN_STEPS = {"checkout", "run", "save_cache", "restore_cache", "store_artifacts",
                 "store_test_results", "persist_to_workspace", "attach_workspace",
                 "add_ssh_keys", "setup_remote_docker", "when", "unless", "deploy"}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    rule: str
    where: str
    message: str


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _run_steps(component: dict[str, Any]) -> Iterator[tuple[int, Any]]:
    for index, step in enumerate(component.get("steps") or []):
        if isinstance(step, dict) and "run" in step:
            yield index, step["run"]


def _call(step: Any) -> tuple[str, dict[str, Any]]:
    """A step or workflow job as (name, arguments)."""
    if isinstance(step, str):
        return step, {}
    (name, arguments), *_ = step.items()
    return name, dict(arguments) if isinstance(arguments, dict) else {}


def _check_call(
    orb: dict[str, Any], kind: str, name: str, arguments: dict[str, Any], where: str, rule: str,
    ignored: set[str] | None = None,
) -> list[Finding]:
    component = orb.get(kind, {}).get(name)
    if component is None:
        return [Finding(rule, where, f"no {kind[:-1]} named {name!r} in the orb")]
    declared = component.get("parameters") or {}
    given = set(arguments) - (ignored or set())
    findings = [Finding(rule, where, f"{kind[:-1]} {name!r} has no parameter {unknown!r}")
                for unknown in sorted(given - set(declared))]  # fmt: skip
    findings += [Finding(rule, where, f"{kind[:-1]} {name!r} needs parameter {missing!r}")
                 for missing, spec in declared.items()
                 if "default" not in spec and missing not in given]  # fmt: skip
    return findings


def review(orb: dict[str, Any], scripts: dict[str, str]) -> list[Finding]:
    """The review rules over the assembled orb with its include statements as written."""
    found: list[Finding] = []

    def add(rule: str, where: str, message: str) -> None:
        found.append(Finding(rule, where, message))

    source_url = (orb.get("display") or {}).get("source_url", "")
    if not str(source_url).startswith("https://"):
        add("RC001", "@orb.yml", "display.source_url must be set to the orb's https source URL")
    for kind in (*KINDS, "examples"):
        for name, component in (orb.get(kind) or {}).items():
            if not str(component.get("description") or "").strip():
                add("RC002", f"{kind}/{name}", "no description")
    examples = orb.get("examples") or {}
    if not examples:
        add("RC003", "examples", "no usage example")
    for name in examples:
        if "example" in name:
            add("RC004", f"examples/{name}", "example names say what they show, not 'example'")
    if len(str(orb.get("description") or "")) < 64:
        add("RC005", "@orb.yml", "the orb description is under 64 characters")
    for kind in ("commands", "jobs"):
        for name, component in (orb.get(kind) or {}).items():
            for index, run in _run_steps(component):
                where = f"{kind}/{name} step {index}"
                if not isinstance(run, dict):
                    add("RC008", where, "a run step in string form has no name")
                    add("RC009", where, "a run step in string form is not an include")
                    continue
                if not str(run.get("name") or "").strip():
                    add("RC008", where, "a run step without a name")
                command = str(run.get("command") or "")
                if len(command) > MAX_COMMAND_LENGTH and not INCLUDE.match(command):
                    add("RC009", where, "a long command inline: put it in scripts/ and include it")
    for kind in (*KINDS, "examples"):
        for name, component in (orb.get(kind) or {}).items():
            if not SNAKE_CASE.match(name):
                add("RC010", f"{kind}/{name}", "component names are snake_case")
            for parameter in component.get("parameters") or {}:
                if not SNAKE_CASE.match(parameter):
                    add("RC010", f"{kind}/{name}", f"parameter {parameter!r} is not snake_case")

    for kind in KINDS:
        for name, component in (orb.get(kind) or {}).items():
            where = f"{kind}/{name}"
            declared = component.get("parameters") or {}
            for parameter, spec in declared.items():
                if not str(spec.get("description") or "").strip():
                    add("PK01", where, f"parameter {parameter!r} has no description")
            used = {match for text in _strings({k: v for k, v in component.items()
                                                if k != "parameters"})
                    for match in PARAMETER.findall(text)}  # fmt: skip
            for parameter in sorted(used - set(declared)):
                add("PK02", where, f"<<parameters.{parameter}>> is not declared")
            for parameter in sorted(set(declared) - used):
                add("PK02", where, f"parameter {parameter!r} is never used")

    for name, example in examples.items():
        usage = example.get("usage") or {}
        where = f"examples/{name}"
        aliases = {alias for alias, ref in (usage.get("orbs") or {}).items()
                   if isinstance(ref, str) and ref.split("@")[0].endswith("/pubkit")}  # fmt: skip
        if not aliases:
            add("PK03", where, "the usage does not import this orb")
        references: list[tuple[str, str, dict[str, Any], set[str]]] = []
        for workflow in (usage.get("workflows") or {}).values():
            for job in workflow.get("jobs") or []:
                call, arguments = _call(job)
                references.append(("jobs", call, arguments, WORKFLOW_JOB_KEYS))
        for job in (usage.get("jobs") or {}).values():
            executor = job.get("executor")
            if executor is not None:
                call, arguments = (executor, {}) if isinstance(executor, str) else (
                    executor["name"], {k: v for k, v in executor.items() if k != "name"})
                references.append(("executors", call, arguments, set()))
            for step in job.get("steps") or []:
                call, arguments = _call(step)
                references.append(("commands", call, arguments, set()))
        for kind, call, arguments, ignored in references:
            alias, _, component = call.partition("/")
            if component and alias in aliases:
                found += _check_call(orb, kind, component, arguments, where, "PK03", ignored)
        if not any(call.partition("/")[0] in aliases for _, call, _, _ in references):
            add("PK03", where, "the usage uses none of the orb's jobs, commands or executors")

    for kind in ("commands", "jobs"):
        for name, component in (orb.get(kind) or {}).items():
            where = f"{kind}/{name}"
            for step in component.get("steps") or []:
                call, arguments = _call(step)
                if call not in BUILTIN_STEPS:
                    found += _check_call(orb, "commands", call, arguments, where, "PK03")
            executor = component.get("executor")
            if isinstance(executor, dict):
                found += _check_call(orb, "executors", executor["name"],
                                     {k: v for k, v in executor.items() if k != "name"}, where,
                                     "PK03")  # fmt: skip

    included: set[str] = set()
    for kind in ("commands", "jobs"):
        for name, component in (orb.get(kind) or {}).items():
            env_var_params = {p for p, spec in (component.get("parameters") or {}).items()
                              if spec.get("type") == "env_var_name"}  # fmt: skip
            for index, run in _run_steps(component):
                if not isinstance(run, dict):
                    continue
                where = f"{kind}/{name} step {index}"
                match = INCLUDE.match(str(run.get("command") or ""))
                script = scripts.get(match.group(1), "") if match else ""
                if match:
                    included.add(match.group(1))
                environment = {key: str(value)
                               for key, value in (run.get("environment") or {}).items()}
                for key in environment:
                    if not key.startswith("PARAM_"):
                        add("PK05", where, f"{key}: parameters reach scripts as PARAM_*")
                read = set(SCRIPT_PARAM.findall(script))
                for key in sorted(read - set(environment)):
                    add("PK05", where, f"the script reads {key}, which the step does not set")
                for key in sorted(set(environment) - read):
                    add("PK05", where, f"the step sets {key}, which the script never reads")
                for key, value in environment.items():
                    names = set(PARAMETER.findall(value))
                    if names & env_var_params and not (
                            key.endswith("_VAR") and "${!" + key in script):
                        add("PK06", where, f"{key} names a variable: the script reads it "
                                           f"indirectly, as ${{!{key}}}")  # fmt: skip
    for path, text in scripts.items():
        lines = text.splitlines()
        if not lines or lines[0] != "#!/usr/bin/env bash":
            add("PK04", path, "scripts start with #!/usr/bin/env bash")
        if "set -euo pipefail" not in lines:
            add("PK04", path, "scripts run under set -euo pipefail")
        if re.search(r"^\s*set\s+(-[a-z]*x|-o\s+xtrace)", text, re.MULTILINE):
            add("PK04", path, "set -x would print the credentials")
        if path not in included:
            add("PK04", path, "no step includes this script")
    for name, job in (orb.get("jobs") or {}).items():
        calls = [_call(step) for step in job.get("steps") or []]
        for step in ("store_test_results", "store_artifacts"):
            if step not in {call for call, _ in calls}:
                add("PK07", f"jobs/{name}", f"no {step} step")
        for call, arguments in calls:
            if call.startswith("store_") and arguments.get("when") != "always":
                add("PK07", f"jobs/{name}", f"{call} runs only on success: add when: always")
    return found


def review_source() -> tuple[dict[str, Any], dict[str, str]]:
    return pack.assemble(SRC, resolve=False), source_scripts()


def test_the_orb_passes_the_review_rules() -> None:
    orb, scripts = review_source()
    assert review(orb, scripts) == []


Mutation = Callable[[dict[str, Any], dict[str, str]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(orb: dict[str, Any], scripts: dict[str, str]) -> None:
        *parents, last = path.split(".")
        target = orb
        for key in parents:
            target = target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value

    return mutate


def _rename(kind: str, old: str, new: str) -> Mutation:
    def mutate(orb: dict[str, Any], scripts: dict[str, str]) -> None:
        orb[kind][new] = orb[kind].pop(old)

    return mutate


def _edit_script(name: str, old: str, new: str) -> Mutation:
    def mutate(orb: dict[str, Any], scripts: dict[str, str]) -> None:
        assert old in scripts[name]
        scripts[name] = scripts[name].replace(old, new)

    return mutate


def _first_run(kind: str, name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def get(orb: dict[str, Any]) -> dict[str, Any]:
        run: dict[str, Any] = next(s["run"] for s in orb[kind][name]["steps"] if "run" in s)
        return run

    return get


def _edit_run(kind: str, name: str, edit: Callable[[dict[str, Any]], None]) -> Mutation:
    def mutate(orb: dict[str, Any], scripts: dict[str, str]) -> None:
        edit(_first_run(kind, name)(orb))

    return mutate


def _drop_step(job: str, step: str) -> Mutation:
    def mutate(orb: dict[str, Any], scripts: dict[str, str]) -> None:
        steps = orb["jobs"][job]["steps"]
        steps[:] = [s for s in steps if _call(s)[0] != step]

    return mutate


def _add_example_step(step: Any) -> Mutation:
    def mutate(orb: dict[str, Any], scripts: dict[str, str]) -> None:
        usage = orb["examples"]["publish_from_your_own_job"]["usage"]
        usage["jobs"]["publish"]["steps"].append(step)

    return mutate


def _add_script(name: str, text: str) -> Mutation:
    def mutate(orb: dict[str, Any], scripts: dict[str, str]) -> None:
        scripts[name] = text

    return mutate


BROKEN: dict[str, tuple[str, Mutation]] = {
    "no source url": ("RC001", _set("display.source_url", None)),
    "command without description": ("RC002", _set("commands.release.description", "")),
    "executor without description": ("RC002", _set("executors.default.description", None)),
    "example without description": ("RC002", _set(
        "examples.test_and_release.description", None)),
    "no examples": ("RC003", _set("examples", {})),
    "example named example": ("RC004", _rename("examples", "test_and_release", "example_1")),
    "short orb description": ("RC005", _set("description", "Releases packages.")),
    "run step without name": ("RC008", _edit_run("commands", "install",
                                                 lambda run: run.pop("name"))),
    "run step as a string": ("RC008", lambda orb, scripts: orb["jobs"]["test"]["steps"].__setitem__(
        2, {"run": "pubkit test"})),
    "long inline command": ("RC009", _edit_run("commands", "release", lambda run: run.update(
        command="pubkit release --jobs 2 --json release.json --junit release.xml --push"))),
    "kebab-case command": ("RC010", _rename("commands", "publish", "publish-files")),
    "kebab-case parameter": ("RC010", _set("jobs.test.parameters.results-dir",
                                           {"type": "string", "default": "x", "description": "d"})),
    "parameter without description": ("PK01", _set(
        "commands.publish.parameters.dist.description", None)),
    "unused parameter": ("PK02", _set("commands.install.parameters.unused",
                                      {"type": "string", "default": "", "description": "d"})),
    "undeclared parameter": ("PK02", _edit_run("commands", "install", lambda run: run[
        "environment"].update(PARAM_PIP_SPEC="<<parameters.pip_specs>>"))),
    "example calls a missing job": ("PK03", _set(
        "examples.test_and_release.usage.workflows.packages.jobs", ["pubkit/deploy"])),
    "example passes an unknown parameter": ("PK03", _add_example_step(
        {"pubkit/install": {"version": "1"}})),
    "job calls a command with a wrong parameter": ("PK03", lambda orb, scripts: next(
        s for s in orb["jobs"]["release"]["steps"] if "install" in s
    ).update(install={"pip": "<<parameters.pip_spec>>"})),
    "script with set -x": ("PK04", _edit_script("scripts/publish.sh", "set -euo pipefail",
                                                "set -euo pipefail\nset -x")),
    "script without strict mode": ("PK04", _edit_script("scripts/test.sh",
                                                        "set -euo pipefail\n", "")),
    "script nobody includes": ("PK04", _add_script(
        "scripts/orphan.sh", "#!/usr/bin/env bash\nset -euo pipefail\n")),
    "step misses a variable the script reads": ("PK05", _edit_run(
        "commands", "publish", lambda run: run["environment"].pop("PARAM_DIST"))),
    "environment not named PARAM_": ("PK05", _edit_run("commands", "install", lambda run: run[
        "environment"].update(PIP_SPEC=run["environment"].pop("PARAM_PIP_SPEC")))),
    "credential read directly": ("PK06", _edit_script(
        "scripts/release.sh", "${!PARAM_TOKEN_VAR", "${PARAM_TOKEN_VAR")),
    "job stores no test results": ("PK07", _drop_step("test", "store_test_results")),
    "artifacts only on success": ("PK07", lambda orb, scripts: next(
        s for s in orb["jobs"]["release"]["steps"] if "store_artifacts" in s
    )["store_artifacts"].pop("when")),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_review_rule_catches_a_broken_orb(case: str) -> None:
    rule, mutate = BROKEN[case]
    orb, scripts = review_source()
    orb, scripts = copy.deepcopy(orb), dict(scripts)
    mutate(orb, scripts)
    findings = review(orb, scripts)
    assert rule in {finding.rule for finding in findings}, findings


# -- running the packed orb as CircleCI would ---------------------------------------------


def _render(value: Any) -> str:
    """A parameter value as CircleCI writes it into a string (booleans in lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _substitute(value: Any, arguments: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = PARAMETER.fullmatch(value.strip())
        if whole:  # a whole-value reference keeps the parameter's type
            return arguments[whole.group(1)]
        return PARAMETER.sub(lambda m: _render(arguments[m.group(1)]), value)
    if isinstance(value, dict):
        return {key: _substitute(item, arguments) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, arguments) for item in value]
    return value


@dataclass
class Step:
    name: str
    returncode: int
    stdout: str
    stderr: str


@dataclass
class JobRun:
    steps: list[Step] = field(default_factory=list)
    stored: list[tuple[str, str]] = field(default_factory=list)  # (step, path)
    image: str = ""

    @property
    def ok(self) -> bool:
        return all(step.returncode == 0 for step in self.steps)

    def output(self) -> str:
        return "\n".join(f"== {s.name} (exit {s.returncode})\n{s.stdout}{s.stderr}"
                         for s in self.steps)  # fmt: skip


class CircleCI:
    """Runs the packed orb's jobs and commands: parameters checked and substituted as CircleCI
    does, each ``run`` step under ``bash -eo pipefail`` with its ``environment``, in
    ``workdir``, with ``BASH_ENV`` sourced before every step; later steps are skipped after a
    failure unless they say ``when: always``. ``checkout`` is the test's job (the working
    directory is already a clone)."""

    def __init__(self, orb: dict[str, Any], home: Path, env: dict[str, str]) -> None:
        self.orb = orb
        self.home = home
        self.bash_env = home / "bash_env"
        home.mkdir(parents=True, exist_ok=True)
        self.bash_env.touch()
        self.env = {**env, "HOME": str(home), "BASH_ENV": str(self.bash_env)}

    def arguments(self, kind: str, name: str, given: dict[str, Any]) -> dict[str, Any]:
        declared = self.orb[kind][name].get("parameters") or {}
        unknown = set(given) - set(declared)
        assert not unknown, f"{kind}/{name} has no parameter {sorted(unknown)}"
        arguments = {key: spec["default"] for key, spec in declared.items() if "default" in spec}
        arguments.update(given)
        missing = set(declared) - set(arguments)
        assert not missing, f"{kind}/{name} needs {sorted(missing)}"
        for key, spec in declared.items():
            if spec["type"] == "enum":
                assert arguments[key] in spec["enum"], (key, arguments[key])
            if spec["type"] == "env_var_name":
                assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", arguments[key]), arguments[key]
        return arguments

    def job(self, name: str, workdir: Path, env: dict[str, str] | None = None,
            **given: Any) -> JobRun:  # fmt: skip
        job = self._job(name, given)
        result = JobRun(image=self.executor(name, **given)["docker"][0]["image"])
        self._steps(job["steps"], workdir, {**self.env, **(env or {})}, result)
        return result

    def _job(self, name: str, given: dict[str, Any]) -> dict[str, Any]:
        arguments = self.arguments("jobs", name, given)
        job: dict[str, Any] = _substitute({k: v for k, v in self.orb["jobs"][name].items()
                                           if k != "parameters"}, arguments)  # fmt: skip
        return job

    def executor(self, job: str, **given: Any) -> dict[str, Any]:
        """The executor a job runs on, its parameters substituted."""
        executor = self._job(job, given)["executor"]
        name = executor if isinstance(executor, str) else executor["name"]
        arguments = {} if isinstance(executor, str) else {
            key: value for key, value in executor.items() if key != "name"}
        spec: dict[str, Any] = _substitute(self.orb["executors"][name],
                                           self.arguments("executors", name, arguments))
        return spec

    def command(self, name: str, workdir: Path, env: dict[str, str] | None = None,
                **given: Any) -> JobRun:  # fmt: skip
        result = JobRun()
        self._steps([{name: given}], workdir, {**self.env, **(env or {})}, result)
        return result

    def _steps(self, steps: list[Any], workdir: Path, env: dict[str, str],
               result: JobRun) -> None:  # fmt: skip
        for step in steps:
            call, arguments = _call(step)
            if call == "checkout":
                continue
            if call in ("store_test_results", "store_artifacts"):
                if result.ok or arguments.get("when") == "always":
                    result.stored.append((call, arguments["path"]))
                continue
            if not result.ok:
                continue
            if call == "run":
                # An empty value is left out, the stricter reading: the scripts must cope.
                environment = {k: _render(v) for k, v in (arguments.get("environment")
                                                          or {}).items() if v != ""}  # fmt: skip
                command = arguments["command"].replace("\\<<", "<<")
                done = subprocess.run(["bash", "-eo", "pipefail", "-c", command], cwd=workdir,
                                      env={**env, **environment}, capture_output=True,
                                      text=True, check=False, timeout=600)  # fmt: skip
                result.steps.append(Step(arguments["name"], done.returncode, done.stdout,
                                         done.stderr))  # fmt: skip
                continue
            command_args = self.arguments("commands", call, arguments)
            self._steps(_substitute(self.orb["commands"][call]["steps"], command_args),
                        workdir, env, result)  # fmt: skip


def ci_environment() -> dict[str, str]:
    """This machine's environment as a CircleCI container would have it: no pubkit, twine or
    keyring configuration of the developer's, CircleCI's own variables set."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PUBKIT_", "TWINE_", "CIRCLE", "GIT_", "BASH_ENV"))}  # fmt: skip
    # The caches stay this machine's (HOME is a fresh one per container): speed, not state.
    env.setdefault("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    env.update(CI="true", CIRCLECI="true", CIRCLE_BRANCH="main", CIRCLE_BUILD_NUM="7",
               PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")  # fmt: skip
    return env


@pytest.fixture(scope="module")
def orb() -> dict[str, Any]:
    packed: dict[str, Any] = yaml.safe_load(PACKED.read_text())
    return packed


def test_jobs_run_on_the_executor_with_the_python_tag_asked_for(
    orb: dict[str, Any], tmp_path: Path
) -> None:
    circleci = CircleCI(orb, tmp_path, ci_environment())
    for job in ("release", "test"):
        assert circleci.executor(job)["docker"] == [{"image": "cimg/python:3.12"}]
        on_311 = circleci.executor(job, tag="3.11", resource_class="large")
        assert on_311["docker"] == [{"image": "cimg/python:3.11"}]
        assert on_311["resource_class"] == "large"


# -- the scripts' contract, against a stand-in pubkit that records how it was called -------

SECRET = "s3cret-never-printed"
FAKE_PUBKIT = """#!{python}
import json, os, sys
keep = ("PUBKIT_",)
record = {{"argv": sys.argv[1:],
          "env": {{k: v for k, v in os.environ.items() if k.startswith(keep)}}}}
with open(os.environ["FAKE_PUBKIT_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
"""


@dataclass
class FakeRun:
    run: JobRun
    calls: list[dict[str, Any]]

    @property
    def argv(self) -> list[str]:
        assert len(self.calls) == 1, self.calls
        argv: list[str] = self.calls[0]["argv"]
        return argv

    @property
    def env(self) -> dict[str, str]:
        env: dict[str, str] = self.calls[0]["env"]
        return env


@pytest.fixture
def fake(orb: dict[str, Any], tmp_path: Path) -> Callable[..., FakeRun]:
    """Runs one of the orb's commands with a stand-in ``pubkit`` first on PATH."""
    bin_dir, log = tmp_path / "bin", tmp_path / "pubkit-calls.jsonl"
    bin_dir.mkdir()
    (bin_dir / "pubkit").write_text(FAKE_PUBKIT.format(python=sys.executable))
    (bin_dir / "pubkit").chmod(0o755)
    base = ci_environment()
    base.update(PATH=f"{bin_dir}{os.pathsep}{base['PATH']}", FAKE_PUBKIT_LOG=str(log))
    workdir = tmp_path / "project"
    workdir.mkdir()
    circleci = CircleCI(orb, tmp_path / "home", base)

    def run(command: str, env: dict[str, str] | None = None, **given: Any) -> FakeRun:
        log.unlink(missing_ok=True)
        result = circleci.command(command, workdir, env, **given)
        output = result.output()
        assert SECRET not in output, output
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return FakeRun(result, calls)

    return run


def results_args(workdir: Path, results: str = "pubkit-results") -> list[str]:
    where = workdir / results
    return ["--json", f"{where}/release.json", "--junit", f"{where}/junit/release.xml",
            "--reports", f"{where}/junit/packages"]  # fmt: skip


def test_release_runs_pubkit_release_with_the_defaults(fake: Callable[..., FakeRun],
                                                       tmp_path: Path) -> None:  # fmt: skip
    done = fake("release", env={"PUBKIT_INDEX_USERNAME": "ci", "PUBKIT_INDEX_PASSWORD": SECRET})
    assert done.run.ok, done.run.output()
    workdir = tmp_path / "project"
    assert done.argv == ["release", "--workspace", ".", "--jobs", "2",
                         *results_args(workdir)]  # fmt: skip
    assert done.env == {"PUBKIT_INDEX_USERNAME": "ci", "PUBKIT_INDEX_PASSWORD": SECRET}
    assert (workdir / "pubkit-results" / "junit").is_dir()


def test_release_passes_every_parameter_and_reads_a_token_indirectly(
    fake: Callable[..., FakeRun], tmp_path: Path
) -> None:
    done = fake("release", env={"NEXUS_TOKEN": SECRET},
                index_url="https://ci:hunter2@pypi.internal.example/simple/",
                upload_url="https://pypi.internal.example/upload/", token_var="NEXUS_TOKEN",
                bump="minor", push=True, commit=False, jobs=4, packages="acme-core acme-text",
                workspace="mono", results_dir="out/pubkit")  # fmt: skip
    assert done.run.ok, done.run.output()
    assert done.argv == [
        "release", "--workspace", "mono", "--jobs", "4",
        *results_args(tmp_path / "project", "out/pubkit"),
        "--index-url", "https://ci:hunter2@pypi.internal.example/simple/",
        "--upload-url", "https://pypi.internal.example/upload/",
        "--bump", "minor", "--push", "--no-commit", "acme-core", "acme-text",
    ]  # fmt: skip
    assert done.env["PUBKIT_INDEX_TOKEN"] == SECRET
    assert "PUBKIT_INDEX_USERNAME" not in done.env and "PUBKIT_INDEX_PASSWORD" not in done.env
    # The command line is shown, with the password in the URL masked.
    shown = done.run.steps[0].stdout
    assert "pubkit release --workspace mono" in shown and "://***@pypi.internal" in shown
    assert "hunter2" not in shown


def test_release_dev_builds_are_numbered_by_the_build_and_dry_runs_need_no_credentials(
    fake: Callable[..., FakeRun],
) -> None:
    dev = fake("release", env={"PUBKIT_INDEX_USERNAME": "ci", "PUBKIT_INDEX_PASSWORD": SECRET},
               dev_build=True)  # fmt: skip
    assert dev.run.ok and dev.argv[-2:] == ["--dev", "7"], dev.run.output()

    dry = fake("release", dry_run=True)
    assert dry.run.ok, dry.run.output()
    assert dry.argv[-1] == "--dry-run"
    assert not any(key.startswith("PUBKIT_INDEX_") for key in dry.env)


@pytest.mark.parametrize(
    ("command", "given", "env", "message"),
    [
        ("release", {}, {}, "error: PUBKIT_INDEX_USERNAME is not set: it holds the index "
                            "credentials (or set PUBKIT_INDEX_TOKEN)"),
        ("release", {"username_var": "CI_USER", "password_var": "CI_PASS"}, {"CI_USER": "ci"},
         "error: CI_PASS is not set: it holds the index credentials (or set PUBKIT_INDEX_TOKEN)"),
        ("publish", {"token_var": "CI_TOKEN"}, {"PUBKIT_INDEX_PASSWORD": SECRET},
         "error: PUBKIT_INDEX_USERNAME is not set: it holds the index credentials (or set "
         "CI_TOKEN)"),
        ("release", {"dev_build": True},
         {"PUBKIT_INDEX_USERNAME": "ci", "PUBKIT_INDEX_PASSWORD": SECRET, "CIRCLE_BUILD_NUM": ""},
         "error: CIRCLE_BUILD_NUM is not set: dev_build numbers the dev versions with it"),
        ("install", {"pip_spec": " "}, {},
         "error: the pip_spec parameter is empty: name what pip installs (e.g. pubkit==0.1.0)"),
        ("install", {}, {"BASH_ENV": ""},
         "error: BASH_ENV is not set: CircleCI sets it, and install puts pubkit on PATH "
         "through it"),
    ],
)
def test_a_missing_setting_stops_the_step_before_pubkit_runs(
    fake: Callable[..., FakeRun], command: str, given: dict[str, Any], env: dict[str, str],
    message: str,
) -> None:
    done = fake(command, env=env, **given)
    (step,) = done.run.steps
    assert step.returncode == 2
    assert step.stderr == message + "\n"  # one line, naming what is missing
    assert done.calls == []


def test_publish_runs_pubkit_publish_with_credentials_from_the_named_variables(
    fake: Callable[..., FakeRun],
) -> None:
    done = fake("publish", env={"INDEX_USER": "ci", "INDEX_PASSWORD": SECRET,
                                "PUBKIT_INDEX_TOKEN": ""},
                username_var="INDEX_USER", password_var="INDEX_PASSWORD",
                index_url="http://127.0.0.1:1/simple/", dist="build/dist",
                packages="acme-text")  # fmt: skip
    assert done.run.ok, done.run.output()
    assert done.argv == ["publish", "--workspace", ".", "--dist", "build/dist",
                         "--index-url", "http://127.0.0.1:1/simple/", "acme-text"]  # fmt: skip
    assert done.env == {"PUBKIT_INDEX_USERNAME": "ci", "PUBKIT_INDEX_PASSWORD": SECRET}


# -- the orb against a live index: install pubkit, release the example monorepo -----------

# What the install step gets: pubkit as a wheel of this checkout, without extras, as a
# pipeline installs it (so nothing comes from beyond the package mirrors), and uv to speed up
# the builds.
EXTRAS = ("uv",)
ALICE = {"PUBKIT_INDEX_USERNAME": "alice", "PUBKIT_INDEX_PASSWORD": PASSWORDS["alice"]}


@pytest.fixture(scope="module")
def pip_spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A wheel of this checkout, built from a copy (the build leaves nothing in the tree)."""
    root = tmp_path_factory.mktemp("pubkit-wheel")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "pubkit", source / "pubkit",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "--wheel-dir", str(root / "wheels"), str(source)],
                           capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "wheels").glob("pubkit-*.whl")
    return " ".join((str(wheel), *EXTRAS))


@pytest.fixture(scope="module")
def circleci(orb: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> CircleCI:
    """One container's worth of state: a home without git identity or .pypirc, a BASH_ENV."""
    return CircleCI(orb, tmp_path_factory.mktemp("container") / "home", ci_environment())


@pytest.fixture(scope="module")
def installed(circleci: CircleCI, pip_spec: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The orb's install command, once per module: pubkit on PATH through BASH_ENV."""
    done = circleci.command("install", tmp_path_factory.mktemp("workdir"), pip_spec=pip_spec)
    assert done.ok, done.output()
    return pip_spec


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare repository holding the example monorepo on main: what CircleCI checks out."""
    root = tmp_path_factory.mktemp("origin")
    seed = example_repo(root / "seed")
    bare = root / "monorepo.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    git(seed, "push", "-q", str(bare), "main")
    return bare


def checkout(origin: Path, destination: Path) -> Path:
    """CircleCI's checkout: a clone on the branch (not a detached HEAD), origin as remote."""
    subprocess.run(["git", "clone", "-q", "--branch", "main", str(origin), str(destination)],
                   check=True, capture_output=True)  # fmt: skip
    return destination


def set_version(repo: Path, package: str, version: str) -> None:
    pyproject = repo / "packages" / package / "pyproject.toml"
    text = re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text())
    pyproject.write_text(text)
    subprocess.run(["git", "commit", "-qam", f"{package} {version}"], cwd=repo, check=True,
                   env={**os.environ, **GIT_IDENTITY})  # fmt: skip


def test_install_puts_pubkit_on_path_for_the_next_steps(circleci: CircleCI, installed: str,
                                                        tmp_path: Path) -> None:  # fmt: skip
    venv = circleci.home / ".pubkit-venv"
    assert (venv / "bin" / "pubkit").is_file()
    assert f"export PATH={venv}/bin:" in circleci.bash_env.read_text()
    after = subprocess.run(["bash", "-c", "command -v pubkit && pubkit --version"],
                           env=circleci.env, capture_output=True, text=True,
                           check=False)  # fmt: skip
    assert after.stdout.splitlines() == [str(venv / "bin" / "pubkit"), "pubkit 0.1.0"], after


def test_the_release_job_releases_the_example_monorepo_and_pushes_the_release(
    circleci: CircleCI, installed: str, server: LiveServer, origin: Path, tmp_path: Path
) -> None:
    project = checkout(origin, tmp_path / "project")
    job = circleci.job("release", project, env=ALICE, pip_spec=installed,
                       index_url=server.simple_url, push=True)  # fmt: skip
    assert job.ok, job.output()
    assert [step.name for step in job.steps] == ["Install pubkit", "pubkit release"]
    assert PASSWORDS["alice"] not in job.output()

    document = json.loads((project / "pubkit-results" / "release.json").read_text())
    assert document["ok"] is True, document
    versions = {p["name"]: p["version"] for p in document["packages"]}
    assert versions == {"acme-core": "1.2.0", "acme-text": "1.0.0", "acme-aws": "1.0.0",
                        "acme-kafka": "1.0.0"}  # fmt: skip
    for name, version in versions.items():
        stem = f"{name.replace('-', '_')}-{version}"
        assert {f"{stem}.tar.gz", f"{stem}-py3-none-any.whl"} <= set(files_by_name(server, name))
        assert sorted(p.name for p in (project / "dist" / name).iterdir()) == [
            f"{stem}-py3-none-any.whl", f"{stem}.tar.gz"]  # fmt: skip
    tags = {f"{name}-v{version}" for name, version in versions.items()}
    assert set(git(origin, "tag").split()) == tags  # pushed
    # What the job stores exists: the JUnit files, release.json, the built files.
    junit = project / "pubkit-results" / "junit"
    assert sorted(p.name for p in (junit / "packages").glob("*.xml")) == sorted(
        f"{name}.xml" for name in versions)  # fmt: skip
    assert (junit / "release.xml").is_file()
    assert job.stored == [("store_test_results", "pubkit-results/junit"),
                          ("store_artifacts", "pubkit-results"),
                          ("store_artifacts", "./dist")]  # fmt: skip
    assert all((project / path).exists() for _, path in job.stored)

    # A leaf changes; a bump commits the new version, tags it and pushes both to the branch
    # (the container has no git identity: pubkit uses its own).
    producer = project / "packages" / "acme-kafka" / "src" / "acme_kafka" / "producer.py"
    producer.write_text(producer.read_text() + "\n# flush in batches\n")
    git(project, "commit", "-qam", "fix(kafka): batches")
    bumped = circleci.command("release", project, env=ALICE, index_url=server.simple_url,
                              bump="patch", push=True)  # fmt: skip
    assert bumped.ok, bumped.output()
    subject, author = git(origin, "log", "-1", "--format=%s%n%an <%ae>", "main").splitlines()
    assert (subject, author) == ("release: acme-kafka 1.0.1", "pubkit <pubkit@localhost>")
    assert "acme-kafka-v1.0.1" in git(origin, "tag").split()
    assert git(project, "rev-parse", "HEAD") == git(origin, "rev-parse", "main")
    assert {"acme_kafka-1.0.1.tar.gz", "acme_kafka-1.0.1-py3-none-any.whl"} <= set(
        files_by_name(server, "acme-kafka"))  # fmt: skip


def test_the_test_job_publishes_nothing_and_publish_uploads_what_it_built(
    circleci: CircleCI, installed: str, server: LiveServer, origin: Path, tmp_path: Path
) -> None:
    project = checkout(origin, tmp_path / "project")
    set_version(project, "acme-text", "3.0.0")
    uploads, tags = successful_uploads(server), git(origin, "tag")

    job = circleci.job("test", project, pip_spec=installed, index_url=server.simple_url,
                       packages="acme-core acme-text")  # fmt: skip
    assert job.ok, job.output()
    reports = project / "pubkit-results" / "junit" / "packages"
    assert sorted(p.name for p in reports.iterdir()) == ["acme-core.xml", "acme-text.xml"]
    assert "failures=\"0\"" in (reports / "acme-text.xml").read_text()
    assert {p.name for p in (project / "dist" / "acme-text").iterdir()} == {
        "acme_text-3.0.0.tar.gz", "acme_text-3.0.0-py3-none-any.whl"}  # fmt: skip
    assert not (project / "dist" / "acme-aws").exists()
    assert successful_uploads(server) == uploads
    assert git(project, "tag") == git(origin, "tag") == tags

    credentials = {"INDEX_USER": "alice", "INDEX_PASSWORD": PASSWORDS["alice"]}
    published = circleci.command("publish", project, env=credentials,
                                 index_url=server.simple_url, username_var="INDEX_USER",
                                 password_var="INDEX_PASSWORD", packages="acme-text")  # fmt: skip
    assert published.ok, published.output()
    assert PASSWORDS["alice"] not in published.output()
    assert successful_uploads(server) == uploads + 2
    assert {"acme_text-3.0.0.tar.gz", "acme_text-3.0.0-py3-none-any.whl"} <= set(
        files_by_name(server, "acme-text"))  # fmt: skip


def test_without_credentials_the_release_job_stops_early_and_releases_nothing(
    circleci: CircleCI, installed: str, server: LiveServer, origin: Path, tmp_path: Path
) -> None:
    project = checkout(origin, tmp_path / "project")
    set_version(project, "acme-kafka", "5.0.0")  # something to release, were it allowed
    uploads, tags = successful_uploads(server), git(origin, "tag")

    job = circleci.job("release", project, pip_spec=installed, index_url=server.simple_url,
                       username_var="CI_INDEX_USER", password_var="CI_INDEX_PASSWORD")  # fmt: skip
    assert [(step.name, step.returncode) for step in job.steps] == [
        ("Install pubkit", 0), ("pubkit release", 2)]  # fmt: skip
    assert job.steps[-1].stderr == (
        "error: CI_INDEX_USER is not set: it holds the index credentials (or set "
        "PUBKIT_INDEX_TOKEN)\n")  # fmt: skip
    assert successful_uploads(server) == uploads
    assert git(project, "tag") == git(origin, "tag") == tags
    assert not (project / "pubkit-results").exists() and not (project / "dist").exists()
    # The results are still collected (when: always), whatever there is of them.
    assert [step for step, _ in job.stored] == ["store_test_results", "store_artifacts",
                                                "store_artifacts"]  # fmt: skip
