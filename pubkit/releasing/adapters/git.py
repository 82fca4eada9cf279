"""Git, through the ``git`` command: tags, changes since a tag, commit messages, tagging."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from pubkit.errors import ConfigurationError
from pubkit.releasing.adapters.process import CommandError, ProcessRunner, SubprocessRunner

# Used only when the repository has no identity of its own (a fresh CI checkout): an annotated
# tag needs a tagger.
FALLBACK_IDENTITY = {
    "GIT_COMMITTER_NAME": "pubkit",
    "GIT_COMMITTER_EMAIL": "pubkit@localhost",
    "GIT_AUTHOR_NAME": "pubkit",
    "GIT_AUTHOR_EMAIL": "pubkit@localhost",
}


def _pathspecs(path: PurePosixPath, exclude: Sequence[PurePosixPath]) -> list[str]:
    return [str(path) if str(path) != "." else ".",
            *(f":(exclude){excluded}" for excluded in exclude)]  # fmt: skip


class Git:
    def __init__(self, root: Path, runner: ProcessRunner | None = None) -> None:
        self.root = root
        self.runner = runner or SubprocessRunner()

    def _git(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        result = self.runner.run(["git", *args], cwd=self.root, env=env, check=check)
        return result.stdout if result.ok else ""

    def _ok(self, *args: str) -> bool:
        return self.runner.run(["git", *args], cwd=self.root, check=False).ok

    def check_repository(self) -> None:
        if not self._ok("rev-parse", "--git-dir"):
            raise ConfigurationError(
                f"{self.root} is not a git repository; run pubkit from your monorepo's checkout"
            )

    def head(self) -> str:
        return self._git("rev-parse", "HEAD").strip()

    def has_commits(self) -> bool:
        """False in a repository without any commit yet (``git init``, nothing committed):
        nothing was released there, nothing is tagged, and there is no history to read."""
        return self._ok("rev-parse", "--quiet", "--verify", "HEAD^{commit}")

    def branch(self) -> str | None:
        """The current branch, or None on a detached HEAD (as Jenkins and CircleCI check out)."""
        name = self._git("symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()
        return name or None

    def is_shallow(self) -> bool:
        return self._git("rev-parse", "--is-shallow-repository").strip() == "true"

    def tags(self) -> list[str]:
        """Tags reachable from HEAD: releases of this line of history, not of other branches."""
        if not self.has_commits():
            return []
        return sorted(self._git("tag", "--merged", "HEAD").split())

    def tag_exists(self, name: str) -> bool:
        return self._ok("rev-parse", "--quiet", "--verify", f"refs/tags/{name}")

    def tag_commit(self, name: str) -> str:
        return self._git("rev-parse", f"refs/tags/{name}^{{commit}}").strip()

    def changed_files(
        self, since: str | None, path: PurePosixPath, exclude: Sequence[PurePosixPath] = ()
    ) -> list[PurePosixPath]:
        """Files under ``path`` (not under ``exclude``) changed between ``since`` (a ref)
        and HEAD; all if ``since`` is None. Paths are relative to the repository root."""
        specs = _pathspecs(path, exclude)
        if since is None:
            listed = self._git("ls-files", "--", *specs)
        else:
            listed = self._git("diff", "--name-only", "--no-renames", f"{since}..HEAD", "--",
                               *specs)  # fmt: skip
        return [PurePosixPath(line) for line in listed.splitlines() if line]

    def commit_messages(
        self, since: str | None, path: PurePosixPath, exclude: Sequence[PurePosixPath] = ()
    ) -> list[str]:
        """Full messages of the commits since ``since`` that touch ``path`` (other than
        under ``exclude``), newest first."""
        if not self.has_commits():
            return []
        revision = f"{since}..HEAD" if since else "HEAD"
        raw = self._git("log", "--format=%B%x00", revision, "--", *_pathspecs(path, exclude))
        return [message.strip() for message in raw.split("\0") if message.strip()]

    def is_clean(self) -> bool:
        """No tracked file is modified or staged (untracked files do not count)."""
        return not self._git("status", "--porcelain", "--untracked-files=no").strip()

    def _identity_env(self) -> dict[str, str]:
        configured = self._git("config", "user.email", check=False).strip()
        return {} if configured else dict(FALLBACK_IDENTITY)

    def create_tag(self, name: str, message: str, commit: str = "HEAD") -> None:
        """An annotated tag; re-creating an identical one (same commit) is a no-op."""
        if self.tag_exists(name):
            if self.tag_commit(name) == self._git("rev-parse", f"{commit}^{{commit}}").strip():
                return
            raise ConfigurationError(
                f"tag {name} already exists on another commit; a released version cannot be"
                " released again, bump the version"
            )
        self._git("tag", "--annotate", name, "--message", message, commit, env=self._identity_env())

    def commit_time(self, revision: str = "HEAD") -> int:
        """The committer timestamp of ``revision`` (seconds since the epoch)."""
        if revision == "HEAD" and not self.has_commits():
            raise ConfigurationError(
                f"{self.root} has no commits yet; commit your packages, then build or release"
            )
        return int(self._git("log", "-1", "--format=%ct", revision).strip())

    def commit(self, paths: Sequence[Path], message: str) -> str:
        """Commit exactly ``paths`` (whatever else is staged stays staged); the new HEAD."""
        relative = [str(path.relative_to(self.root)) if path.is_absolute() else str(path)
                    for path in paths]  # fmt: skip
        self._git("add", "--", *relative)
        self._git("commit", "--quiet", "--no-verify", "--message", message, "--", *relative,
                  env=self._identity_env())  # fmt: skip
        return self.head()

    def push_tags(self, names: Sequence[str], remote: str = "origin") -> None:
        if names:
            self._push(remote, [f"refs/tags/{name}" for name in names], "tags")

    def push_head(self, branch: str, remote: str = "origin") -> None:
        """Push HEAD (a release commit) to ``branch`` on ``remote``."""
        self._push(remote, [f"HEAD:refs/heads/{branch}"], f"the release commit to {branch}")

    def _push(self, remote: str, refspecs: Sequence[str], what: str) -> None:
        try:
            self._git("push", "--quiet", remote, *refspecs)
        except CommandError as error:
            reason = error.result.last_line() if error.result else error.message
            raise CommandError(
                f"could not push {what} to {remote}: {reason}; check the remote and its"
                " credentials, then re-run (pushing again is harmless)"
            ) from None
