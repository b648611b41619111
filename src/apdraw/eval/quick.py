"""Light scores for validation during training: the suite's paired metrics and FID/KID on the mnv2 proxy.

Same definitions as ``apdraw eval`` (no logic of its own): paired metrics come
from :func:`apdraw.eval.runner.paired_scores` (luminance, reference aspect with
the longer side 512), features from the extractor after
:func:`apdraw.eval.features.prepare`, FID and KID from
:mod:`apdraw.eval.distribution` with :class:`~apdraw.eval.runner.EvalSettings`'
KID defaults. FSIM, LPIPS, SIFID and SWD are left out to keep it quick.

Use :class:`QuickScorer` in a training loop (the references' features are
computed once, in the constructor); :func:`quick_scores` is the one-call form,
which reuses the scorer of its previous call when the references are the same.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Sequence

import numpy as np

from apdraw.eval.distribution import fid_from_features, kid_from_features
from apdraw.eval.features import FeatureExtractor, prepare
from apdraw.eval.runner import EvalSettings, paired_scores

PAIRED = ("chamfer", "chamfer_dark", "ssim", "ink_far")
_SETTINGS = EvalSettings(metrics=())  # the suite's paired size and KID subset rule
BATCH = 16  # images per forward pass


@functools.lru_cache(maxsize=1)
def default_extractor() -> FeatureExtractor:
    """The suite's ``mnv2`` extractor (MobileNetV2, 256x256, cuda when available), built once per process.

    Raises:
        FileNotFoundError: the MobileNetV2 ImageNet weights are not installed.
    """
    from apdraw.eval.features import MobileNetV2Features

    return MobileNetV2Features()


class QuickScorer:
    """Scores sets of drawings against fixed references; the references' features are computed once.

    Args:
        refs: N >= 2 reference drawings, (H, W) uint8 gray (or (H, W, 3) uint8), 255 = paper.
        floor_refs: optional M >= 2 other real drawings (disjoint from `refs`, e.g.
            training drawings) for the real-vs-real floor. FID is biased upward at
            small N, so give as many as `refs` for a floor comparable with the scores.
        extractor: a :class:`~apdraw.eval.features.FeatureExtractor`; default
            :func:`default_extractor`. Result keys keep the ``_mnv2`` names whatever it is.
    """

    def __init__(self, refs: Sequence[np.ndarray], floor_refs: Sequence[np.ndarray] | None = None,
                 extractor: FeatureExtractor | None = None):
        if len(refs) < 2:
            raise ValueError(f"need at least 2 reference drawings (FID/KID), got {len(refs)}")
        self.refs = list(refs)
        self.extractor = extractor if extractor is not None else default_extractor()
        self.ref_features = self.features(self.refs)
        self.floor: dict[str, float] = {}
        if floor_refs is not None:
            floor = self.features(list(floor_refs))
            self.floor = {"fid_mnv2_floor": fid_from_features(self.ref_features, floor),
                          "kid_mnv2_floor": self._kid(self.ref_features, floor)}

    def features(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, D) float64 pooled features of N drawings, resized by the suite's rule."""
        size = self.extractor.input_size
        return np.concatenate([self.extractor(prepare(images[i:i + BATCH], size)).pooled
                               for i in range(0, len(images), BATCH)])

    @staticmethod
    def _kid(a: np.ndarray, b: np.ndarray) -> float:
        return kid_from_features(a, b, _SETTINGS.kid_subset_size, _SETTINGS.kid_subsets, _SETTINGS.seed)[0]

    def __call__(self, preds: Sequence[np.ndarray]) -> dict[str, float]:
        """Score predictions paired with the references (same order; each is resized to its reference's size).

        Returns:
            Means over the pairs of ``chamfer`` and ``chamfer_dark`` (px at 512, >= 0),
            ``ssim`` ([-1, 1]) and ``ink_far`` ([0, 1]); ``fid_mnv2`` (>= 0) and
            ``kid_mnv2`` (unbiased, about 0 or slightly negative for matching
            sets) of predictions vs references. With floor references also
            ``fid_mnv2_floor``, ``kid_mnv2_floor`` (references vs floor) and
            ``fid_mnv2_ratio`` = fid_mnv2 / fid_mnv2_floor (NaN when the floor is 0).
        """
        if len(preds) != len(self.refs):
            raise ValueError(f"{len(preds)} predictions for {len(self.refs)} references")
        per_pair = [paired_scores(p, r, list(PAIRED), _SETTINGS.paired_long_side) for p, r in zip(preds, self.refs)]
        out = {n: float(np.mean([s[n] for s in per_pair])) for n in PAIRED}
        pred_features = self.features(list(preds))
        out["fid_mnv2"] = fid_from_features(pred_features, self.ref_features)
        out["kid_mnv2"] = self._kid(pred_features, self.ref_features)
        if self.floor:
            out.update(self.floor)
            floor = self.floor["fid_mnv2_floor"]
            out["fid_mnv2_ratio"] = out["fid_mnv2"] / floor if floor > 0 else float("nan")
        return out


def _digest(images: Sequence[np.ndarray] | None) -> str | None:
    if images is None:
        return None
    h = hashlib.blake2b(digest_size=16)
    for im in images:
        a = np.ascontiguousarray(im)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.data)
    return h.hexdigest()


_last: tuple[Any, QuickScorer] | None = None  # (key, scorer) of the previous quick_scores call


def quick_scores(preds: Sequence[np.ndarray], refs: Sequence[np.ndarray],
                 floor_refs: Sequence[np.ndarray] | None = None,
                 extractor: FeatureExtractor | None = None) -> dict[str, float]:
    """One-call :class:`QuickScorer`: ``QuickScorer(refs, floor_refs, extractor)(preds)``.

    The scorer (with the references' and floor's features) is kept for the next
    call when `refs` and `floor_refs` have the same content (hashed) and the
    extractor is the same object, so repeated validation calls only pay for the
    predictions. Shapes and returned keys: see :meth:`QuickScorer.__call__`.
    """
    global _last
    ext = extractor if extractor is not None else default_extractor()
    key = (_digest(refs), _digest(floor_refs), id(ext))
    if _last is None or _last[0] != key:
        _last = (key, QuickScorer(refs, floor_refs, ext))
    return _last[1](preds)
