"""The drawing service behind ``apdraw serve``: a bounded queue, worker threads, models built once.

Requests never run a model on the web server's event loop. :meth:`DrawService.submit`
puts a job on a bounded queue (it raises :class:`QueueFullError`, which the app turns into
503 + ``Retry-After``, when ``queue_size`` jobs already wait) and returns a
:class:`concurrent.futures.Future`; ``workers`` threads take jobs in order. A job
cancelled before a worker reaches it (the request timed out) is skipped.

:data:`DEFAULT_WORKERS` is 2 (1 on a one-core machine): apdraw's networks run on one torch
thread each, so one worker keeps about one core busy. Measured with 50 clients on the
2-core machine (docs/WEB.md), two workers served 1.5-1.7x the photos per second of one, at
two thirds of the latency, for about 190 MB more memory.

Each worker builds a :class:`~apdraw.pipeline.PortraitPipeline` per style the first time
that style is asked for, and keeps it: the face models are built once per worker and
shared by its styles. Workers do not share models (MediaPipe's graphs are not safe to
call from two threads at once), so each extra worker costs another copy.

Everything happens in memory: the upload's bytes are decoded with
:func:`apdraw.io.load_image` (which refuses images over ``max_pixels`` from the header
alone, before decoding), and the encoded result is returned; no file is written.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from apdraw.batch import NoFaceError
from apdraw.io import load_image
from apdraw.registry import Registry
from apdraw.web.formats import FORMATS, FRAMES, OutputFormat

if TYPE_CHECKING:  # pragma: no cover
    from apdraw.pipeline import PortraitPipeline

log = logging.getLogger("apdraw.web")

FACES = ("largest", "all")
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)
# A web server's default pixel cap: above any phone or camera JPEG (24 MP), well below the
# command line's 64 MP; a request's memory stays under about 0.5 GB.
SERVE_MAX_PIXELS = 25_000_000


class QueueFullError(RuntimeError):
    """Every queue slot is taken; ``retry_after`` is a whole number of seconds to wait."""

    def __init__(self, retry_after: int):
        super().__init__(f"the server is busy; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class DrawRequest:
    """One photo to draw: its encoded bytes and the checked form fields."""

    data: bytes
    style: str
    format: str = "png"
    frame: str = "aligned"
    faces: str = "largest"


class DrawService:
    """Bounded queue + worker threads + per-style pipelines.

    Args:
        style: the default style (:data:`apdraw.styles.DEFAULT_STYLE` when None); each worker
            builds it as soon as it starts when ``preload``.
        max_pixels: photos with more pixels are refused before decoding.
        queue_size: jobs that may wait for a worker (>= 1); more are refused with
            :class:`QueueFullError`. At most ``queue_size + workers`` photos are held in memory.
        workers: worker threads, each with its own models.
        formats: the output formats offered (default :data:`apdraw.web.formats.FORMATS`).
        pipeline_factory: ``style -> PortraitPipeline`` (default: :meth:`build_pipeline`);
            called in the worker thread that will use the pipeline.
    """

    def __init__(
        self,
        style: str | None = None,
        max_pixels: int = SERVE_MAX_PIXELS,
        queue_size: int = 8,
        workers: int = 1,
        formats: Registry[OutputFormat] | None = None,
        pipeline_factory: Callable[[str, "PortraitPipeline | None"], "PortraitPipeline"] | None = None,
        preload: bool = True,
    ):
        from apdraw.styles import DEFAULT_STYLE, STYLES

        if queue_size < 1 or workers < 1:
            raise ValueError("queue_size and workers must be at least 1")
        self.style = STYLES.get(style or DEFAULT_STYLE).name
        self.max_pixels = max_pixels
        self.queue_size = queue_size
        self.workers = workers
        self.formats = formats if formats is not None else FORMATS
        self.pipeline_factory = pipeline_factory or self.build_pipeline
        self.preload = preload
        self._queue: queue.Queue[tuple[Future, Callable[..., Any], tuple] | None] = queue.Queue(maxsize=queue_size)
        self._threads: list[threading.Thread] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._ready = 0
        self.seconds_per_job = 1.0  # running mean of the work time of a job (for Retry-After)
        self.done = 0
        self.failed = 0
        self.refused = 0
        self._offered: list[str] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the worker threads (daemons: a stuck job never keeps the process alive)."""
        if self._threads:
            return
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"apdraw-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the jobs still waiting, let the running ones finish (up to ``timeout``), end the workers."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self._threads:
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:  # pragma: no cover - a worker stuck in a job
                break
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    @property
    def ready(self) -> bool:
        """Every worker has built the default style (always True without ``preload``)."""
        return not self.preload or self._ready >= self.workers

    @property
    def pending(self) -> int:
        """Jobs waiting for a worker."""
        return self._queue.qsize()

    # ------------------------------------------------------------------ queue

    def retry_after(self) -> int:
        """Seconds until a queue slot is likely free: the queue's work spread over the workers, 1..60."""
        return max(1, min(60, math.ceil(self.seconds_per_job * (self.queue_size + self.workers) / self.workers)))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue ``fn(*args)`` for a worker. Raises :class:`QueueFullError` when the queue is full."""
        fut: Future = Future()
        try:
            self._queue.put_nowait((fut, fn, args))
        except queue.Full:
            self.count_refusal()
            raise QueueFullError(self.retry_after()) from None
        return fut

    def count_refusal(self) -> None:
        """Count a request turned away because the server is busy (``/healthz``'s ``refused``)."""
        with self._lock:
            self.refused += 1

    def _work(self) -> None:
        if self.preload:
            try:
                self.pipeline(self.style)
            except Exception:  # noqa: BLE001 - the requests for this style will report it
                log.exception("could not build the %s style", self.style)
            with self._lock:
                self._ready += 1
        while True:
            job = self._queue.get()
            if job is None:
                return
            fut, fn, args = job
            if not fut.set_running_or_notify_cancel():
                continue  # the request gave up while the job waited
            t = time.perf_counter()
            try:
                fut.set_result(fn(*args))
                ok = True
            except BaseException as exc:  # noqa: BLE001 - handed to the request, which answers with it
                fut.set_exception(exc)
                ok = False
            dt = time.perf_counter() - t
            with self._lock:
                self.seconds_per_job = 0.8 * self.seconds_per_job + 0.2 * dt
                self.done += ok
                self.failed += not ok

    # ------------------------------------------------------------------ drawing

    def build_pipeline(self, style: str, sibling: "PortraitPipeline | None" = None) -> "PortraitPipeline":
        """A pipeline for ``style``; with a ``sibling`` (this worker's pipeline of another style), share its face models."""
        from apdraw.pipeline import PortraitPipeline
        from apdraw.styles import build_drawer

        if sibling is None:
            return PortraitPipeline.from_style(style, max_pixels=self.max_pixels)
        return PortraitPipeline(sibling.face_pipeline, build_drawer(style), sibling.max_faces, self.max_pixels)

    def pipeline(self, style: str) -> "PortraitPipeline":
        """This worker's pipeline for ``style``, built on first use."""
        cache: dict[str, PortraitPipeline] | None = getattr(self._local, "pipelines", None)
        if cache is None:
            cache = self._local.pipelines = {}
        if style not in cache:
            t = time.perf_counter()
            cache[style] = self.pipeline_factory(style, next(iter(cache.values()), None))
            log.info("%s: built the %s style in %.1f s", threading.current_thread().name, style, time.perf_counter() - t)
        return cache[style]

    def draw(self, req: DrawRequest) -> bytes:
        """Run in a worker: decode, find faces, draw, encode.

        Raises:
            apdraw.io.ImageLoadError: not an image, truncated, or over ``max_pixels``.
            apdraw.batch.NoFaceError: no face found.
        """
        from apdraw.pipeline import PortraitPipeline

        photo = load_image(req.data, max_pixels=self.max_pixels)
        base = self.pipeline(req.style)
        pipe = PortraitPipeline(base.face_pipeline, base.drawer, 1 if req.faces == "largest" else None, self.max_pixels)
        drawings = pipe(photo)
        if not drawings:
            raise NoFaceError("no face found in the photo; try one where a face is clearly visible, upright and not too small")
        return self.formats.get(req.format).load()(drawings, req.frame)

    def check(self, style: str | None, fmt: str | None, frame: str | None, faces: str | None) -> tuple[str, str, str, str]:
        """Form values -> (style, format, frame, faces), defaults filled in.

        Raises:
            ValueError: a value that is not offered; the message lists the choices.
        """
        from apdraw.styles import STYLES

        style, fmt, frame, faces = style or self.style, fmt or "png", frame or "aligned", faces or "largest"
        if style not in STYLES:
            raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES.names())}")
        offered = self.available_formats()
        if fmt not in offered:
            raise ValueError(f"format {fmt!r} is not available on this server; choose from {', '.join(offered)}")
        if frame not in FRAMES:
            raise ValueError(f"unknown frame {frame!r}; choose from {', '.join(FRAMES)}")
        if faces not in FACES:
            raise ValueError(f"unknown faces {faces!r}; choose from {', '.join(FACES)}")
        return style, fmt, frame, faces

    def available_formats(self) -> list[str]:
        """The formats whose encoders import, in registry order (looked up once)."""
        if self._offered is None:
            self._offered = [f.name for f in self.formats if f.available()]
        return self._offered
