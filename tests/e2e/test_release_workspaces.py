"""Workspaces as teams have them (issue 14, findings 5-8), on generated git monorepos: a root
package with plugins, a uv workspace with excludes, setuptools-scm and hatch-vcs packages, a
lockstep group, existing tag histories, and what CI logs show. Planning cases run `pubkit
plan` (no build, no index); one release goes through a live index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pubkit.testing import LiveServer
from tests.e2e.releasing import git, init_repo, pubkit_release, write_package
from tests.e2e.support import files_by_name

pytestmark = pytest.mark.e2e


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def project(name: str, version: str | None = "1.0.0", *deps: str, extra: str = "") -> str:
    requirements = ", ".join(f'"{dep}"' for dep in deps)
    line = f'version = "{version}"' if version else 'dynamic = ["version"]'
    return f'[project]\nname = "{name}"\n{line}\ndependencies = [{requirements}]\n{extra}'


def pubkit(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # No terminal and no CI variable: what a CI log gets.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUBKIT_", "CI"))}
    return subprocess.run([sys.executable, "-m", "pubkit", *args, "--workspace", str(repo)],
                          capture_output=True, text=True, check=False, timeout=120,
                          env={**env, "NO_COLOR": "1"})  # fmt: skip


def plan(repo: Path, *args: str) -> dict[str, Any]:
    result = pubkit(repo, "plan", "--json", *args)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def entries(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in document["packages"]}


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def test_a_root_package_with_plugins(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "pyproject.toml", project("sqlfluffy", "3.0.0") + '''
        [tool.pubkit]
        packages = [".", "plugins/*"]
        packages-exclude = ["plugins/skeleton"]
        ''')
    write(repo, "src/sqlfluffy/__init__.py", "")
    write(repo, "plugins/templater/pyproject.toml",
          project("sqlfluffy-templater", "1.0.0", "sqlfluffy==3.0.0"))
    write(repo, "plugins/skeleton/pyproject.toml", "[tool.cookiecutter]\n")  # not a package
    init_repo(repo)
    git(repo, "tag", "sqlfluffy-v3.0.0")
    git(repo, "tag", "sqlfluffy-templater-v1.0.0")
    write(repo, "plugins/templater/src/templater.py", "X = 1\n")
    commit(repo, "fix(templater): x")
    # On main: IndexError in pathlib's glob of ".".
    document = plan(repo, "--bump", "minor")
    packages = entries(document)
    assert {name: e["path"] for name, e in packages.items()} == {
        "sqlfluffy": ".", "sqlfluffy-templater": "plugins/templater"}
    # A change inside a plugin is the plugin's, not the root package's.
    assert packages["sqlfluffy"]["action"] == "skip"
    assert packages["sqlfluffy-templater"]["next"] == "1.1.0"
    assert document["edges"] == [{"from": "sqlfluffy-templater", "to": "sqlfluffy",
                                  "kind": "runtime", "via": None,
                                  "requirement": "sqlfluffy==3.0.0"}]  # fmt: skip


def test_a_uv_workspace_with_excludes_is_the_default_package_set(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "pyproject.toml", '''
        [tool.uv.workspace]
        members = ["libs/*"]
        exclude = ["libs/scratch"]

        [tool.pubkit]
        tag-format = "{name}-v{version}"
        ''')
    write(repo, "libs/checkpoint/pyproject.toml", project("graph-checkpoint", "4.2.0"))
    write(repo, "libs/graph/pyproject.toml",
          project("graph", "1.2.11", "graph-checkpoint>=4,<5"))
    write(repo, "libs/scratch/pyproject.toml", project("graph", "0.0.1"))  # a duplicate name
    init_repo(repo)
    # On main: the default packages/* matches nothing.
    assert set(entries(plan(repo))) == {"graph", "graph-checkpoint"}


def test_setuptools_scm_and_hatch_vcs_versions_come_from_tags(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "pyproject.toml", '[tool.pubkit]\npackages = ["packages/*"]\n')
    # setuptools-scm 8 needs no [tool.setuptools_scm] table: a build requirement is enough.
    write(repo, "packages/scm/pyproject.toml", project("scm-pkg", None) + '''
        [build-system]
        requires = ["setuptools>=64", "setuptools-scm>=8"]
        build-backend = "setuptools.build_meta"
        ''')
    write(repo, "packages/hv/pyproject.toml", project("hv-pkg", None, "scm-pkg>=1.4") + '''
        [build-system]
        requires = ["hatchling", "hatch-vcs"]
        build-backend = "hatchling.build"

        [tool.hatch.version]
        source = "vcs"
        ''')
    init_repo(repo)
    git(repo, "tag", "scm-pkg-v1.4.0")
    git(repo, "tag", "hv-pkg-v0.3.0")
    tagged = entries(plan(repo))
    # The tag is the version; the index was not asked, so the tagged versions stand.
    assert {n: (e["current"], e["action"]) for n, e in tagged.items()} == {
        "scm-pkg": ("1.4.0", "skip"), "hv-pkg": ("0.3.0", "skip")}
    write(repo, "packages/scm/scm_pkg.py", "X = 1\n")
    commit(repo, "fix(scm): x")
    bumped = entries(plan(repo, "--bump", "minor"))
    # Releasing is tagging: nothing is written, the tag comes last.
    assert (bumped["scm-pkg"]["next"], bumped["scm-pkg"]["steps"]) == (
        "1.5.0", ["build", "check", "test", "publish", "tag"])
    assert bumped["hv-pkg"]["reason"] == "its requirements admit scm-pkg 1.5.0"


def test_a_lockstep_group_and_adopted_tags(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "pyproject.toml", "")
    for name in ("otel-api", "otel-sdk", "otel-exporter-with-a-long-name-that-ci-logs-cut"):
        deps = ("otel-api==1.44.0",) if name == "otel-sdk" else ()
        write(repo, f"packages/{name}/pyproject.toml", project(name, "1.44.0", *deps))
    write(repo, "docs/examples/otel-api/pyproject.toml", project("otel-api", "0.0.1"))
    write(repo, "packages/contrib/pyproject.toml", project("otel-contrib", None))  # no source
    init_repo(repo)
    git(repo, "tag", "v1.44.0")
    git(repo, "tag", "v1.43.0")
    adopted = pubkit(repo, "init", "--adopt")
    # On main: aborts on the package without a version source, and on the duplicate name.
    assert adopted.returncode == 0, adopted.stderr
    assert "skipped docs/examples/otel-api: under docs/: an example or fixture" in adopted.stdout
    assert "skipped packages/contrib: " in adopted.stdout
    assert "adopted 2 tag(s) of otel-api as 'v{version}': v1.44.0, v1.43.0" in adopted.stdout
    config = (repo / "pyproject.toml").read_text()
    assert 'tag-format = "v{version}"' in config and "[[tool.pubkit.group]]" in config
    commit(repo, "pubkit init --adopt")
    write(repo, "packages/otel-api/src/otel_api.py", "X = 1\n")
    commit(repo, "feat(api): x")
    document = plan(repo, "--bump", "minor")
    packages = entries(document)
    # One version for the whole group, and one tag.
    assert {n: e["next"] for n, e in packages.items()} == {
        "otel-api": "1.45.0", "otel-sdk": "1.45.0",
        "otel-exporter-with-a-long-name-that-ci-logs-cut": "1.45.0"}
    assert packages["otel-sdk"]["requirement_changes"][0]["new"] == "otel-api==1.45.0"
    # Without a terminal, the table is never cut at 80 columns.
    table = pubkit(repo, "plan", "--bump", "minor")
    assert table.returncode == 0, table.stderr
    assert "otel-exporter-with-a-long-name-that-ci-logs-cut  1.44.0   1.45.0" in table.stdout
    assert "lockstep group 'all' releases 1.45.0 (otel-api)" in table.stdout
    graph = pubkit(repo, "graph", "--format", "dot")
    assert '"otel-sdk" -> "otel-api";' in graph.stdout


def test_release_a_lockstep_group_and_a_vcs_package(server: LiveServer, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    write(repo, "pyproject.toml", '''
        [tool.pubkit]
        packages = ["packages/*"]
        test-extras = ["test"]

        [[tool.pubkit.group]]
        name = "lock"
        members = ["lock-*"]
        ''')
    write_package(repo, "lock-core", "1.0.0")
    write_package(repo, "lock-app", "1.0.0", "lock-core==1.0.0",
                  test="def test_fails():\n    assert 1 + 1 == 3\n")  # fmt: skip
    write_package(repo, "vcs-tool", "0", "lock-core>=1")
    pyproject = repo / "packages/vcs-tool/pyproject.toml"
    text = pyproject.read_text().replace('version = "0"', 'dynamic = ["version"]')
    text = text.replace('requires = ["hatchling"]', 'requires = ["hatchling", "hatch-vcs"]')
    pyproject.write_text(text + '\n[tool.hatch.version]\nsource = "vcs"\n')
    init_repo(repo)
    for tag in ("lock-v1.0.0", "vcs-tool-v0.1.0"):
        git(repo, "tag", "-a", tag, "-m", tag)
    for name in ("lock-core", "vcs-tool"):
        module = name.replace("-", "_")
        (repo / f"packages/{name}/src/{module}/__init__.py").write_text(f'NAME = "{name}"\nX = 1\n')
    commit(repo, "feat: core and tool")
    head = git(repo, "rev-parse", "HEAD")

    failed = pubkit_release(repo, server, "--bump", "minor")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    # vcs-tool went up, lock-app's tests failed: the commit holds the group's versions only
    # because something was published; lock-app's failure blocked nothing else.
    assert "released  vcs-tool 0.2.0" in failed.stdout
    subject, _, body = git(repo, "log", "-1", "--format=%B").strip().partition("\n\n")
    assert subject == "release: 2 packages"
    assert body.splitlines() == ["- lock-core 1.1.0", "- lock-app 1.1.0"]
    assert git(repo, "rev-parse", "HEAD^") == head
    # The vcs package's tag is its version (nothing was written for it); the group's one
    # tag waits until every member is released.
    assert set(git(repo, "tag").split()) == {"lock-v1.0.0", "vcs-tool-v0.1.0", "vcs-tool-v0.2.0"}
    assert "0.2.0" not in (repo / "packages/vcs-tool/pyproject.toml").read_text()
    assert "vcs_tool-0.2.0.tar.gz" in files_by_name(server, "vcs-tool")

    write_package(repo, "lock-app", "1.1.0", "lock-core==1.1.0")  # the fix
    commit(repo, "fix(app): the test")
    rerun = pubkit_release(repo, server, "--bump", "minor")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "released  lock-app 1.1.0" in rerun.stdout
    assert "lock-v1.1.0" in set(git(repo, "tag").split())
    assert git(repo, "log", "-1", "--format=%s").strip() == "fix(app): the test"  # no commit


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


def test_sigterm_stops_children_cleans_up_and_reports(server: LiveServer, tmp_path: Path) -> None:
    import signal
    import time

    from tests.e2e.releasing import release_env, small_repo

    repo = small_repo(tmp_path / "repo", {"slow-core": (), "slow-app": ("slow-core",)})
    write_package(repo, "slow-core", "1.0.0",
                  test="import time\n\n\ndef test_slow():\n    time.sleep(300)\n")  # fmt: skip
    commit(repo, "a slow test")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result_file = tmp_path / "result.json"
    release = subprocess.Popen(
        [sys.executable, "-m", "pubkit", "release", "--workspace", str(repo), "--index-url",
         server.simple_url, "--bump", "minor", "--json", str(result_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**release_env(), "TMPDIR": str(scratch)},
    )  # fmt: skip
    # The tests run from a copy of the package's test folder in a temporary directory (under
    # TMPDIR, here the scratch folder): its pytest is the one that mentions that folder.
    tests_dir = str(scratch)
    deadline = time.monotonic() + 240
    while not any("pytest" in p for p in _processes_mentioning(tests_dir)):
        assert release.poll() is None, release.communicate()
        assert time.monotonic() < deadline, "the slow test never started"
        time.sleep(0.2)
    stopped_at = time.monotonic()
    release.send_signal(signal.SIGTERM)
    stdout, stderr = release.communicate(timeout=150)
    assert release.returncode == 143, stdout + stderr
    assert time.monotonic() - stopped_at < 120  # not the 300 s of the test (generous: CI load)
    assert "cancelled by SIGTERM: 0 package(s) released, 2 not" in stdout
    document = json.loads(result_file.read_text())
    assert document["cancelled"] == "SIGTERM" and document["exit_code"] == 143
    statuses = {p["name"]: p["status"] for p in document["packages"]}
    assert statuses == {"slow-core": "cancelled", "slow-app": "cancelled"}
    # No orphan: the test's pytest (and its pip) went with the run, and so did its venv.
    assert _processes_mentioning(tests_dir) == []
    assert [p.name for p in scratch.iterdir() if p.name.startswith("pubkit-test-")] == []
    # Nothing was published, so nothing was committed, and the files are as they were.
    assert git(repo, "log", "-1", "--format=%s").strip() == "a slow test"
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""


@contextmanager
def _stalled_index() -> Iterator[str]:
    """A package index URL that accepts connections, reads the request and never answers."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:  # the timeout, or the listener closed
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/simple/"
    finally:
        stop.set()
        thread.join()
        for connection in [*held, listener]:
            connection.close()


def test_sigterm_stops_the_build_environment_install(server: LiveServer, tmp_path: Path) -> None:
    """The installer filling a build environment (started for `build`, before any backend
    hook runs) stops with the run; the environment goes and the summary is written."""
    import signal
    import time

    from tests.e2e.releasing import release_env, small_repo

    repo = small_repo(tmp_path / "repo", {"stall-core": ()})
    pyproject = repo / "packages/stall-core/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        'requires = ["hatchling"]', 'requires = ["hatchling", "pubkit-stalled-backend-xyz"]'))
    commit(repo, "a build requirement from a stalled index")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result_file = tmp_path / "result.json"
    with _stalled_index() as index:
        # Every index the installers know is the stalled one; it would hold them for an hour.
        stalled = {"UV_INDEX_URL": index, "UV_DEFAULT_INDEX": index, "UV_HTTP_TIMEOUT": "3600",
                   "UV_NO_CONFIG": "1", "PIP_INDEX_URL": index, "PIP_TIMEOUT": "3600",
                   "PIP_CONFIG_FILE": os.devnull, "TMPDIR": str(scratch)}  # fmt: skip
        release = subprocess.Popen(
            [sys.executable, "-m", "pubkit", "release", "--workspace", str(repo), "--index-url",
             server.simple_url, "--bump", "minor", "--json", str(result_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**release_env(), **stalled},
        )  # fmt: skip
        try:
            # The build environment is made under TMPDIR: its installer names it.
            deadline = time.monotonic() + 240
            while not any("install" in p for p in _processes_mentioning(str(scratch))):
                assert release.poll() is None, release.communicate()
                assert time.monotonic() < deadline, "the build environment install never started"
                time.sleep(0.2)
            time.sleep(1.0)  # well into its wait for the index
            release.send_signal(signal.SIGTERM)
            stdout, stderr = release.communicate(timeout=150)  # not the installer's hour
        finally:
            if release.poll() is None:  # it did not stop: leave no process behind
                release.kill()
                release.communicate()
    assert release.returncode == 143, stdout + stderr
    assert "cancelled by SIGTERM: 0 package(s) released, 1 not" in stdout
    document = json.loads(result_file.read_text())
    assert document["cancelled"] == "SIGTERM" and document["exit_code"] == 143
    (package,) = document["packages"]
    assert (package["name"], package["status"]) == ("stall-core", "cancelled")
    assert package["reason"].startswith("build: "), package["reason"]
    # No orphan installer, no build environment left behind, the tree as it was.
    assert _processes_mentioning(str(scratch)) == []
    assert [p.name for p in scratch.iterdir() if p.name.startswith("build-env-")] == []
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""


def test_preflight_stops_before_anything_is_written(server: LiveServer, tmp_path: Path) -> None:
    import socket

    from tests.e2e.releasing import release_env, small_repo

    repo = small_repo(tmp_path / "repo", {"pre-core": ()})
    git(repo, "tag", "-a", "pre-core-v1.0.0", "-m", "1.0.0")
    write(repo, "packages/pre-core/src/pre_core/extra.py", "X = 1\n")
    commit(repo, "feat: x")
    head = git(repo, "rev-parse", "HEAD")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/legacy/"

    def release(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pubkit", "release", "--workspace", str(repo), "--index-url",
             server.simple_url, "--bump", "minor", *args],
            capture_output=True, text=True, check=False, timeout=300,
            env={**release_env(), **env},
        )  # fmt: skip

    wrong = release(PUBKIT_INDEX_PASSWORD="not-the-password")
    unreachable = release("--upload-url", closed)
    not_upload = release("--upload-url", server.simple_url)
    (repo / "packages/pre-core/pyproject.toml").write_text(
        (repo / "packages/pre-core/pyproject.toml").read_text() + "\n# local edit\n")
    dirty = release()
    for result, message in (
        # The index lists its public projects whatever the password: the upload probe is
        # what finds it wrong, before the build rather than at the upload.
        (wrong, "the index refused the upload credentials (401"),
        (unreachable, f"the upload URL {closed} is unreachable"),
        (not_upload, "is not an upload endpoint (it answered 405)"),
        (dirty, "tracked files have uncommitted changes"),
    ):
        assert result.returncode in (1, 2), result.stdout + result.stderr
        assert message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1  # one line
    # Nothing was built, written or committed by any of them.
    assert git(repo, "rev-parse", "HEAD") == head
    assert not (repo / "dist").exists()
    assert git(repo, "status", "--porcelain", "--untracked-files=no").strip() == (
        "M packages/pre-core/pyproject.toml")
    assert "1.1.0" not in (repo / "packages/pre-core/pyproject.toml").read_text()
