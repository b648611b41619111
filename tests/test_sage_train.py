"""SAGE training (`apdraw train sage`): the four stages on tiny networks and a synthetic data set
(no shared data), the reconstruction loss falling, exact resume, stage chaining via init, export,
the drawings in the data set and the drawings script, and the shipped configs."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_sage_config

from apdraw.config import load_config
from apdraw.models.sage import paper_config
from apdraw.train.loop import LoopConfig, TrainingSetupError, run_training
from apdraw.train.tasks import sage as T

REPO = Path(__file__).resolve().parents[1]
S = 32  # data side = the tiny curriculum's largest output

TINY = tiny_sage_config()
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
    a_state = read_checkpoint(tmp_path / "adv" / "checkpoints" / "latest.pt")["modules"]
    t_state = read_checkpoint(tmp_path / "tr" / "checkpoints" / "latest.pt")["modules"]
    assert set(t_state) == {"G", "D_drawing", "D_semantic"}
    for k in ("mapping.head.weight", "field.trunk.0.linear.weight"):
        assert torch.equal(a_state["G"][k], t_state["G"][k])
    assert not torch.equal(a_state["G"]["translator.head.weight"], t_state["G"]["translator.head.weight"])
    # export: the whole generator, fp16, loads and draws deterministically
    out = T.export(tmp_path / "tr" / "checkpoints" / "latest.pt", tmp_path / "sage.safetensors")
    g = T.load_generator(out)
    assert g.cfg == TINY and not g.training
    z = torch.randn(1, TINY.mapping.z_dim)
    yaw = pitch = torch.full((1,), math.pi / 2)
    a = g(z, yaw, pitch, generator=torch.Generator().manual_seed(0))
    b = g(z, yaw, pitch, generator=torch.Generator().manual_seed(0))
    assert a.drawing.shape == (1, 1, 32, 32) and torch.equal(a.drawing, b.drawing)


@pytest.mark.parametrize("stage", ["reconstruct", "adversarial", "translate"])
def test_training_resumes_exactly(tmp_path, stage):
    """Killed after step 3 (checkpoint at 2), resumed to 4: the same weights and EMA as the unbroken run."""
    full_cfg = tiny_config(tmp_path / "a", stage, 4, augment=T.DiffAugmentConfig(policy="translation"))
    full = T.Task(full_cfg, SyntheticFaces(4))
    run_training(full, full_cfg.loop, full_cfg)
    cut = tiny_config(tmp_path / "b", stage, 3, augment=T.DiffAugmentConfig(policy="translation"))
    run_training(T.Task(cut, SyntheticFaces(4)), cut.loop, cut)
    torch.manual_seed(999)
    again = tiny_config(tmp_path / "b", stage, 4, augment=T.DiffAugmentConfig(policy="translation"))
    resumed = T.Task(again, SyntheticFaces(4))
    run_training(resumed, again.loop, again)
    assert torch.equal(weights(full), weights(resumed))


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


@pytest.mark.parametrize("name", ["sage_reconstruct", "sage_adversarial", "sage_translate", "sage_gpu"])
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
