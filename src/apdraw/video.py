"""Drawing videos: every frame, the face tracked and its landmarks smoothed so the drawing does not jitter.

A detector finds the face afresh in every frame; its landmarks wobble by a
pixel or two even on a still head, and since the drawing is made in the frame
the landmarks align, the whole drawing would shake with them. :class:`OneEuroFilter`
(Casiez, Roussel and Vogel, CHI 2012) smooths each landmark coordinate: heavily
while the face is still, lightly while it moves, so there is neither jitter nor lag.

Usage::

    from apdraw.video import draw_video
    draw_video("in.mp4", "out.webm", style="npr")

Containers: reading anything OpenCV's FFmpeg reads (mp4, webm, avi, mov, ...) and
GIF; writing ``.webm`` (VP8), ``.mp4`` (MPEG-4 part 2), ``.avi`` (MJPEG) and ``.gif``.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from apdraw.io import TMP_PREFIX

if TYPE_CHECKING:  # pragma: no cover
    from apdraw.face import Face, FacePipeline
    from apdraw.face.mtcnn_common import Detection
    from apdraw.styles import Drawer

WRITERS = {".webm": "VP80", ".mp4": "mp4v", ".avi": "MJPG", ".gif": None}


class VideoError(ValueError):
    """A video that cannot be read or written; the message says why."""


# --------------------------------------------------------------------------- smoothing


class OneEuroFilter:
    """The 1€ filter on arrays: an adaptive low-pass whose cut-off rises with the speed.

    Args:
        min_cutoff: cut-off frequency (Hz) at rest: lower = smoother, more lag when moving.
        beta: how fast the cut-off rises with speed: higher = less lag on fast motion.
        d_cutoff: cut-off (Hz) of the speed estimate.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or beta < 0 or d_cutoff <= 0:
            raise ValueError("min_cutoff and d_cutoff must be positive, beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def reset(self) -> None:
        self.x = self.dx = self.t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter sample ``x`` (any shape, float) taken at time ``t`` seconds; returns the smoothed value."""
        x = np.asarray(x, np.float64)
        if self.x is None or self.t is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self.t
        dx = (x - self.x) / dt
        self.dx = self.dx + self._alpha(self.d_cutoff, dt) * (dx - self.dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        self.x = self.x + self._alpha(cutoff, dt) * (x - self.x)
        self.t = t
        return self.x.copy()


# --------------------------------------------------------------------------- reading and writing


def read_frames(path: str | os.PathLike) -> tuple[Iterator[np.ndarray], float, int]:
    """(frames as (H, W, 3) uint8 RGB, frames per second, frame count or 0 when unknown).

    Raises:
        VideoError: not a readable video.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    if path.suffix.lower() == ".gif":
        from PIL import Image, ImageSequence

        try:
            im = Image.open(path)
            n = getattr(im, "n_frames", 1)
            fps = 1000.0 / max(1, int(im.info.get("duration", 100) or 100))
        except OSError as exc:
            raise VideoError(f"{path}: not a readable GIF ({exc})") from None

        def gif_frames() -> Iterator[np.ndarray]:
            with im:
                for frame in ImageSequence.Iterator(im):
                    yield np.asarray(frame.convert("RGB"))

        return gif_frames(), fps, n
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(f"{path}: not a video OpenCV can read")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))

    def cv_frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    return
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()

    return cv_frames(), float(fps if 0 < fps < 1000 else 25.0), count


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence native (C-level) writes to stderr for the block."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class VideoWriter:
    """Writes RGB or gray frames to ``path`` (by suffix, see :data:`WRITERS`), atomically on :meth:`close`."""

    def __init__(self, path: str | os.PathLike, fps: float):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in WRITERS:
            raise VideoError(f"{self.path}: the output must end in one of {', '.join(WRITERS)}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=TMP_PREFIX, suffix=suffix)
        os.close(fd)
        self.tmp = Path(tmp)
        self.fps = fps
        self.suffix = suffix
        self.frames: list[np.ndarray] = []  # GIF: Pillow writes all frames at the end
        self.cv = None
        self.count = 0

    def write(self, frame: np.ndarray) -> None:
        rgb = np.repeat(frame[..., None], 3, axis=2) if frame.ndim == 2 else frame
        if self.suffix == ".gif":
            self.frames.append(frame)
        else:
            import cv2

            if self.cv is None:
                h, w = rgb.shape[:2]
                with _quiet_stderr():  # FFmpeg notes that it picks the WebM tag itself; harmless
                    self.cv = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*WRITERS[self.suffix]), self.fps, (w, h))
                if not self.cv.isOpened():
                    raise VideoError(f"{self.path}: OpenCV cannot write {self.suffix} here")
            self.cv.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
        self.count += 1

    def close(self) -> None:
        """Finish the file and move it into place."""
        try:
            if self.suffix == ".gif":
                from PIL import Image

                if not self.frames:
                    raise VideoError("no frame to write")
                images = [Image.fromarray(f) for f in self.frames]
                images[0].save(self.tmp, format="GIF", save_all=True, append_images=images[1:],
                               duration=max(20, round(1000 / self.fps)), loop=0)
            elif self.cv is not None:
                self.cv.release()
            os.replace(self.tmp, self.path)
        finally:
            self.tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        if self.cv is not None:
            self.cv.release()
        self.tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- drawing


@dataclass
class VideoStats:
    frames: int = 0
    drawn: int = 0  # frames with a face (tracked or held)
    held: int = 0  # frames where the face was lost and the last landmarks were reused
    blank: int = 0  # frames without any face: written as white paper


class FaceTracker:
    """Follows one face through the frames and smooths its landmarks.

    Each frame's detections are matched to the tracked face by the distance of
    their eye centres (a new face is picked, the largest, when none is near);
    a face missed for up to ``hold`` frames keeps its last landmarks.
    """

    def __init__(self, face_pipeline: "FacePipeline", fps: float, smooth: bool = True,
                 min_cutoff: float = 1.0, beta: float = 0.05, hold: int = 5):
        self.pipe = face_pipeline
        self.fps = fps
        self.filter = OneEuroFilter(min_cutoff, beta) if smooth else None
        self.hold = hold
        self.last: "Detection | None" = None
        self.missed = 0

    def __call__(self, frame: np.ndarray, index: int) -> tuple["Face | None", bool]:
        """(the aligned face of this frame or None, whether it was held from an earlier frame)."""
        from apdraw.face.mtcnn_common import Detection

        dets = self.pipe.detect(frame)
        det = None
        if dets:
            if self.last is None:
                det = dets[0]
            else:
                eyes = np.asarray(self.last.landmarks5)[:2].mean(0)
                scale = np.linalg.norm(np.asarray(self.last.landmarks5)[1] - np.asarray(self.last.landmarks5)[0])
                near = [d for d in dets if np.linalg.norm(np.asarray(d.landmarks5)[:2].mean(0) - eyes) < 2.0 * scale]
                det = near[0] if near else dets[0]
                if not near and self.filter is not None:
                    self.filter.reset()  # another face: do not glide from the old one
        held = False
        if det is None:
            if self.last is None or self.missed >= self.hold:
                self.last = None
                return None, False
            self.missed += 1
            det, held = self.last, True
        else:
            self.missed = 0
            if self.filter is not None:
                smoothed = self.filter(np.asarray(det.landmarks5, np.float64), index / self.fps)
                det = Detection(det.box, det.score, smoothed)
            self.last = det
        return self.pipe.align(frame, det), held


def draw_video(
    source: str | os.PathLike,
    target: str | os.PathLike,
    style: str | None = None,
    weights: str | os.PathLike | None = None,
    frame: str = "aligned",
    smooth: bool = True,
    min_cutoff: float = 1.0,
    beta: float = 0.05,
    max_frames: int | None = None,
    detector: str = "mtcnn",
    masks: str = "mediapipe",
    progress: bool = True,
    drawer: "Drawer | None" = None,
    face_pipeline: "FacePipeline | None" = None,
    keep: list[np.ndarray] | None = None,
) -> VideoStats:
    """Draw every frame of ``source`` into ``target`` (written atomically).

    Args:
        frame: ``"aligned"`` (512² drawings that follow the face) or ``"photo"``
            (the drawing pasted back into each frame, white elsewhere).
        smooth: smooth the landmarks with :class:`OneEuroFilter` (``min_cutoff``, ``beta``).
        drawer, face_pipeline: already built ones (else built from ``style``, ``detector``, ``masks``).
        keep: a list that receives every drawn frame before encoding (for measurements).

    Raises:
        VideoError: unreadable input, unwritable output, no frame.
    """
    from tqdm import tqdm

    from apdraw.face import FacePipeline, paste_back
    from apdraw.styles import build_drawer

    if frame not in ("aligned", "photo"):
        raise ValueError(f"frame must be 'aligned' or 'photo', got {frame!r}")
    frames, fps, count = read_frames(source)
    drawer = drawer or build_drawer(style or "apdrawinggan", weights)
    face_pipeline = face_pipeline or FacePipeline(detector=detector, mask_backend=masks)
    tracker = FaceTracker(face_pipeline, fps, smooth, min_cutoff, beta)
    writer = VideoWriter(target, fps)
    stats = VideoStats()
    total = min(count, max_frames) if count and max_frames else (count or max_frames or None)
    try:
        for i, image in enumerate(tqdm(frames, total=total, unit="frame", desc="video", disable=not progress)):
            if max_frames is not None and i >= max_frames:
                break
            face, held = tracker(image, i)
            if face is None:
                size = (512, 512) if frame == "aligned" else image.shape[:2]
                out = np.full(size, 255, np.uint8)
                stats.blank += 1
            else:
                drawing = drawer([face])[0]
                out = drawing if frame == "aligned" else paste_back(drawing, face, image.shape[:2])
                stats.drawn += 1
                stats.held += held
            writer.write(out)
            if keep is not None:
                keep.append(out)
            stats.frames += 1
        if stats.frames == 0:
            raise VideoError(f"{source}: no frame could be read")
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return stats


def flicker(frames: list[np.ndarray]) -> float:
    """Mean absolute change between consecutive frames, in gray levels (0-255): the temporal flicker."""
    if len(frames) < 2:
        return 0.0
    return float(np.mean([np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() for a, b in zip(frames, frames[1:])]))
