"""Masks of an aligned face: the APDrawingGAN local boxes, hair and background regions.

All masks live in the aligned S x S frame (S = 512 for APDrawing). Boolean masks
are (S, S) ``bool``; the foreground mask is (S, S) ``uint8`` 0/255 (white =
person), the format of the original ``mask/*.png`` files.

Local boxes (sizes in :mod:`apdraw.parts`) are ``(x0, y0, x1, y1)`` integer
pixel bounds with x1, y1 *exclusive* (``img[y0:y1, x0:x1]``). They are computed
from the *integer* landmarks as the original stores them in its ``.txt`` files
(MATLAB 1-based rounding, see :func:`apdraw.face.align.txt_landmarks`), so a
model trained on original data sees its parts in the same place. Boxes are not
clipped: one may stick out of the frame for an extreme face; the masks clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from apdraw.parts import PART_NAMES, box_sizes

Box = tuple[int, int, int, int]


def local_boxes(landmarks_int: np.ndarray, size: int = 512) -> dict[str, Box]:
    """The four APDrawingGAN part boxes.

    Args:
        landmarks_int: (5, 2) integer landmarks as stored in an original ``.txt``
            (left eye, right eye, nose, left mouth, right mouth).
        size: side of the aligned frame; box sizes and offsets scale by size / 256.

    Returns:
        {"eyel", "eyer", "nose", "mouth"} -> (x0, y0, x1, y1), end-exclusive.
        At 512: eyes 112x80 centred (x, y - 8), nose 96x96 centred (x, y - 16),
        mouth 128x80 centred on the integer mean of the mouth corners.
    """
    lm = np.asarray(landmarks_int)
    if lm.shape != (5, 2):
        raise ValueError(f"expected (5, 2) landmarks, got {lm.shape}")
    lm = lm.astype(np.int64)
    ratio = size / 256.0
    wh = box_sizes(size)
    eye_dy = int(round(4 * ratio))
    # The original centres the nose at y - NOSE_H/2 + 16*ratio, i.e. y - 8*ratio.
    nose_dy = wh["nose"][1] // 2 - int(round(16 * ratio))
    centres = {
        "eyel": (int(lm[0, 0]), int(lm[0, 1]) - eye_dy),
        "eyer": (int(lm[1, 0]), int(lm[1, 1]) - eye_dy),
        "nose": (int(lm[2, 0]), int(lm[2, 1]) - nose_dy),
        # int() of a half-integer mean truncates, as the original's int() does.
        "mouth": (int((lm[3, 0] + lm[4, 0]) / 2), int((lm[3, 1] + lm[4, 1]) / 2)),
    }
    boxes = {}
    for name in PART_NAMES:
        (cx, cy), (w, h) = centres[name], wh[name]
        boxes[name] = (cx - w // 2, cy - h // 2, cx - w // 2 + w, cy - h // 2 + h)
    return boxes


def box_mask(boxes: dict[str, Box], size: int = 512) -> np.ndarray:
    """(size, size) bool, True inside any of the boxes (clipped to the frame)."""
    mask = np.zeros((size, size), bool)
    for x0, y0, x1, y1 in boxes.values():
        mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    return mask


def hair_region(fg: np.ndarray, boxes: dict[str, Box]) -> np.ndarray:
    """The original's "hair" region: foreground minus the four boxes, (S, S) bool.

    It holds skin, hair, neck and clothes, not only hair. ``fg`` is (S, S),
    foreground where >= 128 (uint8) or True (bool).
    """
    fgb = _as_bool(fg)
    return fgb & ~box_mask(boxes, fgb.shape[0])


def bg_region(fg: np.ndarray) -> np.ndarray:
    """The background region 1 - fg as (S, S) bool."""
    return ~_as_bool(fg)


def _as_bool(mask: np.ndarray) -> np.ndarray:
    return mask if mask.dtype == bool else np.asarray(mask) >= 128


def ellipse_mask(box: Box, size: int) -> np.ndarray:
    """(size, size) bool filled ellipse inscribed in an end-exclusive box."""
    x0, y0, x1, y1 = box
    mask = np.zeros((size, size), np.uint8)
    centre = ((x0 + x1 - 1) / 2.0, (y0 + y1 - 1) / 2.0)
    axes = ((x1 - x0) / 2.0, (y1 - y0) / 2.0)
    cv2.ellipse(mask, (centre, (2 * axes[0], 2 * axes[1]), 0.0), 1, thickness=-1)
    return mask.astype(bool)


@dataclass
class FaceMasks:
    """Everything a drawing model needs to know about an aligned S x S face.

    Attributes:
        fg: (S, S) uint8, 255 = person (face, hair, neck, clothes), 0 = background.
        parts: {"eyel", "eyer", "nose", "mouth"} -> (S, S) bool. Eyes include the
            brows; "eyel" is the image-left eye. Mouth covers the lips.
        face_oval: (S, S) bool, the face inside its outline (forehead to chin).
        boxes: {"eyel", "eyer", "nose", "mouth"} -> (x0, y0, x1, y1) end-exclusive.
        dense_landmarks: (N, 2) float 0-based (x, y) of a dense face mesh, or None.
        jaw: (K, 2) float polyline along the lower face outline, image-left ear to
            image-right ear via the chin, or None when unknown.
        extras: further named (S, S) bool masks a backend may supply (for
            example a face parser's true hair or skin); empty by default.
    """

    fg: np.ndarray
    parts: dict[str, np.ndarray]
    face_oval: np.ndarray
    boxes: dict[str, Box]
    dense_landmarks: np.ndarray | None = None
    jaw: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.fg.shape[0])

    @property
    def box_mask(self) -> np.ndarray:
        """(S, S) bool, True inside the four local boxes."""
        return box_mask(self.boxes, self.size)

    @property
    def hair(self) -> np.ndarray:
        """(S, S) bool, the original's hair region: foreground minus the boxes."""
        return hair_region(self.fg, self.boxes)

    @property
    def bg(self) -> np.ndarray:
        """(S, S) bool, background = not foreground."""
        return bg_region(self.fg)
