"""How the event loop waits on storage and the catalog: never itself.

- :func:`may_block` is the catalog's guard: inside :meth:`Dependency.offload`'s first try,
  a catalog query raises :class:`WouldBlock` instead of running on the event loop.
- :class:`Dependency` runs blocking calls into one dependency in worker threads drawn from
  that dependency's own bounded set, so a stalled S3 cannot take the threads the catalog
  needs; a call that finds every thread busy waits a bounded time, then answers 503.
- :class:`SerialWatch` gives the read path the catalog serial: read per request (a PRAGMA on
  SQLite; on PostgreSQL one query in a worker thread, shared by the requests that arrive
  while it runs). When the catalog does not answer in ``stale_after`` seconds, the request
  goes on with the last serial this worker knew, and only pages it has cached are served.
- :func:`check_all` is ``/ready``: every dependency checked at once, each within a bound.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from pubkit.errors import CatalogError, PubkitError, StorageError

log = logging.getLogger("pubkit.server")

T = TypeVar("T")

_ON_LOOP: contextvars.ContextVar[bool] = contextvars.ContextVar("pubkit_on_loop", default=False)


class WouldBlock(Exception):
    """Raised by a catalog query attempted where blocking is not allowed (the event loop)."""


def may_block() -> None:
    """Raise WouldBlock when called from :meth:`Dependency.offload`'s event-loop attempt."""
    if _ON_LOOP.get():
        raise WouldBlock


class Dependency:
    """Blocking calls into one dependency, run in at most ``threads`` worker threads.

    ``wait``: how long a call may wait for one of those threads before it is refused with
    a 503 (``error``): when they are all busy, the dependency is stalled or overloaded.
    """

    def __init__(
        self,
        name: str,
        threads: int,
        wait: float,
        error: type[PubkitError],
    ) -> None:
        self.name = name
        self.threads = threads
        self.wait = wait
        self.error = error
        self._slots = anyio.Semaphore(threads)
        self._limiter = anyio.CapacityLimiter(threads)

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in one of this dependency's threads."""
        with anyio.move_on_after(self.wait) as scope:
            await self._slots.acquire()
        if scope.cancelled_caught:
            raise self.error(
                f"the {self.name} is not answering: all {self.threads} of this worker's"
                f" {self.name} calls have been waiting on it; retry shortly"
            )
        try:
            return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)
        finally:
            self._slots.release()

    async def offload(self, function: Callable[..., T], *args: object, stale: bool = False) -> T:
        """``function(*args)`` on the event loop when it needs no catalog query (its caches
        answer), else in one of this dependency's threads; ``stale`` (the catalog is known
        not to answer right now): a 503 at once instead of a wait."""
        token = _ON_LOOP.set(True)
        try:
            return function(*args)
        except WouldBlock:
            pass
        finally:
            _ON_LOOP.reset(token)
        if stale:
            raise self.error(
                f"the {self.name} is not answering and this worker has no copy of what was"
                " asked; retry shortly"
            )
        return await self.run(function, *args)


class Serial:
    """The catalog serial a request works at; ``fresh`` False: the catalog did not answer
    in time and this is the last serial the worker knew. (A plain class: one is made per
    request, and a frozen dataclass costs microseconds to build.)"""

    __slots__ = ("fresh", "value")

    def __init__(self, value: int, fresh: bool = True) -> None:
        self.value = value
        self.fresh = fresh


class _Read:
    """One serial read in flight, shared by the requests that arrived before it started."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.done = anyio.Event()
        self.value: int | None = None


class SerialWatch:
    """The read path's catalog serial (see the module docstring).

    ``read`` is the catalog's serial query; ``inline``: it is cheap and local (SQLite's
    PRAGMA) and runs on the event loop; otherwise it runs in ``dependency``'s threads.
    """

    def __init__(
        self,
        read: Callable[[], int],
        dependency: Dependency,
        inline: bool,
        stale_after: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read = read
        self.dependency = dependency
        self.inline = inline
        self.stale_after = stale_after
        self._clock = clock
        self._known: int | None = None
        self._read: _Read | None = None
        self._inline = Serial(-1)

    def now(self) -> Serial | None:
        """The serial without waiting, when it is read inline (SQLite); else None: await
        :meth:`current`."""
        if not self.inline:
            return None
        value = self.read()
        if value != self._inline.value:
            self._inline = Serial(value)
        return self._inline

    async def current(self) -> Serial:
        if self.inline:
            return self.now() or Serial(self.read())
        arrived = self._clock()
        deadline = arrived + self.stale_after
        while True:
            flight = self._read
            if flight is None or (flight.done.is_set() and flight.started < arrived):
                flight = self._start()
            if flight.started >= arrived or flight.done.is_set():
                await self._wait(flight, deadline)
                if flight.value is not None:
                    return Serial(flight.value)
                return self._stale()
            # A read that began before this request: its answer may predate a change the
            # client saw (its own upload), so wait for it to end and start another. Unless
            # it has already been out longer than a request may wait: the catalog stalls.
            if self._clock() - flight.started >= self.stale_after:
                return self._stale()
            await self._wait(flight, deadline)
            if not flight.done.is_set():
                return self._stale()

    async def _wait(self, flight: _Read, deadline: float) -> None:
        with anyio.move_on_after(max(0.0, deadline - self._clock())):
            await flight.done.wait()

    def _start(self) -> _Read:
        flight = self._read = _Read(self._clock())

        async def run() -> None:
            try:
                flight.value = await self.dependency.run(self.read)
                self._known = flight.value
            except PubkitError as error:
                log.warning("could not read the catalog serial: %s", error.message)
            except Exception:  # the serving must go on; the cause goes to the log
                log.exception("could not read the catalog serial")
            finally:
                flight.done.set()

        _spawn(run)
        return flight

    def _stale(self) -> Serial:
        if self._known is None:
            raise CatalogError(
                "the catalog is not answering and this worker has not read it yet; retry shortly"
            )
        return Serial(self._known, fresh=False)


def _spawn(task: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``task`` (an async function) on the current event loop, unawaited: the serial read
    outlives the request that started it when the catalog stalls."""
    loop = asyncio.get_running_loop()
    pending = loop.create_task(task())
    _BACKGROUND.add(pending)
    pending.add_done_callback(_BACKGROUND.discard)


_BACKGROUND: set[asyncio.Task[None]] = set()


class ReadyCheck:
    """One dependency's ``/ready`` check, run in a thread that a stalled dependency may hold
    past the answer: the next check joins it instead of starting another."""

    def __init__(self, name: str, check: Callable[[], None]) -> None:
        self.name = name
        self.check = check
        self._lock = threading.Lock()
        self._started: float | None = None
        self._event: threading.Event | None = None
        self._problem: str | None = None

    def _run(self, event: threading.Event) -> None:
        problem = None
        try:
            self.check()
        except PubkitError as error:
            problem = error.message
        except Exception as error:  # a check must report, whatever the driver raised
            problem = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        with self._lock:
            self._problem = problem
            self._started = None
        event.set()

    async def problem(self, bound: float) -> str | None:
        """None when the dependency answered well within ``bound`` seconds, else the line."""
        with self._lock:
            if self._started is None:
                self._started = time.monotonic()
                self._event = threading.Event()
                start: threading.Event | None = self._event
            else:
                start = None
            event = self._event
            started = self._started
        assert event is not None and started is not None
        if start is not None:
            threading.Thread(target=self._run, args=(start,), daemon=True,
                             name=f"pubkit-ready-{self.name}").start()  # fmt: skip
        # The waiting thread gives up after ``bound`` even if the check thread never returns.
        remaining = max(0.0, started + bound - time.monotonic())
        if not await anyio.to_thread.run_sync(event.wait, remaining):
            waited = time.monotonic() - started
            return f"did not answer within {waited:.1f} s"
        with self._lock:
            return self._problem


async def check_all(checks: Mapping[str, ReadyCheck], bound: float) -> dict[str, str | None]:
    """Every check at once; the answer within about ``bound`` seconds."""
    results: dict[str, str | None] = {}

    async def one(name: str, check: ReadyCheck) -> None:
        results[name] = await check.problem(bound)

    async with anyio.create_task_group() as group:
        for name, check in checks.items():
            group.start_soon(one, name, check)
    return {name: results[name] for name in checks}


def storage_dependency(threads: int, wait: float) -> Dependency:
    return Dependency("storage", threads, wait, StorageError)


def catalog_dependency(threads: int, wait: float) -> Dependency:
    return Dependency("catalog", threads, wait, CatalogError)
