"""Line detectors Θ_b (black lines) and Θ_w (white lines) of the APDrawingGAN DT loss.

One small U-Net with two output channels: logit of "this pixel is on a thin
black stroke" and of "this pixel is on a thin white stroke". It is trained
(``apdraw train linedetector``) on NPR drawings to reproduce the morphological
line definition of :func:`apdraw.losses.dt.line_masks` on blurred / grey /
noisy renderings, so that it also works on a generator's soft outputs, and,
unlike the morphological operator, it is differentiable with respect to the
drawing: the DT loss backpropagates through it (its weights stay frozen).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from apdraw.config import from_dict
from apdraw.models.layers import NormKind, UNet, init_weights

FORMAT = "apdraw.linedetector/1"


@dataclass
class LineDetectorConfig:
    channels: tuple[int, ...] = (16, 32, 64, 64)
    norm: NormKind = "batch"


class LineDetector(nn.Module):
    """(B, 1, H, W) drawing in [-1, 1] -> (B, 2, H, W) logits (black line, white line).

    H and W must be divisible by 2**len(cfg.channels).
    """

    def __init__(self, cfg: LineDetectorConfig | None = None):
        super().__init__()
        self.cfg = cfg or LineDetectorConfig()
        self.net = UNet(1, 2, self.cfg.channels, self.cfg.norm, dropout=0.0, tanh=False)
        init_weights(self)

    def forward(self, drawing: torch.Tensor) -> torch.Tensor:
        return self.net(drawing)

    def save(self, path: str | Path) -> None:
        """safetensors, fp32 (the net is tiny), config in the metadata."""
        from safetensors.torch import save

        from apdraw.io import atomic_write

        sd = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_write(path) as f:
            f.write(save(sd, metadata={"format": FORMAT, "config": json.dumps(asdict(self.cfg))}))

    @classmethod
    def load(cls, path: str | Path) -> "LineDetector":
        from apdraw.io import load_weights

        sd, meta = load_weights(path, FORMAT)
        model = cls(from_dict(LineDetectorConfig, json.loads(meta["config"])))
        model.load_state_dict(sd)
        return model.eval()
