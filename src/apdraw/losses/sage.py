"""Losses of SAGE (IJCAI 2023), from SPEC C.4; no code from the original repository.

* Adversarial, non-saturating with f(u) = −log(1 + exp(−u)) (:func:`nonsaturating_f`):
  D minimises softplus(D(fake)) + softplus(−D(real)) (:func:`discriminator_loss`), G
  minimises softplus(−D(fake)) over the top-k fakes (:func:`generator_loss`,
  :func:`topk_fraction`). Both are :func:`apdraw.losses.gan.gan_loss` ``"vanilla"``
  (BCE with logits is exactly these softplus forms).
* :func:`r1_loss`: 0.5·γ·E‖∇_x D(x_real)‖² (γ = ``r1_gamma``, 0.2 in SAGE), on
  :func:`apdraw.losses.gan.r1_penalty`.
* :func:`pose_loss`: MSE between D's (pitch, yaw) head and the camera the fake was
  rendered from (weight pos_λ = 15, 0 from the 256 stage on, SPEC C.5).
* :func:`reprojection_loss`: the stereo auxiliary view's photometric consistency,
  λ₃·L1 + (1 − λ₃)·SSIM_loss between the primary NeRF RGB and the auxiliary RGB warped
  into the primary view (:func:`photometric_loss`, :func:`ssim_loss`).
* Ours, for the reconstruction warm start (an auto-decoder fitting the generator to
  the training photos, not in the original): :func:`photometric_loss` between the decoded
  photo and the real one, and :func:`semantic_cross_entropy` of the semantic logits
  against the label map.

:class:`SageLossConfig` holds the weights with SPEC's defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from apdraw.losses.gan import gan_loss, r1_penalty

SSIM_C1 = 0.01**2  # SPEC C.4, for images in [0, 1]
SSIM_C2 = 0.03**2


# --------------------------------------------------------------------------- adversarial


def nonsaturating_f(u: torch.Tensor) -> torch.Tensor:
    """f(u) = −log(1 + exp(−u)) = −softplus(−u), elementwise; f(0) = −log 2, f < 0, increasing.

    The GAN objective is E f(D(x)) + E f(−D(G(z))); D maximises it and G maximises
    E f(D(G(z))) (the non-saturating form), i.e. the softplus losses below.
    """
    return -F.softplus(-u)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's loss mean softplus(−D(real)) + mean softplus(D(fake)) = −E f(D(x)) − E f(−D(G(z))).

    Args:
        real_logits, fake_logits: any shape (SAGE's D gives (B, 1)), raw logits.

    Returns:
        A float32 scalar >= 0; 2·log 2 at all-zero logits.
    """
    return gan_loss(real_logits, True, "vanilla") + gan_loss(fake_logits, False, "vanilla")


def topk_fraction(step: int, interval: float = 2000.0, decay: float = 0.99, floor: float = 0.6) -> float:
    """Share of the fakes G learns from at ``step``: max(decay^(step / interval), floor) (SPEC C.4)."""
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return max(decay ** (step / interval), floor)


def generator_loss(fake_logits: torch.Tensor, topk: float = 1.0) -> torch.Tensor:
    """G's non-saturating loss mean softplus(−D(G(z))) = −E f(D(G(z))) over the top-k fakes.

    Args:
        fake_logits: (B,) or (B, 1) raw logits of a (sub-)batch of fakes.
        topk: in (0, 1]: keep the ceil(topk·B) fakes with the largest logits (the ones D
            finds most real; SPEC C.4's top-k training, see :func:`topk_fraction`).

    Returns:
        A float32 scalar >= 0; log 2 at all-zero logits.
    """
    if not 0.0 < topk <= 1.0:
        raise ValueError(f"topk must be in (0, 1], got {topk}")
    logits = fake_logits.reshape(fake_logits.shape[0], -1)
    if logits.shape[1] != 1:
        raise ValueError(f"expected one logit per sample, got shape {tuple(fake_logits.shape)}")
    logits = logits[:, 0]
    k = max(1, math.ceil(topk * logits.shape[0]))
    if k < logits.shape[0]:
        logits = torch.topk(logits, k).values
    return gan_loss(logits, True, "vanilla")


def r1_loss(real_logits: torch.Tensor, real_inputs: torch.Tensor, gamma: float) -> torch.Tensor:
    """R1 on real inputs as SAGE weighs it: 0.5·γ·mean over the batch of ‖∇_x D(x)‖².

    ``real_inputs`` must require grad and ``real_logits`` be computed from it; the
    result is differentiable (it is part of D's loss). SAGE: γ = 0.2 (SPEC C.4).

    Returns:
        A float32 scalar >= 0.
    """
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    return 0.5 * gamma * r1_penalty(real_logits, real_inputs)


def pose_loss(predicted: torch.Tensor, yaw: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    """MSE between D's pose head and the true camera angles (SPEC C.4), mean over batch and both angles.

    Args:
        predicted: (B, 2) D's pose output, (pitch, yaw) in that order, radians.
        yaw, pitch: (B,) radians, the SAGE convention (frontal π/2), of the camera the
            input was rendered from.

    Returns:
        A float32 scalar >= 0. Unweighted: multiply by pos_λ (G adds the image and the
        semantic D's terms; the fine-tuning stage averages them, SPEC C.4).
    """
    b = predicted.shape[0]
    if predicted.shape != (b, 2) or yaw.shape != (b,) or pitch.shape != (b,):
        raise ValueError(f"expected predicted (B, 2), yaw and pitch (B,); got {tuple(predicted.shape)}, "
                         f"{tuple(yaw.shape)}, {tuple(pitch.shape)}")  # fmt: skip
    target = torch.stack([pitch, yaw], 1).to(device=predicted.device, dtype=torch.float32)
    return F.mse_loss(predicted.float(), target)


# --------------------------------------------------------------------------- photometric


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.dim() != 4 or a.shape != b.shape:
        raise ValueError(f"expected two (B, C, H, W) images of one shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    if min(a.shape[-2:]) < 2:
        raise ValueError(f"images must be at least 2x2 (reflect padding), got {tuple(a.shape)}")


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM of two images in [0, 1] with 3×3 box windows and reflect padding (SPEC C.4).

    SSIM = (2 μa μb + C1)(2 σab + C2) / ((μa² + μb² + C1)(σa² + σb² + C2)), C1 = 0.01²,
    C2 = 0.03²; symmetric in (a, b), 1 where a == b.

    Args:
        a, b: (B, C, H, W), values in [0, 1], H, W >= 2.

    Returns:
        (B, C, H, W) float32 in [-1, 1].
    """
    _check_pair(a, b)
    a, b = a.float(), b.float()

    def pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=1)

    mu_a, mu_b = pool(a), pool(b)
    var_a = pool(a * a) - mu_a * mu_a
    var_b = pool(b * b) - mu_b * mu_b
    cov = pool(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
    den = (mu_a * mu_a + mu_b * mu_b + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return num / den


def ssim_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean clamp((1 − SSIM)/2, 0, 1) of two images in [-1, 1] (mapped to [0, 1] first, as SPEC C.4).

    Args:
        pred, target: (B, C, H, W) in [-1, 1].

    Returns:
        A float32 scalar in [0, 1]; 0 for identical images; symmetric.
    """
    return ((1.0 - ssim_map((pred + 1) / 2, (target + 1) / 2)) / 2).clamp(0.0, 1.0).mean()


def photometric_loss(pred: torch.Tensor, target: torch.Tensor, l1_weight: float = 0.25) -> torch.Tensor:
    """λ·L1 + (1 − λ)·SSIM_loss of two images in [-1, 1], both terms on the [0, 1] scale.

    L1 = mean |(pred + 1)/2 − (target + 1)/2|; SSIM_loss = :func:`ssim_loss`.

    Args:
        pred, target: (B, C, H, W) in [-1, 1].
        l1_weight: λ in [0, 1].

    Returns:
        A float32 scalar in [0, 1]; 0 for identical images; symmetric.
    """
    if not 0.0 <= l1_weight <= 1.0:
        raise ValueError(f"l1_weight must be in [0, 1], got {l1_weight}")
    _check_pair(pred, target)
    l1 = ((pred.float() - target.float()).abs() / 2).mean()
    return l1_weight * l1 + (1.0 - l1_weight) * ssim_loss(pred, target)


def reprojection_loss(primary_rgb: torch.Tensor, warped_rgb: torch.Tensor, l1_weight: float = 0.25) -> torch.Tensor:
    """L_rec = λ₃·L1 + (1 − λ₃)·SSIM_loss between the primary view and the warped auxiliary view (SPEC C.2, C.4).

    Args:
        primary_rgb: (B, 3, R, R) the primary camera's NeRF RGB in [-1, 1]
            (:attr:`apdraw.models.sage.SageOutput.nerf_rgb`).
        warped_rgb: same shape, the auxiliary camera's NeRF RGB warped into the primary
            view (:attr:`~apdraw.models.sage.SageOutput.warped_rgb`).
        l1_weight: λ₃; the paper's 0.25 by default.

    Returns:
        A float32 scalar in [0, 1] (unweighted: multiply by reproj_λ = 1).
    """
    # The paper weighs L1 by λ₃ = 0.25 and the SSIM term by 1 − λ₃ (as the SAGE issue states;
    # SPEC C.4 records only the code), while the released code uses 0.15·L1 + 0.85·SSIM_loss
    # (SPEC C.4). We implement the paper; l1_weight=0.15 gives the code's weights. Pixels the
    # warp sampled from outside the auxiliary view (zero padding) count, as in the original: no mask.
    return photometric_loss(primary_rgb, warped_rgb, l1_weight)


def semantic_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Ours (the reconstruction warm start): cross-entropy of semantic logits against a label map.

    Args:
        logits: (B, K, H, W) raw class logits (the semantic decoder's output, K = 19).
        labels: (B, H, W) int64 class ids in [0, K) at the same resolution
            (:class:`apdraw.data.sage.SageDataset`'s ``labels`` at the decoder's size).

    Returns:
        A float32 scalar >= 0 (mean over pixels); log K for all-zero logits.
    """
    b, k = logits.shape[:2]
    if logits.dim() != 4 or labels.shape != (b, *logits.shape[2:]):
        raise ValueError(
            f"expected logits (B, K, H, W) and labels (B, H, W), got {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    if labels.dtype != torch.int64:
        raise ValueError(f"labels must be int64, got {labels.dtype}")
    return F.cross_entropy(logits.float(), labels.to(logits.device))


# --------------------------------------------------------------------------- weights


@dataclass
class SageLossConfig:
    """SAGE's loss weights with SPEC C.4 / C.5 defaults (pre-training; the 256 stage sets pos_lambda 0)."""

    r1_gamma: float = 0.2  # γ of r1_loss: 0.5·γ·E‖∇D‖²
    pos_lambda: float = 15.0  # pose regression, both Ds, D and G
    reproj_lambda: float = 1.0  # reprojection loss
    reproj_l1_weight: float = 0.25  # λ₃: the paper's 0.25 (the code: 0.15)
    topk_interval: float = 2000.0  # top-k share = max(decay^(step / interval), floor)
    topk_decay: float = 0.99
    topk_floor: float = 0.6
    # Ours: the reconstruction warm start.
    recon_l1_weight: float = 0.25  # λ of photometric_loss between the decoded and the real photo
    semantic_ce_lambda: float = 1.0  # weight of semantic_cross_entropy

    def __post_init__(self) -> None:
        for name in ("r1_gamma", "pos_lambda", "reproj_lambda", "semantic_ce_lambda"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        for name in ("reproj_l1_weight", "recon_l1_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.topk_interval <= 0 or not 0.0 < self.topk_decay <= 1.0 or not 0.0 < self.topk_floor <= 1.0:
            raise ValueError("need topk_interval > 0, topk_decay in (0, 1] and topk_floor in (0, 1]")

    def topk_at(self, step: int) -> float:
        """:func:`topk_fraction` at ``step`` with these settings."""
        return topk_fraction(step, self.topk_interval, self.topk_decay, self.topk_floor)
