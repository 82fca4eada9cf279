"""The dependency graph as text: one line per edge, Graphviz DOT, or a Mermaid flowchart. Pure.

Edges read "dependent -> dependency"; an edge through an extra or a dependency group says
which (``[extra aws]``, ``[group test]``) and is drawn dashed.
"""

from __future__ import annotations

from pubkit.releasing.core.graph import DependencyGraph, Edge

GRAPH_FORMATS = ("text", "dot", "mermaid")


def _label(edge: Edge) -> str:
    if edge.kind == "optional":
        return f"extra {edge.via}"
    if edge.kind == "group":
        return f"group {edge.via}"
    return ""


def _text(graph: DependencyGraph) -> str:
    lines = []
    for name in graph.names:
        edges = graph.edges_from(name)
        if not edges:
            lines.append(name)
        for edge in edges:
            label = _label(edge)
            requirement = str(edge.requirement.specifier) or "any version"
            lines.append(f"{name} -> {edge.dependency} ({requirement})"
                         + (f" [{label}]" if label else ""))  # fmt: skip
    return "\n".join(lines) + "\n"


def _dot(graph: DependencyGraph) -> str:
    lines = ["digraph packages {", "  rankdir=LR;", "  node [shape=box];"]
    lines += [f'  "{name}";' for name in graph.names]
    for edge in graph.edges:
        label = _label(edge)
        attributes = f' [style=dashed, label="{label}"]' if label else ""
        lines.append(f'  "{edge.dependent}" -> "{edge.dependency}"{attributes};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(name: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in name)


def _mermaid(graph: DependencyGraph) -> str:
    lines = ["flowchart LR"]
    lines += [f'  {_mermaid_id(name)}["{name}"]' for name in graph.names]
    for edge in graph.edges:
        label = _label(edge)
        arrow = f"-. {label} .->" if label else "-->"
        lines.append(f"  {_mermaid_id(edge.dependent)} {arrow} {_mermaid_id(edge.dependency)}")
    return "\n".join(lines) + "\n"


def render_graph(graph: DependencyGraph, fmt: str) -> str:
    """The graph in ``fmt``: one of :data:`GRAPH_FORMATS`."""
    return {"text": _text, "dot": _dot, "mermaid": _mermaid}[fmt](graph)
