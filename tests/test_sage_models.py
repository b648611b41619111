"""SAGE networks: shapes of every part (compact size), paper parameter counts against SPEC C.2/C.3,
renderer geometry (opacity, depth, the stereo warp), gradients and eval-mode determinism."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from apdraw.models.layers import count_parameters
from apdraw.models.sage import (
    Cameras,
    FiLMSiren,
    MappingConfig,
    MappingNetwork,
    ProgressiveDecoder,
    ProgressiveDiscriminator,
    RendererConfig,
    SageConfig,
    SageGenerator,
    SpadeUNet,
    StereoAuxiliary,
    StereoConfig,
    VolumeRenderer,
    build_discriminators,
    compact_config,
    composite_weights,
    paper_config,
    sample_pdf,
    warp_to_primary,
)
from apdraw.models.sage.decoders import blur
from apdraw.models.sage.renderer import world_rays
from apdraw.models.sage.translator import SpadeConvBlock

CFG = compact_config()
HALF_PI = math.pi / 2


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def angles(*yaws: float, pitch: float = HALF_PI) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(yaws), torch.full((len(yaws),), pitch)


@pytest.fixture(scope="module")
def generator() -> SageGenerator:
    torch.manual_seed(0)
    return SageGenerator(CFG)


# --------------------------------------------------------------------------- parameter counts


def millions(n: int) -> float:
    return round(n / 1e6, 2)


def test_paper_parameter_counts_match_spec() -> None:
    """SPEC C.2: G 28.78 M = SIREN 1.91 M (mapping 1.38 M) + image decoder 23.81 M (UNet 20.76 M) + parsing decoder 3.06 M;
    C.3: D_rgb 12.88 M, D_parsing 12.91 M. Built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        cfg = paper_config()
        g = SageGenerator(cfg)
        ds = build_discriminators(cfg.discriminator)
    mapping, field = count_parameters(g.mapping), count_parameters(g.field)
    image, translator, semantic = count_parameters(g.image_decoder), count_parameters(g.translator), count_parameters(g.semantic_decoder)
    assert millions(mapping) == 1.38 and millions(mapping + field) == 1.91
    assert millions(translator) == 20.76 and millions(image + translator) == 23.81
    assert millions(semantic) == 3.06
    assert millions(count_parameters(g)) == 28.78
    assert millions(count_parameters(ds["image"])) == 12.88
    assert millions(count_parameters(ds["semantic"])) == 12.91
    # exact values (derived layer by layer in the modules' docstrings)
    assert (mapping, field, semantic, image, translator) == (1_381_632, 529_156, 3_060_748, 3_049_420, 20_757_089)
    assert [count_parameters(ds[k]) for k in ("image", "semantic", "drawing")] == [12_879_619, 12_906_499, 12_876_259]
    # with the original's 3-channel, no-Tanh translator head
    with torch.device("meta"):
        orig = SpadeUNet(dataclasses.replace(cfg.translator, out_channels=3, tanh=False))
    assert count_parameters(orig) == 20_757_155


def test_compact_config_is_small() -> None:
    with torch.device("meta"):
        g = SageGenerator(CFG)
        ds = build_discriminators(CFG.discriminator)
    assert count_parameters(g) < 2_000_000
    assert all(count_parameters(d) < 1_500_000 for d in ds.values())


def test_config_checks_the_parts_fit() -> None:
    with pytest.raises(ValueError, match="FiLM"):
        SageConfig(mapping=MappingConfig(film_layers=5))
    with pytest.raises(ValueError, match="input_resolution"):
        dataclasses.replace(CFG, renderer=RendererConfig(resolution=64))
    with pytest.raises(ValueError):
        RendererConfig(near=1.2, far=1.1)
    with pytest.raises(ValueError):
        StereoConfig(mix_max=2.0)


# --------------------------------------------------------------------------- mapping and field


def test_mapping_shapes_and_truncation() -> None:
    torch.manual_seed(0)
    m = MappingNetwork(CFG.mapping)
    lat = m(torch.randn(3, CFG.mapping.z_dim))
    assert lat.frequencies.shape == lat.phases.shape == (3, CFG.field.film_layers, CFG.field.hidden)
    assert lat.code.shape == (3, CFG.mapping.hidden)
    mean = m.mean_latent(256, generator=seeded())
    assert mean.code.shape == (1, CFG.mapping.hidden)
    assert torch.equal(lat.truncate(mean, 1.0).phases, lat.phases)
    assert torch.allclose(lat.truncate(mean, 0.0).frequencies, mean.frequencies.expand_as(lat.frequencies))
    with pytest.raises(ValueError, match="z"):
        m(torch.randn(3, CFG.mapping.z_dim + 1))


def test_field_shapes_ranges_and_init() -> None:
    torch.manual_seed(0)
    f = FiLMSiren(CFG.field)
    lat = MappingNetwork(CFG.mapping)(torch.randn(2, CFG.mapping.z_dim))
    pts = torch.rand(2, 50, 3) * 0.24 - 0.12
    dirs = F.normalize(torch.randn(2, 50, 3), dim=-1)
    feat, rgb, sigma = f(pts, dirs, lat)
    assert feat.shape == (2, 50, CFG.field.hidden) and rgb.shape == (2, 50, 3) and sigma.shape == (2, 50, 1)
    assert feat.abs().max() <= 1 and rgb.min() >= 0 and rgb.max() <= 1
    assert f.trunk[0].linear.weight.abs().max() <= 1 / 3  # U(+-1/n), n = 3
    h = CFG.field.hidden
    assert f.trunk[1].linear.weight.abs().max() <= math.sqrt(6 / h) / 25
    assert f.color.linear.in_features == 3 + h  # concat(ray direction, trunk)


# --------------------------------------------------------------------------- renderer


def test_cameras_look_at_the_origin() -> None:
    cams = Cameras.from_angles(*angles(HALF_PI, HALF_PI + 0.3))
    assert torch.allclose(cams.origin[0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)
    rays = world_rays(cams, 5, RendererConfig().focal)  # the centre pixel's ray points at the origin
    assert torch.allclose(rays[:, 12], -cams.origin, atol=1e-6)
    assert torch.allclose(cams.rotation.transpose(1, 2) @ cams.rotation, torch.eye(3).expand(2, 3, 3), atol=1e-6)
    assert rays[0, 4, 0] > 0 and rays[0, 4, 1] > 0  # row 0, last column: top right = +x, +y seen from +z


def test_constant_density_composites_to_the_expected_opacity() -> None:
    cfg = RendererConfig()
    t = torch.linspace(cfg.near, cfg.far, cfg.samples).expand(3, cfg.samples)
    for s in (0.5, 5.0, 50.0):
        w = composite_weights(torch.full_like(t, s), t)
        expected = 1 - math.exp(-s * (cfg.far - cfg.near))  # opacity of [near, far]; the last sample takes the rest
        assert torch.allclose(w[:, :-1].sum(-1), torch.full((3,), expected), atol=1e-5)
        assert torch.allclose(w.sum(-1), torch.ones(3), atol=1e-5)
    empty = composite_weights(torch.zeros_like(t), t)
    assert empty.abs().max() == 0
    back = composite_weights(torch.zeros_like(t), t, last_back=True)  # evaluation mode: the rest goes to the last sample
    assert torch.allclose(back[:, -1], torch.ones(3)) and torch.allclose((back * t).sum(-1), torch.full((3,), cfg.far))
    neg = composite_weights(torch.full_like(t, -3.0), t)  # ReLU on the density
    assert neg.abs().max() == 0


def sphere_field(radius: float = 0.08, density: float = 1000.0, channels: int = 4):
    """An opaque ball at the origin with a smooth view-independent colour; features = [rgb, |p|]."""

    def field(p: torch.Tensor, d: torch.Tensor):
        r = p.norm(dim=-1, keepdim=True)
        sigma = density * torch.sigmoid((radius - r) * 2000.0)
        rgb = 0.5 + 0.5 * torch.sin(torch.stack([25 * p[..., 0], 25 * p[..., 1] + 1.0, 25 * (p[..., 0] + p[..., 1]) + 2.0], -1))
        feat = torch.cat([rgb, r], -1)[..., :channels]
        return feat, rgb, sigma - 1.0

    return field


def sphere_depth(cams: Cameras, resolution: int, focal: float, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The true first hit of each pixel's ray with the ball: depth (B, 1, R, R), hit mask (B, 1, R, R)."""
    d = world_rays(cams, resolution, focal)
    o = cams.origin[:, None]
    b = (d * o).sum(-1)
    disc = b**2 - ((o * o).sum(-1) - radius**2)
    t = -b - disc.clamp(min=0).sqrt()
    shape = (cams.batch, 1, resolution, resolution)
    return t.reshape(shape), (disc > 0).reshape(shape)


def eroded(mask: torch.Tensor, k: int = 5) -> torch.Tensor:
    return -F.max_pool2d(-mask.float(), k, 1, k // 2) > 0.5


@pytest.mark.parametrize("samples, fine, tol", [(64, 0, 0.003), (16, 16, 0.006), (16, 0, 0.016)])
def test_depth_of_a_ball(samples: int, fine: int, tol: float) -> None:
    """The rendered depth of an opaque ball is its true depth within about a sample spacing (0.016 for 16 samples)."""
    cfg = RendererConfig(resolution=32, samples=samples, fine_samples=fine, jitter_at_eval=False)
    renderer = VolumeRenderer(cfg).eval()
    cams = Cameras.from_angles(*angles(HALF_PI, HALF_PI + 0.2, pitch=HALF_PI - 0.1))
    out = renderer(sphere_field(), cams)
    assert out.features.shape == (2, 4, 32, 32) and out.rgb.shape == (2, 3, 32, 32) and out.depth.shape == (2, 1, 32, 32)
    true, hit = sphere_depth(cams, 32, cfg.focal, 0.08)
    inside = eroded(hit, 3)
    assert inside.sum() > 200
    assert (out.depth - true)[inside].abs().max() < tol
    assert out.opacity[inside].min() > 0.999
    empty = F.max_pool2d(hit.float(), 3, 1, 1) == 0  # rays clear of the ball's soft edge
    assert torch.allclose(out.depth[empty], torch.full_like(out.depth[empty], cfg.far))  # eval: empty rays end at far


def test_importance_samples_follow_the_weights() -> None:
    t = torch.linspace(0.0, 1.0, 11).expand(2, 11)
    w = torch.zeros(2, 11)
    w[:, 7] = 1.0
    s = sample_pdf(t, w, 32, stratified=True, generator=seeded())
    assert s.shape == (2, 32)
    assert ((s >= 0.65) & (s <= 0.75)).float().mean() > 0.95


def test_renderer_is_differentiable_in_field_and_cameras() -> None:
    renderer = VolumeRenderer(RendererConfig(resolution=8, samples=8, fine_samples=4)).train()
    yaw, pitch = torch.tensor([HALF_PI + 0.1], requires_grad=True), torch.tensor([HALF_PI], requires_grad=True)
    scale = torch.tensor(1.0, requires_grad=True)
    field = sphere_field(radius=0.1, density=30.0)
    out = renderer(lambda p, d: tuple(x * scale for x in field(p, d)), Cameras.from_angles(yaw, pitch), noise_std=0.5, generator=seeded())
    (out.rgb.sum() + out.depth.sum() + out.features.sum()).backward()
    assert scale.grad is not None and yaw.grad is not None and pitch.grad is not None
    assert all(torch.isfinite(g).all() for g in (scale.grad, yaw.grad, pitch.grad))


# --------------------------------------------------------------------------- stereo auxiliary view


def test_warp_with_the_true_depth_reproduces_the_primary_view() -> None:
    cfg = RendererConfig(resolution=48, samples=48, fine_samples=16, jitter_at_eval=False)
    renderer = VolumeRenderer(cfg).eval()
    field = sphere_field(radius=0.08)
    primary = Cameras.from_angles(*angles(HALF_PI, HALF_PI - 0.1))
    aux = Cameras.from_angles(*angles(HALF_PI + 0.12, HALF_PI - 0.02, pitch=HALF_PI + 0.05))
    p, a = renderer(field, primary), renderer(field, aux)
    true, hit = sphere_depth(primary, cfg.resolution, cfg.focal, 0.08)
    inside = eroded(hit, 7).expand(-1, 3, -1, -1)
    assert inside[:, 0].sum() > 500
    warped = warp_to_primary(a.rgb, true, primary, aux, cfg.focal)
    assert warped.shape == p.rgb.shape
    err = (warped - p.rgb)[inside].abs().mean()
    unwarped = (a.rgb - p.rgb)[inside].abs().mean()
    assert err < 0.01 and unwarped > 0.05
    # the rendered depth does about as well as the true one; a wrong depth does not
    assert (warp_to_primary(a.rgb, p.depth, primary, aux, cfg.focal) - p.rgb)[inside].abs().mean() < 0.01
    assert (warp_to_primary(a.rgb, true + 0.03, primary, aux, cfg.focal) - p.rgb)[inside].abs().mean() > 0.03
    # the same camera: the identity
    same = warp_to_primary(p.rgb, true, primary, primary, cfg.focal)
    assert torch.allclose(same[inside], p.rgb[inside], atol=1e-4)


def test_feature_mixup_ratio() -> None:
    stereo = StereoAuxiliary(StereoConfig(mix_max=0.1))
    mixed = stereo.mix(torch.zeros(64, 2, 3, 3), torch.ones(64, 2, 3, 3), seeded())
    r = mixed[:, 0, 0, 0]
    assert (mixed == r[:, None, None, None]).all()  # one ratio per sample
    assert r.min() >= 0 and r.max() <= 0.1 and r.std() > 0.01


# --------------------------------------------------------------------------- decoders, translator, discriminators


@pytest.mark.parametrize("classes", [3, 19])
def test_decoder_sizes_and_fade(classes: int) -> None:
    torch.manual_seed(0)
    dec = ProgressiveDecoder(dataclasses.replace(CFG.image, out_channels=classes)).eval()
    x, code = torch.randn(2, 64, 32, 32), torch.randn(2, 64)
    for size in (32, 64, 128):
        assert dec(x, code, size).shape == (2, classes, size, size)
    assert dec(x, code).shape[-1] == 128
    with torch.no_grad():  # alpha = 0: only the blurred, upsampled previous scale
        faded = dec(x, code, 64, alpha=0.0)
        prev = dec.heads[0](dec.base(dec.in_norm(F.leaky_relu(x, 0.2), code), code))
        assert torch.allclose(faded, blur(F.interpolate(prev, scale_factor=2, mode="bilinear")), atol=1e-5)
        assert not torch.allclose(dec(x, code, 64, alpha=0.5), dec(x, code, 64), atol=1e-4)
    with pytest.raises(ValueError, match="output_size"):
        dec(x, code, 256)
    with pytest.raises(ValueError, match="features"):
        dec(torch.randn(2, 64, 16, 16), code)


def test_translator_shapes_range_and_semantic_input() -> None:
    torch.manual_seed(0)
    g = SpadeUNet(CFG.translator).eval()
    kinds = [isinstance(b, SpadeConvBlock) for b in g.blocks]
    assert kinds == [True, True, False, False]  # SPADE only at the two smallest scales
    photo = torch.rand(2, 3, 64, 64) * 2 - 1
    seg = torch.randn(2, 19, 128, 128)
    with torch.no_grad():
        y = g(photo, seg)
        y2 = g(photo, seg.flip(-1))
    assert y.shape == (2, 1, 64, 64) and y.min() >= -1 and y.max() <= 1
    assert (y - y2).abs().max() > 1e-4
    with pytest.raises(ValueError, match="divisible"):
        g(torch.rand(1, 3, 40, 40), seg[:1])


def test_discriminators_shapes_and_fade() -> None:
    torch.manual_seed(0)
    ds = build_discriminators(CFG.discriminator)
    for name, ch in (("image", 3), ("semantic", 19), ("drawing", 1)):
        d = ds[name].eval()
        for size in (32, 64, 128):
            logit, pose = d(torch.randn(2, ch, size, size), alpha=0.5)
            assert logit.shape == (2, 1) and pose.shape == (2, 2)
    d: ProgressiveDiscriminator = ds["drawing"]
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(d(x, alpha=0.2)[0], d(x)[0])
    with pytest.raises(ValueError, match="side"):
        d(torch.randn(1, 1, 48, 48))
    with pytest.raises(ValueError, match="input"):
        d(torch.randn(1, 3, 64, 64))


# --------------------------------------------------------------------------- the generator


def test_generator_training_pass_shapes_and_gradients(generator: SageGenerator) -> None:
    g = generator.train()
    g.zero_grad()
    out = g(torch.randn(2, CFG.mapping.z_dim), output_size=128, alpha=0.5, nerf_noise=0.5, generator=seeded())
    assert out.drawing.shape == (2, 1, 128, 128) and out.drawing.abs().max() <= 1
    assert out.image.shape == (2, 3, 128, 128) and out.semantic.shape == (2, 19, 128, 128)
    assert out.nerf_rgb.shape == out.warped_rgb.shape == (2, 3, 32, 32)
    assert out.depth.shape == (2, 1, 32, 32) and out.features.shape == (2, 64, 32, 32)
    assert out.cameras.yaw.shape == (2,) and out.aux_cameras is not None
    out.drawing.mean().backward()
    for name in ("mapping.trunk.0.weight", "mapping.head.weight", "field.trunk.0.linear.weight", "image_decoder.heads.2.weight"):
        grad = dict(g.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in g.semantic_decoder.parameters())  # detached into G_p
    g.zero_grad()


def test_generator_eval_pass_is_deterministic(generator: SageGenerator) -> None:
    g = generator.eval()
    z = torch.randn(2, CFG.mapping.z_dim, generator=seeded(1))
    yaw, pitch = angles(HALF_PI - 0.3, HALF_PI + 0.3)
    with torch.no_grad():
        a = g(z, yaw, pitch, output_size=64, generator=seeded(5))
        b = g(z, yaw, pitch, output_size=64, generator=seeded(5))
        assert a.warped_rgb is None  # no auxiliary view in eval mode
        assert torch.equal(a.drawing, b.drawing) and torch.equal(a.depth, b.depth)
        assert a.drawing.shape == (2, 1, 64, 64)
        steady = SageGenerator(dataclasses.replace(CFG, renderer=dataclasses.replace(CFG.renderer, jitter_at_eval=False)))
        steady.load_state_dict(g.state_dict())
        steady.eval()
        c, d = steady(z, yaw, pitch, translate=False), steady(z, yaw, pitch, translate=False)
        assert c.drawing is None and torch.equal(c.image, d.image) and torch.equal(c.semantic, d.semantic)
        lat = g.mapping(z)
        mixed = g(lat.with_code(g.mapping(z.flip(0))), yaw, pitch, output_size=64, generator=seeded(5))
        assert torch.equal(mixed.nerf_rgb, a.nerf_rgb) and not torch.equal(mixed.image, a.image)


def test_image_decoder_head_draws_the_gray_image_and_is_stored_with_the_weights(tmp_path, generator: SageGenerator) -> None:
    """drawing_head="image_decoder" (the no-translator ablation): the drawing is the mean of the image decoder's RGB,
    clamped to [-1, 1]; G_p is not run (no gradient reaches it); the setting survives save_generator/load_generator."""
    from apdraw.models.sage import load_generator, save_generator

    cfg = dataclasses.replace(CFG, drawing_head="image_decoder")
    g = SageGenerator(cfg)
    g.load_state_dict(generator.state_dict())
    g.train().zero_grad()
    z = torch.randn(2, CFG.mapping.z_dim, generator=seeded(2))
    yaw, pitch = angles(HALF_PI - 0.2, HALF_PI + 0.2)
    out = g(z, yaw, pitch, output_size=64, stereo=False, generator=seeded(3))
    assert out.drawing.shape == (2, 1, 64, 64)
    assert torch.equal(out.drawing, out.image.mean(1, keepdim=True).clamp(-1, 1))
    out.drawing.mean().backward()
    assert all(p.grad is None for p in g.translator.parameters())
    assert dict(g.named_parameters())["image_decoder.heads.1.weight"].grad.abs().sum() > 0
    with torch.no_grad():  # the same weights with G_p drawing give another drawing
        other = generator.eval()(z, yaw, pitch, output_size=64, stereo=False, generator=seeded(3))
    assert torch.equal(other.image, g.eval()(z, yaw, pitch, output_size=64, stereo=False, generator=seeded(3)).image)
    assert not torch.equal(other.drawing, out.drawing)
    path = save_generator(tmp_path / "g.safetensors", g, half=False)
    assert load_generator(path).cfg.drawing_head == "image_decoder"
    assert load_generator(save_generator(tmp_path / "t.safetensors", generator, half=False)).cfg.drawing_head == "translator"
    # the drawing discriminator takes the gray image's one channel whatever G_p's head is
    rgb_head = dataclasses.replace(CFG.translator, out_channels=3, tanh=False)
    SageConfig(**{**vars(cfg), "translator": rgb_head})
    with pytest.raises(ValueError, match="input channels"):
        SageConfig(**{**vars(CFG), "translator": rgb_head})
    with pytest.raises(ValueError, match="drawing_head"):
        dataclasses.replace(CFG, drawing_head="pencil")


def test_shipped_generators_share_everything_but_the_translator():
    """The two shipped styles: fp16, ≤ 40 MB together, a model card, trained (step > 0), and identical except G_p,
    so a seed and a view give the same face in both styles."""
    from safetensors import safe_open

    from apdraw.models.sage.generator import DEFAULT_STYLE, STYLE_WEIGHTS

    assert DEFAULT_STYLE == "apdrawinggan" and set(STYLE_WEIGHTS) == {"apdrawinggan", "npr"}
    paths = list(STYLE_WEIGHTS.values())
    for p in paths:
        assert p.is_file(), f"shipped weights missing: {p}"
    assert sum(p.stat().st_size for p in paths) <= 40 * 2**20
    assert (paths[0].parent / "SAGE_MODEL_CARD.md").is_file()
    tensors = []
    for p in paths:
        with safe_open(str(p), "pt") as f:
            assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
            assert int(f.metadata()["train_step"]) > 0
            tensors.append({k: f.get_tensor(k) for k in f.keys()})
    a, b = tensors
    differ = {k for k in a if not torch.equal(a[k], b[k])}
    assert a.keys() == b.keys() and differ and all(k.startswith("translator.") for k in differ)


def test_shipped_code_encoder_fits_both_shipped_styles():
    """The shipped code encoder (ours): fp16, and fitted to the shipped generators' mapping head, so
    MultiViewGenerator.from_pretrained() starts views' fits from it in either style."""
    from safetensors import safe_open

    from apdraw.models.sage import load_generator
    from apdraw.models.sage.encoder import DEFAULT_ENCODER, load_code_encoder, mapping_fingerprint

    with safe_open(str(DEFAULT_ENCODER), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
    enc = load_code_encoder()
    for style in ("apdrawinggan", "npr"):
        assert enc.mapping_fingerprint == mapping_fingerprint(load_generator(style=style))
