"""pubkit: release the packages of a monorepo and serve them from a private index.

The library behind the CLI: load a workspace, plan its release, and run it.

    import pubkit

    workspace = pubkit.Workspace.load(".")
    plan = pubkit.plan_release(workspace, pubkit.PlanOptions(bump="minor"))
    for entry in plan.releases:
        print(entry.name, entry.current, "->", entry.next, entry.reason)
    result = pubkit.release(workspace, pubkit.ReleaseOptions(index_url="https://…/simple/"))
    print(result.ok, [(p.name, p.status) for p in result.packages])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Names are imported on first use (PEP 562), so that the index server's processes, which
# import ``pubkit.server``, do not carry the release tool's modules in memory.
_EXPORTS = {
    "Package": "pubkit.core.workspace",
    "PlanEntry": "pubkit.core.plan",
    "PlanOptions": "pubkit.core.plan",
    "PackageResult": "pubkit.pipeline",
    "PubkitError": "pubkit.errors",
    "ReleaseOptions": "pubkit.pipeline",
    "ReleasePlan": "pubkit.core.plan",
    "ReleaseResult": "pubkit.pipeline",
    "StepResult": "pubkit.pipeline",
    "Workspace": "pubkit.core.workspace",
    "WorkspaceConfig": "pubkit.core.workspace",
    "plan_release": "pubkit.planning",
    "release": "pubkit.pipeline",
}

__all__ = [
    "Package",
    "PackageResult",
    "PlanEntry",
    "PlanOptions",
    "PubkitError",
    "ReleaseOptions",
    "ReleasePlan",
    "ReleaseResult",
    "StepResult",
    "Workspace",
    "WorkspaceConfig",
    "__version__",
    "plan_release",
    "release",
]

if TYPE_CHECKING:
    from pubkit.core.plan import PlanEntry, PlanOptions, ReleasePlan
    from pubkit.core.workspace import Package, Workspace, WorkspaceConfig
    from pubkit.errors import PubkitError
    from pubkit.pipeline import PackageResult, ReleaseOptions, ReleaseResult, StepResult, release
    from pubkit.planning import plan_release


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pubkit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
