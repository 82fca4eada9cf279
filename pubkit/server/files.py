"""Downloads: distributions and their core metadata, streamed from storage."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response, StreamingResponse

from pubkit.errors import NotFoundError
from pubkit.server.layout import METADATA_SUFFIX, FileRecord, file_key, metadata_key
from pubkit.server.services import services_of

CHUNK = 256 * 1024


def _cache_control(public: bool) -> str:
    # Files never change once published, so clients and proxies may keep them forever.
    return f"{'public' if public else 'private'}, max-age=31536000, immutable"


def _not_found(what: str) -> Response:
    return PlainTextResponse(f"{what} is not on this index", status_code=404)


async def download(request: Request) -> Response:
    services = services_of(request)
    await services.require_reader(request)
    project = request.path_params["project"]
    filename: str = request.path_params["filename"]
    want_metadata = filename.endswith(METADATA_SUFFIX)
    dist_name = filename[: -len(METADATA_SUFFIX)] if want_metadata else filename
    record = services.catalog.file(dist_name)
    # Only files whose catalog row is committed exist for clients, and only at their own path.
    if record is None or project != record.project:
        return _not_found(filename)
    if want_metadata:
        return _metadata_response(request, record)
    headers = {
        "Cache-Control": _cache_control(services.settings.read == "public"),
        "ETag": f'"{record.sha256}"',
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    key = file_key(record.project, record.filename)
    path = services.storage.local_path(key)
    if path is not None:
        if not path.is_file():
            raise NotFoundError(
                f"{record.filename} is missing from storage; run pubkit index rebuild"
            )
        return FileResponse(
            path, media_type="application/octet-stream", headers=headers, stat_result=None
        )
    stream = services.storage.open(key)

    def chunks() -> object:
        with stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    headers["Content-Length"] = str(record.size)
    return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)  # type: ignore[arg-type]


def _metadata_response(request: Request, record: FileRecord) -> Response:
    services = services_of(request)
    if not record.metadata_sha256:
        return _not_found(record.filename + METADATA_SUFFIX)
    body = services.storage.read_bytes(metadata_key(record.project, record.filename))
    headers = {
        "Cache-Control": _cache_control(services.settings.read == "public"),
        "ETag": f'"{record.metadata_sha256}"',
    }
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type="text/plain; charset=utf-8")
    return Response(body, headers=headers, media_type="text/plain; charset=utf-8")
