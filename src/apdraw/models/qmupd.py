"""QMUPD (Yi et al., TPAMI 2022; the networks of Unpaired Portrait Drawing, CVPR 2020): the networks.

An asymmetric CycleGAN with a style input:

* ``G_A`` (:class:`StyleGenerator`), photo -> drawing: CycleGAN's ResNet-9
  generator with the style vector, broadcast to a 3-channel map, concatenated
  at the bottleneck and fused by a conv3x3 (259 -> 256), IN, ReLU.
* ``G_B`` (:func:`photo_generator`), drawing -> photo: a plain ResNet-9, 1 -> 3 channels.
* ``D_A`` (:class:`StyleDiscriminator`), drawings: a PatchGAN trunk with a patch
  head (real/fake logits per patch) and a style-class head (3 logits per image).
* ``D_B`` (:func:`photo_discriminator`): a PatchGAN on photos.
* :class:`LocalDiscriminators`: three PatchGANs (nose, eyes, lips) on the
  drawing whitened outside the region plus the region mask (2 channels).

Widths come from :class:`GeneratorConfig` / :class:`DiscriminatorConfig`:
:func:`full_config` is the paper's size (parameter counts equal SPEC B1.2's),
:func:`compact_config` a narrower one for the CPU. All networks use InstanceNorm
without affine parameters or running statistics (``instance_noaffine``), as
the original does, so without dropout (the default) eval mode computes exactly
what training mode does.

Where style enters: only through the fuse conv. The style map is constant over
space, so in the interior of the map its contribution is one constant per
channel, which the InstanceNorm after the conv removes; what survives is the
zero-padded border ring (where the conv sees part of the style map) and, through
the InstanceNorm statistics, a per-channel shift that the border causes. The
style signal is therefore tied to the bottleneck size (resolution / 4).

Inference (tensors in, tensors out; turning a face into these tensors is the
style layer's job)::

    model = QMUPD.from_pretrained(path)
    drawings = model.draw(photos, style=torch.tensor([1.0, 0.0, 0.0]))   # (B, S, S) uint8
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from apdraw.models.layers import (
    NormKind,
    UpsampleKind,
    PatchGAN,
    ResnetBlock,
    ResnetGenerator,
    check_divisible,
    check_shape,
    conv_norm_relu,
    init_weights,
    norm_layer,
    resnet_decoder,
    resnet_encoder,
)
from apdraw.runtime import torch_threads

FORMAT = "apdraw.qmupd/1"
LOCAL_REGIONS = ("nose", "eyes", "lips")  # the local discriminators (D_A_l, D_A_le, D_A_ll in the original)


# --------------------------------------------------------------------------- configs


@dataclass
class GeneratorConfig:
    """G_A and G_B (they share widths and depth). Defaults = the paper's size (ngf 64, 9 blocks, 512²)."""

    resolution: int = 512  # side of the aligned face the generators run at (the original: 512)
    channels: tuple[int, ...] = (64, 128, 256)  # c7s1, then one stride-2 conv per further width
    blocks: int = 9  # ResnetBlocks at the bottleneck
    style_dim: int = 3  # length of the style vector (3 artist styles)
    norm: NormKind = "instance_noaffine"
    dropout: float = 0.0  # in the ResnetBlocks; the original trains with --no_dropout
    # Ours, not in the paper: after every ResnetBlock, h * (1 + gamma(style)) + beta(style) with
    # gamma, beta linear in the style vector and zero-initialised (the network starts as the
    # paper's). The paper's only style path is the fuse conv, whose constant contribution the
    # InstanceNorm removes except at the border (see StyleGenerator), so style control is slow
    # to learn; FiLM gives every block a direct one. docs/QMUPD.md measures both.
    style_film: bool = False
    # Ours, not in the paper: "resize" upsamples by nearest 2x + conv3x3 instead of ConvTranspose,
    # against the dot (checkerboard) texture adversarial training grows on the transposed convs
    # (docs/QMUPD.md). Same parameter count; a warm start must use the same kind.
    upsample: UpsampleKind = "transpose"

    def __post_init__(self) -> None:
        if self.upsample not in ("transpose", "resize"):
            raise ValueError(f"upsample must be 'transpose' or 'resize', got {self.upsample!r}")
        if not self.channels or any(c < 1 for c in self.channels):
            raise ValueError(f"channels must be a non-empty tuple of positive widths, got {self.channels}")
        if self.blocks < 0:
            raise ValueError(f"blocks must be >= 0, got {self.blocks}")
        if self.style_dim < 1:
            raise ValueError(f"style_dim must be >= 1, got {self.style_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.resolution < self.factor or self.resolution % self.factor:
            raise ValueError(f"resolution must be a positive multiple of {self.factor}, got {self.resolution}")

    @property
    def factor(self) -> int:
        """Downsampling from the image to the bottleneck (4 for three widths)."""
        return 2 ** (len(self.channels) - 1)


@dataclass
class DiscriminatorConfig:
    """D_A (patch + class heads), D_B and the three local PatchGANs. Defaults = the paper's size.

    The class head's last conv has kernel ``resolution / 32`` (16 at 512²), so
    D_A takes exactly ``resolution``² drawings; the patch outputs take any size.
    """

    resolution: int = 512
    channels: tuple[int, int, int, int] = (64, 128, 256, 512)  # PatchGAN widths of D_A (trunk: first 3; patch head: last) and D_B
    class_channels: tuple[int, int] = (512, 512)  # D_A's class head: two stride-2 convs, then the k = resolution/32 conv
    local_channels: tuple[int, int, int, int] = (64, 128, 256, 512)  # the three local PatchGANs
    style_dim: int = 3  # number of style classes
    norm: NormKind = "instance_noaffine"

    def __post_init__(self) -> None:
        widths = (*self.channels, *self.class_channels, *self.local_channels)
        if len(self.channels) != 4 or len(self.class_channels) != 2 or len(self.local_channels) != 4:
            raise ValueError("channels and local_channels need 4 widths, class_channels 2")
        if any(c < 1 for c in widths):
            raise ValueError(f"widths must be positive, got {widths}")
        if self.style_dim < 1:
            raise ValueError(f"style_dim must be >= 1, got {self.style_dim}")
        if self.resolution < 32 or self.resolution % 32:
            raise ValueError(f"resolution must be a positive multiple of 32 (the class head), got {self.resolution}")


def full_config() -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """The paper's networks at 512² (SPEC B1.2).

    G_A 11,968,897, G_B 11,371,907, D_A 9,448,388, D_B 2,764,737 and each local
    D 2,763,713 parameters; G_A costs 412.7 GFLOPs per 512² image.
    """
    return GeneratorConfig(), DiscriminatorConfig()


def compact_config() -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """A CPU-sized variant at 256²: ngf 32, 6 blocks, discriminator widths halved or less.

    G_A 2.11 M (2,112,961), G_B 1.96 M (1,961,923), D_A 1.24 M (1,242,340),
    D_B 0.69 M (694,241), local Ds 0.17 M (174,833) each. G_A costs 19.0 GFLOPs
    per 256² image against the paper's 412.7 at 512².
    """
    g = GeneratorConfig(resolution=256, channels=(32, 64, 128), blocks=6)
    d = DiscriminatorConfig(
        resolution=256, channels=(32, 64, 128, 256), class_channels=(128, 128), local_channels=(16, 32, 64, 128)
    )
    return g, d


# --------------------------------------------------------------------------- generators


class StyleGenerator(nn.Module):
    """G_A: photo + style vector -> drawing.

    encoder (c7s1-64, d128, d256) -> concat the style map (B, style_dim, H/4, W/4)
    -> conv3x3 (zero padding, 256 + style_dim -> 256), norm, ReLU -> ResnetBlocks
    -> two ConvTranspose upsamplings -> c7s1 to 1 channel, Tanh.

    forward(photo (B, 3, H, W) in [-1, 1], style (B, style_dim) any real values)
    -> (B, 1, H, W) in [-1, 1]; H, W divisible by ``cfg.factor``.
    """

    def __init__(self, cfg: GeneratorConfig, init: bool = True):
        super().__init__()
        self.cfg = cfg
        width = cfg.channels[-1]
        self.encoder = resnet_encoder(3, cfg.channels, cfg.norm)
        self.fuse = conv_norm_relu(width + cfg.style_dim, width, 3, 1, cfg.norm)
        self.blocks = nn.Sequential(*[ResnetBlock(width, cfg.norm, cfg.dropout) for _ in range(cfg.blocks)])
        self.film = nn.ModuleList(nn.Linear(cfg.style_dim, 2 * width) for _ in range(cfg.blocks)) if cfg.style_film else None
        self.decoder = resnet_decoder(cfg.channels, 1, cfg.norm, cfg.upsample)
        if init:  # skipped when weights are loaded right after
            init_weights(self)
            if self.film is not None:  # zero: the FiLM generator starts as the paper's
                for lin in self.film:
                    nn.init.zeros_(lin.weight)
                    nn.init.zeros_(lin.bias)

    def forward(self, photo: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        check_divisible(photo, "photo", self.cfg.factor)
        h = self.encoder(photo)
        style_map = style[:, :, None, None].to(h.dtype).expand(-1, -1, h.shape[-2], h.shape[-1])
        h = self.fuse(torch.cat([h, style_map], 1))
        if self.film is None:
            return self.decoder(self.blocks(h))
        for block, film in zip(self.blocks, self.film):
            gamma, beta = film(style.to(h.dtype)).chunk(2, 1)
            h = block(h) * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        return self.decoder(h)


def photo_generator(cfg: GeneratorConfig, init: bool = True) -> ResnetGenerator:
    """G_B: drawing (B, 1, H, W) in [-1, 1] -> photo (B, 3, H, W) in [-1, 1]; a ResNet generator with G_A's widths."""
    g = ResnetGenerator(1, 3, cfg.channels, cfg.blocks, cfg.norm, cfg.dropout, cfg.upsample)
    return init_weights(g) if init else g


# --------------------------------------------------------------------------- discriminators


def _down(in_ch: int, out_ch: int, stride: int, norm: NormKind | None) -> list[nn.Module]:
    """PatchGAN layer: conv4 (padding 1), norm (none for the first layer: ``norm=None``), LeakyReLU 0.2."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 4, stride, 1, bias=norm is None or norm != "batch")]
    if norm is not None:
        layers.append(norm_layer(norm, out_ch))
    return layers + [nn.LeakyReLU(0.2, True)]


class StyleDiscriminator(nn.Module):
    """D_A: drawings -> (patch logits, style-class logits).

    Trunk: C64 s2 (no norm), C128 s2, C256 s2. Patch head: C512 s1, conv4 to 1
    channel (the 70x70 PatchGAN's last two layers). Class head: C512 s2, C512 s2,
    conv with kernel resolution/32 (16) and no padding to ``style_dim`` logits.

    forward(drawing (B, 1, R, R) in [-1, 1], R = ``cfg.resolution``)
    -> patch (B, 1, R/8 - 2, R/8 - 2) logits (62x62 at 512²), classes (B, style_dim) logits.
    """

    def __init__(self, cfg: DiscriminatorConfig, init: bool = True):
        super().__init__()
        self.cfg = cfg
        c, k = cfg.channels, cfg.class_channels
        self.trunk = nn.Sequential(*_down(1, c[0], 2, None), *_down(c[0], c[1], 2, cfg.norm), *_down(c[1], c[2], 2, cfg.norm))
        self.patch = nn.Sequential(*_down(c[2], c[3], 1, cfg.norm), nn.Conv2d(c[3], 1, 4, 1, 1))
        self.classes = nn.Sequential(
            *_down(c[2], k[0], 2, cfg.norm), *_down(k[0], k[1], 2, cfg.norm), nn.Conv2d(k[1], cfg.style_dim, cfg.resolution // 32)
        )
        if init:
            init_weights(self)

    def forward(self, drawing: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.cfg.resolution
        check_shape(drawing, "drawing", (None, 1, r, r))
        h = self.trunk(drawing)
        return self.patch(h), self.classes(h).flatten(1)


def photo_discriminator(cfg: DiscriminatorConfig, init: bool = True) -> PatchGAN:
    """D_B: photos (B, 3, H, W) in [-1, 1] -> patch logits (B, 1, H/8 - 2, W/8 - 2)."""
    d = PatchGAN(3, cfg.channels, cfg.norm)
    return init_weights(d) if init else d


def local_input(drawing: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A local discriminator's input: the drawing, white (+1) outside the region, and the mask.

    drawing (B, 1, H, W) in [-1, 1], mask (B, 1, H, W) in [0, 1] (soft masks
    blend) -> (B, 2, H, W): [drawing * mask + (1 - mask), mask].
    """
    return torch.cat([drawing * mask + (1.0 - mask), mask], 1)


class LocalDiscriminators(nn.Module):
    """Three PatchGANs (:data:`LOCAL_REGIONS`) on full-size 2-channel :func:`local_input` maps.

    forward(drawing (B, 1, H, W) in [-1, 1], masks {region: (B, 1, H, W) in [0, 1]})
    -> {region: (B, 1, H/8 - 2, W/8 - 2) logits} for the regions in ``masks``.
    """

    def __init__(self, cfg: DiscriminatorConfig, init: bool = True):
        super().__init__()
        self.nets = nn.ModuleDict({r: PatchGAN(2, cfg.local_channels, cfg.norm) for r in LOCAL_REGIONS})
        if init:
            init_weights(self)

    def forward(self, drawing: torch.Tensor, masks: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        b, _, h, w = check_shape(drawing, "drawing", (None, 1, None, None))
        out = {}
        for region, mask in masks.items():
            if region not in self.nets:
                raise ValueError(f"unknown region {region!r}; use one of {LOCAL_REGIONS}")
            check_shape(mask, f"mask {region}", (b, 1, h, w))
            out[region] = self.nets[region](local_input(drawing, mask))
        return out


@dataclass
class Networks:
    """All seven networks of a QMUPD training run (the three local Ds in one module)."""

    g_a: StyleGenerator
    g_b: ResnetGenerator
    d_a: StyleDiscriminator
    d_b: PatchGAN
    d_local: LocalDiscriminators


def build_networks(g: GeneratorConfig, d: DiscriminatorConfig, init: bool = True) -> Networks:
    """Fresh networks for ``g`` and ``d`` (pix2pix init unless ``init`` is False)."""
    if g.style_dim != d.style_dim:
        raise ValueError(f"the generator's style_dim ({g.style_dim}) must equal the discriminator's ({d.style_dim})")
    return Networks(
        StyleGenerator(g, init), photo_generator(g, init), StyleDiscriminator(d, init), photo_discriminator(d, init),
        LocalDiscriminators(d, init),
    )  # fmt: skip


# --------------------------------------------------------------------------- inference


class QMUPD(nn.Module):
    """Inference wrapper: a trained G_A that draws aligned face photos in a given style.

    Photos are square crops of a face aligned as for APDrawingGAN (the 512
    template; the original's README says a plain face crop also works). The
    generator runs at ``cfg.resolution``; :meth:`draw` resizes to it and back.
    ``num_threads``: torch CPU threads while drawing (restored afterwards; None
    keeps the process setting; see :func:`apdraw.runtime.torch_threads`).
    """

    def __init__(self, cfg: GeneratorConfig, num_threads: int | None = 1, generator: StyleGenerator | None = None):
        super().__init__()
        self.cfg = cfg
        self.num_threads = num_threads
        self.generator = generator if generator is not None else StyleGenerator(cfg)
        self.eval()

    # -- persistence --------------------------------------------------------
    def save(self, path: str | Path, half: bool = True, extra: dict[str, str] | None = None) -> Path:
        """Write G_A as safetensors (fp16 by default), its :class:`GeneratorConfig` in the metadata."""
        from apdraw.persistence import save_model

        return save_model(path, self.generator, FORMAT, self.cfg, half=half, extra=extra)

    @classmethod
    def from_pretrained(cls, path: str | Path, num_threads: int | None = 1) -> "QMUPD":
        """Load a file written by :meth:`save` (tensors checked strictly), in eval mode, fp32.

        Raises:
            FileNotFoundError: no such file.
            apdraw.persistence.WeightsError: not an apdraw QMUPD file, or its tensors do not fit.
        """
        from apdraw.persistence import load_model

        generator, _ = load_model(path, FORMAT, GeneratorConfig, lambda cfg, meta: StyleGenerator(cfg, init=False))
        return cls(generator.cfg, num_threads, generator=generator)

    # -- running ------------------------------------------------------------
    def style_batch(self, style: torch.Tensor | list[float] | tuple[float, ...], batch: int) -> torch.Tensor:
        """``style`` as a (batch, style_dim) float32 tensor: a (style_dim,) vector is shared by the batch.

        Any real values are allowed (one-hot, mixtures, negative components).

        Raises:
            ValueError: another shape, or non-finite values.
        """
        s = torch.as_tensor(style, dtype=torch.float32)
        d = self.cfg.style_dim
        if s.ndim == 1 and s.shape[0] == d:
            s = s.expand(batch, d)
        elif s.ndim != 2 or tuple(s.shape) != (batch, d):
            raise ValueError(f"style: expected shape ({d},) or ({batch}, {d}), got {tuple(s.shape)}")
        if not torch.isfinite(s).all():
            raise ValueError("style: values must be finite")
        return s

    @torch.no_grad()
    def draw(self, photos: torch.Tensor, style: torch.Tensor | list[float] | tuple[float, ...]) -> torch.Tensor:
        """Aligned face photos -> drawings in ``style``, at the photos' size.

        ``photos`` (B, 3, S, S) uint8 or float in [0, 255]; ``style`` (style_dim,)
        for the whole batch or (B, style_dim), e.g. [1, 0, 0] for the first
        artist, [0.5, 0.5, 0] a mix. Returns (B, S, S) uint8, 255 = paper.
        Deterministic (eval mode; the norms have no running statistics).
        """
        b, _, size, _ = check_shape(photos, "photos", (None, 3, None, None))
        check_shape(photos, "photos", (b, 3, size, size))
        return self(photos, self.style_batch(style, b).to(photos.device))

    def forward(self, photos: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """:meth:`draw` without its checks and ``no_grad``: photos (B, 3, S, S) 0..255, style (B, style_dim) -> (B, S, S) uint8."""
        r = self.cfg.resolution
        size = int(photos.shape[-1])
        x = photos.float() / 127.5 - 1.0
        if size != r:
            x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False, antialias=True)
        with torch_threads(self.num_threads, x.device):
            y = self.generator(x, style.float())
        if size != r:
            y = F.interpolate(y, size=(size, size), mode="bicubic", align_corners=False)
        return ((y[:, 0].clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
