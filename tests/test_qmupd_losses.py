"""QMUPD / Unpaired Portrait Drawing losses (SPEC B1.3, B1.4, B2.3)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from apdraw.losses.qmupd import (
    QMUPDLossConfig,
    discriminator_style_loss,
    line_map,
    relaxed_cycle_loss,
    strict_backward_cycle_loss,
    style_classification_loss,
    truncate,
)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def edge_photo(size: int = 32, shift: int = 0) -> torch.Tensor:
    """(1, 3, size, size) in [-1, 1]: a dark left half, a light right half, a dark square."""
    x = torch.full((1, 3, size, size), 0.6)
    x[..., : size // 2 + shift] = -0.6
    x[..., 4 + shift : 10 + shift, 20:26] = -0.9
    return x


# ------------------------------------------------------------------ truncation


def test_truncate_six_bits_gives_64_levels_like_the_original():
    ramp = torch.linspace(-1, 1, 10_001)
    q = truncate(ramp, bits=6)
    levels = torch.unique(q)
    assert levels.numel() == 64
    original = torch.tensor([int((float(v) + 1) * 31.875) / 31.875 - 1 for v in ramp])
    assert torch.allclose(q, original, atol=1e-6)
    assert float(levels[0]) == pytest.approx(-1.0)
    assert float(levels[-1]) == pytest.approx(63 / 31.875 - 1)
    assert torch.unique(truncate(ramp, bits=8)).numel() == 256
    assert torch.unique(truncate(ramp, bits=1)).numel() == 2
    assert float(truncate(torch.tensor([1.5])).item()) == pytest.approx(63 / 31.875 - 1)  # clamped
    with pytest.raises(ValueError):
        truncate(ramp, bits=0)


def test_straight_through_gradient_is_identity_original_blocks_it():
    x = torch.linspace(-0.9, 0.9, 7, requires_grad=True)
    w = torch.arange(7.0)
    (truncate(x, straight_through=True) * w).sum().backward()
    assert torch.equal(x.grad, w)
    y = torch.linspace(-0.9, 0.9, 7, requires_grad=True)
    out = truncate(y, straight_through=False)
    assert not out.requires_grad  # like .int(): no gradient reaches G_A
    assert torch.equal(out, truncate(y.detach(), straight_through=True))


# ------------------------------------------------------------------ line map


def test_line_map_responds_to_edges_and_is_zero_on_flat_images():
    flat = torch.full((2, 3, 32, 32), 0.3)
    lm_flat = line_map(flat)
    assert lm_flat.shape == (2, 1, 32, 32)
    assert float(lm_flat.abs().max()) < 1e-5
    lm = line_map(edge_photo())
    assert float(lm.min()) >= 0 and float(lm.max()) < 1
    band = lm[0, 0, 20:, 13:19].amax(1)  # DoG peaks on both sides of the step (zero at the step itself)
    assert float(band.min()) > 0.5
    assert float(lm[0, 0, 20:, 0:3].max()) < 0.1 * float(band.min())  # far from any edge
    assert line_map(edge_photo()[:, :1]).shape == (1, 1, 32, 32)  # gray input


def test_line_map_is_differentiable():
    x = edge_photo().requires_grad_(True)
    line_map(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0
    assert torch.autograd.gradcheck(lambda t: line_map(t, sigmas=(1.0,)), (torch.rand(1, 1, 8, 8, dtype=torch.float64) * 2 - 1).requires_grad_(True))


# ------------------------------------------------------------------ cycles


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().mean()


def test_relaxed_cycle_compares_line_maps_not_pixels():
    photo = edge_photo()
    assert float(relaxed_cycle_loss(photo, photo.clone(), l1)) == 0.0
    assert float(relaxed_cycle_loss(photo, photo + 0.2, l1)) < 1e-5  # a brightness change keeps the lines
    assert float(relaxed_cycle_loss(photo, edge_photo(shift=3), l1)) > 0.01
    seen = []
    relaxed_cycle_loss(photo, photo, lambda p, t: seen.append((p.shape, float(p.min()), float(t.max()))) or l1(p, t))
    assert seen[0][0] == (1, 3, 32, 32) and seen[0][1] >= -1 and seen[0][2] <= 1


def test_relaxed_cycle_with_the_perceptual_loss(imagenet_mobilenet_v2):
    from apdraw.losses.perceptual import PerceptualLoss

    loss = PerceptualLoss(resolution=64)
    photo = F.interpolate(edge_photo(), size=64)
    same = relaxed_cycle_loss(photo, photo.clone(), loss)
    rec = F.interpolate(edge_photo(shift=3), size=64).requires_grad_(True)
    shifted = relaxed_cycle_loss(photo, rec, loss)
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    assert float(shifted.detach()) > float(same) + 1e-3
    shifted.backward()
    assert rec.grad is not None and float(rec.grad.abs().sum()) > 0


def test_strict_backward_cycle_is_mean_abs_difference():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 1, 8, 8, generator=g) * 2 - 1
    b = torch.rand(2, 1, 8, 8, generator=g) * 2 - 1
    assert float(strict_backward_cycle_loss(a, b)) == pytest.approx(float((a - b).abs().mean()))
    assert float(strict_backward_cycle_loss(a, a)) == 0.0
    with pytest.raises(ValueError):
        strict_backward_cycle_loss(a, b[:1])


# ------------------------------------------------------------------ schedule and weights


def test_schedule_matches_spec():
    cfg = QMUPDLossConfig()
    start, middle, stop, end = cfg.weights_at(1), cfg.weights_at(151), cfg.weights_at(200), cfg.weights_at(301)
    assert (start.lambda_A, start.lambda_A_trunc, start.lambda_B) == (5.0, 0.0, 5.0)
    assert middle.lambda_A == pytest.approx(5 * (1 - 0.9 * 0.5)) and middle.lambda_A_trunc == pytest.approx(2.25)
    assert stop.lambda_A == pytest.approx(5 * (1 - 0.9 * 199 / 300))  # SPEC: "about 2.02"
    assert stop.lambda_A_trunc == pytest.approx(5 * 0.9 * 199 / 300)  # SPEC: "about 2.99"
    assert stop.lambda_A == pytest.approx(2.02, abs=0.006) and stop.lambda_A_trunc == pytest.approx(2.99, abs=0.006)
    assert end.lambda_A == pytest.approx(0.5) and end.lambda_A_trunc == pytest.approx(4.5)
    assert cfg.weights_at(1000) == end  # clamped
    for e in (1, 50, 200, 301):
        w = cfg.weights_at(e)
        assert w.lambda_A + w.lambda_A_trunc == pytest.approx(5.0)
    assert cfg.weights_at_progress(0.5) == middle
    with pytest.raises(ValueError):
        cfg.weights_at(0)


def test_config_defaults_and_validation():
    cfg = QMUPDLossConfig()
    assert cfg.gan_kind == "lsgan" and cfg.lambda_local == 0.5 and cfg.lambda_D_gan == 0.5
    assert cfg.lambda_D_cls == 0.5 and cfg.lambda_cls_G == 1.0 and cfg.lambda_idt == 0.0
    assert cfg.lambda_quality == 0.5 and cfg.truncate_bits == 6 and cfg.schedule_epochs == 300
    for bad in ({"lambda_A": -1.0}, {"lambda_local": math.nan}, {"trunc_transfer": 1.5}, {"truncate_bits": 9},
                {"schedule_epochs": 0}, {"gan_kind": "wgan"}):  # fmt: skip
        with pytest.raises(ValueError):
            QMUPDLossConfig(**bad)


# ------------------------------------------------------------------ style classification


def test_soft_label_ce_equals_a_hand_computation():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    p = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]])
    expected = 0.0
    for row_l, row_p in zip(logits.tolist(), p.tolist()):
        lse = math.log(sum(math.exp(v) for v in row_l))
        expected += sum(pk * (lse - lk) for pk, lk in zip(row_p, row_l))
    expected /= 2
    assert float(style_classification_loss(logits, p)) == pytest.approx(expected, rel=1e-6)
    assert float(style_classification_loss(logits.view(2, 3, 1, 1), p)) == pytest.approx(expected, rel=1e-6)
    hard = float(style_classification_loss(logits, p, hard=True))
    assert hard == pytest.approx(float(F.cross_entropy(logits, torch.tensor([0, 2]))), rel=1e-6)
    d = discriminator_style_loss(logits, p, logits.flip(0), p.flip(0))
    assert float(d) == pytest.approx(expected, rel=1e-6)


def test_soft_label_ce_is_minimised_by_matching_logits():
    p = torch.tensor([[0.6, 0.3, 0.1]])
    best = style_classification_loss(p.log(), p)
    entropy = -(p * p.log()).sum()
    assert float(best) == pytest.approx(float(entropy), rel=1e-6)
    logits = torch.zeros(1, 3, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=1.0)
    for _ in range(300):
        opt.zero_grad()
        style_classification_loss(logits, p).backward()
        opt.step()
    assert torch.allclose(F.softmax(logits, 1), p, atol=1e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        assert float(style_classification_loss(torch.randn(1, 3, generator=g), p)) > float(best)


def test_style_targets_are_validated():
    with pytest.raises(ValueError):
        style_classification_loss(torch.zeros(2, 3), torch.tensor([[0.5, 0.5, 0.5], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError):
        style_classification_loss(torch.zeros(2, 3), torch.tensor([[-0.5, 1.5, 0.0], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError):
        style_classification_loss(torch.zeros(2, 3), torch.zeros(2, 4))
