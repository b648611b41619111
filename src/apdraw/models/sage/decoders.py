"""SAGE's 2D decoders (SPEC C.2 "Image decoder GNet", "Semantic decoder GNet_parsing").

Both decode the rendered feature map (B, 256, 64, 64), modulated by the
mapping code w_s through AdaIN:

* base: LReLU(0.2), AdaIN, EqConv3x3 (in -> width), LReLU, AdaIN;
* one block per doubling of the resolution, widths ``channels`` (256, 128, 64):
  nearest x2, EqConv3x3, LReLU, AdaIN, EqConv3x3, LReLU, AdaIN;
* a 1x1 EqConv head ("ToRGB", no activation) after the base and after every block;
* progressive fade between the last two scales: out = (1 - alpha) blur(bilinear x2
  of the previous scale's head) + alpha head(current), blur = [1,2,1] x [1,2,1] / 16.

The semantic decoder's head emits 19 class logits, the image decoder's RGB
(unbounded; the translator or the discriminator sees it as an image in about [-1, 1]).

Paper size: blocks for outputs up to 512 (64 x 2³) are built though the
curriculum stops at 256; 3,049,420 parameters with an RGB head and 3,060,748
with 19 classes (SPEC: "image decoder 23.81 M of which the UNet is 20.76 M",
so 3.05 M without it; "parsing decoder 3.06 M").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from apdraw.models.layers import check_shape


@dataclass
class DecoderConfig:
    """One decoder. Defaults = the paper's image decoder (``out_channels=19`` for the semantic one)."""

    out_channels: int = 3  # 3 (RGB) or the number of semantic classes (19)
    in_channels: int = 256  # channels of the rendered feature map (the field's hidden width)
    style_dim: int = 256  # length of the mapping code w_s
    width: int = 256  # the base conv's output
    channels: tuple[int, ...] = (256, 128, 64)  # output width of each upsampling block
    input_resolution: int = 64  # side of the rendered feature map (the renderer's resolution)
    adain_gain: float = 0.25  # AdaIN's Linear weight is scaled by this at init (bias 0)

    def __post_init__(self) -> None:
        if min(self.out_channels, self.in_channels, self.style_dim, self.width, self.input_resolution) < 1:
            raise ValueError("out_channels, in_channels, style_dim, width and input_resolution must be >= 1")
        if any(c < 1 for c in self.channels):
            raise ValueError(f"channels must be positive, got {self.channels}")
        if self.adain_gain <= 0:
            raise ValueError(f"adain_gain must be > 0, got {self.adain_gain}")

    @property
    def max_output(self) -> int:
        """The largest output side: input_resolution x 2^len(channels)."""
        return self.input_resolution * 2 ** len(self.channels)

    def output_sizes(self) -> tuple[int, ...]:
        """Every side the decoder can produce, from input_resolution up to max_output."""
        return tuple(self.input_resolution * 2**k for k in range(len(self.channels) + 1))


class EqualizedConv2d(nn.Module):
    """Conv with the equalised learning rate (ProGAN): weight ~ N(0, 1), scaled at run time by sqrt(2 / fan_in).

    Zero bias, "same" padding (kernel // 2). (B, in_ch, H, W) -> (B, out_ch, H, W).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.scale = math.sqrt(2.0 / (in_ch * kernel * kernel)) * lr_mul
        self.lr_mul = lr_mul
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias * self.lr_mul, padding=self.padding)


class AdaIN(nn.Module):
    """Adaptive instance norm: y_s * IN(x) + y_b with (y_s, y_b) = Linear(style).

    The Linear's weight is scaled by ``gain`` at init and its bias is 0, as in the
    original; note that y_s then starts near 0 (not 1), so AdaIN first shrinks its
    input (the next instance norm undoes the scale).
    forward(x (B, C, H, W), style (B, style_dim)) -> (B, C, H, W).
    """

    def __init__(self, channels: int, style_dim: int, gain: float = 0.25):
        super().__init__()
        self.channels = channels
        self.affine = nn.Linear(style_dim, 2 * channels)
        with torch.no_grad():
            self.affine.weight.mul_(gain)
            self.affine.bias.zero_()

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        ys, yb = self.affine(style).chunk(2, dim=1)
        return ys[:, :, None, None] * F.instance_norm(x) + yb[:, :, None, None]


class _ConvAdaIN(nn.Module):
    """EqConv3x3, LReLU(0.2), AdaIN: (B, in_ch, H, W), style -> (B, out_ch, H, W)."""

    def __init__(self, in_ch: int, out_ch: int, style_dim: int, gain: float):
        super().__init__()
        self.conv = EqualizedConv2d(in_ch, out_ch, 3)
        self.norm = AdaIN(out_ch, style_dim, gain)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.norm(F.leaky_relu(self.conv(x), 0.2), style)


class _UpBlock(nn.Module):
    """Nearest x2, then two EqConv3x3 + LReLU + AdaIN: (B, in_ch, H, W), style -> (B, out_ch, 2H, 2W)."""

    def __init__(self, in_ch: int, out_ch: int, style_dim: int, gain: float):
        super().__init__()
        self.conv1 = _ConvAdaIN(in_ch, out_ch, style_dim, gain)
        self.conv2 = _ConvAdaIN(out_ch, out_ch, style_dim, gain)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv2(self.conv1(x, style), style)


def blur(x: torch.Tensor) -> torch.Tensor:
    """[1, 2, 1] x [1, 2, 1] / 16 per channel, reflect padding: (B, C, H, W) -> (B, C, H, W)."""
    k1 = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype)
    k = (k1[:, None] * k1[None, :] / 16.0).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), k, groups=x.shape[1])


class ProgressiveDecoder(nn.Module):
    """Rendered features + mapping code -> an image or semantic logits at a chosen scale.

    forward(features (B, in_channels, R, R) with R = ``cfg.input_resolution``,
    code (B, style_dim), output_size in ``cfg.output_sizes()`` (None: the largest),
    alpha in [0, 1] (the fade-in of the newest scale; 1 = fully in))
    -> (B, out_channels, S, S), raw (no activation).
    """

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.cfg = cfg
        g = cfg.adain_gain
        self.in_norm = AdaIN(cfg.in_channels, cfg.style_dim, g)
        self.base = _ConvAdaIN(cfg.in_channels, cfg.width, cfg.style_dim, g)
        widths = (cfg.width, *cfg.channels)
        self.blocks = nn.ModuleList(_UpBlock(a, b, cfg.style_dim, g) for a, b in zip(widths[:-1], widths[1:]))
        self.heads = nn.ModuleList(EqualizedConv2d(c, cfg.out_channels, 1) for c in widths)

    def forward(self, features: torch.Tensor, code: torch.Tensor, output_size: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        cfg = self.cfg
        r = cfg.input_resolution
        b = check_shape(features, "features", (None, cfg.in_channels, r, r))[0]
        check_shape(code, "code", (b, cfg.style_dim))
        size = cfg.max_output if output_size is None else output_size
        if size not in cfg.output_sizes():
            raise ValueError(f"output_size must be one of {cfg.output_sizes()}, got {size}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        depth = int(math.log2(size // r))
        x = self.base(self.in_norm(F.leaky_relu(features, 0.2), code), code)
        prev = x
        for block in self.blocks[:depth]:
            prev, x = x, block(x, code)
        out = self.heads[depth](x)
        if depth and alpha < 1.0:
            skip = blur(F.interpolate(self.heads[depth - 1](prev), scale_factor=2, mode="bilinear", align_corners=False))
            out = (1.0 - alpha) * skip + alpha * out
        return out


def image_decoder(cfg: DecoderConfig) -> ProgressiveDecoder:
    """The image decoder (GNet without its U-Net): RGB (B, 3, S, S), unbounded, about [-1, 1] once trained."""
    if cfg.out_channels != 3:
        raise ValueError(f"the image decoder emits RGB; out_channels must be 3, got {cfg.out_channels}")
    return ProgressiveDecoder(cfg)


def semantic_decoder(cfg: DecoderConfig) -> ProgressiveDecoder:
    """The semantic decoder (GNet_parsing): class logits (B, classes, S, S), no activation."""
    return ProgressiveDecoder(cfg)
