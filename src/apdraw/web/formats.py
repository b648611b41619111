"""What ``POST /api/draw`` can return: the ``format`` field picks an :class:`OutputFormat`.

Each format is a spec in :data:`FORMATS` whose ``target`` (``"module:attr"``, imported on
first use) is an encoder::

    encode(drawings: list[Drawing], frame: str) -> bytes

``drawings`` are one photo's drawings, largest face first (never empty); ``frame`` is
``"aligned"`` (the 512² drawings, side by side when there are several) or ``"photo"``
(every drawing pasted back into the photo's frame, :func:`apdraw.pipeline.compose_in_photo`).

A format is offered (``GET /api/formats``, and the page's download buttons) when its
target imports. ``png`` is always there; ``svg`` and ``gcode`` are the pen strokes of
:mod:`apdraw.vector` with its default plot settings (A4, GRBL servo pen).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from apdraw.registry import Registry, load_target

if TYPE_CHECKING:  # pragma: no cover
    from apdraw.pipeline import Drawing

Encoder = Callable[[list["Drawing"], str], bytes]
FRAMES = ("aligned", "photo")
# White between the aligned drawings of a photo with several faces (frame="aligned", faces="all").
STRIP_GAP = 16


@dataclass(frozen=True)
class OutputFormat:
    """One output format: ``name`` (the form value), a line of help, the HTTP media type, the file suffix."""

    name: str
    help: str
    media_type: str
    suffix: str
    target: str

    def load(self) -> Encoder:
        return load_target(self.target)

    def available(self) -> bool:
        """True when the encoder imports (a format whose code is missing is not offered)."""
        try:
            self.load()
        except (ImportError, AttributeError):
            return False
        return True

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "help": self.help, "media_type": self.media_type, "suffix": self.suffix}


def raster(drawings: list["Drawing"], frame: str) -> np.ndarray:
    """One photo's drawings as one (H, W) uint8 image, 255 = paper.

    ``frame="photo"``: all faces in the photo's frame; ``"aligned"``: the 512² drawings
    left to right (largest face first), :data:`STRIP_GAP` pixels of white between them.
    """
    if not drawings:
        raise ValueError("no drawings to encode")
    if frame == "photo":
        from apdraw.pipeline import compose_in_photo

        return compose_in_photo(drawings, drawings[0].photo_hw)
    if frame != "aligned":
        raise ValueError(f"unknown frame {frame!r}; choose from {', '.join(FRAMES)}")
    if len(drawings) == 1:
        return drawings[0].image
    s = drawings[0].image.shape[0]
    strip = np.full((s, len(drawings) * (s + STRIP_GAP) - STRIP_GAP), 255, np.uint8)
    for i, d in enumerate(drawings):
        strip[:, i * (s + STRIP_GAP) : i * (s + STRIP_GAP) + s] = d.image
    return strip


def encode_png(drawings: list["Drawing"], frame: str) -> bytes:
    """The drawing(s) as an 8-bit grey PNG."""
    from PIL import Image

    buf = io.BytesIO()
    # compress_level 3: a 512² drawing is about 10% larger than at the default level 6, and 2.5x faster
    # to write (9 vs 23 ms, measured).
    Image.fromarray(raster(drawings, frame)).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def plot(drawings: list["Drawing"], frame: str):
    """One photo's drawings as one :class:`apdraw.vector.Plot` laid out like :func:`raster` (default settings)."""
    from apdraw.vector import Plot, VectorConfig, fit_scale, order

    cfg = VectorConfig()
    if frame == "photo":
        from apdraw.pipeline import compose_strokes_in_photo

        hw = drawings[0].photo_hw
        return Plot.from_pixels(compose_strokes_in_photo(drawings, hw, cfg), hw, cfg), cfg
    if frame != "aligned":
        raise ValueError(f"unknown frame {frame!r}; choose from {', '.join(FRAMES)}")
    s = drawings[0].image.shape[0]
    hw = (s, len(drawings) * (s + STRIP_GAP) - STRIP_GAP)
    mm_per_px = fit_scale(hw, cfg)
    lines = [line + [i * (s + STRIP_GAP), 0] for i, d in enumerate(drawings) for line in d.trace_strokes(cfg, mm_per_px)]
    return Plot.from_pixels(order(lines), hw, cfg), cfg


def encode_svg(drawings: list["Drawing"], frame: str) -> bytes:
    """The pen strokes as an SVG page."""
    return plot(drawings, frame)[0].svg().encode("utf-8")


def encode_gcode(drawings: list["Drawing"], frame: str) -> bytes:
    """The pen strokes as G-code for a GRBL servo pen plotter."""
    from apdraw.vector import to_gcode

    p, cfg = plot(drawings, frame)
    return to_gcode(p, cfg).encode("ascii")


FORMATS: Registry[OutputFormat] = Registry("format")
FORMATS.register(OutputFormat("png", "raster drawing (PNG)", "image/png", ".png", "apdraw.web.formats:encode_png"))
FORMATS.register(OutputFormat("svg", "pen strokes (SVG)", "image/svg+xml", ".svg", "apdraw.web.formats:encode_svg"))
FORMATS.register(OutputFormat("gcode", "G-code for a pen plotter", "text/plain", ".gcode", "apdraw.web.formats:encode_gcode"))
