"""MTCNN face detector with 5 landmarks (Zhang et al. 2016), in plain PyTorch.

The three cascaded networks (P-Net, R-Net, O-Net) load the original MTCNN v1
weights that ship as plain state_dicts inside the ``facenet-pytorch`` wheel
(``facenet_pytorch/data/{pnet,rnet,onet}.pt``). That package is never imported
(it imports torchvision); only its data files are read.

Coordinates are 0-based pixel indices: pixel (x, y) is ``image[y, x]`` and its
centre sits at the integer position. The original MATLAB code is 1-based; its
formulas are translation-invariant, so the same arithmetic on 0-based indices
yields the MATLAB result minus one, which is what the APDrawing alignment
expects once its template is shifted to 0-based too (see ``align.py``).

Landmarks come in MTCNN's (and APDrawing's) order: image-left eye, image-right
eye, nose tip, image-left mouth corner, image-right mouth corner.
"""

from __future__ import annotations

import contextlib

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# The torch-free helpers live in mtcnn_common (shared with the onnxruntime cascade); they
# stay importable from here.
from apdraw.face.mtcnn_common import (  # noqa: F401
    CascadeDetector, Detection, _check_image, _crops, _regress, _resize, _square, decode_onet, nms_numpy, weights_dir,
)  # fmt: skip
from apdraw.runtime import torch_threads


def _flatten_transposed(x: torch.Tensor) -> torch.Tensor:
    # The nets were trained in MATLAB Caffe (column-major), so the dense layers
    # expect the feature map flattened in (W, H, C) order, not PyTorch's (C, H, W).
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class PNet(nn.Module):
    """Proposal net, fully convolutional.

    Input (N, 3, H, W) float, pixels scaled to [-1, 1]. Returns face probability
    (N, H', W') in [0, 1] and box regression (N, 4, H', W') with
    H' = ceil((H - 2) / 2) - 4: one 12x12 window per output cell, stride 2.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, 3)
        self.prelu1 = nn.PReLU(10)
        self.conv2 = nn.Conv2d(10, 16, 3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, 3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return F.softmax(self.conv4_1(x), dim=1)[:, 1], self.conv4_2(x)


class RNet(nn.Module):
    """Refinement net. Input (N, 3, 24, 24) in [-1, 1] -> probability (N,), regression (N, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, 3)
        self.prelu1 = nn.PReLU(28)
        self.conv2 = nn.Conv2d(28, 48, 3)
        self.prelu2 = nn.PReLU(48)
        self.conv3 = nn.Conv2d(48, 64, 2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu4(self.dense4(_flatten_transposed(self.prelu3(self.conv3(x)))))
        return F.softmax(self.dense5_1(x), dim=1)[:, 1], self.dense5_2(x)


class ONet(nn.Module):
    """Output net. Input (N, 3, 48, 48) in [-1, 1] -> probability (N,), regression (N, 4),
    landmarks (N, 10) as fractions of the crop: 5 x values then 5 y values."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.prelu1 = nn.PReLU(32)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.prelu2 = nn.PReLU(64)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.prelu3 = nn.PReLU(64)
        self.conv4 = nn.Conv2d(64, 128, 2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu5(self.dense5(_flatten_transposed(self.prelu4(self.conv4(x)))))
        return F.softmax(self.dense6_1(x), dim=1)[:, 1], self.dense6_2(x), self.dense6_3(x)


def load_net(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """Build ``pnet``/``rnet``/``onet`` and load its original weights strictly (every key must match)."""
    net = {"pnet": PNet, "rnet": RNet, "onet": ONet}[name]()
    state = torch.load(weights_dir() / f"{name}.pt", map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    # channels_last: on CPU, max-pooling these thin (10-64 channel) maps in NCHW
    # was 5-8x slower than in NHWC (measured 15 ms vs 2-3 ms for one P-Net level).
    return net.to(device, memory_format=torch.channels_last).eval()


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float, mode: str = "union") -> torch.Tensor:
    """:func:`apdraw.face.mtcnn_common.nms_numpy` on torch tensors: (K,) int64 indices, highest score first."""
    keep = nms_numpy(boxes.detach().cpu().double().numpy(), scores.detach().cpu().numpy(), threshold, mode)
    return torch.from_numpy(keep)


def _to_input(pixels: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) or (H, W, 3) uint8 -> (N, 3, H, W) float in [-1, 1] (MTCNN's (x - 127.5) / 128)."""
    t = torch.from_numpy(np.ascontiguousarray(pixels)).float()
    if t.ndim == 3:
        t = t[None]
    # permute of NHWC data *is* a channels_last NCHW tensor: no copy, the fast layout.
    return (t.permute(0, 3, 1, 2) - 127.5) * 0.0078125


class MTCNN(CascadeDetector):
    """The three-stage MTCNN cascade. Construct once; call :meth:`detect` per photo.

    Args:
        min_face_size: smallest face side searched, in pixels of the detection image.
        thresholds: face-probability thresholds of P-, R- and O-Net (MTCNN v1 defaults).
        factor: image pyramid scale step.
        max_side: photos whose longer side exceeds this are downscaled for the
            P- and R-Net stages; O-Net (box and landmarks) always reads crops of
            the full-resolution photo, so accuracy is kept while time stays flat.
        device: torch device for the three nets.
        num_threads: torch CPU threads used while detecting (restored afterwards);
            None keeps the caller's setting. The nets are tiny, so extra threads
            gain little, and on a busy 2-core machine their spin-waits made
            detection 3-10x slower (measured: 0.19 s with 1 thread, 0.5-2.6 s with 2).
    """

    def __init__(
        self,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        max_side: int = 1024,
        device: str | torch.device = "cpu",
        num_threads: int | None = 1,
    ) -> None:
        super().__init__(min_face_size, thresholds, factor, max_side)
        self.device = torch.device(device)
        self.num_threads = num_threads
        self.pnet = load_net("pnet", self.device)
        self.rnet = load_net("rnet", self.device)
        self.onet = load_net("onet", self.device)

    def _stage1(self, img: np.ndarray) -> np.ndarray:
        """P-Net over the pyramid -> (N, 5) candidate squares (x1, y1, x2, y2, score)."""
        h, w = img.shape[:2]
        found = []
        for scale in self._scales(h, w):
            hs, ws = math.ceil(h * scale), math.ceil(w * scale)
            prob, reg = self.pnet(_to_input(_resize(img, ws, hs)).to(self.device))
            ys, xs = torch.nonzero(prob[0] >= self.thresholds[0], as_tuple=True)
            if len(ys) == 0:
                continue
            score = prob[0, ys, xs]
            # Cell (xs, ys) sees the 12x12 window at 2*(xs, ys) of the scaled image;
            # MATLAB's integer mapping back to the photo, shifted to 0-based.
            x1 = torch.floor((2 * xs + 1).float() / scale) - 1
            y1 = torch.floor((2 * ys + 1).float() / scale) - 1
            x2 = torch.floor((2 * xs + 12).float() / scale) - 1
            y2 = torch.floor((2 * ys + 12).float() / scale) - 1
            boxes = torch.stack([x1, y1, x2, y2], 1)
            keep = nms(boxes, score, 0.5, "union")
            r = reg[0][:, ys[keep], xs[keep]].T
            found.append(torch.cat([boxes[keep], score[keep, None], r], 1).cpu().numpy())
        if not found:
            return np.zeros((0, 5))
        cand = np.concatenate(found).astype(np.float64)
        keep = nms(torch.from_numpy(cand[:, :4]), torch.from_numpy(cand[:, 4]), 0.7, "union").numpy()
        cand = cand[keep]
        # Stage-1 calibration uses the exclusive size (x2 - x1), as the original does.
        w_, h_ = cand[:, 2] - cand[:, 0], cand[:, 3] - cand[:, 1]
        boxes = cand[:, :4] + cand[:, 5:9] * np.stack([w_, h_, w_, h_], 1)
        return np.concatenate([np.fix(_square(boxes)), cand[:, 4:5]], 1)

    def _stage2(self, img: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """R-Net refinement -> (M, 5) squares with scores."""
        prob, reg = self.rnet(_to_input(_crops(img, cand[:, :4], 24)).to(self.device))
        prob, reg = prob.cpu().double(), reg.cpu().double()
        ok = prob > self.thresholds[1]
        if not ok.any():
            return np.zeros((0, 5))
        boxes, prob, reg = torch.from_numpy(cand[ok.numpy(), :4]), prob[ok], reg[ok]
        keep = nms(boxes, prob, 0.7, "union")
        boxes = _regress(boxes[keep].numpy(), reg[keep].numpy())
        return np.concatenate([np.fix(_square(boxes)), prob[keep].numpy()[:, None]], 1)

    def _stage3(self, photo: np.ndarray, cand: np.ndarray) -> list[Detection]:
        """O-Net on full-resolution crops -> final boxes and landmarks in photo pixels."""
        boxes = cand[:, :4].copy()
        prob, reg, pts = self.onet(_to_input(_crops(photo, boxes, 48)).to(self.device))
        prob, reg, pts = (t.cpu().double().numpy() for t in (prob, reg, pts))
        return decode_onet(boxes, prob, reg, pts, self.thresholds[2])

    def _context(self):
        return _TorchContext(self.num_threads, self.device)


class _TorchContext:
    """torch threads and inference mode around the networks of one stage."""

    def __init__(self, num_threads: int | None, device) -> None:
        self.stack = contextlib.ExitStack()
        self.num_threads, self.device = num_threads, device

    def __enter__(self) -> None:
        self.stack.enter_context(torch_threads(self.num_threads, self.device))
        self.stack.enter_context(torch.inference_mode())

    def __exit__(self, *exc) -> None:
        self.stack.close()


def export_onnx(name: str, out: str | Path, opset: int = 18) -> Path:
    """Write ``pnet``/``rnet``/``onet`` (original weights) as an ONNX graph, for :class:`~apdraw.face.mtcnn_onnx.OnnxMTCNN`.

    Input ``x`` (N, 3, H, W) float32 in [-1, 1] (N dynamic; H and W dynamic for P-Net, 24
    for R-Net, 48 for O-Net); outputs ``prob`` and ``reg`` (and ``points`` for O-Net), as
    the torch nets return them. Needs the ``onnx`` package.
    """
    from apdraw.io import atomic_write

    out = Path(out)
    net = load_net(name).to(memory_format=torch.contiguous_format)
    side = {"pnet": 61, "rnet": 24, "onet": 48}[name]
    x = torch.zeros(2, 3, side, side)
    outputs = ["prob", "reg", "points"] if name == "onet" else ["prob", "reg"]
    axes = {"x": {0: "n", 2: "h", 3: "w"} if name == "pnet" else {0: "n"}}
    axes.update({o: {0: "n", 1: "h", 2: "w"} if name == "pnet" and o == "prob" else
                 {0: "n", 2: "h", 3: "w"} if name == "pnet" else {0: "n"} for o in outputs})  # fmt: skip
    import io

    buf = io.BytesIO()
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter's notice
        # The TorchScript exporter: these nets are plain convolutions, and it exports in well under a second.
        torch.onnx.export(net, (x,), buf, input_names=["x"], output_names=outputs, opset_version=opset,
                          dynamic_axes=axes, dynamo=False)  # fmt: skip
    with atomic_write(out) as f:
        f.write(buf.getvalue())
    return out
