"""The FastAPI application of ``apdraw serve``: one static page and a small JSON/file API.

Routes:

* ``GET /``: the page (``static/index.html``; inline CSS and JavaScript, nothing external).
* ``GET /api/styles``: the styles, the default, the formats, frames, faces and the limits.
* ``GET /api/formats``: the output formats this server offers (``png``; ``svg`` and ``gcode``
  when their encoders exist).
* ``POST /api/draw``: multipart ``image`` (the photo) and optional ``style``, ``format``,
  ``frame`` (aligned | photo) and ``faces`` (largest | all). 200 with the file
  (``image/png``, or the format's media type); 422 for a bad value, not an image, a
  truncated image or no face; 413 over the upload cap (bytes or pixels); 503 with
  ``Retry-After`` when the queue is full; 504 past the request timeout.
* ``GET /healthz``: liveness, readiness (default style built) and queue figures.

Every error is JSON ``{"error": CODE, "message": TEXT}``; no traceback reaches a client.
Uploads are read into memory (never spooled to disk), capped while they arrive, and
dropped with the response. The app needs the ``web`` extra (FastAPI, python-multipart).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from apdraw import __version__
from apdraw.batch import NoFaceError
from apdraw.io import ImageLoadError, ImageTooLargeError, NotAnImageError
from apdraw.registry import Registry
from apdraw.web.formats import FRAMES, OutputFormat
from apdraw.web.service import DEFAULT_WORKERS, FACES, SERVE_MAX_PIXELS, DrawRequest, DrawService, QueueFullError

log = logging.getLogger("apdraw.web")

DEFAULT_MAX_UPLOAD_BYTES = 10 * 2**20
DEFAULT_TIMEOUT = 60.0
DEFAULT_QUEUE = 8
# Room in the request body, besides the photo, for multipart headers and the small fields.
FORM_OVERHEAD = 16 * 1024
FIELDS = ("style", "format", "frame", "faces")

# The page may load only from this server (and the blob: URLs it makes); inline CSS and JS.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                  b"img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
                                  b"frame-ancestors 'none'"),
]  # fmt: skip


class ApiError(Exception):
    """An answer other than 200: HTTP status, a short code, a message for people."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


class _SecurityHeaders:
    """ASGI middleware: the headers of :data:`SECURITY_HEADERS` on every response."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def read_body(request: Request, cap: int) -> bytes:
    """The request body, in memory; :class:`ApiError` 413 as soon as it passes ``cap`` bytes."""
    too_large = ApiError(413, "too_large", f"the upload is over this server's limit of {_mb(cap - FORM_OVERHEAD)}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def drain(request: Request, cap: int) -> None:
    """Read and drop up to ``cap`` bytes of the body, so that a refusal reaches a client still sending."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return


def parse_form(content_type: str | None, body: bytes) -> tuple[dict[str, str], bytes | None, str]:
    """A multipart/form-data body -> (small fields, the ``image`` part's bytes or None, its file name).

    Parsed in memory with python-multipart's low-level parser (no temporary files).
    Raises :class:`ApiError` 400 for a body that is not multipart form data.
    """
    from python_multipart.multipart import MultipartParser, parse_options_header

    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise ApiError(400, "bad_request", "send the photo as multipart/form-data, in the field 'image'")
    parts: list[dict[str, Any]] = []
    header: dict[str, bytearray] = {}

    def on_part_begin() -> None:
        parts.append({"headers": {}, "data": bytearray()})

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header.setdefault("field", bytearray()).extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header.setdefault("value", bytearray()).extend(data[start:end])

    def on_header_end() -> None:
        parts[-1]["headers"][bytes(header.get("field", b"")).lower()] = bytes(header.get("value", b""))
        header.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1]["data"].extend(data[start:end])

    callbacks = {"on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
                 "on_header_end": on_header_end, "on_part_data": on_part_data}  # fmt: skip
    try:
        parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # noqa: BLE001 - python-multipart's errors are ValueErrors of several kinds
        raise ApiError(400, "bad_request", f"the multipart form data does not parse ({exc})") from None
    fields: dict[str, str] = {}
    image, filename = None, ""
    for part in parts:
        _, disp = parse_options_header(part["headers"].get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        if name == "image" and image is None:
            image, filename = bytes(part["data"]), disp.get(b"filename", b"").decode("utf-8", "replace")
        elif name in FIELDS and len(part["data"]) <= 100:
            fields[name] = part["data"].decode("utf-8", "replace").strip()
    return fields, image, filename


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


def _download_name(filename: str, suffix: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].rsplit(".", 1)[0])
    return f"{stem.strip('._')[:60] or 'photo'}_drawing{suffix}"


def _image_error(exc: ImageLoadError) -> ApiError:
    message = str(exc).removeprefix("<bytes>: ").replace("apdraw's limit", "this server's limit").replace("(--max-pixels; ", "(")
    if isinstance(exc, ImageTooLargeError):
        return ApiError(413, "too_large", f"image too large: {message}")
    if isinstance(exc, NotAnImageError):
        return ApiError(422, "not_an_image", message if message.startswith("not an image") else f"not an image: {message}")
    return ApiError(422, "bad_image", f"the image cannot be read: {message}")


def create_app(
    style: str | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int = SERVE_MAX_PIXELS,
    queue_size: int = DEFAULT_QUEUE,
    timeout: float = DEFAULT_TIMEOUT,
    workers: int = DEFAULT_WORKERS,
    preload: bool = True,
    formats: Registry[OutputFormat] | None = None,
) -> FastAPI:
    """The application. Its :class:`~apdraw.web.service.DrawService` is ``app.state.service``.

    Args:
        style: the default style (the registry's default when None).
        max_upload_bytes: the largest photo file accepted (413 above).
        max_pixels: the largest photo accepted, in pixels, checked from the header (413 above).
        queue_size: requests that may wait for a worker; more get 503 with ``Retry-After``.
        timeout: seconds a request may take from its first byte to its answer (504 after;
            408 when the upload itself is that slow).
        workers: worker threads (each with its own models).
        preload: build the default style when the app starts, not on the first request.
        formats: the output-format registry (default :data:`apdraw.web.formats.FORMATS`).
    """
    from apdraw.styles import STYLES

    service = DrawService(style, max_pixels=max_pixels, queue_size=queue_size, workers=workers, formats=formats, preload=preload)
    page = resources.files("apdraw.web").joinpath("static/index.html").read_bytes()
    body_cap = max_upload_bytes + FORM_OVERHEAD
    # Uploads held in memory at once (being read, waiting, being drawn): twice what the queue and
    # the workers hold, so memory stays bounded however many clients connect; past it, 503.
    max_admitted = 2 * (queue_size + workers) + 4
    admitted = 0

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            await asyncio.to_thread(service.stop)

    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN.
    app = FastAPI(title="apdraw", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = service
    app.add_middleware(_SecurityHeaders)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "bad_request", "the request's fields are not valid")

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "something went wrong on the server; the error is in its log")

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers={"cache-control": "no-cache"})

    @app.get("/api/styles")
    async def styles() -> dict[str, Any]:
        return {
            "default": service.style,
            "styles": [{"name": s.name, "help": s.help, "learned": s.learned, "default": s.name == service.style} for s in STYLES],
            "formats": service.available_formats(),
            "frames": list(FRAMES),
            "faces": list(FACES),
            "limits": {"max_upload_bytes": max_upload_bytes, "max_pixels": max_pixels, "timeout_s": timeout},
        }

    @app.get("/api/formats")
    async def formats_() -> dict[str, Any]:
        offered = service.available_formats()
        return {"formats": [service.formats.get(name).as_json() for name in offered], "default": "png"}

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "ready": service.ready, "version": __version__, "queue": service.pending,
                "queue_size": service.queue_size, "workers": service.workers, "served": service.done,
                "failed": service.failed, "refused": service.refused}  # fmt: skip

    @app.post("/api/draw")
    async def draw(request: Request) -> Response:
        nonlocal admitted
        if admitted >= max_admitted:
            busy = ApiError(503, "busy", f"the server is busy; try again in {service.retry_after()} s",
                            {"Retry-After": str(service.retry_after())})  # fmt: skip
            try:
                async with asyncio.timeout(timeout):
                    await drain(request, body_cap)
            except TimeoutError:
                pass
            service.count_refusal()
            raise busy
        admitted += 1
        try:
            return await _draw(request)
        finally:
            admitted -= 1

    async def _draw(request: Request) -> Response:
        started = time.monotonic()
        fut = None
        try:
            async with asyncio.timeout(timeout):
                body = await read_body(request, body_cap)
                fields, data, filename = parse_form(request.headers.get("content-type"), body)
                del body
                if not data:
                    raise ApiError(422, "no_image", "no photo: send it in the multipart field 'image'")
                if len(data) > max_upload_bytes:
                    raise ApiError(413, "too_large", f"file too large: {_mb(len(data))}, over this server's limit of {_mb(max_upload_bytes)}")
                try:
                    values = service.check(fields.get("style"), fields.get("format"), fields.get("frame"), fields.get("faces"))
                except ValueError as exc:
                    raise ApiError(422, "bad_request", str(exc)) from None
                req = DrawRequest(data, *values)
                try:
                    fut = service.submit(service.draw, req)
                except QueueFullError as exc:
                    raise ApiError(503, "busy", str(exc), {"Retry-After": str(exc.retry_after)}) from None
                del data, req
                result = await asyncio.wrap_future(fut)
        except TimeoutError:
            if fut is None:
                raise ApiError(408, "timeout", f"the upload took longer than {timeout:g} s") from None
            fut.cancel()
            raise ApiError(504, "timeout", f"the drawing took longer than this server's limit of {timeout:g} s; "
                                           "try a smaller photo, or again later") from None  # fmt: skip
        except ImageLoadError as exc:
            raise _image_error(exc) from None
        except NoFaceError as exc:
            raise ApiError(422, "no_face", str(exc)) from None
        fmt = service.formats.get(values[1])
        log.info("drew a photo (%s, %s, %s, %s) in %.2f s", *values, time.monotonic() - started)
        return Response(result, media_type=fmt.media_type, headers={
            "cache-control": "no-store",
            "content-disposition": f'inline; filename="{_download_name(filename, fmt.suffix)}"',
        })  # fmt: skip

    return app
