"""Paired image metrics that need no network: line Chamfer distance, far-ink fraction, SSIM, FSIM.

All functions take two images of the same shape and are deterministic.
Accepted inputs: numpy arrays or torch tensors, (H, W) or (H, W, 3) [or (3, H, W)
/ (1, H, W) tensors], either uint8 in [0, 255] or float in [0, 1]. Colour is
reduced to luminance (BT.601).

The line Chamfer distance is also meant for training code (validation of the
drawing generators): it is pure numpy + OpenCV and has no state.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from apdraw.eval.phasecong import phase_congruency

# A pixel is a stroke when its luminance is below 0.75 of the full range (191 of
# 255 and darker). Black-pen drawings are unaffected by the exact value, but
# pencil sketches are not: FS2K's light pencil face lines sit around 130-190 on
# paper of 230-250, and at 0.5 most of them would vanish (style-0 validation
# sketches: 8 % ink pixels at 0.5, 18 % at 0.75, paper never below ~0.88).
STROKE_THRESHOLD = 0.75
# Solid (dark) pencil lines: luminance below half the range (127 of 255 and darker).
DARK_THRESHOLD = 0.5


def _gray01(image: Any) -> np.ndarray:
    """Any supported image -> (H, W) float64 in [0, 1]."""
    if hasattr(image, "detach"):  # torch tensor, channels first
        t = image.detach().cpu()
        if t.ndim == 3 and t.shape[0] in (1, 3):
            t = t.permute(1, 2, 0)
        arr = t.numpy()
    else:
        arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float64) / 255.0
    else:
        arr = arr.astype(np.float64)
    if arr.ndim == 3:
        arr = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
    if arr.ndim != 2:
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {np.shape(image)}")
    return arr


def _check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} vs {b.shape}; resize them first")


def stroke_mask(image: Any, threshold: float = STROKE_THRESHOLD) -> np.ndarray:
    """(H, W) bool: True where the drawing has ink (luminance < threshold, in [0, 1] units)."""
    return _gray01(image) < threshold


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance from every pixel to the nearest True pixel of `mask`."""
    # distanceTransform measures the distance to the nearest zero pixel;
    # DIST_MASK_PRECISE is the exact (Felzenszwalb-Huttenlocher) EDT.
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def chamfer_directed(a: Any, b: Any, threshold: float = STROKE_THRESHOLD) -> float:
    """Mean distance (pixels) from each stroke pixel of `a` to the nearest stroke pixel of `b`.

    Conventions for empty drawings: 0 when `a` has no strokes; when `b` has none
    but `a` has, the image diagonal (the largest distance possible).
    """
    ma, mb = stroke_mask(a, threshold), stroke_mask(b, threshold)
    _check_same_shape(ma, mb)
    if not ma.any():
        return 0.0
    if not mb.any():
        return float(np.hypot(*ma.shape))
    return float(_distance_to(mb)[ma].mean())


def chamfer_distance(a: Any, b: Any, threshold: float = STROKE_THRESHOLD) -> float:
    """Symmetric line Chamfer distance in pixels: the mean of both directed distances.

    Args:
        a, b: drawings of the same size (dark strokes on a light background). The
            evaluation suite compares them at 512x512 (longer side 512 otherwise).
        threshold: stroke binarisation threshold in [0, 1] units (see :data:`STROKE_THRESHOLD`).

    Returns:
        float >= 0; 0 when both stroke sets coincide (or both are empty).
    """
    return 0.5 * (chamfer_directed(a, b, threshold) + chamfer_directed(b, a, threshold))


def ink_far_fraction(pred: Any, ref: Any, dark: float = DARK_THRESHOLD, stroke: float = STROKE_THRESHOLD,
                     radius_px: float = 8.0) -> float:
    """Share of the prediction's dark pixels lying more than `radius_px` from every stroke of the reference.

    A hallucination measure: ink drawn where the artist drew nothing nearby. The
    prediction's ink is read strictly (luminance < `dark`), the reference's
    strokes generously (luminance < `stroke`), so a faint artist line still
    licenses dark ink over it.

    Args:
        pred, ref: drawings of the same size (dark strokes on a light background).
        dark, stroke: thresholds in [0, 1] units (strict ``<``).
        radius_px: tolerance in pixels of the images as given. Distances are
            measured at the images' own resolution: the evaluation suite resizes
            both to a longer side of 512 first, so its 8 px are 8 px at 512.

    Returns:
        float in [0, 1]; 0 when the prediction has no dark pixel; 1 when it has
        some and the reference has no stroke.
    """
    ink, strokes = stroke_mask(pred, dark), stroke_mask(ref, stroke)
    _check_same_shape(ink, strokes)
    if not ink.any():
        return 0.0
    if not strokes.any():
        return 1.0
    return float((_distance_to(strokes)[ink] > radius_px).mean())


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    g = cv2.getGaussianKernel(size, sigma, cv2.CV_64F)
    return g @ g.T


def ssim(a: Any, b: Any) -> float:
    """Structural similarity (Wang et al. 2004) on luminance.

    11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, dynamic range 255,
    averaged over the window positions fully inside the image ("valid"), no
    implicit downsampling.

    Returns:
        float in [-1, 1]; 1 for identical images.
    """
    x, y = _gray01(a) * 255.0, _gray01(b) * 255.0
    _check_same_shape(x, y)
    win = _gaussian_window()
    r = win.shape[0] // 2
    if min(x.shape) <= 2 * r:
        raise ValueError(f"SSIM needs images larger than 11x11, got {x.shape}")

    def filt(z: np.ndarray) -> np.ndarray:
        return cv2.filter2D(z, cv2.CV_64F, win, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx * mx
    syy = filt(y * y) - my * my
    sxy = filt(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


def _fsim_downsample(y: np.ndarray, factor: int) -> np.ndarray:
    """FSIM's pre-filter: mean over factor x factor windows, then keep every factor-th pixel."""
    if factor <= 1:
        return y
    c = (factor - 1) // 2  # window offset of a centred 'same' box filter (zero padded)
    padded = np.pad(y, ((c, factor), (c, factor)))
    acc = np.zeros_like(y)
    for dy in range(factor):
        for dx in range(factor):
            acc += padded[dy:dy + y.shape[0], dx:dx + y.shape[1]]
    return (acc / factor**2)[::factor, ::factor]


_SCHARR_X = np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]], dtype=np.float64) / 16.0
FSIM_T1 = 0.85  # phase congruency similarity constant
FSIM_T2 = 160.0  # gradient magnitude similarity constant (for 0..255 images)


def fsim(a: Any, b: Any) -> float:
    """Feature similarity index (Zhang et al. 2011), gray version.

    Local similarity = phase-congruency similarity x gradient-magnitude (Scharr)
    similarity, pooled with the larger of the two phase-congruency maps as the
    weight. As in the reference, images are first box-averaged and subsampled by
    ``max(1, round(min(H, W) / 256))`` (a factor 2 for 512x512).

    Returns:
        float in (0, 1]; 1 for identical images (also for two flat images).
    """
    y1, y2 = _gray01(a) * 255.0, _gray01(b) * 255.0
    _check_same_shape(y1, y2)
    factor = max(1, round(min(y1.shape) / 256))
    y1, y2 = _fsim_downsample(y1, factor), _fsim_downsample(y2, factor)
    pc1, pc2 = phase_congruency(y1), phase_congruency(y2)

    def grad(y: np.ndarray) -> np.ndarray:
        gx = ndimage.correlate(y, _SCHARR_X, mode="constant")
        gy = ndimage.correlate(y, _SCHARR_X.T, mode="constant")
        return np.sqrt(gx**2 + gy**2)

    g1, g2 = grad(y1), grad(y2)
    s_pc = (2 * pc1 * pc2 + FSIM_T1) / (pc1**2 + pc2**2 + FSIM_T1)
    s_g = (2 * g1 * g2 + FSIM_T2) / (g1**2 + g2**2 + FSIM_T2)
    weight = np.maximum(pc1, pc2)
    total = float(weight.sum())
    if total <= 0:
        return 1.0
    return float((s_pc * s_g * weight).sum() / total)
