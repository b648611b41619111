"""SAGE's stereo auxiliary view (MVCGAN-style; SPEC C.2 "Stereo auxiliary view"), training only.

A second camera is drawn from the same pose distribution and the field is
rendered from it too. Each primary pixel's 3D point (its ray at the primary
rendered depth) is projected into the auxiliary camera, and the auxiliary
feature and RGB maps are sampled there (``grid_sample``, bilinear,
align_corners=True, zeros outside). The primary features are then mixed with
the warped ones, F = (1 - r) F_primary + r F_warped with r ~ U(0, 0.1) per
sample, and the warped RGB feeds the reprojection loss (against the primary
NeRF RGB).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from apdraw.models.layers import check_shape
from apdraw.models.sage.renderer import Cameras, project, rand, world_rays


@dataclass
class StereoConfig:
    """The auxiliary view. Defaults = the paper's."""

    enabled: bool = True  # render the auxiliary view in training (the original's stereo_auxiliary)
    mix_max: float = 0.1  # the mixup ratio r ~ U(0, mix_max)

    def __post_init__(self) -> None:
        if not 0.0 <= self.mix_max <= 1.0:
            raise ValueError(f"mix_max must be in [0, 1], got {self.mix_max}")


def warp_to_primary(aux_maps: torch.Tensor, depth: torch.Tensor, primary: Cameras, aux: Cameras, focal: float) -> torch.Tensor:
    """Resample maps rendered from ``aux`` into the ``primary`` view using the primary depth.

    aux_maps (B, C, H, W) rendered by the auxiliary cameras; depth (B, 1, R, R)
    along the primary unit rays (R = H = W); returns (B, C, R, R): for each
    primary pixel, the auxiliary maps bilinearly sampled where its 3D point
    projects (0 where it projects outside the auxiliary image or behind the camera).
    Differentiable in ``aux_maps`` and ``depth``.
    """
    b, c, h, w = check_shape(aux_maps, "aux_maps", (primary.batch, None, None, None))
    _, _, r, _ = check_shape(depth, "depth", (b, 1, None, None))
    check_shape(depth, "depth", (b, 1, r, r))
    if (h, w) != (r, r):
        raise ValueError(f"aux_maps must be {r}x{r} like the depth, got {h}x{w}")
    dirs = world_rays(primary, r, focal)  # (B, R², 3)
    points = primary.origin[:, None] + dirs * depth.reshape(b, -1, 1)
    grid, _ = project(points, aux, focal)
    return F.grid_sample(aux_maps, grid.reshape(b, r, r, 2), mode="bilinear", padding_mode="zeros", align_corners=True)


class StereoAuxiliary(nn.Module):
    """Warp and feature mixup of the auxiliary view (no parameters).

    warp(...) is :func:`warp_to_primary`; mix(primary (B, C, R, R), warped (B, C, R, R), generator)
    -> (B, C, R, R) = (1 - r) primary + r warped with r ~ U(0, mix_max) per sample.
    """

    def __init__(self, cfg: StereoConfig):
        super().__init__()
        self.cfg = cfg

    def warp(self, aux_maps: torch.Tensor, depth: torch.Tensor, primary: Cameras, aux: Cameras, focal: float) -> torch.Tensor:
        return warp_to_primary(aux_maps, depth, primary, aux, focal)

    def mix(self, primary: torch.Tensor, warped: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        b = check_shape(primary, "primary features", (None, None, None, None))[0]
        check_shape(warped, "warped features", tuple(primary.shape))
        ratio = rand((b, 1, 1, 1), primary, generator) * self.cfg.mix_max
        return (1.0 - ratio) * primary + ratio * warped
