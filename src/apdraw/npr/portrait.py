"""`draw_portrait`: a two-tone pen drawing of an aligned face photo, and `draw_batch`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from apdraw.npr.config import NPRConfig
from apdraw.npr.flow import tangent_field, tensor_products
from apdraw.npr.lines import fdog, fill_small_holes, hysteresis, remove_small
from apdraw.npr.regions import (
    FaceGeometry,
    dark_regions,
    estimate_hair_mask,
    lip_shading,
    skin_reference,
    smooth_mask,
    template_landmarks,
)
from apdraw.npr.strokes import draw_jaw, hair_strokes


@dataclass
class NPRInput:
    """One item for `draw_batch`; the fields are the arguments of `draw_portrait`."""

    aligned: np.ndarray
    fg_mask: np.ndarray | None = None
    jaw: np.ndarray | None = None
    hair_mask: np.ndarray | None = None
    landmarks5: np.ndarray | None = None

    @classmethod
    def from_face(cls, face: Any) -> NPRInput:
        """Inputs from an `apdraw.face.Face` (duck-typed, so npr does not import the face package).

        Uses `face.aligned`, `face.landmarks5_aligned` and, when masks exist,
        `face.masks.fg`, `face.masks.jaw` and a hair mask in `face.masks.extras["hair"]`
        if a backend provides one. Note `face.masks.hair` is the APDrawingGAN "hair
        region" (foreground minus the boxes, skin included), not a hair mask, so it is
        deliberately not used.
        """
        masks = getattr(face, "masks", None)
        extras = getattr(masks, "extras", None) or {}
        return cls(
            aligned=face.aligned,
            fg_mask=None if masks is None else masks.fg,
            jaw=None if masks is None else masks.jaw,
            hair_mask=extras.get("hair"),
            landmarks5=face.landmarks5_aligned,
        )


def _as_mask(mask: np.ndarray | None, shape: tuple[int, int], name: str) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[..., 0]
    if m.shape != shape:
        raise ValueError(f"{name} has shape {m.shape}, expected {shape}")
    if m.dtype == bool:
        return m
    return m > (127 if m.dtype == np.uint8 else 0.5)


@dataclass
class PortraitLayers:
    """The separate layers of a drawing, before they are merged (all (H, W), bool unless noted).

    Attributes:
        fg: the (smoothed) person mask; everything outside it is paper.
        face: the face oval the thresholds switch on.
        lines: flow-based DoG strokes after hysteresis.
        dark: solid black fills.
        hair: the hair region (given or estimated; empty when hair strokes are off).
        hair_black: black strands on lighter hair.
        hair_white: white strands cut out of black-filled hair.
        outline: the silhouette stroke along the fg border.
        jaw: float32 in [0, 1], anti-aliased jaw stroke coverage (zeros without a jaw).
        strands: the black strands' centre-lines, (K, 2) float32 (x, y) each (`hair_black` draws them).
        jaw_line: the jaw stroke's centre-line, (M, 2) float64 (x, y); (0, 2) without a jaw.
    """

    fg: np.ndarray
    face: np.ndarray
    lines: np.ndarray
    dark: np.ndarray
    hair: np.ndarray
    hair_black: np.ndarray
    hair_white: np.ndarray
    outline: np.ndarray
    jaw: np.ndarray
    strands: list[np.ndarray]
    jaw_line: np.ndarray


def portrait_layers(
    aligned: np.ndarray,
    fg_mask: np.ndarray | None = None,
    jaw: np.ndarray | None = None,
    hair_mask: np.ndarray | None = None,
    cfg: NPRConfig | None = None,
    landmarks5: np.ndarray | None = None,
) -> PortraitLayers:
    """Compute every layer of `draw_portrait` (same arguments) without merging them."""
    cfg = cfg or NPRConfig()
    rgb = np.asarray(aligned)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"aligned must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    h, w = rgb.shape[:2]
    scale = _scale(h, w)
    area = scale * scale

    fg = _as_mask(fg_mask, (h, w), "fg_mask")
    fg = np.ones((h, w), bool) if fg is None else smooth_mask(fg, cfg.mask_sigma * scale)
    geom = FaceGeometry(template_landmarks((h, w)) if landmarks5 is None else landmarks5)
    face = geom.oval((h, w), jaw)

    # Edge-preserving smoothing flattens skin pores and photo noise but keeps features.
    gray8 = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    lc = cfg.lines
    lum8 = cv2.bilateralFilter(gray8, 0, lc.smooth_sigma_color, lc.smooth_sigma_space * scale)
    lum = lum8.astype(np.float32) / 255.0
    skin = skin_reference(lum, geom)
    # Map the skin to a fixed grey so line thresholds mean the same on pale and dark faces.
    norm = np.clip(lum * (1.0 - lip_shading(rgb, geom, lc.lip_gain)) * (0.75 / skin), 0.0, 1.0)

    products = tensor_products(norm, lc.grad_sigma * scale)
    tangent = tangent_field(products, lc.tensor_sigma * scale)
    response = fdog(
        norm, tangent, lc.sigma_c * scale, lc.sigma_s_ratio, lc.rho, lc.sigma_m * scale, max(1.0, lc.flow_step * scale)
    )
    gain = np.where(face, np.float32(lc.face_gain), np.float32(1.0))
    lines = hysteresis(response < -lc.low * gain, response < -lc.high * gain, int(lc.min_area * area))

    dark = dark_regions(lum, skin, face, geom.eye_regions((h, w)), cfg.dark, scale)

    empty = np.zeros((h, w), bool)
    hair, black, white, strands = empty, empty, empty, []
    if cfg.hair.enabled:
        given = _as_mask(hair_mask, (h, w), "hair_mask")
        hair = (estimate_hair_mask(rgb, fg, geom, face, cfg.hair, scale) if given is None else given) & fg
        black, white, strands = hair_strokes(lum, products, hair, dark, skin, cfg.dark.ratio * skin, cfg.hair, scale)

    outline = empty
    if cfg.outline_width > 0 and not fg.all():
        k = max(1, int(round(cfg.outline_width * scale)))
        inner = cv2.erode(fg.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
        outline = fg & (inner == 0)

    jaw_ink, jaw_line = np.zeros((h, w), np.float32), np.zeros((0, 2))
    if jaw is not None:
        jaw_ink, jaw_line = draw_jaw((h, w), jaw, cfg.jaw, scale)
        jaw_ink = jaw_ink * fg
    return PortraitLayers(fg, face, lines, dark, hair, black, white, outline, jaw_ink, strands, jaw_line)


def compose(layers: PortraitLayers, cfg: NPRConfig | None = None) -> np.ndarray:
    """Merge layers into the final drawing: ink = (lines | dark | black strands) minus
    white strands, plus outline, restricted to fg, cleaned (speckle and pin-holes),
    anti-aliased, then the jaw stroke on top. Returns (H, W) uint8, 255 = paper."""
    cfg = cfg or NPRConfig()
    h, w = layers.fg.shape
    area = _scale(h, w) ** 2
    ink = ((layers.lines | layers.dark | layers.hair_black) & ~layers.hair_white) | layers.outline
    ink = remove_small(ink & layers.fg, int(cfg.min_ink_area * area))
    ink = fill_small_holes(ink, int(cfg.max_hole * area))
    coverage = ink.astype(np.float32)
    if cfg.antialias_sigma > 0:
        # Soften edges but keep the binary decision: ink pixels stay darker than mid-grey
        # and paper pixels lighter, so a thin stroke cannot fade into grey fragments.
        soft = cv2.GaussianBlur(coverage, (0, 0), cfg.antialias_sigma * np.sqrt(area))
        coverage = np.where(ink, np.maximum(soft, 0.6), np.minimum(soft, 0.45))
    coverage = np.maximum(coverage, layers.jaw)
    return np.round(255.0 * (1.0 - np.clip(coverage, 0.0, 1.0))).astype(np.uint8)


def _pieces_on(line: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """The runs of a (K, 2) (x, y) polyline whose points' nearest pixels are True in (H, W) `mask`; runs of >= 2 points."""
    h, w = mask.shape
    ix = np.clip(np.rint(line[:, 0]).astype(np.int64), 0, w - 1)
    iy = np.clip(np.rint(line[:, 1]).astype(np.int64), 0, h - 1)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask[iy, ix].astype(np.int8), [0]])))
    return [line[a:b] for a, b in zip(edges[::2], edges[1::2]) if b - a >= 2]


def pen_lines(layers: PortraitLayers, drawing: np.ndarray) -> list[np.ndarray]:
    """The polylines the engine drew as pen lines, as far as they show in `drawing` (= `compose(layers)`).

    Those are the black hair strands and the jaw stroke; everything else (flow-DoG lines,
    fills, white strands, the silhouette) is made as a mask, not along a line. Each line
    is cut to where the drawing has ink (< 128) within one pixel, which drops strands that
    `compose` removed as speckle and the jaw outside the foreground.

    Returns:
        list of (K, 2) float64 (x, y) in `drawing`'s pixels, K >= 2, strands first.
    """
    ink = cv2.dilate((drawing < 128).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    lines = [*layers.strands, layers.jaw_line]
    return [piece.astype(np.float64) for line in lines for piece in _pieces_on(line, ink)]


def draw_with_lines(
    aligned: np.ndarray,
    fg_mask: np.ndarray | None = None,
    jaw: np.ndarray | None = None,
    hair_mask: np.ndarray | None = None,
    cfg: NPRConfig | None = None,
    landmarks5: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """`draw_portrait` (same arguments, same drawing), the polylines it drew as pen lines, and the rest.

    Returns:
        (drawing, lines, rest): the (H, W) uint8 drawing, 255 = paper; `pen_lines`,
        (K, 2) float64 (x, y) each in its pixels; and (H, W) uint8 the drawing composed
        without them (no black strands, no jaw stroke), the ink a plotter must trace.
    """
    cfg = cfg or NPRConfig()
    layers = portrait_layers(aligned, fg_mask, jaw, hair_mask, cfg, landmarks5)
    drawing = compose(layers, cfg)
    rest = compose(replace(layers, hair_black=np.zeros_like(layers.hair_black), jaw=np.zeros_like(layers.jaw)), cfg)
    return drawing, pen_lines(layers, drawing), rest


def draw_portrait(
    aligned: np.ndarray,
    fg_mask: np.ndarray | None = None,
    jaw: np.ndarray | None = None,
    hair_mask: np.ndarray | None = None,
    cfg: NPRConfig | None = None,
    landmarks5: np.ndarray | None = None,
) -> np.ndarray:
    """Draw an aligned face photo as a clean black-pen-on-white portrait.

    Layers (see `PortraitLayers`): flow-based DoG lines with hysteresis; solid black
    fills of dark regions (thresholds relative to the cheeks' brightness); hair strokes
    following the hair's flow; a silhouette line along the foreground mask; the jaw as a
    smooth tapered stroke. They are merged by `compose`; outside the foreground
    everything is white.

    Args:
        aligned: (H, W, 3) uint8 RGB, a face aligned to the APDrawing template (512x512
            is the reference size; parameters scale with sqrt(H*W)/512).
        fg_mask: (H, W) bool, or uint8 (>127 = person), or float (>0.5). None = all person.
        jaw: (K, 2) float (x, y) ordered jaw polyline in `aligned` pixels; None = no jaw stroke.
        hair_mask: (H, W) bool/uint8 hair region; None = estimated (`estimate_hair_mask`).
        cfg: parameters; None = `NPRConfig()` defaults.
        landmarks5: (5, 2) float (x, y): eyes, nose, mouth corners in APDrawing order;
            None = the template's positions (exact for template-aligned input).

    Returns:
        (H, W) uint8, 255 = paper, 0 = ink, grey only on anti-aliased stroke edges.
        Deterministic: identical inputs give bit-identical output.
    """
    cfg = cfg or NPRConfig()
    return compose(portrait_layers(aligned, fg_mask, jaw, hair_mask, cfg, landmarks5), cfg)


def _scale(h: int, w: int) -> float:
    """Size relative to the 512x512 reference that all pixel parameters are given for."""
    return float(np.sqrt(h * w) / 512.0)


def _item_kwargs(item: NPRInput | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, NPRInput):
        return {k: getattr(item, k) for k in ("aligned", "fg_mask", "jaw", "hair_mask", "landmarks5")}
    if isinstance(item, Mapping):
        return dict(item)
    raise TypeError(f"draw_batch items must be NPRInput or mappings, got {type(item).__name__}")


def draw_batch(items: Sequence[NPRInput | Mapping[str, Any]], cfg: NPRConfig | None = None, workers: int = 1) -> list[np.ndarray]:
    """`draw_portrait` over many faces, in input order.

    Args:
        items: `NPRInput`s, or mappings with the keyword arguments of `draw_portrait`
            (`aligned` required; `fg_mask`, `jaw`, `hair_mask`, `landmarks5` optional).
        cfg: shared parameters.
        workers: threads (OpenCV releases the GIL); results do not depend on it.

    Returns:
        list of (H, W) uint8 drawings, one per item.
    """
    cfg = cfg or NPRConfig()
    kwargs = [_item_kwargs(it) for it in items]
    if workers <= 1:
        return [draw_portrait(cfg=cfg, **kw) for kw in kwargs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda kw: draw_portrait(cfg=cfg, **kw), kwargs))
