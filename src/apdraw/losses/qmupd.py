"""Losses of Unpaired Portrait Drawing (CVPR 2020) and QMUPD (TPAMI 2022).

Reimplemented from the facts in SPEC B1.3 (losses), B1.4 (schedule) and B2.3
(QMUPD's differences); no code from the original repositories.

* :func:`truncate`: 6-bit quantisation of G_A's drawing before G_B (the truncation loss).
* :func:`line_map`: a weight-free multi-scale DoG line extractor standing in for HED
  (HED's BSDS500 weights are not available here).
* :func:`relaxed_cycle_loss`: the relaxed forward cycle, a perceptual distance between
  the line maps of the photo and of its reconstruction G_B(G_A(photo)).
* :func:`strict_backward_cycle_loss`: L1 between a drawing and G_A(G_B(drawing)).
* :func:`style_classification_loss` / :func:`discriminator_style_loss`: soft-label
  cross-entropy on D_A's 3 style logits.
* :class:`QMUPDLossConfig`: every weight, with SPEC's defaults, and the schedule of the
  cycle weights (:meth:`QMUPDLossConfig.weights_at`).

The GAN terms themselves are :func:`apdraw.losses.gan.gan_loss` with ``kind="lsgan"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import torch
import torch.nn.functional as F

PerceptualFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- truncation


def truncate(drawing: torch.Tensor, bits: int = 6, straight_through: bool = True) -> torch.Tensor:
    """Quantise a drawing in [-1, 1] to ``2**bits`` levels (SPEC B1.3, truncation loss).

    The original's trunc(x) = int((x + 1)·31.875)/31.875 − 1 for 6 bits: x is read as an
    8-bit gray level (x + 1)·127.5 in [0, 255] and its low 8 − bits bits are dropped, so
    codes 0..2**bits − 1 map to values code·2**(9−bits)/255 − 1 (for 6 bits: −1, −0.969, …,
    0.976). G_A then cannot hide the photo in gray differences too small to see.

    Args:
        drawing: any shape, values in [-1, 1] (clamped first).
        bits: 1..8.
        straight_through: True (default): forward is the quantised value, the backward is the
            identity, so the truncation loss also trains G_A (the paper's intent). False: the
            original's behaviour (``.int()``): the result is detached, no gradient reaches
            the drawing, and the loss only trains G_B (SPEC B1.3 [measured]).

    Returns:
        Same shape and dtype, values among the ``2**bits`` levels in [-1, 1).
    """
    if not (isinstance(bits, int) and 1 <= bits <= 8):
        raise ValueError(f"bits must be an int in 1..8, got {bits!r}")
    scale = 255.0 / 2 ** (9 - bits)  # 31.875 for 6 bits, 127.5 for 8
    x = drawing.clamp(-1.0, 1.0)
    q = torch.floor((x.detach() + 1.0) * scale) / scale - 1.0  # x + 1 >= 0: floor == int()
    if straight_through:
        return q + (x - x.detach())  # exactly q forward (x - x.detach() == 0), identity backward
    return q


# --------------------------------------------------------------------------- line maps


def _gaussian_kernel(sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    radius = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).to(device=device, dtype=dtype)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W) per channel, replicate padding, radius ceil(3σ).

    Differentiable; same shape and dtype as ``x``.
    """
    if x.dim() != 4:
        raise ValueError(f"expected (B, C, H, W), got shape {tuple(x.shape)}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    c = x.shape[1]
    k = _gaussian_kernel(sigma, x.dtype, x.device)
    r = k.numel() // 2
    kh = k.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    kv = k.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), kh, groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), kv, groups=c)


def line_map(
    image: torch.Tensor,
    sigmas: Sequence[float] = (1.0, 2.0, 4.0),
    k: float = 1.6,
    gain: float = 12.0,
    eps: float = 1e-3,
) -> torch.Tensor:
    """Weight-free, differentiable multi-scale DoG line map (our stand-in for HED, SPEC B1.2).

    Per scale σ and colour channel, D = G_σ(I) − G_{kσ}(I) on the image in [0, 1]; the
    response is the smooth magnitude sqrt(mean over channels of D² + eps²) − eps (0 where
    the image is flat, differentiable everywhere), averaged over the scales and squashed
    with tanh(gain · r). Like HED's output: 1 = line/edge, 0 = nothing.

    Args:
        image: (B, 1|3, H, W) in [-1, 1].
        sigmas: inner Gaussian scales in pixels (at the image's resolution).
        k: outer/inner scale ratio.
        gain: contrast of the output (a unit step edge reaches about 0.6-0.9 at the edge).
        eps: smoothing of the magnitude near 0.

    Returns:
        (B, 1, H, W) in [0, 1), differentiable w.r.t. ``image``.
    """
    if image.dim() != 4 or image.shape[1] not in (1, 3):
        raise ValueError(f"line_map expects (B, 1|3, H, W), got shape {tuple(image.shape)}")
    if not sigmas:
        raise ValueError("sigmas must not be empty")
    x = (image.to(torch.promote_types(image.dtype, torch.float32)) + 1.0) * 0.5  # fp32 (fp64 stays)
    resp = []
    for s in sigmas:
        d = gaussian_blur(x, s) - gaussian_blur(x, s * k)
        resp.append(torch.sqrt(d.pow(2).mean(1, keepdim=True) + eps * eps) - eps)
    r = torch.stack(resp).mean(0)
    return torch.tanh(gain * r)


# --------------------------------------------------------------------------- cycle losses


def relaxed_cycle_loss(
    photo: torch.Tensor,
    reconstructed: torch.Tensor,
    perceptual: PerceptualFn,
    lines: Callable[[torch.Tensor], torch.Tensor] = line_map,
) -> torch.Tensor:
    """The relaxed forward cycle (SPEC B1.3): perceptual distance between line maps, not pixels.

    L = perceptual(lines(reconstructed)·2 − 1, lines(photo)·2 − 1), both maps expanded to 3
    channels. The original uses HED and LPIPS-AlexNet; here ``lines`` defaults to
    :func:`line_map` and ``perceptual`` is normally :class:`apdraw.losses.perceptual.PerceptualLoss`
    (whose target side runs without grad). The truncation loss is the same call with
    ``reconstructed = G_B(truncate(G_A(photo)))``. Unweighted: multiply by λ_A or λ_A_trunc.

    Args:
        photo: (B, 3, H, W) in [-1, 1], the input photo (target).
        reconstructed: (B, 3, H, W) in [-1, 1], G_B(G_A(photo)) (prediction).
        perceptual: (pred, target) -> scalar, both (B, 3, H, W) in [-1, 1].

    Returns:
        A scalar >= 0 (0 for identical images with a distance that is 0 on equal inputs).
    """
    if photo.shape != reconstructed.shape:
        raise ValueError(f"photo {tuple(photo.shape)} and reconstruction {tuple(reconstructed.shape)} differ")
    pred = (lines(reconstructed) * 2.0 - 1.0).expand(-1, 3, -1, -1)
    target = (lines(photo) * 2.0 - 1.0).expand(-1, 3, -1, -1)
    return perceptual(pred, target)


def strict_backward_cycle_loss(drawing: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """L1 between a drawing and G_A(G_B(drawing), style) (SPEC B1.3, backward cycle; weight λ_B).

    Args:
        drawing: (B, 1, H, W) in [-1, 1], the real drawing.
        recon: same shape, its reconstruction.

    Returns:
        mean |recon − drawing|, a scalar in [0, 2].
    """
    if drawing.shape != recon.shape:
        raise ValueError(f"drawing {tuple(drawing.shape)} and reconstruction {tuple(recon.shape)} differ")
    return (recon.float() - drawing.float()).abs().mean()


# --------------------------------------------------------------------------- style classification


def style_classification_loss(class_logits: torch.Tensor, target_style: torch.Tensor, hard: bool = False) -> torch.Tensor:
    """Soft-label cross-entropy on D_A's style logits (SPEC B1.3, style classification).

    L = mean over the batch of Σ_k p_k · CE(logits, k) = −mean_b Σ_k p_bk · log_softmax(logits)_bk,
    the original's ``style_loss_with_weight=1`` (B1). ``hard=True``: CE against argmax(p),
    the QMUPD module default ``style_loss_with_weight=0`` (B2.3). Identical for one-hot p.

    Labels (SPEC B1.3): for G, D_A(fake_B) against the style vector fake_B was drawn with
    (weight 1); for D, real drawings against their own style softmax and fakes against the
    style they were drawn with (see :func:`discriminator_style_loss`).

    Args:
        class_logits: (B, 3) (or (B, 3, 1, 1), D_A's class head) logits.
        target_style: (B, 3) non-negative, each row summing to 1 (a softmax or one-hot).

    Returns:
        A scalar >= 0; minimised over logits at log_softmax = log p (value = entropy of p).
    """
    logits = class_logits.float().flatten(1)
    if logits.dim() != 2 or logits.shape != target_style.shape:
        raise ValueError(f"logits {tuple(class_logits.shape)} and target {tuple(target_style.shape)} must both be (B, K)")
    p = target_style.to(device=logits.device, dtype=logits.dtype)
    if not torch.isfinite(p).all() or (p < 0).any():
        raise ValueError("target_style must be finite and non-negative")
    if not torch.allclose(p.sum(1), torch.ones_like(p[:, 0]), atol=1e-3):
        raise ValueError("each target_style row must sum to 1")
    if hard:
        p = F.one_hot(p.argmax(1), p.shape[1]).to(logits.dtype)
    return -(p * F.log_softmax(logits, dim=1)).sum(1).mean()


def discriminator_style_loss(
    real_logits: torch.Tensor, real_style: torch.Tensor, fake_logits: torch.Tensor, fake_style: torch.Tensor, hard: bool = False
) -> torch.Tensor:
    """D_A's class term, 0.5·(CE_real + CE_fake) (SPEC B1.3); add it to D_A's 0.5·(LSGAN_real + LSGAN_fake).

    Both reals and fakes are labelled with a style (there is no "fake" class): reals with
    their drawing's softmax feature, fakes with the style vector they were generated with.
    The original pairs a pooled fake with the *current* label (a quirk, SPEC B1.3); pass the
    style stored with the pooled fake to avoid it.
    """
    return 0.5 * (style_classification_loss(real_logits, real_style, hard) + style_classification_loss(fake_logits, fake_style, hard))


# --------------------------------------------------------------------------- weights and schedule


@dataclass(frozen=True)
class QMUPDWeights:
    """The cycle weights at one point of training (SPEC B1.3, "Schedule of the cycle weights")."""

    lambda_A: float  # relaxed forward cycle
    lambda_A_trunc: float  # truncation loss
    lambda_B: float  # strict backward cycle


@dataclass
class QMUPDLossConfig:
    """Every weight of the QMUPD / Unpaired Portrait Drawing objective, with SPEC's defaults.

    Total G (SPEC B1.3) = lambda_G_A·G_A + lambda_G_B·G_B + λ_A·cycA + λ_A_trunc·cycA_trunc
    + lambda_B·cycB + lambda_local·(G_A_l + G_A_le + G_A_ll) + lambda_cls_G·G_A_cls
    [+ lambda_quality·L_q, B2.3, when a quality metric network is available].
    Each D (D_A, D_B, the 3 local Ds) = lambda_D_gan·(real + fake); D_A adds
    lambda_D_cls·(CE_real + CE_fake).
    """

    gan_kind: Literal["vanilla", "lsgan", "hinge"] = "lsgan"  # B1.2: gan_mode=lsgan
    lambda_A: float = 5.0  # B1.3: λ_A = 5·(1 − 0.9·process)
    trunc_transfer: float = 0.9  # B1.3: the share of λ_A moved to λ_A_trunc by the end of the schedule
    lambda_B: float = 5.0  # B1.3: strict backward cycle
    schedule_epochs: int = 300  # B1.3/B1.4: niter + niter_decay = 100 + 200 (training stops at 200)
    lambda_G_A: float = 1.0  # B1.3: LSGAN of G_A on D_A's patch head
    lambda_G_B: float = 1.0  # B1.3: LSGAN of G_B on D_B
    lambda_local: float = 0.5  # B1.3: lambda_G_A_l, each of nose, eyes, lips
    lambda_cls_G: float = 1.0  # B1.3: G's style term on D_A(fake_B)
    lambda_D_gan: float = 0.5  # B1.3: D = 0.5·(real + fake), every D
    lambda_D_cls: float = 0.5  # B1.3: D_A's 0.5·(CE_real + CE_fake)
    lambda_idt: float = 0.0  # B1.3: identity loss off
    lambda_quality: float = 0.5  # B2.3: λ_metric · mean(1 − M(fake_B)); needs the metric network
    truncate_bits: int = 6  # B1.3: 64 levels
    straight_through: bool = True  # ours; False = the original's gradient-blocking truncation
    hard_style_labels: bool = False  # B1: soft (style_loss_with_weight=1); B2.3's module default is hard

    def __post_init__(self) -> None:
        if self.gan_kind not in ("vanilla", "lsgan", "hinge"):
            raise ValueError(f"unknown gan_kind {self.gan_kind!r}")
        for name in ("lambda_A", "lambda_B", "lambda_G_A", "lambda_G_B", "lambda_local", "lambda_cls_G",
                     "lambda_D_gan", "lambda_D_cls", "lambda_idt", "lambda_quality"):  # fmt: skip
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if not (0.0 <= self.trunc_transfer <= 1.0):
            raise ValueError(f"trunc_transfer must be in [0, 1], got {self.trunc_transfer}")
        if not (isinstance(self.schedule_epochs, int) and self.schedule_epochs >= 1):
            raise ValueError(f"schedule_epochs must be an int >= 1, got {self.schedule_epochs!r}")
        if not (isinstance(self.truncate_bits, int) and 1 <= self.truncate_bits <= 8):
            raise ValueError(f"truncate_bits must be an int in 1..8, got {self.truncate_bits!r}")

    def weights_at_progress(self, process: float) -> QMUPDWeights:
        """Cycle weights at ``process`` in [0, 1] (clamped): λ_A = λ·(1 − t·process), λ_A_trunc = λ·t·process.

        SPEC B1.3: λ = 5, t = 0.9. For a step-based loop, process = step / total steps of the schedule.
        """
        p = min(max(float(process), 0.0), 1.0)
        return QMUPDWeights(
            lambda_A=self.lambda_A * (1.0 - self.trunc_transfer * p),
            lambda_A_trunc=self.lambda_A * self.trunc_transfer * p,
            lambda_B=self.lambda_B,
        )

    def weights_at(self, epoch: float) -> QMUPDWeights:
        """Cycle weights at 1-based ``epoch``: process = (epoch − 1)/schedule_epochs (SPEC B1.3).

        Epoch 1: (5, 0); epoch 200 (where the original stops, B1.4): about (2.015, 2.985);
        epoch 301 and later: (0.5, 4.5) (the original never gets there; clamped here).
        """
        if epoch < 1:
            raise ValueError(f"epochs are 1-based, got {epoch}")
        return self.weights_at_progress((epoch - 1) / self.schedule_epochs)
