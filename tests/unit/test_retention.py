"""Which releases a retention policy removes (pubkit.core.retention, pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pubkit.core.retention import PruneResult, Release, RetentionPolicy, plan_prune
from pubkit.errors import UsageError

NOW = datetime(2026, 12, 3, tzinfo=timezone.utc)


def dev_builds(project: str, count: int, base: str = "1.0.0") -> list[Release]:
    # One a day, the newest (devN with the highest N) uploaded last.
    return [Release(project, f"{base}.dev{n}", NOW - timedelta(days=count - n))
            for n in range(1, count + 1)]  # fmt: skip


def removed(plan_releases: list[Release], policy: RetentionPolicy) -> list[str]:
    plan = plan_prune(plan_releases, policy, NOW)
    return [f"{r.project} {r.version}" for r in plan.remove]


def test_the_newest_dev_builds_of_each_project_stay() -> None:
    releases = dev_builds("acme-core", 20) + dev_builds("acme-text", 5)
    gone = removed(releases, RetentionPolicy(keep=10))
    assert gone == [f"acme-core 1.0.0.dev{n}" for n in range(1, 11)]


def test_versions_are_ordered_by_pep_440_not_by_text() -> None:
    releases = [Release("a", v, NOW) for v in ("1.0.0.dev9", "1.0.0.dev10", "1.1.0.dev1",
                                                "0.9.0.dev99")]  # fmt: skip
    assert removed(releases, RetentionPolicy(keep=2)) == ["a 0.9.0.dev99", "a 1.0.0.dev9"]


def test_final_releases_and_pre_releases_stay_unless_asked() -> None:
    releases = [Release("a", v, NOW - timedelta(days=400)) for v in
                ("1.0.0", "1.1.0", "2.0.0a1", "2.0.0rc1", "2.0.0.dev3")]  # fmt: skip
    assert removed(releases, RetentionPolicy(keep=0)) == ["a 2.0.0.dev3"]
    pre = RetentionPolicy(keep=0, kinds=frozenset({"dev", "pre"}))
    assert removed(releases, pre) == ["a 2.0.0.dev3", "a 2.0.0a1", "a 2.0.0rc1"]
    finals = RetentionPolicy(keep=1, kinds=frozenset({"final"}))
    assert removed(releases, finals) == ["a 1.0.0"]


def test_older_than_spares_recent_builds_beyond_keep() -> None:
    releases = dev_builds("a", 10)  # dev1 is 9 days old, dev10 0 days
    policy = RetentionPolicy(keep=2, older_than=timedelta(days=5))
    assert removed(releases, policy) == [f"a 1.0.0.dev{n}" for n in range(1, 6)]


def test_only_the_named_projects_are_pruned() -> None:
    releases = dev_builds("a", 3) + dev_builds("b", 3)
    policy = RetentionPolicy(keep=1, projects=frozenset({"b"}))
    assert removed(releases, policy) == ["b 1.0.0.dev1", "b 1.0.0.dev2"]


def test_a_release_a_kept_one_pins_stays_and_so_does_what_it_pins() -> None:
    core = dev_builds("acme-core", 5)
    text = [Release("acme-text", "1.0.0.dev5", NOW, ("acme-core==1.0.0.dev2",))]
    # acme-core 1.0.0.dev2 (would go: keep 2 keeps dev4, dev5) is pinned by the kept text
    # build; dev2 itself pins dev1, which then stays as well.
    core[1] = Release("acme-core", "1.0.0.dev2", core[1].uploaded, ("acme-core===1.0.0.dev1",))
    plan = plan_prune(core + text, RetentionPolicy(keep=2), NOW)
    assert [r.version for r in plan.remove] == ["1.0.0.dev3"]
    assert {(r.version, holder.version) for r, holder in plan.pinned} == {
        ("1.0.0.dev2", "1.0.0.dev5"), ("1.0.0.dev1", "1.0.0.dev2")}
    assert plan.kept == 4 + 1 - 0  # of the six dev builds, five stay


def test_ranges_and_wildcards_are_not_pins() -> None:
    core = dev_builds("acme-core", 3)
    ranges = ("acme-core>=1.0.0.dev1", "acme-core==1.0.*", "acme-core~=1.0.0.dev1")
    text = [Release("acme-text", "1.0.0.dev1", NOW, ranges)]
    assert removed(core + text, RetentionPolicy(keep=1)) == ["acme-core 1.0.0.dev1",
                                                             "acme-core 1.0.0.dev2"]  # fmt: skip


def test_a_version_pubkit_cannot_order_is_never_removed() -> None:
    releases = [Release("a", "not-a-version", NOW - timedelta(days=999)), *dev_builds("a", 2)]
    assert removed(releases, RetentionPolicy(keep=0)) == ["a 1.0.0.dev1", "a 1.0.0.dev2"]


def test_bad_policies_are_refused() -> None:
    with pytest.raises(UsageError):
        RetentionPolicy(keep=-1)
    with pytest.raises(UsageError):
        RetentionPolicy(kinds=frozenset({"nightly"}))


def test_the_result_round_trips_through_json() -> None:
    result = PruneResult((("a", "1.0.dev1", 2),), (("a", "1.0.dev2", "b 1.0.dev1"),), 3, True)
    assert PruneResult.from_json(result.to_json()) == result
