"""SAGE's evidence: measuring functions for views of generated identities (``scripts/eval_sage.py`` runs them).

Arrays and tensors in, numbers out; no face pipeline here (the script estimates the head poses
with :mod:`apdraw.face.head_pose` and passes them in). Four measurements:

* **Quality by view** (:func:`set_features`, :func:`compare_sets`): a set of drawings against a
  reference set with the suite's own metrics: SWD (:mod:`apdraw.eval.swd`, ProGAN's protocol,
  x10³), KID_mnv2 (:func:`apdraw.eval.distribution.kid_from_features` on MobileNetV2's pooled
  1280-d features) and SIFID_mnv2 (per pair, the Fréchet distance between the stride-4 feature
  columns of one generated and one reference image, :func:`apdraw.eval.distribution.sifid`;
  generated image i is paired with reference i mod N_ref; the mean over the pairs).
* **View consistency** (:func:`corresponding_pixels`, :func:`view_consistency`): the semantic map
  rendered at view A, carried into view B through A's rendered depth, against B's own map.
* **Label agreement** (:func:`label_iou`): the parser's labels of a rendered photo against the
  generated semantic map, mean IoU over :data:`MAIN_CLASSES`.
* **A turning face** (:func:`spearman`, :func:`pose_summary`): estimated against requested yaw.

Pixel geometry. The decoders turn the R² rendered map into S² outputs by nearest and
half-pixel bilinear steps, so decoded pixel (i, j) sits at NeRF cell coordinates
u = (i + ½)·R/S − ½; the renderer's ray of cell coordinate u has NDC −1 + 2u/(R − 1)
(:mod:`apdraw.models.sage.renderer`). :func:`pixel_rays` gives each decoded pixel that ray, and
the depth is read there by bilinear interpolation (``align_corners=False``, edges clamped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from apdraw.eval.distribution import kid_from_features, sifid
from apdraw.eval.features import prepare
from apdraw.eval.swd import SWDConfig, swd_descriptors, swd_from_descriptors
from apdraw.models.parser import CLASS_NAMES
from apdraw.models.sage.renderer import Cameras, project

# The classes the evidence scores (CelebAMask-HQ ids, apdraw.models.parser.CLASS_NAMES): left and
# right parts merged (a turning head swaps which side is visible, not what it is), the mouth with the lips.
MAIN_CLASSES: dict[str, tuple[int, ...]] = {
    "skin": (1,),
    "nose": (2,),
    "eyes": (4, 5),
    "brows": (6, 7),
    "mouth": (10, 11, 12),
    "hair": (13,),
}
assert CLASS_NAMES[13] == "hair" and CLASS_NAMES[10:13] == ("mouth", "u_lip", "l_lip")


def grouped(labels: np.ndarray, groups: dict[str, tuple[int, ...]] = MAIN_CLASSES) -> np.ndarray:
    """(H, W) class ids 0..18 -> (H, W) uint8 group ids: 0 = none of the groups, k = the k-th group (1-based)."""
    lut = np.zeros(len(CLASS_NAMES), np.uint8)
    for k, ids in enumerate(groups.values(), 1):
        lut[list(ids)] = k
    return lut[np.asarray(labels, np.int64)]


# --------------------------------------------------------------------------- quality by view


@dataclass
class SetFeatures:
    """Per image: MobileNetV2's pooled vector, its stride-4 feature columns (SIFID) and SWD descriptors."""

    pooled: np.ndarray  # (N, D)
    early: list[np.ndarray]  # N arrays (positions, channels)
    swd: list[list[np.ndarray]]  # N lists of per-level descriptors
    keys: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.early)


def set_features(images: list[np.ndarray], keys: list[str], extractor, swd_cfg: SWDConfig = SWDConfig(),
                 batch: int = 16) -> SetFeatures:
    """Features of a set of drawings for :func:`compare_sets`.

    Args:
        images: (H, W) or (H, W, 3) uint8 each; every metric resizes them to its working size
            with the suite's shared rule (:mod:`apdraw.eval.imageprep`).
        keys: one stable name per image (it seeds the SWD patch positions).
        extractor: a :class:`apdraw.eval.features.FeatureExtractor` (``MobileNetV2Features()``).
    """
    if len(images) != len(keys) or not images:
        raise ValueError(f"need one key per image and at least one image, got {len(images)} images, {len(keys)} keys")
    pooled, early = [], []
    for i in range(0, len(images), batch):
        f = extractor(prepare(images[i : i + batch], extractor.input_size))
        pooled.append(f.pooled)
        early += f.early
    swd = [swd_descriptors(im, k, swd_cfg) for im, k in zip(images, keys)]
    return SetFeatures(np.concatenate(pooled), early, swd, list(keys))


def compare_sets(gen: SetFeatures, ref: SetFeatures, swd_cfg: SWDConfig = SWDConfig()) -> dict[str, float]:
    """SWD (x10³), KID_mnv2 and SIFID_mnv2 of ``gen`` against ``ref`` (module doc).

    KID is computed once on the whole sets (they hold fewer than 1000 images). SIFID pairs
    generated image i with reference i mod N_ref and averages over the N_gen pairs.

    Returns:
        {"swd", "kid_mnv2", "sifid_mnv2", "n_gen", "n_ref"}; KID needs >= 2 images per set (NaN otherwise).
    """
    swd, _ = swd_from_descriptors(gen.swd, ref.swd, swd_cfg)
    kid = kid_from_features(gen.pooled, ref.pooled, subset_size=1000)[0] if min(len(gen), len(ref)) >= 2 else math.nan
    si = float(np.mean([sifid(g, ref.early[i % len(ref)]) for i, g in enumerate(gen.early)]))
    return {"swd": float(swd), "kid_mnv2": float(kid), "sifid_mnv2": si, "n_gen": len(gen), "n_ref": len(ref)}


def spread(values: list[float]) -> float:
    """max / min of positive values (the SWD spread across views); inf when the minimum is 0."""
    v = np.asarray(values, np.float64)
    return float(v.max() / v.min()) if v.min() > 0 else math.inf


# --------------------------------------------------------------------------- view consistency


def pixel_ndc(size: int, resolution: int) -> torch.Tensor:
    """(size,) NDC of the rays of decoded pixel columns 0..size-1 (module doc); rows are the same, y flipped."""
    u = (torch.arange(size, dtype=torch.float64) + 0.5) * resolution / size - 0.5
    return -1.0 + 2.0 * u / (resolution - 1)


def pixel_rays(cameras: Cameras, size: int, resolution: int, focal: float) -> torch.Tensor:
    """Unit world-space rays of every decoded pixel of an S² output (S = size): (B, S², 3), row-major."""
    x = pixel_ndc(size, resolution)
    yy, xx = torch.meshgrid(-x, x, indexing="ij")
    d = F.normalize(torch.stack([xx, yy, torch.full_like(xx, -focal)], -1).reshape(-1, 3), dim=-1)
    return torch.einsum("bij,nj->bni", cameras.rotation.double(), d)


def depth_at_pixels(depth: torch.Tensor | np.ndarray, size: int) -> torch.Tensor:
    """(R, R), (1, R, R) or (1, 1, R, R) rendered depth -> (S, S) float64 at the decoded pixels (bilinear, half-pixel)."""
    d = torch.as_tensor(np.asarray(depth) if not isinstance(depth, torch.Tensor) else depth).detach().double().cpu()
    r = d.shape[-1]
    d = d.reshape(1, 1, r, r)
    return F.interpolate(d, size=(size, size), mode="bilinear", align_corners=False)[0, 0] if r != size else d[0, 0]


def _one_camera(c: Cameras) -> Cameras:
    if c.batch != 1:
        raise ValueError(f"expected one camera, got {c.batch}")
    return Cameras(c.yaw.detach().double().cpu(), c.pitch.detach().double().cpu(),
                   c.origin.detach().double().cpu(), c.rotation.detach().double().cpu())  # fmt: skip


@dataclass
class Correspondence:
    """Where each pixel of view A lands in view B (S x S each).

    rows, cols: int64 nearest pixel of B; inside: the point is in front of B and in its frame;
    visible: also not hidden in B (its distance from B's camera within ``tol`` of B's depth there;
    all of ``inside`` when B's depth was not given).
    """

    rows: np.ndarray
    cols: np.ndarray
    inside: np.ndarray
    visible: np.ndarray


def corresponding_pixels(depth_a, cameras_a: Cameras, cameras_b: Cameras, focal: float, size: int,
                         depth_b=None, tol: float = 0.02) -> Correspondence:
    """Carry every decoded pixel of view A into view B through A's rendered depth.

    Each pixel's 3D point (A's camera + its ray · A's depth there, :func:`pixel_rays`) is projected
    into B with the renderer's :func:`~apdraw.models.sage.renderer.project`, and the projection's
    NDC converted back to B's decoded pixel grid (the inverse of :func:`pixel_ndc`), rounded.

    Args:
        depth_a, depth_b: rendered depth maps of A and B, (R, R) (or with leading 1s); ``Parts.depth``.
        cameras_a, cameras_b: one camera each (``Parts.cameras``). focal: the renderer's ``cfg.focal``.
        size: S, the side of the decoded maps. tol: occlusion tolerance in world units (the
            renderer's depths span near..far, 0.88..1.12 by default).
    """
    ca, cb = _one_camera(cameras_a), _one_camera(cameras_b)
    da = torch.as_tensor(np.asarray(depth_a) if not isinstance(depth_a, torch.Tensor) else depth_a)
    r = da.shape[-1]
    points = ca.origin[:, None] + pixel_rays(ca, size, r, focal) * depth_at_pixels(da, size).reshape(1, -1, 1)
    grid, front = project(points, cb, focal)  # NDC (x right, y down), align_corners=True at R
    u = (grid + 1.0) * (r - 1) / 2.0  # NeRF cell coordinates
    pix = (u + 0.5) * size / r - 0.5  # decoded pixel coordinates (x, y)
    cols = torch.round(pix[0, :, 0]).long()
    rows = torch.round(pix[0, :, 1]).long()
    inside = front[0] & (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
    rows_c, cols_c = rows.clamp(0, size - 1), cols.clamp(0, size - 1)
    visible = inside.clone()
    if depth_b is not None:
        db = depth_at_pixels(depth_b, size)
        dist = (points[0] - cb.origin[0]).norm(dim=-1)
        visible &= (dist - db[rows_c, cols_c]).abs() <= tol
    shape = (size, size)
    return Correspondence(rows_c.reshape(shape).numpy(), cols_c.reshape(shape).numpy(),
                          inside.reshape(shape).numpy(), visible.reshape(shape).numpy())  # fmt: skip


def label_iou(pred: np.ndarray | list[np.ndarray], target: np.ndarray | list[np.ndarray],
              valid: np.ndarray | list[np.ndarray] | None = None,
              groups: dict[str, tuple[int, ...]] = MAIN_CLASSES) -> dict:
    """IoU per class group between two label maps (or lists of them, pooled), over ``valid`` pixels.

    Intersections and unions are summed over all maps, then divided (a set-level IoU per group);
    the mean IoU averages the groups that occur (union > 0) in either map.

    Returns:
        {"miou", "iou": {group: value or None (absent)}, "pixel_agreement": share of the valid
        pixels where the class ids are equal, among those where either map is not background
        (NaN when there is none)}.
    """
    preds = pred if isinstance(pred, list) else [pred]
    targets = target if isinstance(target, list) else [target]
    valids = valid if isinstance(valid, list) else [valid] * len(preds)
    if not (len(preds) == len(targets) == len(valids)):
        raise ValueError("pred, target and valid must hold the same number of maps")
    k = len(groups)
    inter, union = np.zeros(k + 1), np.zeros(k + 1)
    agree = total = 0
    for p, t, v in zip(preds, targets, valids):
        p, t = np.asarray(p), np.asarray(t)
        if p.shape != t.shape:
            raise ValueError(f"label maps differ in shape: {p.shape} and {t.shape}")
        v = np.ones(p.shape, bool) if v is None else np.asarray(v, bool)
        gp, gt = grouped(p, groups)[v], grouped(t, groups)[v]
        inter += np.bincount(gp[gp == gt], minlength=k + 1)
        union += np.bincount(gp, minlength=k + 1) + np.bincount(gt, minlength=k + 1)
        fg = (p[v] != 0) | (t[v] != 0)
        agree += int((p[v] == t[v])[fg].sum())
        total += int(fg.sum())
    union -= inter
    iou = {name: (float(inter[i] / union[i]) if union[i] > 0 else None) for i, name in enumerate(groups, 1)}
    present = [x for x in iou.values() if x is not None]
    return {"miou": float(np.mean(present)) if present else math.nan, "iou": iou,
            "pixel_agreement": agree / total if total else math.nan}  # fmt: skip


def view_consistency(labels_a: np.ndarray, labels_b: np.ndarray, depth_a, depth_b, cameras_a: Cameras,
                     cameras_b: Cameras, focal: float, tol: float = 0.02) -> dict:
    """A's semantic map carried into view B through A's depth, against B's own map.

    For each pixel of A that lands inside B and is not hidden there (:func:`corresponding_pixels`),
    A's class is compared with B's class at the landing pixel (nearest). Returns :func:`label_iou`'s
    numbers over those pixels (pixel agreement over the pixels where either class is not
    background, mean IoU over :data:`MAIN_CLASSES`) plus "valid_fraction", the share of A's
    pixels compared.
    """
    a, b = np.asarray(labels_a), np.asarray(labels_b)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"need two square label maps of one size, got {a.shape} and {b.shape}")
    c = corresponding_pixels(depth_a, cameras_a, cameras_b, focal, a.shape[0], depth_b, tol)
    warped_b = b[c.rows, c.cols]  # B's class where each A pixel lands
    out = label_iou(a, warped_b, c.visible)
    out["valid_fraction"] = float(c.visible.mean())
    return out


# --------------------------------------------------------------------------- a turning face


def rank(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (as scipy.stats.rankdata)."""
    x = np.asarray(x, np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x, y) -> float:
    """Spearman's rank correlation: Pearson's correlation of the (average-tie) ranks; NaN when a side is constant."""
    rx, ry = rank(x), rank(y)
    if len(rx) != len(ry):
        raise ValueError(f"x and y differ in length: {len(rx)} and {len(ry)}")
    if len(rx) < 2 or rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def pose_summary(requested: list[float], estimated: list[float | None]) -> dict:
    """Estimated head yaws (degrees; None: no face found) against the requested ones.

    Returns:
        {"detection_rate" (all views), "per_yaw": {yaw: {"detected", "n", "mean_estimate"}},
        "spearman" (over the detected views, requested vs estimated), "slope" (least-squares
        estimated / requested, degrees per degree), "n_detected"}.
    """
    if len(requested) != len(estimated):
        raise ValueError("one estimate (or None) per requested yaw")
    req = np.asarray(requested, np.float64)
    hit = np.array([e is not None for e in estimated])
    est = np.array([e if e is not None else np.nan for e in estimated], np.float64)
    per_yaw = {}
    for y in sorted(set(req.tolist())):
        m = req == y
        per_yaw[y] = {"detected": int(hit[m].sum()), "n": int(m.sum()),
                      "mean_estimate": float(np.nanmean(est[m])) if hit[m].any() else None}  # fmt: skip
    rho = spearman(req[hit], est[hit]) if hit.sum() >= 2 else math.nan
    slope = float(np.polyfit(req[hit], est[hit], 1)[0]) if hit.sum() >= 2 and np.ptp(req[hit]) > 0 else math.nan
    return {"detection_rate": float(hit.mean()) if len(hit) else math.nan, "per_yaw": per_yaw,
            "spearman": rho, "slope": slope, "n_detected": int(hit.sum())}  # fmt: skip
