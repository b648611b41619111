"""The APDrawingGAN DT (Chamfer) loss on toy drawings: distances, monotonicity, normalisation, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from apdraw.losses.dt import (
    ChamferLoss,
    DTLossConfig,
    chamfer_terms,
    exact_dt,
    ink_probability,
    line_masks,
    soft_dt,
)
from apdraw.models.layers import UNet
from apdraw.models.linedetector import LineDetector

S = 128
CFG = DTLossConfig().at(256)  # 4 px scale, 12 px cap, as in the compact model


@pytest.fixture(autouse=True)
def _one_thread(_deterministic_threads):
    """One torch thread: on a shared, oversubscribed 2-core machine two threads run ~10x slower."""
    torch.set_num_threads(1)


def strokes(xs: list[int], width: int = 2, size: int = S) -> np.ndarray:
    """(size, size) uint8 drawing: vertical black strokes at columns ``xs`` on white paper."""
    img = np.full((size, size), 255, np.uint8)
    for x in xs:
        img[16:-16, x : x + width] = 0
    return img


def as_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img.astype(np.float32) / 127.5 - 1.0)[None, None]


def loss_between(real: np.ndarray, fake: np.ndarray) -> tuple[float, float]:
    lines = torch.from_numpy(line_masks(real, CFG.line_width)).float()[None]
    dt = torch.from_numpy(exact_dt(real, CFG.cap))[None]
    r2f, f2r = chamfer_terms(as_tensor(fake), lines, dt, None, CFG)
    return float(r2f), float(f2r)


def test_soft_dt_matches_exact_dt():
    img = strokes([30, 90])
    img[40:70, 50:70] = 0  # a solid block
    soft = soft_dt(ink_probability(as_tensor(img)), CFG.tau, CFG.cap)[0, 0].numpy()
    exact = exact_dt(img, CFG.cap)[0]
    far = exact >= 2
    # A soft-min is slightly below the exact distance, never far from it.
    assert np.abs(soft - exact)[far].max() < 0.6
    assert soft[img == 0].max() < 0.05
    assert soft.max() <= CFG.cap + 1e-4


def test_loss_grows_with_shift_and_is_zero_for_identical():
    real = strokes([40, 80])
    same = sum(loss_between(real, real))
    shifted = [sum(loss_between(real, strokes([40 + d, 80 + d]))) for d in (1, 3, 6)]
    assert same < 1e-3
    assert same < shifted[0] < shifted[1] < shifted[2]
    assert shifted[0] > 0.02 and shifted[2] < 2.0


def test_both_directions_see_a_missing_or_extra_stroke():
    real = strokes([40, 80])
    r2f, f2r = loss_between(real, strokes([40]))  # fake misses a stroke: real->fake grows
    assert r2f > 0.3 and f2r < 5e-3
    r2f, f2r = loss_between(real, strokes([40, 60, 80]))  # fake adds one: fake->real grows
    assert r2f < 5e-3 and f2r > 0.2


def test_loss_scale_does_not_depend_on_stroke_count():
    one = sum(loss_between(strokes([40]), strokes([43])))
    four = sum(loss_between(strokes([20, 45, 70, 95]), strokes([23, 48, 73, 98])))
    assert one == pytest.approx(four, rel=0.1)


def test_white_lines_count_too():
    """A thin white gap inside a black fill is a white line; losing it costs in both directions."""
    real = np.full((S, S), 255, np.uint8)
    real[20:100, 20:100] = 0
    real[20:100, 59:61] = 255
    lines = line_masks(real, CFG.line_width)
    assert lines[1, 50, 59:61].all() and not lines[0, 50, 30]  # gap = white line; fill is not a line
    filled = real.copy()
    filled[20:100, 59:61] = 0
    r2f, _ = loss_between(real, filled)
    assert r2f > 0.05


def test_gradients_reach_the_generator():
    torch.manual_seed(0)
    gen = UNet(3, 1, (8, 16, 16), norm="instance")
    photo = torch.randn(2, 3, 64, 64)
    real = strokes([20, 40], size=64)
    lines = torch.from_numpy(line_masks(real, CFG.line_width)).float()[None].repeat(2, 1, 1, 1)
    dt = torch.from_numpy(exact_dt(real, CFG.cap))[None].repeat(2, 1, 1, 1)
    loss_fn = ChamferLoss(DTLossConfig(), 256, LineDetector())
    r2f, f2r = loss_fn(gen(photo), lines, dt)
    (r2f + f2r).backward()
    grads = [p.grad for p in gen.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    # The detector is frozen and stays in eval mode.
    assert all(p.grad is None and not p.requires_grad for p in loss_fn.detector.parameters())
    loss_fn.train()
    assert not loss_fn.detector.training


def test_descending_the_loss_moves_a_stroke_towards_the_target():
    """Optimising a free-form image under the DT loss alone pulls its stroke onto the real one."""
    real = strokes([60])  # columns 60-61
    lines = torch.from_numpy(line_masks(real, CFG.line_width)).float()[None]
    dt = torch.from_numpy(exact_dt(real, CFG.cap))[None]
    # A pre-tanh image with an anti-aliased 3 px stroke centred 3.5 px right of the real one.
    start = torch.from_numpy(strokes([63], width=3).astype(np.float32))
    start = torch.nn.functional.avg_pool2d(start[None, None], 3, 1, 1) / 127.5 - 1.0
    logits = torch.atanh(start.clamp(-0.95, 0.95)).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=0.05)

    def centre(v: torch.Tensor) -> float:
        ink = (v[0, 0, 16:-16] < 0).float().sum(0)
        return float((ink * torch.arange(S, dtype=torch.float32)).sum() / ink.sum())

    losses = []
    for _ in range(60):
        r2f, f2r = chamfer_terms(torch.tanh(logits), lines, dt, None, CFG)
        losses.append(float((r2f + f2r).detach()))
        opt.zero_grad()
        (r2f + f2r).backward()
        opt.step()
    assert centre(start) == pytest.approx(64.0)
    assert losses[-1] < 0.5 * losses[0]
    assert abs(centre(torch.tanh(logits).detach()) - 60.5) < 1.0
