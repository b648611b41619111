"""SAGE's discriminators (SPEC C.3): pi-GAN style progressive CoordConv discriminators with a pose head.

One architecture, three inputs: images (3 channels), semantic maps (19 channels;
one-hot maps in {-1, +1} for real ones, logits for generated ones) and drawings
(1 channel, this project's convention; the original feeds its 3-channel
drawings to the image discriminator).

* :class:`ResidualCoordBlock` (in -> out, halves the side): CoordConv3x3, LReLU(0.2),
  CoordConv3x3 stride 2, LReLU, plus a 1x1 stride-2 projection of the input; the
  sum is divided by sqrt 2. CoordConv = a conv on the input with two extra
  channels holding the x and y coordinates in [-1, 1].
* Widths 32 -> 64 -> 128 -> 256 -> 400 -> 400 -> 400 -> 400 (7 blocks, 256² -> 2²).
* One "fromRGB" adapter (1x1 conv + LReLU) per block input width. An image of
  side S enters at block 8 - log2(S) (256 at 0, 128 at 1, 64 at 2). While a
  scale fades in (alpha < 1), the output of the entry block is blended with the
  next block's adapter applied to the nearest-downsampled input.
* Final conv 2x2 (400 -> 1 + 2): a real/fake logit and a (pitch, yaw) regression.
* Kaiming-normal (leaky ReLU, a = 0.2) conv weights.

Paper size: 12,879,619 parameters with 3 input channels (SPEC: 12.88 M),
12,906,499 with 19 (SPEC: 12.91 M), 12,876,259 with 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from apdraw.models.layers import check_shape


@dataclass
class DiscriminatorConfig:
    """Widths shared by the three discriminators. Defaults = the paper's."""

    channels: tuple[int, ...] = (32, 64, 128, 256, 400, 400, 400, 400)  # block i maps channels[i] -> channels[i+1]
    pose_dims: int = 2  # (pitch, yaw)
    image_channels: int = 3
    semantic_channels: int = 19
    drawing_channels: int = 1

    def __post_init__(self) -> None:
        if len(self.channels) < 2 or any(c < 1 for c in self.channels):
            raise ValueError(f"channels needs >= 2 positive widths, got {self.channels}")
        if self.pose_dims < 0 or min(self.image_channels, self.semantic_channels, self.drawing_channels) < 1:
            raise ValueError("pose_dims must be >= 0 and the input channels >= 1")

    @property
    def blocks(self) -> int:
        return len(self.channels) - 1

    @property
    def max_input(self) -> int:
        """The largest input side (the one entering at block 0): 2^(blocks + 1)."""
        return 2 ** (self.blocks + 1)

    def input_sizes(self) -> tuple[int, ...]:
        """Every accepted input side, 4 .. max_input."""
        return tuple(2**k for k in range(2, self.blocks + 2))


def add_coords(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C + 2, H, W): x then y coordinates in [-1, 1] appended.

    On x's device and dtype (the original builds them on CUDA only, SPEC C.3).
    """
    b, _, h, w = x.shape
    ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.cat([x, xx.expand(b, 1, h, w), yy.expand(b, 1, h, w)], 1)


class CoordConv(nn.Conv2d):
    """A conv that sees two coordinate channels besides its input: (B, in_ch, H, W) -> (B, out_ch, H', W')."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__(in_ch + 2, out_ch, kernel, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(add_coords(x))


class ResidualCoordBlock(nn.Module):
    """(CoordConv3 + LReLU + CoordConv3 s2 + LReLU)(x) + conv1x1 s2 (x), over sqrt 2: (B, in, H, W) -> (B, out, H/2, W/2)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.body = nn.Sequential(
            CoordConv(in_ch, out_ch, 3, padding=1), nn.LeakyReLU(0.2),
            CoordConv(out_ch, out_ch, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.proj = nn.Conv2d(in_ch, out_ch, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.body(x) + self.proj(x)) / math.sqrt(2.0)


class ProgressiveDiscriminator(nn.Module):
    """Images, semantic maps or drawings -> (real/fake logit, pose).

    forward(x (B, in_channels, S, S), S in ``cfg.input_sizes()`` (64, 128, 256 in
    the curriculum), values about [-1, 1]; alpha in [0, 1] (fade-in of the current
    scale, 1 = fully in)) -> logit (B, 1), pose (B, pose_dims) = (pitch, yaw) in radians.
    """

    def __init__(self, cfg: DiscriminatorConfig, in_channels: int):
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        self.cfg = cfg
        self.in_channels = in_channels
        c = cfg.channels
        self.layers = nn.ModuleList(ResidualCoordBlock(a, b) for a, b in zip(c[:-1], c[1:]))
        self.adapters = nn.ModuleList(nn.Sequential(nn.Conv2d(in_channels, w, 1), nn.LeakyReLU(0.2)) for w in c[:-1])
        self.final = nn.Conv2d(c[-1], 1 + cfg.pose_dims, 2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")

    def forward(self, x: torch.Tensor, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, s, _ = check_shape(x, "input", (None, self.in_channels, None, None))
        check_shape(x, "input", (b, self.in_channels, s, s))
        if s not in self.cfg.input_sizes():
            raise ValueError(f"input side must be one of {self.cfg.input_sizes()}, got {s}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        start = self.cfg.blocks + 1 - int(math.log2(s))
        h = self.layers[start](self.adapters[start](x))
        if alpha < 1.0 and start + 1 < self.cfg.blocks:
            skip = self.adapters[start + 1](F.interpolate(x, scale_factor=0.5, mode="nearest"))
            h = alpha * h + (1.0 - alpha) * skip
        for layer in self.layers[start + 1 :]:
            h = layer(h)
        out = self.final(h).flatten(1)
        return out[:, :1], out[:, 1:]


def build_discriminators(cfg: DiscriminatorConfig) -> nn.ModuleDict:
    """The three discriminators: ``image`` (photos), ``semantic`` (19-class maps) and ``drawing``.

    (The original's train.py builds D_parsing with 3 input channels when it starts
    without ``--load_dir``, SPEC C.5; the semantic one here always takes the classes.)
    """
    return nn.ModuleDict(
        {
            "image": ProgressiveDiscriminator(cfg, cfg.image_channels),
            "semantic": ProgressiveDiscriminator(cfg, cfg.semantic_channels),
            "drawing": ProgressiveDiscriminator(cfg, cfg.drawing_channels),
        }
    )
