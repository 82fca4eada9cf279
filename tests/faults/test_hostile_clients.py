"""Hostile clients against a real ``pubkit serve`` on 127.0.0.1, with raw sockets.

One server for the module, with the limits shortened so that the attacks end in seconds
(the defaults are checked in the settings' tests). The attacks run at once, in two rounds
(everything, then 500 idle connections), while a normal client installs with pip and reads
``/simple/demo/`` 200 times; the tests below assert each attack's outcome and the normal
client's, from one run (the ``siege`` fixture).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import Venv, create_venv, output, pip_install
from tests.faults.hostile import (
    Answer,
    basic,
    connect,
    head,
    huge_directory_wheel,
    peak_rss_mib,
    percentile,
    read_answer,
    status_of,
    upload_request,
)

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 2.0
REQUEST_TIMEOUT = 3.0
MAX_CONNECTIONS = 300
FAILURES_PER_MINUTE = 10
ALICE = ("alice", "alice-hostile-password")
BOB = ("bob", "bob-hostile-password")
GUESSER = "10.66.0.1"  # the burst's address (X-Forwarded-For from a trusted proxy)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("hostile")
    live = LiveServer(root / "data", env={
        "PUBKIT_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "PUBKIT_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
        "PUBKIT_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "PUBKIT_AUTH_FAILURES_PER_MINUTE": str(FAILURES_PER_MINUTE),
        "PUBKIT_TRUSTED_PROXIES": "127.0.0.1",
    })  # fmt: skip
    live.add_user(*ALICE)
    live.add_user(*BOB)
    live.start(timeout=120)
    try:
        dist = root / "dist"
        dist.mkdir()
        wheel = make_wheel(dist, "demo", "1.0")
        with connect(live.port, timeout=60) as sock:
            request, body = upload_request(wheel, basic(*ALICE))
            sock.sendall(request + body)
            assert status_of(sock) == 200
        yield live
    finally:
        live.stop()


def _read_token(server: LiveServer) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pubkit", "token", "create", "--user", ALICE[0], "--read",
         "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return next(word for word in result.stdout.split() if word.startswith("pubkit_"))


# -- the attacks ---------------------------------------------------------------------------


def oversized_headers(port: int) -> list[Answer]:
    """One complete 100 KiB header, and four that never end (up to 64 MiB each)."""
    with connect(port) as sock:
        sock.sendall(head("GET", "/simple/", {"X-Big": "a" * 100_000}))
        answers = [read_answer(sock)]

    def endless() -> Answer:
        with connect(port) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /simple/ HTTP/1.1\r\nX-Endless: ")
            with contextlib.suppress(OSError):
                for _ in range(1024):
                    sock.sendall(b"b" * 65536)
            return read_answer(sock, started)

    with ThreadPoolExecutor(4) as pool:
        answers += list(pool.map(lambda _: endless(), range(4)))
    return answers


def slow_headers(port: int, count: int = 20) -> list[Answer]:
    """Connections that send a header line every half second until the server answers."""

    def one() -> Answer:
        with connect(port) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /simple/demo/ HTTP/1.1\r\n")
            with contextlib.suppress(OSError):
                for number in range(60):
                    if answered(sock, 0.5):
                        break
                    sock.sendall(f"X-Slow-{number}: 1\r\n".encode())
            answer = read_answer(sock)
            return Answer(answer.status, answer.text, time.monotonic() - started)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: one(), range(count)))


def answered(sock: socket.socket, wait: float) -> bool:
    """Wait up to ``wait`` seconds for the server to say something (or close)."""
    sock.settimeout(wait)
    try:
        sock.recv(1, socket.MSG_PEEK)
        return True
    except TimeoutError:
        return False
    finally:
        sock.settimeout(10)


def slow_body(port: int, request: bytes, body: bytes) -> tuple[Answer, int]:
    """Sends the head, then the body one byte every half second until the server answers:
    the answer, and how many bytes of the body were sent before it."""
    sent = 0
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(request)
        with contextlib.suppress(OSError):
            for byte in body[:60]:
                if answered(sock, 0.5):
                    break
                sock.sendall(bytes([byte]))
                sent += 1
        answer = read_answer(sock)
        return Answer(answer.status, answer.text, time.monotonic() - started), sent


def password_burst(port: int, count: int = 200) -> list[Answer]:
    """``count`` wrong passwords at once, from one address."""
    request = head("GET", "/api/v1/whoami", {"Authorization": basic("mallory", "guess"),
                                             "X-Forwarded-For": GUESSER,
                                             "Connection": "close"})  # fmt: skip
    socks = [connect(port, timeout=30) for _ in range(count)]
    started = time.monotonic()
    for sock in socks:
        sock.sendall(request + b"")
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda sock: read_answer(sock, started), socks))
    for sock in socks:
        sock.close()
    return answers


def idle_connections(port: int, count: int = 500) -> tuple[int, float]:
    """``count`` connections that send nothing: how many the server had closed one second
    after the last was opened, and how long until it had closed all of them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    socks = [connect(port) for _ in range(count)]
    started = time.monotonic()

    def closed(sock: socket.socket) -> bool:
        sock.setblocking(False)
        try:
            return sock.recv(1) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    time.sleep(1.0)
    early = sum(closed(sock) for sock in socks)
    deadline = started + HEADER_TIMEOUT + 10
    while time.monotonic() < deadline and not all(closed(sock) for sock in socks):
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    for sock in socks:
        sock.close()
    return early, elapsed


# -- the normal client ---------------------------------------------------------------------


# A client in its own process (the attacks' threads would otherwise compete with it for
# this process's GIL): GET /simple/demo/ again and again on one kept-alive connection, and
# print each request's seconds, or what went wrong, as JSON.
READER = """
import http.client, json, sys, time
port, count, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
seconds, failures = [], []
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
for _ in range(count):
    started = time.perf_counter()
    try:
        connection.request("GET", "/simple/demo/")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            failures.append(f"{response.status} {body[:200]!r}")
    except (OSError, http.client.HTTPException) as error:
        failures.append(repr(error))
        connection.close()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    seconds.append(time.perf_counter() - started)
    time.sleep(pause)
print(json.dumps({"seconds": seconds, "failures": failures}))
"""


@dataclass
class Reading:
    seconds: list[float]
    failures: list[str]

    def describe(self) -> str:
        return (f"p50 {percentile(self.seconds, 0.5) * 1000:.1f} ms, p99"
                f" {percentile(self.seconds, 0.99) * 1000:.1f} ms over {len(self.seconds)}"
                " requests")  # fmt: skip


def start_reader(port: int, count: int = 200, pause: float = 0.02) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", READER, str(port), str(count), str(pause)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


def reading(process: subprocess.Popen[str]) -> Reading:
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    return Reading(**json.loads(out))


@dataclass
class Siege:
    answers: dict[str, Any]
    baseline: Reading
    reader: Reading
    pip: subprocess.CompletedProcess[str]
    venv: Venv
    whoami_seconds: float
    rss_before: float
    rss_after: float
    log: str


@pytest.fixture(scope="module")
def siege(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Siege:
    assert server.process is not None
    port, pid = server.port, server.process.pid
    work = tmp_path_factory.mktemp("siege")
    token = _read_token(server)
    huge = huge_directory_wheel(work, "demo", "9.0", 3_500_000)
    # alice signs in before the burst: her verified credentials must stay fast during it.
    alice = requests.Session()
    alice.auth = ALICE
    assert alice.get(server.url + "api/v1/whoami", timeout=30).status_code == 200
    venv = create_venv(work / "venv")
    baseline = reading(start_reader(port))
    rss_before = peak_rss_mib(pid)

    reader = start_reader(port)
    answers: dict[str, Any] = {}
    attacks: dict[str, Callable[[], Any]] = {
        "oversized": lambda: oversized_headers(port),
        "slow_headers": lambda: slow_headers(port),
        "anonymous_api": lambda: slow_body(port, head("POST", "/api/v1/groups", {
            "Content-Type": "application/json", "Content-Length": "1000"}), b"{" * 1000),
        "anonymous_upload": lambda: slow_body(port, *upload_request(huge, None)),
        "read_token_upload": lambda: slow_body(
            port, *upload_request(huge, basic("__token__", token))),
        "slow_upload": lambda: slow_body(port, *upload_request(huge, basic(*ALICE))),
        "huge_directory": lambda: upload_answer(port, huge, basic(*ALICE)),
        "huge_directory_bob": lambda: upload_answer(port, huge, basic(*BOB)),
        "burst": lambda: password_burst(port),
    }  # fmt: skip
    with ThreadPoolExecutor(len(attacks) + 2) as pool:
        pip: Future[subprocess.CompletedProcess[str]] = pool.submit(
            pip_install, venv, server, "demo"
        )
        futures = {name: pool.submit(attack) for name, attack in attacks.items()}
        # A signed-in request in the middle of the burst.
        time.sleep(0.3)
        started = time.perf_counter()
        whoami = alice.get(server.url + "api/v1/whoami", timeout=30)
        whoami_seconds = time.perf_counter() - started
        assert whoami.status_code == 200, whoami.text
        for name, future in futures.items():
            answers[name] = future.result(timeout=120)
        # Round two: the connection flood, while the reader goes on.
        answers["idle"] = idle_connections(port)
        pip_result = pip.result(timeout=300)
    return Siege(answers, baseline, reading(reader), pip_result, venv, whoami_seconds, rss_before,
                 peak_rss_mib(pid), server.log())  # fmt: skip


def upload_answer(port: int, path: Path, authorization: str) -> Answer:
    request, body = upload_request(path, authorization)
    with connect(port, timeout=30) as sock:
        started = time.monotonic()
        sock.sendall(request + body)
        return read_answer(sock, started)


# -- what each attack got ------------------------------------------------------------------


def test_oversized_headers_get_431_and_cost_no_memory(siege: Siege) -> None:
    complete, *endless = siege.answers["oversized"]
    assert complete.status == 431, complete.text
    assert "larger than this server's limit of 32768 bytes" in complete.text
    for answer in endless:
        # Cut after the limit and one read, not after 64 MiB: the 431 (or, if the client
        # was still sending, a reset) comes at once.
        assert answer.status in (431, None), answer.text
        assert answer.seconds < 10, answer
    assert siege.rss_after - siege.rss_before < 64, (siege.rss_before, siege.rss_after)


def test_slow_headers_are_dropped_within_the_header_timeout(siege: Siege) -> None:
    for answer in siege.answers["slow_headers"]:
        assert answer.status == 408, answer.text
        assert "did not arrive within 2 seconds" in answer.text
        # The bound, plus slack for a loaded machine's scheduling of 20 client threads.
        assert HEADER_TIMEOUT <= answer.seconds < HEADER_TIMEOUT + 5, answer


@pytest.mark.parametrize(("attack", "status", "message"), [
    ("anonymous_api", 401, "the admin API requires credentials"),
    ("anonymous_upload", 401, "uploading requires credentials"),
    ("read_token_upload", 403, "may only read; create an upload token"),
])  # fmt: skip
def test_bodies_without_the_right_credentials_are_refused_at_their_headers(
    siege: Siege, attack: str, status: int, message: str
) -> None:
    answer, sent = siege.answers[attack]
    assert answer.status == status and message in answer.text, answer.text
    # Answered before the client sent its second byte of body (at one per half second).
    assert sent <= 1, sent


def test_a_slow_upload_body_is_dropped_with_408(siege: Siege) -> None:
    answer, _sent = siege.answers["slow_upload"]
    assert answer.status == 408 and "arrived too slowly" in answer.text, answer.text
    assert answer.seconds < REQUEST_TIMEOUT + 5, answer


def test_wrong_password_burst_hashes_at_most_the_limit(siege: Siege) -> None:
    statuses = Counter(answer.status for answer in siege.answers["burst"])
    # 401: hashed and wrong. 503: within the limit, but no hashing slot came free in time
    # (counted all the same). 429: over the limit, never hashed.
    assert statuses[401] + statuses[503] == FAILURES_PER_MINUTE, statuses
    assert statuses[429] == 200 - FAILURES_PER_MINUTE, statuses
    refused = [a.seconds for a in siege.answers["burst"] if a.status == 429]
    # The 429s do not wait for any hash: each is answered as its request is read.
    assert percentile(refused, 0.5) < 2.0, sorted(refused)
    # alice's verified session was not held up by the burst.
    assert siege.whoami_seconds < 1.0, siege.whoami_seconds


def test_a_huge_central_directory_is_refused_from_its_end_record(siege: Siege) -> None:
    answer = siege.answers["huge_directory"]
    assert answer.status == 400, answer.text
    assert "directory lists 3500000 members; the limit is 50000" in answer.text
    assert answer.seconds < 10, answer
    # Permission comes before the archive: bob may not upload to alice's project.
    bob = siege.answers["huge_directory_bob"]
    assert bob.status == 403, bob.text


def test_idle_connections_beyond_the_cap_are_dropped(siege: Siege) -> None:
    early, elapsed = siege.answers["idle"]
    # 500 idle connections against a cap of 300: the oldest idle ones make room at once.
    assert early >= 500 - MAX_CONNECTIONS, early
    # And none outlives the header timeout.
    assert elapsed < HEADER_TIMEOUT + 5, elapsed


def test_a_normal_client_is_served_throughout(siege: Siege) -> None:
    assert siege.pip.returncode == 0, output(siege.pip)
    assert "demo" in siege.venv.installed()
    reader = siege.reader
    assert not reader.failures, reader.failures
    assert len(reader.seconds) == 200
    print(f"normal client: before the attacks {siege.baseline.describe()};"
          f" during them {reader.describe()}")  # fmt: skip
    if percentile(siege.baseline.seconds, 0.99) >= 0.050:
        # Without any attack the machine already misses the bound: other work on it, not
        # the attacks, would decide this assertion.
        pytest.skip(f"the machine is too busy to measure: before the attacks,"
                    f" {siege.baseline.describe()}")  # fmt: skip
    assert percentile(reader.seconds, 0.99) < 0.050, (reader.describe(), siege.baseline.describe())


def test_the_log_has_no_traceback_and_no_server_error(siege: Siege) -> None:
    assert "Traceback" not in siege.log, siege.log[-5000:]
    assert '"status":500' not in siege.log


def test_no_spool_file_is_left(server: LiveServer, siege: Siege) -> None:
    assert siege.answers  # after the siege
    assert os.listdir(server.data_dir / "tmp") == []


def test_client_gone_mid_upload_and_mid_download(server: LiveServer, tmp_path: Path) -> None:
    """A client that hangs up mid-body or mid-download: an info line, no error, no spool."""
    import hashlib

    blob = os.urandom(3 << 20)
    wheel = make_wheel(tmp_path, "bigdemo", "1.0", extra_files={"bigdemo/blob": blob})
    request, body = upload_request(wheel, basic(*ALICE))
    before = len(server.log())
    with connect(server.port) as sock:
        sock.sendall(request + body[: len(body) // 2])
        time.sleep(0.5)  # the server is reading the body into its spool
    with connect(server.port, timeout=60) as sock:
        sock.sendall(request + body)
        assert status_of(sock) == 200
    with connect(server.port) as sock:
        sock.sendall(head("GET", f"/files/bigdemo/{wheel.name}"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    time.sleep(1.0)
    log = server.log()[before:]
    assert "went away during POST /; request abandoned" in log, log
    assert '"status":499' in log and '"status":500' not in log, log
    assert "Traceback" not in log and " ERROR " not in log, log
    assert os.listdir(server.data_dir / "tmp") == []
    # The complete upload that followed is intact.
    downloaded = requests.get(f"{server.url}files/bigdemo/{wheel.name}", timeout=30).content
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(wheel.read_bytes()).digest()
