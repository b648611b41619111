"""Orientation fields and streamline integration (the "flow" half of FDoG and LIC).

All fields are float32 arrays on the pixel grid. A tangent field is (H, W, 2) of unit
vectors (tx, ty) in pixel units (x to the right, y down); it is an *orientation* field,
so t and -t mean the same thing and integration keeps the sign consistent step by step.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np


def structure_tensor_flow(gray: np.ndarray, grad_sigma: float, tensor_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Edge tangent flow from the smoothed structure tensor.

    Args:
        gray: (H, W) float32 image, any range (typically [0, 1]).
        grad_sigma: Gaussian pre-blur before Sobel derivatives (px).
        tensor_sigma: Gaussian integration scale of the tensor (px); larger = smoother flow.

    Returns:
        tangent: (H, W, 2) float32 unit vectors along iso-lines (perpendicular to the
            dominant gradient), i.e. along edges and along hair strands.
        coherence: (H, W) float32 in [0, 1]; 1 = one clear orientation, 0 = isotropic/flat.
    """
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), grad_sigma) if grad_sigma > 0 else gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    # The tensor (not the gradient) is averaged: opposite gradients across a thin line
    # reinforce instead of cancelling.
    e = cv2.GaussianBlur(gx * gx, (0, 0), tensor_sigma)
    f = cv2.GaussianBlur(gx * gy, (0, 0), tensor_sigma)
    h = cv2.GaussianBlur(gy * gy, (0, 0), tensor_sigma)
    # Eigenvector of the larger eigenvalue via half-angle identities (cheaper than
    # arctan2 + sin + cos): the gradient direction is (cos t, sin t) with
    # cos 2t = (e - h) / root and sin 2t = 2f / root.
    root = np.sqrt((e - h) ** 2 + 4.0 * f * f)
    safe = np.maximum(root, 1e-12)
    cos2 = np.where(root > 1e-12, (e - h) / safe, 1.0)
    cos_t = np.sqrt(np.clip(0.5 * (1.0 + cos2), 0.0, 1.0))
    sin_t = np.copysign(np.sqrt(np.clip(0.5 * (1.0 - cos2), 0.0, 1.0)), f)
    tangent = np.empty(gray.shape + (2,), np.float32)
    tangent[..., 0] = -sin_t
    tangent[..., 1] = cos_t
    trace = e + h
    coherence = np.where(trace > 1e-12, root / np.maximum(trace, 1e-12), 0.0).astype(np.float32)
    return tangent, coherence


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


def line_integral_convolution(noise: np.ndarray, tangent: np.ndarray, length: float, step: float = 1.0) -> np.ndarray:
    """LIC: box-average `noise` along streamlines of total arc length ~2*`length`.

    Args:
        noise: (H, W) float32 texture (e.g. white noise in [0, 1]).
        tangent: (H, W, 2) unit orientation field.
        length: half length of the integration path (px).

    Returns:
        (H, W) float32 streaks elongated along the flow, in the range of `noise`.
    """
    noise = noise.astype(np.float32)
    acc = noise.copy()
    n = max(1, int(round(length / step)))
    count = 1
    for _, mx, my in streamlines(tangent, n, step):
        acc += cv2.remap(noise, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        count += 1
    return acc / count
