"""Compare APDrawingGAN variants and the NPR engine on the FS2K style-0 validation split.

Methods (each optional):
  --baseline CKPT   pix2pix baseline (global U-Net only, no local nets, no DT loss)
  --full CKPT       the full hierarchical model with the DT loss
  --extra NAME=CKPT further checkpoints (e.g. an ablation), repeatable
  NPR engine        apdraw.npr.draw_portrait on the same aligned photos (always)

Every method draws the same aligned 512² photos of the validation pairs (the
project's fixed FS2K split, style 0); the artist drawing is warped into the
same frame. Metrics against it, at 512²: the symmetric line Chamfer distance
(px, apdraw.eval.metrics; strokes = luminance below the suite's threshold, and
a second figure counting only dark strokes, luminance < 0.5) and SSIM, plus
paired comparisons (per-pair differences) between the learned methods. Writes
metrics.json (with per-pair values), a Markdown table and a side-by-side grid
(photo | artist | methods...). Unless ``--no-suite``, every method's drawings,
the artist drawings and the photos are also written to ``OUT/drawings/`` and
scored by the evaluation suite (``apdraw.eval.evaluate``: FSIM, LPIPS_mnv2,
SIFID_mnv2, FID_mnv2, KID_mnv2, SWD with the real-vs-real floor) into ``OUT/report/``.

  python scripts/compare_apdrawinggan.py --baseline runs/baseline/checkpoints/latest.pt \
      --full runs/apdrawinggan/checkpoints/latest.pt --out runs/compare
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from apdraw.data.paired import AlignedPair, preprocess
from apdraw.eval.metrics import STROKE_THRESHOLD, chamfer_distance, ssim
from apdraw.face import local_boxes, txt_landmarks
from apdraw.io import save_image, save_text
from apdraw.parts import boxes_array
from apdraw.data.paired import DataConfig, build_records
from apdraw.train.tasks.apdrawinggan import model_from_checkpoint


def npr_drawings(pairs: list[AlignedPair]) -> list[np.ndarray]:
    from apdraw.face import MediaPipeMasks
    from apdraw.npr import draw_portrait

    backend = MediaPipeMasks()
    out = []
    for p in pairs:
        masks = backend.masks(p.photo, p.landmarks)
        out.append(draw_portrait(p.photo, masks.fg, masks.jaw, masks.extras.get("hair"), landmarks5=p.landmarks))
    return out


def model_drawings(ckpt: str, pairs: list[AlignedPair]) -> tuple[list[np.ndarray], int]:
    model = model_from_checkpoint(ckpt)
    out = []
    for p in pairs:
        photo = torch.from_numpy(p.photo).permute(2, 0, 1)[None]
        boxes = torch.from_numpy(boxes_array(local_boxes(txt_landmarks(p.landmarks))))[None]
        fg = torch.from_numpy(p.fg >= 128).float()[None, None]
        out.append(model.draw(photo, boxes, fg)[0].numpy())
    return out, model.step  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline")
    ap.add_argument("--full")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=CKPT")
    ap.add_argument("--out", default="runs/compare")
    ap.add_argument("--n", type=int, default=0, help="use only the first N validation pairs (0 = all)")
    ap.add_argument("--grid", type=int, default=8, help="rows in the side-by-side grid")
    ap.add_argument("--cache-dir", default="cache/apdrawinggan")
    ap.add_argument("--no-suite", action="store_true", help="skip the evaluation-suite report (distribution metrics)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    records, tag = build_records(DataConfig(source="fs2k", sketch_type=0, split="val", cache_dir=args.cache_dir))
    files = preprocess(records, args.cache_dir, tag)
    files = files[: args.n or None]
    pairs = [AlignedPair.load(f) for f in files]
    methods: dict[str, list[np.ndarray]] = {}
    info: dict[str, dict] = {}
    ckpts = [("pix2pix baseline", args.baseline), ("APDrawingGAN (full)", args.full)]
    ckpts += [tuple(e.split("=", 1)) for e in args.extra]  # type: ignore[misc]
    for name, ckpt in ckpts:
        if ckpt:
            t = time.time()
            methods[name], step = model_drawings(ckpt, pairs)
            info[name] = {"checkpoint": ckpt, "train_steps": step, "seconds_per_image": (time.time() - t) / len(pairs)}
    t = time.time()
    methods["NPR engine"] = npr_drawings(pairs)
    info["NPR engine"] = {"seconds_per_image": (time.time() - t) / len(pairs)}

    results, per_pair = {}, {}
    for name, drawings in methods.items():
        ch = [chamfer_distance(d, p.drawing) for d, p in zip(drawings, pairs)]
        ch_dark = [chamfer_distance(d, p.drawing, threshold=0.5) for d, p in zip(drawings, pairs)]
        ss = [ssim(d, p.drawing) for d, p in zip(drawings, pairs)]
        per_pair[name] = {"chamfer_px": ch, "ssim": ss}
        results[name] = info[name] | {
            "chamfer_px": float(np.mean(ch)),
            "chamfer_px_std": float(np.std(ch)),
            "chamfer_px_dark": float(np.mean(ch_dark)),
            "ssim": float(np.mean(ss)),
            "ssim_std": float(np.std(ss)),
            "per_pair": {"names": [f.stem for f in files], "chamfer_px": ch, "ssim": ss},
        }
    # Paired differences between every two learned methods (same photos, so the spread across
    # faces cancels): mean difference, its standard error, and how often the first one wins.
    learned = [n for n in methods if n != "NPR engine"]
    paired = []
    for i, a in enumerate(learned):
        for b in learned[i + 1 :]:
            dc = np.array(per_pair[a]["chamfer_px"]) - np.array(per_pair[b]["chamfer_px"])
            ds = np.array(per_pair[a]["ssim"]) - np.array(per_pair[b]["ssim"])
            paired.append({
                "a": a, "b": b,
                "chamfer_diff": float(dc.mean()), "chamfer_diff_se": float(dc.std(ddof=1) / np.sqrt(len(dc))),
                "a_wins_chamfer": float((dc < 0).mean()),
                "ssim_diff": float(ds.mean()), "ssim_diff_se": float(ds.std(ddof=1) / np.sqrt(len(ds))),
                "a_wins_ssim": float((ds > 0).mean()),
            })  # fmt: skip
    out = Path(args.out)
    summary = {"n_pairs": len(pairs), "split": "FS2K style 0, validation (apdraw.data.fs2k, val_fraction 0.15)", "methods": results, "paired": paired}
    save_text(out / "metrics.json", json.dumps(summary, indent=2))
    lines = [
        f"FS2K style 0 validation, {len(pairs)} pairs, 512² aligned frame.",
        "",
        f"| method | train steps | Chamfer px (thr {STROKE_THRESHOLD:g}) ↓ | Chamfer px (dark strokes, thr 0.5) ↓ | SSIM ↑ |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r.get('train_steps', '-')} | {r['chamfer_px']:.2f} ± {r['chamfer_px_std']:.2f} | "
            f"{r['chamfer_px_dark']:.2f} | {r['ssim']:.3f} ± {r['ssim_std']:.3f} |"
        )
    if paired:
        lines += ["", "Paired differences (A − B over the same pairs; ± standard error):", "",
                  "| A | B | Δ Chamfer px | A better (Chamfer) | Δ SSIM | A better (SSIM) |", "|---|---|---|---|---|---|"]
        for c in paired:
            lines.append(f"| {c['a']} | {c['b']} | {c['chamfer_diff']:+.2f} ± {c['chamfer_diff_se']:.2f} | {c['a_wins_chamfer']:.0%} | "
                         f"{c['ssim_diff']:+.3f} ± {c['ssim_diff_se']:.3f} | {c['a_wins_ssim']:.0%} |")
    save_text(out / "metrics.md", "\n".join(lines) + "\n")
    print("\n".join(lines))

    rows = []
    for i, p in enumerate(pairs[: args.grid]):
        cells = [p.photo, p.drawing] + [m[i] for m in methods.values()]
        cells = [cv2.resize(c if c.ndim == 3 else np.repeat(c[..., None], 3, 2), (256, 256), interpolation=cv2.INTER_AREA) for c in cells]
        rows.append(np.concatenate(cells, 1))
    header = np.full((24, rows[0].shape[1], 3), 255, np.uint8)
    for j, name in enumerate(["photo", "artist"] + list(methods)):
        cv2.putText(header, name[:28], (j * 256 + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    save_image(out / "grid.png", np.concatenate([header] + rows, 0))
    print(f"wrote {out / 'metrics.json'}, {out / 'metrics.md'}, {out / 'grid.png'}")
    if not args.no_suite:
        suite_report(out, [f.stem for f in files], pairs, methods)


def suite_report(out: Path, names: list[str], pairs: list[AlignedPair], methods: dict[str, list[np.ndarray]]) -> None:
    """Score the same aligned drawings with the evaluation suite (its default metrics) into OUT/report/."""
    from apdraw.commands.eval import resolve_metrics
    from apdraw.eval.report import distribution_rows, write_report
    from apdraw.eval.runner import EvalSettings, evaluate

    root = out / "drawings"
    folders = {"_ref": [p.drawing for p in pairs], "_photo": [p.photo for p in pairs]} | methods
    for folder, images in folders.items():
        for name, img in zip(names, images):
            save_image(root / folder / f"{name}.png", img)
    metrics, note = resolve_metrics(None, None)
    if note:
        print(f"note: {note}")
    result = evaluate({m: root / m for m in methods}, root / "_ref", root / "_photo", EvalSettings(metrics=metrics))
    result["notes"] = [
        f"FS2K style 0 validation, {len(pairs)} pairs, aligned 512² frame (scripts/compare_apdrawinggan.py); "
        "the artist drawing is warped into the photo's aligned frame."
    ]
    index = write_report(result, out / "report")
    header, rows = distribution_rows(result)
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"suite report: {index}")


if __name__ == "__main__":
    main()
