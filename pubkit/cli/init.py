"""``pubkit init``: find the packages and write a starting ``[tool.pubkit]`` (or pubkit.toml)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import typer

from pubkit.cli.release import WorkspaceOption
from pubkit.releasing.core.versioning import DEFAULT_TAG_FORMAT
from pubkit.releasing.core.workspace import VERSION_STRATEGIES
from pubkit.releasing.initializing import InitOptions, InitPlan, apply_init, prepare_init


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it is inside it, for short messages."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _next_command(workspace: Path, root: Path) -> str:
    if root == Path.cwd().resolve():
        return "pubkit plan"
    return f"pubkit plan -C {shlex.quote(str(workspace))}"


def _report(plan: InitPlan, workspace: Path, *, dry_run: bool, err: bool) -> None:
    verb = "would write" if dry_run else "wrote"
    typer.echo(f"{verb} {plan.config_name} to {_shown(plan.config_path)}", err=err)
    for replaced in plan.replaced:
        typer.echo(f"{'would replace' if dry_run else 'replaced'} {replaced}", err=err)
    count = len(plan.order)
    typer.echo("1 package:" if count == 1 else f"{count} packages, dependencies first:", err=err)
    width = max(len(p.name) for p in plan.order)
    for package in plan.order:
        typer.echo(f"  {package.name:<{width}}  {package.path}", err=err)
    for path, why in plan.skipped:
        typer.echo(f"skipped {path}: {why}", err=err)
    if plan.adoption is not None:
        adoption = plan.adoption
        for name, tags in adoption.matched.items():
            spec = plan.workspace.tag_spec(name)
            shown = ", ".join(tags[:3]) + (f" and {len(tags) - 3} more" if len(tags) > 3 else "")
            typer.echo(f"adopted {len(tags)} tag(s) of {name} as {spec.format!r}: {shown}",
                       err=err)  # fmt: skip
        missing = [p.normalized for p in plan.order if p.normalized not in adoption.matched]
        if missing:
            typer.echo(f"no existing tags for {', '.join(missing)}", err=err)
        if adoption.unmatched:
            typer.echo(f"{len(adoption.unmatched)} tag(s) match no package, e.g. "
                       f"{', '.join(adoption.unmatched[:3])}", err=err)  # fmt: skip
    if dry_run:
        typer.echo("dry run: nothing written", err=err)
    else:
        typer.echo(f"next: {_next_command(workspace, plan.root)}", err=err)


# No square brackets in the help texts below: rich takes them for markup and drops them.
def init(
    workspace: Path = WorkspaceOption,
    index_url: str | None = typer.Option(
        None, "--index-url", help="Simple index URL to write as index-url. (env: PUBKIT_INDEX_URL)"
    ),
    version_strategy: str = typer.Option(
        "manual", "--version-strategy", help=f"How versions move: {'|'.join(VERSION_STRATEGIES)}."
    ),
    tag_format: str = typer.Option(
        DEFAULT_TAG_FORMAT, "--tag-format", help="Release tags; {name} and {version} filled in."
    ),
    pubkit_toml: bool = typer.Option(
        False, "--pubkit-toml", help="Write pubkit.toml instead of editing pyproject.toml."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the TOML it would write; write nothing."
    ),
    force: bool = typer.Option(False, "--force", help="Replace the configuration already there."),
    adopt: bool = typer.Option(
        False, "--adopt", help="Map the existing git tags to packages and write their tag formats."
    ),
) -> None:
    """Find the packages of the monorepo and write pubkit's starting configuration."""
    tags = None
    if adopt:
        from pubkit.releasing.adapters.git import Git

        git = Git(workspace.resolve())
        git.check_repository()
        tags = tuple(git.tags())
    options = InitOptions(
        index_url=index_url or os.environ.get("PUBKIT_INDEX_URL") or None,
        version_strategy=version_strategy,
        tag_format=tag_format,
        standalone=pubkit_toml,
        force=force,
        tags=tags,
    )
    plan = prepare_init(workspace, options)
    for warning in plan.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if dry_run:
        # The TOML alone on stdout, so that it can be redirected; the rest on stderr.
        typer.echo(plan.config_text, nl=False)
        _report(plan, workspace, dry_run=True, err=True)
        return
    apply_init(plan)
    _report(plan, workspace, dry_run=False, err=False)
