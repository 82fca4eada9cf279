from __future__ import annotations

import random
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from packaging.requirements import Requirement

from pubkit.errors import ConfigurationError, UsageError
from pubkit.releasing.core.graph import METADATA_KINDS, DependencyGraph, Edge
from pubkit.releasing.core.workspace import Package, WorkspaceConfig, build_workspace


def pkg(
    name: str,
    *deps: str,
    extras: dict[str, list[str]] | None = None,
    groups: dict[str, list[str]] | None = None,
) -> Package:
    return Package(
        name=name,
        path=PurePosixPath("packages") / name,
        version="1.0",
        dependencies=tuple(Requirement(d) for d in deps),
        optional_dependencies={
            k: tuple(Requirement(r) for r in v) for k, v in (extras or {}).items()
        },
        dependency_groups={k: tuple(Requirement(r) for r in v) for k, v in (groups or {}).items()},
    )


def diamond() -> DependencyGraph:
    #      app
    #     /   \
    #  aws     text
    #     \   /
    #      core      (plus util, on its own)
    return DependencyGraph(
        [
            pkg("app", "aws>=1", "text>=1", "click"),
            pkg("aws", "core>=1.2", "boto3"),
            pkg("text", "core~=1.0"),
            pkg("core", "attrs"),
            pkg("util"),
        ]
    )


# --- edges ------------------------------------------------------------------------------------


def test_only_internal_requirements_make_edges() -> None:
    graph = diamond()
    assert graph.names == ("app", "aws", "core", "text", "util")
    assert [(e.dependent, e.dependency) for e in graph.edges] == [
        ("app", "aws"),
        ("app", "text"),
        ("aws", "core"),
        ("text", "core"),
    ]
    assert all(e.kind == "runtime" and e.via is None for e in graph.edges)


def test_edges_keep_the_requirement_for_later_checks() -> None:
    graph = diamond()
    to_core = {e.dependent: e for e in graph.edges_to("core")}
    assert str(to_core["aws"].specifier) == ">=1.2"
    assert to_core["aws"].allows("1.3.0")
    assert not to_core["aws"].allows("1.1")
    assert to_core["text"].allows("1.9")
    assert not to_core["text"].allows("2.0")
    # A dev build of core is meant for its dependents, unless asked otherwise.
    assert to_core["aws"].allows("1.3.0.dev4")
    assert not to_core["aws"].allows("1.3.0.dev4", prereleases=False)
    assert [e.dependency for e in graph.edges_from("app")] == ["aws", "text"]


def test_names_match_normalized_and_extras_and_markers_still_count() -> None:
    graph = DependencyGraph(
        [
            pkg("Acme_Core"),
            pkg("acme.text", "ACME-core[fast]>=1; python_version>'3.8'"),
            pkg("acme-app", "acme_text[all] @ file:///tmp/x.whl ; sys_platform == 'win32'"),
        ]
    )
    assert graph.names == ("acme-app", "acme-core", "acme-text")
    assert graph.dependencies_of("ACME_APP") == {"acme-text", "acme-core"}
    (edge,) = graph.edges_from("acme.text")
    assert (edge.dependent, edge.dependency) == ("acme-text", "acme-core")
    assert edge.requirement.extras == {"fast"}
    assert str(edge.requirement.marker) == 'python_version > "3.8"'


def test_optional_and_group_edges_are_kept_with_their_kind() -> None:
    graph = DependencyGraph(
        [
            pkg("core"),
            pkg("aws"),
            pkg("testing"),
            pkg(
                "app",
                "core",
                extras={"aws": ["aws>=2"]},
                groups={"test": ["pytest", "testing"]},
            ),
        ]
    )
    assert [(e.dependency, e.kind, e.via) for e in graph.edges_from("app")] == [
        ("core", "runtime", None),
        ("aws", "optional", "aws"),
        ("testing", "group", "test"),
    ]
    assert [e.describe() for e in graph.edges_from("app")] == [
        "app -> core",
        "app -> aws (extra 'aws')",
        "app -> testing (dependency group 'test')",
    ]
    # All kinds order the release: the tests of app install testing.
    order = graph.topological_order()
    assert order.index("testing") < order.index("app")
    assert order.index("aws") < order.index("app")
    assert graph.dependents_of("testing") == {"app"}
    assert graph.dependents_of("testing", kinds=METADATA_KINDS) == set()
    assert graph.affected(["testing"], kinds=METADATA_KINDS) == {"testing"}
    assert graph.affected(["testing"]) == {"testing", "app"}


def test_self_reference_in_extras_and_groups_is_not_a_cycle() -> None:
    graph = DependencyGraph(
        [
            pkg(
                "acme",
                extras={"aws": ["boto3"], "all": ["acme[aws]"]},
                groups={"test": ["Acme[all]", "pytest"]},
            )
        ]
    )
    assert graph.edges == ()
    assert graph.topological_order() == ["acme"]


def test_built_from_a_workspace() -> None:
    def pyproject(name: str, *deps: str) -> dict[str, Any]:
        return {"project": {"name": name, "version": "1.0", "dependencies": list(deps)}}

    workspace = build_workspace(
        Path("/repo"),
        WorkspaceConfig(),
        {
            PurePosixPath("packages/core"): pyproject("Acme_Core"),
            PurePosixPath("packages/text"): pyproject("acme-text", "acme-core>=1"),
        },
    )
    graph = DependencyGraph(workspace)
    assert graph.topological_order() == ["acme-core", "acme-text"]
    assert graph.edges == (Edge("acme-text", "acme-core", "runtime", Requirement("acme-core>=1")),)


def test_duplicate_packages_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="two packages are named 'a'"):
        DependencyGraph([pkg("a"), pkg("A")])


# --- queries ----------------------------------------------------------------------------------


def test_dependencies_and_dependents() -> None:
    graph = diamond()
    assert graph.dependencies_of("app") == {"aws", "text", "core"}
    assert graph.dependencies_of("app", transitive=False) == {"aws", "text"}
    assert graph.dependencies_of("core") == set()
    assert graph.dependents_of("core") == {"aws", "text", "app"}
    assert graph.dependents_of("core", transitive=False) == {"aws", "text"}
    assert graph.dependents_of("app") == set()
    assert graph.dependents_of("util") == set()


def test_affected() -> None:
    graph = diamond()
    assert graph.affected([]) == set()
    assert graph.affected(["core"]) == {"core", "aws", "text", "app"}
    assert graph.affected(["Text"]) == {"text", "app"}
    assert graph.affected(["util", "aws"]) == {"util", "aws", "app"}
    assert graph.affected(iter(["app"])) == {"app"}


@pytest.mark.parametrize("query", ["dependencies_of", "dependents_of"])
def test_unknown_names_are_usage_errors(query: str) -> None:
    with pytest.raises(UsageError, match=r"unknown package 'cor'; did you mean 'core'\?"):
        getattr(diamond(), query)("cor")
    with pytest.raises(UsageError, match="known packages: app, aws, core, text, util"):
        diamond().affected(["core", "nope"])


# --- order ------------------------------------------------------------------------------------


def test_topological_order_of_a_diamond() -> None:
    assert diamond().topological_order() == ["core", "aws", "text", "app", "util"]


def test_levels_of_a_diamond() -> None:
    assert diamond().levels() == [{"core", "util"}, {"aws", "text"}, {"app"}]


def test_order_does_not_depend_on_input_order() -> None:
    packages = [
        pkg("f", "e", "d"),
        pkg("e", "b"),
        pkg("d", "b", "c"),
        pkg("c", "a"),
        pkg("b", "a"),
        pkg("a"),
        pkg("g"),
    ]
    expected = DependencyGraph(packages).topological_order()
    assert expected == ["a", "b", "c", "d", "e", "f", "g"]
    shuffler = random.Random(1234)
    for _ in range(20):
        shuffler.shuffle(packages)
        graph = DependencyGraph(packages)
        assert graph.topological_order() == expected
        assert graph.levels() == [{"a", "g"}, {"b", "c"}, {"d", "e"}, {"f"}]


def test_order_respects_every_edge() -> None:
    graph = diamond()
    position = {name: i for i, name in enumerate(graph.topological_order())}
    for edge in graph.edges:
        assert position[edge.dependency] < position[edge.dependent]
    seen: set[str] = set()
    for level in graph.levels():
        for name in level:
            assert graph.dependencies_of(name, transitive=False) <= seen
        seen |= level


def test_empty_graph() -> None:
    graph = DependencyGraph([])
    assert graph.names == ()
    assert graph.topological_order() == []
    assert graph.levels() == []


# --- cycles -----------------------------------------------------------------------------------


def cycle_message(packages: list[Package]) -> str:
    graph = DependencyGraph(packages)  # building it is fine; ordering it is not
    with pytest.raises(ConfigurationError) as from_order:
        graph.topological_order()
    with pytest.raises(ConfigurationError) as from_levels:
        graph.levels()
    assert str(from_order.value) == str(from_levels.value)
    assert "\n" not in str(from_order.value)
    return str(from_order.value)


def test_two_node_cycle_names_an_edge_to_cut() -> None:
    message = cycle_message([pkg("b", "a"), pkg("a", "b")])
    assert message.startswith(
        "dependency cycle of runtime requirements: a -> b -> a; cut one, e.g. remove 'a' from"
        " b's dependencies"
    )


def test_three_node_cycle_is_named_from_its_first_name() -> None:
    message = cycle_message([pkg("c", "a"), pkg("b", "c"), pkg("a", "b"), pkg("z")])
    assert message.startswith("dependency cycle of runtime requirements: a -> b -> c -> a; ")


def test_cycle_reached_through_an_acyclic_prefix() -> None:
    # root needs x, and x and y need each other; root is not part of the cycle.
    message = cycle_message([pkg("a-root", "x"), pkg("x", "y"), pkg("y", "x"), pkg("ok")])
    assert message.startswith("dependency cycle of runtime requirements: x -> y -> x;")


def test_self_dependency_is_a_cycle() -> None:
    message = cycle_message([pkg("a", "A>=1"), pkg("b")])
    assert message.startswith("dependency cycle of runtime requirements: a -> a; ")


def test_a_cycle_through_a_test_group_is_dropped_from_the_order_with_a_note() -> None:
    graph = DependencyGraph([pkg("core", groups={"test": ["app"]}), pkg("app", "core")])
    assert graph.topological_order() == ["core", "app"]
    assert graph.levels() == [{"core"}, {"app"}]
    assert [e.describe() for e in graph.dropped] == ["core -> app (dependency group 'test')"]
    assert graph.notes() == (
        "core -> app (dependency group 'test') closes a cycle, so it does not order the"
        " release: core's tests use the app already on the index",
    )
    # The edge is still an edge: queries that need no order see it.
    assert graph.affected(["core"], kinds=METADATA_KINDS) == {"core", "app"}
    assert graph.dependents_of("core") == {"app"}
    assert graph.dependencies_of("core", ordered=True) == set()


def test_a_cycle_through_an_extra_keeps_the_runtime_edge() -> None:
    graph = DependencyGraph([pkg("a", "b", extras={"x": ["b"]}), pkg("b", extras={"y": ["a"]})])
    assert graph.topological_order() == ["b", "a"]
    assert [e.describe() for e in graph.dropped] == ["b -> a (extra 'y')"]


def test_an_extra_orders_before_a_group_when_only_one_can() -> None:
    graph = DependencyGraph([pkg("x", extras={"cfg": ["y"]}), pkg("y", groups={"dev": ["x"]})])
    assert graph.topological_order() == ["y", "x"]
    assert [e.describe() for e in graph.dropped] == ["y -> x (dependency group 'dev')"]
