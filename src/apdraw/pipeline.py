"""Photo -> portrait drawings, callable from Python: the one recipe behind ``apdraw draw``.

Usage::

    from apdraw.pipeline import PortraitPipeline
    pipe = PortraitPipeline.from_style("apdrawinggan")   # or "npr"; builds the models once
    drawings = pipe("photo.jpg")                          # path, PIL image or (H, W, 3) uint8 array
    drawings[0].image                                     # (512, 512) uint8 drawing of the largest face
    drawings[0].in_photo                                  # the same drawing in the photo's own frame

A :class:`PortraitPipeline` joins a :class:`apdraw.face.FacePipeline` (detect,
align, mask) and a drawer from :mod:`apdraw.styles`. The command line, the
scripts and later the web server and video call it; they only add argument
parsing and file I/O.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from apdraw.io import DEFAULT_MAX_PIXELS, as_rgb, load_image

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from apdraw.face import Face, FacePipeline
    from apdraw.styles import Drawer
    from apdraw.vector import VectorConfig


@dataclass
class Drawing:
    """One face of a photo, drawn.

    Attributes:
        image: (S, S) uint8 drawing in the face's aligned frame (S = 512), 255 = paper.
        face: the aligned :class:`~apdraw.face.Face` it was drawn from.
        photo_hw: (H, W) of the photo.
        pen_lines: the polylines the style drew as pen lines, (K, 2) float64 (x, y) in
            ``image`` pixels, when it hands them over (:class:`apdraw.styles.Sketch`); None = none.
        rest: (S, S) uint8, ``image`` without the ink of ``pen_lines``: what plotters trace (None without them).
        variant: which of several drawings per face this is, as an output-name suffix
            (``"_style1"`` for ``qmupd:all``); ``""`` when the style makes one.
    """

    image: np.ndarray
    face: "Face"
    photo_hw: tuple[int, int]
    variant: str = ""
    # Vector strokes (plotter output): None until :meth:`trace_strokes` fills them.
    strokes: Any = field(default=None, repr=False)
    pen_lines: list[np.ndarray] | None = field(default=None, repr=False)
    rest: np.ndarray | None = field(default=None, repr=False)

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2) detector box in photo pixels."""
        return self.face.box

    @property
    def landmarks(self) -> np.ndarray:
        """(5, 2) float landmarks in photo pixels: left eye, right eye, nose, mouth corners (image left first)."""
        return self.face.landmarks5

    @property
    def matrix(self) -> np.ndarray:
        """(2, 3) float64 photo -> aligned-frame similarity transform."""
        return self.face.matrix

    @cached_property
    def in_photo(self) -> np.ndarray:
        """(H, W) uint8: the drawing warped back into the photo's frame, white elsewhere."""
        from apdraw.face import paste_back

        return paste_back(self.image, self.face, self.photo_hw)

    def trace_strokes(self, config: "VectorConfig | None" = None, mm_per_px: float | None = None) -> list[np.ndarray]:
        """The drawing as pen strokes, also kept in :attr:`strokes` (see :mod:`apdraw.vector`).

        Args:
            config: a :class:`apdraw.vector.VectorConfig` (default settings when None).
            mm_per_px: the scale it will be plotted at (default: ``image`` filling the config's page).

        Returns:
            merged polylines in plotting order, each (K, 2) float64 (x, y) in ``image`` pixels:
            stroke centre-lines, fill outlines and hatch lines. With :attr:`pen_lines` those
            are the centre-lines of what the style drew along them, and only :attr:`rest`
            is traced.
        """
        from apdraw.vector import trace_lines

        if self.pen_lines is None or self.rest is None:
            self.strokes = trace_lines(self.image, config, mm_per_px)
        else:
            self.strokes = trace_lines(self.rest, config, mm_per_px, lines=self.pen_lines)
        return self.strokes

    def strokes_in_photo(self, config: "VectorConfig | None" = None, mm_per_px: float | None = None) -> list[np.ndarray]:
        """:meth:`trace_strokes` mapped into the photo's pixels (clipped to the photo).

        ``mm_per_px`` is the plot's scale in photo pixels (default: the photo filling the page).
        """
        from apdraw.vector import VectorConfig, crop, fit_scale

        cfg = config or VectorConfig()
        h, w = self.photo_hw
        m = np.asarray(self.matrix, np.float64)
        s = self.image.shape[0]
        size = getattr(self.face, "size", s)
        if s != size:  # as paste_back: the matrix is for a size x size frame
            k = s / size
            m = np.concatenate([m[:, :2] * k, (m[:, 2:] + 0.5) * k - 0.5], 1)
        a_inv = np.linalg.inv(m[:, :2])
        photo_mm = mm_per_px or fit_scale((h, w), cfg)
        # One drawing pixel spans 1 / |det A|^(1/2) photo pixels.
        strokes = self.trace_strokes(cfg, photo_mm / float(np.sqrt(abs(np.linalg.det(m[:, :2])))))
        mapped = [(line - m[:, 2]) @ a_inv.T for line in strokes]
        return crop(mapped, -0.5, -0.5, w - 0.5, h - 0.5)


def compose_in_photo(drawings: list[Drawing], photo_hw: tuple[int, int]) -> np.ndarray:
    """All drawings of one photo in its frame: (H, W) uint8, the darkest ink wins where faces overlap."""
    canvas = np.full(photo_hw, 255, np.uint8)
    for d in drawings:
        canvas = np.minimum(canvas, d.in_photo)
    return canvas


def compose_strokes_in_photo(drawings: list[Drawing], photo_hw: tuple[int, int], config: "VectorConfig | None" = None) -> list[np.ndarray]:
    """The pen strokes of all drawings of one photo in its pixels, ordered as one plot: (K, 2) float64 (x, y) each."""
    from apdraw.vector import order

    lines = [line for d in drawings for line in d.strokes_in_photo(config)]
    return order(lines)


class PortraitPipeline:
    """Detect, align and draw every face of a photo.

    Args:
        face_pipeline: a :class:`apdraw.face.FacePipeline` (with a mask backend when the drawer needs masks).
        drawer: aligned faces -> drawings (see :mod:`apdraw.styles`), or several by output
            suffix ({"_style0": ..., ...}, :func:`apdraw.styles.build_drawers`): each face is
            then drawn by each, and the drawings carry the suffix as ``variant``.
        max_faces: faces drawn per photo, largest first (None = all).
        max_pixels: photos given by path with more pixels are refused (decompression bombs).
    """

    def __init__(self, face_pipeline: "FacePipeline", drawer: "Drawer | dict[str, Drawer]", max_faces: int | None = 1,
                 max_pixels: int = DEFAULT_MAX_PIXELS):
        self.face_pipeline = face_pipeline
        self.drawers: dict[str, Drawer] = dict(drawer) if isinstance(drawer, dict) else {"": drawer}
        self.max_faces = max_faces
        self.max_pixels = max_pixels

    @property
    def drawer(self) -> "Drawer":
        """The drawer, when there is one (a ValueError for a pipeline of several variants)."""
        if len(self.drawers) != 1:
            raise ValueError(f"this pipeline draws {len(self.drawers)} variants per face: use .drawers")
        return next(iter(self.drawers.values()))

    @classmethod
    def from_style(
        cls,
        style: str | None = None,
        weights: str | Path | None = None,
        detector: str = "mtcnn",
        masks: str | None = "mediapipe",
        max_faces: int | None = 1,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        **options: Any,
    ) -> "PortraitPipeline":
        """A pipeline for a registered style (default: :data:`apdraw.styles.DEFAULT_STYLE`).

        ``style`` may carry the style's argument, e.g. ``"qmupd:1"``, ``"qmupd:0.5,0.5,0"``
        or ``"qmupd:all"`` (three drawings per face, see :attr:`Drawing.variant`).

        ``detector`` and ``masks`` name registered face detectors and mask backends
        (:mod:`apdraw.face.backends`); ``options`` go to the style's factory. With
        ``runtime="onnx"`` the detector runs on onnxruntime too where it can
        (``mtcnn`` -> ``mtcnn-onnx``): the whole pipeline then runs without torch.
        """
        from apdraw.face import FacePipeline
        from apdraw.face.backends import detector_for_runtime
        from apdraw.styles import DEFAULT_STYLE, STYLES, build_drawers, parse_style

        style = style or DEFAULT_STYLE
        spec = STYLES.get(parse_style(style)[0])
        if spec.needs_masks and masks is None:
            raise ValueError(f"style {spec.name!r} needs masks; choose a mask backend")
        drawer = build_drawers(style, weights, **options)
        detector = detector_for_runtime(detector, options.get("runtime"))
        return cls(FacePipeline(detector=detector, mask_backend=masks), drawer, max_faces, max_pixels)

    def read(self, image: "str | os.PathLike | Image.Image | np.ndarray") -> np.ndarray:
        """Any accepted input -> (H, W, 3) uint8 RGB (see :func:`apdraw.io.load_image`, :func:`apdraw.io.as_rgb`)."""
        if isinstance(image, (str, os.PathLike)):
            return load_image(image, max_pixels=self.max_pixels)
        return as_rgb(image)

    def __call__(self, image: "str | os.PathLike | Image.Image | np.ndarray") -> list[Drawing]:
        """Draw the faces of a photo, largest first (each face in each variant, in order); [] when there is no face.

        The drawings carry the style's pen lines where it hands them over (:func:`apdraw.styles.sketch`).
        """
        from apdraw.styles import sketch

        photo = self.read(image)
        faces = self.face_pipeline(photo, max_faces=self.max_faces)
        if not faces:
            return []
        hw = (int(photo.shape[0]), int(photo.shape[1]))
        per_variant = {v: sketch(d, faces) for v, d in self.drawers.items()}
        return [Drawing(s.image, face, hw, pen_lines=s.pen_lines, rest=s.rest, variant=v)
                for i, face in enumerate(faces) for v, sketches in per_variant.items() for s in [sketches[i]]]  # fmt: skip
