"""The built-in face detectors and mask backends, by name (``--detector``, ``--masks``).

Registries of :class:`~apdraw.registry.Entry` whose target builds the backend: the names
are listed without importing torch or MediaPipe; a backend's code is imported
when :func:`build_detector` / :func:`build_mask_backend` builds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apdraw.registry import Entry, Registry

if TYPE_CHECKING:  # pragma: no cover
    from apdraw.face.pipeline import Detector, MaskBackend

DETECTORS: Registry[Entry] = Registry("face detector")
DETECTORS.register(Entry("mtcnn", "MTCNN, the papers' 5-point landmarks", "apdraw.face.mtcnn:MTCNN"))
DETECTORS.register(Entry("mediapipe", "MediaPipe face mesh landmarks", "apdraw.face.mediapipe_backend:MediaPipeDetector"))
DETECTORS.register(Entry(
    "mtcnn-onnx", "MTCNN on onnxruntime, without torch (extra: .[onnx]; --runtime onnx picks it for mtcnn)",
    "apdraw.face.mtcnn_onnx:OnnxMTCNN",
))  # fmt: skip

#: The detector that runs ``--detector`` NAME on each runtime, where it differs from NAME itself.
RUNTIME_DETECTORS = {("mtcnn", "onnx"): "mtcnn-onnx"}


def detector_for_runtime(name: str, runtime: str | None) -> str:
    """The registered detector that runs ``name`` on ``runtime`` ("torch", "onnx"): ``mtcnn`` on onnx is ``mtcnn-onnx``."""
    return RUNTIME_DETECTORS.get((name, runtime or "torch"), name)

MASK_BACKENDS: Registry[Entry] = Registry("mask backend")
MASK_BACKENDS.register(Entry("mediapipe", "MediaPipe face mesh and selfie segmentation", "apdraw.face.backends:_mediapipe_masks"))
MASK_BACKENDS.register(Entry("parser", "apdraw's 19-class face parser alone", "apdraw.face.backends:_parser_masks"))
MASK_BACKENDS.register(Entry(
    "mediapipe+parser", "MediaPipe masks plus the parser's hair and skin regions (about 0.1 s more per face)",
    "apdraw.face.backends:_mediapipe_parser_masks",
))  # fmt: skip


def build_detector(name: str, **kwargs: Any) -> "Detector":
    """A built-in detector; ``kwargs`` go to its constructor (MTCNN, mtcnn-onnx: min_face_size, max_side, device)."""
    return DETECTORS.get(name).load()(**kwargs)


def build_mask_backend(name: str) -> "MaskBackend":
    """A built-in mask backend."""
    return MASK_BACKENDS.get(name).load()()


def _mediapipe_masks() -> "MaskBackend":
    from apdraw.face.mediapipe_backend import MediaPipeMasks

    return MediaPipeMasks()


def _parser_masks() -> "MaskBackend":
    from apdraw.face.parser_backend import ParserMasks

    return ParserMasks(base=None)


def _mediapipe_parser_masks() -> "MaskBackend":
    from apdraw.face.parser_backend import ParserMasks

    return ParserMasks(base=_mediapipe_masks())
