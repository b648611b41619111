"""The projected discriminator: shapes, what is frozen, persistence, conditioning, and that its heads learn."""

from __future__ import annotations

import pytest
import torch

from apdraw.losses.gan import gan_loss
from apdraw.models.projected import TAP_CHANNELS, ProjectedConfig, ProjectedDiscriminator, ProjectedFeatures, ProjectedOutput


@pytest.fixture(scope="module", autouse=True)
def _imagenet_weights(imagenet_mobilenet_v2):
    """Every test here needs the weights (conftest skips without them)."""


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread (after conftest's fixture sets 2): these tensors are tiny, and when the
    2-core host is busy, 2 OpenMP threads that spin-wait on each other made this file ~50x slower."""
    torch.set_num_threads(1)


def strokes(n: int, size: int, seed: int, n_strokes: int = 4) -> torch.Tensor:
    """(n, 1, size, size) in {-1, 1}: black 2-px line segments (-1) on white (1)."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    p = torch.rand(n, n_strokes, 4, generator=gen) * size
    x0, y0, x1, y1 = (p[..., i, None, None] for i in range(4))
    dx, dy = x1 - x0, y1 - y0
    t = (((xx - x0) * dx + (yy - y0) * dy) / (dx * dx + dy * dy + 1e-6)).clamp(0, 1)
    dist = ((xx - x0 - t * dx) ** 2 + (yy - y0 - t * dy) ** 2).sqrt().amin(1)
    return torch.where(dist < 1.0, -1.0, 1.0).unsqueeze(1)


def photo(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize(
    "resolution, size, channels, conditional, want",
    [
        (256, 256, 1, True, [(8, 8)] * 4),
        (256, 200, 3, False, [(8, 8)] * 4),
        (128, 128, 3, True, [(8, 8), (8, 8), (8, 8), (4, 4)]),
        (128, 72, 1, False, [(8, 8), (8, 8), (8, 8), (4, 4)]),  # a local crop of any size is resized
    ],
)
def test_logit_keys_and_shapes(resolution, size, channels, conditional, want):
    d = ProjectedDiscriminator(ProjectedConfig(resolution=resolution, conditional=conditional))
    x = torch.rand(2, channels, size, size) * 2 - 1
    out = d(x, photo(2, size) if conditional else None)
    assert list(out) == ["proj0", "proj1", "proj2", "proj3"]
    assert [tuple(v.shape) for v in out.values()] == [(2, 1, *hw) for hw in want]


def test_return_features():
    d = ProjectedDiscriminator(ProjectedConfig(resolution=128))
    out = d(strokes(2, 128, 0), photo(2, 128), return_features=True)
    assert isinstance(out, ProjectedOutput) and list(out.logits) == ["proj0", "proj1", "proj2", "proj3"]
    # taps 0..4 (strides 2..32), un-mixed
    assert [f.shape[1] for f in out.features.backbone] == list(TAP_CHANNELS[:5])
    assert [f.shape[-1] for f in out.features.backbone] == [64, 32, 16, 8, 4]
    assert [m.shape[1:] for m in out.features.mixed] == [(64, s, s) for s in (32, 16, 8, 4)]
    # heads: 2 + 1 + 1 + 1 hidden layers at 128² (down to 8x8, or one 3x3 layer)
    assert [h.shape[1:] for h in out.head_features] == [(64, 16, 16), (64, 8, 8), (64, 8, 8), (64, 8, 8), (64, 4, 4)]


def test_input_errors():
    d = ProjectedDiscriminator(ProjectedConfig(resolution=64))
    with pytest.raises(ValueError, match="needs cond"):
        d(strokes(1, 64, 0))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        d(torch.zeros(1, 2, 64, 64), photo(1, 64))
    with pytest.raises(ValueError, match="cond"):
        d(strokes(1, 64, 0), torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match="batch sizes"):
        d(strokes(2, 64, 0), photo(1, 64))
    with pytest.raises(ValueError, match="unconditional"):
        ProjectedDiscriminator(ProjectedConfig(resolution=64, conditional=False))(strokes(1, 64, 0), photo(1, 64))
    for bad in ({"resolution": 100}, {"stages": (3, 1)}, {"stages": (6,)}, {"stages": ()}, {"mix_channels": 0}):
        with pytest.raises(ValueError):
            ProjectedConfig(**bad)


def test_only_the_heads_train_and_gradients_reach_the_input():
    d = ProjectedDiscriminator(ProjectedConfig(resolution=64))
    frozen = [p.detach().clone() for p in d.frozen.net.parameters()]
    buffers = {k: v.clone() for k, v in d.named_buffers() if k.startswith(("ccm", "csm"))}
    heads = [p.detach().clone() for p in d.heads.parameters()]
    assert len(buffers) == 8 and all(p.requires_grad for p in d.parameters())
    assert sum(p.numel() for p in d.parameters()) == sum(p.numel() for p in d.heads.parameters())

    x = strokes(2, 64, 1).requires_grad_(True)
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    loss = sum(v.mean() for v in d(x, photo(2, 64)).values())
    loss.backward()
    opt.step()
    assert x.grad is not None and x.grad.abs().sum() > 0  # the generator's path
    assert all(p.grad is None and not p.requires_grad for p in d.frozen.net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(frozen, d.frozen.net.parameters()))
    assert all(torch.equal(v, dict(d.named_buffers())[k]) for k, v in buffers.items())
    assert all(not torch.equal(a, b) for a, b in zip(heads, d.heads.parameters()))


def test_backbone_stays_in_eval_mode_and_out_of_the_module_tree():
    d = ProjectedDiscriminator(ProjectedConfig(resolution=64))
    d.train()
    assert d.heads.training and not any(m.training for m in d.frozen.net.modules())
    assert not any(m is d.frozen.net for m in d.modules())
    assert not any(k.startswith("frozen") for k in d.state_dict())
    d.double()  # _apply moves the frozen network too
    assert all(p.dtype == torch.float64 for p in d.frozen.net.parameters())
    out = d(strokes(1, 64, 0).double(), photo(1, 64).double())
    assert all(v.dtype == torch.float64 for v in out.values())


def test_state_dict_round_trip_is_strict_and_exact():
    a = ProjectedDiscriminator(ProjectedConfig(resolution=64, seed=0))
    x, c = strokes(1, 64, 2), photo(1, 64)
    opt = torch.optim.SGD(a.parameters(), lr=0.1)  # move the heads (and the spectral-norm vectors) off their init
    for _ in range(2):
        opt.zero_grad()
        sum(v.mean() for v in a(x, c).values()).backward()
        opt.step()
    b = ProjectedDiscriminator(ProjectedConfig(resolution=64, seed=1))
    b.load_state_dict(a.state_dict(), strict=True)
    a.eval(), b.eval()
    with torch.no_grad():
        for va, vb in zip(a(x, c).values(), b(x, c).values()):
            assert torch.equal(va, vb)


def test_random_projections_follow_the_seed():
    def mixing(seed: int) -> dict[str, torch.Tensor]:
        return {k: v for k, v in ProjectedDiscriminator(ProjectedConfig(resolution=64, seed=seed)).named_buffers() if k.startswith(("ccm", "csm"))}

    same_a, same_b, other = mixing(3), mixing(3), mixing(4)
    assert all(torch.equal(same_a[k], same_b[k]) for k in same_a)
    assert all(not torch.equal(same_a[k], other[k]) for k in same_a)


def test_precomputed_features_give_the_same_logits():
    d = ProjectedDiscriminator(ProjectedConfig(resolution=128)).eval()
    x, c = strokes(2, 160, 3), photo(2, 160)
    with torch.no_grad():
        direct = d(x, c)
        cond = d.project(c)
        pre_cond = d(x, cond)
        pre_both = d(d.project(x).detach(), cond)
    assert isinstance(cond, ProjectedFeatures)
    for k in direct:
        assert torch.equal(direct[k], pre_cond[k]) and torch.equal(direct[k], pre_both[k])


def test_heads_learn_to_separate_blank_from_stroked_drawings():
    """Trains only the heads (hinge loss) for 30 steps: the D loss must fall far below chance (2 per head)."""
    torch.manual_seed(0)
    d = ProjectedDiscriminator(ProjectedConfig(resolution=64, conditional=False))
    opt = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.0, 0.99))
    blank = torch.ones(4, 1, 64, 64)
    losses = []
    for step in range(30):
        real, fake = d(strokes(4, 64, seed=step)), d(blank)
        loss = sum(gan_loss(v, True, "hinge") for v in real.values()) + sum(gan_loss(v, False, "hinge") for v in fake.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 6  # 4 heads at chance: about 4 * 2
    assert sum(losses[-5:]) / 5 < 0.15 * losses[0], losses
