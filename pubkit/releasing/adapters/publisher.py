"""Uploading with twine, one process for the files of a package (in the order given),
retrying what is worth retrying; a retry skips the files that made it."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pubkit.errors import PubkitError
from pubkit.releasing.adapters.index_client import Credentials
from pubkit.releasing.adapters.process import ProcessRunner, SubprocessRunner

UPLOAD_TIMEOUT = 600.0
# Worth another try: the server or the network had a bad moment.
TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}
_STATUS = re.compile(r"\b(\d{3}) [A-Z][A-Za-z ]+ from ")
_NETWORK = ("ConnectionError", "Connection aborted", "Max retries exceeded", "timed out")


class PublishError(PubkitError):
    """An upload the index refused, or that kept failing."""


def _failed_file(output: str, files: Sequence[Path]) -> Path:
    """The file twine was uploading when it stopped (it names each as it starts)."""
    started = [path for path in files if f"Uploading {path.name}" in output]
    return started[-1] if started else files[0]


def _status(output: str) -> int | None:
    match = _STATUS.search(output)
    return int(match.group(1)) if match else None


class TwinePublisher:
    def __init__(
        self,
        upload_url: str,
        credentials: Credentials | None,
        runner: ProcessRunner | None = None,
        attempts: int = 4,
        backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.upload_url = upload_url
        self.credentials = credentials
        self.runner = runner or SubprocessRunner()
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep

    def _env(self) -> dict[str, str]:
        # Credentials travel in twine's environment, never on its command line.
        env = {"TWINE_NON_INTERACTIVE": "1"}
        if self.credentials is not None:
            env["TWINE_USERNAME"] = self.credentials.username
            env["TWINE_PASSWORD"] = self.credentials.password
        return env

    def probe(self, timeout: float = 30.0) -> None:
        """Ask the upload URL, with the credentials, before anything is written: an upload
        endpoint answers an empty POST with 400 when the credentials are good, 401/403 when
        they are not. PublishError (one line) when it is unreachable, refuses the
        credentials, or is not an upload endpoint."""
        import requests

        from pubkit.settings import redact_url

        shown = redact_url(self.upload_url)
        if self.credentials is None:
            raise PublishError(
                f"no credentials for uploading to {shown}; set PUBKIT_INDEX_USERNAME and"
                " PUBKIT_INDEX_PASSWORD (or PUBKIT_INDEX_TOKEN)"
            )
        # Marked, so that proxies and logs can tell it from an upload; servers ignore it.
        separator = "&" if "?" in self.upload_url else "?"
        try:
            response = requests.post(
                f"{self.upload_url}{separator}pubkit-preflight=1", data=b"",
                headers={"Content-Type": "text/plain"},
                auth=(self.credentials.username, self.credentials.password), timeout=timeout,
            )  # fmt: skip
        except requests.RequestException as error:
            raise PublishError(
                f"the upload URL {shown} is unreachable ({type(error).__name__}); check"
                " --upload-url / PUBKIT_UPLOAD_URL and the network"
            ) from None
        if response.status_code in (401, 403):
            raise PublishError(
                f"the index refused the upload credentials ({response.status_code} from {shown});"
                " check PUBKIT_INDEX_USERNAME and PUBKIT_INDEX_PASSWORD (or PUBKIT_INDEX_TOKEN)"
            )
        if response.status_code in (404, 405):
            raise PublishError(
                f"{shown} is not an upload endpoint (it answered {response.status_code}); set"
                " --upload-url to the index's legacy upload URL"
            )

    def upload(self, files: Sequence[Path]) -> None:
        if not files:
            return
        args = [sys.executable, "-m", "twine", "--no-color", "upload", "--disable-progress-bar",
                "--repository-url", self.upload_url]  # fmt: skip
        for attempt in range(1, self.attempts + 1):
            # A retry skips what the index already has (what went up before the failure).
            again = ["--skip-existing"] if attempt > 1 else []
            result = self.runner.run([*args, *again, *map(str, files)], env=self._env(),
                                     timeout=UPLOAD_TIMEOUT, check=False)  # fmt: skip
            if result.ok:
                return
            output = result.stdout + result.stderr
            path = _failed_file(output, files)
            status = _status(output)
            transient = status in TRANSIENT_STATUSES or (
                status is None and any(sign in output for sign in _NETWORK)
            )
            if not transient or attempt == self.attempts:
                reason = f"the index answered {status}" if status else result.last_line()
                raise PublishError(
                    f"uploading {path.name} failed: {reason}"
                    + ("" if transient else "; fix the cause and re-run (uploaded files are kept)")
                    + (f" after {attempt} attempts" if transient else "")
                )
            self.sleep(self.backoff * 2 ** (attempt - 1))
