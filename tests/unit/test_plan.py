from __future__ import annotations

from dataclasses import replace
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


def test_bump_applies_to_changed_packages_only(workspace: Workspace) -> None:
    plan = make_plan(workspace, all_released(core=("src/x.py",)),
                        PlanOptions("bump", "minor"))
    # acme-text (>=1.2,<2) and acme-aws (>=1.0) admit 1.3.0: nothing to release for them.
    assert {e.name: e.next for e in plan.releases} == {"acme-core": "1.3.0"}
    assert plan.entry("acme-core").steps[0] == "version"
    assert plan.entry("acme-text").reason == "its requirements admit acme-core 1.3.0"
    assert plan.entry("acme-kafka").reason == "unchanged since its last release"


def test_dependents_always_get_a_patch(tmp_path: object) -> None:
    config = WorkspaceConfig(dependents="always")
    ws = build_workspace("/repo", config, {
        PurePosixPath("packages/core"): _pyproject("acme-core", "1.2.0"),
        PurePosixPath("packages/text"): _pyproject("acme-text", "1.0.0", "acme-core>=1.2,<2"),
    })
    gathered = {"acme-core": facts("1.2.0", ("1.2.0",), ("x.py",), "acme-core"),
                "acme-text": facts("1.0.0", ("1.0.0",), (), "acme-text")}
    plan = make_plan(ws, gathered, PlanOptions("bump", "minor"))
    assert {e.name: e.next for e in plan.releases} == {"acme-core": "1.3.0", "acme-text": "1.0.1"}
    assert plan.entry("acme-text").reason == 'dependents = "always": acme-core is released'


def test_a_moving_pin_patches_its_dependents_transitively() -> None:
    ws = build_workspace("/repo", WorkspaceConfig(), {
        PurePosixPath("packages/" + "a"): _pyproject("graph-core", "1.2.11"),
        PurePosixPath("packages/" + "b"): _pyproject("graph-sdk", "0.4.0b2", "graph-core==1.2.11"),
        PurePosixPath("packages/" + "c"): _pyproject("graph-cli", "3.0.0", "graph-sdk==0.4.0b2"),
        PurePosixPath("packages/" + "d"): _pyproject("graph-doc", "1.0.0", "graph-core>=1"),
    })
    gathered = {"graph-core": facts("1.2.11", ("1.2.11",), ("x.py",), "graph-core"),
                "graph-sdk": facts("0.4.0b2", ("0.4.0b2",), (), "graph-sdk"),
                "graph-cli": facts("3.0.0", ("3.0.0",), (), "graph-cli"),
                "graph-doc": facts("1.0.0", ("1.0.0",), (), "graph-doc")}
    plan = make_plan(ws, gathered, PlanOptions("bump", "major"))
    # The major bump is the changed package's; dependents get the smallest bump their
    # change needs, and a pre-release stays one.
    assert {e.name: e.next for e in plan.releases} == {
        "graph-core": "2.0.0", "graph-sdk": "0.4.0b3", "graph-cli": "3.0.1"}
    assert plan.entry("graph-sdk").reason == "its pin on graph-core moves"
    assert [c.new for c in plan.entry("graph-cli").requirement_changes] == ["graph-sdk==0.4.0b3"]
    assert plan.entry("graph-doc").action == "skip"
    final = make_plan(ws, gathered, PlanOptions("bump", "major", final=True))
    assert final.entry("graph-sdk").next == "0.4.0"


def test_a_pre_release_stays_one_on_patch() -> None:
    ws = build_workspace("/repo", WorkspaceConfig(), {
        PurePosixPath("packages/" + "a"): _pyproject("presidio", "0.66b0.dev0"),
    })
    gathered = {"presidio": facts("0.66b0.dev0", ("0.66b0.dev0",), ("x.py",), "presidio")}
    assert make_plan(ws, gathered, PlanOptions("bump", "patch")).entry("presidio").next == (
        "0.66b0")


def lockstep(*members: tuple[str, str], **config: object) -> Workspace:
    from pubkit.releasing.core.lockstep import LockstepGroup

    return build_workspace(
        "/repo",
        WorkspaceConfig(groups=(LockstepGroup("otel", ("otel-*",), "v{version}"),),
                        **config),  # type: ignore[arg-type]
        {PurePosixPath("packages/" + n):
         _pyproject(n, v, *(["otel-api==" + v] if n == "otel-sdk" else []))
         for n, v in members},
    )


def test_a_lockstep_group_releases_every_member_at_one_version() -> None:
    ws = lockstep(("otel-api", "1.45.0"), ("otel-sdk", "1.45.0"), ("otel-proto", "1.45.0"))
    assert ws.tag_spec("otel-sdk").render("1.46.0") == "v1.46.0"
    group_tag = ReleaseTag("v1.45.0", Version("1.45.0"))

    def member(changed: tuple[str, ...]) -> PackageFacts:
        return PackageFacts("1.45.0", frozenset({Version("1.45.0")}), group_tag, changed)

    gathered = {"otel-api": member(()), "otel-sdk": member(("x.py",)), "otel-proto": member(())}
    plan = make_plan(ws, gathered, PlanOptions("bump", "minor"))
    assert {e.name: e.next for e in plan.releases} == {
        "otel-api": "1.46.0", "otel-sdk": "1.46.0", "otel-proto": "1.46.0"}
    assert plan.entry("otel-api").reason == "lockstep group 'otel' releases 1.46.0 (otel-sdk)"
    assert [c.new for c in plan.entry("otel-sdk").requirement_changes] == ["otel-api==1.46.0"]
    nothing = make_plan(ws, {n: member(()) for n in gathered}, PlanOptions("bump", "minor"))
    assert nothing.releases == ()


def test_a_lockstep_group_in_manual_mode_takes_the_highest_version() -> None:
    ws = lockstep(("otel-api", "1.45.0"), ("otel-proto", "1.46.0"))
    gathered = {"otel-api": facts("1.45.0", ("1.45.0",), (), "otel-api"),
                "otel-proto": facts("1.46.0", ("1.45.0",), ("x.py",), "otel-proto")}
    plan = make_plan(ws, gathered, PlanOptions())
    assert {e.name: (e.next, e.steps[0]) for e in plan.releases} == {
        "otel-api": ("1.46.0", "version"), "otel-proto": ("1.46.0", "build")}


def test_vcs_versions_come_from_the_tag() -> None:
    ws = build_workspace("/repo", WorkspaceConfig(), {
        PurePosixPath("packages/" + "a"): {"project": {"name": "scm-pkg", "dynamic": ["version"]},
                             "tool": {"setuptools_scm": {}}},
    })
    released = PackageFacts("1.4.0", frozenset({Version("1.4.0")}), tag("scm-pkg", "1.4.0"),
                            ("x.py",), vcs=True, tagged=frozenset({Version("1.4.0")}))
    plan = make_plan(ws, {"scm-pkg": released}, PlanOptions("bump", "minor"))
    # Releasing is tagging: no version step, the tag comes last.
    assert (plan.entry("scm-pkg").next, plan.entry("scm-pkg").steps) == (
        "1.5.0", ("build", "check", "test", "publish", "tag"))
    tagged = replace(released, released=frozenset(), changed_files=())
    entry = make_plan(ws, {"scm-pkg": tagged}, PlanOptions()).entry("scm-pkg")
    # A tag not on the index yet is released from the tag (already written).
    assert (entry.next, entry.steps) == ("1.4.0", ("build", "check", "test", "publish"))
    untagged = PackageFacts(None, frozenset(), vcs=True)
    assert make_plan(ws, {"scm-pkg": untagged}, PlanOptions()).entry("scm-pkg").reason == (
        "its version comes from git tags and it has none yet: tag its first release, or pass"
        " --bump")
    assert make_plan(ws, {"scm-pkg": untagged}, PlanOptions("bump")).entry(
        "scm-pkg").next == "0.0.1"


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
