"""The ASGI application, built by :func:`create_app` from explicit parts (no module state)."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from pubkit import __version__
from pubkit.errors import PubkitError, UploadError
from pubkit.server import api, spool, web
from pubkit.server.access_state import AccessSnapshots
from pubkit.server.asgi import (
    CLIENT_GONE,
    CROSS_SITE_REFUSAL,
    ASGIApp,
    Receive,
    Scope,
    Send,
    client_address,
    cross_site,
    error_headers,
    log_client_gone,
)
from pubkit.server.auth.policy import decide_upload_start
from pubkit.server.catalog import Catalog, open_catalog
from pubkit.server.dependencies import check_all
from pubkit.server.files import FilesApp
from pubkit.server.metrics import (
    Metrics,
    Publisher,
    count_upload,
    exposition,
    instrument_engine,
    metrics_folder,
)
from pubkit.server.observe import Observe
from pubkit.server.pypi_json import PypiJsonApp
from pubkit.server.services import Services, services_of
from pubkit.server.simple_app import SimpleApp
from pubkit.server.storage import Storage, open_storage
from pubkit.server.storage.timed import timed
from pubkit.server.upload import MULTIPART_OVERHEAD, multipart_boundary, receive_form
from pubkit.server.upstream import counts
from pubkit.server.upstream.files_app import UpstreamFilesApp
from pubkit.server.upstream.index import UPSTREAM_FILES
from pubkit.settings import ServerSettings, load_server_settings

log = logging.getLogger("pubkit.server")


# -- responses for errors ------------------------------------------------------------------


async def _pubkit_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PubkitError)
    headers = {name.decode(): value.decode() for name, value in error_headers(exc, "request")}
    return PlainTextResponse(exc.message + "\n", status_code=exc.http_status, headers=headers)


# -- upload --------------------------------------------------------------------------------


async def upload(request: Request) -> Response:
    """Refused at its headers when it can be (size, credentials, a read-only token, the
    content type): the body is not read then; what the client still sends is discarded by
    the HTTP protocol, under its limits, so the client sees this answer."""
    services = services_of(request)
    settings = services.settings
    limit = settings.max_upload_size + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadError(
            f"the upload is larger than this server's limit of {settings.max_upload_size} bytes",
            413,
        )
    if cross_site(request.scope):
        # A browser holding Basic credentials must not be made to upload by another site.
        raise UploadError(CROSS_SITE_REFUSAL, 403)
    principal = await services.user_of(request)
    refusal = decide_upload_start(principal)
    if refusal is not None:
        raise refusal
    assert principal is not None
    boundary = multipart_boundary(request.headers.get("content-type"))
    # A body that stalls or trickles is dropped by the HTTP protocol (pubkit.server.limits):
    # the stream then ends with ClientDisconnect.
    form = await receive_form(
        request.stream(),
        boundary,
        settings.tmp_dir,
        settings.max_upload_size,
    )
    try:
        outcome = await run_in_threadpool(services.uploads.process, form, principal,
                                          client_address(request.scope))  # fmt: skip
    finally:
        form.discard()
    record = outcome.record
    count_upload(services.metrics, outcome.created, record.size)
    verb = "uploaded" if outcome.created else "already present, identical"
    log.info("%s %s by %s", verb, record.filename, principal.actor)
    return PlainTextResponse(f"OK: {record.filename} {verb}\n")


async def _client_gone(request: Request, _exc: Exception) -> Response:
    log_client_gone(request.client.host if request.client else None, request.method,
                    request.url.path)  # fmt: skip
    # Sent nowhere; the access log records it.
    return PlainTextResponse("the client closed the request\n", status_code=CLIENT_GONE)


# -- operations ----------------------------------------------------------------------------


async def health(_request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


# /ready answers within this (plus a hop): a readiness probe's own timeout is often 1-2 s.
READY_BOUND = 1.5


async def ready(request: Request) -> Response:
    """Storage and catalog checked at once, each within READY_BOUND: one line per problem."""
    results = await check_all(services_of(request).ready_checks, READY_BOUND)
    problems = [f"{name}: {problem}" for name, problem in results.items() if problem]
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus' scrape: every worker's numbers, summed."""
    publisher: Publisher = request.app.state.metrics_publisher
    body, content_type = exposition(publisher.collect(), request.headers.get("accept"))
    return Response(body, media_type=content_type)


def _browser(request: Request) -> bool:
    """A browser asking for a page: it prefers HTML (pip and uv ask for the Simple API's
    types, twine and curl for anything)."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/vnd.pypi" not in accept


async def home(request: Request) -> Response:
    if request.method == "POST":
        return await upload(request)
    if _browser(request):
        return RedirectResponse("/ui/", status_code=303)
    return HTMLResponse(
        "<!DOCTYPE html><html><head><title>pubkit</title></head><body>"
        f"<h1>pubkit {__version__}</h1><p>A private Python package index.</p>"
        '<p>Simple API: <a href="simple/">simple/</a>. Upload with'
        " <code>twine upload --repository-url THIS_URL</code>.</p></body></html>"
    )


# -- middleware ----------------------------------------------------------------------------


class ReadPaths:
    """Sends ``/simple/``, ``/files/`` and ``/pypi/`` (the JSON API) requests to their
    bare-ASGI apps, the rest onwards."""

    def __init__(
        self, app: ASGIApp, simple: ASGIApp, files: ASGIApp, pypi: ASGIApp,
        upstream: ASGIApp | None = None,
    ) -> None:  # fmt: skip
        self.app = app
        self.simple = simple
        self.files = files
        self.pypi = pypi
        self.upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if path == "/simple" or path.startswith("/simple/"):
            await self.simple(scope, receive, send)
        elif path.startswith("/files/"):
            await self.files(scope, receive, send)
        elif path.startswith("/pypi/"):
            await self.pypi(scope, receive, send)
        elif self.upstream is not None and path.startswith(UPSTREAM_FILES):
            await self.upstream(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class PubkitApp(Starlette):
    """Starlette behind the request middleware and the read paths: every request passes
    :class:`~pubkit.server.observe.Observe` first; the read paths of :class:`ReadPaths`
    (``/simple/``, ``/files/``, ``/pypi/``, upstream files) then go to their bare-ASGI apps
    without entering the framework (its error middleware wrapped every
    ``send`` once more: on the hottest path that showed); the rest goes through Starlette as
    usual. An exception the bare apps let out reaches uvicorn, which answers 500 (or closes
    the connection, once the answer has started)."""

    front: ASGIApp | None = None

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (self.front or self.framework)(scope, receive, send)


def _seed_access_state(services: Services) -> None:
    """Store the catalog's access data if storage has none yet (a catalog from before access
    snapshots), or if its newest snapshot lacks the catalog's upstream rules (a catalog from
    before they were part of it), so that the bucket alone can restore them; a failure only
    delays that."""
    snapshots = services.catalog.access_state
    if snapshots is None or not isinstance(snapshots, AccessSnapshots):
        return
    try:
        if snapshots.seed(services.catalog):
            log.info("stored the catalog's users, roles and tokens in storage")
        elif snapshots.add_rules(services.catalog):
            log.info("stored the catalog's upstream rules in storage with its access state")
    except PubkitError as error:
        log.warning("could not store the access state in storage yet: %s", error.message)


# -- the factory ---------------------------------------------------------------------------


def create_app(
    settings: ServerSettings,
    storage: Storage | None = None,
    catalog: Catalog | None = None,
) -> PubkitApp:
    """Build the server from explicit parts; storage and catalog default to the settings' URLs."""
    storage = storage if storage is not None else open_storage(settings.storage_url)
    catalog = catalog if catalog is not None else open_catalog(settings.catalog_url)
    metrics = Metrics()
    if settings.metrics:
        storage = timed(storage, metrics)
        instrument_engine(metrics, catalog.engine)
    services = Services.build(settings, storage, catalog, metrics)
    pages = services.pages
    metrics.pulled.append(lambda: [
        ("pubkit_page_cache_requests", ("hit",), float(pages.lookups - pages.rendered)),
        ("pubkit_page_cache_requests", ("miss",), float(pages.rendered)),
    ])  # fmt: skip
    if services.upstream is not None:
        stats = services.upstream.pages.stats
        metrics.pulled.append(lambda: [
            ("pubkit_upstream_requests", ("page", "hit"), float(stats.hits)),
            ("pubkit_upstream_requests", ("page", "fetch"), float(stats.fetches)),
            ("pubkit_upstream_requests", ("page", "error"), float(stats.errors)),
            ("pubkit_upstream_requests", ("file", "hit"), float(stats.file_hits)),
            ("pubkit_upstream_requests", ("file", "fetch"), float(stats.file_fetches)),
            ("pubkit_upstream_requests", ("file", "error"), float(stats.file_errors)),
        ])  # fmt: skip
        metrics.shared[counts.SHARED_KEY] = lambda: counts.shared(stats)
    publisher = services.publisher = Publisher(metrics, metrics_folder(os.environ))

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        # What a killed process left in the spool (each worker sweeps; see spool.py).
        await run_in_threadpool(spool.sweep, settings.tmp_dir)
        await run_in_threadpool(_seed_access_state, services)
        async with anyio.create_task_group() as background:
            # Shared for /metrics, and for the upstream's status (every worker's counts).
            sharing = settings.metrics or services.upstream is not None
            if sharing and publisher.path is not None:
                background.start_soon(publisher.run)
            if services.upstream is not None and services.upstream.listing is not None:
                background.start_soon(services.upstream.listing.refresh)  # the first scan
            yield
            background.cancel_scope.cancel()
        publisher.publish()  # a worker's last numbers outlive it: counters never go back
        if services.upstream is not None:
            services.upstream.close()
        catalog.close()

    upload_methods = ["POST"]
    routes = [
        Route("/", home, methods=["GET", "HEAD", "POST"]),
        Route("/legacy/", upload, methods=upload_methods),
        Route("/legacy", upload, methods=upload_methods),
        Route("/health", health, methods=["GET", "HEAD"]),
        Route("/ready", ready, methods=["GET", "HEAD"]),
        *([Route("/metrics", metrics_endpoint, methods=["GET"])] if settings.metrics else []),
        # The admin API: JSON in and out, errors included (its own exception handlers).
        api.mount(services),
        # The web interface: pages and forms over the same operations and policy.
        Route("/ui", lambda _request: RedirectResponse("/ui/", status_code=308),
              methods=["GET", "HEAD"]),
        web.mount(services),
    ]
    app = PubkitApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={PubkitError: _pubkit_error, ClientDisconnect: _client_gone},
    )
    # The upload URL must never redirect: clients would resend the POST as a GET.
    app.router.redirect_slashes = False
    app.state.services = services
    app.state.metrics_publisher = publisher
    upstream_files = UpstreamFilesApp(services) if services.upstream is not None else None
    read_paths = ReadPaths(app.framework, SimpleApp(services), FilesApp(services),
                           PypiJsonApp(services), upstream_files)  # fmt: skip
    app.front = Observe(read_paths, metrics if settings.metrics else None)
    return app


def app_from_environment() -> ASGIApp:
    """The uvicorn factory for ``pubkit serve``: settings come from ``PUBKIT_*`` variables.

    uvicorn gets the app's front (its request middleware) itself rather than the app, whose
    ``__call__`` only hands each request on to it: one coroutine less per request.
    """
    settings = load_server_settings(environ=os.environ)
    app = create_app(settings)
    front = app.front
    assert front is not None  # create_app sets it
    # Everything alive now (modules, SQLAlchemy's tables and compiled constructs) lives as
    # long as the worker: keep it out of the collector's sight, so that full collections
    # stay short and do not show in the tail latency of requests.
    gc.collect()
    gc.freeze()
    return front


__all__ = ["app_from_environment", "create_app"]
