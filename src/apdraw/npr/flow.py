"""Orientation fields and streamline integration (the "flow" half of FDoG).

All fields are float32 arrays on the pixel grid. A tangent field is (H, W, 2) of unit
vectors (tx, ty) in pixel units (x to the right, y down); it is an *orientation* field,
so t and -t mean the same thing and integration keeps the sign consistent step by step.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np


def tensor_products(gray: np.ndarray, grad_sigma: float) -> np.ndarray:
    """Per-pixel structure tensor entries before integration.

    Args:
        gray: (H, W) float image, any range (typically [0, 1]).
        grad_sigma: Gaussian pre-blur before the Sobel derivatives (px).

    Returns:
        (H, W, 3) float32 (gx*gx, gx*gy, gy*gy).
    """
    g = gray.astype(np.float32)
    if grad_sigma > 0:
        g = cv2.GaussianBlur(g, (0, 0), grad_sigma)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return np.dstack([gx * gx, gx * gy, gy * gy])


def tangent_field(products: np.ndarray, tensor_sigma: float) -> np.ndarray:
    """Edge tangent flow: minor eigenvector of the Gaussian-integrated structure tensor.

    The tensor (not the gradient) is averaged, so opposite gradients on the two sides of
    a thin line reinforce instead of cancelling.

    Args:
        products: (H, W, 3) output of `tensor_products`.
        tensor_sigma: integration scale (px); larger = smoother, longer-range flow.

    Returns:
        (H, W, 2) float32 unit vectors along iso-lines (perpendicular to the dominant
        gradient), i.e. along edges and hair strands; (0, 1) where the image is flat.
    """
    j = cv2.GaussianBlur(products, (0, 0), tensor_sigma)
    e, f, h = j[..., 0], j[..., 1], j[..., 2]
    # Gradient direction (cos t, sin t) from half-angle identities (cheaper than
    # arctan2 + sin + cos): cos 2t = (e - h) / root, sin 2t = 2f / root.
    root = np.sqrt((e - h) ** 2 + 4.0 * f * f)
    cos2 = np.where(root > 1e-12, (e - h) / np.maximum(root, 1e-12), 1.0)
    tangent = np.empty(e.shape + (2,), np.float32)
    tangent[..., 0] = -np.copysign(np.sqrt(np.clip(0.5 * (1.0 - cos2), 0.0, 1.0)), f)
    tangent[..., 1] = np.sqrt(np.clip(0.5 * (1.0 + cos2), 0.0, 1.0))
    return tangent


def structure_tensor_flow(gray: np.ndarray, grad_sigma: float, tensor_sigma: float) -> np.ndarray:
    """`tangent_field(tensor_products(gray, grad_sigma), tensor_sigma)`: (H, W) -> (H, W, 2)."""
    return tangent_field(tensor_products(gray, grad_sigma), tensor_sigma)


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.indices(shape, dtype=np.float32)
    return xs, ys


def streamlines(tangent: np.ndarray, n_steps: int, step: float = 1.0) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
    """Trace the streamline through every pixel, both ways, with Euler steps.

    Yields ``(arc_length, map_x, map_y)`` for k = 1..n_steps forward then backward; the
    maps are (H, W) float32 sample positions for ``cv2.remap``. Vectors are looked up
    nearest-neighbour (orientation fields cannot be bilinearly averaged because of the
    sign ambiguity) and flipped to agree with the previous step, so a streamline never
    reverses.
    """
    xs, ys = _grid(tangent.shape[:2])
    for direction in (1.0, -1.0):
        px, py = xs.copy(), ys.copy()
        dx = tangent[..., 0] * direction
        dy = tangent[..., 1] * direction
        for k in range(1, n_steps + 1):
            t = cv2.remap(tangent, px, py, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
            flip = (t[..., 0] * dx + t[..., 1] * dy) < 0
            dx = np.where(flip, -t[..., 0], t[..., 0])
            dy = np.where(flip, -t[..., 1], t[..., 1])
            px = px + step * dx
            py = py + step * dy
            yield k * step, px, py


def flow_smooth(values: np.ndarray, tangent: np.ndarray, sigma: float, step: float = 1.0) -> np.ndarray:
    """Gaussian-weighted average of `values` along the streamlines of `tangent`.

    Args:
        values: (H, W) float32.
        tangent: (H, W, 2) unit orientation field.
        sigma: arc-length standard deviation (px); integration runs to 2 sigma each way.

    Returns:
        (H, W) float32, same range as `values`.
    """
    values = values.astype(np.float32)
    acc = values.copy()
    wsum = 1.0
    n = max(1, int(np.ceil(2.0 * sigma / step)))
    for s, mx, my in streamlines(tangent, n, step):
        w = float(np.exp(-0.5 * (s / sigma) ** 2))
        acc += w * cv2.remap(values, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        wsum += w
    return acc / wsum


def gradient_profile(values: np.ndarray, tangent: np.ndarray, weights: dict[float, float]) -> np.ndarray:
    """Weighted sum of samples along the gradient direction (perpendicular to `tangent`).

    Args:
        values: (H, W) float32.
        tangent: (H, W, 2) unit orientation field.
        weights: offset (px, along the gradient) -> weight.

    Returns:
        (H, W) float32 filtered image (a 1-D convolution across every edge).
    """
    xs, ys = _grid(values.shape)
    nx, ny = tangent[..., 1], -tangent[..., 0]  # gradient = tangent rotated by 90 degrees
    out = np.zeros(values.shape, np.float32)
    for offset, w in weights.items():
        if offset == 0:
            out += w * values
            continue
        sample = cv2.remap(values, xs + offset * nx, ys + offset * ny, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out += w * sample
    return out
