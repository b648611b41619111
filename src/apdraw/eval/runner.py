"""`evaluate`: every requested metric for one or more prediction folders against one reference folder.

Protocol (what the reports state):

* Paired metrics (Chamfer, far ink, SSIM, FSIM, LPIPS_mnv2, SIFID*) use every prediction
  whose file name matches a reference. Both images are brought to the
  reference's aspect with its longer side 512 (exactly 512x512 for APDrawing);
  LPIPS_mnv2 and SIFID use their networks' square input sizes.
* Distribution metrics (FID*, KID*, SWD) use a fixed sample: the matched keys
  (or, for unpaired folders, each folder's keys), capped at ``max_samples`` by a
  deterministic hash order. N is reported with every value.
* Real-vs-real floor: the reference sample is split into two halves A and B (hash
  order); each distribution metric is reported for reference A vs reference B,
  and, at the same N, for the predictions of A vs reference B. SIFID's floor is
  the mean SIFID between the i-th drawings of A and B (different people).
* Every image is resized with the one rule of :mod:`apdraw.eval.imageprep`.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from apdraw import __version__
from apdraw.eval import metrics as pm
from apdraw.eval.catalog import DEFAULT_METRICS, PROXY_EXTRACTOR, STANDARD_EXTRACTOR, MetricInfo, metric_info
from apdraw.eval.distribution import fid_from_features, frechet_distance, gaussian_stats, kid_from_features
from apdraw.eval.features import perceptual_distance
from apdraw.eval.imageprep import paired_size, resize_u8
from apdraw.eval.sets import EvalInputError, halves, image_set, match_keys, subsample
from apdraw.eval.swd import SWDConfig, swd_descriptors, swd_from_descriptors
from apdraw.io import ImageLoadError, load_image, to_gray


@dataclass(frozen=True)
class EvalSettings:
    """How to evaluate. Defaults are the documented protocol (docs/EVALUATION.md)."""

    metrics: tuple[str, ...] = DEFAULT_METRICS
    paired_long_side: int = 512
    max_samples: int = 1000  # cap of the distribution-metric sample
    kid_subset_size: int = 1000
    kid_subsets: int = 100
    swd: SWDConfig = field(default_factory=SWDConfig)
    inception_weights: str | None = None
    device: str | None = None
    allow_unmatched: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for m in self.metrics:
            metric_info(m)  # raises UnknownNameError (a ValueError) for unknown names
        if self.max_samples < 4:
            raise ValueError("max_samples must be at least 4 (the floor needs two halves of 2)")


@dataclass
class _Entry:
    """Per-image features: pooled vectors and SIFID statistics per extractor, SWD descriptors."""

    pooled: dict[str, np.ndarray] = field(default_factory=dict)
    early: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    swd: list[np.ndarray] | None = None
    stages: list[Any] = field(default_factory=list)  # MobileNetV2 maps for LPIPS_mnv2; never cached


class _Features:
    """Lazily built feature networks; one forward pass per image and extractor."""

    def __init__(self, infos: list[MetricInfo], settings: EvalSettings, extractors: dict[str, Any]):
        self.settings = settings
        self.pooled_ext = sorted({i.extractor for i in infos if i.kind == "distribution" and i.extractor})
        self.early_ext = sorted({i.extractor for i in infos if i.name.startswith("sifid") and i.extractor})
        self.want_swd = any(i.name == "swd" for i in infos)
        self.want_lpips = any(i.name == "lpips_mnv2" for i in infos)
        self.extractors = dict(extractors)
        for name in set(self.pooled_ext) | set(self.early_ext) | ({PROXY_EXTRACTOR} if self.want_lpips else set()):
            if name not in self.extractors:
                self.extractors[name] = _build_extractor(name, settings)

    def analyse(self, image: np.ndarray, key: str, pooled: bool, early: bool, stages: bool) -> _Entry:
        """Features of one (H, W, 3) uint8 image; `key` seeds the SWD patch positions."""
        from apdraw.eval.features import prepare

        entry = _Entry()
        names = set(self.pooled_ext if pooled else ()) | set(self.early_ext if early else ())
        if stages and self.want_lpips:
            names.add(PROXY_EXTRACTOR)
        for name in sorted(names):
            ext = self.extractors[name]
            f = ext(prepare([image], ext.input_size))
            if pooled and name in self.pooled_ext:
                entry.pooled[name] = f.pooled[0]
            if early and name in self.early_ext:
                entry.early[name] = gaussian_stats(f.early[0])
            if stages and name == PROXY_EXTRACTOR:
                entry.stages = f.stages
        if pooled and self.want_swd:
            entry.swd = swd_descriptors(image, key, self.settings.swd)
        return entry


# Images whose shorter side at the paired evaluation size is smaller cannot be scored
# (SSIM's 11x11 window, FSIM's downsampling, the feature networks' strides).
MIN_EVAL_SIDE = 32


def _build_extractor(name: str, settings: EvalSettings) -> Any:
    from apdraw.eval.features import InceptionFeatures, MobileNetV2Features

    if name == PROXY_EXTRACTOR:
        return MobileNetV2Features(settings.device)
    if name == STANDARD_EXTRACTOR:
        return InceptionFeatures(settings.inception_weights, settings.device)
    raise EvalInputError(f"no feature extractor named {name!r}; pass it to evaluate(extractors=...)")


# The network-free paired metrics, called as f(prediction, reference) on luminance at the paired size.
PAIRED_FUNCS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "chamfer": pm.chamfer_distance,
    "chamfer_dark": functools.partial(pm.chamfer_distance, threshold=pm.DARK_THRESHOLD),
    "ink_far": pm.ink_far_fraction,
    "ssim": pm.ssim,
    "fsim": pm.fsim,
}


def paired_scores(pred: np.ndarray, ref: np.ndarray, names: list[str], long_side: int = 512) -> dict[str, float]:
    """The network-free paired metrics among `names` for one pair, as the suite computes them.

    Both images, (H, W) or (H, W, 3) uint8, are resized to the reference's aspect
    with the longer side `long_side` (:func:`apdraw.eval.imageprep.paired_size`)
    and reduced to luminance; pixel units (Chamfer, the far-ink radius) are then
    pixels at that size. Names without a function in :data:`PAIRED_FUNCS` are skipped.
    """
    size = paired_size(ref.shape, long_side)
    r = to_gray(resize_u8(ref, size))
    p = to_gray(resize_u8(pred, size))
    return {n: PAIRED_FUNCS[n](p, r) for n in names if n in PAIRED_FUNCS}


def _summary(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "median": float(np.median(v)), "std": float(v.std()), "n": int(v.size)}


class _Progress:
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, items: list, desc: str):
        if not self.enabled or not items:
            return items
        from tqdm import tqdm

        return tqdm(items, desc=desc, unit="img", file=sys.stderr, leave=False)


def evaluate(
    preds: dict[str, str | Path],
    ref: str | Path,
    photos: str | Path | None = None,
    settings: EvalSettings | None = None,
    groups: dict[str, str] | None = None,
    extractors: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate prediction folders against a reference folder.

    Args:
        preds: method name -> folder of its drawings.
        ref: folder of the reference (artist) drawings; files pair with predictions by name.
        photos: optional folder of the input photos (only shown in reports).
        settings: metrics and protocol; :class:`EvalSettings` defaults when None.
        groups: optional image key -> group label (e.g. a drawing style); paired
            metrics are then also averaged per group.
        extractors: extra feature extractors by name (see :class:`apdraw.eval.features.FeatureExtractor`),
            used by metrics named ``fid_<name>``, ``kid_<name>``, ``sifid_<name>``.
        progress: show tqdm progress bars on stderr.

    Returns:
        A JSON-serialisable dict (the content of metrics.json; layout in docs/EVALUATION.md).

    Raises:
        EvalInputError: empty or missing folders, no matching names, unknown extractor.
    """
    settings = settings or EvalSettings()
    if not preds:
        raise EvalInputError("no prediction folder given")
    infos = [metric_info(m) for m in settings.metrics]
    paired_names = [i.name for i in infos if i.kind == "paired"]
    dist_infos = [i for i in infos if i.kind == "distribution"]
    ref_set = image_set(ref, "reference")
    pred_sets = {name: image_set(folder, name) for name, folder in preds.items()}
    photo_set = image_set(photos, "photo") if photos is not None else None
    feats = _Features(infos, settings, extractors or {})
    bar = _Progress(progress)

    skipped: dict[str, str] = {}
    bad_ref: set[str] = set()

    def load(path: Path) -> np.ndarray | None:
        key = str(path)
        if key in skipped:
            return None
        try:
            image = load_image(path)
            w, h = paired_size(image.shape, settings.paired_long_side)
            if min(w, h) < MIN_EVAL_SIDE:
                raise ImageLoadError(f"{path}: {image.shape[1]}x{image.shape[0]} is too narrow to score: "
                                     f"{w}x{h} at the evaluation size, under {MIN_EVAL_SIDE} px a side")
            return image
        except (ImageLoadError, OSError) as exc:
            skipped[key] = str(exc)
            print(f"apdraw eval: skipping unreadable image: {exc}", file=sys.stderr)
            return None

    ref_cache: dict[str, _Entry] = {}  # reference features, shared by all methods

    def ref_entry(key: str, image: np.ndarray, stages: bool = False) -> _Entry:
        """The reference's features; cached (without stage maps) when the key is in a sample."""
        if key in ref_cache and not stages:
            return ref_cache[key]
        entry = feats.analyse(image, key, pooled=True, early=True, stages=stages)
        ref_cache.setdefault(key, dataclasses.replace(entry, stages=[]))
        return entry

    methods: dict[str, Any] = {}
    floors: dict[tuple[str, ...], dict[str, Any]] = {}
    for name, pset in pred_sets.items():
        # Matched mode: predictions pair with references by name (required by
        # paired metrics; used whenever every prediction has a reference).
        keys = match_keys(pset, ref_set, settings.allow_unmatched) if paired_names else []
        matched = bool(paired_names) or set(pset.paths) <= set(ref_set.paths)
        if matched:
            pred_sample = ref_sample = subsample(keys or pset.keys(), settings.max_samples)
        else:
            n = min(len(pset), len(ref_set), settings.max_samples)
            pred_sample, ref_sample = subsample(pset.keys(), n), subsample(ref_set.keys(), n)
        want_dist = set(pred_sample) if dist_infos else set()
        want_ref = set(ref_sample) if (dist_infos or feats.early_ext) else set()

        per_image: dict[str, dict[str, float]] = {}
        pred_entries: dict[str, _Entry] = {}
        for key in bar(keys if paired_names else pred_sample, name):
            pred = load(pset.paths[key])
            if pred is None:
                continue
            pe = feats.analyse(pred, key, pooled=key in want_dist, early=bool(paired_names), stages=bool(paired_names))
            if paired_names:
                refimg = load(ref_set.paths[key])
                if refimg is None:
                    bad_ref.add(key)
                    continue
                re_ = ref_entry(key, refimg, stages=feats.want_lpips)
                scores = paired_scores(pred, refimg, paired_names, settings.paired_long_side)
                if feats.want_lpips:
                    scores["lpips_mnv2"] = float(perceptual_distance(pe.stages, re_.stages)[0])
                for ext in feats.early_ext:
                    scores[_sifid_name(ext)] = frechet_distance(*pe.early[ext], *re_.early[ext])
                per_image[key] = {m: scores[m] for m in paired_names}
            if key in want_dist:
                pred_entries[key] = dataclasses.replace(pe, stages=[])
        for key in bar(sorted(want_ref - set(ref_cache) - bad_ref), "reference"):
            image = load(ref_set.paths[key])
            if image is None:
                bad_ref.add(key)
            else:
                ref_entry(key, image)

        method: dict[str, Any] = {
            "folder": str(pset.root),
            "n_images": len(pset),
            "n_pairs": len(per_image),
            "paired": {m: _summary([v[m] for v in per_image.values()]) for m in paired_names if per_image},
        }
        if groups and per_image:
            by_group: dict[str, list[str]] = {}
            for key in per_image:
                by_group.setdefault(str(groups.get(key, "(none)")), []).append(key)
            method["groups"] = {
                g: {"n": len(ks), **{m: float(np.mean([per_image[k][m] for k in ks])) for m in paired_names}}
                for g, ks in sorted(by_group.items())
            }
        if matched:
            pred_ok = ref_ok = [k for k in pred_sample if k in pred_entries and k in ref_cache]
        else:
            pred_ok = [k for k in pred_sample if k in pred_entries]
            ref_ok = [k for k in ref_sample if k in ref_cache]
        ref_a, ref_b = halves(ref_ok)
        pred_a = ref_a if matched else halves(pred_ok)[0]
        if dist_infos:
            method["distribution"] = _distribution(dist_infos, [pred_entries[k] for k in pred_ok],
                                                   [ref_cache[k] for k in ref_ok], settings)
            method["distribution_half"] = _distribution(
                dist_infos, [pred_entries[k] for k in pred_a], [ref_cache[k] for k in ref_b], settings)
        floor_key = tuple(ref_a + ref_b)
        if floor_key not in floors:
            floors[floor_key] = _floor(dist_infos, feats.early_ext, [ref_cache[k] for k in ref_a],
                                       [ref_cache[k] for k in ref_b], settings)
        method["floor"] = floors[floor_key]
        method["per_image"] = per_image
        methods[name] = method

    return {
        "apdraw_version": __version__,
        "settings": _settings_dict(settings),
        "reference": {"folder": str(ref_set.root), "n_images": len(ref_set)},
        "photos": str(photo_set.root) if photo_set else None,
        "metrics": {i.name: dataclasses.asdict(i) for i in infos},
        "methods": methods,
        "skipped": [{"path": p, "reason": r} for p, r in sorted(skipped.items())],
    }


def _distribution(infos: list[MetricInfo], a: list[_Entry], b: list[_Entry],
                  settings: EvalSettings) -> dict[str, dict[str, Any]]:
    """Distribution metrics between entry lists `a` (predictions) and `b` (references)."""
    out: dict[str, dict[str, Any]] = {}
    n = {"n_pred": len(a), "n_ref": len(b)}
    if len(a) < 2 or len(b) < 2:
        return out
    for info in infos:
        if info.name == "swd":
            mean, levels = swd_from_descriptors([e.swd for e in a], [e.swd for e in b], settings.swd)
            out["swd"] = {"value": mean, "levels": levels, **n}
        elif info.name.startswith("fid"):
            fa = np.stack([e.pooled[info.extractor] for e in a])
            fb = np.stack([e.pooled[info.extractor] for e in b])
            out[info.name] = {"value": fid_from_features(fa, fb), **n}
        elif info.name.startswith("kid"):
            fa = np.stack([e.pooled[info.extractor] for e in a])
            fb = np.stack([e.pooled[info.extractor] for e in b])
            mean, std = kid_from_features(fa, fb, settings.kid_subset_size, settings.kid_subsets, settings.seed)
            out[info.name] = {"value": mean, "std": std, **n}
    return out


def _floor(dist_infos: list[MetricInfo], early_ext: list[str], a: list[_Entry], b: list[_Entry],
           settings: EvalSettings) -> dict[str, dict[str, Any]]:
    """Real-vs-real: reference half A against reference half B, same code as the methods."""
    out = _distribution(dist_infos, a, b, settings)
    if len(a) < 1:
        return out
    for ext in early_ext:
        name = _sifid_name(ext)
        vals = [frechet_distance(*x.early[ext], *y.early[ext]) for x, y in zip(a, b)]
        out[name] = {"value": float(np.mean(vals)), "n_pairs": len(vals)}
    return out


def _sifid_name(extractor: str) -> str:
    return "sifid" if extractor == STANDARD_EXTRACTOR else f"sifid_{extractor}"


def _settings_dict(s: EvalSettings) -> dict[str, Any]:
    d = dataclasses.asdict(s)
    d["metrics"] = list(s.metrics)
    return d
