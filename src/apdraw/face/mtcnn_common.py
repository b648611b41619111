"""The torch-free parts of MTCNN, shared by the torch cascade (``mtcnn.py``) and the
onnxruntime one (``mtcnn_onnx.py``): the weights' location, :class:`Detection`, the
box arithmetic, crops and a numpy NMS. Importing this module imports no torch.

Coordinates are 0-based pixel indices, as in ``mtcnn.py``.
"""

from __future__ import annotations

import contextlib

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


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")


def decode_onet(boxes: np.ndarray, prob: np.ndarray, reg: np.ndarray, pts: np.ndarray, threshold: float) -> list[Detection]:
    """O-Net's outputs on the crops of ``boxes`` -> final detections in photo pixels (float64 throughout).

    Keeps faces with ``prob > threshold``, decodes the 5 landmarks (point = box corner +
    fraction * inclusive size - 1, as MTCNN does), regresses the boxes and removes
    overlaps ("min" NMS at 0.7).
    """
    ok = prob > threshold
    boxes, prob, reg, pts = boxes[ok], prob[ok], reg[ok], pts[ok]
    if len(boxes) == 0:
        return []
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    lx = pts[:, :5] * w[:, None] + boxes[:, 0:1] - 1
    ly = pts[:, 5:] * h[:, None] + boxes[:, 1:2] - 1
    boxes = _regress(boxes, reg)
    keep = nms_numpy(boxes, prob, 0.7, "min")
    return [Detection(tuple(float(v) for v in boxes[k]), float(prob[k]), np.stack([lx[k], ly[k]], 1)) for k in keep]


class CascadeDetector:
    """The MTCNN cascade's control flow, whatever runs its three networks.

    Subclasses (:class:`apdraw.face.mtcnn.MTCNN` on torch,
    :class:`apdraw.face.mtcnn_onnx.OnnxMTCNN` on onnxruntime) provide ``max_side``,
    the stages ``_stage1`` (P-Net pyramid), ``_stage2`` (R-Net) and ``_stage3``
    (O-Net), and ``_context()``: how the networks run (threads, no-grad).
    """

    def __init__(self, min_face_size: int, thresholds: tuple[float, float, float], factor: float, max_side: int) -> None:
        if min_face_size < 12:
            raise ValueError("min_face_size must be at least 12 (P-Net's window)")
        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self.factor = factor
        self.max_side = max_side

    def _scales(self, h: int, w: int) -> list[float]:
        """The P-Net pyramid's scales for an (h, w) image."""
        m = 12.0 / self.min_face_size
        scales, side = [], min(h, w) * m
        while side >= 12:
            scales.append(m * self.factor ** len(scales))
            side *= self.factor
        return scales

    def _context(self) -> "contextlib.AbstractContextManager":
        return contextlib.nullcontext()

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Find faces and their 5 landmarks in an (H, W, 3) uint8 RGB photo.

        Returns:
            Detections sorted largest box first (ties: higher score first); [] when none.
        """
        return self.landmarks(image, self.propose(image))

    def propose(self, image: np.ndarray) -> np.ndarray:
        """Stages 1-2 (P-Net pyramid, R-Net): candidate face squares.

        Returns:
            (M, 5) float64 rows (x1, y1, x2, y2, score), inclusive integer corners
            in photo pixels; pass them to :meth:`landmarks`.
        """
        _check_image(image)
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = image if scale == 1.0 else _resize(image, max(1, round(w * scale)), max(1, round(h * scale)))
        # The factor actually applied after rounding (x axis; y differs by < 1 px).
        scale = small.shape[1] / w if scale != 1.0 else 1.0
        with self._context():
            cand = self._stage1(small)
            if len(cand):
                cand = self._stage2(small, cand)
        if len(cand) and scale != 1.0:
            # Map the squares found on the downscaled copy to integer photo pixels.
            cand = cand.copy()
            cand[:, :2] = np.floor(cand[:, :2] / scale)
            cand[:, 2:4] = np.ceil((cand[:, 2:4] + 1) / scale) - 1
        return cand

    def landmarks(self, image: np.ndarray, proposals: np.ndarray) -> list[Detection]:
        """Stage 3 (O-Net) on full-resolution crops: final boxes, scores and 5 landmarks.

        Returns:
            Detections sorted largest box first (ties: higher score first).
        """
        _check_image(image)
        if len(proposals) == 0:
            return []
        with self._context():
            faces = self._stage3(image, proposals)
        return sorted(faces, key=lambda d: (-d.area, -d.score))
