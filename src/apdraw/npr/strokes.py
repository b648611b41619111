"""Pen strokes: the jaw stroke and the hair strokes that follow the hair's flow."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.interpolate import splev, splprep

from apdraw.npr.config import HairConfig, JawConfig
from apdraw.npr.flow import tangent_field

_SHIFT = 4  # cv2 sub-pixel bits
_ONE = 1 << _SHIFT


def _resample(points: np.ndarray, spacing: float) -> np.ndarray:
    """Evenly spaced points (~`spacing` px apart) along a polyline. (K, 2) -> (M, 2)."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] <= 0:
        return points[:1]
    n = max(2, int(np.ceil(arc[-1] / spacing)) + 1)
    s = np.linspace(0.0, arc[-1], n)
    return np.stack([np.interp(s, arc, points[:, 0]), np.interp(s, arc, points[:, 1])], 1)


def smooth_polyline(points: np.ndarray, smoothing: float, spacing: float = 1.0) -> np.ndarray:
    """A smoothing cubic spline through an ordered polyline, sampled every `spacing` px.

    Args:
        points: (K, 2) float (x, y), K >= 2.
        smoothing: residual budget per point (px^2) for `splprep` (0 = interpolate).

    Returns:
        (M, 2) float64 dense points.
    """
    pts = np.asarray(points, np.float64)
    keep = np.concatenate([[True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-6])
    pts = pts[keep]
    if len(pts) < 4:
        return _resample(pts, spacing)
    tck, _ = splprep([pts[:, 0], pts[:, 1]], s=smoothing * len(pts), k=3)
    fine = np.stack(splev(np.linspace(0.0, 1.0, 8 * len(pts)), tck), 1)
    return _resample(fine, spacing)


def draw_tapered(canvas: np.ndarray, points: np.ndarray, width: float, taper: float) -> None:
    """Draw a pen stroke of `width` px whose ends taper to points, in place.

    Args:
        canvas: (H, W) uint8 ink layer (255 = ink), modified in place.
        points: (M, 2) dense (~1 px apart) stroke centre line.
        width: full width at the middle of the stroke.
        taper: fraction of the length over which each end narrows.
    """
    m = len(points)
    if m == 0:
        return
    t = np.linspace(0.0, 1.0, m)
    ramp = np.minimum(t, 1.0 - t) / max(taper, 1e-6)
    radius = 0.5 * width * np.sqrt(np.clip(ramp, 0.15, 1.0))
    for (x, y), r in zip(points, radius):
        cv2.circle(canvas, (int(round(x * _ONE)), int(round(y * _ONE))), int(round(r * _ONE)), 255, -1, cv2.LINE_AA, _SHIFT)


def draw_jaw(shape: tuple[int, int], jaw: np.ndarray, cfg: JawConfig, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The jaw polyline as a smooth tapered pen stroke.

    Args:
        shape: (H, W).
        jaw: (K, 2) float (x, y) ordered along the jaw (either end first).
        cfg: stroke parameters at 512 px; `scale` = image size / 512.

    Returns:
        (coverage, centre): (H, W) float32 ink coverage in [0, 1] (anti-aliased), and the
        stroke's centre-line, (M, 2) float64 (x, y) about 0.5 px apart ((0, 2) when
        fewer than 2 jaw points are given).
    """
    canvas = np.zeros(shape, np.uint8)
    jaw = np.asarray(jaw, np.float64).reshape(-1, 2)
    dense = np.zeros((0, 2))
    if len(jaw) >= 2:
        dense = smooth_polyline(jaw, cfg.smoothing * scale * scale, spacing=max(0.5, 0.5 * scale))
        draw_tapered(canvas, dense, cfg.width * scale, cfg.taper)
    return canvas.astype(np.float32) / 255.0, dense


def _trace(tangent: np.ndarray, region: np.ndarray, seeds: np.ndarray, n_steps: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Trace streamlines from all seeds at once, both ways, stopping when they leave `region`.

    Returns the (N, 2*n_steps+1, 2) paths (ordered end to end) and a (N, 2*n_steps+1)
    validity mask (a path is valid on one contiguous run containing the seed).
    """
    h, w = region.shape
    halves = []
    for direction in (1.0, -1.0):
        p = seeds.astype(np.float32).copy()
        ix = np.clip(p[:, 0].astype(np.int32), 0, w - 1)
        iy = np.clip(p[:, 1].astype(np.int32), 0, h - 1)
        v = tangent[iy, ix] * direction
        alive = np.ones(len(p), bool)
        pts, ok = [], []
        for _ in range(n_steps):
            ix = np.clip(np.round(p[:, 0]).astype(np.int32), 0, w - 1)
            iy = np.clip(np.round(p[:, 1]).astype(np.int32), 0, h - 1)
            t = tangent[iy, ix]
            flip = (t * v).sum(1) < 0
            v = np.where(flip[:, None], -t, t)
            p = p + step * v
            inside = (p[:, 0] >= 0) & (p[:, 0] <= w - 1) & (p[:, 1] >= 0) & (p[:, 1] <= h - 1)
            qx = np.clip(np.round(p[:, 0]).astype(np.int32), 0, w - 1)
            qy = np.clip(np.round(p[:, 1]).astype(np.int32), 0, h - 1)
            alive &= inside & region[qy, qx]
            pts.append(p.copy())
            ok.append(alive.copy())
        halves.append((np.stack(pts, 1), np.stack(ok, 1)))
    (fp, fo), (bp, bo) = halves
    paths = np.concatenate([bp[:, ::-1], seeds[:, None, :].astype(np.float32), fp], 1)
    valid = np.concatenate([bo[:, ::-1], np.ones((len(seeds), 1), bool), fo], 1)
    return paths, valid


def flow_paths(tangent: np.ndarray, region: np.ndarray, density: np.ndarray, cfg: HairConfig, scale: float, seed: int) -> list[np.ndarray]:
    """Streamlines along `tangent`, seeded with a probability of `density`, clipped to `region`.

    Seeds lie on a jittered grid (`cfg.spacing`) from a fixed-seed generator and are kept
    with probability `density` at their pixel; each is traced both ways until it leaves
    `region` or reaches `cfg.length`.

    Args:
        tangent: (H, W, 2) unit orientation field.
        region: (H, W) bool where strokes may run.
        density: (H, W) float32 in [0, 1], seed acceptance probability.
        cfg: stroke geometry at 512 px; `scale` = image size / 512.
        seed: generator seed (fixed, so the output is deterministic).

    Returns:
        list of (K, 2) float32 (x, y) centre-lines, K >= 3 points about `scale` px apart,
        every point's nearest pixel inside `region`.
    """
    h, w = region.shape
    if not region.any():
        return []
    rng = np.random.default_rng(seed)
    spacing = max(2.0, cfg.spacing * scale)
    gy, gx = np.mgrid[0:h:spacing, 0:w:spacing].astype(np.float32)
    jitter = rng.uniform(-0.5, 0.5, size=(2,) + gx.shape).astype(np.float32) * spacing
    sx = np.clip(gx + jitter[0], 0, w - 1).ravel()
    sy = np.clip(gy + jitter[1], 0, h - 1).ravel()
    accept = rng.uniform(size=sx.shape)
    ix, iy = sx.astype(np.int32), sy.astype(np.int32)
    take = region[iy, ix] & (accept < density[iy, ix])
    seeds = np.stack([sx[take], sy[take]], 1)
    if len(seeds) == 0:
        return []
    step = max(1.0, scale)
    n_steps = max(2, int(round(cfg.length * scale / step / 2.0)))
    paths, valid = _trace(tangent, region, seeds, n_steps, step)
    return [p[ok] for p, ok in zip(paths, valid) if ok.sum() >= 3]


def draw_paths(shape: tuple[int, int], paths: list[np.ndarray], width: float) -> np.ndarray:
    """Pen lines of `width` px along `paths` ((K, 2) float (x, y) each). Returns (H, W) uint8, 255 = ink (anti-aliased)."""
    canvas = np.zeros(shape, np.uint8)
    strokes = [np.round(p * _ONE).astype(np.int32).reshape(-1, 1, 2) for p in paths]
    if strokes:
        cv2.polylines(canvas, strokes, False, 255, max(1, int(round(width))), cv2.LINE_AA, _SHIFT)
    return canvas


def flow_strokes(tangent: np.ndarray, region: np.ndarray, density: np.ndarray, cfg: HairConfig, scale: float, seed: int) -> np.ndarray:
    """`flow_paths` drawn as pen lines `cfg.width` px wide: (H, W) uint8 stroke layer, 255 = stroke (anti-aliased edges)."""
    return draw_paths(region.shape, flow_paths(tangent, region, density, cfg, scale, seed), cfg.width * scale)


def hair_strokes(
    lum: np.ndarray,
    products: np.ndarray,
    hair: np.ndarray,
    dark: np.ndarray,
    skin: float,
    dark_level: float,
    cfg: HairConfig,
    scale: float,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Black strands on lighter hair and white strands (highlights) on black-filled hair.

    The orientation comes from a coarse structure tensor of the luminance: strands make
    gradients across themselves, so the tensor's minor eigenvector runs along them.
    Black-stroke density rises as the hair darkens (`cfg.min_ink`..`cfg.max_ink`);
    white-stroke density inside dark fills rises towards the fill threshold, so sheen
    in black hair becomes white strands instead of a flat blob.

    Args:
        lum: (H, W) float32 luminance in [0, 1].
        products: (H, W, 3) structure tensor entries of the image (`tensor_products`).
        hair: (H, W) bool hair region.
        dark: (H, W) bool solid black fills.
        skin: skin brightness the black-stroke tones are relative to.
        dark_level: luminance below which regions were filled black.
        cfg: stroke parameters at 512 px; `scale` = image size / 512.

    Returns:
        (black, white, strands): (H, W) bool stroke masks, and the black strands'
        centre-lines ((K, 2) float32 (x, y) each, see `flow_paths`).
    """
    empty = np.zeros(hair.shape, bool)
    if not hair.any():
        return empty, empty, []
    tangent = tangent_field(products, cfg.tensor_sigma * scale)
    tone = np.clip(lum / skin, 0.0, 1.0)
    density = cfg.min_ink + (cfg.max_ink - cfg.min_ink) * (1.0 - tone) ** cfg.tone_gamma
    strands = flow_paths(tangent, hair & ~dark, density.astype(np.float32), cfg, scale, cfg.seed)
    black = draw_paths(hair.shape, strands, cfg.width * scale) > 127
    sheen = np.clip(lum / max(dark_level, 1e-3), 0.0, 1.0) ** cfg.sheen_gamma
    white = flow_strokes(tangent, hair & dark, (cfg.max_white * sheen).astype(np.float32), cfg, scale, cfg.seed + 1) > 127
    return black, white, strands
