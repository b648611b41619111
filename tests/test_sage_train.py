"""SAGE training (`apdraw train sage`): the four stages on tiny networks and a synthetic data set
(no shared data), the reconstruction loss falling, exact resume, stage chaining via init, export,
the drawings in the data set and the drawings script, and the shipped configs."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import script_module, tiny_sage_config

from apdraw.config import load_config
from apdraw.models.sage import paper_config
from apdraw.train.loop import LoopConfig, TrainingSetupError, run_training
from apdraw.train.tasks import sage as T

REPO = Path(__file__).resolve().parents[1]
S = 32  # data side = the tiny curriculum's largest output

TINY = tiny_sage_config()
NO_TRANSLATOR = dataclasses.replace(TINY, drawing_head="image_decoder")  # the "no translator" ablation arm
GROW = (T.Phase(0, 16, 1e-3, 1e-3, 15.0), T.Phase(2, 32, 1e-3, 1e-3, 15.0))  # 16² then 32², fade-in over 2 steps


@pytest.fixture(autouse=True)
def _one_thread(_deterministic_threads):
    torch.set_num_threads(1)


class SyntheticFaces(torch.utils.data.Dataset):
    """Smooth random photos, blob label maps, poses near frontal and drawings: SageDataset's item layout."""

    def __init__(self, n: int, seed: int = 0, drawings: bool = True):
        g = torch.Generator().manual_seed(seed)
        self.photo = F.interpolate(torch.rand(n, 3, 4, 4, generator=g) * 2 - 1, size=(S, S), mode="bilinear", align_corners=False)
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, S), torch.linspace(-1, 1, S), indexing="ij")
        r = (xx**2 + yy**2).sqrt()
        self.labels = torch.stack([torch.where(r < 0.5 + 0.1 * i, 1, 0) + 12 * (yy > 0.6 + 0.05 * i) * (r < 0.9) for i in range(n)]).long()
        self.yaw = math.pi / 2 + 0.2 * (torch.rand(n, generator=g) - 0.5)
        self.pitch = math.pi / 2 + 0.1 * (torch.rand(n, generator=g) - 0.5)
        self.drawing = torch.where(r < 0.6, -1.0, 1.0)[None].expand(n, 1, S, S).clone() if drawings else None
        self.num_codes = n

    def __len__(self) -> int:
        return len(self.photo)

    def __getitem__(self, key):
        i = key.index if hasattr(key, "index") else int(key)
        item = {"photo": self.photo[i], "labels": self.labels[i], "yaw": self.yaw[i], "pitch": self.pitch[i],
                "index": torch.tensor(i, dtype=torch.int64)}  # fmt: skip
        if self.drawing is not None:
            item["drawing"] = self.drawing[i]
        return item


def tiny_config(out: Path, stage: str, steps: int, **kw) -> T.Config:
    loop = dict(out_dir=str(out), steps=steps, batch_size=2, log_every=1, sample_every=steps, ckpt_every=2,
                validate_every=steps, ema_decay=0.9, tensorboard=False)  # fmt: skip
    loop.update(kw.pop("loop", {}))
    base = dict(stage=stage, model=TINY, curriculum=GROW, fade_steps=2, nerf_noise_steps=4, val_items=1, val_fit_steps=2,
                val_samples=2, sample_rows=2, recon_lr=2e-3, code_lr=1e-2)  # fmt: skip
    base.update(kw)
    return T.Config(loop=LoopConfig(**loop), **base)


def rows(out: Path, name: str = "log.csv") -> list[dict[str, str]]:
    return list(csv.DictReader((out / name).open()))


def finite_losses(row: dict[str, str], keys: set[str]) -> None:
    assert keys <= set(row), f"missing {keys - set(row)}"
    assert all(math.isfinite(float(row[k])) for k in keys)


def weights(task: T.Task) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for m in task.modules.values() for p in m.parameters()]
                     + [p.detach().flatten() for e in task.ema.values() for p in e.module.parameters()])  # fmt: skip


# --------------------------------------------------------------------------- the stages


def test_reconstruct_loss_falls_on_two_items(tmp_path):
    cfg = tiny_config(tmp_path / "r", "reconstruct", 30, curriculum=(T.Phase(0, 16),), nerf_noise_steps=0,
                      loop=dict(validate_every=0, ema_decay=0.0))  # fmt: skip
    run_training(T.Task(cfg, SyntheticFaces(2)), cfg.loop, cfg)
    loss = [float(r["loss"]) for r in rows(tmp_path / "r")]
    assert np.mean(loss[-3:]) < 0.6 * np.mean(loss[:3]), loss
    sem = [float(r["semantic_ce"]) for r in rows(tmp_path / "r")]
    assert np.mean(sem[-3:]) < 0.5 * np.mean(sem[:3])


class PhotoFolder:
    """What photo_feature_codes reads of a SageDataset: len, num_codes, cfg.crop_fraction and load(i)."""

    def __init__(self, images: list[np.ndarray], flip: bool = True):
        self.images, self.cfg = images, SimpleNamespace(crop_fraction=8 / 9)
        self.num_codes = 2 * len(images) if flip else len(images)

    def __len__(self) -> int:
        return len(self.images)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.images[i], np.zeros(self.images[i].shape[:2], np.uint8)


def test_feature_codes_follow_what_the_photos_look_like(imagenet_mobilenet_v2):
    rng = np.random.default_rng(0)

    def photo(rgb, noise: float) -> np.ndarray:
        base = np.zeros((72, 72, 3)) + np.array(rgb, float)
        base[20:52, 24:48] = 255 - base[20:52, 24:48]  # a block in the inverse colour, off centre (not symmetric)
        return np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8)

    red, reddish, blue = photo((200, 40, 30), 2), photo((205, 45, 35), 2), photo((30, 60, 210), 2)
    images = [red, reddish, blue, red.copy()] + [photo(rng.integers(0, 255, 3), 20) for _ in range(8)]
    reference = torch.randn(500, 4) * torch.tensor([0.5, 1.0, 2.0, 0.1]) + torch.tensor([1.0, -1.0, 0.0, 3.0])
    codes = T.photo_feature_codes(PhotoFolder(images), reference, batch_size=5, progress=False)
    n = len(images)
    assert codes.shape == (2 * n, 4) and codes.dtype == torch.float32
    # scaled to the reference codes, dimension by dimension
    torch.testing.assert_close(codes.mean(0), reference.mean(0), atol=1e-4, rtol=0)
    torch.testing.assert_close(codes.std(0), reference.std(0), atol=1e-4, rtol=1e-4)
    # a function of the photo: equal photos get equal codes; alike ones closer than unlike ones
    torch.testing.assert_close(codes[0], codes[3])
    assert (codes[0] - codes[1]).norm() < 0.5 * (codes[0] - codes[2]).norm()
    # codes n.. are the mirrored photos: not the same as the photo's own code (the block is off centre)
    assert not torch.allclose(codes[0], codes[n], atol=1e-3)
    # without flips, one code per photo; too few codes for the PCA is an error
    assert T.photo_feature_codes(PhotoFolder(images, flip=False), reference, progress=False).shape == (n, 4)
    with pytest.raises(ValueError, match="more codes"):
        T.photo_feature_codes(PhotoFolder(images[:2]), reference, progress=False)


def test_reconstruct_perceptual_term(tmp_path, imagenet_mobilenet_v2):
    """perceptual_weight > 0 adds the MobileNetV2 distance to the warm start's loss (logged; it changes the
    weights G learns); 0 leaves it out."""
    def train(name: str, weight: float) -> tuple[T.Task, list[dict[str, str]]]:
        cfg = tiny_config(tmp_path / name, "reconstruct", 3, curriculum=(T.Phase(0, 32),), perceptual_weight=weight,
                          loop=dict(validate_every=0, ema_decay=0.0))  # fmt: skip
        task = T.Task(cfg, SyntheticFaces(2))
        run_training(task, cfg.loop, cfg)
        return task, rows(tmp_path / name)

    with_p, log_p = train("p", 1.0)
    without, log_0 = train("none", 0.0)
    finite_losses(log_p[-1], {"perceptual", "photo", "loss"})
    assert "perceptual" not in log_0[-1]
    assert float(log_p[0]["loss"]) > float(log_0[0]["loss"])  # same first batch and weights, one more term
    assert not torch.equal(weights(with_p), weights(without))
    with pytest.raises(ValueError, match="perceptual_weight"):
        T.Config(model=TINY, curriculum=GROW, perceptual_weight=-1.0)


def test_stages_chain_through_init_log_finite_losses_and_export(tmp_path):
    data = SyntheticFaces(4)
    val = SyntheticFaces(1, seed=9)
    # reconstruct (with the stereo view on, and the 16² -> 32² growth)
    rec = tiny_config(tmp_path / "rec", "reconstruct", 3, reconstruct_stereo=True)
    run_training(T.Task(rec, data, val), rec.loop, rec)
    finite_losses(rows(tmp_path / "rec")[-1], {"photo", "nerf", "semantic_ce", "reproj", "loss"})
    v = rows(tmp_path / "rec", "val.csv")[-1]
    finite_losses(v, {"train_psnr", "train_l1", "train_sem_acc", "val_psnr", "val_l1", "val_sem_acc"})
    assert (tmp_path / "rec" / "samples" / "step_0000003.png").exists()
    rec_ckpt = str(tmp_path / "rec" / "checkpoints" / "latest.pt")
    # map: only the mapping trunk moves; the codes are the reconstruct run's
    mp = tiny_config(tmp_path / "map", "map", 3, init=rec_ckpt, map_projections=8)
    task = T.Task(mp, data)
    assert isinstance(task.dataset, T.CodeIndices) and len(task.dataset) == 4
    run_training(task, mp.loop, mp)
    finite_losses(rows(tmp_path / "map")[-1], {"swd", "mean_gap", "std_ratio"})
    finite_losses(rows(tmp_path / "map", "val.csv")[-1], {"swd", "mean_gap", "std_ratio"})
    from apdraw.persistence import read_checkpoint

    before, after = read_checkpoint(rec_ckpt)["modules"], read_checkpoint(tmp_path / "map" / "checkpoints" / "latest.pt")["modules"]
    assert torch.equal(before["codes"]["weight"], after["codes"]["weight"])
    assert torch.equal(before["G"]["field.sigma.weight"], after["G"]["field.sigma.weight"])
    assert not torch.equal(before["G"]["mapping.trunk.0.weight"], after["G"]["mapping.trunk.0.weight"])
    # adversarial (Stage I), with the CPU additions on
    adv = tiny_config(tmp_path / "adv", "adversarial", 3, init=str(tmp_path / "map" / "checkpoints" / "latest.pt"),
                      pose_source="data", reuse_fakes=True, augment=T.DiffAugmentConfig(policy="translation,cutout"))  # fmt: skip
    run_training(T.Task(adv, data), adv.loop, adv)
    r = rows(tmp_path / "adv")
    finite_losses(r[-1], {"d_image", "d_semantic", "r1_image", "r1_semantic", "d_pos_image", "g_image", "g_semantic",
                          "g_pos_image", "g_pos_semantic", "reproj", "loss_g"})  # fmt: skip
    assert [float(x["size"]) for x in r] == [16, 16, 32] and float(r[-1]["alpha"]) == 0.0
    finite_losses(rows(tmp_path / "adv", "val.csv")[-1], {"class_hist_l1"})
    # translate (Stage II): the feature projector stays fixed; D_s comes from Stage I
    tr = tiny_config(tmp_path / "tr", "translate", 3, init=str(tmp_path / "adv" / "checkpoints" / "latest.pt"))
    task = T.Task(tr, data)
    run_training(task, tr.loop, tr)
    finite_losses(rows(tmp_path / "tr")[-1], {"d_drawing", "d_semantic", "g_drawing", "g_semantic", "loss_g"})
    finite_losses(rows(tmp_path / "tr", "val.csv")[-1], {"class_hist_l1", "ink_gap"})
    a_ckpt = read_checkpoint(tmp_path / "adv" / "checkpoints" / "latest.pt")
    a_ema = a_ckpt["ema"]["G"]  # Stage II starts from Stage I's EMA of G (the generator Stage I exports)
    t_state = read_checkpoint(tmp_path / "tr" / "checkpoints" / "latest.pt")["modules"]
    assert set(t_state) == {"G", "D_drawing", "D_semantic"}
    for k in ("mapping.head.weight", "field.trunk.0.linear.weight"):
        assert torch.equal(a_ema[k], t_state["G"][k]) and not torch.equal(a_ckpt["modules"]["G"][k], a_ema[k])
    assert not torch.equal(a_ema["translator.head.weight"], t_state["G"]["translator.head.weight"])
    # export: the whole generator, fp16, loads and draws deterministically
    out = T.export(tmp_path / "tr" / "checkpoints" / "latest.pt", tmp_path / "sage.safetensors")
    g = T.load_generator(out)
    assert g.cfg == TINY and not g.training
    z = torch.randn(1, TINY.mapping.z_dim)
    yaw = pitch = torch.full((1,), math.pi / 2)
    a = g(z, yaw, pitch, generator=torch.Generator().manual_seed(0))
    b = g(z, yaw, pitch, generator=torch.Generator().manual_seed(0))
    assert a.drawing.shape == (1, 1, 32, 32) and torch.equal(a.drawing, b.drawing)


RESUME_CASES = {
    "reconstruct": ("reconstruct", {}),
    "adversarial": ("adversarial", {}),
    "translate": ("translate", {}),
    "translate-end-to-end": ("translate", {"translate_train": "all"}),
    "translate-no-translator": ("translate", {"translate_train": "all", "model": NO_TRANSLATOR}),
}


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_training_resumes_exactly(tmp_path, case):
    """Killed after step 3 (checkpoint at 2), resumed to 4: the same weights and EMA as the unbroken run."""
    stage, kw = RESUME_CASES[case]
    full_cfg = tiny_config(tmp_path / "a", stage, 4, augment=T.DiffAugmentConfig(policy="translation"), **kw)
    full = T.Task(full_cfg, SyntheticFaces(4))
    run_training(full, full_cfg.loop, full_cfg)
    cut = tiny_config(tmp_path / "b", stage, 3, augment=T.DiffAugmentConfig(policy="translation"), **kw)
    run_training(T.Task(cut, SyntheticFaces(4)), cut.loop, cut)
    torch.manual_seed(999)
    again = tiny_config(tmp_path / "b", stage, 4, augment=T.DiffAugmentConfig(policy="translation"), **kw)
    resumed = T.Task(again, SyntheticFaces(4))
    run_training(resumed, again.loop, again)
    assert torch.equal(weights(full), weights(resumed))
    if kw.get("translate_train") == "all":  # the end-to-end run's optimizer holds the projector (its state resumed too)
        in_opt = {id(p) for gr in full.optimizers["G"].param_groups for p in gr["params"]}
        g = full.modules["G"]
        assert {id(p) for p in [*g.field.parameters(), *g.mapping.parameters()]} <= in_opt


# --------------------------------------------------------------------------- the ablation arms of stage=translate


def parts_changed(before: dict[str, torch.Tensor], g: torch.nn.Module) -> dict[str, bool]:
    """Per part of G (mapping, field, semantic_decoder, image_decoder, translator): whether any weight moved."""
    now = g.state_dict()
    out: dict[str, bool] = {}
    for k, v in before.items():
        part = k.split(".")[0]
        out[part] = out.get(part, False) or not torch.equal(v, now[k])
    return out


@pytest.fixture(scope="module")
def tiny_init(tmp_path_factory) -> dict[str, Path]:
    """A tiny G (random, written as a .safetensors init) per drawing head, so runs can be compared with their start."""
    out = {}
    for name, model in (("translator", TINY), ("image_decoder", NO_TRANSLATOR)):
        torch.manual_seed(1)
        out[name] = T.save_generator(tmp_path_factory.mktemp("init") / f"{name}.safetensors", T.SageGenerator(model), half=False)
    return out


# (translate_train, drawing_head) -> the parts that must learn; every other part must stay bit for bit
ARMS = {
    ("translator", "translator"): {"translator"},
    ("decoders", "translator"): {"translator", "semantic_decoder", "image_decoder"},  # the paper's Stage II
    ("all", "translator"): {"translator", "semantic_decoder", "image_decoder", "mapping", "field"},  # end-to-end
    ("decoders", "image_decoder"): {"semantic_decoder", "image_decoder"},  # no translator
    ("all", "image_decoder"): {"semantic_decoder", "image_decoder", "mapping", "field"},
}


@pytest.mark.parametrize("train, head", list(ARMS))
def test_translate_trains_exactly_the_parts_of_its_mode(tmp_path, tiny_init, train, head):
    model = TINY if head == "translator" else NO_TRANSLATOR
    cfg = tiny_config(tmp_path / "t", "translate", 2, init=str(tiny_init[head]), translate_train=train, model=model,
                      loop=dict(ema_decay=0.0, validate_every=0, sample_every=100))  # fmt: skip
    task = T.Task(cfg, SyntheticFaces(4))
    before = {k: v.clone() for k, v in T.load_generator(tiny_init[head]).state_dict().items()}
    run_training(task, cfg.loop, cfg)
    g = task.modules["G"]
    changed = parts_changed(before, g)
    assert {p for p, c in changed.items() if c} == ARMS[train, head], changed
    # the optimizer holds exactly the trainable parameters, and they are exactly the learning parts'
    in_opt = {id(p) for gr in task.optimizers["G"].param_groups for p in gr["params"]}
    trainable = {n.split(".")[0] for n, p in g.named_parameters() if p.requires_grad}
    assert trainable == ARMS[train, head]
    assert in_opt == {id(p) for p in g.parameters() if p.requires_grad}
    finite_losses(rows(tmp_path / "t")[-1], {"d_drawing", "g_drawing", "loss_g"})


def test_no_translator_draws_the_gray_image_and_exports_it(tmp_path, tiny_init):
    """The no-translator arm: its drawing is the image decoder's output in gray, in training, in the exported
    weights and in MultiViewGenerator; G_p is left as it was."""
    from apdraw.multiview import MultiViewGenerator

    cfg = tiny_config(tmp_path / "n", "translate", 2, init=str(tiny_init["image_decoder"]), model=NO_TRANSLATOR,
                      loop=dict(validate_every=2, sample_every=2))  # fmt: skip
    task = T.Task(cfg, SyntheticFaces(4))
    run_training(task, cfg.loop, cfg)
    assert (tmp_path / "n" / "samples" / "step_0000002.png").exists()
    finite_losses(rows(tmp_path / "n", "val.csv")[-1], {"class_hist_l1", "ink_gap"})
    out = T.export(tmp_path / "n" / "checkpoints" / "latest.pt", tmp_path / "n.safetensors", half=False)
    g = T.load_generator(out)
    assert g.cfg.drawing_head == "image_decoder" and g.cfg == NO_TRANSLATOR
    start = T.load_generator(tiny_init["image_decoder"])
    for k, v in start.translator.state_dict().items():
        assert torch.equal(v, g.translator.state_dict()[k]), k
    z = torch.randn(2, TINY.mapping.z_dim)
    yaw = pitch = torch.full((2,), math.pi / 2)
    with torch.no_grad():
        o = g(z, yaw, pitch, generator=torch.Generator().manual_seed(0))
    assert o.drawing.shape == (2, 1, S, S)
    assert torch.equal(o.drawing, o.image.mean(1, keepdim=True).clamp(-1, 1))
    mv = MultiViewGenerator(g)
    p = mv.render_parts(3, 10.0)
    expect = ((p.image[0].mean(0).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    assert np.array_equal(mv.translate(p.image, p.semantic), expect)
    assert np.array_equal(mv.render(3, 10.0).drawing, expect)
    # a generator with G_p draws differently from the same weights (the flag is what decides)
    with_gp = T.SageGenerator(TINY).eval()
    with_gp.load_state_dict(g.state_dict())
    with torch.no_grad():
        assert not torch.equal(with_gp(z, yaw, pitch, generator=torch.Generator().manual_seed(0)).drawing, o.drawing)


def test_unet_arm_starts_from_a_stage_i_checkpoint_with_its_own_translator(tmp_path):
    """model.translator.spade_levels=0 (the U-Net arm) from an earlier stage whose G_p has SPADE blocks: every other
    weight is the init's, G_p is this run's own; from a translate checkpoint a different G_p still does not fit."""
    from apdraw.persistence import read_checkpoint

    rec = tiny_config(tmp_path / "rec", "reconstruct", 1, loop=dict(validate_every=0, sample_every=100))
    run_training(T.Task(rec, SyntheticFaces(2)), rec.loop, rec)
    init = str(tmp_path / "rec" / "checkpoints" / "latest.pt")
    unet = dataclasses.replace(TINY, translator=dataclasses.replace(TINY.translator, spade_levels=0))
    cfg = tiny_config(tmp_path / "u", "translate", 1, init=init, model=unet, translate_train="translator",
                      loop=dict(validate_every=0, sample_every=100))  # fmt: skip
    task = T.Task(cfg, SyntheticFaces(2))
    run_training(task, cfg.loop, cfg)
    state = read_checkpoint(init)
    start = state["ema"]["G"]  # stage=translate starts from the earlier stage's EMA of G, the generator it exports
    assert any(not torch.equal(v, state["modules"]["G"][k]) for k, v in start.items())  # (so the check below can tell)
    now = task.modules["G"].state_dict()
    assert all(torch.equal(v, now[k]) for k, v in start.items() if not k.startswith("translator."))
    assert not any(isinstance(b, T.nn.Module) and "Spade" in type(b).__name__ for b in task.modules["G"].translator.blocks)
    with pytest.raises(TrainingSetupError, match="does not fit"):  # a trained G_p of another build is not dropped
        back = tiny_config(tmp_path / "v", "translate", 1, init=str(tmp_path / "u" / "checkpoints" / "latest.pt"))
        run_training(T.Task(back, SyntheticFaces(2)), back.loop, back)


def test_ablation_config_errors():
    with pytest.raises(ValueError, match="translate_train=decoders or all"):
        T.Config(model=NO_TRANSLATOR, curriculum=GROW, translate_train="translator")
    with pytest.raises(ValueError, match="translate_train must be"):
        T.Config(model=TINY, curriculum=GROW, translate_train="everything")
    with pytest.raises(ValueError, match="drawing_head"):
        dataclasses.replace(TINY, drawing_head="pencil")
    T.Config(model=NO_TRANSLATOR, curriculum=GROW, translate_train="all")  # allowed
    with pytest.raises(ValueError, match="code_init must be"):
        T.Config(model=TINY, curriculum=GROW, code_init="pca")
    from apdraw.config import ConfigError

    path = REPO / "src" / "apdraw" / "configs" / "sage_translate.yaml"
    with pytest.raises(ConfigError, match="no translator"):
        load_config(T.Config, path, ["model.drawing_head=image_decoder", "translate_train=translator"])
    with pytest.raises(ConfigError, match="drawing_head"):
        load_config(T.Config, path, ["model.drawing_head=gray"])


def test_setup_errors(tmp_path):
    with pytest.raises(TrainingSetupError, match="drawings_dir"):
        T.Task(T.Config(stage="translate", drawings_dir=str(tmp_path / "missing")))
    with pytest.raises(TrainingSetupError, match="reconstruct"):
        T.Task(T.Config(stage="map"))
    with pytest.raises(ValueError, match="curriculum size"):
        T.Config(curriculum=(T.Phase(0, 256),))  # the compact decoders stop at 128²
    with pytest.raises(TrainingSetupError, match="does not fit"):
        cfg = tiny_config(tmp_path / "x", "reconstruct", 1)
        run_training(T.Task(cfg, SyntheticFaces(2)), cfg.loop, cfg)
        bad = T.Config(stage="adversarial", init=str(tmp_path / "x" / "checkpoints" / "latest.pt"),
                       loop=LoopConfig(out_dir=str(tmp_path / "y"), steps=1, batch_size=2))  # compact G, tiny init
        run_training(T.Task(bad, SyntheticFaces(2)), bad.loop, bad)


def test_sliced_wasserstein_is_zero_for_equal_samples_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, 8, generator=g)
    assert T.sliced_wasserstein(a, a[torch.randperm(64, generator=g)], 16, g) < 1e-10
    assert T.sliced_wasserstein(a, a + 1.0, 16, g) > 0.5


# --------------------------------------------------------------------------- configs, data, drawings script


@pytest.mark.parametrize("name", ["sage_reconstruct", "sage_adversarial", "sage_scratch", "sage_translate", "sage_gpu"])
def test_shipped_configs_load(name):
    cfg = load_config(T.Config, REPO / "src" / "apdraw" / "configs" / f"{name}.yaml")
    assert cfg.loop.max_minutes > 0
    if name == "sage_gpu":
        assert cfg.model == paper_config() and cfg.curriculum == T.paper_curriculum() and cfg.loop.clock == "wall"
    else:
        assert cfg.loop.clock == "cpu" and cfg.loop.threads == 1 and cfg.resolution == 128


def test_sage_dataset_reads_drawings_in_the_crop_frame(tmp_path):
    from apdraw.data.sage import POSE_VERSION, SageDataConfig, build_sage_dataset, pose_cache_path
    from apdraw.data.sampling import SampleKey
    from apdraw.io import save_image

    root, draw = tmp_path / "mini", tmp_path / "drawings"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    draw.mkdir()
    for name in ("0", "1", "2"):
        img = np.full((64, 64, 3), 128, np.uint8)
        img[:, :20] = 255  # bright image-left band
        cv2.imwrite(str(root / "images" / f"{name}.jpg"), img)
        cv2.imwrite(str(root / "masks" / f"{name}.png"), np.ones((64, 64), np.uint8))
        if name != "2":
            d = np.full((40, 40), 255, np.uint8)
            d[:, :10] = 0  # ink on the image left
            save_image(draw / f"{name}.png", d)
    cache = tmp_path / "cache"
    cache.mkdir()
    pose_cache_path(cache).write_text(json.dumps({"version": POSE_VERSION, "poses": {n: [1.5, 1.3] for n in "012"}}))
    ds = build_sage_dataset(SageDataConfig(root=str(root), cache_dir=str(cache), drawings_dir=str(draw)), 16, progress=False)
    assert ds.names == ["0", "1"] and ds.without_drawing == ["2"]
    flips = 0
    for seed in range(8):
        item = ds[SampleKey(0, seed)]
        d = item["drawing"]
        assert d.shape == (1, 16, 16) and d.min() >= -1 and d.max() <= 1
        ink_left = d[0, :, :4].mean() < d[0, :, -4:].mean()
        bright_left = item["photo"][0, :, :3].mean() > item["photo"][0, :, -3:].mean()
        assert ink_left == bright_left  # the drawing flips with its photo
        flips += not ink_left
    assert 0 < flips < 8


def test_feature_code_warm_start_and_its_check_script(tmp_path, imagenet_mobilenet_v2):
    """code_init=features through the task (a real SageDataset on a synthetic folder), then
    scripts/sage_warm_start_check.py on its checkpoint: PSNRs, identity gain, parser scores, figure."""
    from apdraw.data.sage import POSE_VERSION, SageDataConfig, pose_cache_path

    root, cache = tmp_path / "mini", tmp_path / "cache"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    cache.mkdir()
    rng = np.random.default_rng(0)
    names = [str(i) for i in range(10)]  # 20 codes with the mirrors: more than the 16 code dimensions
    twin = None
    for name in names:
        img = cv2.resize(rng.integers(0, 255, (4, 4, 3)).astype(np.uint8), (64, 64), interpolation=cv2.INTER_CUBIC)
        if name == "1":
            img = twin  # photo 1 is photo 0 again: equal features, so equal codes at the start
        twin = img
        cv2.imwrite(str(root / "images" / f"{name}.jpg"), img)
        mask = np.zeros((64, 64), np.uint8)
        mask[16:48, 16:48] = 1
        cv2.imwrite(str(root / "masks" / f"{name}.png"), mask)
    pose_cache_path(cache).write_text(json.dumps({"version": POSE_VERSION, "poses": {n: [1.5, 1.3] for n in names}}))
    data = SageDataConfig(root=str(root), cache_dir=str(cache), split="all")
    cfg = tiny_config(tmp_path / "rec", "reconstruct", 2, data=data, code_init="features", loop=dict(validate_every=0))
    task = T.Task(cfg)
    run_training(task, cfg.loop, cfg)
    codes = task.modules["codes"].weight.detach()
    assert codes.shape == (20, 16)
    # the twins started equal and moved only two small Adam steps; random (mapping) codes would be far apart
    assert (codes[0] - codes[1]).norm() < 0.2 * (codes[0] - codes[2]).norm()
    check = script_module("sage_warm_start_check")
    out, fig = tmp_path / "check.json", tmp_path / "fig.png"
    rc = check.main([str(tmp_path / "rec" / "checkpoints" / "latest.pt"), "--items", "8", "--size", "32",
                     "--figure", str(fig), "--json", str(out), "--names", "tiny"])  # fmt: skip
    assert rc == 0
    r = json.loads(out.read_text())["tiny"]
    assert r["step"] == 2 and r["items"] == 8
    assert all(math.isfinite(r[k]) for k in ("psnr_own", "psnr_other", "psnr_mean_code"))
    assert r["identity_gain_db"] == pytest.approx(r["psnr_own"] - r["psnr_other"])
    assert r["faces_found"] is None or 0 <= r["faces_found"] <= 8
    assert fig.is_file()
    # scripts/fit_sage_encoder.py on the same checkpoint: an encoder for this generator's codes
    from apdraw.models.sage.encoder import load_code_encoder, mapping_fingerprint

    fit = script_module("fit_sage_encoder")
    enc_path, enc_json = tmp_path / "enc.safetensors", tmp_path / "enc.json"
    assert fit.main([str(tmp_path / "rec" / "checkpoints" / "latest.pt"), "--out", str(enc_path), "--json", str(enc_json), "--folds", "2"]) == 0
    enc = load_code_encoder(enc_path)
    assert enc.mapping_fingerprint == mapping_fingerprint(task.modules["G"]) and enc.cfg.code_dim == 16
    report = json.loads(enc_json.read_text())
    assert report["codes"] == 20 and str(report["alpha"]) in report["cross_validation"]
    assert report["train_fit"]["r2"] >= max(v["r2"] for v in report["cross_validation"].values()) - 1e-9  # own photos fit best
    with torch.no_grad():  # the refit reproduces the training codes about as well as its R² says
        pred = enc(torch.from_numpy(T.photo_features(task.dataset, progress=False)).float())
    resid = ((pred - codes) ** 2).sum() / ((codes - codes.mean(0)) ** 2).sum()
    assert float(resid) == pytest.approx(1 - report["train_fit"]["r2"], abs=0.05)


def test_drawings_script_crops_the_photo_frame_as_the_data_set():
    spec = importlib.util.spec_from_file_location("sage_drawings", REPO / "scripts" / "sage_drawings.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from apdraw.data.sage import centre_crop_resize

    photo = np.zeros((90, 90, 3), np.uint8)
    canvas = np.full((90, 90), 255, np.uint8)
    canvas[40:50, 40:50] = 0
    pipe = lambda p: [SimpleNamespace(in_photo=canvas)]  # noqa: E731
    out = mod.draw_in_crop(pipe, photo, 32, 8 / 9)
    assert out.shape == (32, 32) and np.array_equal(out, centre_crop_resize(canvas, 32, 8 / 9))
    assert mod.draw_in_crop(lambda p: [], photo, 32, 8 / 9) is None


# --------------------------------------------------------------------------- scripts/ablate_sage.py


def _ablate():
    import sys

    spec = importlib.util.spec_from_file_location("ablate_sage", REPO / "scripts" / "ablate_sage.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["ablate_sage"] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_ablation_arms_are_valid_configs_of_the_right_kind(tmp_path):
    A = _ablate()
    assert [a.name for a in A.ARMS] == ["spade_unet", "unet", "no_translator", "paired", "end_to_end"]
    cfgs = {}
    for arm in A.ARMS:
        cmd = A.command(arm, tmp_path, 30.0, 40.0, "s1.pt", "map.pt")
        assert cmd[1:7] == ["-m", "apdraw", "train", "sage", "-c", str(A.CONFIG)]
        cfgs[arm.name] = cfg = load_config(T.Config, A.CONFIG, cmd[7:])
        assert cfg.stage == "translate" and cfg.loop.clock == "cpu" and cfg.loop.threads == 1
        assert cfg.loop.out_dir == str(tmp_path / arm.name)
    base = load_config(T.Config, A.CONFIG)
    two_stage = ("spade_unet", "unet", "no_translator", "paired")
    for name in two_stage:
        c = cfgs[name]
        assert c.init == "s1.pt" and c.loop.max_minutes == 30.0
        # G_p alone learns (the shipped Stage II), except where the decoders must learn to draw
        assert c.translate_train == ("decoders" if name == "no_translator" else "translator")
        assert c.curriculum == base.curriculum and c.real_pose == base.real_pose
    assert cfgs["spade_unet"].model == base.model and cfgs["spade_unet"].model.translator.spade_levels == 2
    assert cfgs["paired"].paired_l1 == 100 and cfgs["paired"].model == base.model and base.paired_l1 == 0
    assert cfgs["unet"].model.translator.spade_levels == 0 and cfgs["unet"].model.drawing_head == "translator"
    assert cfgs["no_translator"].model == dataclasses.replace(base.model, drawing_head="image_decoder")
    e = cfgs["end_to_end"]
    assert e.init == "map.pt" and e.translate_train == "all" and e.loop.max_minutes == 70.0  # Stage I + Stage II minutes
    assert e.model == base.model and e.curriculum[0].pos_lambda > 0 and e.real_pose and e.pose_warmup > 0
    assert A.command(A.BY_NAME["unet"], tmp_path, 1, 2, "a", "b", "DIR")[7:].count("drawings_dir=DIR") == 1


def _fake_eval(yaws, deltas, photo=True, scale=1.0):
    return {"swd": {str(y): scale * (50 + abs(y)) for y in yaws}, "floor_swd": 12.5, "n_ref": 16,
            "swd_spread": scale * 80 / 50, "consistency": {str(d): {"pixel_agreement": 0.9 - d / 100, "miou": 0.5, "pairs": 9} for d in deltas},
            "has_photo": photo, "detection": 0.25 if photo else None}  # fmt: skip


def test_ablation_table_from_fake_numbers():
    A = _ablate()
    yaws, deltas = [-30, 0, 30], [10, 15]
    settings = {"seeds": 16, "yaws": yaws, "deltas": deltas, "pitch": 0.0, "truncation": 0.7}
    meta = {"minutes": 30, "stage1_minutes": 41.5, "arms": {"spade_unet": {"budget_minutes": 30}, "end_to_end": {"budget_minutes": 71.5}}}
    rows = [{"arm": "spade_unet", "steps": 812.0, "cpu_min": 30.02, "eval": _fake_eval(yaws, deltas)},
            {"arm": "unet", "steps": None, "cpu_min": None, "eval": None},
            {"arm": "no_translator", "steps": 900.0, "cpu_min": 30.1, "eval": _fake_eval(yaws, deltas, photo=False, scale=2)},
            {"arm": "end_to_end", "steps": 1500.0, "cpu_min": 71.6, "eval": _fake_eval(yaws, deltas)}]  # fmt: skip
    text = A.table(rows, settings, meta)
    lines = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(lines) == 4
    header = next(line for line in text.splitlines() if line.startswith("| arm"))
    n_cols = header.count("|")
    assert all(line.count("|") == n_cols for line in lines)  # every row fills every column
    spade, unet, no_t, e2e = lines
    assert "| 812 | 30.0 (30) | 80.0 | 50.0 | 80.0 | 1.60× | 0.800 / 0.500 | 0.750 / 0.500 | 25% |" in spade
    assert "(no export)" in unet
    assert "| 160.0 | 100.0 | 160.0 | 3.20× |" in no_t and no_t.endswith("| – |")
    assert "71.6 (71.5)" in e2e
    assert "41.5 CPU minutes of Stage I" in text and "floor, real half A vs half B: 12.5" in text


def test_ablation_report_scores_exports_and_writes_the_doc(tmp_path, tiny_sage_weights, imagenet_mobilenet_v2, capsys,
                                                           synthetic_drawings_dir):
    """report on tiny random exports (spade_unet, and no_translator saved with the gray drawing head): the table in a doc
    copy, the scores cached (a second report scores nothing again)."""
    import shutil

    A = _ablate()
    out = tmp_path / "abl"
    (out / "spade_unet" / "export").mkdir(parents=True)
    shutil.copy(tiny_sage_weights, out / "spade_unet" / "export" / "sage.safetensors")
    (out / "spade_unet" / "log.csv").write_text("step,train_cpu_min\n5,0.5\n7,0.7\n")
    g = T.load_generator(tiny_sage_weights)
    g.cfg = dataclasses.replace(g.cfg, drawing_head="image_decoder")
    T.save_generator(out / "no_translator" / "export" / "sage.safetensors", g)
    drawings = synthetic_drawings_dir
    doc = tmp_path / "SAGE.md"
    doc.write_text("# SAGE\n\n## Ablations\n\nText.\n\n<!-- sage-ablation:start -->\n<!-- sage-ablation:end -->\n\n## After\n")
    argv = ["report", "--out", str(out), "--seeds", "2", "--yaws", "-10,0,10", "--drawings-dir", str(drawings),
            "--feature-size", "64", "--doc", str(doc), "--write-doc"]  # fmt: skip
    assert A.main(argv) == 0
    assert capsys.readouterr().out.count("scoring ") == 2
    r = json.loads((out / "no_translator" / "ablation_eval.json").read_text())["result"]
    assert r["drawing_head"] == "image_decoder" and not r["has_photo"] and r["detection"] is None
    assert set(r["swd"]) == {"-10", "0", "10"} and r["swd_spread"] >= 1 and set(r["consistency"]) == {"10", "15"}
    s = json.loads((out / "spade_unet" / "ablation_eval.json").read_text())["result"]
    assert s["has_photo"] and s["drawing_head"] == "translator"
    text = doc.read_text()
    assert text.count("sage-ablation:start") == 1 and text.endswith("## After\n") and "Text." in text
    block = text.split("<!-- sage-ablation:start -->")[1].split("<!-- sage-ablation:end -->")[0]
    assert "`spade_unet`" in block and "| 7 | 0.7" in block and "`end_to_end`" in block and "(no export)" in block
    assert A.main(argv) == 0 and "scoring " not in capsys.readouterr().out  # cached


def test_warm_start_code_lookup_matches_photos_by_name():
    # the warm start saw a, b, c (+ mirrored); this data set lacks b (no drawing)
    assert T.warm_start_code_lookup(["a", "c"], ["a", "b", "c"], 6).tolist() == [0, 2, 3, 5]
    assert T.warm_start_code_lookup(["c"], ["a", "b", "c"], 3).tolist() == [2]  # no mirroring
    # a photo the warm start never saw (its held-out split) gets no code
    assert T.warm_start_code_lookup(["a", "d"], ["a", "b", "c"], 6).tolist() == [0, -1, 3, -1]
    with pytest.raises(TrainingSetupError, match="no photo here"):
        T.warm_start_code_lookup(["d"], ["a", "b", "c"], 6)
    with pytest.raises(TrainingSetupError, match="codes"):
        T.warm_start_code_lookup(["a"], ["a", "b", "c"], 5)


def test_paired_l1_pulls_the_drawing_of_each_items_own_code_towards_its_drawing(tmp_path):
    """paired_l1 (ours): G_p alone learns, from the reconstruct run's codes; the paired L1 falls over a few steps,
    the codes and every part but G_p stay as the init left them, and a run without the codes is refused."""
    from apdraw.persistence import read_checkpoint

    data = SyntheticFaces(2)
    rec = tiny_config(tmp_path / "rec", "reconstruct", 2, loop=dict(validate_every=0, sample_every=100, ema_decay=0.0))
    run_training(T.Task(rec, data), rec.loop, rec)
    init = str(tmp_path / "rec" / "checkpoints" / "latest.pt")
    cfg = tiny_config(tmp_path / "p", "translate", 12, init=init, translate_train="translator", paired_l1=100.0,
                      curriculum=(T.Phase(start=0, size=32, lr_g=1e-3, lr_d=1e-4),),
                      loop=dict(validate_every=0, sample_every=100, ema_decay=0.0))  # fmt: skip
    task = T.Task(cfg, data)
    run_training(task, cfg.loop, cfg)
    paired = [float(r["paired_l1"]) for r in rows(tmp_path / "p")]
    assert len(paired) == 12 and all(math.isfinite(x) for x in paired)
    assert sum(paired[-3:]) < 0.95 * sum(paired[:3]), paired
    start = read_checkpoint(init)["modules"]
    assert torch.equal(start["codes"]["weight"], task.modules["codes"].weight)
    now = task.modules["G"].state_dict()
    assert all(torch.equal(v, now[k]) for k, v in start["G"].items() if not k.startswith("translator."))
    assert any(not torch.equal(v, now[k]) for k, v in start["G"].items() if k.startswith("translator."))
    # items the warm start never saw (lookup -1) get no paired term
    batch = {k: torch.stack([data[i][k] for i in range(2)]) for k in ("photo", "yaw", "pitch", "drawing", "index")}
    phase, alpha = cfg.phase(0)
    assert task._paired_l1(batch, phase, alpha, 0).item() > 0
    task._code_of[:] = -1
    assert task._paired_l1(batch, phase, alpha, 0).item() == 0
    with pytest.raises(TrainingSetupError, match="reconstruct or map"):
        T.Task(tiny_config(tmp_path / "q", "translate", 1, paired_l1=1.0), data)
    with pytest.raises(ValueError, match="stage=translate"):
        tiny_config(tmp_path / "r", "adversarial", 1, paired_l1=1.0)
