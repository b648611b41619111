"""A :class:`~apdraw.face.pipeline.MaskBackend` built on the 19-class face parser.

Two ways to use it (``FacePipeline(mask_backend=...)``):

* ``"parser"``: every mask comes from the parser: foreground (person = any
  non-background class), part masks (eyes + brows, nose, lips + mouth; dilated
  like the MediaPipe ones), the face oval (skin and inner parts) and a jaw line
  traced along the face region's lower edge.
* ``"mediapipe+parser"``: MediaPipe's masks (selfie-segmentation foreground,
  face-mesh parts, jaw, dense landmarks) with the parser's regions added to
  ``extras``, including its own foreground as the alternative background mask.

Either way ``FaceMasks.extras`` holds these (S, S) bool masks:
``hair``, ``skin`` (class skin only), ``face`` (skin + nose + eyes + brows +
mouth + lips), ``neck``, ``cloth``, ``ears``, ``eyes``, ``brows``, ``lips``,
``mouth_inner``, ``nose``, ``eyeglasses``, ``hat``, ``fg_parser``, ``bg_parser``.
The full label map of the last call is kept in :attr:`ParserMasks.last_labels`
for callers that want all 19 classes (e.g. SAGE's semantic maps).
"""

from __future__ import annotations

import cv2
import numpy as np

from apdraw.face.align import txt_landmarks
from apdraw.face.masks import PART_NAMES, FaceMasks, ellipse_mask, local_boxes
from apdraw.models.parser import FaceParser

# Class groups (CelebAMask-HQ ids).
SKIN, NOSE, GLASSES, L_EYE, R_EYE, L_BROW, R_BROW, L_EAR, R_EAR = 1, 2, 3, 4, 5, 6, 7, 8, 9
MOUTH, U_LIP, L_LIP, HAIR, HAT, EARRING, NECKLACE, NECK, CLOTH = 10, 11, 12, 13, 14, 15, 16, 17, 18
FACE_CLASSES = (SKIN, NOSE, L_EYE, R_EYE, L_BROW, R_BROW, MOUTH, U_LIP, L_LIP)

# Extras: name -> classes. "l"/"r" in CelebAMask-HQ are the person's sides, so
# the person's left eye (4) is on the image's right.
REGION_CLASSES: dict[str, tuple[int, ...]] = {
    "hair": (HAIR,),
    "skin": (SKIN,),
    "face": FACE_CLASSES,
    "neck": (NECK,),
    "cloth": (CLOTH,),
    "ears": (L_EAR, R_EAR),
    "eyes": (L_EYE, R_EYE),
    "brows": (L_BROW, R_BROW),
    "lips": (U_LIP, L_LIP),
    "mouth_inner": (MOUTH,),
    "nose": (NOSE,),
    "eyeglasses": (GLASSES,),
    "hat": (HAT,),
}
PART_CLASSES: dict[str, tuple[int, ...]] = {
    "eyel": (R_EYE, R_BROW),  # image-left = the person's right
    "eyer": (L_EYE, L_BROW),
    "nose": (NOSE,),
    "mouth": (MOUTH, U_LIP, L_LIP),
}


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def _largest_components(mask: np.ndarray, min_frac: float = 0.002) -> np.ndarray:
    """Drop connected specks smaller than ``min_frac`` of the frame (parser noise)."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_frac * mask.size
    return keep[lab]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(out, contours, -1, 1, thickness=-1)
    return out.astype(bool)


def jaw_from_face(face: np.ndarray, eye_y: float) -> np.ndarray | None:
    """(K, 2) float polyline along the lowest face pixel of each column below the eyes.

    Ordered image-left to image-right; None when the face region is empty.
    """
    cols = np.nonzero(face.any(axis=0))[0]
    if cols.size < 2:
        return None
    rows = face.shape[0] - 1 - np.argmax(face[::-1, cols], axis=0)
    keep = rows > eye_y
    if keep.sum() < 2:
        return None
    return np.stack([cols[keep], rows[keep]], axis=1).astype(np.float64)


class ParserMasks:
    """MaskBackend from the face parser, optionally on top of another backend.

    Args:
        parser: a :class:`FaceParser` (default: the shipped weights).
        base: another MaskBackend (e.g. MediaPipe) whose fg/parts/jaw are kept;
            the parser then only adds ``extras``. None = all masks from the parser.
        part_margin: dilation of the parser's part masks, as a fraction of the
            inter-ocular distance (the MediaPipe backend's default, 0.06).
        min_part_frac: a part smaller than this fraction of its APDrawing box
            (occluded, or missed) falls back to the ellipse inscribed in the box.
    """

    def __init__(
        self,
        parser: FaceParser | None = None,
        base: object | None = None,
        part_margin: float = 0.06,
        min_part_frac: float = 0.03,
    ) -> None:
        self.parser = parser or FaceParser.from_pretrained()
        self.base = base
        self.part_margin = part_margin
        self.min_part_frac = min_part_frac
        self.last_labels: np.ndarray | None = None

    def regions(self, labels: np.ndarray) -> dict[str, np.ndarray]:
        """The ``extras`` dict for an (S, S) uint8 label map."""
        out = {name: np.isin(labels, cls) for name, cls in REGION_CLASSES.items()}
        fg = _largest_components(labels != 0)
        out["fg_parser"] = fg
        out["bg_parser"] = ~fg
        return out

    def masks(self, aligned: np.ndarray, landmarks5_aligned: np.ndarray) -> FaceMasks:
        """Masks for an (S, S, 3) uint8 RGB aligned face with its (5, 2) 0-based landmarks."""
        size = aligned.shape[0]
        if aligned.shape != (size, size, 3) or aligned.dtype != np.uint8:
            raise ValueError(f"expected an (S, S, 3) uint8 aligned face, got {aligned.shape} {aligned.dtype}")
        labels = self.parser.parse(aligned)
        self.last_labels = labels
        extras = self.regions(labels)
        if self.base is not None:
            masks: FaceMasks = self.base.masks(aligned, landmarks5_aligned)  # type: ignore[attr-defined]
            masks.extras.update(extras)
            return masks

        lm = np.asarray(landmarks5_aligned, np.float64)
        boxes = local_boxes(txt_landmarks(lm), size)
        iod = float(np.linalg.norm(lm[1] - lm[0]))
        dil = max(1, int(round(self.part_margin * iod)))
        parts = {}
        for name in PART_NAMES:
            raw = np.isin(labels, PART_CLASSES[name])
            x0, y0, x1, y1 = boxes[name]
            if raw.sum() < self.min_part_frac * (x1 - x0) * (y1 - y0):
                parts[name] = ellipse_mask(boxes[name], size)
            else:
                parts[name] = _dilate(raw, dil)
        face = _fill_holes(_largest_components(extras["face"]))
        fg = extras["fg_parser"].astype(np.uint8) * np.uint8(255)
        jaw = jaw_from_face(face, eye_y=float(lm[:2, 1].mean()))
        return FaceMasks(fg=fg, parts=parts, face_oval=face, boxes=boxes, jaw=jaw, extras=extras)
