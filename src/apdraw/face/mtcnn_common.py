"""The torch-free parts of MTCNN, shared by the torch cascade (``mtcnn.py``) and the
onnxruntime one (``mtcnn_onnx.py``): the weights' location, :class:`Detection`, the
box arithmetic, crops and a numpy NMS. Importing this module imports no torch.

Coordinates are 0-based pixel indices, as in ``mtcnn.py``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

NET_NAMES = ("pnet", "rnet", "onet")


def weights_dir() -> Path:
    """Folder holding ``pnet.pt``, ``rnet.pt``, ``onet.pt`` inside the facenet-pytorch wheel."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "MTCNN weights not found: install them with `pip install --no-deps facenet-pytorch==2.6.0` "
            "(only its data files are used; the package itself is never imported)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data"


@dataclass(frozen=True)
class Detection:
    """One face: ``box`` (x1, y1, x2, y2) float photo pixels (inclusive corners),
    ``score`` in [0, 1], ``landmarks5`` (5, 2) float (x, y) photo pixels in APDrawing order."""

    box: tuple[float, float, float, float]
    score: float
    landmarks5: np.ndarray

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0] + 1) * max(0.0, self.box[3] - self.box[1] + 1)


def nms_numpy(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression in numpy: the same result as :func:`apdraw.face.mtcnn.nms`.

    Args:
        boxes: (N, 4) float, inclusive pixel boxes (x1, y1, x2, y2); a box covers
            (x2 - x1 + 1) * (y2 - y1 + 1) pixels, as in the original MTCNN.
        scores: (N,) float.
        threshold: a box is dropped when its overlap with a kept, higher-scoring
            box is strictly greater than this.
        mode: "union" (IoU) or "min" (intersection over the smaller area).

    Returns:
        (K,) int64 indices of kept boxes, highest score first (ties: lower index first).
    """
    if mode not in ("union", "min"):
        raise ValueError(f"nms mode must be 'union' or 'min', not {mode!r}")
    n = boxes.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # Stable descending order (ties keep their index order), as torch.argsort(descending=True, stable=True).
    order = np.argsort(-np.asarray(scores), kind="stable")
    b = np.asarray(boxes)[order].astype(np.float64)
    area = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    keep: list[int] = []
    removed = np.zeros(n, dtype=bool)
    block = max(1, min(n, 1_000_000 // n))
    for start in range(0, n, block):
        rows = b[start : start + block]
        iw = np.minimum(rows[:, None, 2], b[None, :, 2]) - np.maximum(rows[:, None, 0], b[None, :, 0]) + 1
        ih = np.minimum(rows[:, None, 3], b[None, :, 3]) - np.maximum(rows[:, None, 1], b[None, :, 1]) + 1
        inter = np.maximum(iw, 0) * np.maximum(ih, 0)
        ra = area[start : start + block, None]
        denom = np.minimum(ra, area[None]) if mode == "min" else ra + area[None] - inter
        over = inter / denom > threshold
        for r in range(over.shape[0]):
            if not removed[start + r]:
                keep.append(start + r)
                removed |= over[r]
    return order[np.asarray(keep, dtype=np.int64)]


def _square(boxes: np.ndarray) -> np.ndarray:
    """Grow (N, 4) boxes to squares around their centres (MTCNN's ``rerec``)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) * 0.5
    out[:, 1] = boxes[:, 1] + (h - side) * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply (N, 4) offsets given in units of the inclusive box size (MTCNN's ``bbreg``)."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes + reg * np.stack([w, h, w, h], axis=1)


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    shrink = w < img.shape[1] or h < img.shape[0]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Cut inclusive integer boxes out of ``image`` (zero fill outside), resize each to size².

    Returns (N, size, size, 3) uint8.
    """
    h, w = image.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        x1, y1, x2, y2 = int(x1), int(y1), int(x2), int(y2)
        if x2 < x1 or y2 < y1:
            continue
        patch = np.zeros((y2 - y1 + 1, x2 - x1 + 1, 3), np.uint8)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w - 1), min(y2, h - 1)
        if sx2 >= sx1 and sy2 >= sy1:
            patch[sy1 - y1 : sy2 - y1 + 1, sx1 - x1 : sx2 - x1 + 1] = image[sy1 : sy2 + 1, sx1 : sx2 + 1]
        out[k] = _resize(patch, size, size)
    return out


def _scales(h: int, w: int, min_face_size: int, factor: float) -> list[float]:
    """The P-Net pyramid's scales for an (h, w) image."""
    m = 12.0 / min_face_size
    scales, side = [], min(h, w) * m
    while side >= 12:
        scales.append(m * factor ** len(scales))
        side *= factor
    return scales


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
