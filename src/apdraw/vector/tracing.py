"""Raster drawing -> polylines in pixel coordinates: steps 1-5 of the vectoriser.

1. ink mask with hysteresis (:func:`ink_mask`);
2. thin strokes vs filled regions by a distance transform (:func:`split_fills`);
3. strokes -> skeleton (scikit-image) -> traced centre-lines (:func:`skeleton_paths`);
4. fills -> hatching, parallel lines clipped to the region (:func:`hatch`), plus their outlines;
5. smoothing and Douglas-Peucker simplification (:func:`simplify`).

Merging and ordering (steps 6-7) are in :mod:`apdraw.vector.plot`. Polylines are
(K, 2) float64 arrays of (x, y), pixel centres at integer coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from apdraw.vector.config import VectorConfig

# 8-neighbourhood offsets (dy, dx); the diagonals are the last four.
_OFFSETS = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


@dataclass
class Traced:
    """The polylines of one drawing, by kind (pixel coordinates, not yet merged or ordered)."""

    centre: list[np.ndarray] = field(default_factory=list)  # stroke centre-lines
    outlines: list[np.ndarray] = field(default_factory=list)  # fill outlines (closed: first == last point)
    hatches: list[np.ndarray] = field(default_factory=list)  # hatch segments inside fills

    def all(self) -> list[np.ndarray]:
        return [*self.centre, *self.outlines, *self.hatches]


def _check_drawing(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2GRAY)
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError(f"expected an (H, W) uint8 drawing (255 = paper), got {img.shape} {img.dtype}")
    return img


def ink_mask(image: np.ndarray, dark: float, light: float) -> np.ndarray:
    """(H, W) bool ink: pixels darker than ``light`` (fraction of white) connected to pixels darker than ``dark``.

    Hysteresis keeps faint parts of real strokes and drops faint smudges that never get dark.
    """
    from skimage.filters import apply_hysteresis_threshold

    darkness = 1.0 - _check_drawing(image).astype(np.float32) / 255.0
    return apply_hysteresis_threshold(darkness, 1.0 - light, 1.0 - dark)


def _distance(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance from each True pixel to the nearest False pixel (0 on False)."""
    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def split_fills(ink: np.ndarray, fill_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Split ink into thin strokes and filled regions, by the distance transform.

    A filled region is the union of the discs of diameter ``fill_width`` that fit inside
    the ink (a morphological opening, computed as two distance transforms): pixels
    deeper than the radius are the fills' cores, and every ink pixel within a radius
    of a core belongs to the fill. The rest of the ink is strokes.

    Returns:
        (strokes, fills): (H, W) bool each; disjoint, their union is ``ink``.
    """
    r = 0.5 * fill_width
    core = _distance(ink) > r
    if not core.any():
        return ink.copy(), np.zeros_like(ink)
    fills = ink & (_distance(~core) <= r + 0.5)
    return ink & ~fills, fills


def skeleton_paths(skeleton: np.ndarray, spur: float = 0.0) -> list[np.ndarray]:
    """Trace a one-pixel-wide skeleton into polylines, one per branch between ends and junctions.

    Diagonal links that shortcut an L of three pixels are ignored, so staircases do not
    make false junctions. Closed loops become closed polylines. Branches that end
    freely, start at a junction and are shorter than ``spur`` px are dropped.

    Returns:
        list of (K, 2) float64 (x, y), K >= 2 (single isolated pixels are dropped).
    """
    ys, xs = np.nonzero(skeleton)
    n = len(ys)
    if n == 0:
        return []
    h, w = skeleton.shape
    index = np.full((h + 2, w + 2), -1, np.int64)
    index[ys + 1, xs + 1] = np.arange(n)
    nbr = np.stack([index[ys + 1 + dy, xs + 1 + dx] for dy, dx in _OFFSETS], 1)
    for k, (dy, dx) in enumerate(_OFFSETS[4:], start=4):
        redundant = (index[ys + 1 + dy, xs + 1] >= 0) | (index[ys + 1, xs + 1 + dx] >= 0)
        nbr[redundant, k] = -1
    adj = [row[row >= 0].tolist() for row in nbr]
    deg = np.array([len(a) for a in adj])
    seen: set[tuple[int, int]] = set()

    def walk(start: int, first: int) -> list[int]:
        path, prev, cur = [start, first], start, first
        seen.add((min(start, first), max(start, first)))
        while deg[cur] == 2:
            a, b = adj[cur]
            nxt = b if a == prev else a
            edge = (min(cur, nxt), max(cur, nxt))
            if edge in seen:
                break
            seen.add(edge)
            path.append(nxt)
            prev, cur = cur, nxt
        return path

    paths: list[list[int]] = []
    for s in np.flatnonzero(deg != 2).tolist():
        for t in adj[s]:
            if (min(s, t), max(s, t)) not in seen:
                paths.append(walk(s, t))
    for s in np.flatnonzero(deg == 2).tolist():  # what is left are closed loops
        t = adj[s][0]
        if (min(s, t), max(s, t)) not in seen:
            paths.append(walk(s, t))
    out = []
    for p in paths:
        if spur > 0 and len(p) < spur + 1 and min(deg[p[0]], deg[p[-1]]) == 1 and max(deg[p[0]], deg[p[-1]]) >= 3:
            continue
        out.append(np.stack([xs[p], ys[p]], 1).astype(np.float64))
    return out


def hatch(mask: np.ndarray, spacing: float, angle_deg: float, step: float = 0.5) -> list[np.ndarray]:
    """Parallel lines ``spacing`` px apart at ``angle_deg`` (counter-clockwise as seen, y down), clipped to ``mask``.

    The lines are anchored at the image origin, so neighbouring regions share one
    hatch pattern. Each run of the mask along a line becomes one segment.

    Returns:
        list of (2, 2) float64 segments [(x0, y0), (x1, y1)].
    """
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return []
    h, w = mask.shape
    th = np.deg2rad(angle_deg)
    d = np.array([np.cos(th), -np.sin(th)])  # along the lines; -sin: y points down
    nrm = np.array([-d[1], d[0]])
    on = xs * nrm[0] + ys * nrm[1]
    ot = xs * d[0] + ys * d[1]
    offsets = np.arange(np.floor(on.min() / spacing), np.ceil(on.max() / spacing) + 1) * spacing
    ts = np.arange(ot.min() - 1.0, ot.max() + 1.0 + step, step)
    segs = []
    chunk = max(1, 4_000_000 // len(ts))  # bounded memory on large images
    for c in range(0, len(offsets), chunk):
        off = offsets[c : c + chunk]
        px = off[:, None] * nrm[0] + ts[None, :] * d[0]
        py = off[:, None] * nrm[1] + ts[None, :] * d[1]
        ix, iy = np.rint(px).astype(np.int64), np.rint(py).astype(np.int64)
        inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
        hit = np.zeros(ix.shape, bool)
        hit[inside] = mask[iy[inside], ix[inside]]
        edges = np.diff(np.pad(hit, ((0, 0), (1, 1))).astype(np.int8), axis=1)
        rows, starts = np.nonzero(edges == 1)
        _, ends = np.nonzero(edges == -1)  # same row order: each run opens and closes on its row
        for r, a, b in zip(rows.tolist(), starts.tolist(), (ends - 1).tolist()):
            if b > a:
                segs.append(np.array([[px[r, a], py[r, a]], [px[r, b], py[r, b]]]))
    return segs


def _smooth(line: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of a polyline's points, ends kept (closed lines wrap around)."""
    if sigma <= 0 or len(line) < 3:
        return line
    closed = np.array_equal(line[0], line[-1])
    pts = line[:-1] if closed else line
    r = max(1, int(round(2 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    mode = "wrap" if closed else "edge"
    padded = np.pad(pts, ((r, r), (0, 0)), mode=mode)
    out = np.stack([np.convolve(padded[:, i], k, mode="valid") for i in range(2)], 1)
    if closed:
        return np.vstack([out, out[:1]])
    out[0], out[-1] = line[0], line[-1]
    return out


def simplify(line: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas-Peucker: drop points closer than ``tolerance`` px to the simplified line (ends kept)."""
    if tolerance <= 0 or len(line) < 3:
        return line
    out = cv2.approxPolyDP(line.astype(np.float32).reshape(-1, 1, 2), tolerance, False).reshape(-1, 2)
    return out.astype(np.float64)


def trace(image: np.ndarray, cfg: VectorConfig | None = None, hatch_px: float | None = None,
          lines: list[np.ndarray] | None = None) -> Traced:
    """Steps 1-5: a raster drawing -> centre-lines, fill outlines and hatch lines.

    Args:
        image: (H, W) uint8 drawing, 255 = paper (RGB is turned to grey).
        cfg: parameters (default :class:`VectorConfig`); ``*_px`` lengths are for 512 px
            and scale with ``sqrt(H * W) / 512``.
        hatch_px: hatch spacing in pixels (the caller knows the paper scale);
            default: ``cfg.hatch_mm`` at 0.4 mm per pixel.
        lines: pen lines drawn besides ``image``, (K, 2) float (x, y) in its pixels, when
            the drawing's maker hands over what it drew along polylines (``image`` is then
            the rest of its ink, e.g. :func:`apdraw.npr.draw_with_lines`). They become
            centre-lines as they are, only simplified.

    Returns:
        :class:`Traced` in pixel coordinates.
    """
    from skimage.morphology import skeletonize

    cfg = cfg or VectorConfig()
    img = _check_drawing(image)
    scale = float(np.sqrt(img.shape[0] * img.shape[1]) / 512.0)
    ink = ink_mask(img, cfg.ink_dark, cfg.ink_light)
    strokes, fills = split_fills(ink, cfg.fill_width_px * scale)
    out = Traced()
    if lines:
        out.centre = [simplify(np.asarray(p, np.float64), cfg.simplify_px * scale) for p in lines if len(p) >= 2]
    if strokes.any():
        # Stroke pixels touching a fill are left to the fill's outline: no stubs along its edge.
        if fills.any():
            strokes &= cv2.dilate(fills.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0
        paths = skeleton_paths(skeletonize(strokes), cfg.spur_px * scale)
        out.centre += [simplify(_smooth(p, cfg.smooth_px * scale), cfg.simplify_px * scale) for p in paths]
    if fills.any():
        if cfg.outline_fills:
            contours, _ = cv2.findContours(fills.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
            for c in contours:
                c = c.reshape(-1, 2).astype(np.float64)
                if len(c) >= 3:
                    c = np.vstack([c, c[:1]])
                    out.outlines.append(simplify(_smooth(c, cfg.smooth_px * scale), cfg.simplify_px * scale))
        spacing = hatch_px if hatch_px is not None else cfg.hatch_mm / 0.4
        out.hatches = hatch(fills, max(spacing, 0.5), cfg.hatch_angle)
    return out
