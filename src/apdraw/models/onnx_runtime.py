"""Exported networks run with onnxruntime: arrays in, arrays out, no torch.

``apdraw export apdrawinggan SRC OUT.onnx`` (or the cache below) writes the
generator's whole ``APDrawingGAN.draw`` as one graph (:func:`apdraw.models.apdrawinggan.export_onnx`);
:class:`OnnxAPDrawingGAN` runs it. Nothing here imports torch, so a process that
draws through it never loads torch for the generator.

Needs the ``onnx`` extra (``pip install -e ".[onnx]"``: onnxruntime).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

#: Bump when the exported graph changes (its inputs, outputs or computation): cached files then re-export.
GRAPH_VERSION = "1"


def require_onnxruntime():
    """The onnxruntime module, or an ImportError that says how to install it."""
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError('the ONNX runtime needs onnxruntime: pip install -e ".[onnx]"') from exc
    return onnxruntime


def session(path: str | Path, num_threads: int | None = 1):
    """An onnxruntime CPU session of ``path``, ``num_threads`` intra-op threads (None: onnxruntime's default).

    One thread by default, like the torch path (:func:`apdraw.runtime.torch_threads`):
    apdraw's networks are small, and on a busy 2-core machine spinning threads cost more than they give.
    """
    ort = require_onnxruntime()
    opts = ort.SessionOptions()
    if num_threads is not None:
        opts.intra_op_num_threads = num_threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def cache_dir() -> Path:
    """Where exported graphs are cached: ``$APDRAW_CACHE``, else ``$XDG_CACHE_HOME/apdraw``, else ``~/.cache/apdraw``."""
    if os.environ.get("APDRAW_CACHE"):
        return Path(os.environ["APDRAW_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "apdraw"


def cached_graph_path(weights: str | Path, kind: str) -> Path:
    """The cache file of ``weights`` exported as ``kind`` (content hash: a changed file re-exports)."""
    digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()[:16]
    return cache_dir() / "onnx" / f"{kind}-{digest}-g{GRAPH_VERSION}.onnx"


class OnnxAPDrawingGAN:
    """The exported APDrawingGAN ``draw`` graph: the same call as :meth:`APDrawingGAN.draw`, on numpy arrays.

    ``draw(photos (B, 3, 512, 512) uint8, boxes (B, 4, 4) int64, fg (B, 1, 512, 512) {0, 1})``
    -> (B, 512, 512) uint8, 255 = paper; within 1 gray level of the torch model's drawing.
    """

    def __init__(self, path: str | Path, num_threads: int | None = 1):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such ONNX file")
        try:
            self.session = session(self.path, num_threads)
        except ImportError:
            raise
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ValueError(f"{self.path}: not a loadable ONNX graph ({exc})") from None
        names = [i.name for i in self.session.get_inputs()]
        if names != ["photos", "boxes", "fg"]:
            raise ValueError(f"{self.path}: not an apdraw APDrawingGAN graph (inputs {names})")
        self.size = int(self.session.get_inputs()[0].shape[-1])

    def draw(self, photos: np.ndarray, boxes: np.ndarray, fg: np.ndarray) -> np.ndarray:
        b = photos.shape[0]
        if photos.shape != (b, 3, self.size, self.size) or boxes.shape != (b, 4, 4) or fg.shape != (b, 1, self.size, self.size):
            raise ValueError(f"expected photos (B, 3, {self.size}, {self.size}), boxes (B, 4, 4), fg (B, 1, {self.size}, {self.size}); "
                             f"got {photos.shape}, {boxes.shape}, {fg.shape}")  # fmt: skip
        feed = {
            "photos": np.ascontiguousarray(photos, np.uint8),
            "boxes": np.ascontiguousarray(boxes, np.int64),
            "fg": np.ascontiguousarray(fg, np.float32),
        }
        return self.session.run(["drawing"], feed)[0]
