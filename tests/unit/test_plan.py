from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from packaging.version import Version

from pubkit.errors import UsageError
from pubkit.releasing.core.plan import PackageFacts, PlanOptions, make_plan
from pubkit.releasing.core.versioning import ReleaseTag
from pubkit.releasing.core.workspace import Workspace, WorkspaceConfig, build_workspace


def _pyproject(name: str, version: str, *deps: str) -> dict[str, object]:
    return {"project": {"name": name, "version": version, "dependencies": list(deps)}}


@pytest.fixture
def workspace() -> Workspace:
    return build_workspace(
        "/repo",
        WorkspaceConfig(),
        {
            PurePosixPath("packages/core"): _pyproject("acme-core", "1.2.0"),
            PurePosixPath("packages/text"): _pyproject("acme-text", "1.0.0",
                                                       "acme-core>=1.2,<2"),
            PurePosixPath("packages/aws"): _pyproject("acme-aws", "0.4.0", "acme-core>=1.0",
                                                      "boto3"),
            PurePosixPath("packages/kafka"): _pyproject("acme-kafka", "2.0.0"),
        },
    )


def tag(name: str, version: str) -> ReleaseTag:
    return ReleaseTag(f"{name}-v{version}", Version(version))


def facts(current: str, released: tuple[str, ...] = (), changed: tuple[str, ...] | None = (),
          name: str = "x", messages: tuple[str, ...] = ()) -> PackageFacts:
    return PackageFacts(
        current=current,
        released=frozenset(Version(v) for v in released),
        last_tag=tag(name, released[-1]) if released and changed is not None else None,
        changed_files=changed,
        commit_messages=messages,
    )


def all_released(**changed: tuple[str, ...]) -> dict[str, PackageFacts]:
    base = {"acme-core": "1.2.0", "acme-text": "1.0.0", "acme-aws": "0.4.0",
            "acme-kafka": "2.0.0"}
    return {name: facts(v, (v,), changed.get(name.replace("acme-", ""), ()), name)
            for name, v in base.items()}


def test_manual_releases_what_the_index_lacks(workspace: Workspace) -> None:
    gathered = all_released()
    gathered["acme-text"] = facts("1.1.0", ("1.0.0",), ("x.py",), "acme-text")
    plan = make_plan(workspace, gathered, PlanOptions())
    assert [e.name for e in plan.releases] == ["acme-text"]
    entry = plan.entry("acme-text")
    assert (entry.current, entry.next, entry.reason) == ("1.1.0", "1.1.0",
                                                          "1.1.0 is not on the index yet")
    assert entry.steps == ("build", "check", "test", "publish", "tag")  # nothing to rewrite
    assert plan.entry("acme-core").reason == "1.2.0 is already on the index"


def test_manual_warns_about_changes_without_a_new_version(workspace: Workspace) -> None:
    plan = make_plan(workspace, all_released(core=("src/x.py",)), PlanOptions())
    assert plan.releases == ()
    assert plan.warnings == (
        "acme-core: 1 file(s) changed since acme-core-v1.2.0 but 1.2.0 is already on the"
        " index; bump its version to release the change",)


def test_order_puts_dependencies_first(workspace: Workspace) -> None:
    plan = make_plan(workspace, all_released(), PlanOptions())
    names = [e.name for e in plan.entries]
    assert names.index("acme-core") < names.index("acme-text")
    assert names.index("acme-core") < names.index("acme-aws")


def test_bump_releases_changed_packages_and_their_dependents(workspace: Workspace) -> None:
    plan = make_plan(workspace, all_released(core=("src/x.py",)),
                        PlanOptions("bump", "minor"))
    assert {e.name: e.next for e in plan.releases} == {
        "acme-core": "1.3.0", "acme-text": "1.1.0", "acme-aws": "0.5.0"}
    assert plan.entry("acme-core").steps[0] == "version"
    assert plan.entry("acme-text").reason == "a dependency is released"
    assert plan.entry("acme-kafka").action == "skip"


def test_major_bump_widens_dependents_requirements(workspace: Workspace) -> None:
    plan = make_plan(workspace, all_released(core=("src/x.py",)),
                        PlanOptions("bump", "major"))
    text = plan.entry("acme-text")
    assert text.action == "release"
    (change,) = text.requirement_changes
    assert (change.dependency, change.old, change.new) == (
        "acme-core", "acme-core>=1.2,<2", "acme-core>=1.2,<3")
    assert plan.entry("acme-aws").requirement_changes == ()  # >=1.0 already admits 2.0.0


def test_conventional_commits(workspace: Workspace) -> None:
    gathered = all_released(text=("a.py",), kafka=("b.py",))
    gathered["acme-text"] = facts("1.0.0", ("1.0.0",), ("a.py",), "acme-text",
                                  ("feat: strip emoji",))
    gathered["acme-kafka"] = facts("2.0.0", ("2.0.0",), ("b.py",), "acme-kafka",
                                   ("docs: typo",))
    plan = make_plan(workspace, gathered, PlanOptions("conventional"))
    assert {e.name: e.next for e in plan.releases} == {"acme-text": "1.1.0"}
    assert plan.entry("acme-kafka").reason == (
        "no feat/fix/breaking commits since its last release")


def test_dev_builds_for_affected_packages(workspace: Workspace) -> None:
    plan = make_plan(workspace, all_released(text=("a.py",)),
                        PlanOptions(dev_build=42))
    assert {e.name: e.next for e in plan.releases} == {"acme-text": "1.0.1.dev42"}


def test_never_tagged_packages_count_as_changed(workspace: Workspace) -> None:
    gathered = all_released()
    gathered["acme-kafka"] = facts("2.0.0", (), None, "acme-kafka")
    plan = make_plan(workspace, gathered, PlanOptions("bump"))
    # Never tagged and not on the index: the version in the file is the first release.
    assert plan.entry("acme-kafka").reason == "2.0.0 is set but not released yet"
    assert plan.entry("acme-kafka").next == "2.0.0"
    gathered["acme-kafka"] = facts("2.0.0", ("2.0.0",), ("a.py",), "acme-kafka")
    assert make_plan(workspace, gathered, PlanOptions("bump")).entry("acme-kafka").next == "2.0.1"


def resumed(current: str, tags: tuple[str, ...], released: tuple[str, ...] = (),
            complete: tuple[str, ...] = (), changed: tuple[str, ...] = ("a.py",)) -> PackageFacts:
    """Facts as a re-run finds them after an earlier run stopped half-way."""
    versions = [Version(v) for v in tags]
    return PackageFacts(
        current=current,
        released=frozenset(Version(v) for v in released),
        last_tag=tag("acme-kafka", str(max(versions))) if versions else None,
        changed_files=changed if versions else None,
        complete=frozenset(Version(v) for v in complete),
        tagged=frozenset(versions),
    )


@pytest.mark.parametrize(
    ("strategy", "kafka", "expected"),
    [
        # Uploaded and tagged: done.
        ("manual", resumed("2.0.0", ("2.0.0",), ("2.0.0",), ("2.0.0",)), (None, ())),
        # Uploaded, not tagged: only the tag is missing.
        ("manual", resumed("2.1.0", ("2.0.0",), ("2.0.0", "2.1.0"), ("2.0.0", "2.1.0")),
         ("2.1.0", ("tag",))),
        # The sdist went up, the wheel did not: finish the same version.
        ("manual", resumed("2.1.0", ("2.0.0",), ("2.0.0", "2.1.0"), ("2.0.0",)),
         ("2.1.0", ("build", "check", "test", "publish", "tag"))),
        # A bump committed (or left in the tree) but not released: release it, do not bump
        # again.
        ("bump", resumed("2.0.1", ("2.0.0",), ("2.0.0",), ("2.0.0",)),
         ("2.0.1", ("build", "check", "test", "publish", "tag"))),
        ("bump", resumed("2.0.1", ("2.0.0",), ("2.0.0", "2.0.1"), ("2.0.0", "2.0.1")),
         ("2.0.1", ("tag",))),
        # A bump that was not committed: the file lags behind; the tag is the record.
        ("bump", resumed("2.0.0", ("2.0.0", "2.0.1"), ("2.0.0", "2.0.1"), ("2.0.0", "2.0.1")),
         ("2.0.2", ("version", "build", "check", "test", "publish", "tag"))),
        # ... and a re-run of that bump after it uploaded without tagging.
        ("bump", resumed("2.0.0", ("2.0.0",), ("2.0.0", "2.0.1"), ("2.0.0", "2.0.1")),
         ("2.0.1", ("tag",))),
        # Dev builds are never tagged, and never uploaded twice.
        ("dev", resumed("2.0.0", ("2.0.0",), ("2.0.0",), ("2.0.0",)),
         ("2.0.1.dev7", ("version", "build", "check", "test", "publish"))),
        ("dev", resumed("2.0.0", ("2.0.0",), ("2.0.0", "2.0.1.dev7"), ("2.0.0", "2.0.1.dev7")),
         (None, ())),
    ],
)
def test_a_rerun_finishes_what_an_earlier_run_started(
    workspace: Workspace, strategy: str, kafka: PackageFacts,
    expected: tuple[str | None, tuple[str, ...]],
) -> None:
    gathered = all_released()
    gathered["acme-kafka"] = kafka
    options = PlanOptions(dev_build=7) if strategy == "dev" else PlanOptions(strategy)  # type: ignore[arg-type]
    entry = make_plan(workspace, gathered, options).entry("acme-kafka")
    assert (entry.next, entry.steps) == expected


def test_a_widened_requirement_is_written_even_without_a_new_version(
    workspace: Workspace,
) -> None:
    gathered = all_released()
    gathered["acme-core"] = facts("2.0.0", ("1.2.0",), ("x.py",), "acme-core")
    gathered["acme-text"] = facts("1.1.0", ("1.0.0",), ("y.py",), "acme-text")
    text = make_plan(workspace, gathered, PlanOptions()).entry("acme-text")
    assert text.next == "1.1.0"
    assert text.steps[0] == "version"
    assert [c.new for c in text.requirement_changes] == ["acme-core>=1.2,<3"]


def test_only_and_unknown_packages(workspace: Workspace) -> None:
    gathered = all_released(core=("x",), text=("y",))
    plan = make_plan(workspace, gathered, PlanOptions("bump", only=("acme-text",)))
    # acme-text, and the changed core it needs; not acme-aws, which needs the core too.
    assert [e.name for e in plan.releases] == ["acme-core", "acme-text"]
    assert plan.entry("acme-aws").reason == "not selected"
    quiet = all_released(text=("y",))
    plan = make_plan(workspace, quiet, PlanOptions("bump", only=("acme-text",)))
    assert [e.name for e in plan.releases] == ["acme-text"]
    with pytest.raises(UsageError, match="unknown package"):
        make_plan(workspace, gathered, PlanOptions(only=("nope",)))


def test_plan_as_json_document(workspace: Workspace) -> None:
    document = make_plan(workspace, all_released(), PlanOptions()).to_dict()
    assert {p["name"] for p in document["packages"]} == {
        "acme-core", "acme-text", "acme-aws", "acme-kafka"}
    assert all(p["action"] == "skip" for p in document["packages"])
