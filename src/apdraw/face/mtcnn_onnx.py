"""MTCNN on onnxruntime: the cascade of ``mtcnn.py`` without torch.

The three nets are exported once (that needs torch and onnx, :func:`apdraw.face.mtcnn.export_onnx`)
to the graph cache (:func:`apdraw.models.onnx_runtime.cache_dir`), keyed by a hash of
each weights file; afterwards :class:`OnnxMTCNN` loads the cached graphs and runs the
cascade with numpy and onnxruntime alone. Its detections equal the torch cascade's
(:class:`apdraw.face.mtcnn.MTCNN`) up to float rounding in the nets (well under 0.01 px
on the examples). Registered as the ``mtcnn-onnx`` detector; ``apdraw draw --runtime onnx``
picks it for ``--detector mtcnn``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from apdraw.face.mtcnn_common import (
    NET_NAMES, CascadeDetector, Detection, _check_image, _crops, _regress, _resize, _square, decode_onet,
    nms_numpy, weights_dir,
)  # fmt: skip
from apdraw.models.onnx_runtime import cached_graph_path, session


def cached_graphs(export: bool = True) -> dict[str, Path]:
    """The cached ONNX graphs of P-, R- and O-Net, by name; missing ones are exported first when ``export``.

    Raises:
        FileNotFoundError: a graph is missing and ``export`` is False (or the weights are missing).
        ImportError: a graph must be exported and torch or onnx is not installed.
    """
    paths = {}
    for name in NET_NAMES:
        src = weights_dir() / f"{name}.pt"
        if not src.is_file():
            raise FileNotFoundError(f"{src}: no such MTCNN weights file")
        path = cached_graph_path(src, f"mtcnn-{name}")
        if not path.is_file():
            if not export:
                raise FileNotFoundError(f"{path}: MTCNN's {name} is not exported to ONNX yet")
            try:
                import onnx  # noqa: F401
                import torch  # noqa: F401
            except ImportError:
                raise ImportError('MTCNN is not exported to ONNX yet and exporting needs torch and onnx (pip install -e ".[test]")') from None
            from apdraw.face.mtcnn import export_onnx

            export_onnx(name, path)
        paths[name] = path
    return paths


def _to_input(pixels: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) or (H, W, 3) uint8 -> (N, 3, H, W) float32 in [-1, 1] (MTCNN's (x - 127.5) / 128)."""
    x = np.asarray(pixels, np.float32)
    if x.ndim == 3:
        x = x[None]
    return np.ascontiguousarray(((x - np.float32(127.5)) * np.float32(0.0078125)).transpose(0, 3, 1, 2))


class OnnxMTCNN(CascadeDetector):
    """The three-stage MTCNN cascade on onnxruntime; the arguments of :class:`apdraw.face.mtcnn.MTCNN`.

    ``device`` must be the CPU (onnxruntime's CPU provider); ``num_threads`` is each
    session's intra-op thread count (None: onnxruntime's default).
    """

    def __init__(
        self,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        max_side: int = 1024,
        device: str = "cpu",
        num_threads: int | None = 1,
    ) -> None:
        if str(device) != "cpu":
            raise ValueError(f"the ONNX MTCNN runs on the CPU only, not {device!r}")
        super().__init__(min_face_size, thresholds, factor, max_side)
        self.num_threads = num_threads
        graphs = cached_graphs()
        self.pnet, self.rnet, self.onet = (session(graphs[n], num_threads) for n in NET_NAMES)

    @staticmethod
    def _run(sess, x: np.ndarray) -> list[np.ndarray]:
        return sess.run(None, {"x": x})

    def _stage1(self, img: np.ndarray) -> np.ndarray:
        """P-Net over the pyramid -> (N, 5) candidate squares (x1, y1, x2, y2, score)."""
        h, w = img.shape[:2]
        found = []
        for scale in self._scales(h, w):
            hs, ws = math.ceil(h * scale), math.ceil(w * scale)
            prob, reg = self._run(self.pnet, _to_input(_resize(img, ws, hs)))
            ys, xs = np.nonzero(prob[0] >= self.thresholds[0])
            if len(ys) == 0:
                continue
            score = prob[0, ys, xs]
            # The torch cascade's float32 arithmetic, step by step (see MTCNN._stage1).
            s = np.float32(scale)
            x1 = np.floor((2 * xs + 1).astype(np.float32) / s) - 1
            y1 = np.floor((2 * ys + 1).astype(np.float32) / s) - 1
            x2 = np.floor((2 * xs + 12).astype(np.float32) / s) - 1
            y2 = np.floor((2 * ys + 12).astype(np.float32) / s) - 1
            boxes = np.stack([x1, y1, x2, y2], 1).astype(np.float32)
            keep = nms_numpy(boxes, score, 0.5, "union")
            r = reg[0][:, ys[keep], xs[keep]].T
            found.append(np.concatenate([boxes[keep], score[keep, None], r], 1))
        if not found:
            return np.zeros((0, 5))
        cand = np.concatenate(found).astype(np.float64)
        cand = cand[nms_numpy(cand[:, :4], cand[:, 4], 0.7, "union")]
        # Stage-1 calibration uses the exclusive size (x2 - x1), as the original does.
        w_, h_ = cand[:, 2] - cand[:, 0], cand[:, 3] - cand[:, 1]
        boxes = cand[:, :4] + cand[:, 5:9] * np.stack([w_, h_, w_, h_], 1)
        return np.concatenate([np.fix(_square(boxes)), cand[:, 4:5]], 1)

    def _stage2(self, img: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """R-Net refinement -> (M, 5) squares with scores."""
        prob, reg = (a.astype(np.float64) for a in self._run(self.rnet, _to_input(_crops(img, cand[:, :4], 24))))
        ok = prob > self.thresholds[1]
        if not ok.any():
            return np.zeros((0, 5))
        boxes, prob, reg = cand[ok, :4], prob[ok], reg[ok]
        keep = nms_numpy(boxes, prob, 0.7, "union")
        boxes = _regress(boxes[keep], reg[keep])
        return np.concatenate([np.fix(_square(boxes)), prob[keep][:, None]], 1)

    def _stage3(self, photo: np.ndarray, cand: np.ndarray) -> list[Detection]:
        """O-Net on full-resolution crops -> final boxes and landmarks in photo pixels."""
        boxes = cand[:, :4].copy()
        prob, reg, pts = (a.astype(np.float64) for a in self._run(self.onet, _to_input(_crops(photo, boxes, 48))))
        return decode_onet(boxes, prob, reg, pts, self.thresholds[2])

