"""Properties of the evaluation metrics: identity, symmetry, monotone growth with degradation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from apdraw.eval.distribution import fid_from_features, frechet_distance, gaussian_stats, kid_from_features
from apdraw.eval.catalog import DEFAULT_METRICS, metric_info
from apdraw.eval.metrics import chamfer_directed, chamfer_distance, fsim, ink_far_fraction, ssim, stroke_mask
from apdraw.eval.phasecong import phase_congruency
from apdraw.eval.runner import paired_scores
from apdraw.eval.sets import halves, subsample
from apdraw.eval.swd import SWDConfig, swd_descriptors, swd_from_descriptors


def drawing(seed: int, size: int = 128, n_lines: int = 12) -> np.ndarray:
    """A synthetic line drawing: dark anti-aliased strokes on white, (size, size) uint8."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size), 255, np.uint8)
    for _ in range(n_lines):
        p, q = rng.integers(4, size - 4, 2), rng.integers(4, size - 4, 2)
        cv2.line(img, tuple(map(int, p)), tuple(map(int, q)), 0, int(rng.integers(1, 3)), cv2.LINE_AA)
    cv2.circle(img, (size // 2, size // 2), size // 4, 0, 1, cv2.LINE_AA)
    return img


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma) if sigma > 0 else img


def noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def is_increasing(values: list[float]) -> bool:
    return all(b > a for a, b in zip(values, values[1:]))


# ------------------------------------------------------------------ Chamfer


def test_chamfer_exact_for_parallel_lines():
    a = np.full((64, 64), 255, np.uint8)
    b = a.copy()
    a[8:56, 20] = 0
    b[8:56, 27] = 0
    # Every stroke pixel of one line is exactly 7 px from the other line.
    assert chamfer_directed(a, b) == pytest.approx(7.0)
    assert chamfer_distance(a, b) == pytest.approx(7.0)


def test_chamfer_identity_symmetry_and_displacement():
    img = drawing(1)
    assert chamfer_distance(img, img) == 0.0
    other = drawing(2)
    assert chamfer_distance(img, other) == pytest.approx(chamfer_distance(other, img))
    shifts = [chamfer_distance(img, np.roll(img, d, axis=1)) for d in (1, 2, 4, 8)]
    assert is_increasing(shifts)
    # Directed distances are not symmetric: a sparse drawing is close to a dense superset.
    dense = np.minimum(img, other)
    assert chamfer_directed(img, dense) == 0.0
    assert chamfer_directed(dense, img) > 0.0


def test_chamfer_input_forms_and_threshold():
    img = drawing(3)
    as_float = img.astype(np.float32) / 255.0
    rgb = np.repeat(img[..., None], 3, axis=2)
    tensor = torch.from_numpy(as_float)[None]  # (1, H, W)
    shifted = np.roll(img, 3, axis=0)
    ref = chamfer_distance(img, shifted)
    assert chamfer_distance(as_float, shifted.astype(np.float32) / 255.0) == pytest.approx(ref)
    assert chamfer_distance(rgb, shifted) == pytest.approx(ref)
    assert chamfer_distance(tensor, shifted) == pytest.approx(ref)
    gray = np.full((8, 8), 100, np.uint8)
    assert stroke_mask(gray).all() and not stroke_mask(gray, threshold=0.3).any()


def test_chamfer_empty_conventions_and_shape_check():
    white = np.full((32, 48), 255, np.uint8)
    img = white.copy()
    img[10, 10] = 0
    assert chamfer_distance(white, white) == 0.0
    assert chamfer_directed(white, img) == 0.0
    assert chamfer_directed(img, white) == pytest.approx(np.hypot(32, 48))
    with pytest.raises(ValueError, match="differ in size"):
        chamfer_distance(img, np.full((32, 40), 255, np.uint8))


def test_chamfer_dark_ignores_light_strokes():
    # A light-gray stroke (150 of 255 = 0.59) is a stroke at 0.75 but not at 0.5.
    ref = np.full((512, 512), 255, np.uint8)
    ref[50:450, 100] = 0
    pred = ref.copy()
    pred[50:450, 300] = 150
    scores = paired_scores(pred, ref, ["chamfer", "chamfer_dark"])
    assert scores["chamfer"] == pytest.approx(50.0)  # (half the pixels at 0, half at 200 px) / 2 directions
    assert scores["chamfer_dark"] == 0.0
    # Threshold comparison is strict: 127 is dark (< 0.5), 128 is not.
    assert stroke_mask(np.uint8([[127, 128]]), 0.5).tolist() == [[True, False]]


def _lines(columns: dict[int, tuple[int, int]], value: int = 0, size: int = 512) -> np.ndarray:
    """White (size, size) image with vertical 1-px lines: column -> (first row, end row)."""
    img = np.full((size, size), 255, np.uint8)
    for x, (r0, r1) in columns.items():
        img[r0:r1, x] = value
    return img


def test_ink_far_fraction():
    ref = _lines({100: (50, 450)}, value=150)  # a light artist stroke: a stroke at the default 0.75
    assert ink_far_fraction(_lines({100: (100, 300)}), ref) == 0.0  # dark ink on the stroke
    assert ink_far_fraction(_lines({120: (100, 300)}), ref) == 1.0  # 20 px away
    assert ink_far_fraction(_lines({100: (100, 200), 120: (200, 300)}), ref) == 0.5
    assert ink_far_fraction(_lines({108: (100, 300)}), ref) == 0.0  # exactly 8 px: not "more than 8"
    assert ink_far_fraction(_lines({109: (100, 300)}), ref) == 1.0
    blank = _lines({})
    assert ink_far_fraction(blank, ref) == 0.0  # no dark pixel
    assert ink_far_fraction(_lines({120: (100, 300)}, value=150), ref) == 0.0  # light ink is not "dark"
    assert ink_far_fraction(_lines({100: (100, 300)}), blank) == 1.0  # no reference stroke at all
    assert ink_far_fraction(ref, ref) == 0.0 and ink_far_fraction(blank, blank) == 0.0


def test_ink_far_radius_is_in_pixels_at_512():
    # At 256 px the lines are 7 px apart (within 8 px natively), i.e. 14 px at the suite's 512.
    ref, pred = _lines({100: (40, 200)}, size=256), _lines({107: (40, 200)}, size=256)
    assert ink_far_fraction(pred, ref) == 0.0
    assert paired_scores(pred, ref, ["ink_far"])["ink_far"] == 1.0


def test_new_metrics_are_registered():
    for name in ("chamfer_dark", "ink_far"):
        info = metric_info(name)
        assert info.kind == "paired" and info.higher_is_better is False and name in DEFAULT_METRICS


# ------------------------------------------------------------------ SSIM / FSIM / phase congruency


def test_ssim_properties():
    img, other = drawing(4, 96), drawing(5, 96)
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img, other) == pytest.approx(ssim(other, img))
    assert is_increasing([-ssim(img, blur(img, s)) for s in (0.5, 1, 2, 4)])
    assert is_increasing([-ssim(img, noisy(img, s)) for s in (5, 20, 60)])


def test_fsim_properties():
    img, other = drawing(6, 96), drawing(7, 96)
    assert fsim(img, img) == pytest.approx(1.0)
    assert fsim(img, other) == pytest.approx(fsim(other, img))
    blurred = [fsim(img, blur(img, s)) for s in (0.5, 1, 2, 4)]
    assert is_increasing([-v for v in blurred]) and 0 < blurred[-1] < 1
    assert is_increasing([-fsim(img, noisy(img, s)) for s in (5, 20, 60)])
    white = np.full((64, 64), 255, np.uint8)
    assert fsim(white, white) == 1.0


def test_fsim_downsamples_large_images_like_the_reference():
    # 512 px -> factor 2: a 512 image and its 2x2 block copy of a 256 image score the same
    # against each other's own copies (both see the same 256 image after the box filter).
    small = drawing(8, 256)
    big = np.kron(small, np.ones((2, 2), np.uint8))
    shifted_small = np.roll(small, 2, axis=1)
    shifted_big = np.kron(shifted_small, np.ones((2, 2), np.uint8))
    assert fsim(big, shifted_big) == pytest.approx(fsim(small, shifted_small), abs=1e-9)


def test_phase_congruency_is_high_on_lines_and_contrast_invariant():
    img = np.full((64, 64), 200.0)
    img[:, 32] = 50.0
    pc = phase_congruency(img)
    assert pc.min() >= 0 and pc.max() <= 1
    assert pc[:, 32].mean() > 0.5 > pc[:, 5].mean()
    assert np.allclose(phase_congruency(img * 3.0), pc, atol=1e-3)


# ------------------------------------------------------------------ FID / KID


def test_frechet_distance_matches_closed_form():
    # 1-D Gaussians: (m1 - m2)^2 + (s1 - s2)^2.
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-1.0]), np.array([[9.0]])) == pytest.approx(
        4.0 + 1.0)
    # Diagonal covariances: sum over dimensions.
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 4.0])
    assert frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(1.0)


def test_fid_identity_symmetry_growth_and_low_rank_path():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 64))
    b = rng.normal(size=(30, 64)) * 1.3 + 0.2
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-8)
    assert fid_from_features(a, b) == pytest.approx(fid_from_features(b, a), rel=1e-9)
    # N < D uses the sample-space formula; it must equal the covariance formula.
    assert fid_from_features(a, b) == pytest.approx(frechet_distance(*gaussian_stats(a), *gaussian_stats(b)), rel=1e-6)
    base = rng.normal(size=(200, 8))
    shifts = [fid_from_features(base, base + d) for d in (0.1, 0.3, 1.0)]
    assert is_increasing(shifts)
    assert shifts[-1] == pytest.approx(8 * 1.0**2, rel=1e-6)  # pure mean shift: |d|^2 per dimension


def test_kid_properties():
    rng = np.random.default_rng(1)
    m, d = 60, 16
    a = rng.normal(size=(m, d))
    # The unbiased estimator is 0 only in expectation: for a set against itself it is
    # exactly -2/m (mean diagonal - mean off-diagonal kernel value).
    k = (a @ a.T / d + 1) ** 3
    off = (k.sum() - np.trace(k)) / (m * (m - 1))
    assert kid_from_features(a, a)[0] == pytest.approx(-2.0 / m * (np.trace(k) / m - off))
    # Independent samples: ~0 for one distribution, growing with a mean shift.
    same_dist = kid_from_features(a, rng.normal(size=(m, d)))[0]
    shifted = [kid_from_features(a, rng.normal(size=(m, d)) + s)[0] for s in (0.5, 1.0, 2.0)]
    assert abs(same_dist) < 0.2 * shifted[0]
    assert is_increasing(shifted)
    b = rng.normal(size=(m, d)) + 0.3
    assert kid_from_features(a, b)[0] == pytest.approx(kid_from_features(b, a)[0])
    # Subsets: deterministic for a seed, std reported.
    m1, s1 = kid_from_features(a, b, subset_size=20, n_subsets=10, seed=3)
    m2, s2 = kid_from_features(a, b, subset_size=20, n_subsets=10, seed=3)
    assert (m1, s1) == (m2, s2) and s1 > 0


# ------------------------------------------------------------------ SWD


def _descs(images, prefix="img", cfg=SWDConfig(resolution=64, patches_per_image=64, dirs_per_repeat=32)):
    return [swd_descriptors(im, f"{prefix}{i}", cfg) for i, im in enumerate(images)], cfg


def test_swd_identity_symmetry_and_blur_growth():
    images = [drawing(s, 64) for s in range(6)]
    da, cfg = _descs(images)
    assert len(da[0]) == cfg.levels() == 3  # 64, 32, 16
    mean, levels = swd_from_descriptors(da, da, cfg)
    assert mean == 0.0 and levels == [0.0, 0.0, 0.0]
    db, _ = _descs([drawing(s + 10, 64) for s in range(6)])
    assert swd_from_descriptors(da, db, cfg)[0] == pytest.approx(swd_from_descriptors(db, da, cfg)[0])
    growth = [swd_from_descriptors(da, _descs([blur(im, s) for im in images])[0], cfg)[0] for s in (0.7, 1.5, 3)]
    assert is_increasing(growth)


def test_swd_patch_positions_depend_on_key_not_order():
    cfg = SWDConfig(resolution=64, patches_per_image=16)
    img = drawing(0, 64)
    a = swd_descriptors(img, "x", cfg)
    assert all(np.array_equal(p, q) for p, q in zip(a, swd_descriptors(img, "x", cfg)))
    assert not np.array_equal(a[0], swd_descriptors(img, "y", cfg)[0])


# ------------------------------------------------------------------ deterministic subsets


def test_subsample_and_halves_are_deterministic_and_disjoint():
    keys = [f"k{i:03d}" for i in range(41)]
    assert subsample(keys, 10) == subsample(list(reversed(keys)), 10)
    assert len(subsample(keys, 10)) == 10 and subsample(keys, 100) == sorted(keys)
    a, b = halves(keys)
    assert len(a) == len(b) == 20 and not set(a) & set(b)
    assert halves(keys) == halves(sorted(keys, reverse=True))
