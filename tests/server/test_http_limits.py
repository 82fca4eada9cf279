"""The worker's HTTP protocol (pubkit.server.limits) on a loopback socket, in this process:
the connection cap, the header limits and the body rate, each in well under a second."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from pubkit.server.limits import HttpLimits, guarded_protocol, raise_fd_limit


async def app(scope: Any, receive: Any, send: Any) -> None:
    """/busy waits to be released; /echo reads the body; anything else answers at once."""
    assert scope["type"] == "http"
    if scope["path"] == "/busy":
        await scope["state"]["release"].wait()
    body = b""
    if scope["path"] == "/echo":
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
    answer = b"ok %d" % len(body)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(answer)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": answer})


@asynccontextmanager
async def serving(limits: HttpLimits) -> AsyncIterator[tuple[int, asyncio.Event]]:
    protocol = guarded_protocol(limits)
    config = uvicorn.Config(app, http=protocol, lifespan="off", log_config=None)
    config.load()
    release = asyncio.Event()
    factory = functools.partial(protocol, config=config, server_state=ServerState(),
                                app_state={"release": release})  # fmt: skip
    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], release
    finally:
        release.set()
        server.close()


async def exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


GET = b"GET /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_beyond_the_cap_idle_connections_make_room() -> None:
    async def scenario() -> None:
        async with serving(HttpLimits(max_connections=2)) as (port, _release):
            idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            await asyncio.sleep(0.05)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(GET % b"now")
            assert (await reader.readuntil(b"ok 0")).startswith(b"HTTP/1.1 200")
            # The oldest idle connection was closed to make room.
            assert await asyncio.wait_for(idle[0][0].read(), 2) == b""
            for _reader, idle_writer in idle:
                idle_writer.close()
            writer.close()

    run(scenario())


def test_beyond_the_cap_with_every_connection_busy_new_ones_get_503() -> None:
    async def scenario() -> None:
        async with serving(HttpLimits(max_connections=2)) as (port, release):
            busy = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            for _reader, writer in busy:
                writer.write(GET % b"busy")
            await asyncio.sleep(0.1)
            answer = await exchange(port, GET % b"now")
            assert answer.startswith(b"HTTP/1.1 503"), answer
            assert b"retry-after: 1" in answer and b"too many open connections" in answer
            release.set()
            for reader, writer in busy:
                assert (await reader.readuntil(b"ok 0")).startswith(b"HTTP/1.1 200")
                writer.close()
            # Once they are answered (and so idle), a new connection is served again.
            assert (await exchange(port, GET % b"now")).startswith(b"HTTP/1.1 200")

    run(scenario())


def test_a_large_head_gets_431_and_a_normal_one_passes() -> None:
    async def scenario() -> None:
        async with serving(HttpLimits(max_header_size=4096)) as (port, _release):
            small = b"GET / HTTP/1.1\r\nConnection: close\r\nX-A: " + b"a" * 3000 + b"\r\n\r\n"
            answer = await exchange(port, small)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            large = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 5000 + b"\r\n\r\n"
            answer = await exchange(port, large)
            assert answer.startswith(b"HTTP/1.1 431"), answer
            assert b"larger than this server's limit of 4096 bytes" in answer

    run(scenario())


def test_an_unfinished_head_and_a_silent_connection_are_closed_in_time() -> None:
    async def scenario() -> None:
        async with serving(HttpLimits(header_timeout=0.3)) as (port, _release):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
            answer = await asyncio.wait_for(reader.read(), 2)
            assert answer.startswith(b"HTTP/1.1 408"), answer
            silent_reader, silent = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(silent_reader.read(), 2) == b""
            writer.close()
            silent.close()

    run(scenario())


def test_a_body_below_the_minimum_rate_gets_408_and_a_steady_one_passes() -> None:
    limits = HttpLimits(request_timeout=0.3, min_body_rate=100)

    async def scenario() -> None:
        async with serving(limits) as (port, _release):
            head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n"
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head)
            first = b""
            for _ in range(6):  # 10 bytes every 0.2 s: 50 bytes/s, under 100
                writer.write(b"x" * 10)
                try:  # wait 0.2 s, or stop sending as soon as an answer comes
                    first = await asyncio.wait_for(reader.read(1), 0.2)
                    break
                except TimeoutError:
                    continue
            answer = first + await asyncio.wait_for(reader.read(), 2)
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert b"arrived too slowly" in answer
            writer.close()
            # 60 bytes in 0.2 s pieces of 30: fast enough.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head.replace(b"Host: x", b"Connection: close") + b"x" * 30)
            await asyncio.sleep(0.2)
            writer.write(b"x" * 30)
            assert (await reader.readuntil(b"ok 60")).startswith(b"HTTP/1.1 200")
            writer.close()

    run(scenario())


def test_the_fd_limit_bounds_the_connection_cap() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_fd_limit(10) == 10
    if hard != resource.RLIM_INFINITY:
        assert raise_fd_limit(hard * 2) <= hard
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= soft


@pytest.mark.parametrize("name", ["header_timeout", "keep_alive_timeout"])
def test_limits_are_on_by_default(name: str) -> None:
    from pubkit.settings import load_server_settings

    settings = load_server_settings(environ={})
    assert getattr(settings, name) > 0
    assert settings.max_header_size == 32 * 1024
    assert settings.max_connections == 1000
    assert settings.min_body_rate == 1024


async def big(scope: Any, receive: Any, send: Any) -> None:
    """10 MiB in 64 KiB pieces; records whether the whole of it was handed to the server."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(10 << 20).encode())]})  # fmt: skip
    for _ in range(160):
        await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
    scope["state"]["done"].set()


def test_a_client_that_stops_reading_is_dropped() -> None:
    async def scenario() -> None:
        protocol = guarded_protocol(HttpLimits(request_timeout=0.3))
        config = uvicorn.Config(big, http=protocol, lifespan="off", log_config=None)
        config.load()
        done = asyncio.Event()
        factory = functools.partial(protocol, config=config, server_state=ServerState(),
                                    app_state={"done": done})  # fmt: skip
        server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
            writer.write(GET % b"big")
            await asyncio.sleep(1.5)  # read nothing: the server's buffers fill, then it waits
            # The application was let go (its writes went nowhere), and the connection closed.
            await asyncio.wait_for(done.wait(), 2)
            received = 0
            with contextlib.suppress(ConnectionError):
                while chunk := await asyncio.wait_for(reader.read(1 << 20), 2):
                    received += len(chunk)
            assert received < 10 << 20
            writer.close()
        finally:
            server.close()

    run(scenario())
