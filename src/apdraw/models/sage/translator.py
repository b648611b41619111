"""SAGE's SPADE U-Net translator G_p (SPEC C.2 "SPADE U-Net translator U_Net"): photo + semantic map -> drawing.

* Encoder: ``conv_block`` = (conv3x3, InstanceNorm, LReLU(0.2)) x 2 at widths
  32 / 64 / 128 / 256 / 512, a 2x2 max-pool between levels (16² at a 256 input).
* Decoder, from the bottom: nearest x2, conv3x3 (C -> C/2), IN, LReLU, concat the
  encoder skip, then a block (2 C/2 -> C/2). The ``spade_levels`` deepest blocks
  (2: the 32² and 64² maps at a 256 input) are :class:`SpadeConvBlock`s
  conditioned on the semantic logits, the rest plain ``conv_block``s.
* Head: conv1x1 (32 -> out_channels).

The original's head is a conv to 3 channels with no Tanh, its output used as the
(RGB) drawing; here the drawing is one channel in [-1, 1] (``out_channels=1,
tanh=True``, the project's drawing convention). Set ``out_channels=3,
tanh=False`` for the original's. The instance norms have no affine parameters
(the parameter count then equals the measured 20.76 M: 20,757,089 with the
1-channel head, 20,757,155 with the original's 3-channel one).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from apdraw.models.layers import check_shape, norm_layer


@dataclass
class TranslatorConfig:
    """G_p. Defaults = the paper's size (with the 1-channel drawing head)."""

    in_channels: int = 3  # the image decoder's RGB
    semantic_channels: int = 19  # the semantic decoder's logits
    out_channels: int = 1  # the drawing (the original: 3)
    tanh: bool = True  # the original: no output activation
    channels: tuple[int, ...] = (32, 64, 128, 256, 512)  # encoder widths, one per level
    spade_levels: int = 2  # decoder blocks (from the bottom) that use SPADE
    spade_hidden: int = 128  # SPADE's shared conv width

    def __post_init__(self) -> None:
        if min(self.in_channels, self.semantic_channels, self.out_channels, self.spade_hidden) < 1:
            raise ValueError("in_channels, semantic_channels, out_channels and spade_hidden must be >= 1")
        if len(self.channels) < 2 or any(c < 1 for c in self.channels):
            raise ValueError(f"channels needs >= 2 positive widths, got {self.channels}")
        if not 0 <= self.spade_levels <= len(self.channels) - 1:
            raise ValueError(f"spade_levels must be in [0, {len(self.channels) - 1}], got {self.spade_levels}")

    @property
    def factor(self) -> int:
        """Input sides must be divisible by this (one max-pool per level below the first)."""
        return 2 ** (len(self.channels) - 1)


def conv_block(in_ch: int, out_ch: int) -> nn.Sequential:
    """(conv3x3, InstanceNorm without affine, LReLU(0.2)) x 2: (B, in_ch, H, W) -> (B, out_ch, H, W)."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1), norm_layer("instance_noaffine", out_ch), nn.LeakyReLU(0.2),
        nn.Conv2d(out_ch, out_ch, 3, padding=1), norm_layer("instance_noaffine", out_ch), nn.LeakyReLU(0.2),
    )  # fmt: skip


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: IN(x) * (1 + gamma(seg)) + beta(seg).

    The segmentation map is nearest-resized to x's size, then conv3x3 (seg -> hidden),
    ReLU, and two conv3x3 heads (hidden -> C) give gamma and beta.
    forward(x (B, C, H, W), seg (B, seg_ch, h, w) any size) -> (B, C, H, W).
    """

    def __init__(self, channels: int, seg_channels: int, hidden: int = 128):
        super().__init__()
        self.shared = nn.Sequential(nn.Conv2d(seg_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        seg = F.interpolate(seg, size=x.shape[-2:], mode="nearest")
        h = self.shared(seg)
        return F.instance_norm(x) * (1.0 + self.gamma(h)) + self.beta(h)


class SPADEResBlock(nn.Module):
    """x + conv3(LReLU(SPADE(conv3(LReLU(SPADE(x)))))) at a fixed width: (B, C, H, W), seg -> (B, C, H, W)."""

    def __init__(self, channels: int, seg_channels: int, hidden: int = 128):
        super().__init__()
        self.norm1 = SPADE(channels, seg_channels, hidden)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = SPADE(channels, seg_channels, hidden)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.leaky_relu(self.norm1(x, seg), 0.2))
        return x + self.conv2(F.leaky_relu(self.norm2(h, seg), 0.2))


class SpadeConvBlock(nn.Module):
    """SPADEResBlock(in), LReLU, conv3x3 (in -> out), SPADEResBlock(out), LReLU: (B, in, H, W), seg -> (B, out, H, W)."""

    def __init__(self, in_ch: int, out_ch: int, seg_channels: int, hidden: int = 128):
        super().__init__()
        self.res1 = SPADEResBlock(in_ch, seg_channels, hidden)
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.res2 = SPADEResBlock(out_ch, seg_channels, hidden)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.leaky_relu(self.res1(x, seg), 0.2))
        return F.leaky_relu(self.res2(x, seg), 0.2)


class _UpConv(nn.Sequential):
    """Nearest x2, conv3x3, IN, LReLU: (B, in_ch, H, W) -> (B, out_ch, 2H, 2W)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 3, padding=1),
            norm_layer("instance_noaffine", out_ch), nn.LeakyReLU(0.2),
        )  # fmt: skip


class SpadeUNet(nn.Module):
    """G_p: photo + semantic logits -> drawing.

    forward(photo (B, in_channels, H, W), about [-1, 1], H and W divisible by
    ``cfg.factor``; semantic (B, semantic_channels, h, w) raw logits, any size (nearest-resized))
    -> (B, out_channels, H, W), in [-1, 1] with ``cfg.tanh``.
    """

    def __init__(self, cfg: TranslatorConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        n = len(c)
        self.encoder = nn.ModuleList(conv_block(a, b) for a, b in zip((cfg.in_channels, *c[:-1]), c))
        # decoder level i (from the bottom, i = n-1 .. 1) upsamples c[i] -> c[i-1] and merges skip i-1
        self.ups = nn.ModuleList(_UpConv(c[i], c[i - 1]) for i in range(n - 1, 0, -1))
        blocks: list[nn.Module] = []
        for k, i in enumerate(range(n - 1, 0, -1)):
            w = c[i - 1]
            spade = k < cfg.spade_levels
            blocks.append(SpadeConvBlock(2 * w, w, cfg.semantic_channels, cfg.spade_hidden) if spade else conv_block(2 * w, w))
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(c[0], cfg.out_channels, 1)

    def forward(self, photo: torch.Tensor, semantic: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        b, _, h, w = check_shape(photo, "photo", (None, cfg.in_channels, None, None))
        check_shape(semantic, "semantic", (b, cfg.semantic_channels, None, None))
        if h % cfg.factor or w % cfg.factor:
            raise ValueError(f"photo: H and W must be divisible by {cfg.factor}, got {(h, w)}")
        skips = []
        x = photo
        for i, enc in enumerate(self.encoder):
            x = enc(F.max_pool2d(x, 2) if i else x)
            skips.append(x)
        for k, (up, block) in enumerate(zip(self.ups, self.blocks)):
            x = torch.cat([skips[-2 - k], up(x)], 1)
            x = block(x, semantic) if isinstance(block, SpadeConvBlock) else block(x)
        y = self.head(x)
        return torch.tanh(y) if cfg.tanh else y
