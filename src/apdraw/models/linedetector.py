"""Line detectors Θ_b (black lines) and Θ_w (white lines) of the APDrawingGAN DT loss,
and the photo edge network of QMUPD's relaxed cycle.

One small U-Net with two output channels: logit of "this pixel is on a thin
black stroke" and of "this pixel is on a thin white stroke". It is trained
(``apdraw train linedetector``) on NPR drawings to reproduce the morphological
line definition of :func:`apdraw.losses.dt.line_masks` on blurred / grey /
noisy renderings, so that it also works on a generator's soft outputs, and,
unlike the morphological operator, it is differentiable with respect to the
drawing: the DT loss backpropagates through it (its weights stay frozen).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from apdraw.models.layers import NormKind, UNet, init_weights

FORMAT = "apdraw.linedetector/1"


@dataclass
class LineDetectorConfig:
    channels: tuple[int, ...] = (16, 32, 64, 64)
    norm: NormKind = "batch"
    in_channels: int = 1  # 1: a drawing (the DT loss's detectors); 3: an RGB photo (the edge network)

    def __post_init__(self) -> None:
        if self.in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 (drawing) or 3 (photo), got {self.in_channels}")


class LineDetector(nn.Module):
    """(B, C, H, W) image in [-1, 1] -> (B, 2, H, W) logits (black line, white line).

    C = cfg.in_channels (1: a drawing, 3: an RGB photo); H and W must be divisible by
    2**len(cfg.channels).
    """

    def __init__(self, cfg: LineDetectorConfig | None = None):
        super().__init__()
        self.cfg = cfg or LineDetectorConfig()
        self.net = UNet(self.cfg.in_channels, 2, self.cfg.channels, self.cfg.norm, dropout=0.0, tanh=False)
        init_weights(self)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() != 4 or image.shape[1] != self.cfg.in_channels:
            raise ValueError(f"expected (B, {self.cfg.in_channels}, H, W), got shape {tuple(image.shape)}")
        return self.net(image)

    def save(self, path: str | Path) -> Path:
        """safetensors, fp32 (the net is tiny), config in the metadata."""
        from apdraw.persistence import save_model

        return save_model(path, self, FORMAT, self.cfg, half=False)

    @classmethod
    def load(cls, path: str | Path) -> "LineDetector":
        """Raises FileNotFoundError, or :class:`apdraw.persistence.WeightsError` for a file that does not fit."""
        from apdraw.persistence import load_model

        model, _ = load_model(path, FORMAT, LineDetectorConfig, lambda cfg, meta: cls(cfg))
        return model
