"""SAGE's evidence and editing: `apdraw.eval.multiview`, the editing API of `apdraw.multiview`, and
scripts/eval_sage.py and scripts/sage_editing.py end to end, on a tiny random generator saved in the export format."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import script_module, tiny_sage_config

from apdraw.eval.multiview import (
    MAIN_CLASSES,
    compare_sets,
    corresponding_pixels,
    grouped,
    label_iou,
    pixel_ndc,
    pose_summary,
    rank,
    set_features,
    spearman,
    spread,
    view_consistency,
)
from apdraw.models.parser import CLASS_NAMES
from apdraw.models.sage import Cameras
from apdraw.multiview import FACE_PARTS, MultiViewGenerator, edit_semantic

REPO = Path(__file__).resolve().parents[1]
HAIR, SKIN, GLASSES = CLASS_NAMES.index("hair"), CLASS_NAMES.index("skin"), CLASS_NAMES.index("eyeglasses")


@pytest.fixture(autouse=True)
def _one_thread(_deterministic_threads):
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def weights(tiny_sage_weights) -> Path:
    return tiny_sage_weights


@pytest.fixture(scope="module")
def mv(weights) -> MultiViewGenerator:
    return MultiViewGenerator.from_pretrained(weights)


def _cam(yaw_deg: float, pitch_deg: float = 0.0) -> Cameras:
    t = lambda a: torch.tensor([math.pi / 2 + math.radians(a)], dtype=torch.float64)  # noqa: E731
    return Cameras.from_angles(t(yaw_deg), t(pitch_deg))


# --------------------------------------------------------------------------- the parts API


def test_render_parts_and_translate_are_render(mv):
    v = mv.render(3, -10)
    p = mv.render_parts(3, -10)
    assert np.array_equal(mv.translate(p.image, p.semantic), v.drawing)
    assert np.array_equal(p.labels, v.semantic) and np.array_equal(p.photo, v.photo)
    r = mv.generator.cfg.renderer.resolution
    assert p.depth.shape == (1, 1, r, r) and p.semantic.shape == (1, 19, mv.size, mv.size)
    # numpy and unbatched inputs give the same drawing
    assert np.array_equal(mv.translate(p.image[0].numpy(), p.semantic[0].numpy()), v.drawing)
    with pytest.raises(ValueError):
        mv.translate(p.image[0, 0], p.semantic)


# --------------------------------------------------------------------------- semantic edits


def _logits_of(labels: np.ndarray, seed: int = 0) -> torch.Tensor:
    """(19, H, W) logits whose argmax is ``labels`` (random values, the label's channel the largest)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(19, *labels.shape, generator=g)
    lab = torch.from_numpy(labels.astype(np.int64))
    x.scatter_(0, lab[None], x.max(0, keepdim=True).values + 1.0)
    return x


def _scene() -> np.ndarray:
    lab = np.zeros((48, 48), np.uint8)  # background
    lab[8:44, 10:38] = SKIN  # a face
    lab[2:14, 6:42] = HAIR  # hair on top
    lab[20:24, 14:34] = GLASSES  # glasses
    lab[21:23, 16:20] = CLASS_NAMES.index("l_eye")
    lab[30:34, 20:28] = CLASS_NAMES.index("u_lip")
    return lab


def test_edit_semantic_grows_shrinks_and_removes():
    lab = _scene()
    x = _logits_of(lab)
    hair = lab == HAIR
    grown = edit_semantic(x, grow_hair=3).argmax(0).numpy()
    assert (grown == HAIR).sum() > hair.sum() and (grown[hair] == HAIR).all()  # hair only grows
    protected = np.isin(lab, [CLASS_NAMES.index(c) for c in FACE_PARTS])
    assert np.array_equal(grown[protected], lab[protected])  # the inner face parts are kept
    # no pixel outside OpenCV's 7x7 elliptic disk (reach hypot(3, 1)) from the old hair became hair
    import cv2

    dist = cv2.distanceTransform((~hair).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    assert (dist[(grown == HAIR) & ~hair] <= math.hypot(3, 1) + 1e-3).all()

    shrunk = edit_semantic(x, grow_hair=-3).argmax(0).numpy()
    assert 0 < (shrunk == HAIR).sum() < hair.sum() and (lab[shrunk == HAIR] == HAIR).all()  # hair only shrinks
    freed = hair & (shrunk != HAIR)
    assert set(np.unique(shrunk[freed])) <= {0, SKIN}  # filled from the neighbours: background and skin
    assert np.array_equal(shrunk[~hair], lab[~hair])

    clean = edit_semantic(x, remove=("eyeglasses",)).argmax(0).numpy()
    assert not (clean == GLASSES).any() and (clean[lab == GLASSES] == SKIN).all()
    assert np.array_equal(clean[lab != GLASSES], lab[lab != GLASSES])

    # logits: the argmax is the edit, unchanged pixels keep theirs exactly, changed ones are a swap
    out = edit_semantic(x, grow_hair=3, remove=(GLASSES,))
    same = torch.from_numpy(out.argmax(0).numpy() == lab)
    assert torch.equal(out[:, same], x[:, same])
    assert torch.equal(out.sort(0).values, x.sort(0).values)  # a permutation of each pixel's values
    assert edit_semantic(x[None]).shape == (1, 19, 48, 48) and torch.equal(edit_semantic(x), x)
    for bad in (dict(remove=("skin",)), dict(remove=("nope",)), dict(grow_hair=1.5)):
        with pytest.raises(ValueError):
            edit_semantic(x, **bad)


def test_edited_map_redraws(mv):
    p = mv.render_parts(0, 0)
    d0 = mv.translate(p.image, p.semantic)
    d1 = mv.translate(p.image, edit_semantic(p.semantic, grow_hair=4))
    assert d1.shape == d0.shape and d1.dtype == np.uint8
    if (edit_semantic(p.semantic, grow_hair=4).argmax(1) != p.semantic.argmax(1)).any():
        assert not np.array_equal(d0, d1)


# --------------------------------------------------------------------------- view consistency


def test_consistency_is_one_for_the_same_view(mv):
    p = mv.render_parts(2, 10)
    f = mv.generator.cfg.renderer.focal
    r = view_consistency(p.labels, p.labels, p.depth, p.depth, p.cameras, p.cameras, f)
    assert r["pixel_agreement"] == 1.0 and r["miou"] == 1.0 and r["valid_fraction"] == 1.0
    # and for a yaw difference of 0 between two calls (the same view again)
    q = mv.render_parts(2, 10)
    assert view_consistency(p.labels, q.labels, p.depth, q.depth, p.cameras, q.cameras, f)["pixel_agreement"] == 1.0


def _sphere_view(yaw_deg: float, size: int, focal: float, radius: float = 0.1, far: float = 1.12):
    """Analytic depth and labels of a sphere at the origin seen from ``yaw_deg`` (decoded pixel rays, R = S):
    labels by the world x of the surface point (bands 0.04 wide), background 0 where a ray misses."""
    from apdraw.eval.multiview import pixel_rays

    cam = _cam(yaw_deg)
    d = pixel_rays(cam, size, size, focal)[0]
    o = cam.origin[0]
    b = d @ o
    disc = b * b - (o @ o - radius**2)
    hit = disc > 0
    t = torch.where(hit, -b - torch.sqrt(disc.clamp(min=0)), torch.full_like(b, far))
    x = (o + d * t[:, None])[:, 0]
    bands = torch.tensor([1, 2, 4, 6, 10, 13], dtype=torch.long)  # skin, nose, eye, brow, mouth, hair
    lab = torch.where(hit, bands[((x + radius) / 0.04).long().clamp(0, 5)], torch.zeros_like(bands[:1]))
    return t.reshape(size, size), lab.reshape(size, size).numpy().astype(np.uint8), cam


def test_consistency_on_a_known_scene():
    focal, s = 1 / math.tan(math.radians(6)), 96
    da, la, ca = _sphere_view(-5, s, focal)
    db, lb, cb = _sphere_view(10, s, focal)
    good = view_consistency(la, lb, da, db, ca, cb, focal)
    assert good["pixel_agreement"] > 0.97 and good["miou"] > 0.9  # one surface: only rounding at band edges
    assert 0.3 < good["valid_fraction"] < 1.0  # the far side and the background are left out
    # the same map pasted at the other view (a "2D sticker", not a turning head) disagrees
    sticker = view_consistency(la, la, da, db, ca, cb, focal)
    assert sticker["pixel_agreement"] < good["pixel_agreement"] - 0.1
    # a pixel lands where the geometry says: the sphere's centre point seen from both views
    c = corresponding_pixels(da, ca, cb, focal, s)
    mid = s // 2
    assert abs(c.rows[mid, mid] - mid) <= 1


def test_pixel_grid_and_label_iou():
    x = pixel_ndc(8, 8)
    assert torch.allclose(x, torch.linspace(-1, 1, 8, dtype=torch.float64))  # R = S: the renderer's own rays
    assert grouped(np.array([[4, 5, 11, 13, 0, 18]])).tolist() == [[3, 3, 5, 6, 0, 0]]
    lab = _scene()
    r = label_iou(lab, lab)
    assert r["miou"] == 1.0 and r["pixel_agreement"] == 1.0 and r["iou"]["nose"] is None
    other = lab.copy()
    other[lab == HAIR] = SKIN
    r = label_iou(other, lab)
    assert r["iou"]["hair"] == 0.0 and 0 < r["iou"]["skin"] < 1 and 0 <= r["miou"] < 1
    assert 0 < r["pixel_agreement"] < 1 and set(r["iou"]) == set(MAIN_CLASSES)


# --------------------------------------------------------------------------- a turning face


def test_spearman_and_pose_summary():
    assert spearman([1, 2, 3, 10], [0.1, 0.5, 0.7, 0.9]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert rank([3, 1, 3, 2]).tolist() == [3.5, 1.0, 3.5, 2.0]
    scipy_stats = pytest.importorskip("scipy.stats")
    a, b = np.random.default_rng(0).normal(size=(2, 30))
    b[:5] = b[5]  # ties
    assert spearman(a, b) == pytest.approx(scipy_stats.spearmanr(a, b)[0])
    s = pose_summary([-10, -10, 0, 0, 10, 10], [-8.0, None, 1.0, -1.0, 9.0, 12.0])
    assert s["detection_rate"] == pytest.approx(5 / 6) and s["spearman"] > 0.9 and 0.5 < s["slope"] < 1.5
    assert s["per_yaw"][-10.0] == {"detected": 1, "n": 2, "mean_estimate": -8.0}
    assert math.isnan(pose_summary([0, 10], [None, None])["spearman"])


# --------------------------------------------------------------------------- quality by view


def test_quality_metrics_in_range(imagenet_mobilenet_v2):
    from apdraw.eval.features import MobileNetV2Features

    ext = MobileNetV2Features(device="cpu", input_size=64)
    rng = np.random.default_rng(0)
    imgs = [np.clip(200 + rng.normal(0, 30, (32, 32)), 0, 255).astype(np.uint8) for _ in range(4)]
    other = [np.clip(80 + rng.normal(0, 60, (32, 32)), 0, 255).astype(np.uint8) for _ in range(4)]
    fa = set_features(imgs, [f"a{i}" for i in range(4)], ext)
    fb = set_features(other, [f"b{i}" for i in range(4)], ext)
    same = compare_sets(fa, fa)
    assert same["swd"] == 0.0 and same["sifid_mnv2"] == pytest.approx(0.0, abs=1e-6) and abs(same["kid_mnv2"]) < 0.05
    diff = compare_sets(fa, fb)
    assert diff["swd"] > 0 and diff["sifid_mnv2"] > 0 and diff["kid_mnv2"] > same["kid_mnv2"]
    assert diff["n_gen"] == diff["n_ref"] == 4
    assert spread([2.0, 3.0, 2.5]) == pytest.approx(1.5)


# --------------------------------------------------------------------------- the scripts


def _script(name: str):
    return script_module(name)


def test_eval_script_end_to_end(weights, tmp_path, monkeypatch, capsys, imagenet_mobilenet_v2, synthetic_drawings_dir):
    monkeypatch.setenv("APDRAW_SHARED_DATA", str(tmp_path / "no_data"))  # the real drawings are absent
    drawings = synthetic_drawings_dir
    doc = tmp_path / "SAGE.md"
    doc.write_text("# SAGE\n\n## Evidence\n\n<!-- sage-eval:start -->\n<!-- sage-eval:end -->\n")
    out, plot = tmp_path / "out", tmp_path / "img" / "q.png"
    rc = _script("eval_sage").main(["--weights", str(weights), "--seeds", "2", "--yaws", "-10,0,10", "--drawings-dir",
                                    str(drawings), "-o", str(out), "--plot", str(plot), "--doc", str(doc), "--write-doc",
                                    "--feature-size", "64"])  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().out
    assert "FS2K not found" in printed
    r = json.loads((out / "results.json").read_text())
    assert set(r["quality"]) == {"synthetic"} and set(r["quality"]["synthetic"]["per_yaw"]) == {"-10", "0", "10"}
    assert r["quality"]["synthetic"]["swd_spread"] >= 1.0 and r["seconds_per_view"] > 0
    assert set(r["consistency"]) == {"10", "15"} and 0 <= r["consistency"]["10"]["valid_fraction"] <= 1
    assert 0 <= r["parser"]["pooled"]["pixel_agreement"] <= 1
    if r["pose"] is not None:
        assert 0 <= r["pose"]["detection_rate"] <= 1
    assert plot.is_file() and (out / "evidence.md").is_file()
    text = doc.read_text()
    assert "**Targets**" in text and "rank correlation" in text and text.count("sage-eval:start") == 1


def test_editing_script_end_to_end(weights, tmp_path):
    out = tmp_path / "edit.png"
    rc = _script("sage_editing").main(["--weights", str(weights), "--style", f"other={weights}", "--grow", "2",
                                       "--search", "4", "--tile", "48", "--out", str(out)])  # fmt: skip
    assert rc == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[1] >= 5 * 48 and img.shape[0] > 6 * 48


def test_gallery_script_end_to_end(weights, tmp_path):
    out = tmp_path / "gallery.png"
    rc = _script("sage_gallery").main(["--weights", str(weights), "--style", f"other={weights}", "--seeds", "0,1",
                                       "--yaws=-10,0,10", "--tile", "40", "--out", str(out)])  # fmt: skip
    assert rc == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[1] == 3 * 40 and img.shape[0] > 2 * 3 * 40  # 2 seeds x (photo + 2 drawings) rows of tiles
