"""Plotter-ready vector output: raster drawings -> polylines -> SVG and G-code.

Usage::

    from apdraw.vector import VectorConfig, vectorize, to_gcode
    cfg = VectorConfig(paper="A4", pen_width_mm=0.3, hatch_mm=0.6)
    plot = vectorize(drawing, cfg)          # (H, W) uint8 drawing, 255 = paper
    svg_text, gcode_text = plot.svg(), to_gcode(plot, cfg)
    plot.stats(cfg.feed, cfg.travel_feed)   # strokes, pen-down and pen-up mm, seconds

Steps (docs/VECTOR.md): hysteresis ink mask; thin strokes vs fills by a distance
transform; strokes -> scikit-image skeleton -> traced centre-lines; fills ->
hatching (and outlines); smoothing and simplification; merge and order with
vpype; SVG with vpype's writer; G-code presets.

Importing this package is cheap (the command line's ``--help`` reads its
settings): the modules behind the names below, OpenCV, scikit-image and vpype
load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from apdraw.vector.config import GCODE_PRESETS, PAPER_SIZES_MM, VectorConfig, parse_paper

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from apdraw.vector.gcode import pen_commands, to_gcode
    from apdraw.vector.plot import (
        Plot, PlotStats, crop, finish, fit_scale, merge, order, page_area, pen_up_travel, read_svg, trace_lines,
    )  # fmt: skip
    from apdraw.vector.tracing import Traced, hatch, ink_mask, skeleton_paths, split_fills, trace

_LAZY = {
    "apdraw.vector.gcode": ("pen_commands", "to_gcode"),
    "apdraw.vector.plot": ("Plot", "PlotStats", "crop", "finish", "fit_scale", "merge", "order", "page_area",
                           "pen_up_travel", "read_svg", "trace_lines"),
    "apdraw.vector.tracing": ("Traced", "hatch", "ink_mask", "skeleton_paths", "split_fills", "trace"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'apdraw.vector' has no attribute {name!r}")


def vectorize(image: "np.ndarray", cfg: VectorConfig | None = None) -> "Plot":
    """An (H, W) uint8 drawing (255 = paper) -> a :class:`Plot` filling the page of ``cfg``, in plotting order."""
    import numpy as np

    from apdraw.vector.plot import Plot, trace_lines

    cfg = (cfg or VectorConfig()).check()
    img = np.asarray(image)
    return Plot.from_pixels(trace_lines(img, cfg), img.shape[:2], cfg)


__all__ = ["GCODE_PRESETS", "PAPER_SIZES_MM", "VectorConfig", "parse_paper", "vectorize", *_WHERE]
