"""Fit the code encoder that starts `apdraw views`' inversion (ours; docs/SAGE.md "Your own photo").

    python scripts/fit_sage_encoder.py runs/sage_recon_perc/checkpoints/latest.pt \
        [--out src/apdraw/weights/sage_code_encoder.safetensors] [--json runs/sage_code_encoder.json] [--folds 5]

From a ``stage=reconstruct`` checkpoint (its learned per-photo codes and its data set): MobileNetV2's
pooled features of every code's photo (:func:`apdraw.train.tasks.sage.photo_features`, mirrored photos
for mirrored codes), then ridge regression features -> codes (:func:`apdraw.models.sage.encoder.fit_ridge`).
The ridge strength is chosen by ``--folds``-fold cross-validation over photos (a photo and its mirror
in the same fold) on the held-out R² (1 − SSE / SST over every code dimension; 0 = predicting the mean
code); the encoder is then refitted on every photo. The file records the generator's mapping-head
fingerprint: it starts inversion only for generators with that head (the warm start's, the map
stage's, the shipped styles').

Cost: the features (about 90 s for 1,618 photos and their mirrors on one thread), then seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ALPHAS = (1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0)


def r2(pred: np.ndarray, true: np.ndarray) -> float:
    """1 − SSE / SST over all entries, SST about the per-dimension mean of ``true``."""
    return float(1.0 - ((pred - true) ** 2).sum() / ((true - true.mean(0)) ** 2).sum())


def cosine(pred: np.ndarray, true: np.ndarray, centre: np.ndarray) -> float:
    """Mean cosine between predicted and true codes, both measured from ``centre`` (the mean code)."""
    a, b = pred - centre, true - centre
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)).mean())


def cross_validate(x: np.ndarray, y: np.ndarray, photo: np.ndarray, folds: int, alphas=ALPHAS) -> dict[float, dict]:
    """Per alpha: held-out R² and cosine, the folds by photo index (``photo`` (N,) int: each code's photo)."""
    from apdraw.models.sage.encoder import fit_ridge

    fold = photo % folds
    out = {}
    for alpha in alphas:
        preds = np.zeros_like(y)
        for k in range(folds):
            test = fold == k
            w, b = fit_ridge(x[~test], y[~test], alpha)
            preds[test] = x[test] @ w.T + b
        out[alpha] = {"r2": r2(preds, y), "cosine": cosine(preds, y, y.mean(0))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="latest.pt of a stage=reconstruct (or map) run")
    ap.add_argument("--out", type=Path, default=None, help="default: the shipped file's place")
    ap.add_argument("--json", type=Path, default=None, help="write the cross-validation here")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args(argv)
    if args.folds < 2:
        ap.error("--folds must be >= 2")

    import torch

    from apdraw.config import from_dict
    from apdraw.data.sage import build_sage_dataset
    from apdraw.io import save_text
    from apdraw.models.sage.encoder import DEFAULT_ENCODER, encoder_from_ridge, fit_ridge, mapping_fingerprint, save_code_encoder
    from apdraw.persistence import checkpoint_module, read_checkpoint
    from apdraw.train.tasks import sage as T

    torch.set_num_threads(1)
    state = read_checkpoint(args.checkpoint)
    if "codes" not in state["modules"]:
        print(f"{args.checkpoint}: no learned codes (not a reconstruct or map checkpoint)", file=sys.stderr)
        return 2
    cfg = from_dict(T.Config, state["config"])
    g = T.SageGenerator(cfg.model)
    g.load_state_dict(checkpoint_module(state, "G", prefer_ema=False, source=args.checkpoint))
    codes = state["modules"]["codes"]["weight"].double().numpy()
    data = build_sage_dataset(cfg.data, cfg.model.image.output_sizes()[-1], progress=False)
    if data.num_codes != len(codes):
        print(f"{args.checkpoint}: {len(codes)} codes but its data set gives {data.num_codes} (the data changed?)", file=sys.stderr)
        return 2
    x = T.photo_features(data)
    photo = np.arange(len(codes)) % len(data)  # code N + i is photo i mirrored
    cv = cross_validate(x, codes, photo, args.folds)
    best = max(cv, key=lambda a: cv[a]["r2"])
    w, b = fit_ridge(x, codes, best)
    enc = encoder_from_ridge(w, b)
    out = args.out or DEFAULT_ENCODER
    train = {"r2": r2(x @ w.T + b, codes), "cosine": cosine(x @ w.T + b, codes, codes.mean(0))}
    extra = {"source": str(Path(args.checkpoint)), "step": str(int(state["step"])), "alpha": str(best),
             "cv_r2": f"{cv[best]['r2']:.4f}", "codes": str(len(codes))}  # fmt: skip
    save_code_encoder(out, enc, mapping_fingerprint(g), extra=extra)
    report = {"checkpoint": str(args.checkpoint), "step": int(state["step"]), "codes": len(codes), "photos": len(data),
              "folds": args.folds, "alpha": best, "cross_validation": {str(a): v for a, v in cv.items()},
              "train_fit": train, "out": str(out)}  # fmt: skip
    for a, v in cv.items():
        print(f"alpha {a:>9g}: held-out R² {v['r2']:.3f}, cosine {v['cosine']:.3f}{'  <- chosen' if a == best else ''}")
    print(f"refitted on all {len(codes)} codes: R² {train['r2']:.3f}; wrote {out}")
    if args.json:
        save_text(args.json, json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
