"""pubkit's answer start (pubkit.server.protocols): a real uvicorn server on 127.0.0.1 with
pubkit's protocol class, read by http.client and by a raw socket."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from pubkit.server.protocols import REASON, AnswerHttpToolsProtocol

# path -> (start message without its type, body chunks)
ANSWERS: dict[str, tuple[dict[str, Any], list[bytes]]] = {
    "/ok": ({"status": 200, "headers": [(b"content-length", b"5"), (b"x-one", b"1")]},
            [b"hello"]),
    "/reason": ({"status": 403, "headers": [(b"content-length", b"3")],
                 REASON: b"you may not read acme-secret"}, [b"no\n"]),
    "/chunked": ({"status": 200, "headers": [(b"content-type", b"text/plain")]},
                 [b"part one, ", b"part two"]),
    "/close": ({"status": 200, "headers": [(b"content-length", b"2"),
                                           (b"Connection", b"keep-alive, Close")]}, [b"ok"]),
    "/bad-value": ({"status": 200, "headers": [(b"content-length", b"2"),
                                               (b"x-note", b"a\r\nx-injected: yes")]}, [b"ok"]),
    "/bad-name": ({"status": 200, "headers": [(b"content-length", b"2"),
                                              (b"x note", b"spaces are not allowed")]}, [b"ok"]),
    "/big": ({"status": 200, "headers": [(b"content-length", b"70000")]}, [b"x" * 70000]),
    "/too-long": ({"status": 200, "headers": [(b"content-length", b"2")]}, [b"longer"]),
    "/bad-reason": ({"status": 404, "headers": [(b"content-length", b"2")],
                     REASON: b"split\r\nx-injected: yes"}, [b"no"]),
    "/obs-text": ({"status": 200, "headers": [(b"content-length", b"2"),
                                              (b"x-latin", "caf\u00e9\tok".encode("latin-1"))]},
                  [b"ok"]),
}  # fmt: skip


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    start, chunks = ANSWERS[scope["path"]]
    await send({"type": "http.response.start", **start})
    for index, chunk in enumerate(chunks):
        more = index < len(chunks) - 1
        await send({"type": "http.response.body", "body": chunk, "more_body": more})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # As pubkit serve runs it: its own access line, not uvicorn's.
    config = uvicorn.Config(app, http=AnswerHttpToolsProtocol, lifespan="off", access_log=False,
                            log_level="critical", server_header=False)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)


def raw(port: int, request: bytes) -> bytes:
    """Everything the server sends for ``request`` until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request)
        conn.settimeout(1)
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        return received


def test_an_answer_keeps_its_headers_and_the_connection(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for _ in range(2):  # the second request on the same kept-alive connection
        conn.request("GET", "/ok")
        answer = conn.getresponse()
        assert (answer.status, answer.reason, answer.read()) == (200, "OK", b"hello")
        assert answer.getheader("x-one") == "1"
        assert answer.getheader("date")  # uvicorn's own headers are still written
    conn.close()


def test_the_status_line_carries_the_reason_phrase(port: int) -> None:
    received = raw(port, b"GET /reason HTTP/1.1\r\nHost: x\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 403 you may not read acme-secret\r\n")
    assert received.endswith(b"\r\n\r\nno\n")


def test_without_a_length_the_body_is_chunked(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/chunked")
    answer = conn.getresponse()
    assert answer.getheader("transfer-encoding") == "chunked"
    assert answer.read() == b"part one, part two"
    conn.close()


def test_a_head_answer_has_no_body_and_no_chunking(port: int) -> None:
    received = raw(port, b"HEAD /chunked HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"transfer-encoding" not in received
    assert received.endswith(b"\r\n\r\n")


def test_connection_close_closes_after_the_answer(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := conn.recv(65536):  # ends only because the server closes
            received += chunk
    assert received.endswith(b"\r\n\r\nok")
    assert b"connection: keep-alive, Close\r\n" in received


def test_an_http_1_0_client_gets_connection_close(port: int) -> None:
    received = raw(port, b"GET /ok HTTP/1.0\r\n\r\n")
    assert b"connection: close\r\n" in received


def test_obs_text_and_tabs_are_allowed_in_values(port: int) -> None:
    received = raw(port, b"GET /obs-text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert "x-latin: caf\u00e9\tok\r\n".encode("latin-1") in received


@pytest.mark.parametrize("path", ["/bad-value", "/bad-name"])
def test_a_header_that_would_break_the_head_is_never_written(port: int, path: str) -> None:
    # As uvicorn does: the application's error, the connection closed, nothing sent.
    received = raw(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert received == b""


def test_uvicorn_s_access_line_is_still_written_when_it_has_a_handler(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    # pytest's capture handler is one: uvicorn then writes its access line, as it would.
    with caplog.at_level("INFO", logger="uvicorn.access"):
        raw(port, b"GET /reason?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any('"GET /reason?x=1 HTTP/1.1" 403' in line for line in lines), lines


class RecordingTransport(asyncio.Transport):
    """Each write the protocol makes, kept apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _run(request: bytes, paused: bool = False) -> RecordingTransport:
    """``request`` through pubkit's protocol to the app above; with ``paused``, the client
    reads nothing until the app has tried to answer."""
    from uvicorn.server import ServerState

    config = uvicorn.Config(app, http=AnswerHttpToolsProtocol, lifespan="off",
                            access_log=False, log_level="critical")  # fmt: skip
    config.load()
    state = ServerState()
    protocol = AnswerHttpToolsProtocol(config=config, server_state=state, app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    if paused:
        protocol.pause_writing()
    protocol.data_received(request)
    if paused:
        for _ in range(5):
            await asyncio.sleep(0)
        assert transport.writes == []  # the answer waits for the client
        protocol.resume_writing()
    while state.tasks:
        await asyncio.gather(*list(state.tasks), return_exceptions=True)
    protocol.connection_lost(None)
    return transport


async def _writes_for(request: bytes) -> list[bytes]:
    return (await _run(request)).writes


@pytest.mark.parametrize(
    ("path", "method", "writes"),
    [("/ok", "GET", 1), ("/reason", "GET", 1), ("/big", "GET", 2), ("/ok", "HEAD", 1),
     ("/chunked", "GET", 3)],
)  # fmt: skip
def test_a_short_answer_leaves_in_one_write(path: str, method: str, writes: int) -> None:
    # Head and body together when the body is short (one send system call); a long body,
    # a HEAD answer and a chunked one are written as uvicorn writes them.
    request = f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    written = asyncio.run(_writes_for(request))
    assert len(written) == writes, [w[:40] for w in written]
    whole = b"".join(written)
    assert whole.startswith(b"HTTP/1.1 ")
    if method == "GET" and path != "/chunked":
        body = whole.partition(b"\r\n\r\n")[2]
        assert body == b"".join(ANSWERS[path][1])


def test_the_reason_phrase_survives_a_client_that_reads_slowly() -> None:
    transport = asyncio.run(_run(b"GET /reason HTTP/1.1\r\nHost: x\r\n\r\n", paused=True))
    assert b"".join(transport.writes).startswith(b"HTTP/1.1 403 you may not read acme-secret\r\n")


def test_a_request_asking_to_close_gets_its_connection_closed() -> None:
    transport = asyncio.run(_run(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert b"connection: close\r\n" in b"".join(transport.writes)
    assert transport.closed


def test_pipelined_requests_are_answered_in_order() -> None:
    request = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /reason HTTP/1.1\r\nHost: x\r\n\r\n"
    whole = b"".join(asyncio.run(_run(request)).writes)
    first, second = whole.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200 OK") and first.endswith(b"hello")
    assert second.startswith(b"403 you may not read acme-secret") and second.endswith(b"no\n")


@pytest.mark.parametrize("path", ["/too-long", "/bad-reason"])
def test_an_answer_that_breaks_its_framing_writes_nothing(path: str) -> None:
    # A body longer than its content-length (the held head counted with it), or a phrase
    # that would split the head: the application's error, nothing written, the connection
    # closed.
    transport = asyncio.run(_run(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()))
    assert transport.writes == []
    assert transport.closed
