"""Perceptual and feature-matching losses.

:class:`PerceptualLoss` is LPIPS's "baseline" form (channel-unit-normalised
features, no learned per-channel weights) on the frozen ImageNet MobileNetV2 that
the projected discriminator also uses (:class:`apdraw.models.projected.FrozenMobileNetV2`),
so a training step that already projected its images for the discriminator passes
those maps to :func:`perceptual_distance` instead of running the network again.

Note: ``eval``'s ``lpips_mnv2`` metric is the same kind of distance on the same
network (squared, taps at strides 2..32 with the 1280-channel map), so a model
trained with this loss is partly optimised for that metric; judge it on the others too.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from apdraw.models.projected import TAP_LAYERS, FrozenMobileNetV2

DistanceKind = Literal["l1", "l2"]


def perceptual_distance(
    feats_a: Sequence[torch.Tensor], feats_b: Sequence[torch.Tensor], stages: Sequence[int] | None = None, kind: DistanceKind = "l1"
) -> torch.Tensor:
    """Mean over ``stages`` of the distance between channel-unit-normalised feature maps.

    Per stage, the C-channel vector at each position is scaled to unit length and
    ``l1``: ||u_a - u_b||_1 / sqrt(C) (in [0, 2]; dividing by sqrt(C) puts stages of
    different widths on one scale), or ``l2``: ||u_a - u_b||² (in [0, 4], LPIPS's form)
    is averaged over positions and the batch.

    Args:
        feats_a, feats_b: maps indexed by tap, (B, C_i, h_i, w_i) each, e.g.
            ``ProjectedFeatures.backbone`` or :meth:`PerceptualLoss.features`; shapes must match.
        stages: which entries to use (default: all).

    Returns:
        A scalar; 0 for identical features. Differentiable in both arguments.
    """
    if len(feats_a) != len(feats_b):
        raise ValueError(f"feature lists differ in length: {len(feats_a)} vs {len(feats_b)}")
    idx = list(range(len(feats_a))) if stages is None else list(stages)
    if not idx or max(idx) >= len(feats_a):
        raise ValueError(f"stages {idx} not available in {len(feats_a)} feature maps")
    per_stage = []
    for i in idx:
        a, b = feats_a[i], feats_b[i]
        if a.shape != b.shape:
            raise ValueError(f"stage {i}: feature shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
        diff = F.normalize(a.float(), dim=1, eps=1e-10) - F.normalize(b.float(), dim=1, eps=1e-10)
        if kind == "l1":
            per_stage.append(diff.abs().sum(1).mean() / math.sqrt(a.shape[1]))
        elif kind == "l2":
            per_stage.append(diff.pow(2).sum(1).mean())
        else:
            raise ValueError(f"unknown distance {kind!r}; use l1 or l2")
    return torch.stack(per_stage).mean()


class PerceptualLoss(nn.Module):
    """Perceptual distance of (B, 1|3, H, W) images in [-1, 1] on frozen MobileNetV2 taps.

    Args:
        resolution: side length both images are resized to (bilinear, antialiased).
        stages: tap indices (:data:`apdraw.models.projected.TAP_LAYERS`); the default
            0..4 = strides 2, 4, 8, 16, 32 (the stride-2 map sees single pencil lines).
            These taps are also in a default ``ProjectedFeatures.backbone`` (taps 0..4).
        kind: see :func:`perceptual_distance`.

    Has no parameters and nothing in its state dict (the network is a plain attribute,
    moved by ``.to()``).
    """

    def __init__(self, resolution: int = 256, stages: Sequence[int] = (0, 1, 2, 3, 4), kind: DistanceKind = "l1"):
        super().__init__()
        self.stages = tuple(stages)
        if not self.stages or not all(0 <= s < len(TAP_LAYERS) for s in self.stages):
            raise ValueError(f"stages must be tap indices in 0..{len(TAP_LAYERS) - 1}, got {self.stages}")
        if kind not in ("l1", "l2"):
            raise ValueError(f"unknown distance {kind!r}; use l1 or l2")
        self.kind: DistanceKind = kind
        self.frozen = FrozenMobileNetV2(max(self.stages) + 1, resolution)

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - nn.Module's signature
        super()._apply(fn, recurse)
        self.frozen.apply(fn)
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 1|3, H, W) in [-1, 1] -> maps at taps 0..max(stages); differentiable w.r.t. x."""
        return self.frozen(x)

    def distance(self, feats_pred: Sequence[torch.Tensor], feats_target: Sequence[torch.Tensor]) -> torch.Tensor:
        """:func:`perceptual_distance` at this loss's stages and kind, on precomputed maps (same resolution)."""
        return perceptual_distance(feats_pred, feats_target, self.stages, self.kind)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss; gradient flows to ``pred`` only (the target's features are computed without grad)."""
        with torch.no_grad():
            target_feats = self.features(target)
        return self.distance(self.features(pred), target_feats)


def feature_matching_loss(fake_feats: Sequence[torch.Tensor], real_feats: Sequence[torch.Tensor]) -> torch.Tensor:
    """pix2pixHD's feature matching: mean over layers of L1(fake, real.detach()); a scalar.

    Args:
        fake_feats, real_feats: a discriminator's hidden activations on fake and real
            inputs (e.g. ``ProjectedOutput.head_features``), matching shapes layer by layer.
    """
    if len(fake_feats) != len(real_feats) or not fake_feats:
        raise ValueError(f"need equally many (>= 1) feature maps, got {len(fake_feats)} and {len(real_feats)}")
    return torch.stack([F.l1_loss(f.float(), r.detach().float()) for f, r in zip(fake_feats, real_feats)]).mean()
