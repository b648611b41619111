"""`apdraw train linedetector`: train the line detectors Θ_b / Θ_w of the DT loss on NPR drawings,
or (``input=photo``, ours) the photo edge network of QMUPD's relaxed cycle.

Targets are the morphological line masks (:func:`apdraw.losses.dt.line_masks`)
of clean NPR drawings (the same cached NPR pairs as APDrawingGAN's
pre-training). Inputs are the same drawings degraded the way a generator's
output differs from a clean binary drawing: grey ink and off-white paper,
blur, noise. The network thus learns "is this a thin stroke" independently of
contrast, and is differentiable where the morphological operator is not.

With ``input=photo`` the input is the NPR pair's *photo* (same geometric augmentation, a mild
brightness / contrast jitter) and the targets are the same line masks of its NPR drawing: the
network learns to find, in a photo, the lines the engine would draw, differentiably
(``src/apdraw/configs/edgenet.yaml``).

Export the trained net for the DT loss with::

    apdraw export linedetector runs/linedetector/checkpoints/latest.pt OUT.safetensors

(the APDrawingGAN task also reads the ``latest.pt`` directly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from apdraw.data.paired import AlignedPair, DataConfig, PairAugmentConfig, augment_matrix, build_records, preprocess
from apdraw.data.sampling import SampleKey, key_index, sample_rng
from apdraw.losses.dt import line_masks
from apdraw.models.linedetector import LineDetector, LineDetectorConfig
from apdraw.persistence import checkpoint_module, read_checkpoint
from apdraw.train.loop import Context, LoopConfig, TrainTask


@dataclass
class DegradeConfig:
    """Random degradations of the input drawing (targets stay clean); input=photo: only the noise."""

    ink_max: float = 0.7  # ink grey drawn from [0, ink_max] (0 = black)
    paper_min: float = 0.8  # paper grey drawn from [paper_min, 1]
    blur_max: float = 1.2  # Gaussian blur sigma (px at the training size) drawn from [0, blur_max]
    noise_max: float = 0.05  # additive Gaussian noise sigma, in [0, 1] grey units
    photo_jitter: float = 0.15  # input=photo: brightness shift and contrast change drawn from ±this


@dataclass
class Config:
    model: LineDetectorConfig = field(default_factory=LineDetectorConfig)
    # drawing: the DT loss's detectors (model.in_channels 1); photo: the edge network (model.in_channels 3)
    input: Literal["drawing", "photo"] = "drawing"
    resolution: int = 256
    line_width: float = 6.0  # px at 512; must match the DT loss's line_width
    lr: float = 1e-3
    data: DataConfig = field(default_factory=lambda: DataConfig(source="npr", max_items=300))
    degrade: DegradeConfig = field(default_factory=DegradeConfig)
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(out_dir="runs/linedetector", steps=2000, batch_size=8, sample_every=250))

    def __post_init__(self) -> None:
        if self.resolution <= 0 or self.resolution % 2 ** len(self.model.channels):
            raise ValueError(f"resolution must be a positive multiple of {2 ** len(self.model.channels)}, got {self.resolution}")
        if self.model.in_channels != (3 if self.input == "photo" else 1):
            raise ValueError(f"input={self.input} needs model.in_channels={3 if self.input == 'photo' else 1}, got {self.model.in_channels}")
        if self.lr <= 0 or self.line_width <= 0:
            raise ValueError(f"lr and line_width must be positive, got {self.lr}, {self.line_width}")


class LineDataset(torch.utils.data.Dataset):
    """Cached NPR pairs -> (input, line targets (2, S, S) in {0, 1}).

    The input is the degraded drawing (1, S, S) in [-1, 1], or with ``photo_input`` the pair's
    jittered photo (3, S, S) in [-1, 1]; the targets are the clean drawing's line masks.
    """

    def __init__(self, drawings: list, resolution: int, line_width: float, degrade: DegradeConfig,
                 augment: PairAugmentConfig | None = None, photo_input: bool = False):  # fmt: skip
        """``drawings``: cache files of :class:`AlignedPair` or (512, 512) uint8 arrays (drawing input only)."""
        if photo_input and any(isinstance(item, np.ndarray) for item in drawings):
            raise ValueError("photo_input needs AlignedPair cache files (a photo with each drawing)")
        self.items = drawings
        self.photo_input = photo_input
        self.s = resolution
        self.width = line_width * resolution / 512
        self.degrade = degrade
        self.augment = augment or PairAugmentConfig()

    def __len__(self) -> int:
        return len(self.items)

    def _drawing(self, i: int) -> np.ndarray:
        item = self.items[i]
        return item if isinstance(item, np.ndarray) else AlignedPair.load(item).drawing

    def __getitem__(self, key: SampleKey | int):
        rng = sample_rng(key)
        i = key_index(key)
        pair = AlignedPair.load(self.items[i]) if self.photo_input else None
        d = pair.drawing if pair is not None else self._drawing(i)
        flip = self.augment.flip and rng.random() < 0.5
        m = augment_matrix(rng, self.augment, d.shape[0])
        k = self.s / d.shape[0]
        m = np.array([[k, 0, (k - 1) / 2], [0, k, (k - 1) / 2]]) @ np.vstack([m, [0, 0, 1]])

        def warp(image: np.ndarray, border: int, border_value: int = 0) -> np.ndarray:
            image = np.ascontiguousarray(image[:, ::-1] if flip else image)
            image = cv2.GaussianBlur(image, (0, 0), 0.35 / k) if k < 1 else image  # anti-alias the downscale
            return cv2.warpAffine(image, m, (self.s, self.s), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=border_value)

        d = warp(d, cv2.BORDER_CONSTANT, 255)
        target = line_masks(d, self.width)
        g = self.degrade
        if pair is not None:
            x = warp(pair.photo, cv2.BORDER_REPLICATE).astype(np.float32) / 255.0
            contrast, shift = 1 + rng.uniform(-g.photo_jitter, g.photo_jitter), rng.uniform(-g.photo_jitter, g.photo_jitter)
            x = (x - 0.5) * contrast + 0.5 + shift
            x = x + rng.normal(0, rng.uniform(0, g.noise_max), x.shape).astype(np.float32)
            x = np.clip(x, 0, 1) * 2 - 1
            return torch.from_numpy(x.transpose(2, 0, 1).copy()), torch.from_numpy(target).float()
        x = d.astype(np.float32) / 255.0
        ink, paper = rng.uniform(0, g.ink_max), rng.uniform(g.paper_min, 1.0)
        x = ink + (paper - ink) * x
        sigma = rng.uniform(0, g.blur_max)
        if sigma > 0.3:
            x = cv2.GaussianBlur(x, (0, 0), sigma)
        x = x + rng.normal(0, rng.uniform(0, g.noise_max), x.shape).astype(np.float32)
        x = np.clip(x, 0, 1) * 2 - 1
        return torch.from_numpy(x)[None], torch.from_numpy(target).float()


class Task(TrainTask):
    def __init__(self, cfg: Config, dataset: torch.utils.data.Dataset | None = None):
        super().__init__()
        self.config = cfg
        if dataset is None:
            records, tag = build_records(cfg.data)
            files = preprocess(records, cfg.data.cache_dir, tag)
            if not files:
                raise ValueError("no NPR drawings: no face found in any photo of data.photo_roots")
            dataset = LineDataset(files, cfg.resolution, cfg.line_width, cfg.degrade, cfg.data.augment, photo_input=cfg.input == "photo")
        self.dataset = dataset

    def build(self, ctx: Context) -> None:
        net = ctx.prepare(LineDetector(self.config.model))
        self.modules["detector"] = net
        self.net = ctx.wrap(net)
        opt = torch.optim.Adam(net.parameters(), lr=self.config.lr, betas=(0.9, 0.999))
        self.optimizers["detector"] = opt
        total = self.config.loop.steps
        self.schedulers["detector"] = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + np.cos(np.pi * min(s, total) / total)) * 0.95 + 0.05)

    def train_step(self, batch, step: int, ctx: Context) -> dict[str, float]:
        x, y = batch
        with ctx.autocast():
            logits = self.net(x)
        # Lines are a few % of the pixels: weight positives so they are not ignored.
        pos = y.mean((0, 2, 3)).clamp_min(1e-3)
        weight = ((1 - pos) / pos).clamp(max=20.0).view(1, 2, 1, 1)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y, pos_weight=weight)
        ctx.step(self.optimizers["detector"], loss)
        with torch.no_grad():
            pred = logits.float() > 0
            inter = (pred & (y > 0.5)).sum((0, 2, 3)).float()
            union = (pred | (y > 0.5)).sum((0, 2, 3)).float().clamp_min(1)
            iou = inter / union
        return {"loss": loss.item(), "iou_black": iou[0].item(), "iou_white": iou[1].item()}

    def sample(self, batch, ctx: Context) -> np.ndarray:
        """Rows of [input | target black | predicted black | target white | predicted white]."""
        x, y = batch
        n = min(4, x.shape[0])
        p = torch.sigmoid(self.net(x[:n]).float()) * 2 - 1
        t = y[:n] * 2 - 1
        cols = [x[:n].mean(1, keepdim=True), t[:, :1], p[:, :1], t[:, 1:], p[:, 1:]]
        grid = torch.cat([torch.cat(list(c), 1) for c in cols], 2)[0]
        img = ((grid.cpu().numpy() + 1) * 127.5).round().astype(np.uint8)
        return np.repeat(img[..., None], 3, 2)


def load_line_detector(path: str) -> LineDetector | None:
    """A line detector (or edge network) from a .safetensors export or a `linedetector` run's checkpoint, in eval mode.

    ``""`` gives None. Raises FileNotFoundError, or :class:`apdraw.persistence.WeightsError` for a file that does not fit.
    """
    if not path:
        return None
    if str(path).endswith(".safetensors"):
        return LineDetector.load(path).eval()
    return detector_from_checkpoint(path)


def detector_from_checkpoint(path: str | Path) -> LineDetector:
    """The detector of a ``linedetector`` training checkpoint, in eval mode."""
    from apdraw.config import from_dict

    state = read_checkpoint(path)
    det = LineDetector(from_dict(LineDetectorConfig, state["config"]["model"]))
    det.load_state_dict(checkpoint_module(state, "detector", source=str(path)))
    return det.eval()


def export(checkpoint: str | Path, out: str | Path, half: bool = False) -> Path:
    """Write the detector of a training checkpoint as a standalone .safetensors file (fp32 unless ``half``)."""
    from apdraw.persistence import save_model
    from apdraw.models.linedetector import FORMAT

    det = detector_from_checkpoint(checkpoint)
    return save_model(out, det, FORMAT, det.cfg, half=half)
