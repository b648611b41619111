"""The face pipeline: photo -> detected, aligned and masked faces.

Usage::

    from apdraw.face import FacePipeline, paste_back
    pipe = FacePipeline()                       # builds the models once
    faces = pipe(image)                         # image: (H, W, 3) uint8 RGB; [] if no face
    face = faces[0]                             # largest face first
    face.aligned                                # (512, 512, 3) uint8, APDrawing template
    face.masks.fg, face.masks.parts["eyel"], face.masks.boxes, face.masks.jaw, face.masks.hair
    photo_frame = paste_back(drawing, face, image.shape[:2])

Two boundaries keep backends swappable:

* :class:`Detector`: ``detect(image) -> list[Detection]`` (box, score and the 5
  landmarks in APDrawing order). Built in: ``"mtcnn"`` (:class:`MTCNN`, the
  papers' landmark convention) and ``"mediapipe"`` (:class:`MediaPipeDetector`).
* :class:`MaskBackend`: ``masks(aligned, landmarks5_aligned) -> FaceMasks``.
  Built in: ``"mediapipe"`` (:class:`MediaPipeMasks`). A trained face parser
  plugs in by implementing the same method; pass the instance as ``mask_backend``.

Coordinates are 0-based pixels (x, y) throughout; see ``align.py`` for how the
MATLAB 1-based template is handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from apdraw.face import align as _align
from apdraw.face.masks import FaceMasks

if TYPE_CHECKING:  # pragma: no cover
    from apdraw.face.mtcnn_common import Detection


@runtime_checkable
class Detector(Protocol):
    def detect(self, image: np.ndarray) -> list[Detection]:
        """(H, W, 3) uint8 RGB -> detections, largest face first."""
        ...


@runtime_checkable
class MaskBackend(Protocol):
    def masks(self, aligned: np.ndarray, landmarks5_aligned: np.ndarray) -> FaceMasks:
        """(S, S, 3) uint8 RGB aligned face + (5, 2) 0-based aligned landmarks -> its masks."""
        ...


@dataclass
class Face:
    """One face of a photo, aligned to the APDrawing template.

    Attributes:
        box: (x1, y1, x2, y2) float detector box in photo pixels (inclusive corners).
        score: detector confidence in [0, 1].
        landmarks5: (5, 2) float photo points: image-left eye, image-right eye,
            nose tip, image-left mouth corner, image-right mouth corner.
        matrix: (2, 3) float64 photo -> aligned affine (a similarity).
        aligned: (S, S, 3) uint8 RGB aligned face, white where the photo has no pixels.
        landmarks5_aligned: (5, 2) float, ``landmarks5`` in the aligned frame.
        masks: the mask backend's output, or None when the pipeline has no backend.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks5: np.ndarray
    matrix: np.ndarray
    aligned: np.ndarray
    landmarks5_aligned: np.ndarray
    masks: FaceMasks | None = None

    @property
    def size(self) -> int:
        return int(self.aligned.shape[0])


def paste_back(drawing: np.ndarray, face: Face, photo_hw: tuple[int, int]) -> np.ndarray:
    """Warp a drawing made in ``face``'s aligned frame back into the photo's frame.

    Args:
        drawing: (D, D) or (D, D, C) uint8; D may differ from the aligned size
            (it is rescaled, pixel-centre exact).
        face: the :class:`Face` the drawing was made from.
        photo_hw: (H, W) of the original photo.

    Returns:
        (H, W) or (H, W, C) uint8, white outside the drawing's footprint.
    """
    return _align.paste_back(drawing, face.matrix, photo_hw, size=face.size)


# A detection is kept only when its 5 landmarks are arranged like a face: after the best
# similarity onto the APDrawing template, their mean distance from the template points is at
# most this fraction of the template's eye distance. Real faces measure 0.02-0.11 (the
# examples, FS2K); landmarks regressed on something that is not an upright face do not fit.
MAX_LANDMARK_RESIDUAL = 0.3
# Smallest eye distance (pixels) of a face worth drawing: below it the drawing is mush.
MIN_EYE_DISTANCE = 6.0
# When the largest upright face scores below this (or none is found), the photo's other three
# orientations are searched too, and the best-scoring one wins: a rotated photo without EXIF
# tags is drawn upright instead of failing, or of a made-up "face" being drawn.
ORIENTATION_SCORE = 0.995


def landmark_residual(landmarks5: np.ndarray) -> float:
    """How far 5 landmarks are from a face's arrangement, in template eye distances (0 = exact)."""
    lm = np.asarray(landmarks5, np.float64)
    template = _align.TEMPLATE_512
    fitted = _align.transform_points(lm, _align.fit_similarity(lm, template))
    eye = float(np.linalg.norm(template[1] - template[0]))
    return float(np.linalg.norm(fitted - template, axis=1).mean() / eye)


def plausible(detection: "Detection") -> bool:
    """Landmarks arranged like a face, eyes far enough apart, and inside (a margin around) the box."""
    lm = np.asarray(detection.landmarks5, np.float64)
    if not np.isfinite(lm).all() or np.linalg.norm(lm[1] - lm[0]) < MIN_EYE_DISTANCE:
        return False
    x1, y1, x2, y2 = detection.box
    mx, my = 0.25 * (x2 - x1), 0.25 * (y2 - y1)
    inside = (lm[:, 0] >= x1 - mx) & (lm[:, 0] <= x2 + mx) & (lm[:, 1] >= y1 - my) & (lm[:, 1] <= y2 + my)
    return bool(inside.all()) and landmark_residual(lm) <= MAX_LANDMARK_RESIDUAL


def unrotate_points(points: np.ndarray, k: int, hw: tuple[int, int]) -> np.ndarray:
    """Points of ``np.rot90(image, k)`` -> the same points in ``image`` (of size ``hw``), (N, 2) float."""
    h, w = hw
    p = np.asarray(points, np.float64).reshape(-1, 2)
    x, y = p[:, 0], p[:, 1]
    k %= 4
    if k == 1:
        x, y = w - 1 - y, x
    elif k == 2:
        x, y = w - 1 - x, h - 1 - y
    elif k == 3:
        x, y = y, h - 1 - x
    return np.stack([x, y], 1)


def _unrotate_detection(det: "Detection", k: int, hw: tuple[int, int]) -> "Detection":
    from apdraw.face.mtcnn_common import Detection

    x1, y1, x2, y2 = det.box
    corners = unrotate_points(np.array([[x1, y1], [x2, y2]]), k, hw)
    lo, hi = corners.min(0), corners.max(0)
    box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    return Detection(box, det.score, unrotate_points(det.landmarks5, k, hw))


class FacePipeline:
    """Detect, align and mask faces. Build once (the models load here), call per photo.

    Args:
        detector: ``"mtcnn"`` (the papers' landmarks), ``"mtcnn-onnx"`` (the same on
            onnxruntime, without torch), ``"mediapipe"`` (:class:`MediaPipeDetector`), or any :class:`Detector`.
        mask_backend: ``"mediapipe"``, ``"parser"``, ``"mediapipe+parser"`` (see
            ``parser_backend.py``), any :class:`MaskBackend`, or None to skip masks.
        size: side of the aligned frame (512 = APDrawing).
        min_face_size: smallest face searched, in pixels of the detection image.
        detect_max_side: photos larger than this are downscaled for detection
            (landmarks still come from full-resolution crops).
        device: torch device for MTCNN.
        search_orientations: also look for faces in the photo rotated by 90, 180 and 270
            degrees when none (or only a weak one) is found upright; see :meth:`detect`.
    """

    def __init__(
        self,
        detector: str | Detector = "mtcnn",
        mask_backend: str | MaskBackend | None = "mediapipe",
        size: int = 512,
        min_face_size: int = 20,
        detect_max_side: int = 1024,
        device: str = "cpu",
        search_orientations: bool = True,
    ) -> None:
        from apdraw.face.backends import build_detector, build_mask_backend

        self.size = size
        self.search_orientations = search_orientations
        if isinstance(detector, str):
            mtcnn = detector in ("mtcnn", "mtcnn-onnx")
            kwargs = dict(min_face_size=min_face_size, max_side=detect_max_side, device=device) if mtcnn else {}
            detector = build_detector(detector, **kwargs)
        self.detector: Detector = detector
        if isinstance(mask_backend, str):
            mask_backend = build_mask_backend(mask_backend)
        self.mask_backend: MaskBackend | None = mask_backend

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All plausible faces in an (H, W, 3) uint8 RGB photo, largest first; [] when none.

        Detections whose landmarks are not arranged like a face are dropped (:func:`plausible`).
        With ``search_orientations``, a photo whose largest face is missing or weak
        (score < ORIENTATION_SCORE) is also searched rotated by 90, 180 and 270 degrees; the
        orientation with the best-scoring face wins, and its detections are returned in the
        photo's own coordinates (alignment then turns the face upright).
        """
        found = [d for d in self.detector.detect(image) if plausible(d)]
        if not self.search_orientations or (found and found[0].score >= ORIENTATION_SCORE):
            return found
        best_score, best = (found[0].score if found else -1.0), found
        hw = (int(image.shape[0]), int(image.shape[1]))
        for k in (1, 2, 3):
            dets = [d for d in self.detector.detect(np.ascontiguousarray(np.rot90(image, k))) if plausible(d)]
            if dets and dets[0].score > best_score:
                best_score, best = dets[0].score, [_unrotate_detection(d, k, hw) for d in dets]
        return best

    def align(self, image: np.ndarray, detection: Detection, with_masks: bool = True) -> Face:
        """Align (and mask) one detected face of ``image``."""
        aligned, matrix = _align.align_face(image, detection.landmarks5, self.size)
        lm_aligned = _align.transform_points(detection.landmarks5, matrix)
        masks = (
            self.mask_backend.masks(aligned, lm_aligned) if with_masks and self.mask_backend is not None else None
        )
        return Face(
            box=detection.box,
            score=detection.score,
            landmarks5=np.asarray(detection.landmarks5, np.float64),
            matrix=matrix,
            aligned=aligned,
            landmarks5_aligned=lm_aligned,
            masks=masks,
        )

    def __call__(self, image: np.ndarray, max_faces: int | None = None) -> list[Face]:
        """Detect, align and mask the faces of an (H, W, 3) uint8 RGB photo.

        Args:
            max_faces: keep only this many faces, largest first (None = all).

        Returns:
            One :class:`Face` per face, largest first; [] when there is none.
        """
        detections = self.detect(image)
        if max_faces is not None:
            detections = detections[:max_faces]
        return [self.align(image, d) for d in detections]
