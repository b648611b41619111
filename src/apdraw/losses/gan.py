"""Adversarial losses on PatchGAN logits.

``vanilla`` is the papers' BCE (with the sigmoid folded into the loss, which is
stable under autocast); ``lsgan`` is the least-squares variant.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

GanKind = Literal["vanilla", "lsgan"]


def gan_loss(logits: torch.Tensor, real: bool, kind: GanKind = "vanilla") -> torch.Tensor:
    """Mean loss of logits (any shape) against an all-real or all-fake target; a scalar."""
    logits = logits.float()
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    if kind == "lsgan":
        return F.mse_loss(logits, target)
    raise ValueError(f"unknown GAN loss {kind!r}")
