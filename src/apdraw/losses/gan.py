"""Adversarial losses on PatchGAN logits.

``vanilla`` is the papers' BCE (with the sigmoid folded into the loss, which is
stable under autocast); ``lsgan`` is the least-squares variant; ``hinge`` is the
projected GAN's (and SN-GAN's) hinge loss, whose D and G forms differ.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

GanKind = Literal["vanilla", "lsgan", "hinge"]


def gan_loss(logits: torch.Tensor, real: bool, kind: GanKind = "vanilla", for_discriminator: bool = True) -> torch.Tensor:
    """Mean loss of logits (any shape) against an all-real or all-fake target; a scalar.

    ``for_discriminator`` only matters for ``hinge``: D's loss is mean(relu(1 - logits))
    on real and mean(relu(1 + logits)) on fake; the generator's (``for_discriminator=False``,
    ``real=True``: its fakes should pass as real) is -mean(logits). vanilla and lsgan use
    the same form for both (the generator simply asks for ``real=True``).
    """
    logits = logits.float()
    if kind == "hinge":
        if for_discriminator:
            return F.relu(1 - logits).mean() if real else F.relu(1 + logits).mean()
        if not real:
            raise ValueError("the generator's hinge loss targets real (real=True)")
        return -logits.mean()
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    if kind == "lsgan":
        return F.mse_loss(logits, target)
    raise ValueError(f"unknown GAN loss {kind!r}")


def r1_penalty(real_logits: torch.Tensor, real_inputs: torch.Tensor) -> torch.Tensor:
    """R1 regularisation (Mescheder et al. 2018): mean over the batch of |d D(x) / d x|² on real inputs.

    ``real_inputs`` must require grad and ``real_logits`` be computed from it; the
    penalty is differentiable (``create_graph``), so it can be added to D's loss,
    usually as ``gamma / 2 * r1`` and lazily (see :func:`apdraw.train.loop.lazy_regularization`).
    """
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real_inputs, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
