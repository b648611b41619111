"""QMUPD training: unpaired data, region masks, style vectors and classifiers, the history pool,
the training task (warm start and unpaired, exact resume, export) and the `qmupd` drawing style."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from apdraw.data.unpaired import (
    MASK_REGIONS,
    DrawingItem,
    UnpairedConfig,
    UnpairedDrawingDataset,
    load_masks,
    mask_path,
    region_masks,
    style_vectors,
)
from apdraw.io import save_image
from apdraw.models.qmupd import QMUPD
from apdraw.train.loop import LoopConfig, TrainingSetupError, run_training
from apdraw.train.pool import ImagePool
from apdraw.train.tasks import qmupd as T

from test_apdrawinggan import synthetic_pair
from test_qmupd_networks import TINY_D, TINY_G

S = TINY_G.resolution


@pytest.fixture(autouse=True)
def _one_thread(_deterministic_threads):
    torch.set_num_threads(1)


# --------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def unpaired(tmp_path_factory) -> tuple[UnpairedConfig, list[Path]]:
    """Four cached synthetic pairs with region masks (nose, eyes, lips = three discs)."""
    folder = tmp_path_factory.mktemp("unpaired")
    cfg = UnpairedConfig(cache_dir=str(folder / "cache"), style_classifier="onehot")
    files = []
    for i in range(4):
        f = folder / f"pair{i}.npz"
        synthetic_pair(i).save(f)
        files.append(f)
        bits = np.zeros((512, 512), np.uint8)
        for b, (x, y) in enumerate([(256, 300), (256, 220), (256, 380)]):
            m = np.zeros_like(bits)
            cv2.circle(m, (x + 10 * i, y), 30, 1, -1)
            bits |= m << b
        save_image(mask_path(cfg, f.stem), bits)
    return cfg, files


def test_region_masks_are_bits_of_dilated_parser_classes():
    labels = np.zeros((64, 64), np.uint8)
    labels[30:34, 30:34] = 2  # nose
    labels[10:12, 10:14] = 4  # an eye
    labels[50:52, 28:36] = 12  # lower lip
    lm = np.array([[20, 20], [40, 20], [32, 32], [25, 45], [39, 45]], float)
    bits = region_masks(labels, lm, dilation=0.1)  # radius 2 px
    for i, region in enumerate(MASK_REGIONS):
        m = (bits >> i) & 1
        raw = {"nose": labels == 2, "eyes": labels == 4, "lips": labels == 12}[region]
        assert m[raw].all() and m.sum() > raw.sum()  # covers the class, and more (dilated)
    assert ((bits & 1) & ((bits >> 1) & 1)).sum() == 0  # nose and eye regions do not touch here


def test_unpaired_items_are_deterministic_and_masks_move_with_their_image(unpaired):
    cfg, files = unpaired
    drawings = [DrawingItem(f, i % 3, tuple(float(j == i % 3) for j in range(3))) for i, f in enumerate(files)]
    ds = UnpairedDrawingDataset(files, drawings, cfg, resolution=S)
    from apdraw.data.sampling import SampleKey

    a, b = ds[SampleKey(1, 77)], ds[SampleKey(1, 77)]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["photo"].shape == (3, S, S) and a["drawing"].shape == (1, S, S)
    assert a["photo_masks"].shape == a["drawing_masks"].shape == (3, S, S)
    assert set(a["photo_masks"].unique().tolist()) <= {0.0, 1.0}
    assert a["style"].sum() == 1 and int(a["style_index"]) == int(a["style"].argmax())
    # Over many draws: random crops and flips differ, and the masks follow the photo's geometry:
    # the nose mask's centroid stays where the (cropped, flipped) nose disc of that photo is.
    seen = set()
    for seed in range(12):
        item = ds[SampleKey(0, seed)]
        seen.add(item["photo"].sum().item())
        m = item["photo_masks"][0]
        ys, xs = torch.nonzero(m, as_tuple=True)
        assert abs(xs.float().mean().item() - (S - 1) / 2) < 0.12 * S  # centred disc (x = 256 of 512)
    assert len(seen) > 3


def test_onehot_style_vectors_and_config_checks(unpaired):
    cfg, files = unpaired
    vecs = style_vectors(dataclasses.replace(cfg, extra_styles=["npr"]), [files[:2], files[2:3], [], files[3:]])
    assert vecs[0] == [(1.0, 0.0, 0.0, 0.0)] * 2 and vecs[3] == [(0.0, 0.0, 0.0, 1.0)]
    assert load_masks(cfg, files[0].stem).shape == (3, 512, 512)
    for bad in (dict(photo_sources=["flickr"]), dict(sketch_types=[0, 0]), dict(extra_styles=["oil"]),
                dict(sketch_types=[], extra_styles=[]), dict(load_scale=0.9)):  # fmt: skip
        with pytest.raises(ValueError):
            UnpairedConfig(**bad)


def test_style_classifier_fits_saves_and_loads(tmp_path, imagenet_mobilenet_v2):
    from apdraw.models.style_classifier import StyleClassifier, StyleClassifierConfig, default_weights

    clf = StyleClassifier(StyleClassifierConfig(features="stats"))
    # Three textures: thin lines, thick lines, gray noise -> their statistics separate them.
    rng = np.random.default_rng(0)
    images, labels = [], []
    for k in range(3):
        for _ in range(6):
            img = np.full((128, 128), 255, np.uint8)
            if k < 2:
                for _ in range(8):
                    p = rng.integers(0, 128, 4)
                    cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), 0, 1 + 5 * k)
            else:
                img = rng.integers(90, 200, (128, 128)).astype(np.uint8)
            images.append(img)
            labels.append(k)
    from apdraw.models.style_classifier import _to_input

    feats = clf.raw_features(torch.stack([_to_input(i, 256) for i in images]))
    clf.fit(feats, torch.tensor(labels))
    probs = clf.predict_proba(images)
    assert probs.shape == (18, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert (probs.argmax(1) == np.array(labels)).mean() == 1.0
    clf.save(tmp_path / "c.safetensors")
    again = StyleClassifier.from_pretrained(tmp_path / "c.safetensors")
    assert np.allclose(again.predict_proba(images), probs, atol=2e-2)  # fp16 weights
    with pytest.raises(ValueError, match="role"):
        default_weights("test")
    for role in ("train", "eval"):  # the shipped ones load and classify
        assert StyleClassifier.from_pretrained(default_weights(role)).predict_proba(images[:2]).shape == (2, 3)


# --------------------------------------------------------------------------- the history pool


def test_image_pool_fills_then_swaps_and_restores_from_its_state():
    torch.manual_seed(0)
    pool = ImagePool(3)
    for i in range(3):  # filling: returns the new rows
        out = pool.query(fake=torch.full((1, 1, 2, 2), float(i)), style=torch.tensor([[float(i), 0, 0]]))
        assert out["fake"][0, 0, 0, 0] == i
    returned = [pool.query(fake=torch.full((1, 1, 2, 2), 9.0), style=torch.tensor([[9.0, 0, 0]]))["fake"][0, 0, 0, 0].item()
                for _ in range(20)]  # fmt: skip
    assert 9.0 in returned and any(r != 9.0 for r in returned)  # sometimes an old one
    # Old rows keep their own style.
    r = pool.query(fake=torch.full((1, 1, 2, 2), 5.0), style=torch.tensor([[5.0, 0, 0]]))
    assert r["fake"][0, 0, 0, 0] == r["style"][0, 0]
    fresh = ImagePool(3)
    fresh.load_state_dict(pool.state_dict())
    assert torch.equal(fresh.pool_fake, pool.pool_fake) and int(fresh.count) == 3
    x = torch.ones(1)
    assert ImagePool(0).query(fake=x)["fake"] is x  # size 0: no pool, the input itself


# --------------------------------------------------------------------------- the task


class PhotoDrawingPairs(torch.utils.data.Dataset):
    """Pre-training items: photo and NPR-like drawing (the synthetic pairs at S)."""

    def __init__(self, files):
        from apdraw.data.paired import PairedDrawingDataset

        self.inner = PairedDrawingDataset(files, S)

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, key):
        item = self.inner[key]
        return {"photo": item["photo"], "drawing": item["drawing"]}


def tiny_config(out: Path, steps: int, generator=TINY_G, discriminator=TINY_D, **kw) -> T.Config:
    return T.Config(
        generator=generator, discriminator=discriminator, lr=1e-3, val_items=0, pool_size=2, perceptual_resolution=64,
        schedule_steps=4,  # not loop.steps: the killed run below has fewer
        loop=LoopConfig(out_dir=str(out), steps=steps, batch_size=2, log_every=1, sample_every=steps, ckpt_every=2, ema_decay=0.9),
        **kw,
    )  # fmt: skip


def _unpaired_dataset(cfg, files):
    drawings = [DrawingItem(f, i % 3, tuple(float(j == i % 3) for j in range(3))) for i, f in enumerate(files)]
    return UnpairedDrawingDataset(files, drawings, cfg, resolution=S)


def _weights(task: T.Task) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for m in task.modules.values() for p in m.parameters()]
                     + [task.modules["pool"].pool_fake.flatten()])  # fmt: skip


def test_warm_start_l1_falls(tmp_path, unpaired):
    _, files = unpaired
    cfg = tiny_config(tmp_path / "pre", 30, stage="pretrain")
    task = T.Task(cfg, PhotoDrawingPairs(files))
    run_training(task, cfg.loop, cfg)
    import csv

    rows = list(csv.DictReader((tmp_path / "pre" / "log.csv").open()))
    first, last = float(rows[0]["l1_a"]), np.mean([float(r["l1_a"]) for r in rows[-5:]])
    assert last < 0.7 * first
    assert set(task.modules) == {"G_A", "G_B"}


class _Recoloured(torch.utils.data.Dataset):
    """The synthetic pairs with every drawing made one flat value: a 'style' that is trivially learnable."""

    def __init__(self, files, value: float):
        self.inner, self.value = PhotoDrawingPairs(files), value

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, key):
        item = self.inner[key]
        return {"photo": item["photo"], "drawing": torch.full_like(item["drawing"], self.value)}


def test_style_labelled_pairs_label_each_part_and_keep_keys(unpaired):
    from apdraw.data.paired import StyleLabelledPairs
    from apdraw.data.sampling import SampleKey

    _, files = unpaired
    parts = [PhotoDrawingPairs(files[:3]), PhotoDrawingPairs(files[3:])]
    ds = StyleLabelledPairs(parts)
    assert len(ds) == 4
    assert [ds[i]["style"].tolist() for i in range(4)] == [[1.0, 0.0]] * 3 + [[0.0, 1.0]]
    assert torch.equal(ds[3]["drawing"], parts[1][0]["drawing"])  # the part's own item, index made local
    assert torch.equal(ds[SampleKey(3, 7)]["photo"], parts[1][SampleKey(0, 7)]["photo"])  # the seed passes through
    with pytest.raises(IndexError):
        ds[4]
    with pytest.raises(ValueError, match="no empty part"):
        StyleLabelledPairs([])


def test_labelled_warm_start_teaches_the_style_input(tmp_path, unpaired):
    """Paired FS2K warm start (ours): style 0's pairs are white, style 1's black; afterwards G_A draws each."""
    from apdraw.data.paired import StyleLabelledPairs

    _, files = unpaired
    g = dataclasses.replace(TINY_G, style_dim=2, style_film=True)
    d = dataclasses.replace(TINY_D, style_dim=2)
    cfg = tiny_config(tmp_path / "pre", 40, generator=g, discriminator=d, stage="pretrain", film_lr_mult=10.0)
    task = T.Task(cfg, StyleLabelledPairs([_Recoloured(files, 1.0), _Recoloured(files, -1.0)]))
    run_training(task, cfg.loop, cfg)
    photo = PhotoDrawingPairs(files)[0]["photo"][None]
    with torch.no_grad():
        white = task.averaged("G_A")(photo, torch.tensor([[1.0, 0.0]])).mean().item()
        black = task.averaged("G_A")(photo, torch.tensor([[0.0, 1.0]])).mean().item()
    assert white - black > 0.5, (white, black)


def test_fs2k_warm_start_config_is_checked():
    with pytest.raises(ValueError, match="sketch_type -1"):
        T.Config(stage="pretrain", pretrain_data=T.DataConfig(source="fs2k", sketch_type=0))
    with pytest.raises(ValueError, match="sketch_types gives 2 styles"):
        T.Config(stage="pretrain", pretrain_data=T.DataConfig(source="fs2k", sketch_type=-1), data=UnpairedConfig(sketch_types=[0, 1]))


def test_unpaired_training_resumes_exactly_and_exports(tmp_path, unpaired, imagenet_mobilenet_v2):
    ucfg, files = unpaired
    cfg = tiny_config(tmp_path / "a", 4, data=ucfg)
    full = T.Task(cfg, _unpaired_dataset(ucfg, files))
    run_training(full, cfg.loop, cfg)
    import csv

    rows = list(csv.DictReader((tmp_path / "a" / "log.csv").open()))
    assert {"g_a", "g_b", "g_cls", "g_local", "cycle_a", "cycle_trunc", "cycle_b", "d_a", "d_b", "d_cls", "d_local"} <= set(rows[-1])
    assert all(np.isfinite(float(r["loss_g"])) for r in rows)
    assert (tmp_path / "a" / "samples" / "step_0000004.png").exists()
    # Killed after step 3 (checkpoint at 2), resumed: the same weights and pool as the unbroken run.
    cfg_b = tiny_config(tmp_path / "b", 3, data=ucfg)
    run_training(T.Task(cfg_b, _unpaired_dataset(ucfg, files)), cfg_b.loop, cfg_b)
    torch.manual_seed(999)
    cfg_b = tiny_config(tmp_path / "b", 4, data=ucfg)
    resumed = T.Task(cfg_b, _unpaired_dataset(ucfg, files))
    run_training(resumed, cfg_b.loop, cfg_b)
    assert torch.equal(_weights(full), _weights(resumed))
    out = T.export(tmp_path / "a" / "checkpoints" / "latest.pt", tmp_path / "qmupd.safetensors")
    model = QMUPD.from_pretrained(out)
    assert model.cfg == TINY_G
    photos = torch.randint(0, 256, (1, 3, 96, 96), dtype=torch.uint8)
    assert torch.equal(model.draw(photos, [0, 1, 0]), model.draw(photos, [0, 1, 0]))


def test_paired_term_is_logged_moves_the_weights_and_resumes_exactly(tmp_path, unpaired, imagenet_mobilenet_v2):
    """paired_l1 (ours): FS2K-like style-labelled pairs beside the unpaired batch, drawn as a pure function of the step."""
    from apdraw.data.paired import StyleLabelledPairs

    ucfg, files = unpaired
    fs2k = T.DataConfig(source="fs2k", sketch_type=-1)

    def task(out, steps, paired_l1):
        cfg = tiny_config(out, steps, data=ucfg, paired_l1=paired_l1, pretrain_data=fs2k)
        t = T.Task(cfg, _unpaired_dataset(ucfg, files))
        t.paired = StyleLabelledPairs([PhotoDrawingPairs(files[:2]), PhotoDrawingPairs(files[2:3]), PhotoDrawingPairs(files[3:])])
        return t, cfg

    full, cfg = task(tmp_path / "a", 4, 10.0)
    run_training(full, cfg.loop, cfg)
    import csv

    rows = list(csv.DictReader((tmp_path / "a" / "log.csv").open()))
    assert all(np.isfinite(float(r["paired_l1"])) and float(r["paired_l1"]) > 0 for r in rows)
    off, cfg_off = task(tmp_path / "off", 4, 0.0)
    run_training(off, cfg_off.loop, cfg_off)
    assert "paired_l1" not in next(csv.DictReader((tmp_path / "off" / "log.csv").open()))
    assert not torch.equal(_weights(full), _weights(off))
    first, cfg_b = task(tmp_path / "b", 3, 10.0)
    run_training(first, cfg_b.loop, cfg_b)
    torch.manual_seed(999)
    resumed, cfg_b = task(tmp_path / "b", 4, 10.0)
    run_training(resumed, cfg_b.loop, cfg_b)
    assert torch.equal(_weights(full), _weights(resumed))
    with pytest.raises(ValueError, match="paired_l1 needs style-labelled pairs"):
        T.Config(paired_l1=1.0)


def test_quality_metric_is_differentiable_saves_and_drives_the_loss(tmp_path, unpaired, imagenet_mobilenet_v2):
    from apdraw.models.quality import QualityConfig, QualityMetric

    torch.manual_seed(0)
    m = QualityMetric(QualityConfig(resolution=64))
    x = (torch.rand(2, 1, 64, 64) * 2 - 1).requires_grad_(True)
    q = m(x, torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
    assert q.shape == (2,)
    q.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # G_A can be trained against it
    m.save(tmp_path / "m.safetensors")
    again = QualityMetric.from_pretrained(tmp_path / "m.safetensors")
    assert not any(p.requires_grad for p in again.parameters())  # frozen
    ucfg, files = unpaired
    cfg = tiny_config(tmp_path / "q", 2, data=ucfg, quality_metric=str(tmp_path / "m.safetensors"))
    run_training(T.Task(cfg, _unpaired_dataset(ucfg, files)), cfg.loop, cfg)
    import csv

    assert "quality" in list(csv.DictReader((tmp_path / "q" / "log.csv").open()))[-1]

    bad = tiny_config(tmp_path / "r", 2, data=ucfg, quality_metric=str(tmp_path / "missing.safetensors"))
    with pytest.raises(TrainingSetupError, match="quality_metric"):
        run_training(T.Task(bad, _unpaired_dataset(ucfg, files)), bad.loop, bad)


def test_style_teacher_is_frozen_differentiable_and_drives_the_loss(tmp_path, unpaired, imagenet_mobilenet_v2):
    from apdraw.models.style_classifier import StyleClassifier, default_weights

    teacher = StyleClassifier.from_pretrained(default_weights("train"))
    x = (torch.rand(1, 1, 64, 64) * 2 - 1).requires_grad_(True)
    teacher(x)[0, 0].backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # G_A gets a gradient through it
    ucfg, files = unpaired
    cfg = tiny_config(tmp_path / "t", 2, data=ucfg, style_teacher=1.0)
    task = T.Task(cfg, _unpaired_dataset(ucfg, files))
    run_training(task, cfg.loop, cfg)
    import csv

    row = list(csv.DictReader((tmp_path / "t" / "log.csv").open()))[-1]
    assert np.isfinite(float(row["g_teacher"])) and float(row["g_teacher"]) > 0
    assert not any(p.requires_grad for p in task.style_teacher.parameters())
    assert all(m is not task.style_teacher for m in task.modules.values())  # not trained, not checkpointed
    with pytest.raises(ValueError, match="style_teacher"):
        tiny_config(tmp_path / "u", 2, data=ucfg, style_teacher=-1.0)


def test_edge_network_replaces_the_dog_in_the_relaxed_cycle(tmp_path, unpaired, imagenet_mobilenet_v2):
    from apdraw.losses.qmupd import line_map, relaxed_cycle_loss
    from apdraw.models.linedetector import LineDetector, LineDetectorConfig

    ucfg, files = unpaired
    LineDetector(LineDetectorConfig(channels=(4, 4), in_channels=3)).save(tmp_path / "edge.safetensors")
    cfg = tiny_config(tmp_path / "e", 2, data=ucfg, edge_net=str(tmp_path / "edge.safetensors"))
    task = T.Task(cfg, _unpaired_dataset(ucfg, files))
    run_training(task, cfg.loop, cfg)
    assert isinstance(task.lines, T.EdgeLines)
    assert not task.lines.net.training and not any(p.requires_grad for p in task.lines.net.parameters())
    assert all(m is not task.lines.net for m in task.modules.values())  # frozen: not trained, not checkpointed
    photo = (torch.rand(1, 3, S, S) * 2 - 1).requires_grad_(True)
    lines = task.lines(photo)
    assert lines.shape == (1, 1, S, S) and 0 <= lines.min() and lines.max() <= 1
    lines.sum().backward()
    assert photo.grad.abs().sum() > 0  # G_B gets a gradient through it
    rec = torch.rand(1, 3, S, S) * 2 - 1
    with torch.no_grad():
        cycle = task._forward_cycle(photo.detach(), rec)
        assert torch.equal(cycle, relaxed_cycle_loss(photo.detach(), rec, task.perceptual, lines=task.lines))
        assert not torch.equal(cycle, relaxed_cycle_loss(photo.detach(), rec, task.perceptual, lines=line_map))
    LineDetector(LineDetectorConfig(channels=(4, 4))).save(tmp_path / "drawing_lines.safetensors")
    for bad_path, match in [("drawing_lines.safetensors", "reads drawings"), ("missing.safetensors", "edge_net")]:
        bad = tiny_config(tmp_path / "b", 2, data=ucfg, edge_net=str(tmp_path / bad_path))
        with pytest.raises(TrainingSetupError, match=match):
            run_training(T.Task(bad, _unpaired_dataset(ucfg, files)), bad.loop, bad)


def test_handcrafted_style_classifier_separates_textures_without_a_network():
    from apdraw.eval.style_check import HandcraftedStyleClassifier, handcrafted_features

    rng = np.random.default_rng(0)

    def texture(k: int) -> np.ndarray:  # thin lines, thick lines, gray pencil noise
        img = np.full((160, 160), 255, np.uint8)
        if k < 2:
            for _ in range(10):
                p = rng.integers(0, 160, 4)
                cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), 0, 1 + 5 * k)
            return img
        return rng.integers(90, 200, (160, 160)).astype(np.uint8)

    train = [(texture(k), k) for k in range(3) for _ in range(8)]
    test = [(texture(k), k) for k in range(3) for _ in range(4)]
    clf = HandcraftedStyleClassifier()
    with pytest.raises(RuntimeError, match="fit"):
        clf.predict([train[0][0]])
    clf.fit(clf.features([t for t, _ in train]), np.array([k for _, k in train]))
    assert (clf.predict([t for t, _ in test]) == np.array([k for _, k in test])).all()
    f = handcrafted_features(train[0][0])
    assert f.ndim == 1 and np.isfinite(f).all() and np.array_equal(f, handcrafted_features(train[0][0]))
    with pytest.raises(ValueError, match="labels"):
        clf.fit(np.zeros((4, 3)), np.zeros(3, int))


def test_cyclegan_baseline_switches(tmp_path, unpaired):
    """cycle=pixel, no truncation, no style loss, no local Ds: a plain CycleGAN (no MobileNetV2 needed)."""
    ucfg, files = unpaired
    cfg = tiny_config(tmp_path / "c", 2, data=ucfg, cycle="pixel", truncation=False, style_loss=False, local_discriminators=False)
    task = T.Task(cfg, _unpaired_dataset(ucfg, files))
    run_training(task, cfg.loop, cfg)
    import csv

    row = list(csv.DictReader((tmp_path / "c" / "log.csv").open()))[-1]
    assert not {"cycle_trunc", "g_cls", "d_cls", "g_local", "d_local"} & set(row) and float(row["cycle_a"]) > 0
    assert "D_local" not in task.modules
    with pytest.raises(ValueError, match="styles"):
        T.Config(data=UnpairedConfig(extra_styles=["npr"]))  # 4 styles, a 3-style generator
    with pytest.raises(ValueError, match="resolution"):
        T.Config(generator=TINY_G)  # the compact discriminator's 256 vs 64


def test_schedule_moves_lambda_a_to_truncation_over_schedule_steps():
    cfg = T.Config(schedule_steps=101)
    task = T.Task.__new__(T.Task)
    task.config = cfg
    w0, w_end, w_after = task._weights(1), task._weights(101), task._weights(5000)
    assert (w0.lambda_A, w0.lambda_A_trunc) == (5.0, 0.0)
    assert w_end.lambda_A == pytest.approx(5 * (1 - 0.9 * 199 / 300)) and w_end == w_after  # the original's epoch 200
    assert w_end.lambda_A_trunc == pytest.approx(2.985)


def test_the_configs_load(tmp_path):
    from apdraw.config import load_config
    from apdraw.models.layers import count_parameters
    from apdraw.models.qmupd import StyleGenerator

    root = Path(__file__).resolve().parents[1] / "src" / "apdraw" / "configs"
    fast = load_config(T.Config, root / "qmupd_fast.yaml")
    gpu = load_config(T.Config, root / "qmupd_gpu.yaml")
    pre = load_config(T.Config, root / "qmupd_pretrain.yaml")
    pre_fs2k = load_config(T.Config, root / "qmupd_pretrain_fs2k.yaml")
    from apdraw.train.tasks import linedetector as L

    edge = load_config(L.Config, root / "edgenet.yaml")
    assert edge.input == "photo" and edge.model.in_channels == 3
    assert fast.stage == gpu.stage == "unpaired" and pre.stage == pre_fs2k.stage == "pretrain"
    assert pre_fs2k.pretrain_data.source == "fs2k" and pre_fs2k.pretrain_data.sketch_type == -1 and pre_fs2k.generator.style_film
    assert fast.generator.resolution == 256 and gpu.generator.resolution == 512
    assert count_parameters(StyleGenerator(gpu.generator, init=False)) == 11_968_897  # SPEC B1.2's G_A


# --------------------------------------------------------------------------- the drawing style


def test_artist_style_parsing():
    from apdraw.registry import UnknownNameError
    from apdraw.styles import parse_artist_style, parse_style

    assert parse_artist_style("1") == [(0.0, 1.0, 0.0)]
    assert parse_artist_style("0.5,0.5,0") == [(0.5, 0.5, 0.0)]
    assert parse_artist_style("~1,2,0") == [(-1.0, 2.0, 0.0)]  # the original's '~' for a leading minus
    assert parse_artist_style([0.2, -0.3, 1]) == [(0.2, -0.3, 1.0)]
    assert parse_artist_style("all") is None
    for bad in ("3", "x", "1,2", "nan,0,0", "-1"):
        with pytest.raises(ValueError):
            parse_artist_style(bad)
    assert parse_style("qmupd:0.5,0.5,0") == ("qmupd", {"artist_style": "0.5,0.5,0"})
    assert parse_style("npr") == ("npr", {})
    with pytest.raises(UnknownNameError):
        parse_style("npr:1")
    with pytest.raises(UnknownNameError):
        parse_style("nope:1")


@pytest.fixture(scope="module")
def tiny_qmupd(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("q") / "tiny.safetensors"
    QMUPD(TINY_G).save(path)
    return path


def test_qmupd_style_draws_one_mix_or_all(tiny_qmupd):
    from apdraw.pipeline import PortraitPipeline
    from apdraw.styles import build_drawer, build_drawers

    from test_pipeline import EXAMPLES

    photo = EXAMPLES / "astronaut.png"
    one = PortraitPipeline.from_style("qmupd:1", tiny_qmupd)(photo)
    assert len(one) == 1 and one[0].image.shape == (512, 512) and one[0].variant == ""
    again = PortraitPipeline.from_style("qmupd", tiny_qmupd, artist_style=[0, 1, 0])(photo)
    assert np.array_equal(one[0].image, again[0].image)
    mixed = PortraitPipeline.from_style("qmupd:0.5,0.5,0", tiny_qmupd)(photo)
    assert not np.array_equal(mixed[0].image, one[0].image)
    every = PortraitPipeline.from_style("qmupd:all", tiny_qmupd)(photo)
    assert [d.variant for d in every] == ["_style0", "_style1", "_style2"]
    assert np.array_equal(every[1].image, one[0].image)
    assert set(build_drawers("qmupd:all", tiny_qmupd)) == {"_style0", "_style1", "_style2"}
    with pytest.raises(ValueError, match="build_drawers"):
        build_drawer("qmupd:all", tiny_qmupd)


def test_draw_command_writes_every_style_and_rejects_bad_ones(tmp_path, tiny_qmupd, capsys):
    from apdraw.cli import main

    from test_pipeline import EXAMPLES

    out = tmp_path / "o"
    assert main(["draw", str(EXAMPLES / "astronaut.png"), "-o", str(out), "--style", "qmupd:all", "--weights", str(tiny_qmupd)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["astronaut_style0.png", "astronaut_style1.png", "astronaut_style2.png"]
    assert main(["draw", str(EXAMPLES / "astronaut.png"), "-o", str(tmp_path / "p"), "--style", "qmupd:all", "--frame", "photo",
                 "--weights", str(tiny_qmupd)]) == 0  # fmt: skip
    assert len(list((tmp_path / "p").iterdir())) == 3
    for bad in ("qmupd:7", "npr:1", "qmupd:a,b,c"):
        with pytest.raises(SystemExit) as exc:
            main(["draw", str(EXAMPLES / "astronaut.png"), "-o", str(tmp_path / "x"), "--style", bad])
        assert exc.value.code == 2
        assert "Traceback" not in capsys.readouterr().err


def test_film_generator_starts_as_the_paper_one_and_loads_a_paper_init(tmp_path, unpaired):
    """style_film (ours): zero-initialised, so a paper G_A's weights give the same output; it warm-starts from one."""
    from apdraw.models.qmupd import StyleGenerator

    torch.manual_seed(0)
    paper = StyleGenerator(TINY_G)
    film = StyleGenerator(dataclasses.replace(TINY_G, style_film=True))
    film.load_state_dict({**film.state_dict(), **paper.state_dict()})
    x, s = torch.rand(2, 3, S, S) * 2 - 1, torch.tensor([[1.0, 0, 0], [0, 0.5, 0.5]])
    assert torch.allclose(film(x, s), paper(x, s))
    # A FiLM run initialised from a warm start without FiLM layers.
    _, files = unpaired
    pre = tiny_config(tmp_path / "pre", 1, stage="pretrain")
    run_training(T.Task(pre, PhotoDrawingPairs(files)), pre.loop, pre)
    cfg = tiny_config(tmp_path / "f", 1, stage="pretrain", init=str(tmp_path / "pre" / "checkpoints" / "latest.pt"),
                      generator=dataclasses.replace(TINY_G, style_film=True))  # fmt: skip
    task = T.Task(cfg, PhotoDrawingPairs(files))
    run_training(task, cfg.loop, cfg)
    assert "film.0.weight" in task.modules["G_A"].state_dict()
    # film_lr_mult (ours): the FiLM layers, and only they, train at lr x mult.
    cfg = dataclasses.replace(cfg, film_lr_mult=20.0, loop=dataclasses.replace(cfg.loop, out_dir=str(tmp_path / "m")))
    task = T.Task(cfg, PhotoDrawingPairs(files))
    run_training(task, cfg.loop, cfg)
    groups = task.optimizers["G"].param_groups
    film_ids = {id(p) for p in task.modules["G_A"].film.parameters()}
    assert [g["initial_lr"] for g in groups] == [cfg.lr, 20 * cfg.lr]
    assert {id(p) for p in groups[1]["params"]} == film_ids and not film_ids & {id(p) for p in groups[0]["params"]}
    with pytest.raises(ValueError, match="film_lr_mult"):
        dataclasses.replace(cfg, film_lr_mult=0.0)


def test_a_constant_style_map_is_erased_by_the_instance_norm_after_the_fuse_conv():
    """Why the paper's G_A barely reacts to its style (docs/QMUPD.md): conv of a constant map is constant
    away from the zero-padded border, and the instance norm right after removes constants per channel."""
    from apdraw.models.qmupd import StyleGenerator

    torch.manual_seed(0)
    g = StyleGenerator(TINY_G).eval()
    h = torch.randn(1, TINY_G.channels[-1], 64, 64)
    maps = [torch.eye(3)[k][None, :, None, None].expand(1, 3, 64, 64) for k in range(3)]
    fused = [g.fuse(torch.cat([h, m], 1)) for m in maps]
    diff = (fused[0] - fused[2]).abs().mean(1)[0]
    interior, border = diff[1:-1, 1:-1].mean(), torch.cat([diff[0], diff[-1], diff[:, 0], diff[:, -1]]).mean()
    assert interior < border / 20  # ~1 / 64 of the border effect leaks in through the norm statistics


def test_eval_table_keeps_a_method_that_only_some_styles_have():
    """The APDrawingGAN trained on one style is scored on that style only: its row appears there alone."""
    from conftest import script_module

    eval_qmupd = script_module("eval_qmupd")
    row = {"style_acc": 1.0, "style_acc_hc": 0.5, "chamfer": 2.0, "chamfer_dark": 3.0, "ssim": 0.5,
           "fid_mnv2": 60.0, "fid_mnv2_ratio": 1.5, "kid_mnv2": 0.01, "swd": 30.0,
           "fid_mnv2_floor": 40.0, "kid_mnv2_floor": 0.0}  # fmt: skip
    head = {"n": 3, "style_acc_ceiling": 1.0, "style_acc_hc_ceiling": 1.0, "swd_floor": 20.0}
    results = {0: {**head, "qmupd": row}, 1: {**head, "qmupd": row, eval_qmupd.OWN_STYLE: dict(row, chamfer=1.25)}}
    assert eval_qmupd.method_order(results) == ["qmupd", eval_qmupd.OWN_STYLE]
    text = eval_qmupd.table(results, eval_qmupd.method_order(results))
    style0, style1 = text.split("**Style 1**")
    assert eval_qmupd.OWN_STYLE not in style0
    assert f"| {eval_qmupd.OWN_STYLE} | 100% | 50% | 1.25 |" in style1
