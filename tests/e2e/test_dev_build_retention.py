"""Retention of real dev builds: `pubkit release --dev N` publishes 60 dev builds of a small
monorepo (4 packages x 15 CI runs), then `pubkit index prune` keeps the newest of each
project and the builds that kept ones pin, and pip (no configuration but the index) installs
what was kept.

The monorepo's tests are skipped (`[tool.pubkit.test] skip`): the test step is covered
elsewhere, and this one is about what the index keeps. ret-lib and ret-app pin ret-core with
``==``, so each dev build of theirs pins the same run's ret-core build (one level of
dependencies: a run's builds wait for ret-core's, not for a longer chain). The packages
build with flit_core, whose hooks start fastest; CI runs this on 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pubkit.core.distributions import parse_distribution_filename
from pubkit.testing import LiveServer
from tests.e2e.releasing import git, release_env, small_repo
from tests.e2e.support import (
    CLIENT_TIMEOUT,
    Venv,
    client_env,
    files_by_name,
    output,
    pip_install,
    start_server,
)

pytestmark = pytest.mark.e2e

RUNS = 15  # x 4 packages = 60 dev builds
KEEP = 10  # the newest dev builds prune keeps of each project
ROOT = {"PUBKIT_ADMIN_USERNAME": "root", "PUBKIT_ADMIN_PASSWORD": "root-retention-password"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("retention") / "data")
    try:
        live.add_user("root", ROOT["PUBKIT_ADMIN_PASSWORD"], admin=True)
        yield live
    finally:
        live.stop()


def monorepo(root: Path) -> Path:
    repo = small_repo(root, {"ret-core": (), "ret-lib": ("ret-core==1.0.0",),
                             "ret-app": ("ret-core==1.0.0",), "ret-tool": ()})  # fmt: skip
    for pyproject in (repo / "packages").glob("*/pyproject.toml"):
        # flit_core: the lightest real backend (a quarter of hatchling's import per hook).
        pyproject.write_text(pyproject.read_text().replace(
            'requires = ["hatchling"]\nbuild-backend = "hatchling.build"',
            'requires = ["flit_core>=3.4,<4"]\nbuild-backend = "flit_core.buildapi"'))  # fmt: skip
    config = repo / "pyproject.toml"
    config.write_text(config.read_text() + '\n[tool.pubkit.test]\nskip = "dev builds only"\n')
    git(repo, "commit", "-qam", "flit_core, no tests in dev builds")
    return repo


def release_dev(repo: Path, server: LiveServer, run: int, result: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "pubkit", "release", "--workspace", str(repo), "--index-url",
         server.simple_url, "--dev", str(run), "--jobs", "2", "--json", str(result)],
        capture_output=True, text=True, env=release_env(), check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    document: dict[str, object] = json.loads(result.read_text())
    return document


def prune(server: LiveServer, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pubkit", "index", "prune", *args, "--server", server.url],
        capture_output=True, text=True, env={**client_env(), **ROOT}, check=False,
        timeout=CLIENT_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, output(done)
    return done.stdout


def dev_versions(server: LiveServer, project: str) -> list[int]:
    """The N of the dev builds of ``project`` the index lists, each with a wheel and an sdist."""
    kinds: dict[int, set[bool]] = {}
    for name in files_by_name(server, project):
        parsed = parse_distribution_filename(name)
        assert parsed.version.base_version == "1.0.1" and parsed.version.dev is not None, name
        kinds.setdefault(parsed.version.dev, set()).add(parsed.is_wheel)
    assert all(found == {True, False} for found in kinds.values()), kinds
    return sorted(kinds)


def test_sixty_dev_builds_pruned_to_the_newest_and_their_pins(
    server: LiveServer, tmp_path: Path, venv: Venv
) -> None:
    repo = monorepo(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD")
    for run in range(1, RUNS + 1):
        result = release_dev(repo, server, run, tmp_path / f"run-{run}.json")
        released = {p["name"]: p["version"] for p in result["packages"]  # type: ignore[attr-defined]
                    if p["status"] == "released"}  # fmt: skip
        assert released == dict.fromkeys(("ret-core", "ret-lib", "ret-app", "ret-tool"),
                                         f"1.0.1.dev{run}"), result  # fmt: skip
    # Dev builds tag nothing, commit nothing and put the files back.
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "tag") == ""
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    every = list(range(1, RUNS + 1))
    projects = ("ret-core", "ret-lib", "ret-app", "ret-tool")
    assert {p: dev_versions(server, p) for p in projects} == dict.fromkeys(projects, every)
    # Each dev build pins the same run's build of what it needs.
    (app,) = (repo / "dist" / "ret-app").glob(f"ret_app-1.0.1.dev{RUNS}-*.whl")
    with zipfile.ZipFile(app) as wheel:
        metadata = wheel.read(f"ret_app-1.0.1.dev{RUNS}.dist-info/METADATA").decode()
    assert f"Requires-Dist: ret-core==1.0.1.dev{RUNS}" in metadata

    # The dependents first, keeping 10: their kept builds pin ret-core's 6 to 15 ...
    dry = json.loads(prune(server, "--keep", str(KEEP), "--project", "ret-app", "--project",
                           "ret-lib", "--project", "ret-tool", "--dry-run", "--json"))  # fmt: skip
    assert dry["dry_run"] and len(dry["removed"]) == 3 * (RUNS - KEEP)
    assert dev_versions(server, "ret-app") == every  # a dry run removes nothing
    done = prune(server, "--keep", str(KEEP), "--project", "ret-app", "--project", "ret-lib",
                 "--project", "ret-tool")  # fmt: skip
    assert f"removed {3 * (RUNS - KEEP)} release(s)" in done, done
    newest = every[-KEEP:]
    for project in ("ret-app", "ret-lib", "ret-tool"):
        assert dev_versions(server, project) == newest
    # ... so keeping 1 of ret-core keeps those 10: a kept build's pin stays installable.
    done = prune(server, "--keep", "1", "--project", "ret-core")
    assert f"removed {RUNS - KEEP} release(s)" in done, done
    assert dev_versions(server, "ret-core") == newest
    (first,) = (repo / "dist" / "ret-core").glob("ret_core-1.0.1.dev1-*.whl")
    gone = requests.get(f"{server.url}files/ret-core/{first.name}", timeout=CLIENT_TIMEOUT)
    assert gone.status_code == 404
    # pip --pre installs the newest kept builds, from the index alone (support.pip runs pip
    # --isolated: no configuration file, no PIP_ variable).
    installed = pip_install(venv, server, "--pre", "ret-app")
    assert installed.returncode == 0, output(installed)
    latest = f"1.0.1.dev{RUNS}"
    assert {k: v for k, v in venv.installed().items() if k.startswith("ret-")} == {
        "ret-app": latest, "ret-core": latest}  # fmt: skip
    # An older kept build of ret-lib installs with the ret-core build it pins.
    older = pip_install(venv, server, f"ret-lib==1.0.1.dev{RUNS - 2}")
    assert older.returncode == 0, output(older)
    assert venv.installed()["ret-core"] == f"1.0.1.dev{RUNS - 2}"
    # What prune removed stays removed: a second run finds nothing to do.
    again = prune(server, "--keep", str(KEEP), "--project", "ret-app", "--project", "ret-lib",
                  "--project", "ret-tool")  # fmt: skip
    assert "removed 0 release(s)" in again, again
