"""SAGE's volume renderer (SPEC C.2 "Volume rendering"): cameras, rays, samples, alpha compositing.

Conventions (all functions are differentiable in the field's outputs and in the
camera angles; sample positions of the hierarchical pass are not):

* Camera on a sphere of radius ``radius`` around the origin, looking at it, world
  up = +y. ``yaw`` θ and ``pitch`` φ in radians: the camera sits at
  radius * (sin φ cos θ, cos φ, sin φ sin θ), so θ = φ = π/2 is the frontal view
  from +z. Camera axes (the columns of ``rotation``): right, up, back (back
  points from the origin to the camera; the camera looks along -back).
* Pixel (row i, column j) of an R x R image has NDC x = -1 + 2 j / (R - 1)
  (left to right), y = 1 - 2 i / (R - 1) (top to bottom), and camera-space ray
  direction normalise(x, y, -1 / tan(fov / 2)); this is ``grid_sample``'s
  ``align_corners=True`` grid (with its y flipped).
* Depth is the distance along the unit ray direction, sampled in [near, far].
* Density: alpha = 1 - exp(-delta * ReLU(sigma + noise)), the last delta 1e10;
  weights = alpha * exclusive-cumprod(1 - alpha + 1e-10). ``last_back`` (the
  original's evaluation mode) gives the rest of the transmittance to the last
  sample. Features, RGB and depth are the weighted sums; RGB is mapped from
  [0, 1] to [-1, 1].

The original draws no hierarchical samples although its curriculum asks for
them (``hierarchical_sample: True`` is ignored, SPEC C.2): ``fine_samples`` > 0
implements the intended importance sampling, 0 reproduces the original.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from apdraw.models.layers import check_shape

FieldFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
"""points (B, N, 3), unit dirs (B, N, 3) -> features (B, N, C), rgb (B, N, 3) in [0, 1], raw sigma (B, N, 1)."""

FAR_DELTA = 1e10  # the last sample's interval: everything behind it


@dataclass
class RendererConfig:
    """Rays, samples and the camera distribution. Defaults = the paper's settings."""

    resolution: int = 64  # the rendered feature map is resolution x resolution (the original: always 64)
    samples: int = 16  # stratified samples per ray
    fine_samples: int = 16  # importance samples per ray (0: none, as the original runs; see the module doc)
    near: float = 0.88
    far: float = 1.12
    fov: float = 12.0  # full field of view, degrees
    radius: float = 1.0  # camera distance from the origin
    yaw_mean: float = math.pi / 2
    yaw_std: float = 0.3
    pitch_mean: float = math.pi / 2
    pitch_std: float = 0.155
    jitter_at_eval: bool = True  # the original jitters the samples at inference too

    def __post_init__(self) -> None:
        if self.resolution < 2:
            raise ValueError(f"resolution must be >= 2, got {self.resolution}")
        if self.samples < 2 or self.fine_samples < 0:
            raise ValueError(f"samples must be >= 2 and fine_samples >= 0, got {self.samples}, {self.fine_samples}")
        if not 0 < self.near < self.far:
            raise ValueError(f"need 0 < near < far, got {self.near}, {self.far}")
        if not 0 < self.fov < 180:
            raise ValueError(f"fov must be in (0, 180) degrees, got {self.fov}")
        if self.radius <= self.far - self.near or self.yaw_std < 0 or self.pitch_std < 0:
            raise ValueError("radius must exceed the sampled depth range and the angle stds must be >= 0")

    @property
    def focal(self) -> float:
        """1 / tan(fov / 2): the camera-space ray of an NDC point (x, y) is (x, y, -focal)."""
        return 1.0 / math.tan(math.radians(self.fov) / 2)


# --------------------------------------------------------------------------- randomness


def rand(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """U(0, 1) of ``shape`` on ``like``'s device and dtype, from ``generator`` (any device) when given."""
    if generator is None:
        return torch.rand(shape, device=like.device, dtype=like.dtype)
    return torch.rand(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)


def randn(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """N(0, 1) of ``shape`` on ``like``'s device and dtype, from ``generator`` (any device) when given."""
    if generator is None:
        return torch.randn(shape, device=like.device, dtype=like.dtype)
    return torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)


# --------------------------------------------------------------------------- cameras


@dataclass
class Cameras:
    """A batch of cameras on the sphere.

    yaw, pitch: (B,) radians; origin: (B, 3) world position; rotation: (B, 3, 3)
    camera-to-world, columns right, up, back.
    """

    yaw: torch.Tensor
    pitch: torch.Tensor
    origin: torch.Tensor
    rotation: torch.Tensor

    @property
    def batch(self) -> int:
        return int(self.yaw.shape[0])

    @classmethod
    def from_angles(cls, yaw: torch.Tensor, pitch: torch.Tensor, radius: float = 1.0) -> "Cameras":
        """Cameras at ``radius`` looking at the origin, up = +y; yaw, pitch (B,) radians (pitch in (0, π))."""
        (b,) = check_shape(yaw, "yaw", (None,))
        check_shape(pitch, "pitch", (b,))
        sp = torch.sin(pitch)
        back = torch.stack([sp * torch.cos(yaw), torch.cos(pitch), sp * torch.sin(yaw)], -1)  # unit
        up_world = torch.tensor([0.0, 1.0, 0.0], device=yaw.device, dtype=yaw.dtype).expand_as(back)
        right = F.normalize(torch.cross(up_world, back, dim=-1), dim=-1)
        up = torch.cross(back, right, dim=-1)
        return cls(yaw, pitch, radius * back, torch.stack([right, up, back], -1))


def sample_angles(
    cfg: RendererConfig, batch: int, like: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """yaw ~ N(yaw_mean, yaw_std), pitch ~ N(pitch_mean, pitch_std) clamped to (1e-5, π - 1e-5): two (batch,) tensors."""
    yaw = cfg.yaw_mean + cfg.yaw_std * randn((batch,), like, generator)
    pitch = cfg.pitch_mean + cfg.pitch_std * randn((batch,), like, generator)
    return yaw, pitch.clamp(1e-5, math.pi - 1e-5)


def ray_directions(resolution: int, focal: float, like: torch.Tensor) -> torch.Tensor:
    """Camera-space unit ray directions of a resolution² image: (resolution², 3), row-major, see the module doc."""
    lin = torch.linspace(-1.0, 1.0, resolution, device=like.device, dtype=like.dtype)
    y, x = torch.meshgrid(-lin, lin, indexing="ij")
    d = torch.stack([x, y, torch.full_like(x, -focal)], -1).reshape(-1, 3)
    return F.normalize(d, dim=-1)


def world_rays(cameras: Cameras, resolution: int, focal: float) -> torch.Tensor:
    """Unit world-space ray directions of every pixel: (B, resolution², 3); the rays start at ``cameras.origin``."""
    d = ray_directions(resolution, focal, cameras.origin)
    return torch.einsum("bij,nj->bni", cameras.rotation, d)


def project(points: torch.Tensor, cameras: Cameras, focal: float) -> tuple[torch.Tensor, torch.Tensor]:
    """World points (B, N, 3) -> ``grid_sample`` coordinates (B, N, 2) (align_corners=True) and in-front mask (B, N).

    Points behind a camera get coordinates far outside [-1, 1] (zero padding samples 0 there).
    """
    b, n, _ = check_shape(points, "points", (cameras.batch, None, 3))
    p = torch.einsum("bni,bij->bnj", points - cameras.origin[:, None], cameras.rotation)  # camera coordinates
    front = p[..., 2] < -1e-6
    z = torch.where(front, -p[..., 2], torch.ones_like(p[..., 2]))
    grid = torch.stack([focal * p[..., 0] / z, -focal * p[..., 1] / z], -1)
    grid = torch.where(front[..., None], grid, torch.full_like(grid, 4.0))
    return grid, front


# --------------------------------------------------------------------------- samples and compositing


def stratified_depths(
    shape: tuple[int, ...],
    samples: int,
    near: float,
    far: float,
    like: torch.Tensor,
    jitter: bool,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``samples`` depths evenly spaced over [near, far] (both ends included), each jittered by U(-1/2, 1/2) spacing.

    Returns (*shape, samples), increasing along the last axis.
    """
    t = torch.linspace(near, far, samples, device=like.device, dtype=like.dtype).expand(*shape, samples)
    if jitter:
        t = t + (rand((*shape, samples), like, generator) - 0.5) * ((far - near) / (samples - 1))
    return t


def composite_weights(
    sigma: torch.Tensor,
    t: torch.Tensor,
    last_back: bool = False,
    noise_std: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Alpha-compositing weights (..., n) of raw densities ``sigma`` (..., n) at increasing depths ``t`` (..., n).

    alpha_i = 1 - exp(-delta_i ReLU(sigma_i + noise)), delta_i = t_{i+1} - t_i and
    the last delta 1e10; w_i = alpha_i prod_{j<i} (1 - alpha_j + 1e-10). The
    weights sum to the ray's opacity in [0, 1]; with ``last_back`` the last
    sample takes the rest, so they sum to 1.
    """
    if sigma.shape != t.shape:
        raise ValueError(f"sigma and t must have one shape, got {tuple(sigma.shape)} and {tuple(t.shape)}")
    deltas = torch.cat([t[..., 1:] - t[..., :-1], torch.full_like(t[..., :1], FAR_DELTA)], -1)
    if noise_std > 0:
        sigma = sigma + noise_std * randn(tuple(sigma.shape), sigma, generator)
    alpha = 1.0 - torch.exp(-deltas * F.relu(sigma))
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1.0 - alpha + 1e-10], -1), -1)[..., :-1]
    w = alpha * trans
    if last_back:
        w = torch.cat([w[..., :-1], w[..., -1:] + (1.0 - w.sum(-1, keepdim=True))], -1)
    return w


@torch.no_grad()
def sample_pdf(
    t: torch.Tensor, weights: torch.Tensor, samples: int, stratified: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Importance samples (..., samples) from the piecewise-constant density of ``weights`` (..., n) at depths ``t`` (..., n).

    Sample i owns the interval between the midpoints to its neighbours (the first
    and last intervals end at t_0 and t_{n-1}); its probability is (w_i + 1e-5)
    normalised. Inverse-CDF sampling of ``samples`` evenly spaced quantiles,
    each jittered within its stratum when ``stratified``. Not differentiable.
    """
    mid = 0.5 * (t[..., 1:] + t[..., :-1])
    edges = torch.cat([t[..., :1], mid, t[..., -1:]], -1)  # (..., n + 1)
    pdf = weights + 1e-5
    pdf = pdf / pdf.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), torch.cumsum(pdf, -1)], -1)
    shape = (*t.shape[:-1], samples)
    offset = rand(shape, t, generator) if stratified else torch.full(shape, 0.5, device=t.device, dtype=t.dtype)
    u = (torch.arange(samples, device=t.device, dtype=t.dtype) + offset) / samples
    idx = (torch.searchsorted(cdf.contiguous(), u.contiguous(), right=True) - 1).clamp(0, pdf.shape[-1] - 1)
    c0, p = cdf.gather(-1, idx), pdf.gather(-1, idx)
    e0, e1 = edges.gather(-1, idx), edges.gather(-1, idx + 1)
    return e0 + ((u - c0) / p).clamp(0, 1) * (e1 - e0)


@dataclass
class Rendering:
    """What :class:`VolumeRenderer` returns; R = the render resolution.

    features (B, C, R, R); rgb (B, 3, R, R) in [-1, 1]; depth (B, 1, R, R) along
    the unit rays (the weighted mean sample depth; near 0 where a ray is empty,
    unless ``last_back``); opacity (B, 1, R, R) in [0, 1]; the cameras.
    """

    features: torch.Tensor
    rgb: torch.Tensor
    depth: torch.Tensor
    opacity: torch.Tensor
    cameras: Cameras


class VolumeRenderer(nn.Module):
    """Renders a feature field from a batch of cameras (no parameters).

    forward(field (see :data:`FieldFn`), cameras :class:`Cameras` (B),
    noise_std >= 0 (std of the density noise, the original's nerf_noise),
    generator (for the jitter and the noise), last_back (None: in eval mode only,
    as the original)) -> :class:`Rendering`. Samples are jittered in training
    mode, and in eval mode too while ``cfg.jitter_at_eval``.
    """

    def __init__(self, cfg: RendererConfig):
        super().__init__()
        self.cfg = cfg

    def cameras(self, batch: int, like: torch.Tensor, generator: torch.Generator | None = None) -> Cameras:
        """``batch`` cameras drawn from the configured yaw/pitch distribution."""
        return Cameras.from_angles(*sample_angles(self.cfg, batch, like, generator), radius=self.cfg.radius)

    def forward(
        self,
        field: FieldFn,
        cameras: Cameras,
        noise_std: float = 0.0,
        generator: torch.Generator | None = None,
        last_back: bool | None = None,
    ) -> Rendering:
        cfg = self.cfg
        b, r = cameras.batch, cfg.resolution
        check_shape(cameras.origin, "camera origins", (b, 3))
        check_shape(cameras.rotation, "camera rotations", (b, 3, 3))
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        last_back = (not self.training) if last_back is None else last_back
        jitter = self.training or cfg.jitter_at_eval
        dirs = world_rays(cameras, r, cfg.focal)  # (B, R², 3)
        rays = dirs.shape[1]

        def evaluate(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            k = t.shape[-1]
            pts = cameras.origin[:, None, None, :] + dirs[:, :, None, :] * t[..., None]
            d = dirs[:, :, None, :].expand(b, rays, k, 3)
            feat, rgb, sigma = field(pts.reshape(b, rays * k, 3), d.reshape(b, rays * k, 3))
            check_shape(rgb, "field rgb", (b, rays * k, 3))
            check_shape(sigma, "field sigma", (b, rays * k, 1))
            return feat.reshape(b, rays, k, -1), rgb.reshape(b, rays, k, 3), sigma.reshape(b, rays, k)

        t = stratified_depths((b, rays), cfg.samples, cfg.near, cfg.far, dirs, jitter, generator)
        feat, rgb, sigma = evaluate(t)
        if cfg.fine_samples:
            coarse = composite_weights(sigma.detach(), t, False, noise_std, generator)
            t_fine = sample_pdf(t, coarse, cfg.fine_samples, jitter, generator)
            feat_f, rgb_f, sigma_f = evaluate(t_fine)
            t, order = torch.sort(torch.cat([t, t_fine], -1), -1)
            sigma = torch.cat([sigma, sigma_f], -1).gather(-1, order)
            idx = order[..., None]
            rgb = torch.cat([rgb, rgb_f], -2).gather(-2, idx.expand(-1, -1, -1, 3))
            feat = torch.cat([feat, feat_f], -2).gather(-2, idx.expand(-1, -1, -1, feat.shape[-1]))
        w = composite_weights(sigma, t, last_back, noise_std, generator)

        def to_map(x: torch.Tensor) -> torch.Tensor:  # (B, R², C) -> (B, C, R, R)
            return x.reshape(b, r, r, -1).permute(0, 3, 1, 2).contiguous()

        return Rendering(
            features=to_map((w[..., None] * feat).sum(-2)),
            rgb=to_map((w[..., None] * rgb).sum(-2) * 2.0 - 1.0),
            depth=to_map((w * t).sum(-1, keepdim=True)),
            opacity=to_map(w.sum(-1, keepdim=True)),
            cameras=cameras,
        )
