"""Steps 6-7 (merge, order) with vpype, the page layout, plot statistics and the SVG writer.

Pixel polylines from :mod:`apdraw.vector.tracing` are merged (ends closer than a
tolerance joined, vpype's ``LineCollection.merge``), ordered to shorten pen-up
travel (greedy nearest end with vpype's ``LineIndex``, lines may be reversed,
as ``vpype linesort``), then laid out on the page: scaled uniformly to fit
inside the margins and centred. On the page, coordinates are millimetres from
the top-left corner, y pointing down (SVG's convention); the G-code writer
flips y.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

from apdraw.vector.config import VectorConfig
from apdraw.vector.tracing import Traced, trace

# vpype and SVG user units are CSS pixels, 96 per inch.
PX_PER_MM = 96.0 / 25.4


def _to_complex(lines: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(line[:, 0] + 1j * line[:, 1], np.complex128) for line in lines]


def _to_xy(lines) -> list[np.ndarray]:
    out = []
    for line in lines:
        xy = np.stack([line.real, line.imag], 1).astype(np.float64)
        if len(xy) > 1:  # merged lines repeat the joint: drop zero-length steps
            keep = np.concatenate([[True], np.any(np.diff(xy, axis=0) != 0, axis=1)])
            xy = xy[keep] if keep.sum() > 1 else xy[[0, -1]]
        out.append(xy)
    return out


def length(line: np.ndarray) -> float:
    """Length of a (K, 2) polyline."""
    return float(np.linalg.norm(np.diff(line, axis=0), axis=1).sum()) if len(line) > 1 else 0.0


def merge(lines: list[np.ndarray], tolerance: float) -> list[np.ndarray]:
    """Join lines whose ends are within ``tolerance`` (either may be reversed): vpype's merge."""
    import vpype as vp

    if len(lines) < 2 or tolerance <= 0:
        return list(lines)
    lc = vp.LineCollection(_to_complex(lines))
    lc.merge(tolerance=tolerance, flip=True)
    return _to_xy(lc)


def order(lines: list[np.ndarray], start: tuple[float, float] = (0.0, 0.0)) -> list[np.ndarray]:
    """Reorder (and reverse where it helps) lines to shorten pen-up travel, from ``start``.

    Greedy nearest neighbour on line ends with vpype's spatial ``LineIndex``, as
    ``vpype linesort`` does, but starting from the pen's home instead of the first line.
    """
    import vpype as vp

    if len(lines) < 2:
        return list(lines)
    index = vp.LineIndex(_to_complex(lines), reverse=True)
    out = []
    pos = complex(*start)
    while len(index) > 0:
        idx, reverse = index.find_nearest(pos)
        line = index.pop(idx)
        if line is None:
            continue
        if reverse:
            line = np.flip(line)
        out.append(line)
        pos = line[-1]
    return _to_xy(out)


def crop(lines: list[np.ndarray], x0: float, y0: float, x1: float, y1: float) -> list[np.ndarray]:
    """Clip lines to the rectangle [x0, x1] x [y0, y1] (vpype's crop: lines leaving it are cut, not moved)."""
    import vpype as vp

    lc = vp.LineCollection(_to_complex(lines))
    lc.crop(x0, y0, x1, y1)
    return [line for line in _to_xy(lc) if len(line) >= 2]


def pen_up_travel(lines: list[np.ndarray]) -> float:
    """Total distance between one line's end and the next line's start (pen-up moves between lines)."""
    if len(lines) < 2:
        return 0.0
    ends = np.array([line[-1] for line in lines[:-1]])
    starts = np.array([line[0] for line in lines[1:]])
    return float(np.linalg.norm(starts - ends, axis=1).sum())


def fit_scale(image_hw: tuple[int, int], cfg: VectorConfig) -> float:
    """Millimetres per pixel when an (H, W) drawing fills the page inside the margins."""
    pw, ph = cfg.page_mm()
    h, w = image_hw
    return min((pw - 2 * cfg.margin_mm) / w, (ph - 2 * cfg.margin_mm) / h)


def page_area(image_hw: tuple[int, int], cfg: VectorConfig) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) mm: where an (H, W) drawing lies on the page (fitted inside the margins, centred)."""
    pw, ph = cfg.page_mm()
    h, w = image_hw
    s = fit_scale(image_hw, cfg)
    x0, y0 = (pw - w * s) / 2, (ph - h * s) / 2
    return x0, y0, x0 + w * s, y0 + h * s


def finish(traced: Traced, cfg: VectorConfig, mm_per_px: float, ordered: bool = True) -> list[np.ndarray]:
    """Steps 6-7 in pixels: merge each kind, drop short centre-lines, order everything.

    Centre-lines and outlines merge within ``cfg.merge_mm``, hatch lines within
    ``cfg.hatch_link * cfg.hatch_mm`` (adjacent hatch lines join into zigzags);
    centre-lines shorter than ``cfg.min_stroke_mm`` after merging are dropped.
    ``ordered=False`` skips the ordering (to measure what it saves).
    """
    mm = 1.0 / mm_per_px  # pixels per mm
    strokes = merge(traced.centre, cfg.merge_mm * mm)
    strokes = [s for s in strokes if length(s) >= cfg.min_stroke_mm * mm]
    hatches = merge(traced.hatches, cfg.hatch_link * cfg.hatch_mm * mm)
    lines = [*strokes, *traced.outlines, *hatches]
    return order(lines) if ordered else lines


def trace_lines(image: np.ndarray, cfg: VectorConfig | None = None, mm_per_px: float | None = None,
                lines: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Steps 1-7: an (H, W) uint8 drawing -> merged, ordered polylines in its pixel coordinates.

    ``mm_per_px`` is the scale the drawing will be plotted at (default: filling the page
    of ``cfg``); hatch spacing, merge tolerance and minimum stroke length are in mm.
    ``lines``: pen lines drawn besides ``image`` (see :func:`apdraw.vector.tracing.trace`),
    which is then only the part of the drawing that was not drawn along them.
    """
    cfg = (cfg or VectorConfig()).check()
    mm_per_px = mm_per_px or fit_scale(np.asarray(image).shape[:2], cfg)
    return finish(trace(image, cfg, hatch_px=cfg.hatch_mm / mm_per_px, lines=lines), cfg, mm_per_px)


@dataclass
class PlotStats:
    """What a plot costs. Lengths in mm, time in seconds."""

    strokes: int
    pen_down_mm: float
    pen_up_mm: float
    seconds: float

    def as_dict(self) -> dict:
        return {"strokes": self.strokes, "pen_down_mm": self.pen_down_mm, "pen_up_mm": self.pen_up_mm, "seconds": self.seconds}


@dataclass
class Plot:
    """Polylines on a page, in plotting order.

    Attributes:
        lines: (K, 2) float64 (x, y) in mm from the page's top-left corner, y down.
        page_mm: (width, height) of the page.
        area_mm: (x0, y0, x1, y1) the drawing's rectangle on the page.
        pen_width_mm: the SVG's stroke width.
    """

    lines: list[np.ndarray]
    page_mm: tuple[float, float]
    area_mm: tuple[float, float, float, float]
    pen_width_mm: float

    @classmethod
    def from_pixels(cls, lines: list[np.ndarray], image_hw: tuple[int, int], cfg: VectorConfig) -> "Plot":
        """Lay out pixel polylines of an (H, W) image on the page: fitted inside the margins, centred.

        Pixel (x, y) covers [x - 0.5, x + 0.5]; the image's outer edges map to ``area_mm``.
        Points outside the image are clipped to it.
        """
        cfg.check()
        h, w = image_hw
        s = fit_scale(image_hw, cfg)
        area = page_area(image_hw, cfg)
        x0, y0 = area[:2]
        out = []
        for line in lines:
            p = np.asarray(line, np.float64)
            p = np.clip(p, -0.5, [w - 0.5, h - 0.5])
            out.append(np.stack([x0 + (p[:, 0] + 0.5) * s, y0 + (p[:, 1] + 0.5) * s], 1))
        return cls(out, cfg.page_mm(), area, cfg.pen_width_mm)

    def stats(self, feed: float, travel_feed: float, dwell_s: float = 0.0) -> PlotStats:
        """Stroke count, pen-down length, pen-up travel between strokes, and the plot time
        at ``feed`` / ``travel_feed`` mm/min plus ``dwell_s`` for each pen lift and drop
        (travel from and back to the home position not counted; no acceleration)."""
        down = sum(length(line) for line in self.lines)
        up = pen_up_travel(self.lines)
        seconds = 60.0 * (down / feed + up / travel_feed) + 2 * dwell_s * len(self.lines)
        return PlotStats(len(self.lines), down, up, seconds)

    def svg(self) -> str:
        """The plot as an SVG document (vpype's writer): page size in cm, one black layer of polylines."""
        import vpype as vp

        pw, ph = self.page_mm
        lc = vp.LineCollection([np.round((line[:, 0] + 1j * line[:, 1]) * PX_PER_MM, 3) for line in self.lines])
        lc.set_property(vp.METADATA_FIELD_PEN_WIDTH, self.pen_width_mm * PX_PER_MM)
        lc.set_property(vp.METADATA_FIELD_COLOR, vp.Color("black"))
        lc.set_property(vp.METADATA_FIELD_NAME, "apdraw")
        doc = vp.Document(lc, page_size=(pw * PX_PER_MM, ph * PX_PER_MM))
        buf = io.StringIO()
        vp.write_svg(buf, doc, source_string="apdraw", set_date=False)
        return buf.getvalue()

    def rasterize(self, size: int = 512, pen_px: float | None = None, antialias: bool = False) -> np.ndarray:
        """The drawing area rendered at ``size`` px on its long side: (h, w) uint8, 255 = paper.

        ``pen_px``: line width in output pixels (default: the pen width at that scale, at least 1).
        """
        import cv2

        x0, y0, x1, y1 = self.area_mm
        k = size / max(x1 - x0, y1 - y0)  # px per mm
        w, h = max(1, round((x1 - x0) * k)), max(1, round((y1 - y0) * k))
        canvas = np.full((h, w), 255, np.uint8)
        thick = max(1, int(round(pen_px if pen_px is not None else self.pen_width_mm * k)))
        shift = 4
        pts = [np.round(((line - [x0, y0]) * k - 0.5) * (1 << shift)).astype(np.int32).reshape(-1, 1, 2) for line in self.lines]
        if pts:
            cv2.polylines(canvas, pts, False, 0, thick, cv2.LINE_AA if antialias else cv2.LINE_8, shift)
        return canvas


def read_svg(path: str | os.PathLike, area_mm: tuple[float, float, float, float], pen_width_mm: float) -> Plot:
    """Read an SVG back with vpype (every path, flattened to 0.05 mm) as a :class:`Plot` over ``area_mm``."""
    import vpype as vp

    lc, width, height = vp.read_svg(str(path), quantization=0.05 * PX_PER_MM)
    lines = [line / PX_PER_MM for line in _to_xy(lc)]
    return Plot(lines, (width / PX_PER_MM, height / PX_PER_MM), area_mm, pen_width_mm)
