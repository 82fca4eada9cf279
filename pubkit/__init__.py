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
    "Package": "pubkit.releasing.core.workspace",
    "PlanEntry": "pubkit.releasing.core.plan",
    "PlanOptions": "pubkit.releasing.core.plan",
    "PackageResult": "pubkit.releasing.pipeline",
    "PubkitError": "pubkit.errors",
    "ReleaseOptions": "pubkit.releasing.pipeline",
    "ReleasePlan": "pubkit.releasing.core.plan",
    "ReleaseResult": "pubkit.releasing.pipeline",
    "StepResult": "pubkit.releasing.pipeline",
    "Workspace": "pubkit.releasing.core.workspace",
    "WorkspaceConfig": "pubkit.releasing.core.workspace",
    "plan_release": "pubkit.releasing.planning",
    "release": "pubkit.releasing.pipeline",
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
    from pubkit.errors import PubkitError
    from pubkit.releasing.core.plan import PlanEntry, PlanOptions, ReleasePlan
    from pubkit.releasing.core.workspace import Package, Workspace, WorkspaceConfig
    from pubkit.releasing.pipeline import (
        PackageResult,
        ReleaseOptions,
        ReleaseResult,
        StepResult,
        release,
    )
    from pubkit.releasing.planning import plan_release


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pubkit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
