"""SAGE's evidence for an exported generator (docs/SAGE.md, "Evidence"): quality by view, view
consistency, a turning face, timing.

    python scripts/eval_sage.py --weights runs/sage_translate/export/sage.safetensors \\
        [--seeds 64] [--yaws -30,-20,-10,0,10,20,30] [--pitch 0] [--truncation 0.7] \\
        [--drawings-dir cache/sage/drawings_apdrawinggan] [--sketch-type 0] [-o runs/sage_eval] [--write-doc]

Every seed (0..N-1) is one identity rendered at every yaw (``MultiViewGenerator.render_parts`` +
``translate``, i.e. exactly ``render``). The measuring functions are :mod:`apdraw.eval.multiview`'s.

1. **Quality by view** (the paper's Fig. 7): at each yaw, the N drawings against
   (a) real FS2K drawings of sketch type ``--sketch-type`` (the APDrawingGAN preprocessing cache,
   aligned 512² APDrawing frame; **a different frame** from SAGE's CelebAMask-HQ crop, so part of
   the distance is framing) and (b) the synthetic Stage II training drawings (``--drawings-dir``,
   SAGE's own frame): SWD (x10³), KID_mnv2 and SIFID_mnv2. Each reference set is cut into two
   disjoint halves A and B of m = min(N, available / 2) drawings (SHA-1 order of the names,
   :func:`apdraw.eval.sets.halves`); the generated drawings are scored against B and the floor is
   A against B (real vs real). Every reference drawing is first resized (area) to the generator's
   side S, so both sides carry the same detail; the metrics then resize to their working size
   (256²). The SWD spread is max / min of SWD over the yaws.
2. **View consistency**: for Δ in ``--deltas`` (10, 15) and every yaw y with y + Δ within the
   yaws, the semantic map at y is carried into view y + Δ through its rendered depth and compared
   with the map rendered there (pixels hidden in the second view are left out); pixel agreement
   and mean IoU over skin, nose, eyes, brows, mouth (+ lips), hair, pooled over seeds and pairs.
   And the shipped face parser on each rendered photo against the generated semantic map (mean
   IoU over the same classes, per yaw and pooled).
3. **A turning face**: MediaPipe's face mesh + solvePnP (:class:`apdraw.face.head_pose.HeadPoseEstimator`)
   on each rendered photo (upscaled to 512², bicubic): the detection rate, and Spearman's rank
   correlation between the estimated and the requested yaw over the detected views.
4. **Timing**: wall-clock seconds per rendered view (the renderer, both decoders and G_p), on the
   device and thread count given.

Writes ``OUT/results.json``, ``OUT/evidence.md``, the plot (``--plot``, default
docs/img/sage_quality_by_view.png) and with ``--write-doc`` the ``sage-eval`` block of docs/SAGE.md.
Parts whose data are missing (FS2K, the drawings folder, MediaPipe) are skipped with a message.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from apdraw.commands.args import allow_negative_number_lists

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"detection": 0.9, "spearman": 0.9, "swd_spread": 1.3, "parser_miou": 0.6}


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def fs2k_drawings(sketch_type: int) -> tuple[list[str], list[np.ndarray]] | None:
    """Every FS2K drawing of the sketch type (both splits) from the APDrawingGAN preprocessing cache, or None (no data)."""
    from apdraw.data.paired import AlignedPair, DataConfig, build_records, preprocess

    dc = DataConfig(sketch_type=sketch_type, split="all", cache_dir=str(REPO / "cache" / "apdrawinggan"))
    if not Path(dc.root).is_dir():
        print(f"FS2K not found at {dc.root} (set APDRAW_SHARED_DATA): skipping the real-drawing comparison", flush=True)
        return None
    records, tag = build_records(dc)
    files = preprocess(records, dc.cache_dir, tag)
    return [f.stem for f in files], [AlignedPair.load(f).drawing for f in files]


def folder_drawings(folder: Path) -> tuple[list[str], list[np.ndarray]] | None:
    from apdraw.io import load_image, to_gray

    files = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if not files:
        print(f"no synthetic drawings in {folder}: skipping the comparison with the training drawings", flush=True)
        return None
    return [f.stem for f in files], [to_gray(load_image(f)) for f in files]


def reference_halves(found, n: int, size: int):
    """(A, B) lists of (key, drawing resized to size²), m = min(n, len // 2) each."""
    from apdraw.eval.sets import halves, subsample

    keys, images = found
    by_key = dict(zip(keys, images))
    m = min(n, len(keys) // 2)
    a, b = halves(subsample(keys, 2 * m))
    fit = lambda im: cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA)  # noqa: E731
    return [(k, fit(by_key[k])) for k in a], [(k, fit(by_key[k])) for k in b]


def render_all(mv, seeds, yaws, pitch, truncation, extra_yaws):
    """Every view: drawings, photos, labels, depths and cameras; seconds per full view."""
    views: dict[tuple[int, int], dict] = {}
    times = []
    for s in seeds:
        for y in yaws:
            t0 = time.perf_counter()
            p = mv.render_parts(s, y, pitch, truncation)
            drawing = mv.translate(p.image, p.semantic)
            times.append(time.perf_counter() - t0)
            views[s, y] = {"drawing": drawing, "photo": p.photo, "labels": p.labels, "depth": p.depth.cpu(), "cameras": p.cameras}
        for y in extra_yaws:  # only for the consistency pairs: no drawing needed
            p = mv.render_parts(s, y, pitch, truncation)
            views[s, y] = {"labels": p.labels, "depth": p.depth.cpu(), "cameras": p.cameras}
        print(f"rendered seed {s}", end="\r", flush=True)
    print()
    return views, float(np.mean(times))


def quality(views, seeds, yaws, refs: dict, feature_size: int):
    from apdraw.eval.features import MobileNetV2Features
    from apdraw.eval.multiview import compare_sets, set_features, spread

    extractor = MobileNetV2Features(device="cpu", input_size=feature_size)
    gen = {y: set_features([views[s, y]["drawing"] for s in seeds], [f"seed{s}" for s in seeds], extractor) for y in yaws}
    out = {}
    for name, (a, b) in refs.items():
        fa = set_features([im for _, im in a], [k for k, _ in a], extractor)
        fb = set_features([im for _, im in b], [k for k, _ in b], extractor)
        per_yaw = {y: compare_sets(gen[y], fb) for y in yaws}
        out[name] = {"floor": compare_sets(fa, fb), "per_yaw": per_yaw, "swd_spread": spread([v["swd"] for v in per_yaw.values()])}
    return out


def consistency(views, seeds, yaws, deltas, focal):
    from apdraw.eval.multiview import corresponding_pixels, label_iou

    out = {}
    for d in deltas:
        a_maps, b_maps, valid, n_pairs, fractions = [], [], [], 0, []
        for s in seeds:
            for y in yaws:
                if (s, y + d) not in views or y + d > max(yaws):
                    continue
                va, vb = views[s, y], views[s, y + d]
                c = corresponding_pixels(va["depth"], va["cameras"], vb["cameras"], focal, va["labels"].shape[0], vb["depth"])
                a_maps.append(va["labels"])
                b_maps.append(vb["labels"][c.rows, c.cols])
                valid.append(c.visible)
                fractions.append(float(c.visible.mean()))
                n_pairs += 1
        if n_pairs:
            r = label_iou(a_maps, b_maps, valid)
            out[d] = {"pairs": n_pairs, "valid_fraction": float(np.mean(fractions)), **r}
    return out


def parser_agreement(views, seeds, yaws):
    from apdraw.eval.multiview import label_iou
    from apdraw.models.parser import FaceParser

    parser = FaceParser.from_pretrained(num_threads=1)
    parsed = {(s, y): parser.parse(views[s, y]["photo"]) for s in seeds for y in yaws}
    per_yaw = {y: label_iou([parsed[s, y] for s in seeds], [views[s, y]["labels"] for s in seeds]) for y in yaws}
    pooled = label_iou([parsed[k] for k in parsed], [views[k]["labels"] for k in parsed])
    return {"per_yaw": per_yaw, "pooled": pooled}


def poses(views, seeds, yaws):
    from apdraw.eval.multiview import pose_summary

    try:
        from apdraw.face.head_pose import HeadPoseEstimator

        est = HeadPoseEstimator()
    except Exception as exc:  # mediapipe missing or broken
        print(f"head pose estimator unavailable ({exc}): skipping the turning-face check", flush=True)
        return None
    requested, estimated = [], []
    for s in seeds:
        for y in yaws:
            big = cv2.resize(views[s, y]["photo"], (512, 512), interpolation=cv2.INTER_CUBIC)
            r = est.estimate(big)
            requested.append(float(y))
            estimated.append(None if r is None else math.degrees(r[0] - math.pi / 2))
    return pose_summary(requested, estimated)


def plot(results: dict, path: Path) -> None:
    """SWD, KID_mnv2 and SIFID_mnv2 against yaw, one line per reference, its floor dashed (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from apdraw.io import atomic_write

    q = results["quality"]
    metrics = [("swd", "SWD (x1e3)"), ("kid_mnv2", "KID_mnv2"), ("sifid_mnv2", "SIFID_mnv2")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    colors = {"fs2k": "tab:blue", "synthetic": "tab:orange"}
    labels = {"fs2k": "vs FS2K drawings", "synthetic": "vs synthetic training drawings"}
    for ax, (m, title) in zip(axes, metrics):
        for name, r in q.items():
            ys = sorted(r["per_yaw"], key=float)
            ax.plot([float(y) for y in ys], [r["per_yaw"][y][m] for y in ys], "o-", color=colors.get(name), label=labels.get(name, name))
            ax.axhline(r["floor"][m], ls="--", color=colors.get(name), alpha=0.7, label=f"floor ({name}, real vs real)")
        ax.set_title(title)
        ax.set_xlabel("yaw (degrees from frontal)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"SAGE: drawing quality by view ({results['n_seeds']} identities per yaw)", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())
    print(f"wrote {path}")


def _f(x, fmt=".3g") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def markdown(r: dict) -> str:
    q, c, p, pose = r.get("quality") or {}, r.get("consistency") or {}, r.get("parser") or {}, r.get("pose")
    lines = [
        f"Generator `{r['weights']}`; {r['n_seeds']} identities (seeds 0..{r['n_seeds'] - 1}), yaws "
        f"{', '.join(str(y) for y in r['yaws'])}°, pitch {r['pitch']:g}°, truncation ψ = {r['truncation']:g}; "
        f"`scripts/eval_sage.py` ({r['seconds']:.0f} s).",
        "",
        "**Quality by view** (SWD ×10³, KID_mnv2, SIFID_mnv2; lower is better; the floor is two halves of the "
        "reference against each other):",
        "",
    ]
    if q:
        head = "| yaw |" + "".join(f" SWD {n} | KID {n} | SIFID {n} |" for n in q)
        lines += [head, "|---|" + "---|" * (3 * len(q))]
        for y in r["yaws"]:
            row = f"| {y}° |"
            for n in q:
                v = _get(q[n]["per_yaw"], y)
                row += f" {_f(v['swd'], '.1f')} | {_f(v['kid_mnv2'], '.4f')} | {_f(v['sifid_mnv2'], '.3f')} |"
            lines.append(row)
        row = "| floor |"
        for n in q:
            v = q[n]["floor"]
            row += f" {_f(v['swd'], '.1f')} | {_f(v['kid_mnv2'], '.4f')} | {_f(v['sifid_mnv2'], '.3f')} |"
        lines.append(row)
        sizes = "; ".join(f"{n}: {q[n]['floor']['n_ref']} reference drawings per half" for n in q)
        lines += ["", f"References: {sizes}. `fs2k` = FS2K sketch type {r['sketch_type']} (APDrawing frame, "
                  "not SAGE's: part of its distance is framing); `synthetic` = the Stage II training drawings "
                  f"(`{r['drawings_dir']}`, SAGE's frame).", "", "![quality by view](img/sage_quality_by_view.png)", ""]
    else:
        lines += ["(no reference drawings found: skipped)", ""]
    lines += ["**View consistency** (the semantic map at yaw y carried into y + Δ through its rendered depth; "
              "pixels hidden at y + Δ left out):", "",
              "| Δ yaw | pairs | compared share | pixel agreement | mIoU | " + " | ".join(_classes(c)) + " |",
              "|---|---|---|---|---|" + "---|" * len(_classes(c))]
    for d, v in c.items():
        lines.append(f"| {d}° | {v['pairs']} | {v['valid_fraction']:.0%} | {_f(v['pixel_agreement'], '.3f')} | "
                     f"{_f(v['miou'], '.3f')} | " + " | ".join(_f(v['iou'][k], '.2f') for k in _classes(c)) + " |")
    lines += ["", "**The parser on the rendered photo against the generated semantic map** (mIoU over the same classes):", ""]
    if p:
        lines += ["| yaw | " + " | ".join(f"{y}°" for y in r["yaws"]) + " | all |", "|---|" + "---|" * (len(r["yaws"]) + 1),
                  "| mIoU | " + " | ".join(_f(_get(p["per_yaw"], y)["miou"], ".3f") for y in r["yaws"])
                  + f" | {_f(p['pooled']['miou'], '.3f')} |", ""]
    lines += ["**A turning face** (MediaPipe face mesh + solvePnP on the rendered photos):", ""]
    if pose:
        per = pose["per_yaw"]
        lines += ["| requested yaw | " + " | ".join(f"{y}°" for y in r["yaws"]) + " |", "|---|" + "---|" * len(r["yaws"]),
                  "| detected | " + " | ".join(f"{_get(per, y)['detected']}/{_get(per, y)['n']}" for y in r["yaws"]) + " |",
                  "| mean estimate | " + " | ".join(_f(_get(per, y)["mean_estimate"], ".1f") for y in r["yaws"]) + " |",
                  "", f"Slope of estimated on requested yaw: {_f(pose['slope'], '.2f')}.", ""]
    else:
        lines += ["(head pose estimator unavailable: skipped)", ""]
    lines += [f"**Timing**: {r['seconds_per_view']:.3f} s per rendered view ({r['device']}, {r['threads']} thread(s)).", "",
              "**Targets** (issue #13):", "", "| check | target | measured | met |", "|---|---|---|---|"]
    for name, target, value, ok in targets(r):
        lines.append(f"| {name} | {target} | {value} | {ok} |")
    return "\n".join(lines) + "\n"


def _get(d: dict, y):
    """A per-yaw entry whatever JSON made of its key (-30, "-30", "-30.0")."""
    for k in (y, str(y), str(float(y)), float(y)):
        if k in d:
            return d[k]
    raise KeyError(y)


def _classes(c: dict) -> list[str]:
    from apdraw.eval.multiview import MAIN_CLASSES

    return list(MAIN_CLASSES)


def targets(r: dict) -> list[tuple[str, str, str, str]]:
    pose, q, p = r.get("pose"), r.get("quality") or {}, r.get("parser")
    yes = lambda ok: "–" if ok is None else ("yes" if ok else "**no**")  # noqa: E731
    rows = []
    det = pose["detection_rate"] if pose else None
    rows.append(("face detected (all views)", f"≥ {TARGETS['detection']:.0%}", _f(det, ".1%") if det is not None else "–",
                 yes(None if det is None else det >= TARGETS["detection"])))
    rho = pose["spearman"] if pose else None
    ok = None if rho is None or math.isnan(rho) else rho >= TARGETS["spearman"]
    rows.append(("rank correlation, estimated vs requested yaw", f"≥ {TARGETS['spearman']}", _f(rho, ".3f"), yes(ok)))
    for n, v in q.items():
        rows.append((f"SWD spread max/min over yaws ({n})", f"≤ {TARGETS['swd_spread']}×", f"{v['swd_spread']:.2f}×",
                     yes(v["swd_spread"] <= TARGETS["swd_spread"])))
    m = p["pooled"]["miou"] if p else None
    rows.append(("semantic map vs parser, mIoU", f"≥ {TARGETS['parser_miou']}", _f(m, ".3f"),
                 yes(None if m is None or math.isnan(m) else m >= TARGETS["parser_miou"])))
    return rows


DOC_PLOT = REPO / "docs" / "img" / "sage_quality_by_view.png"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    allow_negative_number_lists(ap)
    ap.add_argument("--weights", required=True, help="an exported SAGE generator (apdraw export sage)")
    ap.add_argument("--seeds", type=int, default=64, help="identities: seeds 0..N-1")
    ap.add_argument("--yaws", type=int_list, default=list(range(-30, 31, 10)), help="degrees, comma-separated")
    ap.add_argument("--pitch", type=float, default=0.0)
    ap.add_argument("--truncation", type=float, default=0.7)
    ap.add_argument("--deltas", type=int_list, default=[10, 15], help="yaw differences of the consistency pairs")
    ap.add_argument("--style", default="apdrawinggan", help="the style of the synthetic drawings (names the default --drawings-dir)")
    ap.add_argument("--drawings-dir", type=Path, default=None, help="default: cache/sage/drawings_<style>")
    ap.add_argument("--sketch-type", type=int, default=0, help="FS2K sketch type of the real references")
    ap.add_argument("-o", "--out", type=Path, default=REPO / "runs" / "sage_eval")
    ap.add_argument("--plot", type=Path, default=None,
                    help=f"the quality-by-view figure (default: OUT/quality_by_view.png; with --write-doc {DOC_PLOT.relative_to(REPO)})")
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "SAGE.md", help=argparse.SUPPRESS)
    ap.add_argument("--feature-size", type=int, default=256, help=argparse.SUPPRESS)  # tests only: changes every mnv2 value
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--write-doc", action="store_true", help="rewrite the sage-eval block of docs/SAGE.md")
    args = ap.parse_args(argv)
    if args.seeds < 2 or not args.yaws:
        ap.error("need --seeds >= 2 and at least one yaw")
    drawings_dir = args.drawings_dir or REPO / "cache" / "sage" / f"drawings_{args.style}"

    import torch

    from apdraw.multiview import MultiViewGenerator

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    mv = MultiViewGenerator.from_pretrained(args.weights, device=args.device, num_threads=args.threads)
    seeds, yaws = list(range(args.seeds)), sorted(set(args.yaws))
    extra = sorted({y + d for d in args.deltas for y in yaws if y + d <= max(yaws)} - set(yaws))
    views, per_view = render_all(mv, seeds, yaws, args.pitch, args.truncation, extra)
    print(f"{per_view:.3f} s per view", flush=True)

    refs = {}
    for name, found in (("fs2k", fs2k_drawings(args.sketch_type)), ("synthetic", folder_drawings(drawings_dir))):
        if found is not None and len(found[0]) >= 4:
            refs[name] = reference_halves(found, args.seeds, mv.size)
    results = {
        "weights": str(args.weights), "n_seeds": args.seeds, "yaws": yaws, "pitch": args.pitch, "truncation": args.truncation,
        "sketch_type": args.sketch_type, "drawings_dir": os.path.relpath(drawings_dir, REPO) if drawings_dir.is_absolute() else str(drawings_dir),
        "size": mv.size, "device": args.device, "threads": args.threads, "seconds_per_view": per_view,
    }  # fmt: skip
    results["quality"] = quality(views, seeds, yaws, refs, args.feature_size) if refs else {}
    results["consistency"] = consistency(views, seeds, yaws, args.deltas, mv.generator.cfg.renderer.focal)
    results["parser"] = parser_agreement(views, seeds, yaws)
    results["pose"] = poses(views, seeds, yaws)
    results["seconds"] = time.perf_counter() - t_start

    from apdraw.io import save_text, write_doc_block

    args.out.mkdir(parents=True, exist_ok=True)
    save_text(args.out / "results.json", json.dumps(results, indent=1, default=_json))
    block = markdown(json.loads(json.dumps(results, default=_json)))
    save_text(args.out / "evidence.md", block)
    print(block)
    if results["quality"]:  # the docs figure changes only with the docs block (--write-doc)
        plot(results, args.plot or (DOC_PLOT if args.write_doc else args.out / "quality_by_view.png"))
    if args.write_doc:
        write_doc_block(args.doc, "sage-eval", block, heading="Evidence")
        print(f"wrote the sage-eval block of {args.doc}")
    return 0


def _json(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    raise TypeError(type(x))


if __name__ == "__main__":
    sys.exit(main())
