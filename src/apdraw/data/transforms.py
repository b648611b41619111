"""Shared augmentation helpers for (image, label map) pairs.

All functions take a ``numpy.random.Generator`` so callers control randomness
(the training loop seeds one per sample for exact resume). Images are
(H, W, 3) uint8 RGB; label maps are (H, W) uint8 class ids. Geometric helpers
transform both with one matrix (bilinear for the image, nearest for labels);
photometric helpers touch the image only.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def hflip(image: np.ndarray, labels: np.ndarray | None = None, label_map: np.ndarray | None = None):
    """Mirror left-right. ``label_map`` (a 256-entry or n-class LUT) renames labels that swap sides.

    Returns ``(image, labels)``; ``labels`` is None when not given.
    """
    image = np.ascontiguousarray(image[:, ::-1])
    if labels is None:
        return image, None
    labels = np.ascontiguousarray(labels[:, ::-1])
    if label_map is not None:
        labels = label_map[labels]
    return image, labels


def affine_matrix(
    src_size: tuple[int, int],
    out_size: int,
    scale: float = 1.0,
    angle_deg: float = 0.0,
    shift: tuple[float, float] = (0.0, 0.0),
    center: tuple[float, float] | None = None,
) -> np.ndarray:
    """2x3 matrix mapping a (h, w) source into an out_size² frame.

    At ``scale=1`` the source's longer side fills the frame, centred. ``scale`` < 1
    shrinks the content (re-framing: the face becomes smaller, new border area
    appears); ``angle_deg`` rotates about the centre (counter-clockwise);
    ``shift`` moves the content by that fraction of out_size. ``center`` (x, y) is
    the source point placed at the frame centre (default: the source's centre).
    """
    h, w = src_size
    s = scale * out_size / max(h, w)
    a = math.radians(angle_deg)
    cos, sin = s * math.cos(a), s * math.sin(a)
    cx, cy = center if center is not None else (w / 2.0, h / 2.0)
    ox = out_size / 2.0 + shift[0] * out_size
    oy = out_size / 2.0 + shift[1] * out_size
    # Rotate+scale about the source centre, then place the centre at (ox, oy).
    return np.array([[cos, sin, ox - cos * cx - sin * cy], [-sin, cos, oy + sin * cx - cos * cy]], dtype=np.float64)


def warp_pair(
    image: np.ndarray, labels: np.ndarray, matrix: np.ndarray, out_size: int, fill_label: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply a 2x3 affine to image (bilinear) and labels (nearest).

    Returns (image, labels, valid): ``valid`` is an (out, out) float32 coverage in
    [0, 1] of the source, used to composite a new background into the border.
    """
    shrink = abs(np.linalg.det(matrix[:, :2])) ** 0.5
    # Pre-blur when shrinking a lot, so bilinear sampling does not alias.
    if shrink < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), sigmaX=0.4 / shrink)
    size = (out_size, out_size)
    img = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    lab = cv2.warpAffine(labels, matrix, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=fill_label)
    ones = np.ones(image.shape[:2], np.float32)
    valid = cv2.warpAffine(ones, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return img, lab, valid


def composite(foreground: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """alpha·fg + (1 − alpha)·bg; (H, W, 3) uint8 images, (H, W) alpha in [0, 1]."""
    a = alpha[..., None].astype(np.float32)
    out = foreground.astype(np.float32) * a + background.astype(np.float32) * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def random_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A synthetic (size, size, 3) uint8 backdrop: a smooth colour field with texture and shapes.

    Stands in for the walls, rooms and outdoor scenes behind real photos, which
    CelebA's tight crops rarely show.
    """
    grid = rng.integers(2, 6)
    field = rng.uniform(0, 255, (grid, grid, 3)).astype(np.float32)
    bg = cv2.resize(field, (size, size), interpolation=cv2.INTER_CUBIC)
    for _ in range(rng.integers(0, 6)):
        colour = rng.uniform(0, 255, 3).tolist()
        x0, y0 = rng.integers(0, size, 2)
        x1, y1 = rng.integers(0, size, 2)
        if rng.random() < 0.5:
            cv2.rectangle(bg, (int(x0), int(y0)), (int(x1), int(y1)), colour, -1)
        else:
            cv2.line(bg, (int(x0), int(y0)), (int(x1), int(y1)), colour, int(rng.integers(1, 12)))
    noise_sigma = rng.uniform(0, 20)
    if noise_sigma > 1:
        noise = rng.normal(0, noise_sigma, (size // 4, size // 4, 1)).astype(np.float32)
        bg += cv2.resize(noise, (size, size), interpolation=cv2.INTER_LINEAR)[..., None]
    bg = cv2.GaussianBlur(bg, (0, 0), sigmaX=rng.uniform(0.5, 3.0))
    return np.clip(bg, 0, 255).astype(np.uint8)


def color_jitter(
    image: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 0.3,
    contrast: float = 0.3,
    saturation: float = 0.4,
    hue_deg: float = 8.0,
    gamma: float = 0.3,
) -> np.ndarray:
    """Random brightness/contrast/saturation/hue/gamma, each drawn from ±its amount."""
    x = image.astype(np.float32) / 255.0
    x = x * (1.0 + rng.uniform(-brightness, brightness))
    mean = x.mean()
    x = (x - mean) * (1.0 + rng.uniform(-contrast, contrast)) + mean
    gray = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = gray[..., None] + (x - gray[..., None]) * (1.0 + rng.uniform(-saturation, saturation))
    x = np.clip(x, 0, 1) ** math.exp(rng.uniform(-gamma, gamma))
    out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if hue_deg > 0:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)  # OpenCV hue is in [0, 180): 2 degrees per unit
        shift = int(round(rng.uniform(-hue_deg, hue_deg) / 2.0))
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> the same shape with equal channels (luma)."""
    from apdraw.io import to_gray

    return np.repeat(to_gray(image)[..., None], 3, axis=2)


def random_blur(image: np.ndarray, rng: np.random.Generator, max_sigma: float = 2.0) -> np.ndarray:
    """Gaussian blur with sigma uniform in [0.3, max_sigma] (defocus, low-res sources)."""
    return cv2.GaussianBlur(image, (0, 0), sigmaX=rng.uniform(0.3, max_sigma))


def jpeg_noise(image: np.ndarray, rng: np.random.Generator, quality: tuple[int, int] = (30, 90)) -> np.ndarray:
    """Round-trip through JPEG at a random quality (compression artefacts)."""
    q = int(rng.integers(quality[0], quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy() if ok else image
