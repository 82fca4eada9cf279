"""The upstream watchdog (pubkit/server/upstream/deadline.py), on real sockets (socketpair):
a read blocked past its call's deadline returns at once; a call that ended, or a socket
another call took over, is left alone; a deadline moves later as the call extends it. And
the client's connections under it, against a real trickling server in this process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubkit.errors import UpstreamError
from pubkit.server.upstream.client import UpstreamClient
from pubkit.server.upstream.deadline import Watchdog, attach_current
from pubkit.testing import make_wheel
from tests.faults.trickle_upstream import BODY, HEADERS, trickle_upstream
from tests.upstream_support import StaticIndex


@pytest.fixture
def watchdog() -> Iterator[Watchdog]:
    dog = Watchdog()
    yield dog
    dog.close()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(10)
    yield ours, theirs
    ours.close()
    theirs.close()


def test_a_blocked_read_returns_when_its_call_passes_its_deadline(
    watchdog: Watchdog, pair: tuple[socket.socket, socket.socket]
) -> None:
    ours, _theirs = pair
    started = time.monotonic()
    with watchdog.watch(0.3) as call:
        attach_current(ours)  # how the upstream connections register
        assert ours.recv(1) == b""  # blocked until the watchdog shut the socket down
    assert call.expired
    assert 0.25 < time.monotonic() - started < 5


def test_a_call_that_ended_in_time_keeps_its_socket(
    watchdog: Watchdog, pair: tuple[socket.socket, socket.socket]
) -> None:
    ours, theirs = pair
    with watchdog.watch(0.2) as call:
        watchdog.attach(call, ours)
    time.sleep(0.4)
    assert not call.expired
    theirs.sendall(b"x")
    assert ours.recv(1) == b"x"


def test_extending_moves_the_deadline(
    watchdog: Watchdog, pair: tuple[socket.socket, socket.socket]
) -> None:
    ours, theirs = pair
    with watchdog.watch(0.3) as call:
        watchdog.attach(call, ours)
        started = time.monotonic()
        while time.monotonic() - started < 1.0:  # a byte every 0.1 s, each earning 0.3 s
            theirs.sendall(b"x")
            assert ours.recv(1) == b"x"
            call.extend(time.monotonic() + 0.3)
            call.extend(0.0)  # never earlier
            time.sleep(0.1)
        assert not call.expired
        assert ours.recv(1) == b""  # no more bytes, no more time
    assert call.expired


def test_a_socket_another_call_took_over_is_left_alone(
    watchdog: Watchdog, pair: tuple[socket.socket, socket.socket]
) -> None:
    ours, theirs = pair
    taken = threading.Event()
    done = threading.Event()

    def other() -> None:
        with watchdog.watch(30) as call:
            watchdog.attach(call, ours)
            taken.set()
            done.wait(5)

    thread = threading.Thread(target=other)
    with watchdog.watch(0.2) as first:
        watchdog.attach(first, ours)
        thread.start()
        assert taken.wait(5)
        time.sleep(0.4)
    assert first.expired
    theirs.sendall(b"y")
    assert ours.recv(1) == b"y"
    done.set()
    thread.join(5)


def test_a_socket_attached_after_the_deadline_is_shut_down_at_once(
    watchdog: Watchdog, pair: tuple[socket.socket, socket.socket]
) -> None:
    ours, _theirs = pair
    with watchdog.watch(0.05) as call:
        time.sleep(0.3)
        assert call.expired
        watchdog.attach(call, ours)
        assert ours.recv(1) == b""


def test_no_watched_call_no_registration(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    attach_current(ours)  # outside any watch: nothing happens
    theirs.sendall(b"z")
    assert ours.recv(1) == b"z"


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "until-close"])
def test_the_client_cuts_off_a_trickling_page_and_file(tmp_path: Path, length: bool) -> None:
    """The watchdog through the client's own connections (a real trickling server): a page
    and a file cut off after three timeouts, also when the body has no length (it would
    end at the cut as if complete) and is refused all the same."""
    index = StaticIndex()
    wheel = index.add(make_wheel(tmp_path, "slow-lib", "1.0")).path
    client = UpstreamClient(0.3)
    try:
        with trickle_upstream(index, interval=0.05) as upstream:
            upstream.length = length
            upstream.trickle = {"/simple/": BODY, "/files/": BODY}
            for call in (
                lambda: client.page(upstream.simple_url, "slow-lib"),
                lambda: client.download(f"http://127.0.0.1:{upstream.port}/files/{wheel.name}",
                                        tmp_path / "out", 1 << 20, upstream.simple_url),
            ):  # fmt: skip
                started = time.monotonic()
                with pytest.raises(UpstreamError, match="sends too slowly"):
                    call()
                assert time.monotonic() - started < 4 + 3, "cut off within its bound"
    finally:
        client.close()


def test_a_pooled_connection_is_the_new_calls_while_it_sends_its_request(
    watchdog: Watchdog,
) -> None:
    """A call's connection goes back to the pool once its answer is read, while the call
    may go on (a redirect's first hop, then a long download elsewhere). Another call that
    takes it over owns it from its request on, not only from its response: the first call's
    deadline passing while the second still sends (a large request, a slow peer) must not
    cut the second's. A real HTTP server that reads the second request only later."""
    import requests

    from pubkit.server.upstream.deadline import watched_adapter

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    go = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(20)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
            go.wait(20)  # the second request waits in the buffers, then is read whole
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    return
                data += chunk
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    session = requests.Session()
    session.mount("http://", watched_adapter(pool_connections=1, pool_maxsize=1))
    url = f"http://127.0.0.1:{port}/"
    answers: list[object] = []

    def second() -> None:
        with watchdog.watch(30):
            try:  # the pooled connection; its request is larger than the socket buffers
                answers.append(session.get(url, headers={"X-Big": "x" * (32 << 20)},
                                           timeout=20).text)  # fmt: skip
            except requests.RequestException as error:
                answers.append(error)

    try:
        with watchdog.watch(0.5) as first:
            assert session.get(url, timeout=10).text == "first"  # back in the pool now
            thread = threading.Thread(target=second)
            thread.start()
            time.sleep(1.5)  # the first call's deadline passes while the second sends
            assert first.expired
        go.set()
        thread.join(30)
        assert answers == ["second"]
    finally:
        go.set()
        session.close()
        listener.close()
        server.join(5)


def test_the_status_probe_of_a_trickling_upstream_is_cut_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``pubkit upstream status`` (and GET /api/v1/upstream) asks each upstream: one that
    trickles its headers is reported too slow after three probe timeouts (it held the
    status for as long as it trickled, then called it reachable)."""
    from pubkit.server.upstream import maintenance

    monkeypatch.setattr(maintenance, "PROBE_TIMEOUT", 1.0)
    with trickle_upstream(StaticIndex(), interval=0.5) as upstream:
        upstream.trickle["/simple/"] = HEADERS
        started = time.monotonic()
        problem = maintenance.probe(upstream.simple_url)
        assert time.monotonic() - started < 10
        assert problem is not None and "too slowly" in problem, problem
