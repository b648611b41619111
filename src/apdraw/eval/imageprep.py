"""The one resize and quantisation rule every metric uses.

Every image, predicted or reference, goes through the same two steps before a
metric sees it, so that no difference between two sets comes from preprocessing:

1. decode with :func:`apdraw.io.load_image` to (H, W, 3) uint8 RGB;
2. resize with PIL's antialiased bicubic filter straight to the metric's working
   size, then round back to uint8 (the quantisation step, applied to both sets).

Gray drawings stay 3-channel RGB (R = G = B) for the ImageNet networks; paired
metrics use luminance (ITU-R BT.601, as PIL's ``L`` mode).
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_u8(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Antialiased bicubic resize with uint8 output.

    Args:
        image: (H, W) or (H, W, 3) uint8.
        size: (width, height) of the result.

    Returns:
        uint8 array of shape (height, width[, 3]); the input itself when already that size.
    """
    h, w = image.shape[:2]
    if (w, h) == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize(tuple(size), Image.Resampling.BICUBIC))


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 -> (H, W, 3) uint8."""
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def paired_size(ref_shape: tuple[int, ...], long_side: int = 512) -> tuple[int, int]:
    """(width, height) for paired metrics: the reference's aspect with its longer side `long_side`.

    APDrawing images are 512x512, so for them this is exactly 512x512.
    """
    h, w = ref_shape[:2]
    scale = long_side / max(h, w)
    return max(1, round(w * scale)), max(1, round(h * scale))
