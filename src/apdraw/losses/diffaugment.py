"""DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020).

The same random, differentiable transformations are applied to real and to
generated images before *every* discriminator call (in D's step and in G's
step), so the discriminator cannot memorise a small training set while the
generator still gets gradients through the augmentation. With 307 pairs per
FS2K sketch type this is exactly the regime the paper targets.

The three policies of the paper, with its parameters:

* ``color``: brightness + U(-0.5, 0.5); saturation x (U(0, 1) x 2) around the
  channel mean; contrast x (U(0, 1) + 0.5) around the image mean;
* ``translation``: an integer shift of up to ``translation_ratio`` (1/8) of the
  side, zero-filled;
* ``cutout``: one zero-filled square of ``cutout_ratio`` (1/2) of the side at a
  random place.

Each image of a batch draws its own parameters from torch's global RNG (which
the training loop checkpoints, so a resumed run draws the same ones). A
conditional discriminator sees (photo, drawing) pairs: :func:`diff_augment`
transforms the tensors it is given *jointly* (the same shift and cutout for the
photo and its drawing), so a pair stays aligned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


@dataclass
class DiffAugmentConfig:
    """``policy``: comma-separated subset of color, translation, cutout; "" = off."""

    policy: str = ""
    translation_ratio: float = 0.125
    cutout_ratio: float = 0.5

    def __post_init__(self) -> None:
        unknown = [p for p in self.names if p not in POLICIES]
        if unknown:
            raise ValueError(f"unknown DiffAugment policy {unknown}; use a comma-separated subset of {list(POLICIES)}")
        if not 0.0 <= self.translation_ratio < 0.5 or not 0.0 <= self.cutout_ratio <= 1.0:
            raise ValueError("translation_ratio must be in [0, 0.5) and cutout_ratio in [0, 1]")

    @property
    def names(self) -> list[str]:
        return [p.strip() for p in self.policy.split(",") if p.strip()]

    @property
    def enabled(self) -> bool:
        return bool(self.names)


def brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by its own integer (dy, dx), |d| <= ratio x side, filling with 0."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if sy == 0 and sx == 0:
        return x
    dy = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device)
    # Index into a 1-pixel zero border: positions that fall outside read the border.
    ys = (torch.arange(h, device=x.device)[None, :, None] + dy + 1).clamp(0, h + 1)  # (B, h, 1)
    xs = (torch.arange(w, device=x.device)[None, None, :] + dx + 1).clamp(0, w + 1)  # (B, 1, w)
    padded = F.pad(x, (1, 1, 1, 1))
    bi = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[bi, ys, xs].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one (ratio x side)² square per image, centred anywhere (clipped at the border)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if ch == 0 or cw == 0:
        return x
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = (ys >= cy - ch // 2) & (ys < cy - ch // 2 + ch) & (xs >= cx - cw // 2) & (xs < cx - cw // 2 + cw)
    return x * (~inside)[:, None].to(x.dtype)


def diff_augment(cfg: DiffAugmentConfig, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Apply ``cfg``'s policies jointly to tensors of shape (B, C_i, H, W) (values in [-1, 1]).

    The tensors are concatenated along channels, so they share every random
    parameter (a photo and its drawing get the same shift and cutout; colour
    statistics are taken over all their channels), and split again. Returns the
    tensors unchanged (the same objects) when the policy is empty.
    """
    if not cfg.enabled:
        return tensors
    sizes = [t.shape[1] for t in tensors]
    x = torch.cat(tensors, 1) if len(tensors) > 1 else tensors[0]
    for name in cfg.names:
        if name == "color":
            x = contrast(saturation(brightness(x)))
        elif name == "translation":
            x = translation(x, cfg.translation_ratio)
        elif name == "cutout":
            x = cutout(x, cfg.cutout_ratio)
    return tuple(torch.split(x, sizes, 1))
