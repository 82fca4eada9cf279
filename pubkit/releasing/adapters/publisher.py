"""Uploading distributions the way ``twine upload`` does, in this process: twine reads and
validates each file's metadata and makes the upload form (the same fields, the same checks);
we send it. A ``twine`` process per package cost a second of interpreter start and imports,
more than the upload of a small package. Retrying what is worth retrying; a retry skips the
files that made it, and a file the index says it already has counts as uploaded on a retry
(``--skip-existing``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pubkit.errors import PubkitError
from pubkit.releasing.adapters.index_client import Credentials
from pubkit.releasing.adapters.process import CANCELLATION

UPLOAD_TIMEOUT = 600.0  # for one file
CONNECT_TIMEOUT = 30.0
# Worth another try: the server or the network had a bad moment.
TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}


class PublishError(PubkitError):
    """An upload the index refused, or that kept failing."""


@dataclass(frozen=True)
class Answer:
    """What the upload endpoint said to one file's upload."""

    status: int
    reason: str = ""
    text: str = ""
    location: str | None = None  # a redirect's target

    @property
    def already_there(self) -> bool:
        """The index has the file already (twine's ``--skip-existing`` test)."""
        return self.status == 409 or (self.status == 400 and any(
            "already exist" in x.lower() for x in (self.reason, self.text)))  # fmt: skip


class NetworkError(Exception):
    """The upload did not get an answer (refused, reset, timed out)."""


# Sends one file with the credentials; the answer, or NetworkError.
Sender = Callable[[str, "Credentials | None", Path], Answer]


def twine_form(path: Path) -> list[tuple[str, Any]]:
    """The upload form of ``path`` as twine makes it: its metadata, read and validated by
    twine (an invalid file raises PublishError), and the legacy upload API's fields."""
    import tarfile
    import zipfile

    from twine.exceptions import TwineException
    from twine.package import PackageFile
    from twine.repository import Repository

    try:
        package = PackageFile.from_filename(str(path), None)
    except (TwineException, zipfile.BadZipFile, tarfile.TarError, OSError) as error:
        raise PublishError(f"{path.name} cannot be uploaded: {error}") from None
    convert = getattr(Repository, "_convert_metadata_to_list_of_tuples", None) or getattr(
        Repository, "_convert_data_to_list_of_tuples", None  # its name in older twines
    )
    if convert is None:
        raise PublishError("this twine cannot make an upload form; pip install -U twine")
    fields: list[tuple[str, Any]] = convert(package.metadata_dictionary())
    return [*fields, (":action", "file_upload"), ("protocol_version", "1")]


def post_file(url: str, credentials: Credentials | None, path: Path) -> Answer:
    """POST ``path`` to the upload endpoint ``url`` as twine does (its repository's session:
    user agent and authentication; the multipart form; no redirects followed)."""
    import requests
    import requests_toolbelt  # type: ignore[import-untyped]
    from twine.repository import Repository

    fields = twine_form(path)
    username, password = (credentials.username, credentials.password) if credentials else ("", "")
    session = Repository(url, username, password, disable_progress_bar=True).session
    try:
        with path.open("rb") as stream:
            encoder = requests_toolbelt.MultipartEncoder(
                [*fields, ("content", (path.name, stream, "application/octet-stream"))]
            )
            response = session.post(url, data=encoder, allow_redirects=False,
                                    headers={"Content-Type": encoder.content_type},
                                    timeout=(CONNECT_TIMEOUT, UPLOAD_TIMEOUT))  # fmt: skip
            location = response.headers.get("location") if response.is_redirect else None
            return Answer(response.status_code, response.reason or "", response.text, location)
    except requests.RequestException as error:
        raise NetworkError(type(error).__name__) from None
    finally:
        session.close()


def _refusal(answer: Answer) -> str:
    """The status, and the index's reason when it says more than the status's name (pubkit
    and warehouse put the refusal's message there: what twine prints)."""
    from http import HTTPStatus

    try:
        standard = HTTPStatus(answer.status).phrase
    except ValueError:
        standard = ""
    reason = " ".join(answer.reason.split())[:200]
    said = f" ({reason})" if reason and reason.lower() != standard.lower() else ""
    return f"the index answered {answer.status}{said}"


def _cancellable(send: Callable[[], Answer]) -> Answer:
    """``send()`` in a thread of its own, waited for unless the run is cancelled: a cancelled
    run does not wait for an upload that hangs (the thread goes with the process)."""
    outcome: list[Answer | BaseException] = []

    def work() -> None:
        try:
            outcome.append(send())
        except BaseException as error:  # handed to the waiting thread
            outcome.append(error)

    worker = threading.Thread(target=work, name="pubkit-upload", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
        if CANCELLATION.cancelled() and worker.is_alive():
            raise PublishError("the upload was stopped: the run was cancelled")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


class TwinePublisher:
    """Uploads to ``upload_url`` as twine does (see the module), one file at a time, in the
    order given; ``send`` is what posts one file (a test can answer in its place)."""

    def __init__(
        self,
        upload_url: str,
        credentials: Credentials | None,
        send: Sender | None = None,
        attempts: int = 4,
        backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.upload_url = upload_url
        self.credentials = credentials
        self.send: Sender = send or post_file
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep

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
        """Upload ``files`` in order. A retry starts at the file that failed, and counts it
        as uploaded if the index says it has it (the failure may have come after it was
        stored); transient failures are retried with backoff, refusals are not."""
        from pubkit.settings import redact_url

        remaining = list(files)
        for attempt in range(1, self.attempts + 1):
            failure: tuple[Path, str, bool] | None = None
            while remaining and failure is None:
                path = remaining[0]
                if CANCELLATION.cancelled():
                    raise PublishError(f"{path.name} was not uploaded: the run was cancelled")
                try:
                    answer = _cancellable(partial(self.send, self.upload_url, self.credentials,
                                                  path))  # fmt: skip
                except NetworkError as error:
                    shown = redact_url(self.upload_url)
                    failure = (path, f"no answer from {shown} ({error})", True)
                    continue
                if answer.location is not None or 300 <= answer.status < 400:
                    raise PublishError(
                        f"uploading {path.name} failed: the index redirected it"
                        f" ({answer.status}) to {redact_url(answer.location or '?')}; set the"
                        " upload URL to where it points"
                    )
                if answer.status < 300 or (attempt > 1 and answer.already_there):
                    remaining.pop(0)
                    continue
                failure = (path, _refusal(answer), answer.status in TRANSIENT_STATUSES)
            if failure is None:
                return
            path, reason, transient = failure
            if not transient or attempt == self.attempts:
                raise PublishError(
                    f"uploading {path.name} failed: {reason}"
                    + ("" if transient else "; fix the cause and re-run (uploaded files are kept)")
                    + (f" after {attempt} attempts" if transient else "")
                )
            self.sleep(self.backoff * 2 ** (attempt - 1))
