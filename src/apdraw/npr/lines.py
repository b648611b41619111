"""Line extraction: plain XDoG, flow-based DoG (FDoG) and hysteresis cleanup."""

from __future__ import annotations

import cv2
import numpy as np

from apdraw.npr.flow import flow_smooth, gradient_profile


def xdog(
    gray: np.ndarray,
    sigma: float = 1.0,
    k: float = 1.6,
    p: float = 20.0,
    epsilon: float = 0.5,
    phi: float = 10.0,
) -> np.ndarray:
    """Extended difference of Gaussians (Winnemoeller et al. 2012), isotropic.

    D = (1 + p) * G_sigma(I) - p * G_{k sigma}(I); output is 1 where D >= epsilon and
    1 + tanh(phi * (D - epsilon)) below it (a soft threshold). Flat regions keep their
    tone (D = I there), so dark areas darker than `epsilon` turn black; edges are
    sharpened into dark lines on their dark side.

    Args:
        gray: (H, W) float in [0, 1], 1 = white.
        sigma: inner Gaussian scale (px); line width grows with it.
        k: ratio of the outer Gaussian's scale.
        p: edge emphasis.
        epsilon: tone threshold in [0, 1].
        phi: softness of the threshold (large = hard, binary-looking).

    Returns:
        (H, W) float32 in [0, 1], 1 = white paper, 0 = ink.
    """
    if gray.ndim != 2:
        raise ValueError(f"xdog expects a 2-D gray image, got shape {gray.shape}")
    g = np.clip(gray.astype(np.float32), 0.0, 1.0)
    g1 = cv2.GaussianBlur(g, (0, 0), sigma)
    g2 = cv2.GaussianBlur(g, (0, 0), sigma * k)
    d = (1.0 + p) * g1 - p * g2
    out = np.where(d >= epsilon, 1.0, 1.0 + np.tanh(phi * (d - epsilon)))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _gauss(x: np.ndarray, s: float) -> np.ndarray:
    return np.exp(-0.5 * (x / s) ** 2) / (np.sqrt(2.0 * np.pi) * s)


def fdog(
    gray: np.ndarray,
    tangent: np.ndarray,
    sigma_c: float,
    sigma_s_ratio: float,
    rho: float,
    sigma_m: float,
    flow_step: float = 1.0,
) -> np.ndarray:
    """Flow-based difference of Gaussians (Kang, Lee & Chui 2007).

    A 1-D DoG is taken across each edge (along the gradient of the flow), then the
    response is Gaussian-smoothed along the edge's streamline, which bridges gaps and
    suppresses responses that do not line up into a curve.

    Args:
        gray: (H, W) float32 in [0, 1].
        tangent: (H, W, 2) unit edge tangent field.
        sigma_c: centre Gaussian scale across the edge (px); sets the line width.
        sigma_s_ratio: surround scale / centre scale (1.6 approximates a LoG).
        rho: surround weight (< 1 so flat areas give a small positive response).
        sigma_m: smoothing scale along the flow (px).
        flow_step: streamline step (px); larger is faster and coarser.

    Returns:
        (H, W) float32 response; negative on the dark side of an edge (a line pixel),
        about (1 - rho) * intensity in flat regions.
    """
    sigma_s = sigma_c * sigma_s_ratio
    reach = int(np.ceil(3.0 * sigma_s))
    offsets = np.arange(-reach, reach + 1, dtype=np.float32)
    gc = _gauss(offsets, sigma_c)
    gs = _gauss(offsets, sigma_s)
    kernel = gc / gc.sum() - rho * gs / gs.sum()
    across = gradient_profile(gray, tangent, {float(o): float(w) for o, w in zip(offsets, kernel)})
    return flow_smooth(across, tangent, sigma_m, flow_step)


def hysteresis(weak: np.ndarray, strong: np.ndarray, min_area: int) -> np.ndarray:
    """Keep the 8-connected components of `weak` that touch `strong` and have >= min_area px.

    Args:
        weak, strong: (H, W) bool; `strong` should be a subset of `weak`.
        min_area: smallest component kept (px), which removes speckle.

    Returns:
        (H, W) bool.
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(weak.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[strong & weak])] = True
    keep[stats[:, cv2.CC_STAT_AREA] < min_area] = False
    keep[0] = False
    return keep[labels]


def remove_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop 8-connected components of `mask` smaller than `min_area` pixels. (H, W) bool -> bool."""
    if min_area <= 1:
        return mask.astype(bool)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels]


def fill_small_holes(mask: np.ndarray, max_area: int) -> np.ndarray:
    """Fill 4-connected background holes of `mask` with at most `max_area` pixels. (H, W) bool -> bool."""
    if max_area <= 0:
        return mask.astype(bool)
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~mask.astype(bool)).astype(np.uint8), connectivity=4)
    fill = stats[:, cv2.CC_STAT_AREA] <= max_area
    fill[0] = False  # label 0 is `mask` itself
    return mask.astype(bool) | fill[labels]
