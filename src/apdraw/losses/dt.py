"""Distance-transform (Chamfer) loss of APDrawingGAN, normalised and with a differentiable DT.

The loss compares two drawings (values in [-1, 1], -1 = ink) by Chamfer
matching, in both directions, for black lines (on paper) and white lines (gaps
inside ink), as in the paper (Yi et al. 2019, section 3.3, "distance transform loss"):

* real -> fake: mean over the real drawing's line pixels of the distance to the
  nearest *ink* (black lines) or *paper* (white lines) pixel of the fake;
* fake -> real: the same with the roles swapped; the fake's line pixels are
  soft (line-detector probability times ink), the real's distances exact.

Design choices (see docs/APDRAWINGGAN.md):

* Exact side: Euclidean DTs of the binarised ground truth (``exact_dt``), and
  a morphological line definition (``line_masks``: ink thinner than a pen
  width, i.e. ink that a disk opening removes), computed in the data loader.
* Generated side: a parameter-free *soft* distance transform (``soft_dt2``)
  instead of the original's trained DT-regressor U-Nets: a soft-minimum
  (temperature ``tau``) over pixels y of |x-y|² + cap²(1 - ink(y)), where
  ink is a sigmoid of the drawing around the ink threshold. It is a Gaussian
  blur followed by a log, so it is separable and cheap, exact as tau -> 0,
  capped at ``cap``, and its gradient is the softmin weight times cap², so it
  is bounded (a log-of-blurred-ink form would explode far from any stroke).
  It runs in float64 so that exp(-cap²/tau) does not underflow.
* Normalisation: every term is a mean over the line pixels it sums over and
  distances are remapped by ``tanh(rho(d)/scale)`` with the Charbonnier
  distance ``rho(d) = sqrt(d²+1)-1``, so the loss lies in [0, 1] per line kind
  whatever the number of strokes (the original summed over pixels, and
  divided each DT by its image's own maximum).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DTLossConfig:
    """Lengths are in pixels at 512² and scale linearly with the resolution."""

    scale: float = 8.0  # remap tanh(rho(d)/scale): 1 px -> 0.05, 3 px -> 0.26, 6 px -> 0.55
    cap: float = 24.0  # distances beyond this are clamped (the remap is ~0.995 there)
    tau: float = 4.0  # soft-DT temperature in px²: sqrt(tau) is its smoothing length
    line_width: float = 6.0  # ink (or paper) strokes up to this width count as lines
    ink_threshold: int = 127  # gray <= this is ink (the original's 127; raise it for light pencil)

    def at(self, resolution: int) -> "DTLossConfig":
        k = resolution / 512
        return DTLossConfig(self.scale * k, self.cap * k, self.tau * k * k, self.line_width * k, self.ink_threshold)


# --------------------------------------------------------------------------- exact side (numpy)


def ink_mask(drawing: np.ndarray, threshold: int = 127) -> np.ndarray:
    """(H, W) uint8 drawing -> bool ink mask (gray <= threshold; the original used 127)."""
    return np.asarray(drawing) <= threshold


def line_masks(drawing: np.ndarray, line_width: float, threshold: int = 127) -> np.ndarray:
    """Black-line and white-line pixels of a (H, W) uint8 drawing -> (2, H, W) bool.

    A black-line pixel is ink that an opening with a disk slightly wider than
    ``line_width`` removes (thin strokes; solid fills such as dark hair
    survive the opening and are not lines). White lines are the same on the
    paper (thin light gaps inside ink).
    """
    k = 2 * int(math.ceil(line_width / 2)) + 1  # odd, so the opening is centred
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    out = []
    ink = ink_mask(drawing, threshold)
    for mask in (ink, ~ink):
        m = mask.astype(np.uint8)
        opened = cv2.morphologyEx(m, cv2.MORPH_OPEN, disk, borderType=cv2.BORDER_REPLICATE)
        out.append(mask & (opened == 0))
    return np.stack(out)


def exact_dt(drawing: np.ndarray, cap: float, threshold: int = 127) -> np.ndarray:
    """Exact Euclidean distances (px) to the nearest ink and nearest paper pixel -> (2, H, W) float32, <= cap."""
    ink = ink_mask(drawing, threshold)
    out = []
    for target in (ink, ~ink):
        if not target.any():
            out.append(np.full(target.shape, cap, np.float32))
            continue
        # distanceTransform measures the distance to the nearest zero pixel.
        d = cv2.distanceTransform((~target).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        out.append(np.minimum(d, cap).astype(np.float32))
    return np.stack(out)


# --------------------------------------------------------------------------- generated side (torch)


def ink_probability(drawing: torch.Tensor, threshold: int = 127, softness: float = 0.05, grad_softness: float = 0.5) -> torch.Tensor:
    """Soft version of :func:`ink_mask` for a (B, 1, H, W) drawing in [-1, 1] -> [0, 1].

    Value: sigmoid((t - v) / softness), t the threshold in [-1, 1] units (~1 on
    black, ~0 on paper, so paper does not leak into the loss). Gradient: that
    of the much softer sigmoid((t - v) / grad_softness) (a straight-through
    estimate), so saturated pixels, e.g. a solid black stroke in the wrong
    place, still receive a gradient.
    """
    t = threshold / 127.5 - 1.0
    v = drawing.float()
    sharp = torch.sigmoid((t - v) / softness)
    if grad_softness <= softness or not v.requires_grad:
        return sharp
    soft = torch.sigmoid((t - v) / grad_softness)
    return sharp.detach() + (soft - soft.detach())


def soft_dt2(prob: torch.Tensor, tau: float, cap: float) -> torch.Tensor:
    """Differentiable soft *squared* distance transform of a probability map.

    ``prob``: (B, C, H, W) in [0, 1] (e.g. ink probability). A pixel y costs
    c(y) = cap² (1 - prob(y)) px² (0 on sure ink, cap² on sure paper) and

        D²(x) = softmin_tau over y of (|x - y|² + c(y))
              = -tau log( sum_y exp(-|x-y|²/tau) exp(-c(y)/tau) + exp(-cap²/tau) ),

    a Gaussian blur of exp(-c/tau) followed by a log (separable, float64 so the
    exponentials do not underflow). Its gradient w.r.t. ``prob`` is the softmin
    weight times cap², so it is bounded. Returns (B, C, H, W) float32 in [0, cap²]:
    ~0 on ink, ~the squared Euclidean distance to the nearest ink elsewhere
    (slightly less next to thick ink, a soft-min over many pixels).
    """
    h, w = prob.shape[-2:]
    r = int(math.ceil(cap))
    k = torch.arange(-r, r + 1, dtype=torch.float64, device=prob.device)
    g = torch.exp(-(k * k) / tau)
    x = torch.exp(-(cap * cap / tau) * (1.0 - prob.double().clamp(0, 1)))
    # Separable blur as sums of shifted copies (float64 convolutions have no fast CPU kernel);
    # zero padding: nothing outside the frame is ink.
    xp = F.pad(x, (r, r, 0, 0))
    x = sum(g[i] * xp[..., i : i + w] for i in range(2 * r + 1))
    xp = F.pad(x, (0, 0, r, r))
    x = sum(g[i] * xp[..., i : i + h, :] for i in range(2 * r + 1))
    d2 = -tau * torch.log(x + math.exp(-cap * cap / tau))
    return d2.clamp(0, cap * cap).float()


def soft_dt(prob: torch.Tensor, tau: float, cap: float) -> torch.Tensor:
    """:func:`soft_dt2` as distances in pixels (not differentiable at 0; use the squared form in losses)."""
    return soft_dt2(prob, tau, cap).sqrt()


def remap2(d2: torch.Tensor, scale: float) -> torch.Tensor:
    """Squared distance (px²) -> [0, 1): tanh(rho/scale) with rho = sqrt(d²+1) - 1 (smooth at 0)."""
    return torch.tanh((torch.sqrt(d2 + 1.0) - 1.0) / scale)


def chamfer_terms(
    fake: torch.Tensor,
    real_lines: torch.Tensor,
    real_dt: torch.Tensor,
    fake_line_prob: torch.Tensor | None,
    cfg: DTLossConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two Chamfer directions, each summed over {black, white} lines and averaged over the batch.

    ``fake`` (B, 1, H, W) in [-1, 1]; ``real_lines`` (B, 2, H, W) {0, 1} black/white
    line pixels of the real drawing; ``real_dt`` (B, 2, H, W) its exact distances
    to ink / paper (px); ``fake_line_prob`` (B, 2, H, W) in [0, 1], the line
    detector's black/white probabilities on ``fake`` (None: every ink / paper
    pixel counts as a line). ``cfg`` is already at this resolution.
    Returns (real->fake, fake->real), scalars in [0, 2) (each line kind in [0, 1)).
    """
    ink = ink_probability(fake, cfg.ink_threshold)
    fake_maps = torch.cat([ink, 1.0 - ink], 1)  # ink, paper
    # real -> fake: where the real has lines, how far is the fake's ink / paper?
    d_fake = remap2(soft_dt2(fake_maps, cfg.tau, cfg.cap), cfg.scale)
    lines = real_lines.float()
    n = lines.sum((2, 3))
    r2f = (lines * d_fake).sum((2, 3)) / n.clamp_min(1.0)
    # fake -> real: where the fake has (soft) lines, how far is the real's ink / paper?
    prob = fake_maps if fake_line_prob is None else fake_line_prob.float() * fake_maps
    d_real = remap2(real_dt.float() ** 2, cfg.scale)
    f2r = (prob * d_real).sum((2, 3)) / (prob.sum((2, 3)) + 1.0)
    return r2f.sum(1).mean(), f2r.sum(1).mean()


class ChamferLoss(nn.Module):
    """DT loss with an optional frozen line detector for the generated side.

    ``detector`` maps (B, 1, H, W) drawings in [-1, 1] to (B, 2, H, W) logits
    (black line, white line); gradients flow through it to the drawing, its
    own parameters stay frozen and it stays in eval mode.
    """

    def __init__(self, cfg: DTLossConfig, resolution: int, detector: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg.at(resolution)
        self.detector = detector
        if detector is not None:
            detector.eval()
            for p in detector.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> "ChamferLoss":
        super().train(mode)
        if self.detector is not None:
            self.detector.eval()  # frozen: never batch statistics or dropout
        return self

    def forward(self, fake: torch.Tensor, real_lines: torch.Tensor, real_dt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        prob = torch.sigmoid(self.detector(fake).float()) if self.detector is not None else None
        return chamfer_terms(fake, real_lines, real_dt, prob, self.cfg)
