"""Face parser: model, weights I/O, augmentation, dataset, training task, CLI and mask backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from apdraw.data import transforms as T
from apdraw.data.celebamask import (
    FLIP_LABELS,
    ParserAugmentConfig as AugmentConfig,
    CelebAMaskDataset,
    ParserAugment,
    canonical_sides,
    list_ids,
    read_label_map,
    split_ids,
)
from apdraw.models.parser import (
    DEFAULT_WEIGHTS,
    NUM_CLASSES,
    PALETTE,
    FaceParser,
    ParserArch,
    ParserNet,
    colorize,
    load_parser_net,
    resolve_sides,
    save_parser_net,
)
from apdraw.data.sampling import SampleKey
from apdraw.train.tasks.parser import confusion, dice_loss, iou_from_confusion

@pytest.fixture(autouse=True)
def _native_kernels():
    """One thread, native kernels: fast and stable on busy shared 2-core machines.

    oneDNN spends seconds creating kernels for every new tensor shape, and two
    OpenMP threads on a loaded 2-core machine stall (measured 100+ s for a test
    that takes 1 s single-threaded).
    """
    import warnings

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
        with torch.backends.mkldnn.flags(enabled=False):
            yield
    torch.set_num_threads(threads)


SMALL = ParserArch(decoder_channels=(16, 16, 8, 8), input_size=64)


def _tiny_parser(seed: int = 0) -> FaceParser:
    torch.manual_seed(seed)
    return FaceParser(ParserNet(SMALL, pretrained_encoder=False))


def _synthetic_face(size: int = 64, mirrored: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A cartoon face: labels with hair, skin, eyes (4 on the image right unless mirrored), nose, lips."""
    lab = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    c = size / 2
    lab[((yy - c * 0.9) ** 2 + (xx - c) ** 2) < (0.45 * size) ** 2] = 13
    lab[((yy - c) ** 2 / 1.3 + (xx - c) ** 2) < (0.32 * size) ** 2] = 1
    left, right = (4, 5) if not mirrored else (5, 4)
    lab[int(0.4 * size) : int(0.46 * size), int(0.6 * size) : int(0.7 * size)] = left
    lab[int(0.4 * size) : int(0.46 * size), int(0.3 * size) : int(0.4 * size)] = right
    lab[int(0.48 * size) : int(0.6 * size), int(0.47 * size) : int(0.53 * size)] = 2
    lab[int(0.66 * size) : int(0.7 * size), int(0.4 * size) : int(0.6 * size)] = 11
    lab[int(0.7 * size) : int(0.74 * size), int(0.4 * size) : int(0.6 * size)] = 12
    img = PALETTE[lab].copy()
    return img, lab


def _write_dataset(root: Path, n: int = 6, size: int = 64) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        img, lab = _synthetic_face(size, mirrored=i % 3 == 0)
        Image.fromarray(img).save(root / "images" / f"id{i:02d}.jpg", quality=95)
        mask = Image.fromarray(lab, mode="P")
        mask.putpalette(PALETTE.ravel().tolist())  # palette PNG, as CelebAMask-HQ ships them
        mask.save(root / "masks" / f"id{i:02d}.png")
    return root


# ----------------------------------------------------------------------------- model


def test_net_output_shape_and_frozen_blocks():
    net = ParserNet(SMALL, pretrained_encoder=False)
    net.freeze_encoder_blocks(4)
    net.train()
    assert not net.encoder.features[3].training and net.encoder.features[4].training
    assert not any(p.requires_grad for p in net.encoder.features[:4].parameters())
    out = net(torch.rand(2, 3, 64, 96))
    assert out.shape == (2, NUM_CLASSES, 64, 96)


def test_parse_any_size_returns_label_map_of_input_size():
    parser = _tiny_parser()
    for h, w in ((50, 80), (97, 61), (64, 64)):
        img = np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8)
        labels = parser.parse(img)
        assert labels.shape == (h, w) and labels.dtype == np.uint8
        assert labels.max() < NUM_CLASSES
    with pytest.raises(ValueError):
        parser.parse(np.zeros((10, 10), np.uint8))


def test_safetensors_round_trip_fp16(tmp_path):
    parser = _tiny_parser(1)
    path = tmp_path / "p.safetensors"
    save_parser_net(parser.net, path, half=True, extra={"note": "test"})
    loaded = FaceParser(load_parser_net(path))
    assert loaded.net.arch == SMALL
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    a, b = parser.logits(img), loaded.logits(img)
    assert torch.allclose(a, b, atol=2e-2 * float(a.abs().max()) + 1e-3)
    with pytest.raises(FileNotFoundError):
        load_parser_net(tmp_path / "missing.safetensors")


def test_colorize_uses_palette():
    labels = np.array([[0, 1], [13, 18]], np.uint8)
    col = colorize(labels)
    assert col.shape == (2, 2, 3)
    assert (col[1, 0] == PALETTE[13]).all() and (col[0, 0] == 0).all()


# ----------------------------------------------------------------------------- augmentation


def test_hflip_swaps_left_right_classes():
    img, lab = _synthetic_face()
    fimg, flab = T.hflip(img, lab, FLIP_LABELS)
    # The eye labelled 4 (image right) moves to the image left and is renamed... back to 4's partner.
    assert (flab[:, ::-1] == FLIP_LABELS[lab]).all()
    assert (fimg == img[:, ::-1]).all()
    xs4 = np.nonzero(flab == 4)[1].mean()
    xs5 = np.nonzero(flab == 5)[1].mean()
    assert xs4 > xs5  # the convention (person's left on the image right) survives the flip


def test_affine_matrix_maps_centre_and_rotates():
    m = T.affine_matrix((100, 200), 50, scale=1.0, angle_deg=90.0, shift=(0.1, 0.0))
    centre = m @ np.array([100.0, 50.0, 1.0])
    assert np.allclose(centre, [25 + 5, 25])
    # A point right of the centre goes up after a counter-clockwise 90° turn.
    p = m @ np.array([120.0, 50.0, 1.0])
    assert p[1] < centre[1] - 4 and abs(p[0] - centre[0]) < 1e-6


def test_augment_is_deterministic_and_valid():
    img, lab = _synthetic_face(128)
    aug = ParserAugment(64, AugmentConfig(reframe=1.0, reframe_scale=(0.4, 0.5), jitter=1.0, blur=1.0, jpeg=1.0))
    a = aug(img, lab, np.random.default_rng(5), background_source=(img, lab))
    b = aug(img, lab, np.random.default_rng(5), background_source=(img, lab))
    c = aug(img, lab, np.random.default_rng(6), background_source=(img, lab))
    assert a[0].shape == (64, 64, 3) and a[1].shape == (64, 64) and a[0].dtype == np.uint8
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    assert not (a[0] == c[0]).all()
    assert set(np.unique(a[1])) <= set(np.unique(lab))
    # Shrunk to under half the frame: much of the frame is new background.
    assert (a[1] == 0).mean() > 0.5


def test_canonical_sides_fixes_mirrored_masks():
    _, lab = _synthetic_face()
    _, mirrored = _synthetic_face(mirrored=True)
    assert (canonical_sides(lab) == lab).all()
    assert (canonical_sides(mirrored) == lab).all()


def test_resolve_sides_relabels_by_geometry():
    import cv2

    _, lab = _synthetic_face(128)
    _, mirrored = _synthetic_face(128, mirrored=True)
    assert (resolve_sides(lab) == lab).all()
    assert (resolve_sides(mirrored) == lab).all()
    # Both eyes called "left": the one on the image left becomes the person's right.
    both_left = lab.copy()
    both_left[lab == 5] = 4
    assert (resolve_sides(both_left) == lab).all()
    # A face turned upside down: the nose->mouth axis points up, so sides follow it.
    upside = cv2.rotate(lab, cv2.ROTATE_180)
    assert (resolve_sides(np.where(np.isin(upside, (4, 5)), 4, upside).astype(np.uint8)) == upside).all()
    # No nose: nothing to measure against, labels unchanged.
    no_nose = np.where(both_left == 2, 1, both_left).astype(np.uint8)
    assert (resolve_sides(no_nose) == no_nose).all()


# ----------------------------------------------------------------------------- data set


def test_dataset_reads_palette_masks_and_splits(tmp_path):
    root = _write_dataset(tmp_path / "cm")
    ids = list_ids(root)
    assert len(ids) == 6
    train, val = split_ids(ids, 2)
    assert len(val) == 2 and not set(train) & set(val)
    assert split_ids(ids, 2) == (train, val)
    assert read_label_map(root / "masks" / "id01.png").max() == 13
    ds = CelebAMaskDataset(root, ids, size=32, train=True)
    item = ds[SampleKey(0, 123)]
    assert item["image"].shape == (3, 32, 32) and item["labels"].shape == (32, 32)
    assert 0 <= float(item["image"].min()) and float(item["image"].max()) <= 1
    assert torch.equal(ds[SampleKey(0, 123)]["image"], item["image"])
    # id00 is stored mirrored; the loader puts it in the common convention.
    _, lab0 = ds.pair(0)
    assert np.nonzero(lab0 == 4)[1].mean() > np.nonzero(lab0 == 5)[1].mean()
    with pytest.raises(FileNotFoundError):
        list_ids(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- losses / metrics


def test_dice_and_iou():
    y = torch.zeros(1, 8, 8, dtype=torch.long)
    y[0, 1:7, 1:7] = 4
    perfect = torch.nn.functional.one_hot(y, NUM_CLASSES).permute(0, 3, 1, 2).float() * 50
    assert float(dice_loss(perfect, y)) < 1e-3
    wrong = torch.zeros_like(perfect)
    wrong[:, 0] = 50
    assert float(dice_loss(wrong, y)) > 0.9
    pred = np.array([[0, 1], [1, 1]])
    gt = np.array([[0, 0], [1, 1]])
    iou = iou_from_confusion(confusion(pred, gt, 3))
    assert iou[0] == pytest.approx(0.5) and iou[1] == pytest.approx(2 / 3) and np.isnan(iou[2])


# ----------------------------------------------------------------------------- training + export + CLI


def test_train_export_and_parse_cli(tmp_path):
    from apdraw.cli import main
    from apdraw.train.loop import LoopConfig, run_training
    from apdraw.train.tasks.parser import Config, Task, export

    root = _write_dataset(tmp_path / "cm", n=6)
    cfg = Config(
        loop=LoopConfig(
            out_dir=str(tmp_path / "run"), steps=3, batch_size=2, log_every=1, sample_every=3, ckpt_every=3, threads=1
        ),
        data_root=str(root),
        n_val=2,
        size=64,
        decoder_channels=(16, 16, 8, 8),
        pretrained_encoder=False,
        warmup_steps=1,
    )
    ckpt = run_training(Task(cfg), cfg.loop, config=cfg)
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert len(log) == 4 and "dice" in log[0]
    assert (tmp_path / "run" / "samples" / "step_0000003.png").exists()
    weights = export(ckpt, tmp_path / "parser.safetensors")

    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(_synthetic_face(80)[0][:, :70]).save(inputs / "a.png")
    Image.fromarray(_synthetic_face(64)[0]).save(inputs / "b.jpg")
    (inputs / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    code = main(["parse", str(inputs), "-o", str(out), "--weights", str(weights)])
    assert code == 1  # one bad file, the rest done
    lab = np.asarray(Image.open(out / "a.png"))
    assert lab.shape == (80, 70) and lab.max() < NUM_CLASSES
    col = np.asarray(Image.open(out / "a_color.png"))
    assert col.shape == (80, 70, 3) and (col == PALETTE[lab]).all()
    assert (out / "b.png").exists() and not (out / "broken.png").exists()


# ----------------------------------------------------------------------------- mask backend


def test_parser_mask_backend_with_oracle_parser():
    """With a parser that returns the true labels, the masks are exactly the classes' regions."""
    from apdraw.face.parser_backend import ParserMasks, jaw_from_face

    img, lab = _synthetic_face(256)

    class Oracle(FaceParser):
        def __init__(self) -> None:
            pass

        def parse(self, image: np.ndarray) -> np.ndarray:
            return lab

    lm = np.array([[89.0, 110], [166, 110], [128, 140], [105, 175], [151, 175]])
    masks = ParserMasks(parser=Oracle()).masks(img, lm)
    assert masks.fg.dtype == np.uint8 and set(np.unique(masks.fg)) <= {0, 255}
    assert ((masks.fg > 0) == (lab > 0)).all()
    assert (masks.extras["hair"] == (lab == 13)).all() and (masks.extras["skin"] == (lab == 1)).all()
    # Eye 5 (the person's right) is on the image left: it is part "eyel", dilated.
    assert masks.parts["eyel"][lab == 5].all() and masks.parts["eyel"].sum() > (lab == 5).sum()
    assert not masks.parts["eyel"][lab == 4].any()
    assert masks.parts["mouth"][np.isin(lab, (11, 12))].all()
    assert masks.face_oval[lab == 2].all() and not masks.face_oval[lab == 13].any()
    jaw = jaw_from_face(masks.face_oval, 110.0)
    assert jaw is not None and (np.diff(jaw[:, 0]) > 0).all() and (jaw[:, 1] > 110).all()


# ----------------------------------------------------------------------------- shipped weights


def test_face_pipeline_with_parser_backend_on_a_real_photo():
    """Grace Hopper (public domain, ships with matplotlib) through MTCNN + alignment + the shipped parser."""
    import matplotlib

    from apdraw.face import FacePipeline
    from apdraw.io import load_image

    photo = load_image(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    pipe = FacePipeline(mask_backend="parser")
    face = pipe(photo, max_faces=1)[0]
    masks = face.masks
    lm = np.round(face.landmarks5_aligned).astype(int)
    assert masks.parts["eyel"][lm[0, 1], lm[0, 0]] and masks.parts["eyer"][lm[1, 1], lm[1, 0]]
    assert masks.parts["nose"][lm[2, 1], lm[2, 0]]
    assert masks.fg[lm[2, 1], lm[2, 0]] == 255 and masks.fg[5, 5] == 0  # template corner: white padding
    for x in (lm[0, 0], lm[1, 0]):  # cheeks, below the eyes at nose height
        assert masks.extras["skin"][lm[2, 1] - 7 : lm[2, 1] + 8, x - 7 : x + 8].mean() > 0.7
    assert masks.parts["mouth"][(lm[3, 1] + lm[4, 1]) // 2, (lm[3, 0] + lm[4, 0]) // 2]
    # She wears a uniform cap and glasses; the cap covers her hair.
    assert masks.extras["hat"][: lm[0, 1] - 60].mean() > 0.1
    assert masks.extras["eyeglasses"].sum() > 500
    assert masks.face_oval[lm[2, 1], lm[2, 0]] and masks.jaw is not None
    parser = pipe.mask_backend
    assert parser.last_labels is not None and parser.last_labels.shape == face.aligned.shape[:2]



@pytest.mark.shared_data
def test_shipped_weights_on_held_out_faces(shared_data):
    if not DEFAULT_WEIGHTS.exists():
        pytest.fail(f"shipped weights missing: {DEFAULT_WEIGHTS}")
    from apdraw.train.tasks.parser import evaluate

    root = shared_data / "celebamask_mini"
    _, val = split_ids(list_ids(root), 100)
    ds = CelebAMaskDataset(root, val[:8], train=False)
    result = evaluate(FaceParser.from_pretrained(), ds)
    iou = result["iou"]
    assert DEFAULT_WEIGHTS.stat().st_size <= 15 * 2**20
    # Far above chance on every large region; a broken model or class order fails this.
    assert iou[0] > 0.8 and iou[1] > 0.75 and iou[13] > 0.6
    assert result["target_miou"] > 0.5
