"""Build QMUPD's quality metric M from computed labels (the original's human ratings were never released).

    python scripts/build_quality_metric.py [--qmupd runs/qmupd_pre/checkpoints/latest.pt] [--write]

1. Candidates: for every FS2K pair (aligned 512² cache; all three sketch types), drawings of
   its photo of very different quality, all at 256²:
   the artist's drawing; copies of it blurred, with half its strokes erased, lightened, noisy;
   the NPR engine's drawing (where cached); XDoG at two scales; the shipped APDrawingGAN;
   and, with ``--qmupd``, a QMUPD checkpoint's G_A in that pair's style.
2. Labels (computed, not human): each candidate against the artist's drawing of the same
   photo, q = (SSIM + FSIM + exp(−dark Chamfer / 4 px)) / 3, so the artist's own drawing is 1.
3. M (:class:`apdraw.models.quality.QualityMetric`): frozen MobileNetV2 statistics + the
   style vector (one-hot of the pair's sketch type) -> an MLP, fitted (MSE) to the labels of
   the FS2K *training* photos' candidates, and scored on the validation photos' candidates
   (never trained on): Pearson and Spearman correlation, and the mean per candidate kind.

Writes ``runs/quality_metric/{candidates.npz, report.json}`` and, with ``--write``,
``src/apdraw/weights/quality_metric.safetensors``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from apdraw.data.paired import AlignedPair, DataConfig, PairedDrawingDataset, build_records, preprocess
from apdraw.eval.metrics import chamfer_distance, fsim, ssim
from apdraw.models.quality import QualityConfig, QualityMetric, default_weights
from apdraw.npr.lines import xdog

KINDS = ("artist", "blur", "erased", "light", "noisy", "npr", "xdog1", "xdog2", "apdrawinggan", "qmupd")


def _down(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)


def candidates(pair: AlignedPair, name: str, rng: np.random.Generator, npr_dir: Path) -> dict[str, np.ndarray]:
    d = _down(pair.drawing)
    out = {"artist": d, "blur": cv2.GaussianBlur(d, (0, 0), 1.5)}
    ink = (d < 128).astype(np.uint8)
    n, labels = cv2.connectedComponents(ink)
    drop = rng.random(n) < 0.5
    drop[0] = False
    erased = d.copy()
    erased[drop[labels]] = 255
    out["erased"] = erased
    out["light"] = (255 - (255 - d.astype(np.float32)) * 0.35).astype(np.uint8)
    out["noisy"] = np.clip(d + rng.normal(0, 35, d.shape), 0, 255).astype(np.uint8)
    npr = npr_dir / f"{name}.npz"
    if npr.is_file():
        out["npr"] = _down(AlignedPair.load(npr).drawing)
    gray = cv2.cvtColor(_down(pair.photo), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    out["xdog1"] = (xdog(gray, sigma=0.8) * 255).astype(np.uint8)
    out["xdog2"] = (xdog(gray, sigma=1.6, p=30) * 255).astype(np.uint8)
    return out


def label(cand: np.ndarray, ref: np.ndarray) -> float:
    small = lambda x: cv2.resize(x, (128, 128), interpolation=cv2.INTER_AREA)  # noqa: E731 - FSIM at 128² for speed
    return float((ssim(cand, ref) + fsim(small(cand), small(ref)) + np.exp(-chamfer_distance(cand, ref, 0.5) / 4.0)) / 3.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qmupd", default="", help="a qmupd training checkpoint whose G_A adds candidates")
    ap.add_argument("--out", default="runs/quality_metric")
    ap.add_argument("--write", action="store_true", help="write src/apdraw/weights/quality_metric.safetensors")
    ap.add_argument("--limit", type=int, default=0, help="pairs per sketch type and split (0 = all; for a quick check)")
    args = ap.parse_args()
    torch.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    from apdraw.models.apdrawinggan import APDrawingGAN

    gan = APDrawingGAN.from_pretrained(num_threads=None)
    qmupd = None
    if args.qmupd:
        from apdraw.train.tasks.qmupd import model_from_checkpoint

        qmupd = model_from_checkpoint(args.qmupd)
        qmupd.num_threads = None
    metric = QualityMetric(QualityConfig())
    rng = np.random.default_rng(0)
    rows: list[tuple[str, int, str, float]] = []  # (split, sketch type, kind, label)
    feats = []
    for split in ("train", "val"):
        for t in (0, 1, 2):
            dc = DataConfig(sketch_type=t, split=split, max_items=args.limit)
            records, tag = build_records(dc)
            files = preprocess(records, dc.cache_dir, tag)
            ds = PairedDrawingDataset(files, 512)
            for i, f in enumerate(tqdm(files, desc=f"{split} type {t}")):
                pair = AlignedPair.load(f)
                cands = candidates(pair, f.stem, rng, Path(dc.cache_dir) / "npr-v1")
                item = ds[i]
                photo_u8 = torch.from_numpy(pair.photo).permute(2, 0, 1)[None]
                with torch.no_grad():
                    cands["apdrawinggan"] = _down(gan.draw(photo_u8, item["boxes"][None], item["fg"][None])[0].numpy())
                    if qmupd is not None:
                        cands["qmupd"] = _down(qmupd.draw(photo_u8, [float(k == t) for k in range(3)])[0].numpy())
                ref = cands["artist"]
                kinds = list(cands)
                batch = torch.stack([torch.from_numpy(cands[k]).float()[None] / 127.5 - 1 for k in kinds])
                with torch.no_grad():
                    feats.append(metric.raw_features(batch).numpy())
                rows += [(split, t, k, label(cands[k], ref)) for k in kinds]
    features = np.concatenate(feats).astype(np.float32)
    split = np.array([r[0] for r in rows])
    types = np.array([r[1] for r in rows])
    kinds = np.array([r[2] for r in rows])
    labels = np.array([r[3] for r in rows], np.float32)
    np.savez_compressed(out / "candidates.npz", features=features, split=split, types=types, kinds=kinds, labels=labels)
    prep_s = time.perf_counter() - t0

    # Fit the MLP on the training photos' candidates.
    tr, va = split == "train", split == "val"
    x = torch.from_numpy(features)
    style = torch.nn.functional.one_hot(torch.from_numpy(types).long(), 3).float()
    y = torch.from_numpy(labels)
    metric.feature_mean.copy_(x[tr].mean(0))
    metric.feature_std.copy_(x[tr].std(0).clamp_min(1e-6))
    opt = torch.optim.Adam(metric.mlp.parameters(), lr=1e-3, weight_decay=1e-4)
    idx = np.flatnonzero(tr)
    for epoch in range(300 if not args.limit else 3):
        perm = torch.from_numpy(rng.permutation(idx))
        for j in range(0, len(perm), 256):
            b = perm[j : j + 256]
            loss = torch.nn.functional.mse_loss(metric.from_features(x[b], style[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = metric.from_features(x, style).numpy()
    from scipy.stats import pearsonr, spearmanr

    report = {
        "candidates_train": int(tr.sum()), "candidates_val": int(va.sum()), "prep_seconds": prep_s,
        "val_pearson": float(pearsonr(pred[va], labels[va])[0]), "val_spearman": float(spearmanr(pred[va], labels[va])[0]),
        "train_spearman": float(spearmanr(pred[tr], labels[tr])[0]),
        "val_mae": float(np.abs(pred[va] - labels[va]).mean()),
        "by_kind_val": {k: {"label": float(labels[va & (kinds == k)].mean()), "predicted": float(pred[va & (kinds == k)].mean()),
                            "n": int((va & (kinds == k)).sum())} for k in KINDS if (va & (kinds == k)).any()},
    }  # fmt: skip
    print(json.dumps(report, indent=1))
    (out / "report.json").write_text(json.dumps(report, indent=1))
    path = default_weights() if args.write else out / "quality_metric.safetensors"
    metric.save(path, extra={"val_spearman": f"{report['val_spearman']:.4f}", "labels": "computed (full-reference), not human"})
    print("wrote", path)


if __name__ == "__main__":
    main()
