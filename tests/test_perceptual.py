"""Perceptual and feature-matching losses, and the hinge GAN loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from apdraw.losses.gan import gan_loss
from apdraw.losses.perceptual import PerceptualLoss, feature_matching_loss, perceptual_distance
from test_projected import strokes


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread (after conftest's fixture sets 2): see tests/test_projected.py."""
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def loss(imagenet_mobilenet_v2) -> PerceptualLoss:
    return PerceptualLoss(resolution=128)


def blur(x: torch.Tensor, k: int = 5) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (k // 2,) * 4, mode="replicate"), k, 1)


# ------------------------------------------------------------------ perceptual


def test_zero_for_identical_inputs(loss):
    x = strokes(2, 128, 0)
    assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(x, x.expand(-1, 3, -1, -1))) == pytest.approx(0.0, abs=1e-6)  # gray = its RGB copy


def test_structural_changes_cost_more_than_faint_noise(loss):
    """Noise of a quarter of an 8-bit grey level costs far less than a 3-px shift or a 5-px blur.

    MobileNetV2's features are very sensitive to i.i.d. pixel noise on white paper: at
    sigma = 0.02 (2.5 grey levels) the loss is already about that of the 3-px shift.
    """
    x = strokes(2, 128, 1, n_strokes=8)
    noise = loss(x + 0.002 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0)), x)
    shifted = loss(torch.roll(x, shifts=(3, 3), dims=(2, 3)), x)
    blurred = loss(blur(x), x)
    other = loss(strokes(2, 128, 2, n_strokes=8), x)
    assert 0 < noise < 0.25 * min(shifted, blurred)
    assert shifted < other and blurred < other


def test_gradient_reaches_the_prediction_only(loss):
    pred = strokes(1, 96, 3).requires_grad_(True)
    target = strokes(1, 96, 4).requires_grad_(True)
    loss(pred, target).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert target.grad is None


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_precomputed_features_equal_the_direct_path(loss, kind):
    a, b = strokes(2, 128, 5), strokes(2, 128, 6)
    fa, fb = loss.features(a), loss.features(b)
    assert len(fa) == 5
    direct = PerceptualLoss(resolution=128, kind=kind)(a, b)
    assert torch.allclose(perceptual_distance(fa, fb, kind=kind), direct, atol=1e-6)
    if kind == "l1":
        assert torch.allclose(loss.distance(fa, fb), direct, atol=1e-6)


def test_reuses_the_projected_discriminators_backbone(loss):
    from apdraw.models.projected import ProjectedConfig, ProjectedDiscriminator

    d = ProjectedDiscriminator(ProjectedConfig(resolution=128, conditional=False))
    a, b = strokes(1, 128, 7), strokes(1, 128, 8)
    from_d = loss.distance(d.project(a).backbone, d.project(b).backbone)  # taps 0..4 with the default stages
    assert torch.allclose(from_d, loss(a, b), atol=1e-6)


def test_distance_rejects_mismatched_features():
    a = [torch.randn(1, 8, 4, 4)]
    with pytest.raises(ValueError, match="shapes differ"):
        perceptual_distance(a, [torch.randn(1, 8, 2, 2)])
    with pytest.raises(ValueError, match="not available"):
        perceptual_distance(a, a, stages=(1,))


def test_distance_by_hand():
    # unit vectors (1, 0) and (0, 1) at every position: l1 = 2 / sqrt(2), l2 = 2
    a = torch.zeros(1, 2, 3, 3)
    b = torch.zeros(1, 2, 3, 3)
    a[:, 0], b[:, 1] = 5.0, 0.1
    assert float(perceptual_distance([a], [b], kind="l1")) == pytest.approx(2 / 2**0.5)
    assert float(perceptual_distance([a], [b], kind="l2")) == pytest.approx(2.0)


# ------------------------------------------------------------------ feature matching


def test_feature_matching():
    real = [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]
    assert float(feature_matching_loss([r.clone() for r in real], real)) == 0.0
    want = float((real[0].abs().mean() + real[1].abs().mean()) / 2)
    fake = [torch.zeros_like(r, requires_grad=True) for r in real]
    real = [r.requires_grad_(True) for r in real]
    got = feature_matching_loss(fake, real)
    assert float(got.detach()) == pytest.approx(want)
    got.backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in fake)
    assert all(r.grad is None for r in real)
    with pytest.raises(ValueError):
        feature_matching_loss(fake[:1], real)


# ------------------------------------------------------------------ hinge


def test_hinge_losses_by_hand():
    logits = torch.tensor([-2.0, 0.0, 0.5, 3.0])
    assert float(gan_loss(logits, True, "hinge")) == pytest.approx((3 + 1 + 0.5 + 0) / 4)  # relu(1 - x)
    assert float(gan_loss(logits, False, "hinge")) == pytest.approx((0 + 1 + 1.5 + 4) / 4)  # relu(1 + x)
    assert float(gan_loss(logits, True, "hinge", for_discriminator=False)) == pytest.approx(-1.5 / 4)  # -mean
    with pytest.raises(ValueError, match="real=True"):
        gan_loss(logits, False, "hinge", for_discriminator=False)


def test_for_discriminator_does_not_change_vanilla_or_lsgan():
    logits = torch.tensor([-2.0, 0.0, 0.5, 3.0])
    for kind in ("vanilla", "lsgan"):
        for real in (True, False):
            assert torch.equal(gan_loss(logits, real, kind), gan_loss(logits, real, kind, for_discriminator=False))
    assert float(gan_loss(logits, True, "lsgan")) == pytest.approx(float(((logits - 1) ** 2).mean()))
