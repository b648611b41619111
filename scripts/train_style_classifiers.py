"""Train the two FS2K style classifiers QMUPD uses, and report their validation accuracy.

* ``train`` (features="pooled"): its softmax is each training drawing's soft style vector;
* ``eval`` (features="stats"): trained separately, on other features, to score the style of
  generated drawings (docs/QMUPD.md); its accuracy on real validation drawings is the ceiling.

Both are linear heads on frozen ImageNet MobileNetV2 features of the aligned 512² FS2K
drawings (the APDrawingGAN preprocessing cache), trained on the FS2K training split with
horizontally flipped copies, scored on the validation split (never used for training).

    python scripts/train_style_classifiers.py [--write]   # --write: into src/apdraw/weights/
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from apdraw.data.paired import AlignedPair, DataConfig, build_records, preprocess
from apdraw.eval.style_check import HandcraftedStyleClassifier
from apdraw.models.style_classifier import StyleClassifier, StyleClassifierConfig, _to_input, default_weights


def drawings(split: str) -> tuple[list[np.ndarray], np.ndarray]:
    images, labels = [], []
    for t in (0, 1, 2):
        dc = DataConfig(sketch_type=t, split=split)
        records, tag = build_records(dc)
        for f in preprocess(records, dc.cache_dir, tag):
            images.append(AlignedPair.load(f).drawing)
            labels.append(t)
    return images, np.array(labels)


def features(clf: StyleClassifier, images: list[np.ndarray], flip: bool) -> torch.Tensor:
    out = []
    for i in range(0, len(images), 32):
        batch = torch.stack([_to_input(d[:, ::-1] if flip else d, clf.config.resolution) for d in images[i : i + 32]])
        out.append(clf.raw_features(batch))
    return torch.cat(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="write the weights into src/apdraw/weights/")
    ap.add_argument("--out", default="runs/style_classifiers", help="folder for weights and report otherwise")
    args = ap.parse_args()
    torch.manual_seed(0)
    train_x, train_y = drawings("train")
    val_x, val_y = drawings("val")
    print(f"train {len(train_y)} drawings {np.bincount(train_y)}, val {len(val_y)} {np.bincount(val_y)}")
    report = {"train_counts": np.bincount(train_y).tolist(), "val_counts": np.bincount(val_y).tolist()}
    for role, kind in (("train", "pooled"), ("eval", "stats")):
        t0 = time.perf_counter()
        clf = StyleClassifier(StyleClassifierConfig(features=kind))
        f = torch.cat([features(clf, train_x, False), features(clf, train_x, True)])
        y = torch.from_numpy(np.concatenate([train_y, train_y])).long()
        clf.fit(f, y)
        with torch.no_grad():
            pred = clf.logits_from_features(features(clf, val_x, False)).argmax(1).numpy()
        acc = float((pred == val_y).mean())
        per = [float((pred[val_y == k] == k).mean()) for k in range(3)]
        confusion = np.zeros((3, 3), int)
        np.add.at(confusion, (val_y, pred), 1)
        secs = time.perf_counter() - t0
        print(f"{role} ({kind}): val accuracy {acc:.3f}, per type {np.round(per, 3).tolist()}, {secs:.0f} s\n{confusion}")
        report[role] = {"features": kind, "val_accuracy": acc, "per_type": per, "confusion": confusion.tolist(), "seconds": secs}
        path = default_weights(role) if args.write else Path(args.out) / f"style_classifier_{role}.safetensors"
        clf.save(path, extra={"val_accuracy": f"{acc:.4f}", "train_items": str(len(train_y))})
    # The network-free classifier (apdraw.eval.style_check) is fitted where it is used (scripts/eval_qmupd.py,
    # from the same training drawings); its validation accuracy is reported here beside the two above.
    t0 = time.perf_counter()
    hc = HandcraftedStyleClassifier()
    hc.fit(hc.features(train_x + [d[:, ::-1] for d in train_x]), np.concatenate([train_y, train_y]))
    pred = hc.predict(val_x)
    acc, per = float((pred == val_y).mean()), [float((pred[val_y == k] == k).mean()) for k in range(3)]
    print(f"handcrafted (texture statistics, no network): val accuracy {acc:.3f}, per type {np.round(per, 3).tolist()}")
    report["handcrafted"] = {"val_accuracy": acc, "per_type": per, "seconds": time.perf_counter() - t0}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
