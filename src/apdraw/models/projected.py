"""Projected discriminator (Sauer et al., "Projected GANs Converge Faster", NeurIPS 2021).

The discriminator does not learn its own features: images go through a frozen
ImageNet network (here MobileNetV2), the feature maps of four scales are mixed by
fixed random convolutions (CCM: 1x1 across channels; CSM: 3x3, top-down across
scales), and only small per-scale heads are trained. The pretrained features
make the discriminator useful from the first steps, which is what makes these
GANs converge in far fewer images; the random mixing spreads the features over
all channels so that no head can latch onto a few of them.

Differences from the paper, all for CPU training at batch 1:

* MobileNetV2 instead of EfficientNet-lite1 (its ImageNet weights ship with apdraw);
  the four default taps are the analogues of the paper's (the last block of each
  stride, the 320-channel one rather than the 1280-channel classifier conv at stride 32).
* Heads use spectral norm without BatchNorm (BatchNorm statistics of one image are noise).
* Paired (pix2pix) conditioning: the photo is projected with the same frozen
  network and mixing, and every head sees concat(mixed(drawing), mixed(photo)).

Typical training step (one backbone pass per image per step)::

    d = ProjectedDiscriminator(ProjectedConfig())
    photo_p = d.project(photo)            # no graph: nothing in it needs grad
    real_p = d.project(real_drawing)
    fake_p = d.project(fake_drawing)      # graph back to the generator
    d_loss = hinge(d(real_p, photo_p)), hinge(d(fake_p.detach(), photo_p))
    g_out = d(fake_p, photo_p, return_features=True)   # after the D update
    perceptual_distance(fake_p.backbone, real_p.backbone)  # losses.perceptual, no extra pass

The frozen network is kept out of the module tree (see :class:`FrozenMobileNetV2`),
so it is neither in ``parameters()`` nor in ``state_dict()`` (checkpoints stay
~14 MB smaller and load strictly); ``.to()``/``.half()`` still move it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, overload

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from apdraw.models.layers import check_shape, fuse_conv_bn
from apdraw.models.mobilenetv2 import IMAGENET_MEAN, IMAGENET_STD, mobilenet_v2

# Feature taps of MobileNetV2: (index into `features` whose output is taken, stride, channels).
# Not MobileNetV2.stages' list: tap 4 is the last 320-channel block at stride 32 (the
# paper's choice on EfficientNet: the last block of each stride), tap 5 the 1280-channel
# 1x1 conv that only feeds the ImageNet classifier.
TAP_LAYERS = (1, 3, 6, 13, 17, 18)
TAP_STRIDES = (2, 4, 8, 16, 32, 32)
TAP_CHANNELS = (16, 24, 32, 96, 320, 1280)


class FrozenMobileNetV2:
    """Frozen ImageNet MobileNetV2 feature maps of images in [-1, 1].

    Deliberately not an ``nn.Module``: an owner stores it as a plain attribute, so
    it stays out of the owner's ``parameters()``, ``state_dict()`` and ``train()``
    (it is always in eval mode, its BatchNorms folded into the convs), and forwards
    ``_apply`` to :meth:`apply` so that ``.to(device)`` moves it.

    Args:
        taps: number of taps computed (taps 0..taps-1 of :data:`TAP_LAYERS`); the
            network is cut after the last one.
        resolution: side length the inputs are resized to (bilinear, antialiased).
    """

    def __init__(self, taps: int, resolution: int):
        if not 1 <= taps <= len(TAP_LAYERS):
            raise ValueError(f"taps must be in 1..{len(TAP_LAYERS)}, got {taps}")
        self.net: nn.Sequential = mobilenet_v2(pretrained=True).features[: TAP_LAYERS[taps - 1] + 1].eval()
        fuse_conv_bn(self.net)
        self.net.eval().requires_grad_(False)  # eval again: the Identity modules replacing the norms are new
        # channels-last: the depthwise and 1x1 convs are ~20 % faster on CPU (measured)
        self.net.to(memory_format=torch.channels_last)
        self.taps = taps
        self.resolution = resolution
        # [-1, 1] -> [0, 1] -> ImageNet-normalised, as one affine map per channel
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.scale = 0.5 / std
        self.shift = (0.5 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / std

    def apply(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Apply a tensor map (device / dtype move) to the weights, as ``nn.Module._apply`` does."""
        self.net._apply(fn)
        self.scale, self.shift = fn(self.scale), fn(self.shift)

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 1|3, H, W) in [-1, 1] -> maps at taps 0..taps-1: (B, TAP_CHANNELS[i], R/s, R/s), R = resolution.

        Differentiable with respect to ``x`` (the weights need no grad).
        """
        check_shape(x, "image", (None, None, None, None))
        if x.shape[1] not in (1, 3):
            raise ValueError(f"image: expected 1 or 3 channels, got {x.shape[1]}")
        if x.shape[-2:] != (self.resolution, self.resolution):
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False, antialias=True)
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        h = (x * self.scale.to(x.dtype) + self.shift.to(x.dtype)).contiguous(memory_format=torch.channels_last)
        outs = []
        for i, layer in enumerate(self.net):
            h = layer(h)
            if i in TAP_LAYERS:
                outs.append(h)
        return outs


@dataclass
class ProjectedConfig:
    """Settings of :class:`ProjectedDiscriminator`.

    The defaults cost ~0.15 s per D+G step at 256², batch 1, on one CPU thread
    (3 backbone passes, one of them backpropagated, heads on real and fake, the
    perceptual loss on the same features); 0.67 M trainable parameters.
    """

    resolution: int = 256  # inputs are resized to this side (multiple of 32); 128 suits small local crops
    # Taps (see TAP_LAYERS): strides 4, 8, 16, 32 as in the paper. Stride 2 (tap 0) is left out:
    # its head on a 128² map (at 256²) makes a D+G step 0.33 s instead of 0.14 s (1 thread).
    # The 1280-channel tap 5 is left out: it only feeds ImageNet's classifier, and the
    # backbone must then run 1 more layer (~2 ms per pass).
    stages: tuple[int, ...] = (1, 2, 3, 4)
    mix_channels: int = 64  # CCM output width per scale
    cross_scale: bool = True  # CSM: top-down mixing of the deeper scales into the shallower ones
    head_channels: int = 64  # width of every head conv
    conditional: bool = True  # heads see concat(mixed(x), mixed(photo))
    seed: int = 0  # seed of the fixed random CCM / CSM weights

    def __post_init__(self) -> None:
        self.stages = tuple(self.stages)
        if self.resolution < 32 or self.resolution % 32:
            raise ValueError(f"resolution must be a positive multiple of 32, got {self.resolution}")
        if not self.stages or list(self.stages) != sorted(set(self.stages)) or not all(0 <= s < len(TAP_LAYERS) for s in self.stages):
            raise ValueError(f"stages must be increasing tap indices in 0..{len(TAP_LAYERS) - 1}, got {self.stages}")
        if self.mix_channels < 1 or self.head_channels < 1:
            raise ValueError("mix_channels and head_channels must be >= 1")


@dataclass
class ProjectedFeatures:
    """Frozen features of one batch of images, reusable across D and G steps and the perceptual loss.

    ``backbone``: the un-mixed MobileNetV2 maps at taps 0..max(stages), (B, TAP_CHANNELS[i], R/s, R/s).
    ``mixed``: the CCM(+CSM) maps, one per configured stage, (B, mix_channels, R/s, R/s).
    """

    backbone: list[torch.Tensor]
    mixed: list[torch.Tensor]

    def detach(self) -> ProjectedFeatures:
        return ProjectedFeatures([t.detach() for t in self.backbone], [t.detach() for t in self.mixed])


@dataclass
class ProjectedOutput:
    """``logits``: {"proj0": (B, 1, h, w), ...} one map per stage; ``head_features``: the heads'
    hidden activations (for feature matching); ``features``: the projected input."""

    logits: dict[str, torch.Tensor]
    head_features: list[torch.Tensor]
    features: ProjectedFeatures


def _random_conv_weight(gen: torch.Generator, cout: int, cin: int, k: int) -> torch.Tensor:
    """Kaiming-normal with linear gain (std 1/sqrt(fan_in)): the fixed mixing keeps the feature variance."""
    return torch.randn(cout, cin, k, k, generator=gen) / math.sqrt(cin * k * k)


def _head(cin: int, width: int, size: int) -> nn.Sequential:
    """Stride-2 blocks (SN conv4x4 + LeakyReLU 0.2) from ``size`` down to <= 8, then an SN conv3x3 to 1 logit."""
    layers: list[nn.Module] = []
    while size > 8:
        layers += [spectral_norm(nn.Conv2d(cin, width, 4, 2, 1)), nn.LeakyReLU(0.2)]
        cin, size = width, size // 2
    if not layers:  # a deep, small map still gets one hidden layer before the logit
        layers += [spectral_norm(nn.Conv2d(cin, width, 3, 1, 1)), nn.LeakyReLU(0.2)]
        cin = width
    layers.append(spectral_norm(nn.Conv2d(cin, 1, 3, 1, 1)))
    return nn.Sequential(*layers)


class ProjectedDiscriminator(nn.Module):
    """Frozen MobileNetV2 -> fixed random CCM/CSM -> one trainable head per scale.

    Inputs are (B, 1|3, H, W) in [-1, 1] of any size (resized to ``resolution``),
    so one class serves as the global and as a local (crop) discriminator.
    Logit maps are (B, 1, min(R/s, 8), ...) per stage (R = resolution, s = stride);
    keys "proj0", "proj1", ... in stage order, like the hierarchical D's dict of logits.
    Only the heads are parameters; the CCM/CSM weights are buffers (saved, never trained).
    """

    def __init__(self, config: ProjectedConfig | None = None):
        super().__init__()
        self.config = c = config or ProjectedConfig()
        # a plain attribute (not a submodule): see FrozenMobileNetV2 and _apply
        self.frozen = FrozenMobileNetV2(max(c.stages) + 1, c.resolution)
        gen = torch.Generator().manual_seed(c.seed)
        for i, s in enumerate(c.stages):
            self.register_buffer(f"ccm{i}", _random_conv_weight(gen, c.mix_channels, TAP_CHANNELS[s], 1))
        for i in range(len(c.stages) if c.cross_scale else 0):
            self.register_buffer(f"csm{i}", _random_conv_weight(gen, c.mix_channels, c.mix_channels, 3))
        cin = c.mix_channels * (2 if c.conditional else 1)
        self.heads = nn.ModuleList(_head(cin, c.head_channels, c.resolution // TAP_STRIDES[s]) for s in c.stages)

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - nn.Module's signature
        super()._apply(fn, recurse)
        self.frozen.apply(fn)
        return self

    def project(self, x: torch.Tensor) -> ProjectedFeatures:
        """(B, 1|3, H, W) in [-1, 1] -> frozen and mixed features; differentiable w.r.t. ``x`` only."""
        backbone = self.frozen(x)
        ccm = [F.conv2d(backbone[s], getattr(self, f"ccm{i}")) for i, s in enumerate(self.config.stages)]
        if not self.config.cross_scale:
            return ProjectedFeatures(backbone, ccm)
        # CSM, top-down like an FPN: each scale adds the (upsampled) mixed map of the next deeper one
        mixed: list[torch.Tensor] = []  # deepest first
        for i in reversed(range(len(ccm))):
            h = ccm[i]
            if mixed:
                h = h + F.interpolate(mixed[-1], size=h.shape[-2:], mode="bilinear", align_corners=False)
            mixed.append(F.conv2d(h, getattr(self, f"csm{i}"), padding=1))
        return ProjectedFeatures(backbone, mixed[::-1])

    @overload
    def forward(
        self, x: torch.Tensor | ProjectedFeatures, cond: torch.Tensor | ProjectedFeatures | None = None, *, return_features: Literal[False] = False
    ) -> dict[str, torch.Tensor]: ...

    @overload
    def forward(
        self, x: torch.Tensor | ProjectedFeatures, cond: torch.Tensor | ProjectedFeatures | None = None, *, return_features: Literal[True]
    ) -> ProjectedOutput: ...

    def forward(
        self, x: torch.Tensor | ProjectedFeatures, cond: torch.Tensor | ProjectedFeatures | None = None, *, return_features: bool = False
    ) -> dict[str, torch.Tensor] | ProjectedOutput:
        """Logits of x (given ``cond`` when conditional).

        Args:
            x: (B, 1|3, H, W) in [-1, 1], or its :meth:`project` (pass ``.detach()``-ed
                features in the D step to reuse the generator step's projection).
            cond: the photo, (B, 3, H', W') in [-1, 1], or its :meth:`project` (computed
                once per step for real and fake); required iff ``config.conditional``.
            return_features: also return the heads' hidden activations and the projection.

        Returns:
            {"proj{i}": (B, 1, h_i, w_i) logits}, or a :class:`ProjectedOutput`.
        """
        xf = x if isinstance(x, ProjectedFeatures) else self.project(x)
        mixed = xf.mixed
        if self.config.conditional:
            if cond is None:
                raise ValueError("a conditional projected discriminator needs cond (the photo or its project())")
            if isinstance(cond, torch.Tensor):
                check_shape(cond, "cond", (None, 3, None, None))
                with torch.no_grad():  # the photo's features are constants for D and G
                    cond = self.project(cond)
            if cond.mixed[0].shape[0] != mixed[0].shape[0]:
                raise ValueError(f"batch sizes differ: x {mixed[0].shape[0]}, cond {cond.mixed[0].shape[0]}")
            mixed = [torch.cat([m, cm.to(m.dtype)], 1) for m, cm in zip(mixed, cond.mixed)]
        elif cond is not None:
            raise ValueError("cond given to an unconditional projected discriminator")
        logits: dict[str, torch.Tensor] = {}
        hidden: list[torch.Tensor] = []
        for i, (head, h) in enumerate(zip(self.heads, mixed)):
            for layer in head:
                h = layer(h)
                if return_features and isinstance(layer, nn.LeakyReLU):
                    hidden.append(h)
            logits[f"proj{i}"] = h
        return ProjectedOutput(logits, hidden, xf) if return_features else logits
