"""Compute-efficient training: DiffAugment, the refinement head, and the APDrawingGAN task with every option on."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from apdraw.data.paired import PairAugmentConfig, PairedDrawingDataset
from apdraw.losses.diffaugment import DiffAugmentConfig, cutout, diff_augment, translation
from apdraw.losses.dt import DTLossConfig
from apdraw.models.apdrawinggan import APDrawingGAN, RefinedGenerator, RefineHead, build_generator, generator_base
from apdraw.models.projected import ProjectedConfig
from apdraw.train.loop import Context, LoopConfig, run_training
from apdraw.train.tasks import apdrawinggan as T

from test_apdrawinggan import TINY_D, TINY_G, synthetic_pair

FULL_AUG = DiffAugmentConfig("color,translation,cutout")


@pytest.fixture(autouse=True)
def _one_thread(_deterministic_threads):
    torch.set_num_threads(1)


# --------------------------------------------------------------------------- DiffAugment


def test_diffaugment_off_is_the_identity():
    x = torch.rand(2, 3, 16, 16)
    assert diff_augment(DiffAugmentConfig(), x)[0] is x
    with pytest.raises(ValueError, match="policy"):
        DiffAugmentConfig("colour")


def test_translation_shifts_by_whole_pixels_and_fills_with_zero():
    torch.manual_seed(3)
    x = torch.arange(1, 65, dtype=torch.float32).view(1, 1, 8, 8)
    y = translation(x, 0.25)  # |shift| <= 2
    # Find the shift: the output is the input moved by (dy, dx), zeros where nothing came in.
    matches = []
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            ref = torch.zeros_like(x)
            src = x[0, 0, max(dy, 0): 8 + min(dy, 0), max(dx, 0): 8 + min(dx, 0)]
            ref[0, 0, max(-dy, 0): 8 + min(-dy, 0), max(-dx, 0): 8 + min(-dx, 0)] = src
            matches.append(torch.equal(ref, y))
    assert sum(matches) == 1


def test_cutout_zeroes_one_square_of_the_configured_size():
    torch.manual_seed(0)
    x = torch.ones(64, 1, 32, 32)
    y = cutout(x, 0.5)
    zeros = (y == 0).flatten(1).sum(1)
    assert zeros.max() == 16 * 16 and zeros.min() > 0  # a full square inside, clipped ones at borders


def test_pairs_are_augmented_jointly_and_gradients_flow():
    torch.manual_seed(1)
    drawing = torch.rand(4, 1, 32, 32, requires_grad=True)
    photo = drawing.detach().expand(-1, 3, -1, -1).clone()
    cfg = DiffAugmentConfig("translation,cutout")
    photo_a, drawing_a = diff_augment(cfg, photo, drawing)
    assert torch.equal(photo_a[:, :1], drawing_a.detach())  # same shift and cutout for both
    assert not torch.equal(drawing_a.detach(), drawing.detach())
    drawing_a.sum().backward()
    assert drawing.grad is not None and drawing.grad.abs().sum() > 0
    # Colour: each image its own brightness/saturation/contrast; same seed, same result.
    torch.manual_seed(5)
    a = diff_augment(FULL_AUG, photo)[0]
    torch.manual_seed(5)
    b = diff_augment(FULL_AUG, photo)[0]
    assert torch.equal(a, b) and not torch.allclose(a.mean((1, 2, 3)), photo.mean((1, 2, 3)))


# --------------------------------------------------------------------------- refinement head


def test_untrained_refinement_head_is_a_bilinear_upsampler():
    head = RefineHead(8, 1)
    coarse = torch.rand(2, 1, 16, 16) * 1.6 - 0.8
    photo = torch.rand(2, 3, 32, 32) * 2 - 1
    out = head(coarse, photo)
    up = F.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False)
    assert out.shape == (2, 1, 32, 32)
    assert torch.allclose(out, up * 0.999, atol=1e-5)


def test_refined_model_draws_at_full_resolution_and_round_trips(tmp_path):
    cfg = dataclasses.replace(TINY_G, refine_channels=8, refine_blocks=1, norm="instance")
    assert cfg.output_resolution == 512
    g = build_generator(cfg)
    assert isinstance(g, RefinedGenerator)
    torch.nn.init.normal_(g.head.out.weight, 0, 0.05)  # a trained head is not the identity
    model = APDrawingGAN(cfg, generator=g)
    photos = torch.randint(0, 256, (1, 3, 512, 512), dtype=torch.uint8)
    boxes = torch.tensor([[[160, 200, 272, 280], [272, 200, 384, 280], [208, 232, 304, 328], [192, 336, 320, 416]]])
    fg = torch.ones(1, 1, 512, 512)
    out = model.draw(photos, boxes, fg)
    assert out.shape == (1, 512, 512) and out.dtype == torch.uint8
    model.save(tmp_path / "g.safetensors", half=False)
    again = APDrawingGAN.from_pretrained(tmp_path / "g.safetensors")
    assert again.cfg == cfg and again.hierarchical and isinstance(again.generator, RefinedGenerator)
    assert torch.equal(again.draw(photos, boxes, fg), out)


# --------------------------------------------------------------------------- the task with every option


@pytest.fixture(scope="module")
def pair_files_512(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("pairs512")
    files = []
    for i in range(4):
        synthetic_pair(i).save(folder / f"p{i}.npz")
        files.append(folder / f"p{i}.npz")
    return files


def everything_config(out: Path, steps: int) -> T.Config:
    return T.Config(
        stage="formal",
        generator=dataclasses.replace(TINY_G, refine_channels=4, refine_blocks=1),
        discriminator=TINY_D,
        projected=ProjectedConfig(resolution=64, mix_channels=8, head_channels=8),
        augment=FULL_AUG,
        lr=1e-3,
        decay_start=1.0,
        loss=T.LossConfig(dt=DTLossConfig(), projected_gan=1.0, feature_matching=1.0, perceptual=1.0, r1_gamma=1.0, r1_every=2),
        loop=LoopConfig(out_dir=str(out), steps=steps, batch_size=1, log_every=1, sample_every=steps, ckpt_every=2, ema_decay=0.9),
    )


def _task(cfg: T.Config, files: list[Path]) -> T.Task:
    return T.Task(cfg, PairedDrawingDataset(files, cfg.generator.output_resolution, PairAugmentConfig(), cfg.loss.dt))


def _weights(task: T.Task) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for name in ("G", "D", "P") for p in task.modules[name].parameters()])


def test_every_technique_trains_and_resumes_exactly(tmp_path, pair_files_512):
    cfg = everything_config(tmp_path / "a", 4)
    full = _task(cfg, pair_files_512)
    run_training(full, cfg.loop, cfg)
    rows = list(csv.DictReader((tmp_path / "a" / "log.csv").open()))
    assert {"loss_p", "gan_p", "fm", "perceptual", "r1", "dt_real2fake", "l1_local"} <= set(rows[0])
    assert all(np.isfinite(float(r["loss_g"])) for r in rows)
    assert rows[0]["r1"] != "" and rows[1]["r1"] == ""  # lazy: every r1_every steps
    grid = tmp_path / "a" / "samples" / "step_0000004.png"
    assert grid.exists()
    # Killed after step 3 (checkpoint at 2), resumed: the same weights as the unbroken run.
    cfg_b = everything_config(tmp_path / "b", 3)
    run_training(_task(cfg_b, pair_files_512), cfg_b.loop, cfg_b)
    torch.manual_seed(1234)
    cfg_b = everything_config(tmp_path / "b", 4)
    resumed = _task(cfg_b, pair_files_512)
    run_training(resumed, cfg_b.loop, cfg_b)
    assert torch.equal(_weights(full), _weights(resumed))
    # The export is a refined generator that draws at 512².
    T.export(tmp_path / "a" / "checkpoints" / "latest.pt", tmp_path / "g.safetensors")
    assert isinstance(APDrawingGAN.from_pretrained(tmp_path / "g.safetensors").generator, RefinedGenerator)


def test_perceptual_alone_and_config_checks(tmp_path, pair_files_512):
    cfg = everything_config(tmp_path, 1)
    cfg.loss = T.LossConfig(dt=DTLossConfig(), perceptual=1.0)
    cfg.augment = DiffAugmentConfig()
    task = _task(cfg, pair_files_512)
    run_training(task, cfg.loop, cfg)
    row = next(csv.DictReader((tmp_path / "log.csv").open()))
    assert float(row["perceptual"]) > 0 and "gan_p" not in row and "P" not in task.modules
    with pytest.raises(ValueError, match="projected_gan"):
        T.LossConfig(feature_matching=1.0)
    with pytest.raises(ValueError, match="r1_every"):
        T.LossConfig(r1_every=0)


def test_init_from_a_generator_without_head(tmp_path):
    plain = APDrawingGAN(dataclasses.replace(TINY_G, norm="instance"))
    plain.save(tmp_path / "old.safetensors", half=False)
    cfg = everything_config(tmp_path / "run", 1)
    cfg.generator = dataclasses.replace(cfg.generator, norm="instance")
    cfg.init = str(tmp_path / "old.safetensors")
    task = T.Task(cfg, dataset=[])
    task.build(Context(torch.device("cpu"), amp=False, channels_last=False))
    base = generator_base(task.modules["G"])
    for k, v in plain.generator.state_dict().items():
        assert torch.equal(base.state_dict()[k], v)
    # The fresh head upsamples what the old model drew.
    x = torch.rand(1, 3, 512, 512) * 2 - 1
    boxes = torch.tensor([[[160, 200, 272, 280], [272, 200, 384, 280], [208, 232, 304, 328], [192, 336, 320, 416]]])
    fg = torch.ones(1, 1, 512, 512)
    task.modules["G"].eval()
    with torch.no_grad():
        new = task.modules["G"](x, boxes, fg)
        old = plain.generator.eval()(*T.downsample_inputs(x, boxes, fg, 256)).drawing
    up = F.interpolate(old, size=(512, 512), mode="bilinear", align_corners=False)
    assert torch.allclose(new.drawing, up * 0.999, atol=1e-4)


# --------------------------------------------------------------------------- shipped configs


def test_fast_and_gpu_configs_load_and_describe_the_intended_networks():
    from apdraw.config import load_config
    from apdraw.models.apdrawinggan import full_config
    from apdraw.models.layers import count_parameters

    root = Path(__file__).resolve().parents[1] / "src" / "apdraw" / "configs"
    fast = load_config(T.Config, root / "apdrawinggan_fast.yaml", [])
    assert fast.generator.output_resolution == 512 and fast.generator.resolution == 256
    assert fast.augment.enabled and fast.loss.projected_gan > 0 and fast.loss.feature_matching > 0
    assert fast.loop.max_minutes > 0 and fast.loop.clock == "cpu" and fast.loop.ema_decay > 0
    gpu = load_config(T.Config, root / "apdrawinggan_gpu.yaml", [])
    paper_g, paper_d = full_config()
    assert dataclasses.replace(gpu.generator) == dataclasses.replace(paper_g, resolution=512)
    assert gpu.discriminator == paper_d and gpu.projected.resolution == 512
    assert gpu.loop.clock == "wall" and gpu.loop.max_minutes > 0 and gpu.loop.batch_size >= 8
    # The paper-size generator: 54.41 M global U-Net + locals + fusion (the test of the
    # original's counts is in test_apdrawinggan.py); the refinement head stays light.
    assert count_parameters(build_generator(gpu.generator, init=False)) > 60_000_000
    head = count_parameters(build_generator(fast.generator, init=False).head)
    assert head < 20_000


def test_an_init_that_does_not_fit_is_a_clear_setup_error(tmp_path):
    from apdraw.train.loop import TrainingSetupError

    refined = APDrawingGAN(dataclasses.replace(TINY_G, refine_channels=4, refine_blocks=1))
    refined.save(tmp_path / "refined.safetensors", half=False)
    cfg = everything_config(tmp_path / "run", 1)
    cfg.generator = TINY_G  # no head
    cfg.init = str(tmp_path / "refined.safetensors")
    with pytest.raises(TrainingSetupError, match="refinement head"):
        T.Task(cfg, dataset=[]).build(Context(torch.device("cpu"), amp=False, channels_last=False))
    other = APDrawingGAN(dataclasses.replace(TINY_G, global_channels=(8,) * 8))
    other.save(tmp_path / "other.safetensors", half=False)
    cfg.init = str(tmp_path / "other.safetensors")
    with pytest.raises(TrainingSetupError, match="does not fit"):
        T.Task(cfg, dataset=[]).build(Context(torch.device("cpu"), amp=False, channels_last=False))
