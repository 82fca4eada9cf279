"""``pubkit index prune``: the catalog's releases in, :func:`plan_prune`, deletions out.

Each removed release goes through the one deletion path a release has (``Admin``'s, as
``pubkit delete`` uses): its sidecars first, so that a rebuild can never bring it back, then
its metadata and bytes, then its catalog rows, audited as ``prune``. A prune cut short (a
crash, a storage error) leaves the rest of its releases listed with some of their objects
gone; running it again picks the same releases from the catalog and finishes them, since
deleting an absent object is not an error and the plan depends only on what is listed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import compat32

from pubkit.core.retention import PrunePlan, PruneResult, Release, RetentionPolicy, plan_prune
from pubkit.errors import NotFoundError
from pubkit.server.catalog import Catalog
from pubkit.server.layout import FileRecord, metadata_key
from pubkit.server.storage import Storage

DeleteRelease = Callable[[str, str], int]  # (project, version) -> files deleted


Releases = dict[tuple[str, str], list[FileRecord]]  # (project, version) -> its files


def releases_of(catalog: Catalog, projects: Iterable[str]) -> Releases:
    """Every release of these projects, with its files."""
    found: Releases = defaultdict(list)
    for project in projects:
        for record in catalog.project_files(project):
            found[(record.project, record.version)].append(record)
    return found


def requires_dist(storage: Storage, files: list[FileRecord]) -> tuple[str, ...]:
    """Requires-Dist of a release, from the stored core metadata of one of its files."""
    for record in sorted(files, key=lambda r: not r.is_wheel):  # a wheel's is authoritative
        if record.metadata_sha256 is None:
            continue
        try:
            raw = storage.read_bytes(metadata_key(record.project, record.filename))
        except NotFoundError:
            continue
        message = BytesParser(policy=compat32).parsebytes(raw)
        return tuple(str(value) for value in message.get_all("Requires-Dist") or ())
    return ()


def prune(
    catalog: Catalog,
    storage: Storage,
    policy: RetentionPolicy,
    delete_release: DeleteRelease,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneResult:
    now = now or datetime.now(timezone.utc)
    names = [p.name for p in catalog.projects()]
    files = releases_of(catalog, names)

    def release(key: tuple[str, str], requires: tuple[str, ...] = ()) -> Release:
        return Release(key[0], key[1], max(r.upload_time for r in files[key]), requires)

    plan = plan_prune((release(key) for key in files), policy, now)
    if plan.remove:
        # Only now are pins worth reading: from the releases of the kinds being pruned that
        # stay (a final release pinning a dev build is not a case this policy protects).
        doomed = {(r.project, r.version) for r in plan.remove}
        covered = _covered(files, policy, doomed, now)
        plan = plan_prune(
            (release(key, requires_dist(storage, files[key]) if key in covered else ())
             for key in files),
            policy, now,
        )  # fmt: skip
    removed = []
    for doomed_release in plan.remove:
        key = (doomed_release.project, doomed_release.version)
        count = len(files[key]) if dry_run else delete_release(*key)
        removed.append((key[0], key[1], count))
    return PruneResult(tuple(removed), _pins(plan), plan.kept, dry_run)


def _covered(
    files: Releases, policy: RetentionPolicy,
    doomed: set[tuple[str, str]], now: datetime,
) -> set[tuple[str, str]]:  # fmt: skip
    """The releases that stay among the kinds the policy covers (whose pins protect), in
    every project: a kept build of a project this prune leaves alone pins as much as one of a
    pruned project (`--project acme-core` must not take what acme-text's builds need)."""
    keys = [key for key in files if key not in doomed]
    plan = plan_prune((Release(p, v, now) for p, v in keys),
                      RetentionPolicy(0, None, policy.kinds), now)  # fmt: skip
    return {(r.project, r.version) for r in plan.remove}


def _pins(plan: PrunePlan) -> tuple[tuple[str, str, str], ...]:
    return tuple((kept.project, kept.version, f"{holder.project} {holder.version}")
                 for kept, holder in plan.pinned)  # fmt: skip
