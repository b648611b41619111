"""APDrawingGAN: network sizes, min-pool blending, inference API, data adapters, training and exact resume."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from apdraw.data.paired import (
    AlignedPair,
    DataConfig,
    PairAugmentConfig as AugmentConfig,
    PairedDrawingDataset,
    PairRecord,
    align_pair,
    apdrawingdb_records,
    build_records,
)
from apdraw.data.split import select
from apdraw.face import TEMPLATE_512, landmarks_to_txt, local_boxes, txt_landmarks
from apdraw.losses.dt import DTLossConfig, exact_dt
from apdraw.models.apdrawinggan import (
    PARTS,
    APDrawingGAN,
    DiscriminatorConfig,
    GeneratorConfig,
    HierarchicalDiscriminator,
    HierarchicalGenerator,
    compact_config,
    full_config,
)
from apdraw.data.sampling import SampleKey
from apdraw.models.layers import count_parameters
from apdraw.parts import boxes_array, fit_boxes
from apdraw.styles import apdrawinggan_drawer, apdrawinggan_inputs
from apdraw.train.loop import LoopConfig, run_training
from apdraw.train.tasks import apdrawinggan as T


TINY_G = GeneratorConfig(
    resolution=256,
    global_channels=(4, 8, 8, 8, 8, 8, 8, 8),
    part_channels=(4, 8, 8),
    region_channels=(4, 8, 8, 8),
    fusion_channels=4,
    norm="batch",
)
TINY_D = DiscriminatorConfig(channels=(4, 8, 8, 8), local_channels=(4, 8, 8, 8), norm="batch")


def synthetic_pair(seed: int) -> AlignedPair:
    """A 512² 'photo' of coloured discs and its 'drawing': the discs' black outlines."""
    rng = np.random.default_rng(seed)
    photo = np.full((512, 512, 3), 235, np.uint8)
    drawing = np.full((512, 512), 255, np.uint8)
    for _ in range(6):
        c = tuple(int(v) for v in rng.integers(60, 450, 2))
        r = int(rng.integers(25, 70))
        cv2.circle(photo, c, r, tuple(int(v) for v in rng.integers(0, 160, 3)), -1)
        cv2.circle(drawing, c, r, 0, 5)
    fg = np.zeros((512, 512), np.uint8)
    cv2.ellipse(fg, (256, 300), (170, 230), 0, 0, 360, 255, -1)
    lm = (TEMPLATE_512 + rng.normal(0, 3, (5, 2))).astype(np.float32)
    return AlignedPair(photo, drawing, lm, fg)


@pytest.fixture(autouse=True)
def _one_thread(_deterministic_threads):
    """One torch thread: on a shared, oversubscribed 2-core machine two threads run ~10x slower."""
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("pairs")
    files = []
    for i in range(6):
        path = folder / f"pair{i}.npz"
        synthetic_pair(i).save(path)
        files.append(path)
    return files


# --------------------------------------------------------------------------- networks


def test_full_size_networks_match_the_original_parameter_counts():
    g_cfg, d_cfg = full_config()
    g = HierarchicalGenerator(g_cfg)
    # SPEC A1.2 [measured]: 54.41 M global, 1.448 M per part, 1.710 M hair/bg, 0.158 M fusion, 2.767 M per D.
    assert count_parameters(g.global_net) == pytest.approx(54.41e6, rel=1e-3)
    assert count_parameters(g.locals["eyel"]) == pytest.approx(1.448e6, rel=1e-3)
    assert count_parameters(g.locals["hair"]) == pytest.approx(1.710e6, rel=1e-3)
    assert count_parameters(g.fusion) == pytest.approx(0.158e6, rel=1e-2)
    d = HierarchicalDiscriminator(d_cfg)
    assert count_parameters(d.global_net) == pytest.approx(2.767e6, rel=1e-3)
    assert len(d.locals) == 6
    compact = HierarchicalGenerator(compact_config()[0])
    assert count_parameters(compact) * 2 < 16e6  # fp16 file under 16 MB


def boxes_for(lm: np.ndarray, size: int) -> torch.Tensor:
    b512 = torch.from_numpy(boxes_array(local_boxes(txt_landmarks(lm), 512)))[None]
    return fit_boxes(b512, 512, size)


def test_min_pool_blending_puts_each_local_output_in_its_region():
    g = HierarchicalGenerator(TINY_G).eval()

    class Const(nn.Module):
        def __init__(self, v):
            super().__init__()
            self.v = v

        def forward(self, x):
            return torch.full_like(x[:, :1], self.v)

    values = {"eyel": -0.9, "eyer": -0.7, "nose": -0.5, "mouth": -0.3, "hair": 0.2, "bg": 0.6}
    for k, v in values.items():
        g.locals[k] = Const(v)
    boxes = boxes_for(TEMPLATE_512, 256)
    fg = torch.zeros(1, 1, 256, 256)
    fg[..., 60:250, 50:210] = 1
    out = g(torch.zeros(1, 3, 256, 256), boxes, fg)
    local = out.local_out[0, 0]
    for i, p in enumerate(PARTS):
        x0, y0, x1, y1 = boxes[0, i].tolist()
        # Boxes may overlap (eyes and nose): the darker output wins there.
        assert local[y0:y1, x0:x1].min() == pytest.approx(values[p]) or local[y0:y1, x0:x1].max() <= values[p] + 1e-6
    assert local[100, 20] == pytest.approx(values["bg"])  # outside fg
    assert local[240, 128] == pytest.approx(values["hair"])  # fg, outside the boxes
    # The local nets saw -1 outside their region; their outputs are kept only inside it.
    assert out.regions["hair"][0, 0, 100, 20] == -1
    assert out.drawing.shape == (1, 1, 256, 256)


def test_fit_boxes_scales_and_keeps_boxes_inside():
    b = torch.tensor([[[-20, 10, 92, 90], [400, 420, 512, 500], [200, 200, 296, 296], [0, 0, 128, 80]]])
    out = fit_boxes(b, 512, 256)
    w, h = (out[..., 2] - out[..., 0]), (out[..., 3] - out[..., 1])
    assert w.tolist() == [[56, 56, 48, 64]] and h.tolist() == [[40, 40, 48, 40]]
    assert (out >= 0).all() and (out[..., 2:] <= 256).all()
    assert out[0, 2].tolist() == [100, 100, 148, 148]


def test_eval_is_deterministic_and_weights_round_trip(tmp_path):
    model = APDrawingGAN(TINY_G)
    photos = torch.randint(0, 256, (2, 3, 512, 512), dtype=torch.uint8)
    boxes = torch.from_numpy(np.stack([boxes_array(local_boxes(txt_landmarks(TEMPLATE_512)))] * 2))
    fg = torch.ones(2, 1, 512, 512)
    a, b = model.draw(photos, boxes, fg), model.draw(photos, boxes, fg)
    assert a.shape == (2, 512, 512) and a.dtype == torch.uint8 and torch.equal(a, b)
    path = tmp_path / "g.safetensors"
    model.save(path)
    loaded = APDrawingGAN.from_pretrained(path)
    assert loaded.cfg == TINY_G and not loaded.training
    c = loaded.draw(photos, boxes, fg)
    assert (a.int() - c.int()).abs().max() <= 3  # fp16 storage
    with pytest.raises(FileNotFoundError):
        APDrawingGAN.from_pretrained(tmp_path / "missing.safetensors")


def test_style_adapter_turns_pipeline_faces_into_model_inputs(tmp_path):
    model = APDrawingGAN(TINY_G)
    model.save(tmp_path / "tiny.safetensors")
    pair = synthetic_pair(3)
    masks = SimpleNamespace(boxes=local_boxes(txt_landmarks(pair.landmarks)), fg=pair.fg)
    faces = [SimpleNamespace(aligned=pair.photo, masks=masks)] * 3
    photos, boxes, fg = apdrawinggan_inputs(faces)
    assert photos.shape == (3, 3, 512, 512) and photos.dtype == torch.uint8
    assert boxes.shape == (3, 4, 4) and fg.shape == (3, 1, 512, 512) and set(fg.unique().tolist()) <= {0.0, 1.0}
    draw = apdrawinggan_drawer(tmp_path / "tiny.safetensors", batch_size=2)
    out = draw(faces)
    assert len(out) == 3 and out[0].shape == (512, 512) and out[0].dtype == np.uint8
    assert np.array_equal(out[0], out[2])
    with pytest.raises(ValueError, match="masks"):
        draw([SimpleNamespace(aligned=pair.photo, masks=None)])


def test_model_checks_input_shapes():
    model = APDrawingGAN(TINY_G)
    with pytest.raises(ValueError, match="photos: expected shape"):
        model.draw(torch.zeros(1, 4, 64, 64), torch.zeros(1, 4, 4, dtype=torch.int64), torch.ones(1, 1, 64, 64))
    with pytest.raises(ValueError, match="fg: expected shape"):
        model.draw(torch.zeros(1, 3, 64, 64), torch.zeros(1, 4, 4, dtype=torch.int64), torch.ones(1, 1, 32, 32))


# --------------------------------------------------------------------------- the shipped default model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_shipped_weights_are_the_default_style():
    from safetensors import safe_open

    from apdraw.models.apdrawinggan import DEFAULT_WEIGHTS
    from apdraw.styles import DEFAULT_STYLE

    assert DEFAULT_STYLE == "apdrawinggan"
    assert DEFAULT_WEIGHTS.is_file(), f"shipped weights missing: {DEFAULT_WEIGHTS}"
    assert DEFAULT_WEIGHTS.stat().st_size <= 40 * 2**20
    assert (DEFAULT_WEIGHTS.parent / "APDRAWINGGAN_MODEL_CARD.md").is_file()
    with safe_open(str(DEFAULT_WEIGHTS), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
        assert "F16" in dtypes and dtypes <= {"F16", "I64"}  # fp16 weights (plus BatchNorm step counters, if any)
        assert int(f.metadata()["train_step"]) > 0
    model = APDrawingGAN.from_pretrained()
    assert model.hierarchical and not model.training


def test_shipped_model_draws_a_photo_deterministically():
    from apdraw.face import FacePipeline
    from apdraw.io import load_image
    from apdraw.styles import build_drawer

    faces = FacePipeline()(load_image(EXAMPLES / "grace_hopper.jpg"), max_faces=1)
    draw = build_drawer("apdrawinggan")
    a, b = draw(faces)[0], draw(faces)[0]
    assert a.shape == (512, 512) and a.dtype == np.uint8 and np.array_equal(a, b)
    fg = np.asarray(faces[0].masks.fg) >= 128
    ink = a < 192
    # Strokes on the face and hair, near-white paper in the background.
    assert 0.03 < ink[fg].mean() < 0.5 and ink[~fg].mean() < ink[fg].mean() / 2


def test_shipped_model_beats_the_npr_engine_on_fs2k_validation(shared_data, tmp_path):
    """A regression check of the shipped weights on 12 held-out FS2K style-0 pairs (deterministic)."""
    from apdraw.data.paired import preprocess
    from apdraw.eval.metrics import chamfer_distance
    from apdraw.face import MediaPipeMasks
    from apdraw.npr import draw_portrait

    records, tag = build_records(DataConfig(root=str(shared_data / "fs2k" / "train"), sketch_type=0, split="val", max_items=12))
    pairs = [AlignedPair.load(f) for f in preprocess(records, tmp_path, tag, progress=False)]
    assert len(pairs) >= 10
    model = APDrawingGAN.from_pretrained()
    backend = MediaPipeMasks()
    learned, npr = [], []
    for p in pairs:
        boxes = torch.from_numpy(boxes_array(local_boxes(txt_landmarks(p.landmarks))))[None]
        fg = torch.from_numpy(p.fg >= 128).float()[None, None]
        drawing = model.draw(torch.from_numpy(p.photo).permute(2, 0, 1)[None], boxes, fg)[0].numpy()
        learned.append(chamfer_distance(drawing, p.drawing))
        masks = backend.masks(p.photo, p.landmarks)
        npr.append(chamfer_distance(draw_portrait(p.photo, masks.fg, masks.jaw, masks.extras.get("hair"), landmarks5=p.landmarks), p.drawing))
    assert np.mean(learned) < np.mean(npr), (np.mean(learned), np.mean(npr))


# --------------------------------------------------------------------------- data


def test_dataset_augmentation_flips_landmarks_and_swaps_eyes(pair_files):
    ds = PairedDrawingDataset(pair_files, 256, AugmentConfig(rotate_deg=0, scale_min=1, scale_max=1), DTLossConfig())
    plain = PairedDrawingDataset(pair_files, 256, AugmentConfig(enabled=False), DTLossConfig())
    ref = plain[0]
    seen_flip = False
    for seed in range(8):
        item = ds[SampleKey(0, seed)]
        if torch.equal(item["drawing"], ref["drawing"]):
            continue
        seen_flip = True
        assert torch.allclose(item["drawing"], ref["drawing"].flip(-1), atol=2 / 127.5)
        # The image-left eye box of the flipped face is the mirror of the right eye box.
        x0, _, x1, _ = item["boxes"][0].tolist()
        rx0, _, rx1, _ = ref["boxes"][1].tolist()
        assert abs((x0 + x1) / 2 - (256 - (rx0 + rx1) / 2)) <= 2
    assert seen_flip
    item = ds[SampleKey(1, 0)]
    assert set(item) == {"photo", "drawing", "fg", "boxes", "dt", "lines"}
    assert item["photo"].shape == (3, 256, 256) and -1 <= item["photo"].min() and item["photo"].max() <= 1
    # The exact DT belongs to the (augmented) drawing it comes with.
    d8 = ((item["drawing"][0].numpy() + 1) * 127.5).round().astype(np.uint8)
    assert np.allclose(item["dt"].numpy(), exact_dt(d8, DTLossConfig().at(256).cap))


def test_rotation_and_scale_move_the_landmark_boxes(pair_files):
    ds = PairedDrawingDataset(pair_files, 256, AugmentConfig(flip=False))
    plain = PairedDrawingDataset(pair_files, 256, AugmentConfig(enabled=False))
    moved = [not torch.equal(ds[SampleKey(2, s)]["boxes"], plain[2]["boxes"]) for s in range(4)]
    assert any(moved)
    assert ds[SampleKey(2, 7)]["photo"].equal(ds[SampleKey(2, 7)]["photo"])  # key-seeded


def test_apdrawingdb_layout_is_read_unchanged(tmp_path):
    pair = synthetic_pair(5)
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "landmark" / "ALL").mkdir(parents=True)
    (tmp_path / "mask" / "ALL").mkdir(parents=True)
    ab = np.concatenate([pair.photo, np.repeat(pair.drawing[..., None], 3, 2)], 1)
    cv2.imwrite(str(tmp_path / "data" / "train" / "img_1.png"), ab[..., ::-1])
    (tmp_path / "landmark" / "ALL" / "img_1.txt").write_text(landmarks_to_txt(pair.landmarks))
    cv2.imwrite(str(tmp_path / "mask" / "ALL" / "img_1.png"), pair.fg)
    recs = apdrawingdb_records(tmp_path)
    assert [r.name for r in recs] == ["img_1"] and recs[0].side_by_side
    out = align_pair(recs[0], pipeline=None)  # aligned data: no face pipeline needed
    assert np.array_equal(out.photo, pair.photo) and np.array_equal(out.drawing, pair.drawing)
    assert np.abs(out.landmarks - pair.landmarks).max() <= 0.5 + 1e-6
    assert np.array_equal(out.fg, pair.fg)


def test_split_is_deterministic_and_disjoint():
    recs = [PairRecord(f"n{i}", Path(f"{i}.jpg")) for i in range(200)]
    names = [r.name for r in recs]
    train, val = select(recs, names, 0.2, "train"), select(recs, names, 0.2, "val")
    assert 20 < len(val) < 60 and len(train) + len(val) == 200 and not {r.name for r in train} & {r.name for r in val}
    assert select(recs[::-1], names[::-1], 0.2, "val") == val[::-1]
    # An item's side depends on its name alone, not on the other items.
    assert select(recs[:10], names[:10], 0.2, "val") == [r for r in val if r in recs[:10]]


@pytest.mark.shared_data
def test_fs2k_sketch_type_filter(shared_data):
    recs, tag = build_records(DataConfig(root=str(shared_data / "fs2k" / "train"), sketch_type=0, split="all"))
    assert len(recs) == 357 and all(r.drawing.parent.name == "sketch" for r in recs) and tag == "fs2k-style0"
    assert len(build_records(DataConfig(root=str(shared_data / "fs2k" / "train"), sketch_type=-1, split="all"))[0]) == 1058


# --------------------------------------------------------------------------- training


def tiny_config(out: Path, steps: int, **loop) -> T.Config:
    return T.Config(
        stage="formal",
        generator=TINY_G,
        discriminator=TINY_D,
        lr=1e-3,
        loss=T.LossConfig(dt=DTLossConfig()),
        loop=LoopConfig(out_dir=str(out), steps=steps, batch_size=2, log_every=1, sample_every=steps, ckpt_every=steps, **loop),
    )


def test_lr_schedule_never_reaches_zero():
    total = 100
    factors = [T.lr_factor(s, total, 0.5) for s in range(total)]
    assert factors[:51] == [1.0] * 51
    assert all(a > b for a, b in zip(factors[50:], factors[51:]))
    assert factors[-1] > 0


def test_tiny_training_reduces_the_loss(tmp_path, pair_files):
    cfg = tiny_config(tmp_path, 20)
    task = T.Task(cfg, PairedDrawingDataset(pair_files, 256, AugmentConfig(enabled=False), cfg.loss.dt))
    run_training(task, cfg.loop, cfg)
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert len(rows) == 20 and {"dt_real2fake", "dt_fake2real", "l1_local", "gan_local"} <= set(rows[0])
    l1 = [float(r["l1"]) for r in rows]
    assert np.mean(l1[-5:]) < 0.8 * np.mean(l1[:5])
    assert float(rows[-1]["lr_G"]) > 0
    assert (tmp_path / "samples" / "step_0000020.png").exists()


def test_baseline_trains_without_local_terms(tmp_path, pair_files):
    cfg = dataclasses.replace(tiny_config(tmp_path, 2), hierarchical=False, stage="pretrain")
    task = T.Task(cfg, PairedDrawingDataset(pair_files, 256, AugmentConfig(enabled=False)))
    run_training(task, cfg.loop, cfg)
    row = next(csv.DictReader((tmp_path / "log.csv").open()))
    assert "l1_local" not in row and "dt_real2fake" not in row
    assert len(task.d.locals) == 0


def _params(task) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in task.modules["G"].parameters()])


def test_resume_is_exact(tmp_path, pair_files):
    def make(out: Path, steps: int):
        cfg = tiny_config(out, steps)
        cfg.loop.ckpt_every = 3
        cfg.decay_start = 1.0  # the lr schedule depends on loop.steps, which differs between the runs here
        return cfg, T.Task(cfg, PairedDrawingDataset(pair_files, 256, AugmentConfig(), cfg.loss.dt))

    cfg, full = make(tmp_path / "a", 6)
    run_training(full, cfg.loop, cfg)
    cfg, part = make(tmp_path / "b", 4)  # "killed" after step 4; the checkpoint is at step 3
    run_training(part, cfg.loop, cfg)
    torch.manual_seed(999)
    cfg, resumed = make(tmp_path / "b", 6)
    run_training(resumed, cfg.loop, cfg)
    assert torch.equal(_params(full), _params(resumed))
    a = [r["loss_g"] for r in csv.DictReader((tmp_path / "a" / "log.csv").open())]
    b = [r["loss_g"] for r in csv.DictReader((tmp_path / "b" / "log.csv").open())]
    assert a == b


def test_init_from_a_pretraining_checkpoint(tmp_path, pair_files):
    cfg = dataclasses.replace(tiny_config(tmp_path / "pre", 1), stage="pretrain")
    pre = T.Task(cfg, PairedDrawingDataset(pair_files, 256, AugmentConfig(enabled=False)))
    ckpt = run_training(pre, cfg.loop, cfg)
    cfg2 = dataclasses.replace(tiny_config(tmp_path / "formal", 1), init=str(ckpt))
    formal = T.Task(cfg2, PairedDrawingDataset(pair_files, 256, AugmentConfig(enabled=False), cfg2.loss.dt))
    from apdraw.train.loop import Context

    formal.build(Context(torch.device("cpu"), amp=False, channels_last=False))
    assert torch.equal(_params(pre), _params(formal))
    # A checkpoint exports to the shipped format and loads for inference.
    T.export(ckpt, tmp_path / "g.safetensors")
    model = APDrawingGAN.from_pretrained(tmp_path / "g.safetensors")
    assert model.cfg == TINY_G and model.hierarchical


# --------------------------------------------------------------------------- line detector


def test_line_detector_learns_thin_strokes(tmp_path):
    from apdraw.models.linedetector import LineDetector, LineDetectorConfig
    from apdraw.train.tasks import linedetector as L

    drawings = [synthetic_pair(i).drawing for i in range(4)]
    for d in drawings:  # add solid fills, which are ink but not lines
        cv2.circle(d, (256, 256), 60, 0, -1)
    cfg = L.Config(
        model=LineDetectorConfig(channels=(8, 8, 8)),
        resolution=128,
        lr=3e-3,
        loop=LoopConfig(out_dir=str(tmp_path), steps=40, batch_size=4, log_every=1, sample_every=40, ckpt_every=40),
    )
    ds = L.LineDataset(drawings, cfg.resolution, cfg.line_width, cfg.degrade)
    x, y = ds[SampleKey(0, 1)]
    assert x.shape == (1, 128, 128) and y.shape == (2, 128, 128)
    assert y[0].sum() > 0 and y[0, 64, 64] == 0  # the disc centre is ink but not a line
    task = L.Task(cfg, ds)
    ckpt = run_training(task, cfg.loop, cfg)
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    loss = [float(r["loss"]) for r in rows]
    assert np.mean(loss[-5:]) < 0.8 * np.mean(loss[:5])
    L.export(str(ckpt), str(tmp_path / "det.safetensors"))
    det = LineDetector.load(tmp_path / "det.safetensors")
    assert det.cfg.channels == (8, 8, 8) and not det.training
    assert L.load_line_detector(str(ckpt)).state_dict().keys() == det.state_dict().keys()


def test_photo_edge_network_learns_the_drawings_lines_from_the_photo(tmp_path, pair_files):
    """input=photo (ours, QMUPD's relaxed cycle): the pair's photo in, its drawing's line masks out."""
    from apdraw.models.linedetector import LineDetector, LineDetectorConfig
    from apdraw.train.tasks import linedetector as L

    cfg = L.Config(
        input="photo",
        model=LineDetectorConfig(channels=(8, 8, 8), in_channels=3),
        resolution=128,
        lr=3e-3,
        loop=LoopConfig(out_dir=str(tmp_path), steps=40, batch_size=4, log_every=1, sample_every=40, ckpt_every=40),
    )
    ds = L.LineDataset(pair_files, cfg.resolution, cfg.line_width, cfg.degrade, photo_input=True)
    for key in (SampleKey(0, 1), SampleKey(3, 7)):  # flips and warps keep photo and targets together
        x, y = ds[key]
        assert x.shape == (3, 128, 128) and y.shape == (2, 128, 128) and -1 <= x.min() and x.max() <= 1
        gray = x.mean(0).numpy()
        edges = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
        on_line = y[0].numpy() > 0.5
        assert edges[on_line].mean() > 3 * edges[~on_line].mean()  # the photo's disc edges lie under the lines
    run_training(L.Task(cfg, ds), cfg.loop, cfg)
    loss = [float(r["loss"]) for r in csv.DictReader((tmp_path / "log.csv").open())]
    assert np.mean(loss[-5:]) < 0.8 * np.mean(loss[:5])
    net = L.load_line_detector(str(tmp_path / "checkpoints" / "latest.pt"))
    assert net.cfg.in_channels == 3 and not net.training
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"):
        net(torch.zeros(1, 1, 128, 128))  # a drawing given to the photo network
    with pytest.raises(ValueError, match="in_channels=3"):
        L.Config(input="photo")  # the default model reads drawings
    with pytest.raises(ValueError, match="AlignedPair"):
        L.LineDataset([synthetic_pair(0).drawing], 128, 6.0, cfg.degrade, photo_input=True)
    with pytest.raises(ValueError, match="in_channels"):
        LineDetectorConfig(in_channels=2)


# --------------------------------------------------------------------------- EMA, validation, export command


def test_ema_generator_validation_and_the_export_command(tmp_path, pair_files, capsys):
    from apdraw.cli import main

    cfg = tiny_config(tmp_path / "run", 3, ema_decay=0.5, validate_every=3)
    data = PairedDrawingDataset(pair_files, 256, AugmentConfig(enabled=False), cfg.loss.dt)
    task = T.Task(cfg, data, val_dataset=PairedDrawingDataset(pair_files[:2], 256))
    ckpt = run_training(task, cfg.loop, cfg)
    row = next(csv.DictReader((tmp_path / "run" / "val.csv").open()))
    assert int(row["step"]) == 3 and float(row["l1"]) > 0 and float(row["chamfer"]) >= 0 and float(row["chamfer_dark"]) >= 0
    # The export is the EMA generator, not the live one.
    assert main(["export", "apdrawinggan", str(ckpt), str(tmp_path / "g.safetensors")]) == 0
    exported = APDrawingGAN.from_pretrained(tmp_path / "g.safetensors")
    ema = task.averaged("G").state_dict()
    live = task.modules["G"].state_dict()
    key = "global_net.net.0.weight" if "global_net.net.0.weight" in ema else next(k for k in ema if k.endswith("weight"))
    got = exported.generator.state_dict()[key]
    assert torch.allclose(got, ema[key].half().float()) and not torch.allclose(got, live[key].half().float())
    # --live: the optimised weights instead
    assert main(["export", "apdrawinggan", str(ckpt), str(tmp_path / "live.safetensors"), "--live"]) == 0
    got_live = APDrawingGAN.from_pretrained(tmp_path / "live.safetensors").generator.state_dict()[key]
    assert torch.allclose(got_live, live[key].half().float())
    capsys.readouterr()
    assert main(["export", "parser", str(ckpt), str(tmp_path / "p.safetensors"), "--live"]) == 2
    assert "keeps no EMA copy" in capsys.readouterr().err
    # Bad uses are usage errors with a clear message, not tracebacks.
    capsys.readouterr()
    assert main(["export", "apdrawinggan", str(tmp_path / "missing.pt"), str(tmp_path / "x.safetensors")]) == 2
    assert main(["export", "apdrawinggan", str(ckpt), str(tmp_path / "x.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_a_crafted_init_checkpoint_is_refused_by_apdraw_train(tmp_path, capsys, monkeypatch):
    import pickle

    from apdraw.cli import main

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"step": 0, "modules": {"G": Evil()}}))
    # The run's own latest.pt is user input too.
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "latest.pt").write_bytes(pickle.dumps({"step": 0, "modules": {"G": Evil()}}))
    args = ["train", "linedetector", f"loop.out_dir={run}", "data.source=folders", f"data.root={tmp_path}",
            f"data.drawing_dir={tmp_path}", "loop.batch_size=2"]
    monkeypatch.setattr("apdraw.train.tasks.linedetector.Task.__init__", _fake_linedetector_init)
    assert main(args) == 2
    assert "refused" in capsys.readouterr().err and not (tmp_path / "PWNED").exists()


def _fake_linedetector_init(self, cfg, dataset=None):
    """The line-detector task on synthetic drawings (no face pipeline, no data files)."""
    from apdraw.train.loop import TrainTask
    from apdraw.train.tasks import linedetector as L

    TrainTask.__init__(self)
    self.config = cfg
    self.dataset = L.LineDataset([synthetic_pair(i).drawing for i in range(2)], 64, cfg.line_width, cfg.degrade)
