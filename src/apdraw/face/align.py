"""Alignment to the APDrawing 512x512 template, its inverse, and landmark flips.

Conventions: images are (H, W, C) or (H, W) uint8 arrays; points are (N, 2)
float arrays of (x, y) in 0-based pixel coordinates, where pixel ``img[y, x]``
is centred on the integer position (OpenCV's convention).

The template (the original preprocessing script ``face_align_512.m``) maps the raw 480-frame points
(180, 230), (300, 230), (240, 301), (186, 365.6), (294, 365.6) by
``(c - 240) / 560 * 512 + 256``. Those values are MATLAB 1-based coordinates, so
:data:`TEMPLATE_512` subtracts 1. A least-squares similarity is equivariant to
translating both point sets, so fitting 0-based photo points to the 0-based
template gives exactly MATLAB's ``cp2tform(..., 'similarity')`` +
``imtransform(XData=[1 512], YData=[1 512])`` result, re-indexed from 0.

The original ``_aligned.txt`` files store the transformed points rounded in
MATLAB's 1-based frame, and the training code reads them as 0-based indices:
they sit one pixel right/below the 0-based truth. :func:`landmarks_to_txt`
writes that same convention so datasets built with apdraw mix with the
original ones; :func:`landmarks_from_txt` reads it back.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# Raw template of face_align_512.m in its 480-wide frame (1-based MATLAB units).
_RAW_480 = np.array([[180.0, 230.0], [300.0, 230.0], [240.0, 301.0], [186.0, 365.6], [294.0, 365.6]])

#: APDrawing 512x512 template in MATLAB's 1-based coordinates (the original's own numbers).
TEMPLATE_512_MATLAB = (_RAW_480 - 240.0) / 560.0 * 512.0 + 256.0

#: The same template in 0-based pixel coordinates: (5, 2) float, APDrawing landmark order.
TEMPLATE_512 = TEMPLATE_512_MATLAB - 1.0

WHITE = 255


def template(size: int = 512) -> np.ndarray:
    """The 0-based template for a ``size`` x ``size`` output: (5, 2) float.

    Scaling keeps pixel centres consistent: continuous coordinate x + 0.5 scales
    by size / 512, so a 256 output holds exactly the 512 output shrunk by 2.
    """
    if size == 512:
        return TEMPLATE_512.copy()
    return (TEMPLATE_512 + 0.5) * (size / 512.0) - 0.5


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares non-reflective similarity mapping ``src`` onto ``dst``.

    Minimises sum_i |s R src_i + t - dst_i|^2 over scale s > 0, rotation R and
    translation t, in closed form (the optimum of the linear model
    [[a, -b], [b, a]] x + t, which is a similarity for any real a, b).

    Args:
        src, dst: (N, 2) float points, N >= 2, not all ``src`` identical.

    Returns:
        (2, 3) float64 affine matrix M with dst ~= M[:, :2] @ src + M[:, 2].
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two matching (N>=2, 2) point sets, got {src.shape} and {dst.shape}")
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    norm = float((s**2).sum())
    if norm <= 1e-12:
        raise ValueError("source points are all identical; no similarity is defined")
    a = float((s * d).sum()) / norm
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / norm
    rot = np.array([[a, -b], [b, a]])
    return np.concatenate([rot, (md - rot @ ms)[:, None]], 1)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (N, 2) points -> (N, 2) float64."""
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix, as (2, 3) float64."""
    lin = np.linalg.inv(matrix[:, :2])
    return np.concatenate([lin, (-lin @ matrix[:, 2])[:, None]], 1)


def _white(image: np.ndarray) -> tuple[int, ...] | int:
    return (WHITE,) * image.shape[2] if image.ndim == 3 else WHITE


def warp(image: np.ndarray, matrix: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Warp ``image`` by the (2, 3) forward matrix (source -> output pixels).

    Bilinear, no antialiasing (MATLAB ``imtransform``'s default), white outside
    the source. Returns (out_h, out_w[, C]) uint8.
    """
    return cv2.warpAffine(
        image,
        np.asarray(matrix, np.float64),
        (int(out_hw[1]), int(out_hw[0])),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=_white(image),
    )


def align_face(image: np.ndarray, landmarks5: np.ndarray, size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Align a face to the APDrawing template.

    Args:
        image: (H, W, 3) uint8 RGB photo, any size; faces cut by its border are fine.
        landmarks5: (5, 2) float photo points in APDrawing order.
        size: output side (512 is the APDrawing frame).

    Returns:
        aligned (size, size, 3) uint8 with white where the photo has no pixels,
        and the (2, 3) photo -> aligned matrix.
    """
    matrix = fit_similarity(landmarks5, template(size))
    return warp(image, matrix, (size, size)), matrix


def paste_back(
    drawing: np.ndarray, matrix: np.ndarray, photo_hw: tuple[int, int], size: int | None = None
) -> np.ndarray:
    """Put an aligned drawing back into the photo's frame, white outside it.

    Args:
        drawing: (S, S) or (S, S, C) uint8 in the aligned frame.
        matrix: the (2, 3) photo -> aligned matrix used to make the aligned crop
            for a ``size`` x ``size`` frame (defaults to S, i.e. the drawing's own size).
            A drawing of another size is rescaled to that frame first.
        photo_hw: (H, W) of the photo.

    Returns:
        (H, W) or (H, W, C) uint8: the drawing warped into photo coordinates.
    """
    s = drawing.shape[0]
    size = s if size is None else size
    m = np.asarray(matrix, np.float64)
    if s != size:
        # Compose with the scale between the matrix's frame and the drawing (pixel-centre exact).
        k = s / size
        m = np.concatenate([m[:, :2] * k, (m[:, 2:] + 0.5) * k - 0.5], 1)
    return cv2.warpAffine(
        drawing,
        m,
        (int(photo_hw[1]), int(photo_hw[0])),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=_white(drawing),
    )


#: Index permutation that swaps left/right eyes and mouth corners (nose stays).
FLIP_ORDER = np.array([1, 0, 2, 4, 3])


def flip_landmarks(landmarks5: np.ndarray, width: int) -> np.ndarray:
    """Mirror (5, 2) points for an image of ``width``: x' = width - 1 - x, then
    swap eyes and mouth corners so the order stays image-left first."""
    out = np.asarray(landmarks5, np.float64).copy()
    out[:, 0] = width - 1 - out[:, 0]
    return out[FLIP_ORDER]


def flip_horizontal(image: np.ndarray, landmarks5: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror an image and its 5 landmarks (the APDrawingGAN training augmentation).

    Returns the flipped (H, W[, C]) image (a copy) and flipped (5, 2) landmarks.
    """
    return np.ascontiguousarray(image[:, ::-1]), flip_landmarks(landmarks5, image.shape[1])


def txt_landmarks(landmarks5: np.ndarray) -> np.ndarray:
    """0-based float (5, 2) points -> the integers the original stores, round(p + 1), int64.

    MATLAB's round (half away from zero) equals floor(v + 0.5) for these positive values.
    """
    return np.floor(np.asarray(landmarks5, np.float64) + 1.5).astype(np.int64)


def landmarks_to_txt(landmarks5: np.ndarray) -> str:
    """Format 0-based (5, 2) points as an original-style ``_aligned.txt``:
    5 lines ``x y`` of integers in MATLAB's 1-based convention (:func:`txt_landmarks`)."""
    return "".join(f"{x} {y}\n" for x, y in txt_landmarks(landmarks5))


def landmarks_from_txt(source: str | Path) -> np.ndarray:
    """Read an original-style landmark ``.txt`` (path) -> (5, 2) int64, as stored.

    The values are returned unchanged (they are the indices the original
    training code uses); subtract 1 for 0-based geometric positions.
    """
    rows = [line.split() for line in Path(source).read_text().splitlines() if line.strip()]
    pts = np.array([[int(float(v)) for v in r[:2]] for r in rows], np.int64)
    if pts.shape != (5, 2):
        raise ValueError(f"{source}: expected 5 lines of 'x y', got shape {pts.shape}")
    return pts
