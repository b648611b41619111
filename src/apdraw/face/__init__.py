"""Face pipeline: detection (MTCNN), 5 landmarks, APDrawing alignment and masks.

Public API (see ``pipeline.py`` for a usage example and ``docs/FACE_PIPELINE.md``
for measured accuracy and speed):

* :class:`FacePipeline`, :class:`Face`, :func:`paste_back`, the :class:`Detector`
  and :class:`MaskBackend` protocols;
* :class:`FaceMasks` and the box / region helpers of ``masks.py``;
* the geometry of ``align.py``: :data:`TEMPLATE_512`, :func:`fit_similarity`,
  :func:`align_face`, :func:`transform_points`, :func:`invert_affine`,
  :func:`flip_horizontal`, :func:`flip_landmarks`, landmark ``.txt`` helpers;
* :class:`MTCNN` and :class:`Detection`; :class:`MediaPipeDetector` (alternative detector);
  :class:`MediaPipeMasks` (the default mask backend).

torch (MTCNN) and MediaPipe are imported only when one of their classes is used,
so that listing the backends (``apdraw --help``) stays fast.
"""

from apdraw.face.align import (
    TEMPLATE_512,
    TEMPLATE_512_MATLAB,
    align_face,
    fit_similarity,
    flip_horizontal,
    flip_landmarks,
    invert_affine,
    landmarks_from_txt,
    landmarks_to_txt,
    template,
    transform_points,
    txt_landmarks,
)
from apdraw.face.masks import PART_NAMES, FaceMasks, bg_region, box_mask, hair_region, local_boxes
from apdraw.face.pipeline import Detector, Face, FacePipeline, MaskBackend, paste_back

# Lazy exports (PEP 562): name -> submodule. mtcnn imports torch (~1 s);
# mediapipe_backend imports MediaPipe (~0.1 s, more on a cold disk cache).
_LAZY = {
    "MTCNN": "mtcnn",
    "Detection": "mtcnn_common",
    "MediaPipeMasks": "mediapipe_backend",
    "MediaPipeDetector": "mediapipe_backend",
}


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(f"apdraw.face.{_LAZY[name]}"), name)
    if name in ("mtcnn", "mediapipe_backend"):  # `apdraw.face.mtcnn` without importing it first
        return importlib.import_module(f"apdraw.face.{name}")
    raise AttributeError(f"module 'apdraw.face' has no attribute {name!r}")


__all__ = [
    "TEMPLATE_512",
    "TEMPLATE_512_MATLAB",
    "PART_NAMES",
    "Detection",
    "Detector",
    "Face",
    "FaceMasks",
    "FacePipeline",
    "MTCNN",
    "MaskBackend",
    "MediaPipeDetector",
    "MediaPipeMasks",
    "align_face",
    "bg_region",
    "box_mask",
    "fit_similarity",
    "flip_horizontal",
    "flip_landmarks",
    "hair_region",
    "invert_affine",
    "landmarks_from_txt",
    "landmarks_to_txt",
    "local_boxes",
    "paste_back",
    "template",
    "transform_points",
    "txt_landmarks",
]
