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
    from apdraw.face.mtcnn import Detection


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


class FacePipeline:
    """Detect, align and mask faces. Build once (the models load here), call per photo.

    Args:
        detector: ``"mtcnn"`` (the papers' landmarks), ``"mediapipe"``
            (:class:`MediaPipeDetector`), or any :class:`Detector`.
        mask_backend: ``"mediapipe"``, ``"parser"``, ``"mediapipe+parser"`` (see
            ``parser_backend.py``), any :class:`MaskBackend`, or None to skip masks.
        size: side of the aligned frame (512 = APDrawing).
        min_face_size: smallest face searched, in pixels of the detection image.
        detect_max_side: photos larger than this are downscaled for detection
            (landmarks still come from full-resolution crops).
        device: torch device for MTCNN.
    """

    def __init__(
        self,
        detector: str | Detector = "mtcnn",
        mask_backend: str | MaskBackend | None = "mediapipe",
        size: int = 512,
        min_face_size: int = 20,
        detect_max_side: int = 1024,
        device: str = "cpu",
    ) -> None:
        from apdraw.face.backends import build_detector, build_mask_backend

        self.size = size
        if isinstance(detector, str):
            kwargs = dict(min_face_size=min_face_size, max_side=detect_max_side, device=device) if detector == "mtcnn" else {}
            detector = build_detector(detector, **kwargs)
        self.detector: Detector = detector
        if isinstance(mask_backend, str):
            mask_backend = build_mask_backend(mask_backend)
        self.mask_backend: MaskBackend | None = mask_backend

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in an (H, W, 3) uint8 RGB photo, largest first; [] when none."""
        return self.detector.detect(image)

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
