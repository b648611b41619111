"""QMUPD networks: shapes and ranges, style input, parameter counts against SPEC B1.2, configs, persistence, draw()."""

from __future__ import annotations

import dataclasses
from decimal import ROUND_HALF_UP, Decimal

import pytest
import torch

from apdraw.models.layers import ResnetGenerator, count_parameters
from apdraw.models.qmupd import (
    FORMAT,
    LOCAL_REGIONS,
    QMUPD,
    DiscriminatorConfig,
    GeneratorConfig,
    LocalDiscriminators,
    StyleDiscriminator,
    StyleGenerator,
    build_networks,
    compact_config,
    full_config,
    local_input,
    photo_discriminator,
    photo_generator,
)
from apdraw.persistence import WeightsError, save_model

S = 64
TINY_G = GeneratorConfig(resolution=S, channels=(8, 16, 32), blocks=2)
TINY_D = DiscriminatorConfig(resolution=S, channels=(8, 16, 32, 32), class_channels=(32, 32), local_channels=(8, 16, 16, 16))
STYLES = {
    "one-hot": [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
    "mixed": [[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]],
    "negative": [[-1.0, 2.0, 0.0], [0.5, -0.5, 1.0]],
}


def photos(b: int = 2, size: int = S, seed: int = 0) -> torch.Tensor:
    """(b, 3, size, size) in [-1, 1]."""
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def net(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return module.eval()


# --------------------------------------------------------------------------- generators


@pytest.mark.parametrize("kind", sorted(STYLES))
def test_g_a_shape_and_range(kind: str) -> None:
    g = net(StyleGenerator(TINY_G))
    with torch.no_grad():
        y = g(photos(), torch.tensor(STYLES[kind]))
    assert y.shape == (2, 1, S, S)
    assert torch.isfinite(y).all() and y.min() >= -1 and y.max() <= 1


def test_g_a_style_changes_the_drawing() -> None:
    torch.manual_seed(0)
    g = StyleGenerator(TINY_G).eval()
    x = photos(1)
    with torch.no_grad():
        outs = [g(x, torch.tensor([s])) for s in ([1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.5, 0.5, 0], [-1.0, 2.0, 0])]
    for i in range(len(outs)):
        for j in range(i):
            assert (outs[i] - outs[j]).abs().mean() > 1e-4, (i, j)
    with torch.no_grad():  # the same style gives the same drawing
        assert torch.equal(outs[0], g(x, torch.tensor([[1.0, 0, 0]])))


def test_g_a_styles_are_per_sample() -> None:
    """Each sample is drawn with its own style (InstanceNorm: no mixing across the batch)."""
    g = net(StyleGenerator(TINY_G))
    x, s = photos(2), torch.tensor(STYLES["mixed"])
    with torch.no_grad():
        both = g(x, s)
        for i in range(2):
            torch.testing.assert_close(both[i : i + 1], g(x[i : i + 1], s[i : i + 1]), atol=1e-5, rtol=0)


def test_g_a_rejects_sizes_the_bottleneck_cannot_take() -> None:
    with pytest.raises(ValueError, match="divisible by 4"):
        StyleGenerator(TINY_G)(photos(1, 62), torch.zeros(1, 3))


def test_g_b_shape_and_range() -> None:
    g = net(photo_generator(TINY_G))
    assert isinstance(g, ResnetGenerator)
    with torch.no_grad():
        y = g(photos(2)[:, :1])
    assert y.shape == (2, 3, S, S) and y.min() >= -1 and y.max() <= 1


# --------------------------------------------------------------------------- discriminators


def test_d_a_patch_and_class_logits() -> None:
    d = net(StyleDiscriminator(TINY_D))
    with torch.no_grad():
        patch, classes = d(photos(2)[:, :1])
    assert patch.shape == (2, 1, S // 8 - 2, S // 8 - 2)
    assert classes.shape == (2, 3)
    with pytest.raises(ValueError, match="drawing"):
        d(photos(2, 2 * S)[:, :1])  # the class head takes exactly cfg.resolution


def test_d_a_paper_size_patch_map_is_62() -> None:
    d = StyleDiscriminator(full_config()[1], init=False)
    patch = d.patch(torch.zeros(1, 256, 64, 64))  # the trunk's output for a 512² drawing
    classes = d.classes(torch.zeros(1, 256, 64, 64))
    assert patch.shape == (1, 1, 62, 62) and classes.shape == (1, 3, 1, 1)


def test_d_b_and_local_discriminators() -> None:
    with torch.no_grad():
        assert net(photo_discriminator(TINY_D))(photos(2)).shape == (2, 1, S // 8 - 2, S // 8 - 2)
        local = net(LocalDiscriminators(TINY_D))
        masks = {r: (torch.rand(2, 1, S, S) > 0.5).float() for r in LOCAL_REGIONS}
        out = local(photos(2)[:, :1], masks)
    assert set(out) == set(LOCAL_REGIONS)
    assert all(v.shape == (2, 1, S // 8 - 2, S // 8 - 2) for v in out.values())
    with pytest.raises(ValueError, match="unknown region"):
        local(photos(2)[:, :1], {"hair": masks["nose"]})
    with pytest.raises(ValueError, match="mask nose"):
        local(photos(2)[:, :1], {"nose": masks["nose"][:, :, :32]})


def test_local_input_whitens_outside_the_region() -> None:
    drawing = -torch.ones(1, 1, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 1:3, 1:3] = 1
    x = local_input(drawing, mask)
    assert x.shape == (1, 2, 4, 4)
    assert torch.equal(x[:, 1:], mask)
    assert torch.equal(x[:, 0], torch.where(mask[:, 0] > 0, -1.0, 1.0))


# --------------------------------------------------------------------------- sizes

# SPEC B1.2 (also QMUPD's, B2.2): measured parameter counts in millions.
SPEC_M = {"g_a": 11.97, "g_b": 11.37, "d_a": 9.45, "d_b": 2.77, "nose": 2.76, "eyes": 2.76, "lips": 2.76}
# The exact counts of the architecture SPEC B1.2 describes (InstanceNorm without affine parameters).
PAPER = {"g_a": 11_968_897, "g_b": 11_371_907, "d_a": 9_448_388, "d_b": 2_764_737, "nose": 2_763_713, "eyes": 2_763_713, "lips": 2_763_713}


def counts(g: GeneratorConfig, d: DiscriminatorConfig) -> dict[str, int]:
    nets = build_networks(g, d, init=False)
    out = {k: count_parameters(getattr(nets, k)) for k in ("g_a", "g_b", "d_a", "d_b")}
    return out | {r: count_parameters(m) for r, m in nets.d_local.nets.items()}


def spec_millions(n: int) -> Decimal:
    """SPEC's rounding: to 3 decimals of a million, then to 2 (half up). It is the one rule that
    reproduces all its figures: D_B's 2,764,737 -> 2.765 -> 2.77, a local D's 2,763,713 -> 2.764 -> 2.76."""
    return Decimal(str(round(n / 1e6, 3))).quantize(Decimal("0.01"), ROUND_HALF_UP)


def test_paper_size_parameter_counts_match_spec() -> None:
    have = counts(*full_config())
    assert have == PAPER
    assert {k: spec_millions(v) for k, v in have.items()} == {k: Decimal(str(v)) for k, v in SPEC_M.items()}


def test_compact_config_is_smaller() -> None:
    have = counts(*compact_config())
    assert have == {"g_a": 2_112_961, "g_b": 1_961_923, "d_a": 1_242_340, "d_b": 694_241, "nose": 174_833, "eyes": 174_833, "lips": 174_833}
    assert all(have[k] < PAPER[k] / 2 for k in PAPER)
    assert compact_config()[0].resolution == 256


def test_resize_upsampling_keeps_the_parameter_count_and_has_no_checkerboard() -> None:
    """The resize-conv decoder (ours) has exactly the ConvTranspose one's parameters, and a constant
    bottleneck decodes to a constant image away from the border; a stride-2 ConvTranspose with
    random weights makes a period-2 pattern from the same input (the checkerboard)."""
    resize = dataclasses.replace(TINY_G, upsample="resize")
    for build in (StyleGenerator, photo_generator):
        assert count_parameters(build(resize)) == count_parameters(build(TINY_G))
    torch.manual_seed(0)
    checker = {}
    for kind in ("transpose", "resize"):
        g = StyleGenerator(dataclasses.replace(TINY_G, upsample=kind)).eval()
        up = g.decoder[0][:-2]  # the first 2x upsampling, before its norm and ReLU
        with torch.no_grad():
            y = up(torch.ones(1, TINY_G.channels[-1], 8, 8))[..., 2:-2, 2:-2]
        checker[kind] = float((y[..., ::2, ::2] - y[..., 1::2, 1::2]).abs().mean())
    assert checker["resize"] < 1e-6 < 1e-3 < checker["transpose"]


# --------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    "kwargs",
    [dict(resolution=66), dict(channels=()), dict(channels=(8, 0)), dict(blocks=-1), dict(style_dim=0), dict(dropout=1.0), dict(upsample="bilinear")],
)
def test_generator_config_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(TINY_G, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(resolution=48), dict(channels=(8, 16, 32)), dict(class_channels=(0, 8)), dict(style_dim=0)])
def test_discriminator_config_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(TINY_D, **kwargs)


def test_style_dims_must_agree() -> None:
    with pytest.raises(ValueError, match="style_dim"):
        build_networks(TINY_G, dataclasses.replace(TINY_D, style_dim=4))


# --------------------------------------------------------------------------- inference wrapper


def uint8_photos(b: int = 2, size: int = S, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (b, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def tiny_model(seed: int = 0) -> QMUPD:
    torch.manual_seed(seed)
    return QMUPD(TINY_G)


def test_draw_shapes_types_and_determinism() -> None:
    model = tiny_model()
    assert not model.training
    x = uint8_photos()
    a = model.draw(x, [1.0, 0.0, 0.0])
    assert a.shape == (2, S, S) and a.dtype == torch.uint8
    assert torch.equal(a, model.draw(x, torch.tensor([1.0, 0.0, 0.0])))
    assert torch.equal(a, model.draw(x.float(), torch.tensor([[1.0, 0.0, 0.0]] * 2)))  # float 0..255, (B, 3) style
    assert not torch.equal(a, model.draw(x, [0.0, 0.0, 1.0]))
    other = model.draw(uint8_photos(1, 48), [0.2, -0.3, 1.1])  # another size: resized to the model's and back
    assert other.shape == (1, 48, 48)


@pytest.mark.parametrize("style", [[1.0, 0.0], [[1.0, 0.0, 0.0, 0.0]] * 2, [[1.0, 0.0, 0.0]] * 3, [[1.0], [0.0], [0.0]], 1.0, [float("nan"), 0.0, 1.0]])
def test_draw_rejects_bad_styles(style) -> None:
    with pytest.raises(ValueError, match="style"):
        tiny_model().draw(uint8_photos(), style)


@pytest.mark.parametrize("shape", [(2, 3, S, 32), (2, 1, S, S), (3, S, S)])
def test_draw_rejects_bad_photos(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="photos"):
        tiny_model().draw(torch.zeros(shape, dtype=torch.uint8), [1.0, 0.0, 0.0])


def test_save_load_round_trip(tmp_path) -> None:
    model = tiny_model()
    x, style = uint8_photos(), torch.tensor(STYLES["mixed"])
    want = model.draw(x, style)

    loaded = QMUPD.from_pretrained(model.save(tmp_path / "q32.safetensors", half=False))
    assert loaded.cfg == model.cfg and not loaded.training
    assert torch.equal(loaded.draw(x, style), want)

    # fp16 file: the same drawings as the model whose weights are rounded to fp16
    half = QMUPD.from_pretrained(model.save(tmp_path / "q16.safetensors"))
    rounded = tiny_model()
    rounded.generator.load_state_dict({k: v.half().float() for k, v in model.generator.state_dict().items()})
    assert torch.equal(half.draw(x, style), rounded.draw(x, style))


def test_load_is_strict(tmp_path) -> None:
    model = tiny_model()
    with pytest.raises(WeightsError, match="not a apdraw.qmupd/1"):
        save_model(tmp_path / "other.safetensors", model.generator, "apdraw.apdrawinggan/1", model.cfg)
        QMUPD.from_pretrained(tmp_path / "other.safetensors")
    bigger = dataclasses.replace(TINY_G, blocks=3)  # the file claims 3 blocks but holds 2
    save_model(tmp_path / "lie.safetensors", model.generator, FORMAT, bigger)
    with pytest.raises(WeightsError, match="missing"):
        QMUPD.from_pretrained(tmp_path / "lie.safetensors")
    with pytest.raises(FileNotFoundError):
        QMUPD.from_pretrained(tmp_path / "absent.safetensors")
