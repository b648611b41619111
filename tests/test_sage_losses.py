"""SAGE's losses (SPEC C.4, C.5) and the reconstruction warm start's (ours)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from apdraw.losses.sage import (
    SSIM_C1,
    SageLossConfig,
    discriminator_loss,
    generator_loss,
    nonsaturating_f,
    photometric_loss,
    pose_loss,
    r1_loss,
    reprojection_loss,
    semantic_cross_entropy,
    ssim_loss,
    ssim_map,
    topk_fraction,
)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def images(seed: int, shape=(2, 3, 16, 16)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 2 - 1


# ------------------------------------------------------------------ adversarial


def test_f_is_minus_log_one_plus_exp_minus_u():
    assert nonsaturating_f(torch.tensor(0.0)).item() == pytest.approx(-math.log(2))
    u = torch.tensor([-30.0, -2.0, 0.5, 3.0, 30.0])
    expected = torch.tensor([-math.log1p(math.exp(-float(v))) for v in u])
    torch.testing.assert_close(nonsaturating_f(u), expected)
    assert (nonsaturating_f(u) < 0).all()
    assert (nonsaturating_f(u).diff() > 0).all()  # increasing


def test_discriminator_and_generator_losses_are_the_softplus_forms():
    assert discriminator_loss(torch.zeros(4, 1), torch.zeros(4, 1)).item() == pytest.approx(2 * math.log(2))
    assert generator_loss(torch.zeros(4, 1)).item() == pytest.approx(math.log(2))
    real, fake = torch.tensor([[2.0], [-1.0]]), torch.tensor([[0.5], [-3.0]])
    d = discriminator_loss(real, fake)
    expected = F.softplus(-real).mean() + F.softplus(fake).mean()
    assert d.item() == pytest.approx(expected.item(), rel=1e-6)
    # In f's terms: D maximises E f(D(x)) + E f(-D(G(z))).
    assert d.item() == pytest.approx(-(nonsaturating_f(real).mean() + nonsaturating_f(-fake).mean()).item(), rel=1e-6)
    assert generator_loss(fake).item() == pytest.approx(F.softplus(-fake).mean().item(), rel=1e-6)


def test_generator_topk_keeps_the_most_real_fakes():
    logits = torch.tensor([[3.0], [-1.0], [0.0], [5.0]])
    half = generator_loss(logits, topk=0.5)
    assert half.item() == pytest.approx(F.softplus(-torch.tensor([5.0, 3.0])).mean().item(), rel=1e-6)
    # ceil(0.6 * 4) = 3 fakes.
    three = F.softplus(-torch.tensor([5.0, 3.0, 0.0])).mean().item()
    assert generator_loss(logits, topk=0.6).item() == pytest.approx(three, rel=1e-6)
    assert generator_loss(logits, topk=0.01).item() == pytest.approx(F.softplus(torch.tensor(-5.0)).item(), rel=1e-6)
    with pytest.raises(ValueError):
        generator_loss(logits, topk=0.0)
    with pytest.raises(ValueError):
        generator_loss(torch.zeros(4, 3))


def test_topk_schedule():
    assert topk_fraction(0) == 1.0
    assert topk_fraction(2000) == pytest.approx(0.99)
    assert topk_fraction(10**7) == 0.6
    step = math.ceil(2000 * math.log(0.6) / math.log(0.99))  # where the decay reaches the floor
    assert topk_fraction(step - 2000) > 0.6 and topk_fraction(step) == 0.6
    assert SageLossConfig().topk_at(4000) == pytest.approx(0.99**2)


def test_r1_of_a_linear_discriminator_is_its_weight_norm_squared():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3 * 8 * 8, generator=g, requires_grad=True)
    x = torch.randn(5, 3, 8, 8, generator=g, requires_grad=True)
    logits = (x.flatten(1) @ w + 0.3)[:, None]
    norm2 = w.detach().pow(2).sum().item()
    assert r1_loss(logits, x, gamma=2.0).item() == pytest.approx(norm2, rel=1e-5)
    loss = r1_loss(logits, x, gamma=0.2)  # SAGE's gamma: 0.5 * 0.2 * |w|^2
    assert loss.item() == pytest.approx(0.1 * norm2, rel=1e-5)
    loss.backward()  # differentiable: d/dw 0.1 |w|^2 = 0.2 w
    torch.testing.assert_close(w.grad, 0.2 * w.detach())
    with pytest.raises(ValueError):
        r1_loss(logits, x, gamma=-1.0)


def test_pose_loss_is_mse_on_pitch_then_yaw():
    yaw, pitch = torch.tensor([1.2, 1.9]), torch.tensor([1.5, 1.6])
    exact = torch.stack([pitch, yaw], 1)
    assert pose_loss(exact, yaw, pitch).item() == 0.0
    swapped = torch.stack([yaw, pitch], 1)
    assert pose_loss(swapped, yaw, pitch).item() == pytest.approx(((yaw - pitch) ** 2).mean().item(), rel=1e-6)
    pred = exact.clone().requires_grad_(True)
    off = pred + torch.tensor([0.0, 0.5])
    loss = pose_loss(off, yaw, pitch)
    assert loss.item() == pytest.approx(0.125)  # (0 + 0.25) / 2 elements per row
    loss.backward()
    assert pred.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        pose_loss(torch.zeros(2, 3), yaw, pitch)


# ------------------------------------------------------------------ photometric


def test_ssim_known_values():
    a = torch.full((1, 1, 8, 8), 0.25)
    b = torch.full((1, 1, 8, 8), 0.75)
    torch.testing.assert_close(ssim_map(a, a), torch.ones_like(a))
    # Constant images: the contrast-structure term is C2 / C2 = 1.
    expected = (2 * 0.25 * 0.75 + SSIM_C1) / (0.25**2 + 0.75**2 + SSIM_C1)
    torch.testing.assert_close(ssim_map(a, b), torch.full_like(a, expected))
    # ssim_loss takes [-1, 1] images: a and b are 0.25 and 0.75 in [0, 1].
    assert ssim_loss(a * 2 - 1, b * 2 - 1).item() == pytest.approx((1 - expected) / 2, rel=1e-5)
    # Opposite patterns: SSIM < 0 -> loss above 1/2, clamped to at most 1.
    x = images(1)
    assert 0.5 < ssim_loss(x, -x).item() <= 1.0


def test_reprojection_loss_zero_for_identical_and_symmetric():
    x, y = images(2), images(3)
    assert reprojection_loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert photometric_loss(x, x, 0.0).item() == pytest.approx(0.0, abs=1e-6)
    assert ssim_loss(x, y).item() == pytest.approx(ssim_loss(y, x).item(), rel=1e-6)
    assert reprojection_loss(x, y).item() == pytest.approx(reprojection_loss(y, x).item(), rel=1e-6)
    assert reprojection_loss(x, y).item() > 0


def test_photometric_loss_weights():
    x, y = images(4), images(5)
    l1 = ((x - y).abs() / 2).mean().item()  # on the [0, 1] scale
    s = ssim_loss(x, y).item()
    assert photometric_loss(x, y, 1.0).item() == pytest.approx(l1, rel=1e-5)
    assert photometric_loss(x, y, 0.0).item() == pytest.approx(s, rel=1e-5)
    # The paper's lambda_3 = 0.25 by default; the released code's 0.15 on request.
    assert reprojection_loss(x, y).item() == pytest.approx(0.25 * l1 + 0.75 * s, rel=1e-5)
    assert reprojection_loss(x, y, 0.15).item() == pytest.approx(0.15 * l1 + 0.85 * s, rel=1e-5)
    with pytest.raises(ValueError):
        photometric_loss(x, y, 1.5)
    with pytest.raises(ValueError):
        photometric_loss(x, y[:, :1])


def test_photometric_gradients_flow_to_both_views():
    x = images(6).requires_grad_(True)
    y = images(7).requires_grad_(True)
    reprojection_loss(x, y).backward()
    for t in (x, y):
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_semantic_cross_entropy():
    labels = torch.randint(0, 19, (2, 8, 8), generator=torch.Generator().manual_seed(0))
    zeros = torch.zeros(2, 19, 8, 8, requires_grad=True)
    loss = semantic_cross_entropy(zeros, labels)
    assert loss.item() == pytest.approx(math.log(19), rel=1e-6)
    loss.backward()
    assert zeros.grad.abs().sum() > 0
    perfect = F.one_hot(labels, 19).permute(0, 3, 1, 2).float() * 30
    assert semantic_cross_entropy(perfect, labels).item() < 1e-6
    with pytest.raises(ValueError):
        semantic_cross_entropy(zeros, labels[:, :4])
    with pytest.raises(ValueError):
        semantic_cross_entropy(zeros, labels.int())


def test_loss_config_defaults_and_validation():
    cfg = SageLossConfig()
    assert (cfg.r1_gamma, cfg.pos_lambda, cfg.reproj_lambda, cfg.reproj_l1_weight) == (0.2, 15.0, 1.0, 0.25)
    with pytest.raises(ValueError):
        SageLossConfig(r1_gamma=-1)
    with pytest.raises(ValueError):
        SageLossConfig(reproj_l1_weight=2.0)
    with pytest.raises(ValueError):
        SageLossConfig(topk_floor=0.0)
