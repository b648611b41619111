"""Small reusable building blocks: U-Net, ResNet block and generator, PatchGAN, norm factory, init.

Conventions (those of pix2pix, which all three papers build on): images are in
[-1, 1]; generators end in Tanh;
discriminators return raw logits (the loss applies the sigmoid, which is
numerically safer under autocast than a Sigmoid layer followed by BCE).
Widths are explicit per-level channel tuples so one class serves both the
faithful full-size networks and the compact shipping ones.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn

NormKind = Literal["batch", "instance", "instance_noaffine", "none"]
# "transpose": ConvTranspose (CycleGAN, the papers); "resize": nearest 2x then conv3x3, which cannot
# make the checkerboard pattern a stride-2 transposed conv makes (Odena et al., Distill 2016). Ours.
UpsampleKind = Literal["transpose", "resize"]


def norm_layer(kind: NormKind, channels: int) -> nn.Module:
    """BatchNorm (the papers' choice), InstanceNorm (batch-size independent) or identity.

    ``instance`` has a learned scale and shift; ``instance_noaffine`` has none
    (no parameters, no running statistics: CycleGAN's ``--norm instance``).
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "instance_noaffine":
        return nn.InstanceNorm2d(channels, affine=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; use batch, instance, instance_noaffine or none")


def init_weights(module: nn.Module, std: float = 0.02) -> nn.Module:
    """pix2pix init: conv/linear weights ~ N(0, std), biases 0; norm weights ~ N(1, std), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return module


class _UNetLevel(nn.Module):
    """One level of a skip U-Net: down conv -> inner level (or nothing) -> up conv, then skip concat.

    Level 0 (outermost) has no pre-activation or norm on the way down and ends in
    Tanh without a skip; the innermost level has no down norm (its map can be 1x1).
    """

    def __init__(
        self,
        in_ch: int,
        ch: int,
        out_ch: int,
        inner: nn.Module | None,
        inner_out: int,
        outermost: bool,
        norm: NormKind,
        dropout: float,
        tanh: bool = True,
    ):
        super().__init__()
        innermost = inner is None
        bias = norm != "batch"
        down: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2, inplace=False)]
        down.append(nn.Conv2d(in_ch, ch, 4, 2, 1, bias=bias))
        if not (outermost or innermost):
            down.append(norm_layer(norm, ch))
        self.down = nn.Sequential(*down)
        self.inner = inner if inner is not None else nn.Identity()
        up: list[nn.Module] = [nn.ReLU(inplace=False), nn.ConvTranspose2d(ch if innermost else inner_out, out_ch, 4, 2, 1, bias=bias or outermost)]
        if outermost:
            if tanh:
                up.append(nn.Tanh())
        else:
            up.append(norm_layer(norm, out_ch))
            if dropout > 0:
                up.append(nn.Dropout(dropout))
        self.up = nn.Sequential(*up)
        self.outermost = outermost

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(self.inner(self.down(x)))
        return y if self.outermost else torch.cat([x, y], 1)


class UNet(nn.Module):
    """pix2pix-style skip U-Net with per-level widths.

    ``channels[i]`` is the width after the i-th stride-2 conv (len = number of
    downsamplings). ``dropout_levels`` counts the levels just above the innermost
    whose up path gets dropout (pix2pix's unet_256 uses 3).

    Input (B, in_ch, H, W) with H, W divisible by 2**len(channels); output
    (B, out_ch, H, W) in [-1, 1] (or raw logits with ``tanh=False``).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        channels: Sequence[int],
        norm: NormKind = "batch",
        dropout: float = 0.5,
        dropout_levels: int = 0,
        tanh: bool = True,
    ):
        super().__init__()
        n = len(channels)
        if n < 2:
            raise ValueError("a U-Net needs at least 2 levels")
        self.depth = n
        level: nn.Module | None = None
        inner_out = 0
        for i in reversed(range(n)):
            outermost = i == 0
            has_dropout = 0 < i < n - 1 and (n - 1 - i) <= dropout_levels
            block_out = out_ch if outermost else channels[i - 1]
            level = _UNetLevel(
                in_ch if outermost else channels[i - 1],
                channels[i],
                block_out,
                level,
                inner_out,
                outermost,
                norm,
                dropout if has_dropout else 0.0,
                tanh,
            )
            inner_out = 2 * block_out  # the skip concat doubles what the next level up receives
        self.net = level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = 2**self.depth
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(f"U-Net of depth {self.depth} needs H and W divisible by {m}, got {tuple(x.shape[-2:])}")
        return self.net(x)


class ResnetBlock(nn.Module):
    """x + [reflect-pad, conv3, norm, ReLU, (dropout), reflect-pad, conv3, norm](x); shape-preserving."""

    def __init__(self, ch: int, norm: NormKind = "batch", dropout: float = 0.0):
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=bias), norm_layer(norm, ch), nn.ReLU(True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=bias), norm_layer(norm, ch)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PatchGAN(nn.Module):
    """70x70 PatchGAN (n_layers=3): C64 s2, C128 s2, C256 s2, C512 s1, conv to 1 logit per patch.

    ``channels`` gives the widths of the 4 conv layers before the final 1-channel conv.
    Input (B, in_ch, H, W); output (B, 1, H', W') logits (62x62 for a 512² input).
    """

    def __init__(self, in_ch: int, channels: Sequence[int] = (64, 128, 256, 512), norm: NormKind = "batch"):
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(in_ch, channels[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for i in range(1, len(channels)):
            stride = 2 if i < len(channels) - 1 else 1
            layers += [nn.Conv2d(channels[i - 1], channels[i], 4, stride, 1, bias=bias), norm_layer(norm, channels[i]), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(channels[-1], 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def conv_norm_relu(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, norm: NormKind = "batch", reflect: bool = False) -> nn.Sequential:
    """Conv (padding kernel // 2: zeros, or reflection with ``reflect``), norm, ReLU.

    CycleGAN's c7s1-k is ``conv_norm_relu(in, k, 7, reflect=True)``, its dk
    ``conv_norm_relu(in, k, 3, 2)``. Conv bias only without BatchNorm.
    (B, in_ch, H, W) -> (B, out_ch, ceil(H / stride), ceil(W / stride)).
    """
    pad = kernel // 2
    layers: list[nn.Module] = [nn.ReflectionPad2d(pad)] if reflect and pad else []
    layers += [
        nn.Conv2d(in_ch, out_ch, kernel, stride, 0 if reflect else pad, bias=norm != "batch"),
        norm_layer(norm, out_ch),
        nn.ReLU(True),
    ]
    return nn.Sequential(*layers)


def up_norm_relu(in_ch: int, out_ch: int, norm: NormKind = "batch", upsample: UpsampleKind = "transpose") -> nn.Sequential:
    """2x upsampling, norm, ReLU: (B, in_ch, H, W) -> (B, out_ch, 2H, 2W).

    ``upsample="transpose"``: ConvTranspose 3x3 stride 2 (padding 1, output padding 1);
    ``"resize"``: nearest-neighbour 2x, then conv3x3 (padding 1). Same parameter count.
    """
    if upsample == "transpose":
        up: list[nn.Module] = [nn.ConvTranspose2d(in_ch, out_ch, 3, 2, padding=1, output_padding=1, bias=norm != "batch")]
    elif upsample == "resize":
        up = [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 3, 1, padding=1, bias=norm != "batch")]
    else:
        raise ValueError(f"upsample must be 'transpose' or 'resize', got {upsample!r}")
    return nn.Sequential(*up, norm_layer(norm, out_ch), nn.ReLU(True))


def resnet_encoder(in_ch: int, channels: Sequence[int], norm: NormKind = "batch") -> nn.Sequential:
    """c7s1-channels[0], then one stride-2 conv3x3 per further width (CycleGAN: 64, 128, 256).

    (B, in_ch, H, W) -> (B, channels[-1], H / 2**(n-1), W / 2**(n-1)) with n = len(channels).
    """
    layers = [conv_norm_relu(in_ch, channels[0], 7, 1, norm, reflect=True)]
    layers += [conv_norm_relu(a, b, 3, 2, norm) for a, b in zip(channels[:-1], channels[1:])]
    return nn.Sequential(*layers)


def resnet_decoder(
    channels: Sequence[int], out_ch: int, norm: NormKind = "batch", upsample: UpsampleKind = "transpose"
) -> nn.Sequential:
    """The mirror of :func:`resnet_encoder`: one :func:`up_norm_relu` per width step back down, then reflect-pad 3, conv7 to ``out_ch``, Tanh.

    (B, channels[-1], h, w) -> (B, out_ch, h * 2**(n-1), w * 2**(n-1)) in [-1, 1].
    """
    rev = list(channels)[::-1]
    layers: list[nn.Module] = [up_norm_relu(a, b, norm, upsample) for a, b in zip(rev[:-1], rev[1:])]
    layers += [nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(channels[0], out_ch, 7), nn.Tanh())]
    return nn.Sequential(*layers)


class ResnetGenerator(nn.Module):
    """CycleGAN's ResNet generator: :func:`resnet_encoder`, ``blocks`` ResnetBlocks at ``channels[-1]``, :func:`resnet_decoder`.

    ``channels=(64, 128, 256), blocks=9`` is CycleGAN's resnet_9blocks.
    Input (B, in_ch, H, W) with H, W divisible by 2**(len(channels) - 1);
    output (B, out_ch, H, W) in [-1, 1].
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        channels: Sequence[int] = (64, 128, 256),
        blocks: int = 9,
        norm: NormKind = "batch",
        dropout: float = 0.0,
        upsample: UpsampleKind = "transpose",
    ):
        super().__init__()
        if len(channels) < 1:
            raise ValueError("a ResNet generator needs at least one width")
        self.factor = 2 ** (len(channels) - 1)
        self.encoder = resnet_encoder(in_ch, channels, norm)
        self.blocks = nn.Sequential(*[ResnetBlock(channels[-1], norm, dropout) for _ in range(blocks)])
        self.decoder = resnet_decoder(channels, out_ch, norm, upsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_divisible(x, "ResNet generator input", self.factor)
        return self.decoder(self.blocks(self.encoder(x)))


def check_divisible(x: torch.Tensor, name: str, factor: int) -> None:
    """Raise ValueError unless ``x``'s last two sizes (H, W) are divisible by ``factor``."""
    if x.shape[-1] % factor or x.shape[-2] % factor:
        raise ValueError(f"{name}: H and W must be divisible by {factor}, got {tuple(x.shape[-2:])}")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def check_shape(x: torch.Tensor, name: str, shape: Sequence[int | None]) -> tuple[int, ...]:
    """Raise ValueError unless ``x`` has ``len(shape)`` dims matching ``shape`` (None = any size).

    Returns ``x.shape`` as a tuple, so callers can unpack the sizes they checked.
    """
    if x.ndim != len(shape) or any(want is not None and have != want for have, want in zip(x.shape, shape)):
        want = "(" + ", ".join("*" if w is None else str(w) for w in shape) + ")"
        raise ValueError(f"{name}: expected shape {want}, got {tuple(x.shape)}")
    return tuple(x.shape)


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm that directly follows a Conv2d into the conv (in place).

    Handles convs and norms that are consecutive in an ``nn.Sequential`` and
    modules with ``conv`` / ``bn`` attributes (Inception's BasicConv2d). Outputs are
    unchanged up to float rounding; inference gets faster, since each norm was a
    separate pass over the feature map.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            children = list(module._modules.items())
            for (_, a), (bn_name, b) in zip(children, children[1:]):
                if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                    fused = fuse_conv_bn_eval(a, b)
                    a.weight, a.bias = fused.weight, fused.bias
                    module._modules[bn_name] = nn.Identity()
        conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            fused = fuse_conv_bn_eval(conv, bn)
            conv.weight, conv.bias = fused.weight, fused.bias
            module.bn = nn.Identity()
    return model
