"""apdraw.eval.quick: the light in-training scores (paired metrics + FID/KID on the mnv2 proxy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apdraw.eval.distribution import kid_from_features
from test_eval_metrics import drawing

KEYS = {"chamfer", "chamfer_dark", "ssim", "ink_far", "fid_mnv2", "kid_mnv2"}
FLOOR_KEYS = {"fid_mnv2_floor", "kid_mnv2_floor", "fid_mnv2_ratio"}


@pytest.fixture(scope="module")
def tiny():
    """MobileNetV2 at 64x64: the real weights, small inputs, quick on CPU."""
    from apdraw.eval.features import MobileNetV2Features

    try:
        return MobileNetV2Features("cpu", input_size=64)
    except FileNotFoundError as exc:
        pytest.skip(f"MobileNetV2 ImageNet weights not installed: {exc}")


def test_identical_sets(tiny):
    from apdraw.eval.quick import QuickScorer

    refs = [drawing(s, 96) for s in range(6)]
    scorer = QuickScorer(refs, extractor=tiny)
    got = scorer([r.copy() for r in refs])
    assert set(got) == KEYS and all(math.isfinite(v) for v in got.values())
    assert got["chamfer"] == 0.0 and got["chamfer_dark"] == 0.0 and got["ink_far"] == 0.0
    assert got["ssim"] == pytest.approx(1.0)
    assert got["fid_mnv2"] == pytest.approx(0.0, abs=1e-6)  # same features: 0 up to rounding
    # KID of a set with itself is the unbiased estimator's exact, slightly negative value.
    assert got["kid_mnv2"] == pytest.approx(kid_from_features(scorer.ref_features, scorer.ref_features)[0])
    assert got["kid_mnv2"] <= 0.0


def test_different_sets_and_floor(tiny):
    from apdraw.eval.quick import QuickScorer, quick_scores

    refs = [drawing(s, 96) for s in range(6)]
    preds = [np.roll(drawing(s + 20, 96, n_lines=30), 5, axis=1) for s in range(6)]
    floor = [drawing(s + 40, 96) for s in range(6)]
    got = quick_scores(preds, refs, floor_refs=floor, extractor=tiny)
    assert set(got) == KEYS | FLOOR_KEYS and all(math.isfinite(v) for v in got.values())
    assert got["chamfer"] > 0 and got["chamfer_dark"] > 0 and 0 < got["ink_far"] <= 1 and got["ssim"] < 0.9
    assert got["fid_mnv2"] > 0 and got["fid_mnv2_floor"] > 0
    assert got["fid_mnv2_ratio"] == pytest.approx(got["fid_mnv2"] / got["fid_mnv2_floor"])
    # The one-call form reuses its scorer for the same references and gives the class's numbers.
    from apdraw.eval import quick

    cached = quick._last[1]
    assert quick_scores(preds, [r.copy() for r in refs], floor_refs=floor, extractor=tiny) == got
    assert quick._last[1] is cached
    assert QuickScorer(refs, floor, tiny)(preds) == pytest.approx(got)
    without = quick_scores(preds, refs, extractor=tiny)
    assert set(without) == KEYS and quick._last[1] is not cached
    assert without["fid_mnv2"] == pytest.approx(got["fid_mnv2"])


def test_input_checks(tiny):
    from apdraw.eval.quick import QuickScorer

    with pytest.raises(ValueError, match="at least 2"):
        QuickScorer([drawing(0, 64)], extractor=tiny)
    scorer = QuickScorer([drawing(0, 64), drawing(1, 64)], extractor=tiny)
    with pytest.raises(ValueError, match="3 predictions for 2 references"):
        scorer([drawing(0, 64)] * 3)


def test_package_exports():
    import apdraw.eval as ev

    assert callable(ev.quick_scores) and ev.QuickScorer.__name__ == "QuickScorer"
